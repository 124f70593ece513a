"""Many targets: a streamed row source, the check-everything-first pass, a rate limiter and
the concurrent fan-out with Ctrl-C handling.

Two passes over the targets keep memory flat for a 100,000-line ``--to-file``: the first
checks every target and every rendered message (nothing is sent if one is bad, unless
``--skip-invalid``), the second builds the same jobs again and sends them. Stdin is spooled
to a temporary file so that it can be read twice.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import string
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from smscli.errors import InputError, SmscliError, UsageError
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
        self._spool: IO[str] | None = None
        if to_file == "-":
            # Stdin can be read once: keep a copy on disk (not in memory) for the second pass.
            self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
            for line in sys.stdin:
                self._spool.write(line)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def _lines(self) -> Iterator[str]:
        if self._spool is not None:
            self._spool.seek(0)
            yield from self._spool
            return
        assert self.to_file is not None
        try:
            with open(self.to_file, encoding="utf-8-sig") as fh:
                yield from fh
        except UnicodeDecodeError:
            raise InputError(
                f"--to-file {self.to_file} is not UTF-8 text", code="bad_file"
            ) from None
        except OSError as exc:
            raise InputError(
                f"cannot read --to-file {self.to_file}: {exc.strerror}", code="bad_file"
            ) from None

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
        if self._db is None:
            import sqlite3

            # "": a temporary on-disk database, deleted on close (SQLite's own rule).
            self._db = sqlite3.connect("", isolation_level=None)
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY) WITHOUT ROWID")
            self._db.execute("BEGIN")  # never committed: it is thrown away
        cursor = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (key,))
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

    def acquire(self, weight: int = 1) -> None:
        """Wait for a start slot worth ``weight`` requests."""
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval * max(1, weight)
        if start > now:
            self.sleep(start - now)


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


@dataclass(slots=True)
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


class Runner:
    """Sends jobs from ``concurrency`` threads, recording each target in the history.

    The main thread is the only one that writes the history and the output. It works in
    rounds: it waits for answers, then in ONE transaction records them, drops the rows of
    requests that never went out and writes the rows of the next jobs, and only then hands
    those jobs to the send threads and prints the answers. So every row is written before its
    request goes out, every printed RESULT is already in the history, and a commit is shared
    by a round of targets instead of paid twice per target. At most ``2 × concurrency`` jobs
    are handed out and not yet recorded: memory stays flat, and a killed process leaves at
    most that many targets ``unknown``.

    Ctrl-C (in the main thread) stops handing out jobs; jobs not yet started are dropped,
    requests in flight finish and are recorded, and ``outcome.interrupted`` is set. A second
    Ctrl-C stops waiting for them.
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
        self._todo: queue.SimpleQueue[Dispatch | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Dispatch] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._outstanding = 0  # handed to the send threads and not yet collected
        self.output_closed = False
        self._answered: list[Dispatch] = []  # collected and not yet recorded

    # -- the send threads ------------------------------------------------------------------
    def _worker(self) -> None:
        while (dispatch := self._todo.get()) is not None:
            try:
                if not self.stop.is_set():
                    self.limiter.acquire(self.weight(dispatch.job))
                    if not self.stop.is_set():
                        dispatch.sent = True  # from here on it may have reached the provider
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
        restore = self._catch_ctrl_c()
        try:
            self._rounds(jobs)
        except KeyboardInterrupt:  # the second Ctrl-C: stop waiting
            self.stop.set()
            self._drop_unstarted()
            raise
        except BaseException:
            # An error in the main thread (an idempotency key with an unknown outcome, the
            # history, a closed stdout): nothing new starts; what is in flight finishes and
            # is recorded (not printed); then the error is raised.
            self.stop.set()
            self._settle()
            raise
        finally:
            restore()
            for _ in self._threads:
                self._todo.put(None)
        if self._error is not None:
            raise self._error
        return self.outcome

    def _settle(self) -> None:
        answered, self._answered = self._answered, []
        while self._outstanding > 0:
            answered.append(self._next_answer())
            self._outstanding -= 1
        with contextlib.suppress(SmscliError):  # the history itself may be what failed
            self._journal(answered, [])

    def _rounds(self, jobs: Iterator[Job]) -> None:
        window = 2 * self.concurrency
        known: list[SendResult] = []
        exhausted = False
        first = True
        while True:
            fresh: list[Dispatch] = []
            if not self.stop.is_set() and not exhausted:
                # The first job goes alone: a provider that logs in does so once, and the
                # others reuse its token instead of all logging in at the same time.
                room = 1 if first else window - self._outstanding
                while len(fresh) < room:
                    job = next(jobs, None)
                    if job is None:
                        exhausted = True
                        break
                    triage = self.triage(job)
                    known += triage.known
                    self.outcome.counts["skipped"] += triage.skipped
                    self.outcome.counts["total"] += triage.skipped
                    if triage.send:
                        fresh.append(Dispatch(job, triage.send))
            answered = self._answered
            self._journal(answered, fresh)
            self._answered = []  # recorded
            for dispatch in fresh:
                self._todo.put(dispatch)
            self._outstanding += len(fresh)
            if fresh:
                self._start_threads(min(self.concurrency, self._outstanding))
                first = False
            self._report(answered, known)
            known = []
            if self._outstanding == 0 and (exhausted or self.stop.is_set()):
                return
            # Collect answers until the window is half empty (a round shares one commit);
            # never sit on an answer for long when they come slowly (a rate limit).
            more_to_hand_out = not exhausted and not self.stop.is_set()
            keep = self.concurrency if more_to_hand_out and not first else 0
            self._collect(self._next_answer())
            while self._outstanding > keep:
                try:
                    self._collect(self._done.get(timeout=0.05))
                except queue.Empty:
                    break

    def _collect(self, dispatch: Dispatch) -> None:
        self._answered.append(dispatch)
        self._outstanding -= 1

    def _next_answer(self) -> Dispatch:
        while True:
            try:
                return self._done.get(timeout=0.5)
            except queue.Empty:
                continue

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
                except BrokenPipeError:
                    # stdout's reader went away (`| head`): stop as for Ctrl-C; what is in
                    # flight still finishes and is recorded.
                    self.output_closed = True
                    self.outcome.interrupted = True
                    self.stop.set()
        if results and self.progress is not None:
            self.progress(len(results))

    def _drop_unstarted(self) -> None:
        """Leaving at once (a second Ctrl-C): answers already in are recorded, rows of jobs
        no thread has started are deleted (nothing was sent); requests still in flight keep
        their ``unknown`` rows."""
        settled, self._answered = self._answered, []
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._todo.get_nowait()
                if item is not None:
                    settled.append(item)  # never started: sent is False
        with contextlib.suppress(queue.Empty):
            while True:
                settled.append(self._done.get_nowait())
        with contextlib.suppress(SmscliError):
            self._journal(settled, [])

    def _catch_ctrl_c(self) -> Callable[[], None]:
        """The first Ctrl-C sets ``stop`` instead of raising wherever the main thread is
        (it could be in the middle of a history transaction); the second one raises."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return lambda: None  # someone else's handler (an embedding program): leave it

        def on_sigint(signum: int, frame: Any) -> None:
            if self.outcome.interrupted:
                raise KeyboardInterrupt
            self.outcome.interrupted = True
            self.stop.set()

        signal.signal(signal.SIGINT, on_sigint)

        def restore() -> None:
            signal.signal(signal.SIGINT, previous)

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
