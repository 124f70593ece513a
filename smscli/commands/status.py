"""`smscli status`: the delivery status of a message from the history."""

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
        str | None,
        typer.Argument(
            metavar="ID",
            help="Any id smscli printed for the message (message id, uuid, request id, "
            "reference), or #N for history row N.",
        ),
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="The most recent send.")] = False,
    batch: Annotated[
        str | None, typer.Option("--batch", metavar="BATCH", help="Every message of a batch.")
    ] = None,
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait",
            metavar="DURATION",
            help="Poll until final (--wait or --wait=10m).",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            metavar="NAME",
            help="Ask with this profile's credentials; an ID the history lacks is asked "
            "of its provider.",
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="SLUG",
            help="Ask this provider (credentials from flags/env); an ID the history lacks "
            "is asked of it.",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            "-t",
            metavar="TARGET",
            help="Where a message the history lacks was sent (emnify: the endpoint; csl: the SIM).",
        ),
    ] = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The options `status` shares with no other command (its signature is read, not run)."""


HELP = (
    "Ask the provider what happened to a message you sent.\n\n"
    "Example: smscli status --last --wait=5m\n\n"
    "Without a history row: smscli status --provider emnify -t endpoint:1001 ID"
)


def make_status_command() -> Callable[..., None]:
    """`smscli status`, with the credential flags of every provider's fields."""

    def run(kwargs: dict[str, Any], credentials: dict[str, Any], runtime: Any, out: Any) -> int:
        from smscli.pipeline import run_status
        from smscli.pipeline.status import StatusQuery

        query = StatusQuery(
            ident=kwargs["ident"], last=kwargs["last"], batch=kwargs["batch"],
            wait=kwargs["wait"], timeout=kwargs["timeout"], verbose=kwargs["verbose"],
            config=kwargs["config"], credentials=credentials,
            profile=kwargs["profile"], provider=kwargs["provider"], target=kwargs["to"],
        )  # fmt: skip
        return run_status(query, runtime, out)

    return provider_command("status", _options, HELP, run)
