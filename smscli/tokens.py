"""Session and token cache: one JSON file (mode 0600) under the user cache dir.

Entries are keyed by ``Settings.cache_key`` (profile, provider, who logs in where) and carry
their expiry, so Telit's sessionId, ThingSpace's two tokens and emnify's JWT are reused
across runs until they lapse. `smscli logout` clears a profile's entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A token this close to its expiry is treated as expired: a request started now must not
# arrive with a token that died on the way.
_EXPIRY_MARGIN = 30.0


def default_path() -> Path:
    env = os.environ.get("SMSCLI_CACHE_DIR")
    if env:
        return Path(env) / "tokens.json"
    from platformdirs import user_cache_path

    return user_cache_path("smscli") / "tokens.json"


class TokenCache:
    """The whole file. ``for_key()`` gives the TokenStore one provider conversation uses."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.path = path  # None: memory only (--no-history style runs, tests)
        self.clock = clock
        self._data: dict[str, dict[str, dict[str, Any]]] = self._read()
        self._lock = threading.RLock()  # send threads share one cache
        self._dirty = False  # an expiry refresh not yet written (see set)

    def _read(self) -> dict[str, dict[str, dict[str, Any]]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a missing or damaged cache only costs a fresh login
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict)}

    def _prune(self) -> None:
        """Drop profiles whose every token has expired (each --sandbox run adds one)."""
        now = self.clock()
        for key in list(self._data):
            entries = self._data[key].values()
            expiries = [e.get("expires_at") for e in entries if isinstance(e, dict)]
            if expiries and all(isinstance(x, int | float) and x < now for x in expiries):
                del self._data[key]

    def _write(self) -> None:
        self._dirty = False
        if self.path is None:
            return
        self._prune()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh)
            os.replace(tmp, self.path)
        except OSError:
            pass  # an unwritable cache dir must not fail a send; we just log in next time

    def for_key(self, key: str) -> TokenStore:
        return TokenStore(self, key)

    def get(self, key: str, name: str) -> str | None:
        entry = self._data.get(key, {}).get(name)
        if not isinstance(entry, dict):
            return None
        expires = entry.get("expires_at")
        if isinstance(expires, int | float) and expires - _EXPIRY_MARGIN <= self.clock():
            return None
        value = entry.get("value")
        return value if isinstance(value, str) else None

    def set(self, key: str, name: str, value: str, expires_at: float | None) -> None:
        """Cache a token. A new one is written at once (another run may use it); the same
        one with a later expiry (ThingSpace's session idle deadline, pushed back on every
        use) waits for ``flush()`` at the end of the command: one write, not one per send."""
        with self._lock:
            entries = self._data.setdefault(key, {})
            known = entries.get(name)
            entries[name] = {"value": value, "expires_at": expires_at}
            if isinstance(known, dict) and known.get("value") == value:
                self._dirty = True
            else:
                self._write()

    def flush(self) -> None:
        """Write what ``set`` kept back (call when the command's HTTP session closes)."""
        with self._lock:
            if self._dirty:
                self._write()

    def delete(self, key: str, name: str) -> None:
        with self._lock:
            if self._data.get(key, {}).pop(name, None) is not None:
                self._write()

    def clear(self, key: str | None = None, *, prefix: str | None = None) -> int:
        """Forget one key, every key starting with ``prefix``, or everything."""
        if key is not None:
            keys = [key] if key in self._data else []
        elif prefix is not None:
            keys = [k for k in self._data if k.startswith(prefix)]
        else:
            keys = list(self._data)
        for k in keys:
            del self._data[k]
        if keys:
            self._write()
        if key is None and prefix is None and self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
        return len(keys)


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
