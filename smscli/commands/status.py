"""`smscli status`: the delivery status of a message from the history."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smscli.commands.common import ConfigOpt, JsonOpt, QuietOpt, execute, output_mode, runtime_of


def status(
    ctx: typer.Context,
    ident: Annotated[
        str | None,
        typer.Argument(help="Message id, uuid or request id, or #N for history row N."),
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="The most recent send.")] = False,
    batch: Annotated[
        str | None, typer.Option("--batch", metavar="BATCH", help="Every message of a batch.")
    ] = None,
    wait: Annotated[
        str | None,
        typer.Option("--wait", help="Poll until final (--wait or --wait=10m).", show_default=False),
    ] = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="HTTP trace on stderr.")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.1, help="Seconds per HTTP request.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Ask the provider what happened to a message you sent.

    Example: smscli status --last --wait=5m
    """
    runtime = runtime_of(ctx)

    def body(out: Any) -> int:
        from smscli.pipeline import run_status

        return run_status(ident, last, wait, timeout, verbose, config, runtime, out, batch)

    execute(lambda: output_mode(json=json, quiet=quiet), body)
