"""`smscli callbacks register|list|delete`: callback listeners registered by API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from smscli.commands.common import (
    JsonOpt,
    QuietOpt,
    provider_command,
)

HELP = (
    "Register the URL of a webhook receiver (smscli listen) for the provider's delivery "
    "receipts and device replies (ThingSpace, emnify).\n\n"
    "CSL, Telit and Fone Dynamics set their pushes up elsewhere (a portal, each message): "
    "these commands say where (exit 4)."
)
EXITS = (
    "Exit 0: done; 3: configuration (no profile, a missing account_name); 4: a provider "
    "that registers no callbacks by API, or an unknown id; 5: the provider refused; "
    "6: it cannot be reached."
)

ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", "-p", metavar="NAME", help="Use this profile."),
]
ProviderOption = Annotated[
    str | None,
    typer.Option(
        "--provider", metavar="SLUG", help="Use this provider (credentials from flags/env)."
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", metavar="URL", help="API base URL (overrides the profile)."),
]


def _register_options(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Option(
            "--url",
            metavar="URL",
            help="Where the provider pushes: smscli listen's address as the provider reaches "
            "it, e.g. https://hooks.example.com/emnify.",
            show_default=False,
        ),
    ],
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            metavar="NAME",
            help="The ThingSpace service: SMSDeliveryConfirmation or "
            "EnhancedConnectivityService (default: both).",
        ),
    ] = None,
    service_profile: Annotated[
        str | None,
        typer.Option(
            "--service-profile",
            metavar="ID",
            help="The emnify service profile to attach the callback (and secret) to.",
        ),
    ] = None,
    profile: ProfileOption = None,
    provider: ProviderOption = None,
    base_url: BaseUrlOption = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The options of `callbacks register` (its signature is read, not run)."""


def _list_options(
    ctx: typer.Context,
    profile: ProfileOption = None,
    provider: ProviderOption = None,
    base_url: BaseUrlOption = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The options of `callbacks list`."""


def _delete_options(
    ctx: typer.Context,
    ident: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="ThingSpace: the service name; emnify: the api_callback id, or "
            "api_secret:ID (as `smscli callbacks list` shows them).",
            show_default=False,
        ),
    ],
    profile: ProfileOption = None,
    provider: ProviderOption = None,
    base_url: BaseUrlOption = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The options of `callbacks delete`."""


REGISTER_HELP = (
    "Register --url as the listener of the provider's callbacks.\n\n"
    "ThingSpace: SMSDeliveryConfirmation and EnhancedConnectivityService for the profile's "
    "account_name, with callback_username (default smscli) and callback_secret, which "
    "ThingSpace echoes in every callback; a port it does not allow is warned about. "
    "emnify: an api_callback, and an api_secret from callback_secret (the callbacks then "
    "carry a JWT signed with it); --service-profile ID attaches both.\n\n"
    "Example: smscli callbacks register -p iot --url https://hooks.example.com:9001/thingspace"
    "\n\n" + EXITS
)
LIST_HELP = (
    "List the callback listeners registered (and emnify's api_secret ids); never a secret."
    "\n\n" + EXITS
)
DELETE_HELP = (
    "Remove a registration: a ThingSpace service, an emnify api_callback (ID) or "
    "api_secret (api_secret:ID).\n\n" + EXITS
)


def _runner(action: str) -> Callable[[dict[str, Any], dict[str, Any], Any, Any], int]:
    def run(kwargs: dict[str, Any], credentials: dict[str, Any], runtime: Any, out: Any) -> int:
        from smscli.pipeline.callbacks import CallbacksQuery
        from smscli.pipeline.callbacks import run as run_callbacks

        query = CallbacksQuery(
            action=action, url=kwargs.get("url"), ident=kwargs.get("ident"),
            service=kwargs.get("service"), service_profile=kwargs.get("service_profile"),
            profile=kwargs["profile"], provider=kwargs["provider"],
            base_url=kwargs["base_url"], timeout=kwargs["timeout"],
            verbose=kwargs["verbose"], config=kwargs["config"], credentials=credentials,
        )  # fmt: skip
        return run_callbacks(query, runtime, out)

    return run


def make_app() -> typer.Typer:
    """The `smscli callbacks` group (built only when it runs: the root --help reads HELP)."""
    from smscli.commands.root import SmscliCommand, SmscliSubGroup

    app = typer.Typer(
        cls=SmscliSubGroup,  # plain help, like every command (commands/root.py)
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    for name, options, help_text in (
        ("register", _register_options, REGISTER_HELP),
        ("list", _list_options, LIST_HELP),
        ("delete", _delete_options, DELETE_HELP),
    ):
        # The callback fields too (--callback-secret, --callback-username): registering a
        # listener sends them.
        command = provider_command(name, options, help_text, _runner(name), listen_fields=True)
        app.command(name, cls=SmscliCommand)(command)
    return app
