"""`smscli history`: the history store itself (`migrate`). `smscli log` shows its rows."""

from __future__ import annotations

from typing import Any

import typer

from smscli.commands.common import ConfigOpt, JsonOpt, execute, output_mode
from smscli.commands.root import SmscliCommand, SmscliSubGroup

app = typer.Typer(
    cls=SmscliSubGroup,
    help="The history store: create or migrate its schema (SQLite or PostgreSQL).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command(cls=SmscliCommand)
def migrate(json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Create or migrate the schema of the configured history (the SQLite file, or the
    PostgreSQL database of history_url / SMSCLI_HISTORY_URL) and print the versions.

    Sending migrates an older schema too; run this once on a new database, or as its
    owner when the hosts' database user may not create tables.

    Example: SMSCLI_HISTORY_URL=postgresql://sms@db:5432/sms smscli history migrate
    """

    def body(out: Any) -> int:
        from smscli import config as config_mod
        from smscli.errors import ConfigError
        from smscli.history import SCHEMA_VERSION
        from smscli.pipeline.sessions import open_history

        cfg = config_mod.load(config_mod.config_path(config))
        history = open_history(cfg, redactor=out.redactor)
        if not history.enabled:
            raise ConfigError(
                "the history is turned off (history = false in the config): nothing to migrate",
                code="history_disabled",
            )
        try:
            migrated = history.open()
            if history.read_only is not None:
                raise ConfigError(
                    f"cannot migrate the history at {history.where}: it {history.read_only}",
                    hint=history.read_only_hint or "make the file and its directory writable",
                    code="history_read_only",
                )
            now = history.schema_version()
        finally:
            history.close()
        before = migrated[0] if migrated is not None else now
        report = {
            "store": history.kind,
            "where": history.where,
            "from": before,
            "to": now,
            "migrated": migrated is not None,
            "current": SCHEMA_VERSION,
        }
        if out.mode == "json":
            out.json(report)
        elif migrated is None:
            out.print(f"{history.where}: schema version {now}, current (nothing to do)")
        elif before == 0:
            out.print(f"{history.where}: schema created, version {now}")
        else:
            out.print(f"{history.where}: schema migrated from version {before} to {now}")
        return 0

    execute(lambda: output_mode(json=json), body)
