"""The history: one row per send attempt, written BEFORE the request goes out.

A row starts as ``unknown`` and is updated with the provider's answer, so a crash, a kill
or a lost connection leaves an ``unknown`` row behind, never nothing. Idempotency keys and
batches are looked up here.

Two stores, one set of behaviour: SQLite (the default, a file in the user data directory;
``SQLiteStore`` below) and PostgreSQL (``history_url``, shared by several hosts;
``smscli.history.postgres``). The SQL is written once, with ``?`` parameters; a store
supplies the few differences (its auto-increment key, how a write transaction starts, how
a new row's id comes back, how a JSON list is searched).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

from smscli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    import sqlite3
    from contextlib import AbstractContextManager
from smscli.models import Reply, SendResult, Status
from smscli.redaction import Redactor

# The schema, as the steps that build it: step n brings a database from version n-1 to n.
# Written once for every store: ``{id}`` is the store's auto-increment primary key. A
# database records its version in ``schema_version`` (one row); a writer that opens an older
# one applies the missing steps in order, in one transaction (migrate); a newer one is only
# read, never downgraded. A column named ``user`` is a reserved word in PostgreSQL: it is
# always written quoted, ``"user"`` (SQLite takes the quotes too).
SCHEMA_VERSION = 3
_STEPS: tuple[tuple[str, ...], ...] = (
    # 1: the schema of every smscli before versioning. IF NOT EXISTS: an unversioned database
    # of any older smscli (one without ``replies``, before issue 11) gets what it lacks.
    (
        """CREATE TABLE IF NOT EXISTS sends (
            id {id},
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            batch TEXT,
            provider TEXT NOT NULL,
            profile TEXT,
            base_url TEXT,
            target TEXT NOT NULL,
            status TEXT NOT NULL,
            message_id TEXT,
            request_id TEXT,
            uuid TEXT,
            reference TEXT,
            date TEXT,
            segments INTEGER,
            encoding TEXT,
            parts TEXT,
            error TEXT,
            details TEXT,
            idempotency_key TEXT,
            body TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS sends_message_id ON sends (message_id)",
        "CREATE INDEX IF NOT EXISTS sends_idem ON sends (idempotency_key, target)",
        "CREATE INDEX IF NOT EXISTS sends_batch ON sends (batch, target)",
        # The devices' replies (issue 11) have a table of their own, not rows of ``sends``
        # with a direction: a reply has no status, segments or idempotency key, and every
        # query of ``sends`` (log, status, --resume, idempotency) stays about what was sent.
        """CREATE TABLE IF NOT EXISTS replies (
            id {id},
            stored_at TEXT NOT NULL,
            provider TEXT NOT NULL,
            profile TEXT,
            reply_id TEXT NOT NULL,
            sender TEXT NOT NULL,
            text TEXT,
            date TEXT,
            details TEXT,
            UNIQUE (provider, reply_id)
        )""",
        "CREATE INDEX IF NOT EXISTS replies_date ON replies (provider, date)",
    ),
    # 2 (issue 12, several hosts): who wrote each row (set on every new row; NULL on the rows
    # of older versions), the dedupe window's key, and the holders of `--lock` names.
    (
        "ALTER TABLE sends ADD COLUMN host TEXT",
        'ALTER TABLE sends ADD COLUMN "user" TEXT',
        "ALTER TABLE sends ADD COLUMN dedupe_key TEXT",
        "CREATE INDEX IF NOT EXISTS sends_dedupe ON sends (dedupe_key, created_at)",
        'CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, host TEXT, "user" TEXT,'
        " pid INTEGER, since TEXT)",
    ),
    # 3 (issue 12): the idempotency claim as a unique constraint, so that it holds across
    # hosts on PostgreSQL (SQLite's BEGIN IMMEDIATE serialises one file's writers; other
    # hosts' transactions need the index). ``claim`` is the idempotency key of a row that
    # claimed it (a send with --idempotency-key, not --force); a forced send keeps its key
    # in ``idempotency_key`` (found by later runs) but takes no claim, so it never collides.
    # Rows of older versions have no claim: the index cannot fail on them.
    (
        "ALTER TABLE sends ADD COLUMN claim TEXT",
        "CREATE UNIQUE INDEX IF NOT EXISTS sends_claim ON sends (claim, target)"
        " WHERE claim IS NOT NULL AND status NOT IN ('failed', 'expired', 'rejected', 'not-sent')",
    ),
)
# Columns a row of an older schema (a database only read) lacks: read as NULL.
_NEW_COLUMNS = ("host", "user", "dedupe_key", "claim")
_JSON_COLUMNS = ("parts", "error", "details")
BUSY_TIMEOUT = 30.0  # seconds a write waits for another process's (SQLite's busy timeout)
_STATUSES = tuple(s.value for s in Status)


def default_path() -> Path:
    env = os.environ.get("SMSCLI_DATA_DIR")
    if env:
        return Path(env) / "history.sqlite3"
    from platformdirs import user_data_path

    return user_data_path("smscli") / "history.sqlite3"


def _unwritable(path: Path) -> str | None:
    """Why this process may not write the history (its file, and its directory for the
    ``-wal``/``-shm`` files, or the directory to create it in), or None when it may. A
    read-only file system says so for root too."""
    where = path.parent
    while not where.exists() and where != where.parent:
        where = where.parent  # the directories smscli would create
    if os.access(where, os.W_OK) and (not path.exists() or os.access(path, os.W_OK)):
        return None
    try:
        if os.statvfs(where).f_flag & os.ST_RDONLY:
            return "is on a read-only file system"
    except OSError:
        pass
    return "is not writable by this user"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def stored_body(text: str, mode: str) -> str | None:
    """The message body as history keeps it: in full, as a hash, or not at all."""
    if mode == "none":
        return None
    if mode == "hash":
        import hashlib

        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text


class Store(Protocol):
    """What the history needs of a database (SQLiteStore; postgres.PostgresStore)."""

    kind: str  # "sqlite" or "postgresql"
    error: type[Exception]  # what its driver raises
    id_column: str  # the schema's auto-increment primary key
    part_match: str  # SQL: the row's ``parts`` (a JSON list) holds the parameter
    for_update: str  # SQL after a SELECT in a write transaction: lock the rows it reads

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...  # a cursor of rows

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...

    def insert(self, sql: str, params: Sequence[Any]) -> int | None:
        """INSERT one row (ON CONFLICT DO NOTHING): its id, None when it was not inserted."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """A write transaction: committed at the end, rolled back on an exception."""
        ...

    def migration(self) -> AbstractContextManager[Any]:
        """A transaction that only one process at a time runs (schema changes)."""
        ...

    def stored_version(self) -> int | None:
        """The version in ``schema_version``; None without that table."""
        ...

    def has_table(self, name: str) -> bool: ...

    def close(self) -> None: ...


class SQLiteStore:
    """The embedded default: a file, one writer at a time (BEGIN IMMEDIATE takes the write
    lock; SQLite's busy timeout waits for other processes')."""

    kind = "sqlite"
    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"
    part_match = "EXISTS (SELECT 1 FROM json_each(sends.parts) WHERE json_each.value = ?)"
    for_update = ""  # (BEGIN IMMEDIATE holds the whole database)

    def __init__(self, conn: sqlite3.Connection) -> None:
        import sqlite3

        self.conn = conn
        self.error: type[Exception] = sqlite3.Error
        # The connection's own methods: no layer between the bulk path and SQLite.
        self.execute = conn.execute
        self.executemany = conn.executemany

    def insert(self, sql: str, params: Sequence[Any]) -> int | None:
        cursor = self.conn.execute(sql, params)
        return cursor.lastrowid if cursor.rowcount == 1 else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        db = self.conn
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def migration(self) -> AbstractContextManager[None]:
        return self.transaction()

    def stored_version(self) -> int | None:
        try:
            row = self.conn.execute("SELECT version FROM schema_version").fetchone()
        except self.error as exc:
            if "no such table" not in str(exc):
                raise
            return None
        return int(row[0]) if row is not None else None

    def has_table(self, name: str) -> bool:
        found = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone()
        return found is not None

    def close(self) -> None:
        self.conn.close()


class History:
    """The journal. ``History(None)`` is a disabled history that records nothing;
    ``History(None, url="postgresql://…")`` is a PostgreSQL one."""

    def __init__(
        self,
        path: Path | None,
        body_mode: str = "full",
        *,
        redactor: Redactor | None = None,
        url: str | None = None,
        password: Callable[[], str | None] | None = None,
    ) -> None:
        self.path = path
        # A PostgreSQL history: its URL, and the password (resolved only when it is opened).
        self.url = url
        self._password = password
        self.body_mode = body_mode
        # A RESULT's error and details quote the provider: what is stored of them is
        # scrubbed (the run's secrets, and credential fields by name) — `smscli log` runs
        # later, in a process that knows no secrets.
        self.redactor = redactor if redactor is not None else Redactor()
        self._store: Store | None = None
        # Why the history was opened read-only ("is on a read-only file system"), if it was,
        # and what to do about it when that is not the file's permissions.
        self.read_only: str | None = None
        self.read_only_hint: str | None = None
        # The schema versions (from, to) when opening it migrated the database, else None.
        self.migrated: tuple[int, int] | None = None
        # One connection shared by the send threads of a bulk run, one statement at a time.
        self._lock = threading.RLock()

    @property
    def enabled(self) -> bool:
        return self.path is not None or self.url is not None

    @property
    def where(self) -> str:
        """The history as messages name it: its file, or its URL without a password."""
        if self.url is not None:
            from smscli.history.postgres import shown_url

            return shown_url(self.url)
        return str(self.path)

    @property
    def kind(self) -> str:
        return "postgresql" if self.url is not None else "sqlite"

    def _db(self) -> Store:
        if self._store is None:
            if self.url is not None:
                from smscli.history.postgres import open_store

                self._store = open_store(self, self.url, self._password)
            else:
                self._store = self._open_sqlite()
        return self._store

    def _open_sqlite(self) -> Store:
        import sqlite3  # here, not at the top: a dry run or `check` never opens the history

        assert self.path is not None
        # A history on a read-only file system (a backup, a container's image) or in a
        # directory this user may not write can still be read (`log`, `status`); a send
        # says it cannot be recorded (require_writable).
        why = _unwritable(self.path)
        try:
            if why is None:
                return self._open_for_writing(self.path)
            return self._open_read_only(self.path, why)
        except NewerSchema as exc:
            self.read_only_hint = exc.hint
            return self._open_read_only(self.path, str(exc))
        except (OSError, sqlite3.Error) as exc:
            if _busy(exc):
                raise self._write_error(exc) from None
            return self._open_read_only(self.path, f"cannot be opened for writing ({exc})")

    def _open_for_writing(self, path: Path) -> Store:
        """The history, created if need be, with every one of its files 0600: the
        database is made 0600 BEFORE SQLite opens it, because SQLite gives the ``-wal``
        and ``-shm`` files it creates the database's mode (a database created by
        ``connect`` under umask 022 would be 0644, and its WAL, which holds recent rows,
        world-readable until the next checkpoint)."""
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for suffix in ("", "-wal", "-shm", "-journal"):
            # (An older smscli, or SQLite itself, may have left one of them wider open.)
            with suppress(FileNotFoundError):
                file = Path(f"{path}{suffix}")
                if file.stat().st_mode & 0o077:
                    file.chmod(0o600)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None,
                               check_same_thread=False)  # fmt: skip
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a crash of smscli (the rows that matter);
            # only a power loss may lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            store = SQLiteStore(conn)
            self.migrated = migrate(store)
        except BaseException:
            conn.close()
            raise
        return store

    def _open_read_only(self, path: Path, why: str) -> Store:
        """The history opened for reading only: ``mode=ro`` (it sees what other processes
        write), else ``immutable=1`` (a WAL database in a directory where SQLite cannot
        create its ``-shm`` file opens only so; rows still in an uncheckpointed ``-wal``
        are then not seen), else, when there is no history file at all, an empty one in
        memory. Nothing is written: a send refuses to start (``require_writable``)."""
        import sqlite3
        from urllib.parse import quote

        self.read_only = why
        uri = "file:" + quote(str(path.absolute()))
        last: BaseException | None = None
        for flags in ("mode=ro", "mode=ro&immutable=1"):
            try:
                conn = sqlite3.connect(f"{uri}?{flags}", uri=True, timeout=BUSY_TIMEOUT,
                                       isolation_level=None, check_same_thread=False)  # fmt: skip
            except sqlite3.Error as exc:
                last = exc
                continue
            conn.row_factory = sqlite3.Row
            try:
                conn.execute("SELECT 1 FROM sends LIMIT 0")
            except sqlite3.Error as exc:
                conn.close()
                last = exc
                if "no such table" in str(exc):
                    break  # an empty database file: no rows
                continue
            return SQLiteStore(conn)
        if not path.exists() or "no such table" in str(last):
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            store = SQLiteStore(conn)
            migrate(store)
            return store
        raise ConfigError(
            f"cannot open the history at {path}: it {why}, and reading it failed: {last}",
            hint="check the file and its directory (or point SMSCLI_DATA_DIR elsewhere)",
            code="history_unavailable",
        )

    def open(self) -> tuple[int, int] | None:
        """Open (create, migrate) the history now; the (from, to) schema versions when that
        migrated it (`smscli history migrate`)."""
        if self.enabled:
            self._db()
        return self.migrated

    def schema_version(self) -> int:
        """The schema version of the (opened) database."""
        return _current_version(self._db())

    @property
    def writable(self) -> bool:
        """Whether this history records (open it first: ``require_writable``)."""
        return self.enabled and self.read_only is None

    def require_writable(self) -> None:
        """Before a send: the history must be able to record it (every row is written
        before its request goes out), or nothing is sent."""
        if not self.enabled:
            return
        self._db()
        if self.read_only is not None:
            raise ConfigError(
                f"cannot record this send, so nothing was sent: the history at {self.where} "
                f"{self.read_only}",
                hint=self.read_only_hint
                or "make its directory writable or set SMSCLI_DATA_DIR to a writable one; "
                "--no-history sends without recording (and refuses --idempotency-key)",
                code="history_read_only",
            )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def session(self) -> Store:
        """The store, opened for writing (created or migrated): for what lives as long as
        its session, like a PostgreSQL advisory lock (``smscli --lock``)."""
        with self._lock:
            return self._writer()

    def _writer(self) -> Store:
        """The store, for a write: refused at once when it is only read (SQLite would
        refuse too; PostgreSQL would not know it should)."""
        store = self._db()
        if self.read_only is not None:
            raise self._write_error(None)
        return store

    def _fetch(self, sql: str, args: Sequence[Any] = (), *, one: bool = False) -> Any:
        """The rows of a query (or the first, or None, with ``one``)."""
        with self._lock:
            store = self._db()
            try:
                cursor = store.execute(sql, args)
                return cursor.fetchone() if one else cursor.fetchall()
            except store.error as exc:
                raise self._read_error(exc) from None

    def start(
        self,
        *,
        provider: str,
        profile: str | None,
        base_url: str,
        target: str,
        text: str,
        segments: int,
        encoding: str,
        reference: str | None,
        batch: str | None = None,
        idempotency_key: str | None = None,
    ) -> int | None:
        """Record an attempt as ``unknown`` before its request goes out; returns the row id."""
        [row_id] = self.record(
            started=[
                Attempt(
                    provider,
                    profile,
                    base_url,
                    target,
                    text,
                    segments,
                    encoding,
                    reference,
                    batch,
                    idempotency_key,
                )
            ]
        )
        assert not isinstance(row_id, Taken | Deduped)  # (it claims no key, has no window)
        return row_id

    def finish(self, row_id: int | None, result: SendResult) -> None:
        """Record what the provider answered (or what went wrong)."""
        self.record(finished=[(row_id, result)])

    def record(
        self,
        *,
        finished: Sequence[tuple[int | None, SendResult]] = (),
        abandoned: Sequence[int | None] = (),
        started: Sequence[Attempt] = (),
    ) -> list[int | Taken | Deduped | None]:
        """One transaction: the answers that came back, the rows of requests that never went
        out (deleted: nothing was sent), and rows for the requests about to go out (as
        ``unknown``). Returns the new rows' ids, in order.

        An attempt with ``claim`` set (``--idempotency-key`` without ``--force``) gets its row
        only if no other row holds its key and target (accepted, on its way, or unknown):
        otherwise its place in the list is ``Taken`` with that row, and nothing is written
        for it. The check and the insert share the transaction. On SQLite, BEGIN IMMEDIATE
        takes the database's write lock first; on PostgreSQL, where other hosts write at
        the same time, the unique index ``sends_claim`` refuses a second claim (INSERT … ON
        CONFLICT DO NOTHING waits for the other transaction, then inserts nothing). Either
        way, of several processes claiming one key at once exactly one gets the row (and
        sends).

        An attempt with ``dedupe_since`` set (a dedupe window in force, no ``--force``) is
        sent only if no row with its ``dedupe_key`` created since then holds it (``DEDUPE_HELD``):
        otherwise a ``deduped`` row pointing at that one is written in its place (in the
        same transaction: of ten runs at once, one sends) and its place in the list is
        ``Deduped``.

        A bulk run writes one of these per round instead of two statements per target: a
        commit costs more than the statements in it."""
        if not self.enabled:
            return [None] * len(started)
        scrub = self.redactor.data
        updates = [_finish_values(row_id, r, scrub) for row_id, r in finished if row_id is not None]
        deletes = [(row_id,) for row_id in abandoned if row_id is not None]
        if not (updates or deletes or started):
            return []
        body_mode = self.body_mode
        with self._lock:
            store = self._writer()
            try:
                with store.transaction():
                    if updates:
                        store.executemany(_UPDATE, updates)
                    if deletes:
                        store.executemany("DELETE FROM sends WHERE id=?", deletes)
                    ids: list[int | Taken | Deduped | None] = []
                    for a in started:
                        if a.claim:
                            held = store.execute(_HELD, (a.idempotency_key, a.target)).fetchone()
                            if held is not None:
                                ids.append(Taken(_row(held)))
                                continue
                        deduped = _dedupe(store, a, body_mode)
                        if deduped is not None:
                            ids.append(deduped)
                        elif a.claim:
                            ids.append(_claim(store, a, body_mode))
                        else:
                            ids.append(store.insert(_INSERT, a.values(body_mode)))
            except store.error as exc:
                raise self._write_error(exc) from None
        return ids

    def _write_error(self, exc: BaseException | None) -> ConfigError:
        """Why the history could not record. Never "use --no-history": that turns
        --idempotency-key and --resume off (they refuse to run without the history)."""
        if self.read_only is not None:
            return ConfigError(
                f"cannot write the history at {self.where}: it {self.read_only}",
                hint=self.read_only_hint
                or "make its directory writable, or set SMSCLI_DATA_DIR to a writable directory",
                code="history_read_only",
            )
        self._forget_broken()
        text = self._scrub(str(exc))
        if self.url is not None:
            hint = "check that the database is reachable and this user may write it"
        elif _busy(exc):
            hint = (
                f"another smscli process kept the history busy for {BUSY_TIMEOUT:.0f} s; "
                "run the command again when it has finished"
            )
        else:
            hint = "free disk space or fix the permissions of the history's directory"
        return ConfigError(
            f"cannot write the history at {self.where}: {text}",
            hint=hint,
            code="history_unavailable",
        )

    def _forget_broken(self) -> None:
        """After a failed call: a store whose connection is gone is dropped, so the next
        call connects again (a long-running `listen`, `inbox --follow` or `--wait` outlives
        a database restart) instead of failing for as long as the process runs."""
        store = self._store
        if store is not None and getattr(store, "broken", False):
            self._store = None
            with suppress(Exception):
                store.close()

    def _read_error(self, exc: BaseException) -> ConfigError:
        self._forget_broken()
        return ConfigError(
            f"cannot read the history at {self.where}: {self._scrub(str(exc))}",
            hint="check that the database is reachable"
            if self.url is not None
            else "check the history file (or point SMSCLI_DATA_DIR elsewhere)",
            code="history_unavailable",
        )

    def _scrub(self, text: str) -> str:
        """A driver's error text without the URL's password (psycopg may quote the DSN)."""
        if self.url is not None:
            from smscli.history.postgres import scrub

            text = scrub(text, self.url)
        return self.redactor.text(text.strip())

    def set_status(self, row_id: int, status: Status, details: dict[str, Any] | None) -> None:
        if not self.enabled:
            return
        with self._lock:
            store = self._writer()
            try:
                store.execute(
                    "UPDATE sends SET updated_at=?, status=?, details=COALESCE(?, details)"
                    " WHERE id=?",
                    (_now(), status.value, _dumps(self.redactor.data(details)), row_id),
                )
            except store.error as exc:
                raise self._write_error(exc) from None

    def reconciled(
        self, row_id: int, status: Status, message_id: str | None, details: dict[str, Any]
    ) -> None:
        """`smscli reconcile`: an ``unknown`` row's status (and the provider's id) as found."""
        if not self.enabled:
            return
        with self._lock:
            store = self._writer()
            try:
                store.execute(
                    "UPDATE sends SET updated_at=?, status=?, message_id=COALESCE(?, message_id),"
                    " error=CASE WHEN ? THEN NULL ELSE error END, details=?"
                    " WHERE id=? AND status=?",
                    (_now(), status.value, message_id, status.is_success,
                     _dumps(self.redactor.data(details)), row_id, Status.UNKNOWN.value),
                )  # fmt: skip
            except store.error as exc:
                raise self._write_error(exc) from None

    def apply_receipt(
        self,
        row_id: int,
        status: Status,
        *,
        provider_status: str | None,
        date: str | None,
        part: str | None = None,
    ) -> bool:
        """`smscli listen` (issue 11): a delivery receipt a provider pushed for row
        ``row_id`` (for ``part``, one part id of a message sent in parts). A status never
        moves backwards (``receipt_rank``): a redelivered or older receipt changes nothing.
        A message in parts gets each part's status in ``details.part_statuses`` and its own
        status once every part has one (any part's final failure at once). The receipt goes
        into ``details.receipt`` ``{status, provider_status, date}``; ``status`` reads it
        (ThingSpace has no status API). Returns whether the row changed (a new receipt)."""
        if not self.enabled:
            return False
        with self._lock:
            store = self._writer()
            try:
                with store.transaction():
                    # FOR UPDATE on PostgreSQL (another host's listen may take a receipt of
                    # the same message at once); SQLite's BEGIN IMMEDIATE already serialises.
                    row = store.execute(
                        f"SELECT status, details, parts FROM sends WHERE id=?{store.for_update}",
                        (row_id,),
                    ).fetchone()
                    changed = False
                    if row is not None:
                        update = _receipt_update(dict(row), status, provider_status, date, part)
                        if update is not None:
                            new_status, details = update
                            store.execute(
                                "UPDATE sends SET updated_at=?, status=?, details=? WHERE id=?",
                                (_now(), new_status, _dumps(self.redactor.data(details)), row_id),
                            )
                            changed = True
            except store.error as exc:
                raise self._write_error(exc) from None
        return changed

    # -- queries -----------------------------------------------------------------------------
    def rows_for(self, ident: str, provider: str) -> list[dict[str, Any]]:
        """Every row of ``provider`` that any of the provider's ids names (message id, uuid,
        request id, a part id, the client reference), newest first: a ThingSpace request
        is one row per device, all with its requestId."""
        if not self.enabled or not ident:
            return []
        rows = self._fetch(
            "SELECT * FROM sends WHERE provider=? AND (message_id=? OR uuid=?"
            f" OR request_id=? OR reference=? OR {self._db().part_match})"
            " ORDER BY id DESC LIMIT 10000",
            (provider, ident, ident, ident, ident, ident),
        )
        return [_row(r) for r in rows]

    def find(self, ident: str, provider: str | None = None) -> dict[str, Any] | None:
        """A row by any id smscli prints for it: the provider's (message id, uuid, request
        id, part id), then the client reference (CSL's ``sms_uid``, which ``-q`` prints for
        CSL), or the history id (``#12``; a bare ``12`` is tried as a provider id first:
        emnify's ids are numbers). ``provider``: only that provider's rows."""
        if not self.enabled:
            return None
        only = " AND provider=?" if provider else ""
        extra: tuple[str, ...] = (provider,) if provider else ()
        by_id = f"SELECT * FROM sends WHERE id=?{only}"
        if ident.startswith("#") and _digits(ident[1:]):
            row_id = _row_id(ident[1:])
            if row_id is None:
                return None
            row = self._fetch(by_id, (row_id, *extra), one=True)
            return _row(row) if row is not None else None
        row = self._fetch(
            "SELECT * FROM sends WHERE (message_id=? OR uuid=? OR request_id=?"
            f" OR {self._db().part_match}){only} ORDER BY id DESC LIMIT 1",
            (ident, ident, ident, ident, *extra),
            one=True,
        )
        if row is None:
            row = self._fetch(
                f"SELECT * FROM sends WHERE reference=?{only} ORDER BY id DESC LIMIT 1",
                (ident, *extra),
                one=True,
            )
        row_id = _row_id(ident)
        if row is None and row_id is not None:
            row = self._fetch(by_id, (row_id, *extra), one=True)
        return _row(row) if row is not None else None

    def dedupe_holder(self, key: str, since: str) -> dict[str, Any] | None:
        """The row holding dedupe ``key`` since ``since`` (--dry-run: what would be
        deduped), or None. A history that does not exist yet holds nothing (and is not
        created: a dry run writes nothing)."""
        if not self.enabled or (self.url is None and not (self.path and self.path.exists())):
            return None
        row = self._fetch(DEDUPE_HELD, (key, since), one=True)
        return _row(row) if row is not None else None

    def in_batch(self, batch: str, target: str) -> dict[str, Any] | None:
        """The latest row for ``target`` in ``batch`` (for --resume)."""
        if not self.enabled:
            return None
        row = self._fetch(
            "SELECT * FROM sends WHERE batch=? AND target=? ORDER BY id DESC LIMIT 1",
            (batch, target),
            one=True,
        )
        return _row(row) if row is not None else None

    def last(self, provider: str | None = None) -> dict[str, Any] | None:
        """The most recent row (of ``provider``, if given)."""
        if not self.enabled:
            return None
        if provider is None:
            row = self._fetch("SELECT * FROM sends ORDER BY id DESC LIMIT 1", one=True)
        else:
            row = self._fetch(
                "SELECT * FROM sends WHERE provider=? ORDER BY id DESC LIMIT 1",
                (provider,),
                one=True,
            )
        return _row(row) if row is not None else None

    def by_key(self, key: str, target: str) -> dict[str, Any] | None:
        if not self.enabled:
            raise UsageError(
                "--idempotency-key needs the history; it is turned off",
                code="history_disabled",
            )
        row = self._fetch(
            "SELECT * FROM sends WHERE idempotency_key=? AND target=? ORDER BY id DESC LIMIT 1",
            (key, target),
            one=True,
        )
        return _row(row) if row is not None else None

    def query(
        self,
        *,
        limit: int = 20,
        target: str | None = None,
        provider: str | None = None,
        status: Sequence[str] = (),
        batch: str | None = None,
        since: str | None = None,
        host: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows matching every filter, the newest ``limit`` of them, oldest first.
        ``host``: the rows written on that host (exactly its name).

        ``since`` is an ISO 8601 time (UTC, as stored): rows created at or after it."""
        if not self.enabled:
            return []
        where: list[str] = []
        args: list[Any] = []
        if target:
            where.append("target LIKE ?")
            args.append(f"%{target}%")
        if provider:
            where.append("provider=?")
            args.append(provider)
        if status:
            clause = f"status IN ({','.join('?' * len(status))})"
            args.extend(status)
            if Status.UNKNOWN.value in status:  # a status smscli does not know reads so
                clause += f" OR status NOT IN ({','.join('?' * len(_STATUSES))})"
                args.extend(_STATUSES)
            where.append(f"({clause})")
        if batch:
            where.append("batch=?")
            args.append(batch)
        if since:
            where.append("created_at >= ?")
            args.append(since)
        if host:
            where.append("host=?")
            args.append(host)
        sql = "SELECT * FROM sends"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(min(limit, _MAX_INTEGER))  # `log -n 99999999999999999999`: every row
        rows = self._fetch(sql, args)
        return [_row(r) for r in reversed(rows)]

    # -- replies (issue 11) ------------------------------------------------------------------
    def add_replies(self, replies: Sequence[Reply]) -> list[bool]:
        """Store replies, each once per (provider, reply id), in ONE committed transaction:
        when this returns, they survive a crash (ThingSpace's queue is acknowledged only
        after this). Returns, per reply, whether it was new."""
        if not self.enabled or not replies:
            return [False] * len(replies)
        scrub = self.redactor.data
        with self._lock:
            store = self._writer()
            try:
                with store.transaction():
                    new = []
                    for r in replies:
                        cursor = store.execute(
                            "INSERT INTO replies (stored_at, provider, profile, reply_id,"
                            " sender, text, date, details) VALUES (?,?,?,?,?,?,?,?)"
                            " ON CONFLICT DO NOTHING",
                            (_now(), r.provider, r.profile, r.reply_id, r.sender,
                             stored_body(r.text, self.body_mode), r.date,
                             _dumps(scrub(dict(r.details)) or None)),
                        )  # fmt: skip
                        new.append(cursor.rowcount == 1)
            except store.error as exc:
                raise self._write_error(exc) from None
        return new

    def replies(
        self,
        *,
        provider: str | None = None,
        sender: str | None = None,
        since: str | None = None,
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """Stored replies matching every filter, the newest ``limit`` (by the provider's
        date, then by when stored), oldest first. ``since``: ISO 8601 UTC, on the reply's
        date. ``sender``: a target, matched as ``models.same_device`` does."""
        if not self.enabled:
            return []
        from smscli.models import same_device

        where: list[str] = []
        args: list[Any] = []
        if provider:
            where.append("provider=?")
            args.append(provider)
        if since:
            where.append("COALESCE(date, stored_at) >= ?")
            args.append(since)
        if sender:
            where.append("sender LIKE ?")
            args.append(sender.partition(":")[0] + ":%")
        sql = "SELECT * FROM replies" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY COALESCE(date, stored_at) DESC, id DESC"
        with self._lock:
            store = self._db()
            try:
                rows = store.execute(sql, args).fetchall()
            except store.error as exc:
                if "no such table" in str(exc):
                    return []  # an older smscli's history, opened read-only
                raise self._read_error(exc) from None
        found = []
        for row in rows:
            data = dict(row)
            if sender and not same_device(data["sender"], sender):
                continue
            try:
                data["details"] = json.loads(data["details"]) if data["details"] else {}
            except ValueError:
                data["details"] = {}
            found.append(data)
            if len(found) >= limit:
                break
        return list(reversed(found))


# How far a message has come: a receipt moves a row only forwards (`smscli listen`). An
# unknown or not-sent row that a receipt names did go out.
_RANK: Final[dict[str, int]] = {
    "unknown": 0, "not-sent": 0, "accepted": 1, "queued": 2, "sent": 3,
    "delivered": 4, "failed": 4, "expired": 4, "rejected": 4, "canceled": 4,
}  # fmt: skip


def receipt_rank(status: str) -> int:
    return _RANK.get(status, 0)


def _receipt_update(
    row: dict[str, Any],
    status: Status,
    provider_status: str | None,
    date: str | None,
    part: str | None,
) -> tuple[str, dict[str, Any]] | None:
    """The row's new status and details after a receipt, or None when it changes nothing."""
    try:
        details = json.loads(row["details"]) if row["details"] else {}
        parts = json.loads(row["parts"]) if row["parts"] else []
    except ValueError:
        details, parts = {}, []
    if not isinstance(details, dict):
        details = {}
    old = str(row["status"])
    if receipt_rank(old) >= 4:
        return None  # final: the first final receipt stays (delivered stays delivered)
    new = status.value
    if part is not None and isinstance(parts, list) and len(parts) > 1 and part in parts:
        statuses = dict(details.get("part_statuses") or {})
        if receipt_rank(new) <= receipt_rank(str(statuses.get(part, "unknown"))):
            return None
        statuses[part] = new
        details["part_statuses"] = statuses
        failed = [s for s in statuses.values() if receipt_rank(s) >= 4 and s != "delivered"]
        if failed:
            new = failed[0]
        elif len(statuses) == len(parts):
            new = min(statuses.values(), key=receipt_rank)  # delivered when every part is
        else:
            new = old  # the other parts' receipts are still to come
        if receipt_rank(new) <= receipt_rank(old):
            return old, details
    elif receipt_rank(new) <= receipt_rank(old):
        return None
    details["receipt"] = {"status": new, "provider_status": provider_status, "date": date}
    if provider_status:
        details["provider_status"] = provider_status
    if date:
        details["status_date"] = date
    return new, details


class Taken(NamedTuple):
    """An attempt's idempotency key and target are held by another row (another run's)."""

    row: dict[str, Any]


class Deduped(NamedTuple):
    """An attempt's dedupe key was sent within the window (``row``): not sent; its own row
    (``row_id``) is recorded as ``deduped`` with ``details.deduped_of``."""

    row: dict[str, Any]
    row_id: int


# The row that holds a dedupe key within the window (the window's start: an ISO 8601 UTC
# time as ``created_at`` stores it): one accepted or further, on its way or unknown (a
# status smscli does not know reads as unknown: it holds too). A refused or failed send, a
# `not-sent` one (reconcile), a canceled one (stopped before delivery) and a `deduped` row
# (nothing was sent) hold nothing. Plain SQL: the PostgreSQL store runs it as it is (with
# its own placeholders), in the transaction that writes the attempt's row.
_MARK_DEDUPED = "UPDATE sends SET status='deduped', details=? WHERE id=?"
# PostgreSQL: serialise the dedupe check of one key across hosts, until the transaction ends.
DEDUPE_SERIALIZE = "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))"


def deduped_details(earlier: dict[str, Any]) -> dict[str, Any]:
    """``details`` of a ``deduped`` row (and RESULT): the earlier send it points at."""
    return {"deduped_of": {"id": earlier["id"], "message_id": earlier.get("message_id"),
                           "created_at": earlier.get("created_at")}}  # fmt: skip


DEDUPE_HELD = (
    "SELECT * FROM sends WHERE dedupe_key=? AND created_at >= ?"
    " AND status NOT IN ('failed', 'expired', 'rejected', 'not-sent', 'canceled', 'deduped')"
    " ORDER BY id DESC LIMIT 1"
)


# The row holding a key for a target: one accepted (or further), on its way or unknown. A
# refused or failed one holds nothing: sending again is what the user asks for then. A
# status smscli does not know (a newer version's, a hand edit) holds it too: unknown. A
# `not-sent` row (reconcile found the provider never got it) holds nothing either; a
# `canceled` one holds it: the user stopped that message (--force sends it again).
_HELD = (
    "SELECT * FROM sends WHERE idempotency_key=? AND target=?"
    " AND status NOT IN ('failed', 'expired', 'rejected', 'not-sent')"
    " ORDER BY id DESC LIMIT 1"
)
_MAX_INTEGER = 2**63 - 1  # SQLite's INTEGER: a larger Python int cannot be bound


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # (str.isdigit alone takes "²" and "٣")


def _row_id(text: str) -> int | None:
    """A history id written as digits, or None: not digits, or past SQLite's INTEGER (no
    row has such an id)."""
    if not _digits(text):
        return None
    value = int(text)
    return value if value <= _MAX_INTEGER else None


_INSERT = (
    "INSERT INTO sends (created_at, updated_at, batch, provider, profile, base_url, target,"
    ' status, reference, segments, encoding, idempotency_key, body, host, "user", dedupe_key,'
    " claim) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
)
_UPDATE = (
    "UPDATE sends SET updated_at=?, status=?, message_id=?, request_id=?, uuid=?,"
    " reference=COALESCE(?, reference), date=?, segments=?, encoding=?, parts=?, error=?,"
    " details=? WHERE id=?"
)


class Attempt(NamedTuple):
    """What a history row records before its request goes out."""

    provider: str
    profile: str | None
    base_url: str
    target: str
    text: str
    segments: int
    encoding: str
    reference: str | None
    batch: str | None = None
    idempotency_key: str | None = None
    claim: bool = False  # the key must not be held by another row (see History.record)
    dedupe_key: str | None = None  # the dedupe window's key of this send, if one is in force
    # The dedupe window's start (ISO 8601 UTC, as ``created_at``): not sent if a row holds
    # ``dedupe_key`` since then (see History.record). None: not checked (--force).
    dedupe_since: str | None = None

    def deduped(self) -> Attempt:
        """This attempt as the row of a ``deduped`` one: it holds no idempotency key
        (nothing was sent under it)."""
        return self._replace(idempotency_key=None, claim=False, dedupe_since=None)

    def values(self, body_mode: str) -> tuple[Any, ...]:
        now = _now()
        host, user = writer()
        return (now, now, self.batch, self.provider, self.profile, self.base_url, self.target,
                Status.UNKNOWN.value, self.reference, self.segments, self.encoding,
                self.idempotency_key, stored_body(self.text, body_mode), host, user,
                self.dedupe_key, self.idempotency_key if self.claim else None)  # fmt: skip


@functools.cache
def writer() -> tuple[str, str]:
    """Who writes this process's rows: (host name, user name). Never fails: a host without
    a name, or a uid without a passwd entry (a container), still sends. The host name is
    ``platform.node()`` (the same as ``socket.gethostname()``; smscli's client modules do
    not import socket: tests/test_http_transport.py)."""
    import getpass
    import platform

    host = platform.node() or "unknown"
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return host, user


class NewerSchema(Exception):
    """The database was written by a newer smscli: it is read, never written (a write could
    break what that version expects) and never downgraded."""

    def __init__(self, version: int) -> None:
        super().__init__(
            f"was written by a newer smscli (history schema version {version}; this smscli "
            f"knows versions up to {SCHEMA_VERSION}): it is only read here"
        )
        self.version = version
        self.hint = "upgrade smscli on this host (pip install -U smscli) to write this history"


def _current_version(store: Store) -> int:
    """The version a database is at: the one it records, else (no ``schema_version``) 1
    when it has ``sends`` (every smscli before versioning), 0 when it is empty."""
    found = store.stored_version()
    if found is not None:
        return found
    return 1 if store.has_table("sends") else 0


def migrate(store: Store) -> tuple[int, int] | None:
    """Bring a database to SCHEMA_VERSION: the missing steps in order, in ONE transaction
    that one process at a time runs (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock
    taken before the transaction, so two hosts do not race): another process opening it at
    the same time waits, then finds it done. Returns (from, to) when it changed something, None when
    it was current. A database of a newer version raises NewerSchema (nothing changed)."""
    version = _current_version(store)  # the fast path: a read, no lock
    if version == SCHEMA_VERSION:
        return None
    if version > SCHEMA_VERSION:
        raise NewerSchema(version)
    with store.migration():
        found = store.stored_version()
        if found == SCHEMA_VERSION:  # another process migrated it while this one waited
            return None
        if found is not None and found > SCHEMA_VERSION:
            raise NewerSchema(found)
        version = _current_version(store)
        # Unversioned: version 1's steps run again (they are IF NOT EXISTS: a history of an
        # smscli before issue 11 lacks ``replies``).
        for step in _STEPS[found or 0 :]:
            for statement in step:
                store.execute(statement.format(id=store.id_column))
        store.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        store.execute("DELETE FROM schema_version")
        store.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    return version, SCHEMA_VERSION


def _dedupe(store: Store, attempt: Attempt, body_mode: str) -> Deduped | None:
    """An attempt the dedupe window holds back (inside the caller's transaction): its row
    written as ``deduped``, pointing at the row that holds its key; None when nothing holds
    it (or no window is in force). On SQLite the transaction already holds the database's
    write lock; on PostgreSQL a transaction-scoped advisory lock on the key makes a second
    host wait for the first one's commit, and the check, run after it, sees its row."""
    if attempt.dedupe_since is None or attempt.dedupe_key is None:
        return None
    if store.kind == "postgresql":
        store.execute(DEDUPE_SERIALIZE, ("smscli-dedupe:" + attempt.dedupe_key,))
    earlier = store.execute(DEDUPE_HELD, (attempt.dedupe_key, attempt.dedupe_since)).fetchone()
    if earlier is None:
        return None
    row = _row(earlier)
    new_id = store.insert(_INSERT, attempt.deduped().values(body_mode))
    assert new_id is not None  # (it claims no key: nothing conflicts)
    store.execute(_MARK_DEDUPED, (_dumps(deduped_details(row)), new_id))
    return Deduped(row, new_id)


def _claim(store: Store, attempt: Attempt, body_mode: str) -> int | Taken:
    """Insert an attempt's row unless another row holds its idempotency key and target
    (inside the caller's transaction). The check finds any row holding it (a forced one
    too); the unique index ``sends_claim`` catches another host's claim that the check
    could not see yet: its INSERT waits for that transaction and inserts nothing, and the
    check run again sees that row."""
    held_args = (attempt.idempotency_key, attempt.target)
    for _ in range(3):
        held = store.execute(_HELD, held_args).fetchone()
        if held is not None:
            return Taken(_row(held))
        row_id = store.insert(_INSERT, attempt.values(body_mode))
        if row_id is not None:
            return row_id
    # The claiming row was settled as failed between the insert and the check, three
    # times over: report the newest claim (never send: the claim was contested).
    row = store.execute(
        "SELECT * FROM sends WHERE claim=? AND target=? ORDER BY id DESC LIMIT 1", held_args
    ).fetchone()
    return Taken(_row(row))


def _finish_values(row_id: int, result: SendResult, scrub: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (_now(), result.status.value, result.message_id, result.request_id, result.uuid,
            result.reference, result.date, result.segments, result.encoding,
            _dumps(result.parts), _dumps(scrub(result.error)),
            _dumps(scrub(result.details) or None), row_id)  # fmt: skip


def _busy(exc: BaseException | None) -> bool:
    """SQLite gave up waiting for another process's lock ("database is locked")."""
    import sqlite3

    return isinstance(exc, sqlite3.Error) and ("locked" in str(exc) or "busy" in str(exc))


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _row(row: Any) -> dict[str, Any]:
    data = dict(row)
    for column in _NEW_COLUMNS:  # a row of an older schema, only read
        data.setdefault(column, None)
    if data.get("status") not in _STATUSES:
        # Written by another version of smscli, or by hand: read as `unknown`, the one
        # status that is never sent again without --force (nor taken as delivered).
        data["status"] = Status.UNKNOWN.value
    for column in _JSON_COLUMNS:
        raw = data.get(column)
        try:
            data[column] = json.loads(raw) if raw else None
        except ValueError:
            data[column] = None
    data["details"] = data.get("details") or {}
    return data


def row_to_result(row: dict[str, Any]) -> SendResult:
    """A history row as a RESULT (for --idempotency-key replays and `status`)."""
    try:
        status = Status(row["status"])
    except ValueError:
        status = Status.UNKNOWN
    return SendResult(
        provider=row["provider"],
        profile=row["profile"],
        target=row["target"],
        status=status,
        message_id=row["message_id"],
        request_id=row["request_id"],
        uuid=row["uuid"],
        reference=row["reference"],
        date=row["date"],
        segments=row["segments"],
        encoding=row["encoding"],
        parts=row["parts"],
        error=row["error"],
        details=dict(row["details"] or {}),
    )
