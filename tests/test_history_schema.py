"""The history's schema version (issue 12): a database of an older smscli is migrated in
place when a writer opens it (every row kept, the file still 0600), a newer one is only read
(never downgraded), and version 2's columns say who wrote each row."""

from __future__ import annotations

import contextlib
import getpass
import os
import platform
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from smscli.errors import ConfigError
from smscli.history import SCHEMA_VERSION, History
from tests.conftest import Cli, base_url

# The schema of every smscli before versioning (version 1), as it created it.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    batch TEXT, provider TEXT NOT NULL, profile TEXT, base_url TEXT, target TEXT NOT NULL,
    status TEXT NOT NULL, message_id TEXT, request_id TEXT, uuid TEXT, reference TEXT,
    date TEXT, segments INTEGER, encoding TEXT, parts TEXT, error TEXT, details TEXT,
    idempotency_key TEXT, body TEXT
);
CREATE INDEX IF NOT EXISTS sends_message_id ON sends (message_id);
CREATE INDEX IF NOT EXISTS sends_idem ON sends (idempotency_key, target);
CREATE INDEX IF NOT EXISTS sends_batch ON sends (batch, target);
CREATE TABLE IF NOT EXISTS replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT, stored_at TEXT NOT NULL, provider TEXT NOT NULL,
    profile TEXT, reply_id TEXT NOT NULL, sender TEXT NOT NULL, text TEXT, date TEXT,
    details TEXT, UNIQUE (provider, reply_id)
);
CREATE INDEX IF NOT EXISTS replies_date ON replies (provider, date);
"""
FD = ["fonedynamics", "--base-url", base_url("fonedynamics"), "--account-sid", "AC1",
      "--token", "tok", "--property-sid", "PR1"]  # fmt: skip


def db_path(home: Path) -> Path:
    return home / "data" / "history.sqlite3"


def v1_database(path: Path, rows: int = 3) -> None:
    """A history as smscli wrote it before versioning, with sends, a reply, and WAL on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(V1_SCHEMA)
        for n in range(rows):
            db.execute(
                "INSERT INTO sends (created_at, updated_at, provider, target, status,"
                " message_id, idempotency_key, body) VALUES (?,?,?,?,?,?,?,?)",
                ("2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "fonedynamics",
                 f"+6148802300{n}", "accepted", f"m-{n}", f"k-{n}", "old"),
            )  # fmt: skip
        db.execute(
            "INSERT INTO replies (stored_at, provider, reply_id, sender, text)"
            " VALUES ('2026-01-01T00:00:00+00:00', 'emnify', 'r1', 'endpoint:1', 'ACK')"
        )
        db.commit()


def raw(path: Path, sql: str) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql)]


def columns(path: Path, table: str) -> list[str]:
    return [r["name"] for r in raw(path, f"PRAGMA table_info({table})")]


def version(path: Path) -> list[int]:
    return [r["version"] for r in raw(path, "SELECT version FROM schema_version")]


def start(h: History, target: str = "+61488023999") -> int | None:
    return h.start(provider="fonedynamics", profile=None, base_url="u", target=target,
                   text="new", segments=1, encoding="gsm7", reference=None)  # fmt: skip


def test_a_new_history_is_created_at_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    h = History(path)
    start(h)
    assert h.migrated == (0, SCHEMA_VERSION) == (0, 3)
    h.close()
    assert version(path) == [SCHEMA_VERSION]
    assert {"host", "user", "dedupe_key"} <= set(columns(path, "sends"))
    assert columns(path, "locks") == ["name", "host", "user", "pid", "since"]
    reopened = History(path)
    start(reopened)
    assert reopened.migrated is None  # already current: nothing done
    reopened.close()


def test_a_version_1_history_is_migrated_in_place_keeping_every_row(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    v1_database(path)
    before = raw(path, "SELECT * FROM sends ORDER BY id")
    h = History(path)
    new_id = start(h)
    assert h.migrated == (1, SCHEMA_VERSION)
    h.close()
    assert version(path) == [SCHEMA_VERSION]
    after = raw(path, "SELECT * FROM sends ORDER BY id")
    assert [{k: r[k] for k in before[0]} for r in after[:3]] == before  # every row, unchanged
    assert all(r["host"] is None and r["user"] is None for r in after[:3])
    assert after[3]["id"] == new_id == 4
    assert (after[3]["host"], after[3]["user"]) == (platform.node(), getpass.getuser())
    assert after[3]["dedupe_key"] is None
    assert [r["reply_id"] for r in raw(path, "SELECT * FROM replies")] == ["r1"]
    indexes = {r["name"] for r in raw(path, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"sends_dedupe", "sends_idem", "sends_batch", "sends_message_id"} <= indexes
    assert [r["name"] for r in raw(path, "PRAGMA index_info(sends_dedupe)")] == [
        "dedupe_key",
        "created_at",
    ]
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{path}{suffix}")
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, suffix


def test_a_version_1_history_is_migrated_through_the_command_line(cli: Cli, isolated: Path) -> None:
    path = db_path(isolated)
    v1_database(path, rows=1)
    sent = cli(*FD, "-t", "+61488023555", "Hi", "--json")
    assert sent.exit_code == 0, sent.output
    entries = cli("log", "--json").json()["entries"]
    assert entries[0]["message_id"] == "m-0"  # the old row is kept
    assert (entries[0]["host"], entries[0]["user"]) == (None, None)
    assert (entries[1]["host"], entries[1]["user"]) == (platform.node(), getpass.getuser())
    assert version(path) == [SCHEMA_VERSION]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_history_before_issue_11_gets_every_table(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(V1_SCHEMA.split("CREATE TABLE IF NOT EXISTS replies")[0])
        db.execute(
            "INSERT INTO sends (created_at, updated_at, provider, target, status)"
            " VALUES ('t', 't', 'telit', 'imei:1', 'accepted')"
        )
        db.commit()
    h = History(path)
    start(h)
    assert h.migrated == (1, SCHEMA_VERSION)
    assert h.replies() == [] and len(h.query()) == 2
    h.close()


def test_writers_opening_an_old_history_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    v1_database(path)
    results: list[tuple[int, int] | None] = []
    errors: list[BaseException] = []
    go = threading.Barrier(6)

    def writer() -> None:
        h = History(path)
        try:
            go.wait()
            start(h)
            results.append(h.migrated)
        except Exception as exc:  # a thread cannot fail the test itself: asserted below
            errors.append(exc)
        finally:
            h.close()

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(results, key=str) == [(1, SCHEMA_VERSION)] + [None] * 5
    assert version(path) == [SCHEMA_VERSION]
    assert len(raw(path, "SELECT id FROM sends")) == 3 + 6


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    """One transaction: a step that fails (here a hand-added column in the way) leaves the
    database as it was, and the history is only read."""
    path = tmp_path / "h.sqlite3"
    v1_database(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("ALTER TABLE sends ADD COLUMN dedupe_key TEXT")
        db.commit()
    h = History(path)
    with pytest.raises(ConfigError) as err:
        h.require_writable()
    assert err.value.code == "history_read_only"
    assert "duplicate column" in str(err.value)
    assert len(h.query()) == 3  # still read
    h.close()
    assert "host" not in columns(path, "sends")
    assert raw(path, "SELECT name FROM sqlite_master WHERE name='schema_version'") == []


def test_a_newer_history_is_only_read_never_downgraded(cli: Cli, isolated: Path) -> None:
    path = db_path(isolated)
    History(path).close()
    start(History(path))
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE schema_version SET version=99")
        db.execute("ALTER TABLE sends ADD COLUMN from_the_future TEXT")
        db.commit()
    log = cli("log", "--json")
    assert log.exit_code == 0, log.output
    assert [e["target"] for e in log.json()["entries"]] == ["+61488023999"]
    refused = cli(*FD, "-t", "+61488023555", "Hi", "--json")
    assert refused.exit_code == 3, refused.output
    error = refused.json()["error"]
    assert error["code"] == "history_read_only"
    assert "newer smscli (history schema version 99" in error["message"]
    assert "nothing was sent" in error["message"]
    assert "upgrade smscli" in error["hint"]
    assert version(path) == [99]
    assert len(raw(path, "SELECT id FROM sends")) == 1


def test_a_version_1_history_is_read_read_only_with_no_writer_columns(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    v1_database(path, rows=1)
    reader = History(path)
    reader._store = reader._open_read_only(path, "is on a read-only file system")
    [row] = reader.query()
    assert (row["host"], row["user"], row["dedupe_key"]) == (None, None, None)
    reader.close()
    assert "host" not in columns(path, "sends")  # reading never migrates


def test_history_migrate_on_the_sqlite_history(cli: Cli, isolated: Path) -> None:
    path = db_path(isolated)
    v1_database(path, rows=2)
    done = cli("history", "migrate", "--json")
    assert done.exit_code == 0, done.output
    doc = done.json()
    assert (doc["store"], doc["where"], doc["from"], doc["to"], doc["migrated"]) == (
        "sqlite",
        str(path),
        1,
        SCHEMA_VERSION,
        True,
    )
    again = cli("history", "migrate")
    assert again.exit_code == 0 and "current (nothing to do)" in again.stdout
    assert len(raw(path, "SELECT id FROM sends")) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_history_migrate_of_a_newer_or_disabled_history_is_exit_3(cli: Cli, isolated: Path) -> None:
    path = db_path(isolated)
    History(path).open()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE schema_version SET version=99")
        db.commit()
    newer = cli("history", "migrate", "--json")
    assert newer.exit_code == 3 and newer.json()["error"]["code"] == "history_read_only"
    assert version(path) == [99]
    (isolated / "config.toml").write_text("history = false\n")
    off = cli("history", "migrate")
    assert off.exit_code == 3 and "turned off" in off.stderr


def test_reconcile_on_a_newer_history_says_nothing_is_recorded(cli: Cli, isolated: Path) -> None:
    path = db_path(isolated)
    History(path).close()
    History(path).start(provider="fonedynamics", profile=None, target="+61488023999",
                        base_url=base_url("fonedynamics"), text="new", segments=1,
                        encoding="gsm7", reference=None)  # fmt: skip
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE schema_version SET version=99")
        db.commit()
    res = cli("reconcile", "--last", "--account-sid", "AC1", "--token", "tok",
              "--property-sid", "PR1")  # fmt: skip
    assert "what the provider says is shown, not recorded (the rows stay unknown)" in res.stderr
    assert "newer smscli" in res.stderr
    assert [r["status"] for r in raw(path, "SELECT status FROM sends")] == ["unknown"]
