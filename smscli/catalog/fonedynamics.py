"""Fone Dynamics (REST v2, HTTP Basic): the declaration. The API is
smscli.providers.fonedynamics.

Seed 004 field → option: From → --from (blank "" = a leased sender), To → --to,
Text → TEXT, Schedule → --at, ExternalId → --ref, DeliveryReceipt →
--delivery-receipt/--no-delivery-receipt, DeliveryReceiptWebhookUri/Method →
--receipt-webhook/--receipt-method, ForwardToSms/ForwardFromSms/ForwardToEmail/
ForwardFromEmail → --forward-*, WebhookUri/WebhookMethod → --reply-webhook/--reply-method.
Each option fills the ``Message.extra`` key of its own name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smscli.catalog import (
    CALLBACK_SECRET,
    MAX_ALPHANUMERIC,
    CredentialField,
    Features,
    Limits,
    ProviderInfo,
    ProviderOption,
    e164_sender,
    fonedynamics_alphanumeric,
    is_phone_shaped,
    lazy,
    one_of,
)
from smscli.errors import InputError, UsageError

PANEL = "Fone Dynamics"
METHODS = ("POST", "GET")


def _url(flag: str) -> Callable[[Any], str]:
    def convert(url: Any) -> str:
        if not str(url).startswith(("https://", "http://")):
            raise UsageError(f"{flag} must be an http(s) URL, not {url!r}")
        return str(url)

    return convert


SENDER_RULE = (
    "Fone Dynamics sends From an E.164 number (+61499009990), a sender ID of 1-11 letters, "
    "digits and spaces with at least one letter, or '' for a leased number"
)


def sender(value: str) -> tuple[str, list[str]]:
    """``From`` (seed 004): "E.164 with +", an alphanumeric sender ID, or empty for a leased
    one. A number is normalised as ``To`` is (``61499009990`` → ``+61499009990``), so the
    API never sees the spaces or the missing "+" it would refuse (issue 9)."""
    if value == "" or fonedynamics_alphanumeric(value):
        return value, []
    if is_phone_shaped(value):
        return e164_sender(value, SENDER_RULE)
    if len(value) > MAX_ALPHANUMERIC:
        reason = f"{len(value)} characters; a sender ID has at most {MAX_ALPHANUMERIC}"
    else:
        reason = "a sender ID may use only A-Z, a-z, 0-9 and spaces, with at least one letter"
    raise InputError(f"invalid --from {value!r}: {reason}", hint=SENDER_RULE, code="invalid_sender")


def _o(
    name: str, metavar: str, help_text: str, convert: Callable[[Any], Any] | None = None
) -> ProviderOption:
    flag = "--" + name.replace("_", "-")
    return ProviderOption(name, flag, help_text, metavar=metavar, panel=PANEL, convert=convert)


INFO = ProviderInfo(
    slug="fonedynamics",
    label="Fone Dynamics",
    docs_url="https://www.fonedynamics.com/docs/rest-api/send-sms/",
    default_base_url="https://api.fonedynamics.com",
    fields=(
        CredentialField("account_sid", "Account SID: the HTTP Basic user."),
        CredentialField("token", "Auth token: the HTTP Basic password.", secret=True),
        CredentialField("property_sid", "Property SID the messages are sent from."),
        CALLBACK_SECRET,
    ),
    target_kinds=("msisdn",),
    limits=Limits(max_segments=None, default_max_segments=10, notes="up to max_segments (10)"),
    features=Features(
        sender=True,
        at=True,
        ref=True,
        status=True,
        reconcile=True,
        inbox=True,
    ),
    help=(
        "Send an SMS through Fone Dynamics (REST v2, HTTP Basic).\n\n"
        "Example: smscli fonedynamics -t +61488023555 --from MyShop 'Your order shipped'"
    ),
    options=(
        ProviderOption(
            "delivery_receipt",
            "--delivery-receipt/--no-delivery-receipt",
            "Request a delivery receipt (the API's default: yes).",
            kind="flag",
            panel=PANEL,
            convert=bool,
        ),
        _o("receipt_webhook", "URL", "DeliveryReceiptWebhookUri.", _url("--receipt-webhook")),
        _o(
            "receipt_method",
            "POST|GET",
            "DeliveryReceiptWebhookMethod.",
            one_of("--receipt-method", METHODS),
        ),
        _o("forward_to_sms", "E164", "Leased sender: forward replies here."),
        _o("forward_from_sms", "SENDER", "Sender ID of forwarded replies."),
        _o("forward_to_email", "EMAIL", "Forward replies to this address."),
        _o("forward_from_email", "EMAIL", "From address of forwards."),
        _o(
            "reply_webhook", "URL", "WebhookUri: where replies are posted.", _url("--reply-webhook")
        ),
        _o(
            "reply_method",
            "POST|GET",
            "WebhookMethod (default POST).",
            one_of("--reply-method", METHODS),
        ),
    ),
    sender_rule=sender,
    provider=lazy("smscli.providers.fonedynamics:FoneDynamics"),
    emulator=lazy("smscli.sandbox.fonedynamics:FoneDynamicsEmulator"),
)
