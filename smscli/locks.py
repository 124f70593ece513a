"""`smscli --lock NAME`: run a command only if no other holder of NAME is running.

One small interface, two implementations chosen by where the history is kept:

- ``FileLock`` (the SQLite history, one host): ``<data dir>/locks/<NAME>.lock`` (0600),
  ``fcntl.flock(LOCK_EX | LOCK_NB)`` held by an open file for the whole command. The
  kernel drops it when the process ends, however it ends (SIGKILL included): a lock is
  never left behind. The holder writes who it is (host, user, pid, since) into the file,
  for the ``skipped:`` line of the others.
- ``PgLock`` (a PostgreSQL history, every host that shares it): a session-level
  ``pg_try_advisory_lock(hashtextextended('smscli:' || NAME, 0))`` on a connection kept
  open for the command; PostgreSQL drops it when that session ends (the process dies, the
  host is lost and its TCP connection times out). Who holds it is kept in the ``locks``
  table: upserted on acquire (a row left by a holder that died is simply taken over:
  the advisory lock, not the row, says whether it is held), deleted on release.

``acquire(name)`` returns None when this process now holds the lock, else a ``Holder``
saying who does. Nothing here is imported unless --lock is given (SPEC §9).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from smscli.errors import UsageError

if TYPE_CHECKING:
    from smscli.history import History

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")
# How long a run that found the lock held waits for the holder's name to appear in the lock
# file (the holder writes it right after taking the lock): a moment, not a retry.
_HOLDER_READ_WAIT = 0.5


class Holder(NamedTuple):
    """Who holds a lock: for the ``skipped:`` line and the JSON ``lock`` object."""

    name: str
    host: str | None = None
    user: str | None = None
    pid: int | None = None
    since: str | None = None  # ISO 8601 UTC, seconds

    def describe(self) -> str:
        return (
            f"{self.name} is held by host {self.host or '?'} (user {self.user or '?'}, "
            f"pid {self.pid if self.pid is not None else '?'}) since {self.since or '?'}"
        )

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class Lock(Protocol):
    """A named lock held by this process until ``release`` (or until it ends)."""

    def acquire(self, name: str) -> Holder | None:
        """Take the lock: None when taken, else who holds it (nothing is held then)."""

    def release(self) -> None:
        """Give the lock back (idempotent)."""


def check_name(name: str) -> str:
    """NAME is 1-100 characters of A-Za-z0-9 . _ - (it names a file); exit 2 otherwise."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"invalid --lock name {name!r}: use 1-100 characters of A-Z a-z 0-9 . _ -",
            code="invalid_lock_name",
        )
    return name


def me(name: str) -> Holder:
    """This process as the holder of ``name``: the host and user its history rows record."""
    from smscli.history import writer

    host, user = writer()
    return Holder(name, host, user, os.getpid(), _now())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FileLock:
    """``flock`` on ``<directory>/<NAME>.lock`` (see the module's docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    def acquire(self, name: str) -> Holder | None:
        import fcntl

        check_name(name)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd, name)
                os.close(fd)
                return holder
            info = json.dumps(me(name).to_json()).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, info, 0)
        except BaseException:
            with suppress(OSError):
                os.close(fd)
            raise
        self._fd = fd
        return None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        import fcntl

        # The holder's name is cleared first: a run that reads the file between the
        # truncate and the unlock finds the lock still held, and the name "?".
        with suppress(OSError):
            os.ftruncate(fd, 0)
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_holder(fd: int, name: str) -> Holder:
    """Who holds the lock, from its file (the holder writes it right after taking it)."""
    deadline = time.monotonic() + _HOLDER_READ_WAIT
    while True:
        raw = os.pread(fd, 4096, 0)
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict) or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    if not isinstance(data, dict):
        return Holder(name)
    pid = data.get("pid")
    return Holder(
        name,
        _text(data.get("host")),
        _text(data.get("user")),
        pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        _text(data.get("since")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- PostgreSQL ------------------------------------------------------------------------------
# Plain SQL with ``?`` parameters, run through the PostgreSQL history store (its ``execute``
# turns them into psycopg's; rows may be tuples or dicts). "user" is a reserved word in
# PostgreSQL: quoted. The key is hashtextextended's 64 bits of 'smscli:' || NAME (two names
# could share a key; with 2^64 keys that is left to chance).
PG_TRY = "SELECT pg_try_advisory_lock(hashtextextended('smscli:' || ?, 0)) AS got"
PG_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('smscli:' || ?, 0)) AS done"
PG_RECORD = (
    'INSERT INTO locks (name, host, "user", pid, since) VALUES (?, ?, ?, ?, ?)'
    ' ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, "user" = EXCLUDED."user",'
    " pid = EXCLUDED.pid, since = EXCLUDED.since"
)
PG_HOLDER = 'SELECT host, "user", pid, since FROM locks WHERE name = ?'
PG_FORGET = "DELETE FROM locks WHERE name = ? AND host = ? AND pid = ?"


class Session(Protocol):
    """A database session the lock lives in: the PostgreSQL history store's connection
    (autocommit), kept open for the command."""

    def execute(self, sql: str, params: Any = ()) -> Any: ...

    def close(self) -> None: ...


class PgLock:
    """A PostgreSQL advisory lock (see the module's docstring). ``connect()`` opens a NEW
    session: the advisory lock lives as long as it, so it is kept open for the command and
    closed by ``release``."""

    def __init__(self, connect: Callable[[], Session]) -> None:
        self.connect = connect
        self._session: Session | None = None
        self._held: Holder | None = None

    def acquire(self, name: str) -> Holder | None:
        check_name(name)
        session = self.connect()
        try:
            got = _column(session.execute(PG_TRY, (name,)).fetchone(), "got", 0)
            if not got:
                row = session.execute(PG_HOLDER, (name,)).fetchone()
                session.close()
                if row is None:  # (its holder has not recorded itself yet)
                    return Holder(name)
                pid = _column(row, "pid", 2)
                return Holder(
                    name,
                    _column(row, "host", 0),
                    _column(row, "user", 1),
                    int(pid) if pid is not None else None,
                    _since(_column(row, "since", 3)),
                )
            held = me(name)
            session.execute(PG_RECORD, (name, held.host, held.user, held.pid, held.since))
        except BaseException:
            session.close()
            raise
        self._session, self._held = session, held
        return None

    def release(self) -> None:
        session, held = self._session, self._held
        self._session = self._held = None
        if session is None or held is None:
            return
        try:
            session.execute(PG_FORGET, (held.name, held.host, held.pid))
            session.execute(PG_UNLOCK, (held.name,))
        except Exception:  # the session's end below releases the lock anyway
            pass
        finally:
            session.close()


def _column(row: Any, name: str, index: int) -> Any:
    """A column of a row that is a dict (psycopg's dict_row) or a tuple."""
    return row[name] if isinstance(row, dict) else row[index]


def _since(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return None if value is None else str(value)


def file_lock() -> FileLock:
    """The lock directory next to the SQLite history: ``<data dir>/locks``."""
    from smscli.history import default_path

    return FileLock(default_path().parent / "locks")


def lock_for(history: Callable[[], History]) -> Lock:
    """The lock of the store the history is kept in: the PostgreSQL database every host
    shares (an advisory lock in a session of its own, opened from ``history()``, a new
    unopened History each time), else a lock file beside the SQLite history (also when the
    history is turned off)."""
    if history().url is None:
        return file_lock()
    return PgLock(lambda: _HistorySession(history()))


class _HistorySession:
    """A PostgreSQL history's store as the session of a lock: opened (the schema created or
    migrated: the ``locks`` table is there), closed with the history."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.store = history.session()

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.store.execute(sql, params)

    def close(self) -> None:
        self.history.close()
