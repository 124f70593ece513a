"""Many targets: a streamed row source, the check-everything-first pass, a rate limiter and
the concurrent fan-out with Ctrl-C handling.

Two passes over the targets keep memory flat for a 100,000-line ``--to-file``: the first
checks every target and every rendered message (nothing is sent if one is bad, unless
``--skip-invalid``), the second builds the same jobs again and sends them. Stdin is spooled
to a temporary file so that it can be read twice.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import signal
import stat
import string
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from smscli.errors import ConfigError, InputError, SmscliError, UsageError
from smscli.models import Message, SendResult, Target

if TYPE_CHECKING:
    from smscli.catalog import ProviderInfo
    from smscli.history import Attempt, History

CONFIRM_ABOVE = 100  # more targets than this need --yes (or a terminal to confirm)
HUMAN_TABLE_LIMIT = 50  # above this, human output is a summary, not a table of every result


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
                    for chunk in stream:
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
            yield from fh
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


@dataclass(frozen=True, slots=True)
class Job:
    """One provider.send() call: its targets (several only when the API batches) and message."""

    targets: list[Target]
    message: Message
    row: int  # 1-based position in the input, for messages


@dataclass
class Plan:
    """The checked run: how many jobs, which were skipped, and how to build them again."""

    total: int
    invalid: list[SendResult] = field(default_factory=list)
    build: Callable[[], Iterator[Job]] = lambda: iter(())


class RateLimiter:
    """At most ``rate`` requests per second, evenly spaced (None or 0: no limit)."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self, weight: int = 1) -> float:
        """Take the next start slot if it is due (0.0); else the seconds until it is, with
        nothing taken. A slot worth ``weight`` requests pushes the next one that far."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self.clock()
            if self._next > now:
                return self._next - now
            self._next = now + self.interval * max(1, weight)
            return 0.0


def confirm(total: int, yes: bool, out: Any) -> None:
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


@dataclass
class Outcome:
    results: list[SendResult]
    counts: dict[str, int]
    interrupted: bool = False
    # exit code → how many targets failed with it (decides the run's exit code when the
    # RESULTs themselves were not kept)
    failure_codes: dict[int, int] = field(default_factory=dict)
    abandoned: int = 0  # targets in flight when a second Ctrl-C stopped the wait (unknown)


@dataclass(slots=True, eq=False)
class Dispatch:
    """One job handed to the send threads, with the history rows of its targets."""

    job: Job
    targets: list[Target]  # what is sent (a resume leaves out what was accepted)
    rows: list[int | None] = field(default_factory=list)
    results: list[SendResult] = field(default_factory=list)
    sent: bool = False  # False: stopped before its request went out (its rows are dropped)
    error: BaseException | None = None  # a bug, or an error that stops the run


@dataclass(frozen=True, slots=True)
class Triage:
    """What to do with a job's targets before anything is sent (see Runner.triage)."""

    send: list[Target]
    known: list[SendResult] = field(default_factory=list)  # RESULTs of an earlier run
    skipped: int = 0  # accepted in the batch being resumed


_KNOWN_PER_ROUND = 500  # RESULTs of earlier runs (a resume) reported per round, at most


class Abandon(Exception):
    """The second Ctrl-C: stop waiting for the requests in flight (raised at a safe point)."""


class Runner:
    """Sends jobs from ``concurrency`` threads, recording each target in the history.

    The main thread is the only one that paces, writes the history and prints. It works in
    rounds: it collects answers, then in ONE transaction records them, drops the rows of jobs
    that were stopped before their request went out and writes the rows of the next jobs,
    and only then hands those jobs to the send threads and prints the answers. So every row
    is written before its request goes out, every printed RESULT is already in the history,
    and a commit is shared by a round of targets instead of paid twice per target.

    A job is handed out only when its rate slot is due and a thread is free to take it, so
    the jobs handed out and not yet recorded are the requests in flight (at most
    ``concurrency``): that is all a killed process can leave ``unknown``.

    Ctrl-C or SIGTERM (when the main thread runs this): the first stops handing out jobs;
    jobs not yet started are dropped, requests in flight finish and are recorded, and
    ``outcome.interrupted`` is set. The second stops waiting for them (they stay
    ``unknown``; ``outcome.abandoned`` counts them); a third raises KeyboardInterrupt.
    """

    def __init__(
        self,
        send: Callable[[Job, list[Target]], list[SendResult]],
        *,
        history: History,
        attempt: Callable[[Job, Target], Attempt],
        triage: Callable[[Job], Triage] = lambda job: Triage(job.targets),
        weight: Callable[[Job], int] = lambda job: 1,
        concurrency: int,
        limiter: RateLimiter,
        on_result: Callable[[SendResult], None],
        keep_results: bool,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.send = send
        self.history = history
        self.attempt = attempt
        self.triage = triage
        self.weight = weight
        self.concurrency = max(1, concurrency)
        self.limiter = limiter
        self.on_result = on_result
        self.keep_results = keep_results
        self.progress = progress
        self.stop = threading.Event()
        self.outcome = Outcome([], {"total": 0, "accepted": 0, "failed": 0, "skipped": 0})
        self.output_closed = False
        self.handed_out = 0  # targets handed to the send threads so far
        self._todo: queue.SimpleQueue[Dispatch | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Dispatch] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._outstanding: list[Dispatch] = []  # handed out and not yet collected
        self._answered: list[Dispatch] = []  # collected and not yet recorded
        self._next: Dispatch | None = None  # triaged, waiting for its rate slot
        self._signals = 0
        self._abandon = False
        self._gate = threading.Lock()

    # -- the send threads ------------------------------------------------------------------
    def _worker(self) -> None:
        while (dispatch := self._todo.get()) is not None:
            try:
                with self._gate:  # against _stop_now(): stopped, or marked sent, not both
                    go = not self.stop.is_set()
                    dispatch.sent = go  # from here on it may have reached the provider
                if go:
                    dispatch.results = self.send(dispatch.job, dispatch.targets)
            except BaseException as exc:  # a bug: stop the run, report it from the main thread
                dispatch.error = exc
            self._done.put(dispatch)

    def _start_threads(self, count: int) -> None:
        while len(self._threads) < count:
            thread = threading.Thread(
                target=self._worker, name=f"smscli-send-{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    # -- the main thread -------------------------------------------------------------------
    def run(self, jobs: Iterator[Job]) -> Outcome:
        restore = self._catch_signals()
        try:
            self._rounds(jobs)
        except Abandon:
            settled = self._drop_unstarted()
            self.outcome.abandoned = sum(len(d.targets) for d in self._outstanding)
            self._report(settled, [])  # recorded: shown and counted too
        except BaseException:
            # An error in the main thread (the history, the --to-file, a third Ctrl-C):
            # nothing new starts; unless it is a Ctrl-C, what is in flight finishes and is
            # recorded (not printed); then the error is raised.
            self.stop.set()
            # (No send thread alive, e.g. none could be started: nothing to wait for.)
            if self._signals < 3 and any(t.is_alive() for t in self._threads):
                try:
                    self._settle()
                except Abandon:  # a second Ctrl-C while waiting for them
                    self._drop_unstarted()
            else:
                self._drop_unstarted()
            raise
        finally:
            restore()
            for _ in self._threads:
                self._todo.put(None)
        if self._error is not None:
            raise self._error
        return self.outcome

    def _settle(self) -> None:
        while self._outstanding:
            answer = self._next_answer(None)
            assert answer is not None
            self._answered.append(answer)
        answered, self._answered = self._answered, []
        with contextlib.suppress(SmscliError):  # the history itself may be what failed
            self._journal(answered, [])

    def _rounds(self, jobs: Iterator[Job]) -> None:
        known: list[SendResult] = []
        exhausted = False
        first = True
        while True:
            fresh: list[Dispatch] = []
            due_in = 0.0
            if not self.stop.is_set():
                # The first job goes alone: a provider that logs in does so once, and the
                # others reuse its token instead of all logging in at the same time.
                room = 1 if first else self.concurrency - len(self._outstanding)
                while len(fresh) < room and len(known) < _KNOWN_PER_ROUND:
                    if self.stop.is_set():
                        break
                    if self._next is None:
                        job = None if exhausted else next(jobs, None)
                        if job is None:
                            exhausted = True
                            break
                        triage = self.triage(job)
                        known += triage.known
                        self.outcome.counts["skipped"] += triage.skipped
                        self.outcome.counts["total"] += triage.skipped
                        if not triage.send:
                            continue
                        self._next = Dispatch(job, triage.send)
                    due_in = self.limiter.reserve(self.weight(self._next.job))
                    if due_in > 0:
                        break  # not yet: the rows of a job are written when it can start
                    fresh.append(self._next)
                    self._next = None
            answered = self._answered
            self._journal(answered, fresh)
            self._answered = []  # recorded
            for dispatch in fresh:
                self._todo.put(dispatch)
            self._outstanding += fresh
            self.handed_out += sum(len(d.targets) for d in fresh)
            if fresh:
                self._start_threads(min(self.concurrency, len(self._outstanding)))
                first = False
            self._report(answered, known)
            known = []
            if not self._outstanding:
                if self.stop.is_set() or (exhausted and self._next is None):
                    return
                self._pause(due_in)  # nothing in flight: wait for the next rate slot
                continue
            # Wait for an answer (or the next rate slot); take every other answer already
            # there too: under load a round records several and shares one commit.
            answer = self._next_answer(due_in if due_in > 0 else None)
            if answer is None:
                continue  # the next rate slot is due
            self._answered.append(answer)
            with contextlib.suppress(queue.Empty):
                while True:
                    answer = self._done.get_nowait()
                    self._outstanding.remove(answer)
                    self._answered.append(answer)

    def _next_answer(self, timeout: float | None) -> Dispatch | None:
        """The next answer from a send thread (None after ``timeout`` seconds). Raises
        Abandon after a second Ctrl-C: this is where the main thread waits."""
        waited = 0.0
        while True:
            if self._abandon:
                raise Abandon
            step = 0.2 if timeout is None else min(0.2, timeout - waited)
            try:
                answer = self._done.get(timeout=max(step, 0.001))
            except queue.Empty:
                waited += step
                if timeout is not None and waited >= timeout:
                    return None
                continue
            self._outstanding.remove(answer)
            return answer

    def _pause(self, seconds: float) -> None:
        """Wait for a rate slot with the limiter's clock, in steps that notice Ctrl-C."""
        while seconds > 0 and not self.stop.is_set():
            if self._abandon:
                raise Abandon
            step = min(seconds, 0.2)
            self.limiter.sleep(step)
            seconds -= step

    def _journal(self, answered: list[Dispatch], fresh: list[Dispatch]) -> None:
        """One history transaction: answers, rows of requests never sent, rows of new jobs."""
        for dispatch in answered:
            if dispatch.error is not None and self._error is None:
                self._error = dispatch.error
                self.stop.set()
        started = [self.attempt(d.job, t) for d in fresh for t in d.targets]
        ids = self.history.record(
            finished=[
                (row, result)
                for d in answered
                if d.sent and d.error is None
                for row, result in zip(d.rows, d.results, strict=True)
            ],
            abandoned=[row for d in answered if not d.sent for row in d.rows],
            started=started,
        )
        position = 0
        for dispatch in fresh:
            dispatch.rows = ids[position : position + len(dispatch.targets)]
            position += len(dispatch.targets)

    def _report(self, answered: list[Dispatch], known: list[SendResult]) -> None:
        results = known + [r for d in answered if d.sent and d.error is None for r in d.results]
        counts = self.outcome.counts
        for r in results:
            counts["total"] += 1
            counts["accepted" if r.status.is_success else "failed"] += 1
            if not r.status.is_success:
                code = int((r.error or {}).get("exit_code", 7))
                self.outcome.failure_codes[code] = self.outcome.failure_codes.get(code, 0) + 1
            if self.keep_results:
                self.outcome.results.append(r)
            if not self.output_closed:
                try:
                    self.on_result(r)
                except OSError:
                    # stdout's reader went away (`| head`), or the disk is full: stop as for
                    # Ctrl-C; what is in flight still finishes and is recorded.
                    self.output_closed = True
                    self.outcome.interrupted = True
                    self.stop.set()
        if results and self.progress is not None:
            self.progress(len(results))

    def _drop_unstarted(self) -> list[Dispatch]:
        """Leaving at once (a second Ctrl-C): answers already in are recorded (and returned,
        to be shown), rows of jobs no thread has started are deleted (nothing was sent);
        requests still in flight keep their ``unknown`` rows and stay in ``_outstanding``."""
        with self._gate:
            self.stop.set()  # no thread starts a job after this
        settled, self._answered = self._answered, []
        with contextlib.suppress(queue.Empty):
            while True:
                self._todo.get_nowait()  # unstarted ones are in _outstanding (sent False)
        with contextlib.suppress(queue.Empty):
            while True:
                settled.append(self._done.get_nowait())
        for dispatch in settled:
            if dispatch in self._outstanding:
                self._outstanding.remove(dispatch)
        unstarted = [d for d in self._outstanding if not d.sent]
        for dispatch in unstarted:
            self._outstanding.remove(dispatch)
        with contextlib.suppress(SmscliError):
            self._journal([*settled, *unstarted], [])
        return settled

    def _catch_signals(self) -> Callable[[], None]:
        """Ctrl-C (SIGINT) and SIGTERM set flags instead of raising wherever the main thread
        is (it could be in the middle of a history transaction): the first stops handing out
        jobs, the second makes the next wait raise Abandon, the third raises
        KeyboardInterrupt. Only in the main thread, and only over the default handlers (an
        embedding program's own handlers are left alone)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        saved: dict[signal.Signals, Any] = {}
        for which, default in ((signal.SIGINT, signal.default_int_handler),
                               (signal.SIGTERM, signal.SIG_DFL)):  # fmt: skip
            if signal.getsignal(which) is default:
                saved[which] = default

        def on_signal(signum: int, frame: Any) -> None:
            self._signals += 1
            if self._signals >= 3:
                raise KeyboardInterrupt
            if self._signals == 2:
                self._abandon = True
            self.outcome.interrupted = True
            self.stop.set()

        for which in saved:
            signal.signal(which, on_signal)

        def restore() -> None:
            for which, handler in saved.items():
                signal.signal(which, handler)

        return restore


def invalid_result(provider: str, profile: str | None, raw: str, err: SmscliError) -> SendResult:
    from smscli.models import Status

    return SendResult(
        provider=provider,
        profile=profile,
        target=raw,
        status=Status.FAILED,
        error={"code": err.code, "message": err.message, "exit_code": int(err.exit_code)},
        details={"skipped": "invalid"},
    )


def describe(info: ProviderInfo, total: int) -> str:
    return f"{total} target(s) via {info.slug}"
