"""Many targets: a streamed row source, the check-everything-first pass, --template rows,
the jobs a run is made of and the --yes confirmation. The Runner that sends the jobs is
``smscli.pipeline.runner``.

Two passes over the targets keep memory flat for a 100,000-line ``--to-file``: the first
checks every target and every rendered message (nothing is sent if one is bad, unless
``--skip-invalid``), the second builds the same jobs again and sends them. Stdin is spooled
to a temporary file so that it can be read twice.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import stat
import string
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, AnyStr, NamedTuple

from smscli.errors import ConfigError, InputError, SmscliError, UsageError
from smscli.models import Message, SendResult, Target

CONFIRM_ABOVE = 100  # more targets than this need --yes (or a terminal to confirm)
MAX_LINE = 1 << 20  # a --to-file line (a target, or a CSV row with its template cells)


class RowSource:
    """``--to`` values and ``--to-file`` rows, readable more than once."""

    def __init__(self, to: Sequence[str], to_file: str | None) -> None:
        self.to = list(to)
        self.to_file = to_file
        self._spool: IO[bytes] | None = None
        self._signature: tuple[int, int, int] | None = None
        if to_file == "-":
            # The bytes, not sys.stdin's text: under a C locale (cron, containers) Python
            # decodes stdin leniently, and bad bytes would surface later as an odd error.
            self._spool_from(lambda: getattr(sys.stdin, "buffer", None) or _encoded(sys.stdin))
        elif to_file is not None:
            try:
                info = os.stat(to_file)
            except OSError:
                return  # reported, with its reason, when it is read
            if not stat.S_ISREG(info.st_mode):
                # A pipe (`--to-file <(cmd)`), a FIFO, a device: it can be read once.
                self._spool_from(lambda: open(to_file, "rb"))  # noqa: SIM115
            else:
                self._signature = (info.st_ino, info.st_size, info.st_mtime_ns)

    def _spool_from(self, source: Callable[[], Iterable[bytes]]) -> None:
        """Keep a copy on disk (not in memory) of what can be read only once, for the
        second pass."""
        import tempfile

        spool = tempfile.TemporaryFile("w+b")  # noqa: SIM115
        try:
            with self._reading():
                stream = source()
                try:
                    for chunk in self._bounded(stream):
                        spool.write(chunk)
                finally:
                    if isinstance(stream, io.IOBase) and stream is not getattr(
                        sys.stdin, "buffer", None
                    ):
                        stream.close()  # a pipe smscli opened, not stdin
        except BaseException:
            spool.close()
            raise
        self._spool = spool

    def _bounded(self, stream: Iterable[AnyStr]) -> Iterator[AnyStr]:
        """The lines of ``stream``, none longer than MAX_LINE: a file without line breaks
        (``--to-file /dev/zero``) is refused without being read into memory."""
        readline = getattr(stream, "readline", None)
        if readline is None:
            yield from stream  # an embedding program's text stream, already in lines
            return
        for number in itertools.count(1):
            line = readline(MAX_LINE + 1)
            if not line:
                return
            if len(line) > MAX_LINE and line[-1:] not in ("\n", b"\n"):
                name = "stdin" if self.to_file == "-" else self.to_file
                raise InputError(
                    f"--to-file {name}: line {number} is longer than 1 MiB; not a list of targets",
                    code="bad_file",
                )
            yield line

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        name = "stdin" if self.to_file == "-" else self.to_file
        try:
            yield
        except UnicodeDecodeError:
            raise InputError(f"--to-file {name} is not UTF-8 text", code="bad_file") from None
        except OSError as exc:
            raise InputError(
                f"cannot read --to-file {name}: {exc.strerror or exc}", code="bad_file"
            ) from None

    def _lines(self) -> Iterator[str]:
        if self._spool is not None:
            self._spool.seek(0)
            # Not `yield from` the file: closing this generator early (columns() reads one
            # line) would close the spool itself.
            with self._reading():
                for n, raw in enumerate(self._spool):
                    yield raw.decode("utf-8-sig" if n == 0 else "utf-8")
            return
        assert self.to_file is not None
        with self._reading(), open(self.to_file, encoding="utf-8-sig") as fh:
            self._check_unchanged(fh.fileno())
            yield from self._bounded(fh)
            self._check_unchanged(fh.fileno())  # and not while it was read

    def _check_unchanged(self, fd: int) -> None:
        """The second pass skips duplicates by row number and sends what the first pass
        checked: a file that changed in between (an editor, a prompt left open) is refused
        rather than sent differently."""
        info = os.fstat(fd)
        signature = (info.st_ino, info.st_size, info.st_mtime_ns)
        if self._signature is not None and signature != self._signature:
            raise InputError(
                f"--to-file {self.to_file} changed while smscli was reading it",
                hint="re-run when the file is complete (write it elsewhere, then move it)",
                code="file_changed",
            )

    def rows(self) -> Iterator[dict[str, str]]:
        from smscli.targets import read_target_rows

        for value in self.to:
            yield {"to": value}
        if self.to_file is not None:
            yield from read_target_rows(self._lines())

    def columns(self) -> list[str] | None:
        from smscli.targets import csv_columns

        if self.to_file is None:
            return None
        return csv_columns(self._lines())


def _encoded(stream: IO[str]) -> Iterator[bytes]:
    """A text stream without a byte buffer (an embedding program's): its lines as UTF-8."""
    for line in stream:
        yield line.encode("utf-8", "surrogateescape")


class DistinctTargets:
    """The targets seen so far, for the duplicate check: a set for the first
    ``IN_MEMORY`` of them, then a private temporary SQLite database on disk, so that memory
    stays flat however long the --to-file (its page cache is bounded; the file is deleted
    when it is closed)."""

    IN_MEMORY = 20_000

    def __init__(self) -> None:
        self._set: set[str] = set()
        self._db: Any = None

    def add(self, key: str) -> bool:
        """Remember ``key``; False when it was seen before."""
        if key in self._set:
            return False
        if len(self._set) < self.IN_MEMORY:
            self._set.add(key)
            return True
        import sqlite3

        try:
            if self._db is None:
                # "": a temporary on-disk database, deleted on close (SQLite's own rule).
                self._db = sqlite3.connect("", isolation_level=None)
                self._db.execute("PRAGMA journal_mode=OFF")
                self._db.execute("PRAGMA synchronous=OFF")
                self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY) WITHOUT ROWID")
                self._db.execute("BEGIN")  # never committed: it is thrown away
            cursor = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (key,))
        except sqlite3.Error as exc:
            raise ConfigError(
                f"cannot keep the duplicate check of a long --to-file in a temporary file: {exc}",
                hint="point TMPDIR at a writable directory with free space",
                code="temp_unavailable",
            ) from None
        return bool(cursor.rowcount == 1)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __del__(self) -> None:
        self.close()


def template_fields(text: str) -> list[str]:
    """The ``{column}`` names a --template text uses."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise InputError(
            f"--template: {exc} (write {{{{ and }}}} for literal braces)", code="bad_template"
        ) from None
    for name in names:
        if not name or not name.replace("_", "").replace("-", "").replace(" ", "").isalnum():
            raise InputError(f"--template: {{{name}}} is not a column name", code="bad_template")
    return names


def render(text: str, row: dict[str, str]) -> str:
    """TEXT with this row's cells; a row without a cell the template uses is an input error."""
    try:
        return text.format_map(row)
    except KeyError as exc:
        raise InputError(
            f"--template uses {{{exc.args[0]}}}, but this row has no such cell",
            code="template_column_missing",
        ) from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise InputError(
            f"--template: {exc} (write {{{{ and }}}} for literal braces)", code="bad_template"
        ) from None


class Job(NamedTuple):
    """One provider.send() call: its targets (several only when the API batches) and message."""

    targets: list[Target]
    message: Message
    row: int  # 1-based position in the input, for messages
    # Each target's dedupe key (--dedupe-window): rendered from its --to-file row.
    keys: dict[Target, str] | None = None


@dataclass
class Plan:
    """The checked run: how many jobs, which were skipped, and how to build them again."""

    total: int  # valid targets
    invalid: list[SendResult] = field(default_factory=list)
    build: Callable[[], Iterator[Job]] = lambda: iter(())
    requests: int = 0  # how many jobs ``build`` yields, at most


def confirm(total: int, yes: bool) -> None:
    """More than CONFIRM_ABOVE targets: --yes, or a y/N answer on a terminal."""
    if total <= CONFIRM_ABOVE or yes:
        return
    if not sys.stdin.isatty() or not sys.stderr.isatty():
        raise UsageError(
            f"{total} targets: sending to more than {CONFIRM_ABOVE} needs --yes",
            code="confirmation_needed",
        )
    sys.stderr.write(f"Send to {total} targets? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was sent", code="not_confirmed")


def invalid_result(provider: str, profile: str | None, raw: str, err: SmscliError) -> SendResult:
    """A target --skip-invalid left out: ``skipped``, with the check it failed as its error."""
    from smscli.models import Status

    return SendResult(
        provider=provider,
        profile=profile,
        target=raw,
        status=Status.SKIPPED,
        error={"code": err.code, "message": err.message, "exit_code": int(err.exit_code)},
        details={"skipped": "invalid"},
    )
