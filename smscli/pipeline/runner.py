"""Running the jobs of a send: the rate limiter and the Runner (send threads, the history
rounds, Ctrl-C/SIGTERM).

A run of one job (a single target, or every target in one ThingSpace request) is sent from
the calling thread, with the same history and reporting order: no thread is started.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from smscli.errors import SmscliError
from smscli.models import SendResult, Status, Target

if TYPE_CHECKING:
    from smscli.bulk import Job
    from smscli.history import Attempt, Deduped, History, Taken


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


class Triage(NamedTuple):
    """What to do with a job's targets before anything is sent (see Runner.triage)."""

    send: list[Target]
    known: Sequence[SendResult] = ()  # RESULTs of an earlier run
    skipped: int = 0  # accepted in the batch being resumed


_KNOWN_PER_ROUND = 500  # RESULTs of earlier runs (a resume) reported per round, at most


def _never_taken(job: Job, target: Target, held: Taken | Deduped) -> SendResult:
    raise AssertionError("an attempt claimed an idempotency key without a `taken` handler")


class Abandon(BaseException):
    """The second Ctrl-C: stop waiting for the requests in flight (raised at a safe point,
    or, in an inline run, from the request itself). A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way maps it to an error."""


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
    ``concurrency``): that is all a killed process can leave ``unknown``. ``max_targets``
    bounds the targets of the jobs in flight too (a job of more is handed out alone), so
    that an API taking thousands of targets per request keeps memory flat.

    ``inline``: a run of one job is sent from the calling thread (no thread is started),
    in the same order: its row is written, then it is sent, then recorded and reported.

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
        max_targets: int | None = None,
        inline: bool = False,
        on_stop: Callable[[], None] = lambda: None,
        taken: Callable[[Job, Target, Taken | Deduped], SendResult] | None = None,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.send = send
        self.say = say  # a line for the user at once (a first Ctrl-C: what it waits for)
        # A target whose idempotency key another run holds, or that the dedupe window holds
        # back: its RESULT, without sending.
        self.taken = taken or _never_taken
        self.on_stop = on_stop  # the first signal: end exchanges stuck in flight (cancel)
        self.history = history
        self.attempt = attempt
        self.triage = triage
        self.weight = weight
        self.concurrency = max(1, concurrency)
        self.limiter = limiter
        self.on_result = on_result
        self.keep_results = keep_results
        self.progress = progress
        self.max_targets = max_targets
        self.inline = inline
        self.stop = threading.Event()
        self.outcome = Outcome([], {"total": 0, "accepted": 0, "failed": 0, "skipped": 0})
        self.output_closed = False
        self.output_error: OSError | None = None  # why on_result could not report
        self.handed_out = 0  # targets handed to the send threads so far
        self._todo: queue.SimpleQueue[Dispatch | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Dispatch] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._outstanding: list[Dispatch] = []  # handed out and not yet collected
        self._answered: list[Dispatch] = []  # collected and not yet recorded
        self._next: Dispatch | None = None  # triaged, waiting for its rate slot
        self._signals = 0
        self._unsaid: str | None = None  # a line the signal handler could not print
        self._abandon = False
        self._sending_inline = False  # the calling thread is in a request (``inline``)
        self._gate = threading.Lock()

    # -- the send threads ------------------------------------------------------------------
    def _worker(self) -> None:
        while (dispatch := self._todo.get()) is not None:
            self._serve(dispatch)

    def _serve(self, dispatch: Dispatch) -> None:
        """Send one job (in a send thread, or inline) and hand its answer to the rounds."""
        try:
            with self._gate:  # against _drop_unstarted(): stopped, or marked sent, not both
                go = not self.stop.is_set()
                dispatch.sent = go  # from here on it may have reached the provider
            if go:
                self._sending_inline = self.inline
                try:
                    dispatch.results = self.send(dispatch.job, dispatch.targets)
                finally:
                    self._sending_inline = False
        except BaseException as exc:  # a bug: stop the run, report it from the main thread
            if self.inline and isinstance(exc, Abandon | KeyboardInterrupt):
                raise  # Ctrl-C while this thread sends: the run's own handling (run())
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
                    if not self._room_for(self._next, fresh):
                        break  # wait for an answer: targets in flight are bounded
                    due_in = self.limiter.reserve(self.weight(self._next.job))
                    if due_in > 0:
                        break  # not yet: the rows of a job are written when it can start
                    fresh.append(self._next)
                    self._next = None
            answered = self._answered
            lost = self._journal(answered, fresh)
            self._answered = []  # recorded
            if lost:
                known += [self.taken(d.job, target, held) for d, target, held in lost]
                fresh = [d for d in fresh if d.targets]
            if not self.inline:
                for dispatch in fresh:
                    self._todo.put(dispatch)
            self._outstanding += fresh
            self.handed_out += sum(len(d.targets) for d in fresh)
            if fresh:
                first = False
                if self.inline:
                    for dispatch in fresh:
                        self._serve(dispatch)
                else:
                    self._start_threads(min(self.concurrency, len(self._outstanding)))
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

    def _room_for(self, dispatch: Dispatch, fresh: list[Dispatch]) -> bool:
        """Whether ``dispatch`` may go out now under ``max_targets`` (alone, it always may)."""
        if self.max_targets is None:
            return True
        busy = [*self._outstanding, *fresh]
        in_flight = sum(len(d.targets) for d in busy)
        return not busy or in_flight + len(dispatch.targets) <= self.max_targets

    def _next_answer(self, timeout: float | None) -> Dispatch | None:
        """The next answer from a send thread (None after ``timeout`` seconds). Raises
        Abandon after a second Ctrl-C: this is where the main thread waits."""
        waited = 0.0
        while True:
            if self._abandon:
                raise Abandon
            self._say_unsaid()
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

    def _journal(
        self, answered: list[Dispatch], fresh: list[Dispatch]
    ) -> list[tuple[Dispatch, Target, Taken | Deduped]]:
        """One history transaction: answers, rows of requests never sent, rows of new jobs.
        Returns the targets of new jobs that another run claimed first (their idempotency
        key is held) or that the dedupe window holds back (recorded as ``deduped``): they
        are taken out of their jobs and not sent."""
        from smscli.history import Deduped, Taken

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
        lost: list[tuple[Dispatch, Target, Taken | Deduped]] = []
        for dispatch in fresh:
            rows = ids[position : position + len(dispatch.targets)]
            position += len(dispatch.targets)
            pairs = list(zip(dispatch.targets, rows, strict=True))
            lost += [(dispatch, t, r) for t, r in pairs if isinstance(r, Taken | Deduped)]
            kept = [(t, r) for t, r in pairs if not isinstance(r, Taken | Deduped)]
            dispatch.targets = [t for t, _ in kept]
            dispatch.rows = [r for _, r in kept]
        return lost

    def _report(self, answered: list[Dispatch], known: list[SendResult]) -> None:
        results = known + [r for d in answered if d.sent and d.error is None for r in d.results]
        counts = self.outcome.counts
        for r in results:
            counts["total"] += 1
            if r.status is Status.DEDUPED:  # not sent on purpose: neither accepted nor failed
                counts["skipped"] += 1
            else:
                counts["accepted" if r.status.is_success else "failed"] += 1
            if not r.status.is_success and r.status is not Status.DEDUPED:
                code = int((r.error or {}).get("exit_code", 7))
                self.outcome.failure_codes[code] = self.outcome.failure_codes.get(code, 0) + 1
            if self.keep_results:
                self.outcome.results.append(r)
            if not self.output_closed:
                try:
                    self.on_result(r)
                except OSError as exc:
                    # stdout's reader went away (`| head`), or the disk is full: stop as for
                    # Ctrl-C; what is in flight still finishes and is recorded.
                    self.output_closed = True
                    self.output_error = exc
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

    def _stopping(self) -> None:
        """The first signal: say at once what the run now waits for (the requests in flight
        end within http_client.CANCEL_GRACE and a read slice, or at a second Ctrl-C)."""
        in_flight = sum(1 for d in self._outstanding if d.sent)
        if in_flight:
            self._unsaid = (
                f"stopping: waiting for {in_flight} request(s) in flight "
                "(Ctrl-C again to stop waiting)"
            )
            self._say_unsaid()

    def _say_unsaid(self) -> None:
        """Print the line the signal handler left. From the handler itself it can fail: the
        main thread may have been writing to stderr (a reentrant write raises); then the
        main thread's wait loop prints it within a step."""
        line = self._unsaid
        if line is None:
            return
        try:
            self.say(line)
        except RuntimeError:
            return  # tried again from the wait loop
        except OSError:
            pass  # stderr is gone: nobody to tell
        self._unsaid = None

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
            self.outcome.interrupted = True
            self.stop.set()
            self.on_stop()
            if self._signals == 1:
                self._stopping()
            if self._signals == 2:
                self._abandon = True
                if self._sending_inline:
                    raise Abandon  # stop waiting for the request this thread is making

        for which in saved:
            signal.signal(which, on_signal)

        def restore() -> None:
            for which, handler in saved.items():
                signal.signal(which, handler)

        return restore
