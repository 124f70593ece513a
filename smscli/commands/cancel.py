"""`smscli cancel`: cancel a message the provider has not delivered yet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from smscli.commands.common import (
    JsonOpt,
    QuietOpt,
    provider_command,
)


def _options(
    ctx: typer.Context,
    ident: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="Any id smscli printed for the message (message id, uuid, request id, "
            "reference), or #N for history row N.",
            show_default=False,
        ),
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            metavar="NAME",
            help="Cancel with this profile's credentials; an ID the history lacks is "
            "canceled on its provider.",
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="SLUG",
            help="Cancel on this provider (credentials from flags/env); an ID the history "
            "lacks is canceled there.",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            "-t",
            metavar="TARGET",
            help="Where a message the history lacks was sent (emnify: the endpoint).",
        ),
    ] = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The options `cancel` shares with no other command (its signature is read, not run)."""


HELP = (
    "Cancel a message the provider holds and has not delivered yet (emnify).\n\n"
    "Example: smscli cancel --provider emnify -t endpoint:1001 4711\n\n"
    "Exit 0: canceled (recorded as `canceled`); 5: the provider will not cancel it any more "
    "(delivered, failed, expired); 4: no such message, or a provider that cannot cancel."
)


def make_cancel_command() -> Callable[..., None]:
    """`smscli cancel`, with the credential flags of every provider's fields."""

    def run(kwargs: dict[str, Any], credentials: dict[str, Any], runtime: Any, out: Any) -> int:
        from smscli.pipeline import run_cancel
        from smscli.pipeline.status import StatusQuery

        query = StatusQuery(
            ident=kwargs["ident"], timeout=kwargs["timeout"], verbose=kwargs["verbose"],
            config=kwargs["config"], credentials=credentials,
            profile=kwargs["profile"], provider=kwargs["provider"], target=kwargs["to"],
        )  # fmt: skip
        return run_cancel(query, runtime, out)

    return provider_command("cancel", _options, HELP, run)
