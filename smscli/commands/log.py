"""`smscli log`: the local history of sends."""

from __future__ import annotations

from typing import Annotated

import typer

from smscli.commands.common import ConfigOpt, JsonOpt, execute, output_mode


def log(
    n: Annotated[int, typer.Option("-n", "--limit", min=1, help="How many rows.")] = 20,
    to: Annotated[str | None, typer.Option("--to", help="Only targets containing this.")] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider.")] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Only this status; repeatable.")
    ] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch.")] = None,
    json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Show recent sends from the local history (newest last).

    Example: smscli log -n 5 --status unknown
    """

    def body(out: object) -> int:
        from smscli import config as config_mod
        from smscli.output import Output
        from smscli.pipeline import open_history

        assert isinstance(out, Output)
        cfg = config_mod.load(config_mod.config_path(config))
        history = open_history(cfg)
        if not history.enabled:
            out.warn("the history is turned off (history = false in the config)")
        rows = history.query(
            limit=n, target=to, provider=provider, status=status or (), batch=batch
        )
        if out.mode == "json":
            out.json({"entries": rows})
            return 0
        columns = ["#", "created", "provider", "target", "status", "message id", "error"]
        out.table(
            columns,
            (
                [
                    r["id"],
                    r["created_at"],
                    r["provider"],
                    r["target"],
                    r["status"],
                    r["message_id"] or r["request_id"] or "",
                    (r["error"] or {}).get("message", ""),
                ]
                for r in rows
            ),
        )
        return 0

    execute(lambda: output_mode(json=json), body)
