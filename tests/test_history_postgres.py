"""Issue 12: the PostgreSQL history store through the command line. `log`, `status`,
`--resume`, `inbox`, `reconcile` and idempotency keys on a shared history; `history migrate`;
`log --host`; the URL's password never shown; an unreachable database is exit 3 with nothing
sent; a missing psycopg says what to install. (The store's unit tests are tests/
test_history.py, run against both stores.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from smscli.history import SCHEMA_VERSION
from tests.conftest import Cli, base_url, free_port, write_config

EMNIFY = ["emnify", "--base-url", base_url("emnify"), "--application-token", "app-token-1"]
TELIT = ["--provider", "telit", "--base-url", base_url("telit"), "--username", "u1",
         "--password", "telit-pass-1"]  # fmt: skip


@pytest.fixture
def pg(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every command of the test records in a fresh PostgreSQL history."""
    monkeypatch.setenv("SMSCLI_HISTORY_URL", postgres_url)
    return postgres_url


def raw(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        cursor = conn.execute(sql, args)
        return list(cursor.fetchall()) if cursor.description else []


def test_sends_are_recorded_in_postgres_with_host_and_user(
    cli: Cli, pg: str, isolated: Path
) -> None:
    import getpass
    import platform

    sent = cli(*EMNIFY, "-t", "endpoint:1001", "hello", "--json")
    assert sent.exit_code == 0, sent.output
    message_id = sent.json()["results"][0]["message_id"]
    assert not (isolated / "data" / "history.sqlite3").exists()  # nothing local
    [entry] = cli("log", "--json").json()["entries"]
    assert entry["message_id"] == message_id and entry["status"] == "accepted"
    assert (entry["host"], entry["user"]) == (platform.node(), getpass.getuser())
    [row] = raw(pg, "SELECT * FROM sends")
    assert row["target"] == "endpoint:1001" and row["body"] == "hello"
    status = cli("status", message_id, "--json", SMSCLI_EMNIFY_APPLICATION_TOKEN="t")
    assert status.exit_code == 0, status.output
    assert status.json()["results"][0]["message_id"] == message_id
    assert cli("status", "#1", "--json", SMSCLI_EMNIFY_APPLICATION_TOKEN="t").exit_code == 0


def test_log_host_filter_and_host_column(cli: Cli, pg: str) -> None:
    assert cli(*EMNIFY, "-t", "endpoint:1001", "one", "-q").exit_code == 0
    # A row another host wrote (the same database, seen from here).
    raw(pg, "UPDATE sends SET host='other-host', \"user\"='ops'")
    assert cli(*EMNIFY, "-t", "endpoint:1002", "two", "-q").exit_code == 0
    import platform

    mine = cli("log", "--host", platform.node(), "--json").json()["entries"]
    assert [e["target"] for e in mine] == ["endpoint:1002"]
    other = cli("log", "--host", "other-host", "--json").json()["entries"]
    assert [(e["target"], e["user"]) for e in other] == [("endpoint:1001", "ops")]
    table = cli("log").stdout
    assert "host" in table.splitlines()[0] and "other-host" in table
    only_mine = cli("log", "--host", platform.node()).stdout
    assert "host" not in only_mine.splitlines()[0]  # one host: no column


def test_idempotency_key_replays_across_hosts(cli: Cli, pg: str, tmp_path: Path) -> None:
    first = cli(*EMNIFY, "-t", "endpoint:1001", "reboot", "--idempotency-key", "job-1", "--json")
    assert first.exit_code == 0, first.output
    # "Another host": another data directory, the same history_url.
    other = tmp_path / "other"
    again = cli(*EMNIFY, "-t", "endpoint:1001", "reboot", "--idempotency-key", "job-1",
                "--json", SMSCLI_DATA_DIR=str(other / "data"))  # fmt: skip
    assert again.exit_code == 0, again.output
    assert again.json()["results"][0]["message_id"] == first.json()["results"][0]["message_id"]
    assert "not sent again" in again.stderr
    posts = [r for r in cli.recorder.requests if r.method == "POST" and "/sms" in r.url.path]
    assert len(posts) == 1
    assert len(raw(pg, "SELECT id FROM sends")) == 1


def test_resume_reconcile_and_inbox_on_postgres(cli: Cli, pg: str) -> None:
    args = [*TELIT, "--timeout", "1"]
    done = cli("send", *args, "-t", "msisdn:+15551230001", "-t", "msisdn:+15551230444",
               "status?", "--json")  # fmt: skip
    assert done.exit_code == 9, done.output  # …0444: dropped after it was taken
    batch = done.json()["summary"]["batch"]
    statuses = [e["status"] for e in cli("log", "--batch", batch, "--json").json()["entries"]]
    assert statuses == ["accepted", "unknown"]
    resumed = cli("send", *args, "-t", "msisdn:+15551230001", "-t", "msisdn:+15551230444",
                  "status?", "--resume", batch, "--json")  # fmt: skip
    assert resumed.exit_code in (7, 9), resumed.output  # the unknown one is not sent again
    assert "resume_unknown" in resumed.output
    settled = cli("reconcile", batch, "--username", "u1", "--password", "telit-pass-1",
                  "--json", SMSCLI_TELIT_USERNAME="u1", SMSCLI_TELIT_PASSWORD="telit-pass-1")  # fmt: skip
    assert settled.exit_code == 0, settled.output
    assert [r["after"] for r in settled.json()["reconciled"]] == ["accepted"]
    statuses = [e["status"] for e in cli("log", "--batch", batch, "--json").json()["entries"]]
    assert statuses == ["accepted", "accepted"]
    cli.advance(10)
    inbox = cli("inbox", *TELIT, "--json")
    assert inbox.exit_code == 0, inbox.output
    texts = sorted(r["text"] for r in inbox.json()["replies"])
    assert texts == ["ACK: status?", "ACK: status?"]
    assert len(raw(pg, "SELECT id FROM replies")) == 2
    again = cli("inbox", *TELIT, "--json").json()
    assert again["new"] == 0  # stored once, in the shared database


def test_history_migrate_creates_then_reports_current(cli: Cli, pg: str) -> None:
    created = cli("history", "migrate", "--json")
    assert created.exit_code == 0, created.output
    doc = created.json()
    assert (doc["store"], doc["from"], doc["to"], doc["migrated"]) == (
        "postgresql",
        0,
        SCHEMA_VERSION,
        True,
    )
    assert "***" not in doc["where"] or ":***@" in doc["where"]
    again = cli("history", "migrate")
    assert again.exit_code == 0 and "current" in again.stdout
    assert raw(pg, "SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]


def test_a_version_1_postgres_schema_is_migrated_keeping_rows(cli: Cli, pg: str) -> None:
    from smscli.history import _STEPS

    with psycopg.connect(pg, autocommit=True) as conn:  # as a version-1 smscli would have
        for statement in _STEPS[0]:
            conn.execute(statement.format(id="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))
        conn.execute(
            "INSERT INTO sends (created_at, updated_at, provider, target, status)"
            " VALUES ('2026-01-01T00:00:00+00:00', 't', 'emnify', 'endpoint:7', 'accepted')"
        )
    done = cli("history", "migrate", "--json")
    assert done.exit_code == 0, done.output
    assert (done.json()["from"], done.json()["to"]) == (1, SCHEMA_VERSION)
    assert [e["target"] for e in cli("log", "--json").json()["entries"]] == ["endpoint:7"]
    assert cli(*EMNIFY, "-t", "endpoint:1001", "x", "-q").exit_code == 0
    assert len(raw(pg, "SELECT id FROM sends")) == 2


def test_a_newer_postgres_schema_is_only_read(cli: Cli, pg: str) -> None:
    assert cli(*EMNIFY, "-t", "endpoint:1001", "x", "-q").exit_code == 0
    raw(pg, "UPDATE schema_version SET version=99")
    assert len(cli("log", "--json").json()["entries"]) == 1
    refused = cli(*EMNIFY, "-t", "endpoint:1001", "y", "--json")
    assert refused.exit_code == 3
    assert refused.json()["error"]["code"] == "history_read_only"
    assert "newer smscli" in refused.json()["error"]["message"]
    assert cli("history", "migrate").exit_code == 3
    assert raw(pg, "SELECT version FROM schema_version") == [{"version": 99}]


def test_the_password_is_never_shown(
    cli: Cli, postgres_url: str, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    from urllib.parse import urlsplit

    password = urlsplit(postgres_url).password
    assert password
    # In the config: the URL without the password, the password as a reference.
    without = postgres_url.replace(f":{password}@", "@")
    monkeypatch.setenv("PG_TEST_PASSWORD", password)
    write_config(isolated, f'history_url = "{without}"\n'
                 'history_password = {env = "PG_TEST_PASSWORD"}\n')  # fmt: skip
    sent = cli(*EMNIFY, "-t", "endpoint:1001", "hi", "-v", "--json")
    assert sent.exit_code == 0, sent.output
    shown = cli("config", "show", "--json")
    assert shown.json()["history_url"] == without
    assert shown.json()["history_password"] == {"env": "PG_TEST_PASSWORD"}
    # A wrong password: exit 3, one error, the password nowhere.
    monkeypatch.setenv("PG_TEST_PASSWORD", "Wr0ng-Secret-Value")
    before = len(cli.recorder.requests)
    refused = cli(*EMNIFY, "-t", "endpoint:1001", "hi", "--json")
    assert refused.exit_code == 3
    assert refused.json()["error"]["code"] == "history_unavailable"
    assert "Wr0ng-Secret-Value" not in refused.output
    assert len(cli.recorder.requests) == before  # nothing sent
    # The password in the URL: shown as *** in errors, `config show` and -v.
    write_config(isolated, f'history_url = "{postgres_url}"\n')
    shown = cli("config", "show")
    assert password not in shown.output and ":***@" in shown.stdout
    for args in (["log"], ["status", "#1", "-v", "--json"], ["history", "migrate", "--json"], [*EMNIFY, "-t",
                 "endpoint:1001", "hi", "-v", "--json"]):  # fmt: skip
        done = cli(*args, SMSCLI_EMNIFY_APPLICATION_TOKEN="app-token-1")
        assert done.exit_code == 0, done.output
        assert password not in done.output


def test_an_unreachable_database_is_exit_3_and_nothing_is_sent(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://sms:S3cret-Pg-Pass@127.0.0.1:{port}/sms"
    monkeypatch.setenv("SMSCLI_HISTORY_URL", url)
    done = cli(*EMNIFY, "-t", "endpoint:1001", "hi", "--idempotency-key", "k")
    assert done.exit_code == 3, done.output
    assert done.stderr.startswith("error: cannot reach the history database")
    assert len([line for line in done.stderr.splitlines() if line.startswith("error")]) == 1
    assert "S3cret-Pg-Pass" not in done.output and "nothing was sent" in done.output
    assert cli.recorder.requests == []
    assert cli("log").exit_code == 3
    assert cli("history", "migrate", "--json").json()["error"]["code"] == "history_unavailable"


@pytest.mark.parametrize(
    "value", ["sqlite:///x", "postgresql://", "http://h/db", "postgresql://u@h:notaport/db"]
)
def test_a_bad_history_url_is_a_config_error(
    cli: Cli, isolated: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    bad = cli("config", "set", "history_url", value)
    assert bad.exit_code == 3 and "history_url:" in bad.stderr
    monkeypatch.setenv("SMSCLI_HISTORY_URL", value)
    done = cli(*EMNIFY, "-t", "endpoint:1001", "hi")
    assert done.exit_code == 3 and "SMSCLI_HISTORY_URL" in done.stderr
    assert cli.recorder.requests == []


def test_config_set_history_url(cli: Cli, isolated: Path) -> None:
    url = "postgresql://sms:pw-in-url@db.example:5432/sms"
    done = cli("config", "set", "history_url", url)
    assert done.exit_code == 0, done.output
    assert "pw-in-url" not in done.output
    assert "pw-in-url" not in cli("config", "show").output


def test_psycopg_missing_says_what_to_install(tmp_path: Path, postgres_url: str) -> None:
    """A PostgreSQL URL without psycopg installed: exit 3, `install smscli[postgres]`."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "psycopg.py").write_text("raise ImportError('psycopg is not installed')\n")
    env = {"PYTHONPATH": str(blocker), "SMSCLI_HISTORY_URL": postgres_url,
           "SMSCLI_DATA_DIR": str(tmp_path / "data"), "SMSCLI_CONFIG": str(tmp_path / "c.toml"),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "smscli", "log", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 3, done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "postgres_missing" and "smscli[postgres]" in error["hint"]


def test_the_python_api_takes_history_url(postgres_url: str) -> None:
    import httpx

    from smscli.api import Client
    from smscli.sandbox.server import Sandbox

    sandbox = Sandbox()
    transport = httpx.MockTransport(lambda r: sandbox.transport().handle_request(r))
    client = Client(provider="emnify", credentials={"application_token": "t"},
                    base_url=base_url("emnify"), history_url=postgres_url,
                    transport=transport)  # fmt: skip
    first = client.send("job done", to="endpoint:1001", idempotency_key="task-7")
    again = client.send("job done", to="endpoint:1001", idempotency_key="task-7")
    assert first.exit_code == again.exit_code == 0
    assert first.results[0].message_id == again.results[0].message_id
    assert len(raw(postgres_url, "SELECT id FROM sends")) == 1
    assert client.status("#1").message_id == first.results[0].message_id


def test_hosts_opening_an_empty_database_at_once_create_its_schema_once(
    postgres_url: str,
) -> None:
    """Ten "hosts" open a database with no smscli schema at the same moment: one creates
    it, the others wait and find it done (none fails with "column … already exists")."""
    import threading

    from smscli.errors import ConfigError
    from smscli.history import SCHEMA_VERSION, History

    def one_round() -> tuple[list[str], list[object]]:
        raw(postgres_url, "DROP TABLE IF EXISTS sends, replies, locks, schema_version")
        gate = threading.Barrier(10)
        failures: list[str] = []
        changed: list[object] = []

        def open_it() -> None:
            history = History(None, url=postgres_url)
            gate.wait(timeout=30)
            try:
                history.require_writable()
                changed.append(history.migrated)
            except ConfigError as exc:
                failures.append(str(exc))
            finally:
                history.close()

        threads = [threading.Thread(target=open_it) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return failures, changed

    for _ in range(3):  # a fresh schema each round
        failures, changed = one_round()
        assert failures == []
        assert sum(1 for c in changed if c is not None) == 1, changed
        [row] = raw(postgres_url, "SELECT version FROM schema_version")
        assert row["version"] == SCHEMA_VERSION


def test_a_dropped_connection_is_reopened_by_the_next_call(postgres_url: str) -> None:
    """A long-running `listen` outlives a database restart: the call that finds the
    connection gone fails (exit 3, the provider retries), the next one connects again."""
    from smscli.errors import ConfigError
    from smscli.history import History
    from smscli.models import Reply

    history = History(None, url=postgres_url)
    try:

        def reply(n: int) -> Reply:
            return Reply(provider="emnify", reply_id=str(n), sender="endpoint:1001",
                         text=f"ACK {n}", date=None, profile=None)  # fmt: skip

        assert history.add_replies([reply(1)]) == [True]
        raw(postgres_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'smscli' AND pid <> pg_backend_pid()")  # fmt: skip
        with pytest.raises(ConfigError):
            history.add_replies([reply(2)])
        assert history.add_replies([reply(2)]) == [True]
        assert history.add_replies([reply(2)]) == [False]
        raw(postgres_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'smscli' AND pid <> pg_backend_pid()")  # fmt: skip
        with pytest.raises(ConfigError):
            history.replies(provider="emnify")
        assert [r["reply_id"] for r in history.replies(provider="emnify")] == ["1", "2"]
    finally:
        history.close()
