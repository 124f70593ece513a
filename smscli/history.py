"""The local history: one SQLite row per send attempt, written BEFORE the request goes out.

A row starts as ``unknown`` and is updated with the provider's answer, so a crash, a kill
or a lost connection leaves an ``unknown`` row behind, never nothing. Idempotency keys and
batches are looked up here.
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
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from smscli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    import sqlite3
from smscli.models import Reply, SendResult, Status
from smscli.redaction import Redactor

# The schema, as the steps that build it: step n brings a database from version n-1 to n.
# Written once for every store: ``{id}`` is the store's auto-increment primary key. A
# database records its version in ``schema_version`` (one row); a writer that opens an older
# one applies the missing steps in order, in one transaction (_migrate); a newer one is only
# read, never downgraded. A column named ``user`` is a reserved word in PostgreSQL: it is
# always written quoted, ``"user"`` (SQLite takes the quotes too).
SCHEMA_VERSION = 2
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
)
_SQLITE_ID = "INTEGER PRIMARY KEY AUTOINCREMENT"
# Columns a row of an older schema (a database only read) lacks: read as NULL.
_V2_COLUMNS = ("host", "user", "dedupe_key")
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


class History:
    """The journal. ``History(None)`` is a disabled history that records nothing."""

    def __init__(
        self, path: Path | None, body_mode: str = "full", *, redactor: Redactor | None = None
    ) -> None:
        self.path = path
        self.body_mode = body_mode
        # A RESULT's error and details quote the provider: what is stored of them is
        # scrubbed (the run's secrets, and credential fields by name) — `smscli log` runs
        # later, in a process that knows no secrets.
        self.redactor = redactor if redactor is not None else Redactor()
        self._conn: sqlite3.Connection | None = None
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
        return self.path is not None

    def _db(self) -> sqlite3.Connection:
        import sqlite3  # here, not at the top: a dry run or `check` never opens the history

        if self._conn is None:
            assert self.path is not None
            # A history on a read-only file system (a backup, a container's image) or in a
            # directory this user may not write can still be read (`log`, `status`); a send
            # says it cannot be recorded (require_writable).
            why = _unwritable(self.path)
            try:
                if why is None:
                    conn = self._open_for_writing(self.path)
                else:
                    conn = self._open_read_only(self.path, why)
            except NewerSchema as exc:
                self.read_only_hint = exc.hint
                conn = self._open_read_only(self.path, str(exc))
            except (OSError, sqlite3.Error) as exc:
                if _busy(exc):
                    raise self._write_error(exc) from None
                conn = self._open_read_only(self.path, f"cannot be opened for writing ({exc})")
            self._conn = conn
        return self._conn

    def _open_for_writing(self, path: Path) -> sqlite3.Connection:
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
            self.migrated = _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self, path: Path, why: str) -> sqlite3.Connection:
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
            return conn
        if not path.exists() or "no such table" in str(last):
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            _migrate(conn)
            return conn
        raise ConfigError(
            f"cannot open the history at {path}: it {why}, and reading it failed: {last}",
            hint="check the file and its directory (or point SMSCLI_DATA_DIR elsewhere)",
            code="history_unavailable",
        )

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
                f"cannot record this send, so nothing was sent: the history at {self.path} "
                f"{self.read_only}",
                hint=self.read_only_hint
                or "make its directory writable or set SMSCLI_DATA_DIR to a writable one; "
                "--no-history sends without recording (and refuses --idempotency-key)",
                code="history_read_only",
            )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The connection, for ONE write statement: in autocommit mode a single statement is
        its own atomic transaction, and SQLite's busy timeout (30 s) waits for other
        processes' writes."""
        with self._lock:
            yield self._db()

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
        assert not isinstance(row_id, Taken)  # (it claims no idempotency key)
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
    ) -> list[int | Taken | None]:
        """One transaction: the answers that came back, the rows of requests that never went
        out (deleted: nothing was sent), and rows for the requests about to go out (as
        ``unknown``). Returns the new rows' ids, in order.

        An attempt with ``claim`` set (``--idempotency-key`` without ``--force``) gets its row
        only if no other row holds its key and target (accepted, on its way, or unknown):
        otherwise its place in the list is ``Taken`` with that row, and nothing is written
        for it. The check and the insert share the transaction, and BEGIN IMMEDIATE takes
        the database's write lock first, so of several processes claiming one key at once
        exactly one gets the row (and sends).

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
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if updates:
                        db.executemany(_UPDATE, updates)
                    if deletes:
                        db.executemany("DELETE FROM sends WHERE id=?", deletes)
                    ids: list[int | Taken | None] = []
                    for a in started:
                        held = None
                        if a.claim:
                            held = db.execute(_HELD, (a.idempotency_key, a.target)).fetchone()
                        if held is not None:
                            ids.append(Taken(_row(held)))
                        else:
                            ids.append(db.execute(_INSERT, a.values(body_mode)).lastrowid)
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except _sqlite_error() as exc:
                raise self._write_error(exc) from None
        return ids

    def _write_error(self, exc: BaseException) -> ConfigError:
        """Why the history could not record. Never "use --no-history": that turns
        --idempotency-key and --resume off (they refuse to run without the history)."""
        if self.read_only is not None:
            return ConfigError(
                f"cannot write the history at {self.path}: it {self.read_only}",
                hint=self.read_only_hint
                or "make its directory writable, or set SMSCLI_DATA_DIR to a writable directory",
                code="history_read_only",
            )
        text = str(exc)
        if _busy(exc):
            hint = (
                f"another smscli process kept the history busy for {BUSY_TIMEOUT:.0f} s; "
                "run the command again when it has finished"
            )
        else:
            hint = "free disk space or fix the permissions of the history's directory"
        return ConfigError(
            f"cannot write the history at {self.path}: {text}",
            hint=hint,
            code="history_unavailable",
        )

    def set_status(self, row_id: int, status: Status, details: dict[str, Any] | None) -> None:
        if not self.enabled:
            return
        with self._write() as db:
            try:
                db.execute(
                    "UPDATE sends SET updated_at=?, status=?, details=COALESCE(?, details)"
                    " WHERE id=?",
                    (_now(), status.value, _dumps(self.redactor.data(details)), row_id),
                )
            except _sqlite_error() as exc:
                raise self._write_error(exc) from None

    def reconciled(
        self, row_id: int, status: Status, message_id: str | None, details: dict[str, Any]
    ) -> None:
        """`smscli reconcile`: an ``unknown`` row's status (and the provider's id) as found."""
        if not self.enabled:
            return
        with self._write() as db:
            try:
                db.execute(
                    "UPDATE sends SET updated_at=?, status=?, message_id=COALESCE(?, message_id),"
                    " error=CASE WHEN ? THEN NULL ELSE error END, details=?"
                    " WHERE id=? AND status=?",
                    (_now(), status.value, message_id, status.is_success,
                     _dumps(self.redactor.data(details)), row_id, Status.UNKNOWN.value),
                )  # fmt: skip
            except _sqlite_error() as exc:
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
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    row = db.execute(
                        "SELECT status, details, parts FROM sends WHERE id=?", (row_id,)
                    ).fetchone()
                    changed = False
                    if row is not None:
                        update = _receipt_update(dict(row), status, provider_status, date, part)
                        if update is not None:
                            new_status, details = update
                            db.execute(
                                "UPDATE sends SET updated_at=?, status=?, details=? WHERE id=?",
                                (_now(), new_status, _dumps(self.redactor.data(details)), row_id),
                            )
                            changed = True
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except _sqlite_error() as exc:
                raise self._write_error(exc) from None
        return changed

    # -- queries -----------------------------------------------------------------------------
    def rows_for(self, ident: str, provider: str) -> list[dict[str, Any]]:
        """Every row of ``provider`` that any of the provider's ids names (message id, uuid,
        request id, a part id, the client reference), newest first: a ThingSpace request
        is one row per device, all with its requestId."""
        if not self.enabled or not ident:
            return []
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT * FROM sends WHERE provider=? AND (message_id=? OR uuid=?"
                    " OR request_id=? OR reference=? OR EXISTS (SELECT 1 FROM"
                    " json_each(sends.parts) WHERE json_each.value = ?))"
                    " ORDER BY id DESC LIMIT 10000",
                    (provider, ident, ident, ident, ident, ident),
                )
                .fetchall()
            )
        return [_row(r) for r in rows]

    def find(self, ident: str, provider: str | None = None) -> dict[str, Any] | None:
        """A row by any id smscli prints for it: the provider's (message id, uuid, request
        id, part id), then the client reference (CSL's ``sms_uid``, which ``-q`` prints for
        CSL), or the history id (``#12``; a bare ``12`` is tried as a provider id first:
        emnify's ids are numbers). ``provider``: only that provider's rows."""
        if not self.enabled:
            return None
        db = self._db()
        only = " AND provider=?" if provider else ""
        extra: tuple[str, ...] = (provider,) if provider else ()
        if ident.startswith("#") and _digits(ident[1:]):
            row_id = _row_id(ident[1:])
            if row_id is None:
                return None
            row = db.execute(f"SELECT * FROM sends WHERE id=?{only}", (row_id, *extra)).fetchone()
            return _row(row) if row is not None else None
        row = db.execute(
            "SELECT * FROM sends WHERE (message_id=? OR uuid=? OR request_id=?"
            " OR EXISTS (SELECT 1 FROM json_each(sends.parts) WHERE json_each.value = ?))"
            f"{only} ORDER BY id DESC LIMIT 1",
            (ident, ident, ident, ident, *extra),
        ).fetchone()
        if row is None:
            row = db.execute(
                f"SELECT * FROM sends WHERE reference=?{only} ORDER BY id DESC LIMIT 1",
                (ident, *extra),
            ).fetchone()
        row_id = _row_id(ident)
        if row is None and row_id is not None:
            row = db.execute(f"SELECT * FROM sends WHERE id=?{only}", (row_id, *extra)).fetchone()
        return _row(row) if row is not None else None

    def in_batch(self, batch: str, target: str) -> dict[str, Any] | None:
        """The latest row for ``target`` in ``batch`` (for --resume)."""
        if not self.enabled:
            return None
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT * FROM sends WHERE batch=? AND target=? ORDER BY id DESC LIMIT 1",
                    (batch, target),
                )
                .fetchone()
            )
        return _row(row) if row is not None else None

    def last(self, provider: str | None = None) -> dict[str, Any] | None:
        """The most recent row (of ``provider``, if given)."""
        if not self.enabled:
            return None
        if provider is None:
            row = self._db().execute("SELECT * FROM sends ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = (
                self._db()
                .execute(
                    "SELECT * FROM sends WHERE provider=? ORDER BY id DESC LIMIT 1", (provider,)
                )
                .fetchone()
            )
        return _row(row) if row is not None else None

    def by_key(self, key: str, target: str) -> dict[str, Any] | None:
        if not self.enabled:
            raise UsageError(
                "--idempotency-key needs the history; it is turned off",
                code="history_disabled",
            )
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT * FROM sends WHERE idempotency_key=? AND target=?"
                    " ORDER BY id DESC LIMIT 1",
                    (key, target),
                )
                .fetchone()
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
    ) -> list[dict[str, Any]]:
        """Rows matching every filter, the newest ``limit`` of them, oldest first.

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
        sql = "SELECT * FROM sends"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(min(limit, _MAX_INTEGER))  # `log -n 99999999999999999999`: every row
        rows = self._db().execute(sql, args).fetchall()
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
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    new = []
                    for r in replies:
                        cursor = db.execute(
                            "INSERT OR IGNORE INTO replies (stored_at, provider, profile,"
                            " reply_id, sender, text, date, details) VALUES (?,?,?,?,?,?,?,?)",
                            (_now(), r.provider, r.profile, r.reply_id, r.sender,
                             stored_body(r.text, self.body_mode), r.date,
                             _dumps(scrub(dict(r.details)) or None)),
                        )  # fmt: skip
                        new.append(cursor.rowcount == 1)
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except _sqlite_error() as exc:
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
            try:
                rows = self._db().execute(sql, args).fetchall()
            except _sqlite_error() as exc:
                if "no such table" in str(exc):
                    return []  # an older smscli's history, opened read-only
                raise
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
    ' status, reference, segments, encoding, idempotency_key, body, host, "user", dedupe_key)'
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
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

    def values(self, body_mode: str) -> tuple[Any, ...]:
        now = _now()
        host, user = writer()
        return (now, now, self.batch, self.provider, self.profile, self.base_url, self.target,
                Status.UNKNOWN.value, self.reference, self.segments, self.encoding,
                self.idempotency_key, stored_body(self.text, body_mode), host, user,
                self.dedupe_key)  # fmt: skip


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


def _stored_version(db: Any, unversioned: Callable[[], int]) -> int:
    """The version a database records; ``unversioned()`` for one without the table."""
    try:
        row = db.execute("SELECT version FROM schema_version").fetchone()
    except _sqlite_error() as exc:
        if "no such table" not in str(exc):
            raise
        return unversioned()
    return int(row[0]) if row is not None else unversioned()


def _migrate(db: sqlite3.Connection) -> tuple[int, int] | None:
    """Bring an SQLite database to SCHEMA_VERSION: the missing steps in order, in ONE
    transaction (BEGIN IMMEDIATE: another process opening it at the same time waits, then
    finds it done). Returns (from, to) when it changed something, None when it was current.
    A database of a newer version raises NewerSchema (nothing is changed)."""

    def unversioned() -> int:
        # Before versioning every smscli had version 1's tables (or some of them: the steps
        # of version 1 are IF NOT EXISTS and run again); a database without `sends` is new.
        found = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='sends'"
        ).fetchone()
        return 1 if found is not None else 0

    version = _stored_version(db, unversioned)  # the fast path: one read, no lock
    if version == SCHEMA_VERSION:
        return None
    if version > SCHEMA_VERSION:
        raise NewerSchema(version)
    db.execute("BEGIN IMMEDIATE")
    try:
        found = _stored_version(db, lambda: -1)
        if found == SCHEMA_VERSION:  # another process migrated it while this one waited
            db.execute("COMMIT")
            return None
        if found > SCHEMA_VERSION:
            raise NewerSchema(found)
        version = unversioned() if found < 0 else found
        first = 0 if found < 0 else found  # (unversioned: version 1's steps again)
        for step in _STEPS[first:]:
            for statement in step:
                db.execute(statement.format(id=_SQLITE_ID))
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return version, SCHEMA_VERSION


def _finish_values(row_id: int, result: SendResult, scrub: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (_now(), result.status.value, result.message_id, result.request_id, result.uuid,
            result.reference, result.date, result.segments, result.encoding,
            _dumps(result.parts), _dumps(scrub(result.error)),
            _dumps(scrub(result.details) or None), row_id)  # fmt: skip


def _busy(exc: BaseException) -> bool:
    """SQLite gave up waiting for another process's lock ("database is locked")."""
    return isinstance(exc, _sqlite_error()) and ("locked" in str(exc) or "busy" in str(exc))


def _sqlite_error() -> type[Exception]:
    import sqlite3

    return sqlite3.Error


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    for column in _V2_COLUMNS:  # a row of an older schema, only read
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
