"""smscli.tokens: the session/token cache file (mode 0600), expiry, and per-profile clearing
(SPEC §1 "Authentication and sessions")."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from smscli.tokens import TokenCache, TokenStore, default_path


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "tokens.json"


def _on_disk(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_default_path_follows_smscli_cache_dir(isolated: Path) -> None:
    assert default_path() == isolated / "cache" / "tokens.json"


# --------------------------------------------------------------------------- set/get/delete


def test_set_get_per_key(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("a", "session", "sid-a", None)
    cache.set("b", "session", "sid-b", None)
    cache.set("a", "bearer", "bearer-a", None)
    assert cache.get("a", "session") == "sid-a"
    assert cache.get("b", "session") == "sid-b"
    assert cache.get("a", "bearer") == "bearer-a"
    assert cache.get("b", "bearer") is None
    assert cache.get("c", "session") is None


def test_set_overwrites(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("a", "session", "old", None)
    cache.set("a", "session", "new", None)
    assert cache.get("a", "session") == "new"


def test_delete_one_name(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("a", "session", "sid", None)
    cache.set("a", "bearer", "b", None)
    cache.delete("a", "session")
    cache.delete("a", "never-set")
    cache.delete("nokey", "session")
    assert cache.get("a", "session") is None
    assert cache.get("a", "bearer") == "b"
    assert TokenCache(path).get("a", "session") is None


def test_clear_one_key(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("a", "session", "sid-a", None)
    cache.set("b", "session", "sid-b", None)
    assert cache.clear("a") == 1
    assert cache.clear("a") == 0
    assert cache.get("a", "session") is None
    assert cache.get("b", "session") == "sid-b"
    assert TokenCache(path).get("b", "session") == "sid-b"


def test_clear_everything_removes_the_file(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("a", "session", "sid-a", None)
    cache.set("b", "session", "sid-b", None)
    assert cache.clear() == 2
    assert cache.get("a", "session") is None
    assert not path.exists()


def test_clear_prefix_only_matching_keys(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("prod:telit:aaa", "session", "1", None)
    cache.set("prod:telit:bbb", "session", "2", None)
    cache.set("production:emnify:ccc", "jwt", "3", None)
    cache.set("dev:telit:aaa", "session", "4", None)
    assert cache.clear(prefix="prod:") == 2
    assert cache.get("prod:telit:aaa", "session") is None
    assert cache.get("prod:telit:bbb", "session") is None
    assert cache.get("production:emnify:ccc", "jwt") == "3"
    assert cache.get("dev:telit:aaa", "session") == "4"
    assert set(_on_disk(path)) == {"production:emnify:ccc", "dev:telit:aaa"}


def test_token_store_is_one_key(path: Path) -> None:
    cache = TokenCache(path)
    store = cache.for_key("p:emnify:x")
    assert isinstance(store, TokenStore)
    store.set("jwt", "eyJ...", expires_at=None)
    cache.set("other", "jwt", "keep", None)
    assert store.get("jwt") == "eyJ..."
    assert cache.get("p:emnify:x", "jwt") == "eyJ..."
    store.delete("jwt")
    assert store.get("jwt") is None
    store.set("jwt", "again", expires_at=None)
    store.clear()
    assert store.get("jwt") is None
    assert cache.get("other", "jwt") == "keep"


# --------------------------------------------------------------------------- expiry


@pytest.mark.parametrize(
    ("expires_in", "alive"),
    [
        (None, True),
        (3600.0, True),
        (31.0, True),
        (30.0, False),  # inside the 30 s margin
        (29.0, False),
        (0.0, False),
        (-10.0, False),
    ],
    ids=["no-expiry", "1h", "31s", "30s-margin", "29s", "now", "past"],
)
def test_expiry_with_margin(path: Path, expires_in: float | None, alive: bool) -> None:
    clock = Clock()
    cache = TokenCache(path, clock=clock)
    expires_at = None if expires_in is None else clock.now + expires_in
    cache.set("k", "jwt", "value", expires_at)
    assert (cache.get("k", "jwt") == "value") is alive


def test_token_expires_as_the_clock_moves(path: Path) -> None:
    clock = Clock()
    cache = TokenCache(path, clock=clock)
    cache.set("k", "jwt", "value", clock.now + 300)
    clock.now += 269
    assert cache.get("k", "jwt") == "value"
    clock.now += 1
    assert cache.get("k", "jwt") is None


def test_expiry_survives_reopening(path: Path) -> None:
    clock = Clock()
    TokenCache(path, clock=clock).set("k", "jwt", "value", clock.now + 100)
    assert TokenCache(path, clock=clock).get("k", "jwt") == "value"
    clock.now += 71
    assert TokenCache(path, clock=clock).get("k", "jwt") is None


# --------------------------------------------------------------------------- the file


def test_file_is_0600_and_dir_0700(path: Path) -> None:
    TokenCache(path).set("k", "jwt", "value", None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]


def test_file_stays_0600_after_rewrites(path: Path) -> None:
    cache = TokenCache(path)
    cache.set("k", "a", "1", None)
    path.chmod(0o644)
    cache.set("k", "b", "2", None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "",
        "[1, 2, 3]",
        '"a string"',
        '{"k": {"jwt": "not-an-entry"}}',
        '{"k": {"jwt": {"value": 5, "expires_at": null}}}',
        '{"k": "not-a-table"}',
    ],
    ids=[
        "broken-json",
        "empty",
        "list",
        "string",
        "entry-not-a-table",
        "value-not-a-string",
        "key-not-a-table",
    ],
)
def test_damaged_file_is_empty(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)
    cache = TokenCache(path)
    assert cache.get("k", "jwt") is None
    cache.set("k", "jwt", "fresh", None)
    assert TokenCache(path).get("k", "jwt") == "fresh"


def test_memory_only_cache(isolated: Path, tmp_path: Path) -> None:
    cache = TokenCache(None)
    cache.set("k", "jwt", "value", None)
    assert cache.get("k", "jwt") == "value"
    assert cache.clear() == 1
    assert cache.get("k", "jwt") is None
    cache.set("k", "jwt", "again", None)
    assert TokenCache(None).get("k", "jwt") is None
    assert not (isolated / "cache").exists()
    assert not list(tmp_path.rglob("*.json"))


def test_two_caches_see_each_others_writes_after_reopening(path: Path) -> None:
    first = TokenCache(path)
    first.set("a", "session", "sid-a", None)
    second = TokenCache(path)
    assert second.get("a", "session") == "sid-a"
    second.set("b", "jwt", "jwt-b", None)
    second.delete("a", "session")
    reopened = TokenCache(path)
    assert reopened.get("b", "jwt") == "jwt-b"
    assert reopened.get("a", "session") is None
    assert set(_on_disk(path)) == {"a", "b"}


def test_unwritable_cache_dir_does_not_fail(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    cache = TokenCache(blocker / "tokens.json")
    cache.set("k", "jwt", "value", None)  # must not raise
    assert cache.get("k", "jwt") == "value"


def test_a_new_token_is_written_at_once_an_expiry_refresh_at_flush(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    cache = TokenCache(path, clock=clock)
    writes: list[int] = []
    real_write = cache._write
    monkeypatch.setattr(cache, "_write", lambda data: (writes.append(1), real_write(data)))
    cache.set("k", "session", "s1", clock.now + 600)
    assert len(writes) == 1  # a login's token: another run may use it now
    for step in range(1, 4):  # ThingSpace pushes the idle deadline back on every send
        cache.set("k", "session", "s1", clock.now + 600 + step)
    assert len(writes) == 1
    assert _on_disk(path)["k"] == {"session": {"value": "s1", "expires_at": clock.now + 600}}
    cache.flush()
    assert len(writes) == 2
    assert _on_disk(path)["k"] == {"session": {"value": "s1", "expires_at": clock.now + 603}}
    cache.flush()  # nothing kept back: no write
    assert len(writes) == 2
    cache.set("k", "session", "s2", clock.now + 600)  # a new session: written at once
    assert len(writes) == 3


def test_closing_the_http_session_flushes_the_cache(path: Path) -> None:
    from smscli.http_client import HttpSession
    from smscli.redaction import Redactor

    cache = TokenCache(path)
    cache.set("k", "session", "s1", 2_000_000_000.0)
    cache.set("k", "session", "s1", 2_000_000_600.0)
    with HttpSession(tokens=cache.for_key("k"), redactor=Redactor()):
        pass
    assert TokenCache(path).get("k", "session") == "s1"
    assert _on_disk(path)["k"] == {"session": {"value": "s1", "expires_at": 2_000_000_600.0}}
