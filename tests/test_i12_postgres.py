"""Issue 12 on a PostgreSQL history (SMSCLI_HISTORY_URL): `--lock` is a PostgreSQL advisory
lock shared by every host (its holder in the `locks` table), and the dedupe window holds
across hosts. The "hosts" are processes with separate home directories (their own data
dirs, so a lock file could not protect them: only the database does)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from smscli.history import Attempt, Deduped, History
from smscli.locks import PgLock, lock_for
from tests.conftest import SCRIPT, Cli, base_url
from tests.test_i12_lock import PROCESSES, _race, _received, _start

EM = ["send", "--provider", "emnify", "--base-url", base_url("emnify"),
      "--application-token", "t", "-t", "endpoint:1001"]  # fmt: skip


@pytest.fixture
def shared(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tests' commands use the PostgreSQL history, its schema created first (ten
    processes creating it at once is the history store's own test)."""
    monkeypatch.setenv("SMSCLI_HISTORY_URL", postgres_url)
    history = History(None, url=postgres_url)
    history.session()
    history.close()
    return postgres_url


def _lock(url: str) -> PgLock:
    lock = lock_for(lambda: History(None, url=url))
    assert isinstance(lock, PgLock)
    return lock


def _lock_rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute('SELECT name, host, "user", pid FROM locks').fetchall()


def test_a_held_postgresql_lock_skips_the_command(cli: Cli, shared: str, isolated: Path) -> None:
    holder = _lock(shared)
    assert holder.acquire("nightly") is None
    try:
        assert _lock_rows(shared)[0][0] == "nightly"
        res = cli("--lock", "nightly", *EM, "hi")
        assert res.exit_code == 0, res.output
        assert res.stderr.startswith("skipped: nightly is held by host "), res.stderr
        assert f"pid {os.getpid()})" in res.stderr
        res = cli("--lock", "nightly", "--lock-strict", "log", "--json")
        assert res.exit_code == 11 and res.json()["error"]["code"] == "lock_held"
        assert cli.sandbox.messages() == []
        assert not (isolated / "data" / "locks").exists()  # no lock file: the database's
    finally:
        holder.release()
    assert _lock_rows(shared) == []
    res = cli("--lock", "nightly", *EM, "hi")
    assert res.exit_code == 0 and "skipped" not in res.output
    assert len(cli.sandbox.messages()) == 1
    assert _lock_rows(shared) == []  # given back: its row deleted


def test_a_row_left_by_a_dead_holder_is_taken_over(cli: Cli, shared: str) -> None:
    with psycopg.connect(shared, autocommit=True) as conn:
        conn.execute(
            'INSERT INTO locks (name, host, "user", pid, since) VALUES (%s, %s, %s, %s, %s)',
            ("nightly", "gone-host", "ops", 4242, "2026-01-01T00:00:00+00:00"),
        )
    mine = _lock(shared)
    assert mine.acquire("nightly") is None  # the advisory lock is free: the row is stale
    try:
        other = _lock(shared).acquire("nightly")
        assert other is not None and other.pid == os.getpid() and other.host != "gone-host"
    finally:
        mine.release()


def test_a_bad_postgresql_url_is_a_config_error(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_HISTORY_URL", "postgresql://u:secretpw@127.0.0.1:1/db")
    res = cli("--lock", "n", "log")
    assert res.exit_code == 3, res.output
    assert "secretpw" not in res.output and "Traceback" not in res.output


def _host(home: Path, i: int) -> dict[str, str]:
    """Process i as a host of its own: its own data and config directories."""
    return {"SMSCLI_DATA_DIR": str(home / f"host{i}" / "data"),
            "SMSCLI_CONFIG": str(home / f"host{i}" / "config.toml")}  # fmt: skip


def test_ten_hosts_with_one_lock_run_once(
    sandbox_process: str, shared: str, isolated: Path
) -> None:
    codes, errs, winner = _race(sandbox_process, "--lock", "race", env=lambda i: _host(isolated, i))
    assert winner == 0
    assert codes == [0] * (PROCESSES - 1), errs
    assert all(e.startswith("skipped: race is held by host ") for e in errs), errs
    codes, errs, winner = _race(
        sandbox_process, "--lock", "race", "--lock-strict", env=lambda i: _host(isolated, i)
    )
    assert winner == 0 and codes == [11] * (PROCESSES - 1), errs


def test_a_sigkilled_postgresql_holder_leaves_no_lock(
    sandbox_process: str, shared: str, isolated: Path
) -> None:
    text = f"pg kill {secrets.token_hex(4)}"
    holder = _start(sandbox_process, text, "--lock", "killed", env=_host(isolated, 0))
    try:
        deadline = time.monotonic() + 30
        while not _lock_rows(shared):  # taken once its row is in
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        blocked = subprocess.run(
            [SCRIPT, "--lock", "killed", "--lock-strict", "log"], capture_output=True,
            text=True, timeout=60, stdin=subprocess.DEVNULL, env={**os.environ, **_host(isolated, 1)},
        )  # fmt: skip
        assert blocked.returncode == 11 and f"pid {holder.pid})" in blocked.stderr
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)
    # The server ends the dead session (its socket closed) and with it the advisory lock;
    # the row it left is taken over.
    deadline = time.monotonic() + 30
    while True:
        after = _start(sandbox_process, text, "--lock", "killed", env=_host(isolated, 2))
        _, err = after.communicate("endpoint:1001\n", timeout=60)
        if "skipped" not in err or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert after.returncode == 0 and "skipped" not in err, err
    assert _received(sandbox_process, text) == 1


def test_the_dedupe_window_on_postgresql(cli: Cli, shared: str) -> None:
    assert cli(*EM, "--dedupe-window", "30m", "reboot").exit_code == 0
    res = cli(*EM, "--dedupe-window", "30m", "reboot", "--json")
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["status"] == "deduped"
    assert "deduped: endpoint:1001 was sent the same text at " in res.stderr
    assert len(cli.sandbox.messages()) == 1
    rows = cli("log", "--json").json()["entries"]
    assert [r["status"] for r in rows] == ["accepted", "deduped"]
    assert rows[1]["details"]["deduped_of"]["id"] == rows[0]["id"]
    res = cli(*EM, "--dedupe-window", "30m", "reboot", "--dry-run")
    assert "dry run: deduped: endpoint:1001" in res.stderr


@pytest.mark.parametrize("repeat", range(3))
def test_ten_hosts_with_one_window_send_once(
    sandbox_process: str, shared: str, isolated: Path, repeat: int
) -> None:
    text = f"pg window {secrets.token_hex(4)}"
    argv = [SCRIPT, "emnify", "--base-url", f"{sandbox_process}/emnify", "--application-token",
            "t", "-t", "endpoint:1001", "--dedupe-window", "10m", "--json", text]  # fmt: skip
    pipe = subprocess.PIPE
    procs = [
        subprocess.Popen(
            argv,
            stdout=pipe,
            stderr=pipe,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **_host(isolated, i)},
        )
        for i in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    messages = httpx.get(sandbox_process + "/_sandbox/messages").json()["messages"]
    assert sum(1 for m in messages if m["text"] == text) == 1, outputs
    assert [p.returncode for p in procs] == [0] * PROCESSES, outputs


def _attempt(key: str, since: str) -> Attempt:
    return Attempt("emnify", None, "http://x", "endpoint:1001", "hi", 1, "gsm7", None,
                   dedupe_key=key, dedupe_since=since)  # fmt: skip


def _race_once(histories: list[History], key: str, since: str) -> list[object]:
    """Every history records an attempt under ``key`` at once (a barrier releases them)."""
    barrier = threading.Barrier(len(histories))
    found: list[object] = []

    def record(h: History) -> None:
        barrier.wait()
        found.extend(h.record(started=[_attempt(key, since)]))

    threads = [threading.Thread(target=record, args=(h,)) for h in histories]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return found


def test_one_dedupe_key_claimed_at_once_by_many_connections(store: Callable[..., History]) -> None:
    """The check and the row in one transaction, on both stores: of 12 connections
    (threads released together by a barrier) recording one key at once, exactly one gets
    a row to send and the others a ``deduped`` row pointing at it; 5 rounds."""
    histories = [store() for _ in range(12)]
    for h in histories:
        h.session()  # connected (and the schema made) before the race
    try:
        for round_ in range(5):
            key = f"race-{round_}-{secrets.token_hex(4)}"
            since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
            found = _race_once(histories, key, since)
            sent = [f for f in found if isinstance(f, int)]
            deduped = [f for f in found if isinstance(f, Deduped)]
            assert len(sent) == 1 and len(deduped) == len(histories) - 1, found
            assert {d.row["id"] for d in deduped} == set(sent)
    finally:
        for h in histories:
            h.close()
