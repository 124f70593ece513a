"""Issue 12: `smscli --lock NAME [--lock-strict] COMMAND …` runs COMMAND only when no other
run holds NAME: in-process through the `cli` fixture, and with real processes against a
real `smscli sandbox` (ten at once: exactly one runs; a SIGKILLed holder leaves no lock).

The real-process runs read their targets from stdin (`--to-file -`): the lock is taken
before the command starts, so a run blocked on its stdin holds it for as long as the test
wants, and the overlap of the ten runs does not depend on timing."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from smscli.locks import FileLock, Holder
from tests.conftest import SCRIPT, Cli, base_url

PROCESSES = 10


def _locks(home: Path) -> FileLock:
    return FileLock(home / "data" / "locks")


def _send(*extra: str) -> list[str]:
    return ["send", "--provider", "emnify", "--base-url", base_url("emnify"),
            "--application-token", "t", "-t", "endpoint:1001", *extra, "hello"]  # fmt: skip


def test_a_free_lock_runs_the_command_and_is_given_back(cli: Cli, isolated: Path) -> None:
    res = cli("--lock", "nightly", *_send())
    assert res.exit_code == 0, res.output
    assert len(cli.sandbox.messages()) == 1
    lock_file = isolated / "data" / "locks" / "nightly.lock"
    assert lock_file.stat().st_mode & 0o777 == 0o600
    assert (lock_file.parent.stat().st_mode & 0o777) == 0o700
    # Given back when the command ended: another holder takes it.
    other = _locks(isolated)
    assert other.acquire("nightly") is None
    other.release()


def test_a_held_lock_skips_the_command_with_exit_0(cli: Cli, isolated: Path) -> None:
    holder = _locks(isolated)
    assert holder.acquire("nightly") is None
    try:
        res = cli("--lock", "nightly", *_send())
        assert res.exit_code == 0, res.output
        line = res.stderr.strip()
        assert line.startswith("skipped: nightly is held by host "), line
        assert f"pid {os.getpid()})" in line and " since 20" in line
        assert res.stdout == ""
        assert cli.recorder.requests == []  # nothing was sent
        # --json: the skip as an object on stdout
        res = cli("--lock", "nightly", *_send("--json"))
        assert res.exit_code == 0
        doc = res.json()
        assert doc["skipped"] is True
        assert doc["lock"]["name"] == "nightly" and doc["lock"]["pid"] == os.getpid()
        # --jsonl: the same object, as the one JSONL record of the run
        res = cli("--lock", "nightly", "log", "--jsonl")
        assert res.exit_code == 0
        [record] = [json.loads(line) for line in res.stdout.splitlines()]
        assert record["skipped"] is True and record["lock"]["name"] == "nightly"
        # --lock-strict: exit 11, the error line (JSON: the error object)
        res = cli("--lock", "nightly", "--lock-strict", *_send())
        assert res.exit_code == 11
        assert res.stderr.startswith("error: --lock nightly is held by host ")
        res = cli("--lock", "nightly", "--lock-strict", "log", "--json")
        assert res.exit_code == 11
        assert res.json()["error"]["code"] == "lock_held"
        assert res.json()["error"]["exit_code"] == 11
        assert cli.sandbox.messages() == []
    finally:
        holder.release()
    assert cli("--lock", "nightly", *_send()).exit_code == 0
    assert len(cli.sandbox.messages()) == 1


def test_every_command_takes_the_lock(cli: Cli, isolated: Path) -> None:
    holder = _locks(isolated)
    holder.acquire("n")
    try:
        for command in (["log"], ["providers"], ["config", "show"], ["status", "#1"]):
            res = cli("--lock", "n", *command)
            assert res.exit_code == 0 and res.stderr.startswith("skipped: n is held"), command
    finally:
        holder.release()


@pytest.mark.parametrize("name", ["", "a/b", "../x", "x" * 101, "sp ace", "ümlaut"])
def test_a_bad_lock_name_is_a_usage_error(cli: Cli, name: str) -> None:
    res = cli("--lock", name, "log")
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: invalid --lock name"), res.stderr
    assert "Traceback" not in res.output


def test_lock_strict_without_lock_is_a_usage_error(cli: Cli) -> None:
    res = cli("--lock-strict", "log")
    assert res.exit_code == 2
    assert "--lock-strict needs --lock NAME" in res.stderr


def test_names_and_holder_lines() -> None:
    assert Holder("n", "h", "u", 12, "2026-01-01T00:00:00+00:00").describe() == (
        "n is held by host h (user u, pid 12) since 2026-01-01T00:00:00+00:00"
    )
    assert Holder("n").describe() == "n is held by host ? (user ?, pid ?) since ?"


def test_a_lock_held_by_this_process_blocks_a_second_holder(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path), FileLock(tmp_path)
    assert first.acquire("x.y_z-1") is None
    found = second.acquire("x.y_z-1")
    assert found is not None and found.pid == os.getpid()
    first.release()
    first.release()  # idempotent
    assert second.acquire("x.y_z-1") is None
    second.release()


# -- real processes ----------------------------------------------------------------------------
def _start(
    url: str, text: str, *root: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    argv = [SCRIPT, *root, "emnify", "--base-url", f"{url}/emnify", "--application-token",
            "t", "--to-file", "-", text]  # fmt: skip
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip


def _received(url: str, text: str) -> int:
    messages = httpx.get(url + "/_sandbox/messages").json()["messages"]
    return sum(1 for m in messages if m["text"] == text)


def _race(
    url: str, *root: str, env: Callable[[int], dict[str, str]] = lambda i: {}
) -> tuple[list[int], list[str], int]:
    """Ten runs at once; the one left once the others have ended is the holder: it gets
    its target then. Returns the losers' exit codes and stderr, and the holder's code.
    ``env(i)``: the environment of run i on top of the test's."""
    text = f"locked {secrets.token_hex(4)}"
    procs = [_start(url, text, *root, env=env(i)) for i in range(PROCESSES)]
    try:
        deadline = time.monotonic() + 60
        while sum(p.poll() is not None for p in procs) < PROCESSES - 1:
            assert time.monotonic() < deadline, [p.poll() for p in procs]
            time.sleep(0.05)
        [winner] = [p for p in procs if p.poll() is None]
        _, err = winner.communicate("endpoint:1001\n", timeout=60)
        losers = [p for p in procs if p is not winner]
        errs = [p.communicate(timeout=10)[1] for p in losers]
        assert _received(url, text) == 1, (err, errs)
        return [p.returncode for p in losers], errs, winner.returncode
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=10)


def test_ten_processes_with_one_lock_run_once(sandbox_process: str) -> None:
    codes, errs, winner = _race(sandbox_process, "--lock", "race")
    assert winner == 0
    assert codes == [0] * (PROCESSES - 1), errs
    for err in errs:
        assert err.startswith("skipped: race is held by host "), err


def test_ten_processes_with_lock_strict_nine_exit_11(sandbox_process: str) -> None:
    codes, errs, winner = _race(sandbox_process, "--lock", "strict", "--lock-strict")
    assert winner == 0
    assert codes == [11] * (PROCESSES - 1), errs
    for err in errs:
        assert err.startswith("error: --lock strict is held by host "), err


def test_a_sigkilled_holder_leaves_no_lock(sandbox_process: str) -> None:
    text = f"after kill {secrets.token_hex(4)}"
    holder = _start(sandbox_process, text, "--lock", "killed")
    try:
        lock = Path(os.environ["SMSCLI_DATA_DIR"]) / "locks" / "killed.lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.stat().st_size):  # taken once its name is in
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        blocked = subprocess.run(
            [SCRIPT, "--lock", "killed", "--lock-strict", "log"], capture_output=True,
            text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert blocked.returncode == 11, blocked.stderr
        assert f"pid {holder.pid})" in blocked.stderr
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert holder.returncode == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)
    after = _start(sandbox_process, text, "--lock", "killed")
    _, err = after.communicate("endpoint:1001\n", timeout=60)
    assert after.returncode == 0, err
    assert "skipped" not in err
    assert _received(sandbox_process, text) == 1
