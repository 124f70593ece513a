"""`smscli log`: the local history of sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from smscli.commands.common import ConfigOpt, JsonOpt, execute, output_mode

if TYPE_CHECKING:
    from smscli.history import History
    from smscli.output import Output


def log(
    n: Annotated[
        int, typer.Option("-n", "--limit", metavar="N", min=1, help="How many rows.")
    ] = 20,
    to: Annotated[
        str | None, typer.Option("--to", metavar="TEXT", help="Only targets containing this.")
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", metavar="SLUG", help="Only this provider.")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", metavar="STATUS", help="Only this status; repeatable."),
    ] = None,
    batch: Annotated[
        str | None, typer.Option("--batch", metavar="BATCH", help="Only this batch.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="WHEN", help="Only sends since this time: 2h, 3d or ISO 8601."
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", metavar="HOST", help="Only sends written on this host (a shared history)."
        ),
    ] = None,
    replies: Annotated[
        bool,
        typer.Option(
            "--replies", help="Show the devices' replies that `inbox` stored instead of sends."
        ),
    ] = False,
    json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Show recent sends from the local history (newest last).

    Example: smscli log -n 5 --status unknown
    """

    def body(out: object) -> int:
        from smscli import config as config_mod
        from smscli.output import Output
        from smscli.pipeline.sessions import open_history

        assert isinstance(out, Output)
        from smscli.errors import UsageError
        from smscli.models import Status

        words = {s.value for s in Status if s is not Status.SKIPPED}  # never in the history
        bad = [s for s in status or () if s not in words]
        if bad:
            raise UsageError(f"--status {bad[0]!r}: one of {', '.join(sorted(words))}")
        cfg = config_mod.load(config_mod.config_path(config))
        history = open_history(cfg, redactor=out.redactor)
        try:
            return show(out, history)
        finally:
            history.close()

    def show(out: Output, history: History) -> int:
        from smscli.errors import UsageError
        from smscli.models import printed_id

        if not history.enabled:
            out.warning("the history is turned off (history = false in the config)")
        if replies:
            if status or batch or host:
                raise UsageError("--replies goes with -n, --to, --provider and --since only")
            found = history.replies(
                provider=provider, since=_since(since) if since else None, limit=n
            )
            found = [r for r in found if not to or to in r["sender"]]
            if out.mode == "json":
                out.json({"replies": found})
                return 0
            out.table(
                ["#", "date", "provider", "from", "text", "id"],
                (
                    [
                        r["id"],
                        r["date"] or "",
                        r["provider"],
                        r["sender"],
                        r["text"] or "",
                        r["reply_id"],
                    ]
                    for r in found
                ),
            )
            return 0
        rows = history.query(
            limit=n,
            target=to,
            provider=provider,
            status=status or (),
            batch=batch,
            since=_since(since) if since else None,
            host=host,
        )
        if out.mode == "json":
            out.json({"entries": rows})
            return 0
        columns = ["#", "created", "provider", "target", "status", "message id", "error"]
        # A shared history (several hosts write it): which host wrote each row.
        hosts = len({r["host"] for r in rows if r["host"]}) > 1
        if hosts:
            columns.insert(2, "host")
        out.table(
            columns,
            (
                [
                    r["id"],
                    r["created_at"],
                    *([r["host"] or ""] if hosts else []),
                    r["provider"],
                    r["target"],
                    r["status"],
                    printed_id(r["message_id"], r["request_id"], r["uuid"], r["reference"]) or "",
                    (r["error"] or {}).get("message", ""),
                ]
                for r in rows
            ),
        )
        return 0

    execute(lambda: output_mode(json=json), body)


def _since(value: str) -> str:
    """``2h``/``3d`` ago, or an ISO 8601 time, as the UTC ISO text the history stores."""
    from datetime import UTC, datetime, timedelta

    from smscli.errors import UsageError
    from smscli.timeparse import parse_duration, parse_when

    try:
        when = datetime.now(UTC) - timedelta(seconds=parse_duration(value, "--since"))
    except UsageError:
        try:
            when = parse_when(value)
        except UsageError:
            raise UsageError(
                f"invalid --since {value!r}: neither a duration nor an ISO 8601 time",
                hint="e.g. 2h or 3d (that long ago), or 2026-12-24T09:00+01:00",
                code="invalid_time",
            ) from None
    return when.astimezone(UTC).isoformat(timespec="seconds")
