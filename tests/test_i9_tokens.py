"""smscli.tokens shared by processes running at once (issue 9). Two ``TokenCache`` objects on
one file stand for two processes (each reads the file when it starts and writes it when it
logs in); the stress test uses real processes.

- Every change is read-merge-written under a file lock, through a temporary file of the
  process's own: no update is lost, no reader sees a partial file.
- ``login_lock``: one login per profile at a time; the waiter sees the token the holder got;
  the wait is bounded; lock files exist only while held.
- A cached value that could not be sent as a token is never used, nor stored.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from smscli import tokens
from smscli.tokens import TokenCache
from tests.conftest import Cli, base_url


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "tokens.json"


def on_disk(path: Path) -> dict[str, dict[str, dict[str, object]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def values(path: Path, key: str) -> dict[str, object]:
    return {name: entry["value"] for name, entry in on_disk(path).get(key, {}).items()}


# --------------------------------------------------------------------------- no lost update


def test_two_processes_started_together_keep_both_tokens(path: Path) -> None:
    first, second = TokenCache(path), TokenCache(path)  # both read an empty cache
    first.set("a", "jwt", "jwt-a", None)
    second.set("b", "jwt", "jwt-b", None)
    assert values(path, "a") == {"jwt": "jwt-a"}
    assert values(path, "b") == {"jwt": "jwt-b"}
    assert second.get("a", "jwt") == "jwt-a"  # its write took in what was there


def test_a_kept_back_refresh_does_not_bring_back_a_replaced_token(path: Path) -> None:
    first = TokenCache(path)
    first.set("k", "session", "s1", 2_000_000_000.0)
    second = TokenCache(path)
    second.set("k", "session", "s2", 2_000_000_000.0)  # another process's new session
    first.set("k", "session", "s1", 2_000_000_600.0)  # kept back for flush
    first.flush()
    assert values(path, "k") == {"session": "s2"}


def test_a_kept_back_refresh_of_a_forgotten_token_is_dropped(path: Path) -> None:
    first = TokenCache(path)
    first.set("k", "session", "s1", 2_000_000_000.0)
    TokenCache(path).clear("k")  # `smscli logout` meanwhile
    first.set("k", "session", "s1", 2_000_000_600.0)
    first.flush()
    assert "k" not in on_disk(path)


def test_a_kept_back_refresh_is_written_with_another_change(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("k", "session", "s1", 2_000_000_000.0)
    cache.set("k", "session", "s1", 2_000_000_600.0)
    cache.set("k", "oauth", "o1", 2_000_000_000.0)
    assert on_disk(path)["k"]["session"] == {"value": "s1", "expires_at": 2_000_000_600.0}


def test_delete_keeps_the_newer_token_another_process_wrote(path: Path) -> None:
    first = TokenCache(path)
    first.set("k", "jwt", "old", None)
    TokenCache(path).set("k", "jwt", "new", None)
    first.delete("k", "jwt")  # first found "old" refused
    assert values(path, "k") == {"jwt": "new"}
    assert first.get("k", "jwt") == "new"  # and now knows the newer one


def test_clear_counts_what_the_file_holds(path: Path) -> None:
    first = TokenCache(path)
    TokenCache(path).set("p:emnify:1", "jwt", "x", None)
    TokenCache(path).set("p:emnify:2", "jwt", "y", None)
    TokenCache(path).set("q:emnify:3", "jwt", "z", None)
    assert first.clear(prefix="p:") == 2
    assert set(on_disk(path)) == {"q:emnify:3"}
    assert first.clear() == 1
    assert not path.exists()


def test_writes_leave_no_temporary_or_lock_file(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("k", "jwt", "one", None)
    cache.set("k", "jwt", "two", None)
    cache.set("k", "jwt", "two", 2_000_000_000.0)
    cache.flush()
    cache.delete("k", "jwt")
    with cache.login_lock("k"):
        pass
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]


def test_a_stale_temporary_file_of_a_killed_process_is_removed(path: Path) -> None:
    path.parent.mkdir(parents=True)
    stale = path.with_name("tokens.json.abc123.tmp")
    stale.write_text('{"k": {"jwt": {"value": "secret"}}}')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    recent = path.with_name("tokens.json.def456.tmp")  # a live process's: left alone
    recent.write_text("{}")
    TokenCache(path).set("k", "jwt", "v", None)
    assert not stale.exists()
    assert recent.exists()


def test_an_unwritable_cache_keeps_every_token_in_memory(tmp_path: Path) -> None:
    """The file cannot be written: the cache lives in memory for the command (ThingSpace's
    second token must not push out its first, or each send would log in again)."""
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    cache = TokenCache(blocker / "tokens.json")
    cache.set("k", "oauth_token", "bearer", None)
    cache.set("k", "session_token", "session", None)
    cache.delete("k", "never-set")
    with cache.login_lock("k"):
        assert cache.get("k", "oauth_token") == "bearer"
    cache.flush()
    assert cache.get("k", "session_token") == "session"


WRITER = """
import sys
from smscli.tokens import TokenCache
path, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(count):
    TokenCache(__import__("pathlib").Path(path)).set(f"{who}-{i}", "jwt", "x" * 2000, None)
"""


def test_processes_writing_at_once_lose_nothing_and_readers_see_whole_files(
    path: Path,
) -> None:
    writers, count = 4, 40
    path.parent.mkdir(parents=True, mode=0o700)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{n}", str(count)])
        for n in range(writers)
    ]
    reads = damaged = 0
    while any(p.poll() is None for p in procs):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        reads += 1
        try:
            json.loads(text)
        except ValueError:
            damaged += 1
    assert [p.wait(timeout=30) for p in procs] == [0] * writers
    assert damaged == 0, f"{damaged} of {reads} reads saw a partial file"
    assert len(on_disk(path)) == writers * count
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- the login lock


def test_a_waiting_login_sees_the_token_the_holder_got(path: Path) -> None:
    holder, waiter = TokenCache(path), TokenCache(path)
    inside = threading.Event()
    seen: list[str | None] = []

    def wait_for_it() -> None:
        inside.wait(5)
        with waiter.login_lock("k"):
            seen.append(waiter.get("k", "jwt"))

    thread = threading.Thread(target=wait_for_it)
    thread.start()
    with holder.login_lock("k"):
        assert waiter.get("k", "jwt") is None
        inside.set()
        time.sleep(0.2)  # the waiter is blocked meanwhile
        assert seen == []
        holder.set("k", "jwt", "the-token", None)
    thread.join(5)
    assert seen == ["the-token"]


def test_login_locks_of_different_profiles_do_not_wait_for_each_other(path: Path) -> None:
    other = TokenCache(path, login_wait=5)
    with TokenCache(path).login_lock("a"):
        started = time.monotonic()
        with other.login_lock("b"):
            pass
    assert time.monotonic() - started < 1


def test_one_holder_at_a_time_among_many(path: Path) -> None:
    inside = [0]
    most = [0]
    guard = threading.Lock()

    def worker() -> None:
        cache = TokenCache(path)  # a process of its own, as far as the lock is concerned
        for _ in range(5):
            with cache.login_lock("k"):
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.002)
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most[0] == 1
    assert not list(path.parent.glob("*.lock"))


def test_the_wait_for_a_login_lock_is_bounded(path: Path) -> None:
    waiter = TokenCache(path, login_wait=0.3)
    with TokenCache(path).login_lock("k"):
        started = time.monotonic()
        with waiter.login_lock("k"):  # goes ahead: it would log in itself
            waited = time.monotonic() - started
    assert 0.25 <= waited < 3


def test_lock_files_are_0600_and_gone_after_release(path: Path) -> None:
    cache = TokenCache(path)
    with cache.login_lock("fleet:emnify:0123abcd"):
        [lock] = path.parent.glob("*.lock")
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        assert "fleet" not in lock.name  # named by a digest of the key
    assert not list(path.parent.glob("*.lock"))


def test_without_fcntl_nothing_is_locked_and_the_cache_still_works(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fcntl", None)  # as on Windows: the import fails
    cache = TokenCache(path, login_wait=5)
    with cache.login_lock("k"):
        started = time.monotonic()
        with TokenCache(path, login_wait=5).login_lock("k"):
            assert time.monotonic() - started < 1
        cache.set("k", "jwt", "v", None)
    assert TokenCache(path).get("k", "jwt") == "v"


def test_a_kept_back_refresh_survives_the_reread_of_a_login_lock(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("k", "session", "s1", 2_000_000_000.0)
    cache.set("k", "session", "s1", 2_000_000_600.0)  # kept back
    TokenCache(path).set("other", "jwt", "x", None)
    with cache.login_lock("k"):
        assert cache.get("other", "jwt") == "x"  # read again
    cache.flush()
    assert on_disk(path)["k"]["session"]["expires_at"] == 2_000_000_600.0
    assert values(path, "other") == {"jwt": "x"}


def test_memory_only_cache_has_a_login_lock_too() -> None:
    cache = TokenCache(None)
    with cache.login_lock("k"):
        cache.set("k", "jwt", "v", None)
    assert cache.get("k", "jwt") == "v"


# --------------------------------------------------------------------------- unsendable values


@pytest.mark.parametrize(
    "value",
    ["a\r\nb", "a\nb", "tök€n", "token-🙂", "a\x00b", "a\tb", " a", "a b", "", "\udcff"],
)
def test_an_unsendable_value_is_neither_used_nor_stored(path: Path, value: str) -> None:
    assert not tokens.sendable(value)
    cache = TokenCache(path)
    cache.set("k", "jwt", "good", None)
    cache.set("k", "jwt", value, None)  # what a login reply gave: not cached
    assert cache.get("k", "jwt") is None
    assert values(path, "k") == {}
    path.write_text(json.dumps({"k": {"jwt": {"value": value, "expires_at": None}}}))
    assert TokenCache(path).get("k", "jwt") is None


@pytest.mark.parametrize(
    "value",
    [
        "eyJhbGciOiJIUzUxMiJ9.eyJleHAiOjF9.c2ln",
        "bcce3ea6-fe4f-4952-bacf-eadd80718e83",
        "9ZE6BHX-GilmyI4SL0jW1xVyF7W5kW04",
        "0123abcdef",
    ],
)
def test_the_tokens_the_apis_issue_are_sendable(value: str) -> None:
    assert tokens.sendable(value)


# --------------------------------------------------------------------------- through the CLI


def test_a_run_that_cannot_get_the_login_lock_logs_in_after_the_wait(
    cli: Cli, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that holds the profile's login lock and never lets go (hung, stopped) does
    not hang other runs: they wait ``LOGIN_WAIT`` and log in themselves."""
    argv = ["emnify", "--base-url", base_url("emnify"), "--application-token", "tok"]
    argv += ["-t", "endpoint:1001", "Hi"]
    assert cli(*argv).exit_code == 0
    path = isolated / "cache" / "tokens.json"
    [key] = on_disk(path)
    path.unlink()  # no cached token: the next run must log in
    monkeypatch.setattr(tokens, "LOGIN_WAIT", 0.3)
    cli.recorder.requests.clear()
    with TokenCache(path, login_wait=0).login_lock(key):
        started = time.monotonic()
        res = cli(*argv)
        waited = time.monotonic() - started
    assert res.exit_code == 0, res.output
    assert 0.25 <= waited < 10
    assert cli.recorder.paths().count("POST /emnify/api/v1/authenticate") == 1


# --------------------------------------------------------------------------- refused logins


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


REFUSAL = {
    "message": "emnify refused the login: bad token",
    "hint": "check",
    "provider_code": "1101",
}


def test_a_refusal_is_seen_by_other_processes_for_ten_seconds(path: Path) -> None:
    clock = Clock()
    first, second = TokenCache(path, clock=clock), TokenCache(path, clock=clock)
    first.note_refused("k", REFUSAL)
    assert second.refusal("k") is None  # not read again yet
    clock.now += 4
    with second.login_lock("k"):  # the lock reads the cache again
        assert second.refusal("k") == {"ago": 4, **REFUSAL}
    assert second.refusal("other") is None
    clock.now += 6
    assert second.refusal("k") is None


def test_a_refusal_keeps_only_its_text_and_not_too_much_of_it(path: Path) -> None:
    cache = TokenCache(path)
    cache.note_refused("k", {"message": "x" * 5000, "hint": None, "other": "dropped"})
    kept = on_disk(path)["k"]["!refused"]
    assert set(kept) == {"refused_at", "expires_at", "message"}
    assert kept["message"] == "x" * 2000
    refusal = cache.refusal("k")
    assert refusal is not None and refusal["hint"] is None and refusal["provider_code"] is None


def test_a_token_got_after_a_refusal_forgets_it(path: Path) -> None:
    cache = TokenCache(path)
    cache.note_refused("k", REFUSAL)
    cache.set("k", "jwt", "token", None)
    assert cache.refusal("k") is None
    assert values(path, "k") == {"jwt": "token"}


def test_a_remembered_refusal_is_no_token_and_is_pruned(path: Path) -> None:
    clock = Clock()
    cache = TokenCache(path, clock=clock)
    cache.note_refused("k", REFUSAL)
    assert cache.get("k", "!refused") is None
    clock.now += 11
    cache.set("other", "jwt", "x", None)
    assert set(on_disk(path)) == {"other"}


@pytest.mark.parametrize(
    "entry",
    ["x", {"refused_at": "soon"}, {"refused_at": 1e18}, {"refused_at": 1_900_000_000.0 - 60}],
)
def test_a_damaged_or_old_refusal_entry_is_ignored(path: Path, entry: object) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"k": {"!refused": entry}}))
    assert TokenCache(path, clock=Clock()).refusal("k") is None


def test_a_refusal_entry_of_the_wrong_types_gives_no_text(path: Path) -> None:
    path.parent.mkdir(parents=True)
    entry = {"refused_at": 1_900_000_000.0, "message": 5, "hint": ["x"], "provider_code": {}}
    path.write_text(json.dumps({"k": {"!refused": entry}}))
    assert TokenCache(path, clock=Clock()).refusal("k") == {
        "ago": 0,
        "message": None,
        "hint": None,
        "provider_code": None,
    }
