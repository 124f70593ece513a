"""`smscli listen`: receive the providers' delivery receipts and device replies (webhooks)."""

from __future__ import annotations

from typing import Annotated

import typer

from smscli.commands.common import ConfigOpt, JsonOpt, execute, output_mode


def listen(
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port (0 = any free port)."),
    ] = 8026,
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            "-p",
            metavar="NAME",
            help="Serve this profile's callbacks; repeatable (default: every profile).",
        ),
    ] = None,
    exec_: Annotated[
        bool,
        typer.Option(
            "--exec",
            help="Run CMD ARG… (last on the line; no shell) for each new event, the event's "
            "JSON on stdin (30 s at most).",
        ),
    ] = False,
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="[CMD ARG…]", help="The --exec command.", show_default=False),
    ] = None,
    json: JsonOpt = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON event per line (what listen prints).")
    ] = False,
    telit_template: Annotated[
        bool,
        typer.Option("--telit-template", help="Print the Telit push template and exit."),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Receive the providers' delivery receipts and device replies (webhooks) into the history.

    Example: smscli listen --port 8026 --exec ./on-event.sh
    """

    def body(out: object) -> int:
        from smscli.errors import UsageError
        from smscli.output import Output

        assert isinstance(out, Output)
        if telit_template:
            from smscli.listen.events import TELIT_TEMPLATE

            out.print(TELIT_TEMPLATE)
            return 0
        argv = list(command or [])
        if exec_ and not argv:
            raise UsageError("--exec needs a command: --exec CMD [ARG...] (last on the line)")
        if argv and not exec_:
            raise UsageError(f"unexpected argument {argv[0]!r}; a command to run goes after --exec")
        from smscli.listen.run import ListenQuery, run

        query = ListenQuery(host=host, port=port, profiles=tuple(profile or ()),
                            execute=tuple(argv), config=config)  # fmt: skip
        return int(run(query, out))

    execute(lambda: output_mode(json, jsonl), body)
