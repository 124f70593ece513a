"""Many targets: a streamed row source, the check-everything-first pass, a rate limiter and
the concurrent fan-out with Ctrl-C handling.

Two passes over the targets keep memory flat for a 100,000-line ``--to-file``: the first
checks every target and every rendered message (nothing is sent if one is bad, unless
``--skip-invalid``), the second builds the same jobs again and sends them. Stdin is spooled
to a temporary file so that it can be read twice.
"""

from __future__ import annotations

import string
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from smscli.errors import InputError, SmscliError, UsageError
from smscli.models import Message, SendResult, Target

if TYPE_CHECKING:
    from smscli.catalog import ProviderInfo

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


class Runner:
    """Sends jobs with up to ``concurrency`` in flight, each recorded before and after."""

    def __init__(
        self,
        send_one: Callable[[Job], list[SendResult]],
        *,
        weight: Callable[[Job], int] = lambda job: 1,
        concurrency: int,
        limiter: RateLimiter,
        on_result: Callable[[SendResult], None],
        keep_results: bool,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.send_one = send_one
        self.weight = weight
        self.concurrency = max(1, concurrency)
        self.limiter = limiter
        self.on_result = on_result
        self.keep_results = keep_results
        self.progress = progress
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.outcome = Outcome([], {"total": 0, "accepted": 0, "failed": 0, "skipped": 0})

    def _record(self, results: list[SendResult]) -> None:
        with self._lock:
            for r in results:
                self.outcome.counts["total"] += 1
                self.outcome.counts["accepted" if r.status.is_success else "failed"] += 1
                if not r.status.is_success:
                    code = int((r.error or {}).get("exit_code", 7))
                    self.outcome.failure_codes[code] = self.outcome.failure_codes.get(code, 0) + 1
                if self.keep_results:
                    self.outcome.results.append(r)
                self.on_result(r)
            if self.progress is not None:
                self.progress(len(results))

    def _work(self, job: Job) -> None:
        if self.stop.is_set():
            return  # Ctrl-C: jobs not yet started stay unsent (and unrecorded)
        self.limiter.acquire(self.weight(job))
        if self.stop.is_set():
            return
        self._record(self.send_one(job))

    def run(self, jobs: Iterator[Job]) -> Outcome:
        """Run every job in worker threads; Ctrl-C stops new ones and lets in-flight ones
        finish and be recorded (the main thread only waits, so the signal never lands in the
        middle of a request)."""
        first = next(jobs, None)
        if first is None:
            return self.outcome
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="smscli-send")
        pending: set[Future[None]] = set()
        try:
            # The first job runs alone: a provider that logs in does so once, and the
            # others reuse its cached token instead of all logging in at the same time.
            pending.add(pool.submit(self._work, first))
            self._drain(pending)
            for job in jobs:
                if self.stop.is_set():
                    break
                # Bounded in flight: memory stays flat however many targets there are.
                while len(pending) >= self.concurrency * 2:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    _raise_errors(done)
                pending.add(pool.submit(self._work, job))
            self._drain(pending)
        except BaseException as exc:
            # Nothing new starts; what is in flight finishes and is recorded first.
            self.stop.set()
            wait(pending)
            if not isinstance(exc, KeyboardInterrupt):
                raise
            self.outcome.interrupted = True
        finally:
            pool.shutdown(wait=True)
        return self.outcome

    @staticmethod
    def _drain(pending: set[Future[None]]) -> None:
        while pending:
            done, _ = wait(pending, timeout=0.2)
            pending.difference_update(done)
            _raise_errors(done)


def _raise_errors(done: set[Future[None]]) -> None:
    """Per-target failures come back as RESULTs; an exception from a worker stops the run
    (an idempotency key with an unknown outcome, or a bug) and is raised here."""
    for future in done:
        exc = future.exception()
        if exc is not None:
            raise exc


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
