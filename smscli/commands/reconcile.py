"""`smscli reconcile`: settle sends whose outcome is unknown by asking the provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from smscli.commands.common import (
    JsonOpt,
    provider_command,
)


def _options(
    ctx: typer.Context,
    which: Annotated[
        str | None,
        typer.Argument(
            metavar="[BATCH|ID]",
            help="A batch id (every unknown send of it), or any id smscli printed for one "
            "message (or #N for history row N).",
            show_default=False,
        ),
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="The most recent run's batch.")] = False,
    json: JsonOpt = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only `#N STATUS` per row (its new status).")
    ] = False,
) -> None:
    """The options `reconcile` shares with no other command (its signature is read, not run)."""


HELP = (
    "Ask the provider whether sends with an unknown outcome went out.\n\n"
    "Each `unknown` row becomes `accepted` (with the provider's id), `not-sent`, or stays "
    "`unknown` when the provider cannot tell. Exit 0: every row settled; 7: some stay "
    "unknown. Then `--resume BATCH` resends only the not-sent ones.\n\n"
    "Example: smscli reconcile --last"
)


def make_reconcile_command() -> Callable[..., None]:
    """`smscli reconcile`, with the credential flags of every provider's fields."""

    def run(kwargs: dict[str, Any], credentials: dict[str, Any], runtime: Any, out: Any) -> int:
        from smscli.pipeline import run_reconcile
        from smscli.pipeline.reconcile import ReconcileQuery

        query = ReconcileQuery(
            which=kwargs["which"], last=kwargs["last"], timeout=kwargs["timeout"],
            verbose=kwargs["verbose"], config=kwargs["config"], credentials=credentials,
        )  # fmt: skip
        return run_reconcile(query, runtime, out)

    return provider_command("reconcile", _options, HELP, run)
