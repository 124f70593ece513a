"""Session and token cache: one JSON file (mode 0600) under the user cache dir.

Entries are keyed by ``Settings.cache_key`` (profile, provider, who logs in where) and carry
their expiry, so Telit's sessionId, ThingSpace's two tokens and emnify's JWT are reused
across runs until they lapse. `smscli logout` clears a profile's entries.

Several smscli processes may share the file (overlapping cron jobs):

- Every change is a read-merge-write under an exclusive lock (``tokens.json.lock``): the
  file is read again, this process's change applied to what is there, and the result
  written to a temporary file of this process's own, then renamed over ``tokens.json``. A
  reader therefore sees a whole file, old or new, never a partial one; and one process's
  token never erases another's.
- A login takes the profile's login lock (``login_lock()``, a lock file per cache key), so
  processes of one profile that need a token at the same moment log in once: the others
  wait for it, read the cache again and use the token it got. The wait is bounded
  (``LOGIN_WAIT``): past it, a process logs in itself rather than hang. A refused login is
  noted (``note_refused``: when, and the refusal as the user was shown it) for
  ``REFUSAL_MEMORY`` seconds, so that the runs that waited answer with that refusal rather
  than try the same credentials again.

The locks are ``fcntl.flock`` locks (POSIX) on files that exist only while held (the holder
deletes its file before letting go). Where there is no fcntl (Windows), nothing is locked:
writes are still whole-file replacements, so at worst a concurrent update is lost and costs
one more login later.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

# A token this close to its expiry is treated as expired: a request started now must not
# arrive with a token that died on the way.
_EXPIRY_MARGIN = 30.0
# How long a process waits for another one's login of the same profile (a login is one or
# two requests; past this, it logs in itself), and for the cache file's lock (held for a
# read and a write of a small file; past this, it writes unlocked).
LOGIN_WAIT = 10.0
_FILE_LOCK_WAIT = 5.0
# A refused login is remembered this long (per cache key: these very credentials), so that
# runs started together do not each try it: accounts lock after three to five failures.
REFUSAL_MEMORY = 10.0
# The entry name that remembers it (token names never start with "!"), and how much of the
# refusal's text it keeps.
_REFUSED = "!refused"
_REFUSAL_TEXT_MAX = 2000
# A temporary file this old was left by a process that died between writing and renaming.
_STALE_TMP_SECONDS = 600.0
# What a token must look like to be used: printable ASCII, no space. Every token the APIs
# issue has this shape (JWTs, UUIDs, hex, base64url); anything else could not be sent in a
# header (httpx and h11 refuse line breaks, controls and non-ASCII) and is dropped, so the
# next run logs in afresh instead of failing until `smscli logout`.
_SENDABLE = re.compile(r"[\x21-\x7e]+", re.ASCII)

Data = dict[str, dict[str, dict[str, Any]]]


def default_path() -> Path:
    env = os.environ.get("SMSCLI_CACHE_DIR")
    if env:
        return Path(env) / "tokens.json"
    from platformdirs import user_cache_path

    return user_cache_path("smscli") / "tokens.json"


def sendable(value: object) -> bool:
    """Whether a cached value can be used as a token (see _SENDABLE)."""
    return isinstance(value, str) and _SENDABLE.fullmatch(value) is not None


class TokenCache:
    """The whole file. ``for_key()`` gives the TokenStore one provider conversation uses."""

    def __init__(
        self,
        path: Path | None,
        clock: Callable[[], float] = time.time,
        *,
        login_wait: float | None = None,
    ) -> None:
        self.path = path  # None: memory only (--no-history style runs, tests)
        self.clock = clock
        self.login_wait = LOGIN_WAIT if login_wait is None else login_wait
        self._lock = threading.RLock()  # send threads share one cache
        self._login_locks: dict[str, threading.Lock] = {}
        # Expiry refreshes not yet written (see set): (key, name) → entry.
        self._deferred: dict[tuple[str, str], dict[str, Any]] = {}
        # False once a write failed (an unwritable cache dir): from then on the cache lives
        # in memory for the rest of the command, rather than be re-read as empty each time.
        self._persisting = path is not None
        self._data: Data = self._read()

    # -- the file -------------------------------------------------------------------------
    def _read(self) -> Data:
        """What the file holds now; a missing, empty or damaged file is an empty cache (it
        only costs a fresh login). Writers replace the file whole, so no lock is needed."""
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            key: {n: e for n, e in entries.items() if isinstance(e, dict)}
            for key, entries in data.items()
            if isinstance(entries, dict)
        }

    def _sibling(self, suffix: str) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + suffix)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """This process's threads, then other processes, one at a time on the file."""
        with self._lock:
            if self.path is None:
                yield
                return
            with contextlib.suppress(OSError):
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock_path = self._sibling(".lock")
            held = _acquire(lock_path, _FILE_LOCK_WAIT)
            try:
                yield
            finally:
                if held is not None:
                    _release(held, lock_path)

    def _update(self, change: Callable[[Data], bool]) -> None:
        """Read the file again, apply ``change`` (True: it changed something) and the
        deferred refreshes to it, write it back if anything changed; that is the cache now."""
        with self._file_lock():
            data = self._read() if self._persisting else self._data
            changed = change(data)
            changed = self._apply_deferred(data) or changed
            if changed:
                self._prune(data)
                if self._persisting and not self._write(data):
                    self._persisting = False
            self._data = data

    def _write(self, data: Data) -> bool:
        """Replace the file by ``data``; False if it cannot be written."""
        assert self.path is not None
        import tempfile

        tmp: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # A temporary file of this process's own (mkstemp: a new name, mode 0600), then
            # one atomic rename: a reader sees the old file or the new one, never part of one.
            fd, tmp = tempfile.mkstemp(
                prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent
            )
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)
            tmp = None
        except OSError:
            return False  # an unwritable cache dir must not fail a send; we log in next time
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self._remove_stale_tmp()
        return True

    def _remove_stale_tmp(self) -> None:
        """Temporary files of processes killed between writing and renaming (they hold
        tokens: not left lying around)."""
        assert self.path is not None
        cutoff = time.time() - _STALE_TMP_SECONDS
        with contextlib.suppress(OSError):
            for stale in self.path.parent.glob(self.path.name + ".*.tmp"):
                with contextlib.suppress(OSError):
                    if stale.stat().st_mtime < cutoff:
                        stale.unlink()

    def _prune(self, data: Data) -> None:
        """Drop profiles whose every token has expired (each --sandbox run adds one)."""
        now = self.clock()
        for key in list(data):
            expiries = [e.get("expires_at") for e in data[key].values()]
            if expiries and all(isinstance(x, int | float) and x < now for x in expiries):
                del data[key]

    def _apply_deferred(self, data: Data) -> bool:
        """Apply the kept-back expiry refreshes to ``data`` where it still holds the same
        token (another process may have replaced or forgotten it since: then the refresh
        is moot). Empties the queue; True if ``data`` changed."""
        changed = False
        for (key, name), entry in self._deferred.items():
            known = data.get(key, {}).get(name)
            if known is not None and known.get("value") == entry["value"] and known != entry:
                data[key][name] = dict(entry)
                changed = True
        self._deferred.clear()
        return changed

    # -- the cache --------------------------------------------------------------------------
    def for_key(self, key: str) -> TokenStore:
        return TokenStore(self, key)

    def get(self, key: str, name: str) -> str | None:
        """A live token, or None; one that could not be sent (``sendable``) is None too."""
        with self._lock:
            entry = self._data.get(key, {}).get(name)
        if not isinstance(entry, dict):
            return None
        expires = entry.get("expires_at")
        if isinstance(expires, int | float) and expires - _EXPIRY_MARGIN <= self.clock():
            return None
        value = entry.get("value")
        return value if sendable(value) else None

    def set(self, key: str, name: str, value: str, expires_at: float | None) -> None:
        """Cache a token. A new one is written at once (another run may use it); the same
        one with a later expiry (ThingSpace's session idle deadline, pushed back on every
        use) waits for ``flush()`` at the end of the command: one write, not one per send.
        A value that could not be sent is not cached (whatever was cached is forgotten)."""
        entry = {"value": value, "expires_at": expires_at}
        with self._lock:
            known = self._data.get(key, {}).get(name)
            if not sendable(value):
                self.delete(key, name)
                return
            if known is not None and known.get("value") == value:
                self._data[key][name] = entry
                self._deferred[(key, name)] = entry
                return

            def change(data: Data) -> bool:
                entries = data.setdefault(key, {})
                entries[name] = entry
                entries.pop(_REFUSED, None)  # a login went through: the refusal is moot
                return True

            self._update(change)

    def note_refused(self, key: str, error: Mapping[str, str | None]) -> None:
        """A login for ``key`` was refused: remembered for ``REFUSAL_MEMORY`` seconds, with
        the refusal's ``message``, ``hint`` and ``provider_code`` (scrubbed of the run's
        secrets by the caller: they are shown again as they were shown the first time)."""
        now = self.clock()
        entry: dict[str, Any] = {"refused_at": now, "expires_at": now + REFUSAL_MEMORY}
        for field in ("message", "hint", "provider_code"):
            value = error.get(field)
            if isinstance(value, str):
                entry[field] = value[:_REFUSAL_TEXT_MAX]

        def change(data: Data) -> bool:
            data.setdefault(key, {})[_REFUSED] = entry
            return True

        with self._lock:
            self._update(change)

    def refusal(self, key: str) -> dict[str, Any] | None:
        """A login for ``key`` refused less than REFUSAL_MEMORY seconds ago: ``ago`` (its age
        in seconds) and what ``note_refused`` kept of it (strings, or None); else None."""
        with self._lock:
            entry = self._data.get(key, {}).get(_REFUSED)
        at = entry.get("refused_at") if isinstance(entry, dict) else None
        if entry is None or not isinstance(at, int | float):
            return None
        ago = self.clock() - at
        if not 0 <= ago < REFUSAL_MEMORY:
            return None
        kept = {f: entry.get(f) for f in ("message", "hint", "provider_code")}
        return {"ago": ago, **{f: v if isinstance(v, str) else None for f, v in kept.items()}}

    def flush(self) -> None:
        """Write what ``set`` kept back (call when the command's HTTP session closes)."""
        with self._lock:
            if self._deferred:
                self._update(lambda data: False)

    def delete(self, key: str, name: str) -> None:
        """Forget the token this process knows by that name (a newer one that another
        process wrote meanwhile is kept: it is not the one found wanting)."""
        with self._lock:
            self._deferred.pop((key, name), None)
            known = self._data.get(key, {}).pop(name, None)
            if known is None:
                return

            def change(data: Data) -> bool:
                entries = data.get(key, {})
                current = entries.get(name)
                if current is None or current.get("value") != known.get("value"):
                    return False
                del entries[name]
                return True

            self._update(change)

    def clear(self, key: str | None = None, *, prefix: str | None = None) -> int:
        """Forget one key, every key starting with ``prefix``, or everything; how many keys
        the file held that are now gone."""
        removed: list[str] = []

        def chosen(k: str) -> bool:
            if key is not None:
                return k == key
            return prefix is None or k.startswith(prefix)

        def change(data: Data) -> bool:
            removed.extend(k for k in data if chosen(k))
            for k in removed:
                del data[k]
            return bool(removed)

        with self._lock:
            self._deferred = {k: v for k, v in self._deferred.items() if not chosen(k[0])}
            if key is None and prefix is None and self.path is not None:
                with self._file_lock():
                    removed.extend(self._read())
                    with contextlib.suppress(OSError):
                        self.path.unlink()
                    self._data = {}
                return len(removed)
            self._update(change)
        return len(removed)

    # -- one login at a time per profile ----------------------------------------------------
    @contextlib.contextmanager
    def login_lock(self, key: str) -> Iterator[None]:
        """Hold ``key``'s login lock: one thread and one process at a time log in for that
        key. On entry the cache is read again, so a token that the previous holder got is
        seen (``get``) and the caller need not log in. Past ``login_wait`` seconds of
        waiting the caller goes ahead unlocked (a hung process must not hang every run)."""
        deadline = time.monotonic() + self.login_wait
        with self._lock:
            local = self._login_locks.setdefault(key, threading.Lock())
        got = local.acquire(timeout=self.login_wait)
        lock_path = held = None
        try:
            if self.path is not None:
                digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
                lock_path = self._sibling(f".login-{digest}.lock")
                with contextlib.suppress(OSError):
                    self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                held = _acquire(lock_path, max(0.0, deadline - time.monotonic()))
            self._reload()
            yield
        finally:
            if held is not None and lock_path is not None:
                _release(held, lock_path)
            if got:
                local.release()

    def _reload(self) -> None:
        """Take in what other processes wrote; a kept-back refresh of a token that is still
        the cached one stays (flush writes it), one of a token replaced or gone is moot."""
        if not self._persisting:
            return
        data = self._read()
        with self._lock:
            self._deferred = {
                (key, name): entry
                for (key, name), entry in self._deferred.items()
                if data.get(key, {}).get(name, {}).get("value") == entry["value"]
            }
            for (key, name), entry in self._deferred.items():
                data[key][name] = dict(entry)
            self._data = data


def _acquire(path: Path, wait: float) -> int | None:
    """An exclusive flock on ``path`` (created 0600), waiting at most ``wait`` seconds: the
    open descriptor, or None (no fcntl on this platform, the file cannot be opened, or
    another holder kept it past the wait). A holder may delete the file before releasing
    it (``_release``): a lock won on a file no longer at ``path`` is retried on the new one."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; writes stay atomic, updates may be lost
        return None
    deadline = time.monotonic() + wait
    pause = 0.002
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
            except OSError:  # a file system without locks
                os.close(fd)
                return None
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            current = False
        if current:
            return fd
        os.close(fd)
        if time.monotonic() >= deadline:
            return None


def _release(fd: int, path: Path) -> None:
    """Let go of an ``_acquire`` lock, deleting its file first (while still holding it:
    whoever then wins the lock on the deleted file sees that and takes the new one)."""
    with contextlib.suppress(OSError):
        path.unlink()
    os.close(fd)


class TokenStore:
    """One conversation's view of the cache (implements providers.base.TokenStore)."""

    def __init__(self, cache: TokenCache, key: str) -> None:
        self.cache = cache
        self.key = key

    def get(self, name: str) -> str | None:
        return self.cache.get(self.key, name)

    def set(self, name: str, value: str, *, expires_at: float | None) -> None:
        self.cache.set(self.key, name, value, expires_at)

    def delete(self, name: str) -> None:
        self.cache.delete(self.key, name)

    def flush(self) -> None:
        self.cache.flush()

    def clear(self) -> None:
        self.cache.clear(self.key)

    def login_lock(self) -> contextlib.AbstractContextManager[None]:
        return self.cache.login_lock(self.key)

    def note_refused(self, error: Mapping[str, str | None]) -> None:
        self.cache.note_refused(self.key, error)

    def refusal(self) -> dict[str, Any] | None:
        return self.cache.refusal(self.key)
