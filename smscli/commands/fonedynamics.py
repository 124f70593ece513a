"""`smscli fonedynamics`: Fone Dynamics' own send fields (the shared ones are added for us).

Seed 004 field → option: From → --from (blank "" = a leased sender), To → --to,
Text → TEXT, Schedule → --at, ExternalId → --ref, DeliveryReceipt →
--delivery-receipt/--no-delivery-receipt, DeliveryReceiptWebhookUri/Method →
--receipt-webhook/--receipt-method, ForwardToSms/ForwardFromSms/ForwardToEmail/
ForwardFromEmail → --forward-*, WebhookUri/WebhookMethod → --reply-webhook/--reply-method.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from smscli.errors import UsageError

HELP = (
    "Send an SMS through Fone Dynamics (REST v2, HTTP Basic).\n\n"
    "Example: smscli fonedynamics -t +61488023555 --from MyShop 'Your order shipped'"
)
PANEL = "Fone Dynamics"
_METHODS = ("POST", "GET")


def _o(name: str, decls: str, metavar: str, help_text: str) -> inspect.Parameter:
    option = typer.Option(decls, metavar=metavar, help=help_text, rich_help_panel=PANEL)
    annotation = Annotated[str | None, option]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


def options() -> list[inspect.Parameter]:
    receipt = typer.Option(
        "--delivery-receipt/--no-delivery-receipt",
        help="Request a delivery receipt (the API's default: yes).",
        rich_help_panel=PANEL,
        show_default=False,
    )
    return [
        inspect.Parameter(
            "delivery_receipt",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[bool | None, receipt],
        ),
        _o("receipt_webhook", "--receipt-webhook", "URL", "DeliveryReceiptWebhookUri."),
        _o("receipt_method", "--receipt-method", "POST|GET", "DeliveryReceiptWebhookMethod."),
        _o("forward_to_sms", "--forward-to-sms", "E164", "Leased sender: forward replies here."),
        _o("forward_from_sms", "--forward-from-sms", "SENDER", "Sender ID of forwarded replies."),
        _o("forward_to_email", "--forward-to-email", "EMAIL", "Forward replies to this address."),
        _o("forward_from_email", "--forward-from-email", "EMAIL", "From address of forwards."),
        _o("reply_webhook", "--reply-webhook", "URL", "WebhookUri: where replies are posted."),
        _o("reply_method", "--reply-method", "POST|GET", "WebhookMethod (default POST)."),
    ]


def extra(values: dict[str, Any]) -> dict[str, Any]:
    for name in ("receipt_method", "reply_method"):
        method = values.get(name)
        if method is not None:
            if method.upper() not in _METHODS:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} must be POST or GET, not {method!r}")
            values[name] = method.upper()
    for name in ("receipt_webhook", "reply_webhook"):
        url = values.get(name)
        if url is not None and not url.startswith(("https://", "http://")):
            raise UsageError(f"--{name.replace('_', '-')} must be an http(s) URL, not {url!r}")
    return {k: v for k, v in values.items() if v is not None}
