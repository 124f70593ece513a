"""Running a prepared send: --dry-run, or history → provider → history through the bulk
Runner, then --wait, then the RESULTs and one exit code.

Ordering guarantees (README "Many targets"), kept by ``bulk.Runner``: each target's history
row is written before its request goes out, every RESULT reported is already in the
history, and at most ``concurrency`` requests are in flight (all a killed process can leave
``unknown``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smscli import config as config_mod
from smscli.errors import (
    ConfigError,
    ExitCode,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    SmscliError,
)
from smscli.models import Message, Request, SendResult, Status, StatusReport, Target
from smscli.pipeline import earlier
from smscli.pipeline.exits import exit_code_of_run, summary_of
from smscli.pipeline.prepare import Prepared, prepare
from smscli.pipeline.sessions import hide_secrets, open_session
from smscli.pipeline.waiting import Watched, as_record, poll
from smscli.report import stdout_failure

if TYPE_CHECKING:
    from smscli.bulk import Job
    from smscli.history import Attempt, Deduped, Taken
    from smscli.http_client import HttpSession
    from smscli.pipeline import Runtime, SendOptions
    from smscli.report import Reporter

# Requests in flight at once, at most, per CPU. Requests are I/O-bound, but every answer is
# parsed, recorded and printed by this one Python process: past a few per CPU, more threads
# only queue behind the interpreter (and every provider's documented rate is far lower).
CONCURRENCY_PER_CPU = 4
# Targets in flight at once, at most, for an API that takes many per request (ThingSpace:
# 10,000): one full request at a time keeps memory flat (a 200,000-target run once peaked
# at 93 MB with four 10,000-device requests in flight, their bodies and RESULTs in memory).
TARGETS_IN_FLIGHT = 10_000


def run(opts: SendOptions, runtime: Runtime, out: Reporter) -> ExitCode:
    """A sending command, from its options to its exit code."""
    cfg = config_mod.load(config_mod.config_path(opts.config))
    for w in cfg.warnings:
        out.warning(w)
    if opts.sandbox:
        return _with_sandbox(opts, runtime, out, cfg)
    return _run(opts, runtime, out, cfg)


def _with_sandbox(
    opts: SendOptions, runtime: Runtime, out: Reporter, cfg: config_mod.Config
) -> ExitCode:
    """--sandbox: the emulator in-process on a free loopback port, for this one command."""
    from smscli.sandbox.server import Sandbox, SandboxServer

    info = config_mod.choose(cfg, opts.profile, opts.provider).info
    with SandboxServer(Sandbox(clock=runtime.clock)) as server:
        opts = opts._replace(base_url=f"{server.url}/{info.slug}")
        out.note(f"sandbox: {info.label} emulator at {opts.base_url} (nothing leaves this machine)")
        return _run(opts, runtime, out, cfg)


def _run(opts: SendOptions, runtime: Runtime, out: Reporter, cfg: config_mod.Config) -> ExitCode:
    prep = prepare(opts, runtime, out, cfg)
    try:
        hide_secrets(prep.settings, out)
        if opts.dry_run:
            held = _dry_run_dedupe(prep, opts, out)
            out.dry_run_requests(dry_run_requests(prep, leave_out=held))
            return ExitCode.OK
        from smscli.bulk import confirm

        prep.history.require_writable()  # every row is written before its request goes out
        confirm(prep.plan.total, opts.yes)
        started = runtime.clock()
        with open_session(prep.settings, runtime, out, opts.verbose) as session:
            outcome = send_all(prep, session, out, opts)
            if prep.wait is not None and not outcome.interrupted:
                try:
                    wait_for_delivery(prep, session, outcome.results, runtime)
                except KeyboardInterrupt:
                    outcome.interrupted = True  # the messages went out: show them
                # (The invalid targets --skip-invalid left out are among the RESULTs.)
                resumed = outcome.counts["skipped"] - len(prep.plan.invalid)
                outcome.counts = summary_of(outcome.results, skipped=resumed, delivery=True)
            if prep.await_reply is not None and not outcome.interrupted:
                from smscli.pipeline.inbox import await_replies

                try:
                    await_replies(prep, session, outcome.results, runtime, started, out)
                except KeyboardInterrupt:
                    outcome.interrupted = True
        if outcome.interrupted:
            _explain_interruption(prep, outcome, out)
        code = finish(outcome, out, waited=prep.wait is not None)
        if prep.await_reply is not None and code is ExitCode.OK:
            missing = [r.target for r in outcome.results if r.reply == {}]
            if missing:
                out.warning(
                    f"no reply within --await-reply ({prep.await_reply:g} s) from "
                    + ", ".join(missing[:5])
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                )
                return ExitCode.WAIT_TIMEOUT
        return code
    finally:
        prep.source.close()
        prep.history.close()


def dry_run_requests(prep: Prepared, leave_out: Collection[Target] = ()) -> list[Request]:
    """The requests the builders make for every job, without the targets in
    ``leave_out`` (those the dedupe window holds back); a login the real run makes once is
    shown once."""
    requests: list[Request] = []
    for job in prep.plan.build():
        targets = [t for t in job.targets if t not in leave_out]
        if not targets:
            continue
        for request in prep.provider.dry_run(job.message, targets):
            if request not in requests:
                requests.append(request)
    return requests


def _dry_run_dedupe(prep: Prepared, opts: SendOptions, out: Reporter) -> set[Target]:
    """--dry-run with a dedupe window: the targets the window would hold back now (a row
    of the history holds their key, or an earlier target of this run has it), each noted."""
    held: set[Target] = set()
    if prep.dedupe is None or opts.force:
        return held
    from datetime import UTC, datetime

    since = prep.dedupe.since(datetime.now(UTC))
    first_in_run: dict[str, Target] = {}
    for job in prep.plan.build():
        for target, key in (job.keys or {}).items():
            row = prep.history.dedupe_holder(key, since)
            if row is not None:
                out.note(f"dry run: {_deduped_line(prep, target, row)}")
                held.add(target)
            elif key in first_in_run:
                out.note(
                    f"dry run: deduped: {target}: its --dedupe-key is that of {first_in_run[key]}"
                    " earlier in this run; not sent (--force sends)"
                )
                held.add(target)
            else:
                first_in_run[key] = target
    return held


def _deduped_line(prep: Prepared, target: Target, row: dict[str, Any]) -> str:
    """``deduped: … not sent again`` for a target the dedupe window holds back."""
    assert prep.dedupe is not None
    if prep.dedupe.same_text and row.get("target") == str(target):
        what = f"{target} was sent the same text at {row.get('created_at')} (#{row['id']})"
    else:
        what = (
            f"{target}: its --dedupe-key was sent at {row.get('created_at')} "
            f"(#{row['id']}, to {row.get('target')})"
        )
    return f"deduped: {what}; not sent again (within {prep.dedupe.source}; --force sends)"


def deduped_result(
    prep: Prepared, message: Message, target: Target, held: Deduped, out: Reporter
) -> SendResult:
    """The RESULT of a target the dedupe window held back (its ``deduped`` row is written)."""
    from smscli.history import deduped_details

    out.note(_deduped_line(prep, target, held.row))
    details = {**deduped_details(held.row), "history_id": held.row_id}
    return prep.provider.result(target, Status.DEDUPED, message, details=details)


def _explain_interruption(prep: Prepared, outcome: SendOutcome, out: Reporter) -> None:
    if outcome.stopped_by:
        out.note(f"stopped: {outcome.stopped_by}")
    # Dealt with: sent (or answered from an earlier run) and skipped by --resume.
    done = outcome.counts["total"] - len(prep.plan.invalid)
    outcome.not_sent = max(0, prep.plan.total - done - outcome.abandoned)
    if outcome.abandoned:
        out.note(
            f"{outcome.abandoned} target(s) were in flight when the wait was stopped: "
            f"their outcome is unknown (smscli status --batch {outcome.batch})"
        )
    if outcome.not_sent:
        out.note(f"{outcome.not_sent} target(s) were not sent")


def finish(outcome: SendOutcome, out: Reporter, *, waited: bool) -> ExitCode:
    """Report the RESULTs and the summary; the run's exit code."""
    out.results(outcome.results, outcome.counts, outcome.batch)
    if outcome.invalid:
        out.warning(
            f"{outcome.invalid} invalid target(s) skipped (--skip-invalid): nothing was sent "
            "to them; the exit code is that of the others"
        )
    if outcome.interrupted:
        if outcome.not_sent is None or outcome.not_sent > 0:
            out.note(
                f"interrupted: re-run the same command with --resume {outcome.batch} "
                "to send the rest"
            )
        else:  # every target went out (Ctrl-C during the last request, or during --wait)
            out.note(
                "interrupted: every target was sent, nothing is left to send "
                f"(smscli status --batch {outcome.batch} asks what became of them)"
            )
        return ExitCode.INTERRUPTED
    code = exit_code_of_run(
        outcome.results, outcome.counts, waited=waited, failure_codes=outcome.failure_codes
    )
    if code in (ExitCode.WAIT_TIMEOUT, ExitCode.DELIVERY_FAILED):
        out.warning(_undelivered(outcome.results, code, outcome.batch))
    return code


def _undelivered(results: Sequence[SendResult], code: ExitCode, batch: str | None) -> str:
    """Why a --wait run exits 8 or 10, in one line (the RESULTs hold the details)."""
    counts: dict[str, int] = {}
    for r in results:
        if r.status not in (Status.DELIVERED, Status.SKIPPED, Status.DEDUPED):  # never sent
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
    which = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    if code is ExitCode.WAIT_TIMEOUT:
        later = f" (check later: smscli status --batch {batch})" if batch else ""
        return f"no final delivery status before the --wait timeout: {which}{later}"
    return f"not delivered: {which}"


@dataclass
class SendOutcome:
    results: list[SendResult]
    counts: dict[str, int]
    batch: str
    interrupted: bool = False
    failure_codes: dict[int, int] = field(default_factory=dict)
    abandoned: int = 0  # in flight when a second Ctrl-C stopped the wait: outcome unknown
    stopped_by: str | None = None  # why the output could not be written, when it stopped
    not_sent: int | None = None  # interrupted: targets not sent (None: not counted)
    invalid: int = 0  # invalid targets --skip-invalid left out (``skipped`` RESULTs)


def capped_concurrency(requested: int, out: Reporter, cpus: int | None = None) -> int:
    """--concurrency, at most ``CONCURRENCY_PER_CPU`` per CPU (a lowered value is said)."""
    cpus = cpus or os.cpu_count() or 1
    cap = max(CONCURRENCY_PER_CPU, CONCURRENCY_PER_CPU * cpus)
    if requested <= cap:
        return requested
    out.warning(
        f"--concurrency {requested} lowered to {cap}: at most {CONCURRENCY_PER_CPU} requests "
        f"in flight per CPU ({cpus} here); more would wait for the CPU, not the provider"
    )
    return cap


def send_all(prep: Prepared, session: HttpSession, out: Reporter, opts: SendOptions) -> SendOutcome:
    """Send every job: each target's history row is written before its request goes out."""
    import secrets

    from smscli.pipeline.runner import RateLimiter, Runner, Triage

    batch = opts.resume or secrets.token_hex(4)
    if opts.resume is not None:
        earlier.check_resumable(prep, opts.resume)
    single = prep.plan.total == 1 and not prep.plan.invalid
    fatal: list[SmscliError] = []

    def triage(job: Job) -> Triage:
        """Main thread, before the job's rows are written: what an earlier run did."""
        send: list[Target] = []
        known: list[SendResult] = []
        skipped = 0
        for target in job.targets:
            previous = earlier.previous(prep, opts, batch, target, out)
            if previous is None:
                send.append(target)
            elif isinstance(previous, str):  # SKIP: accepted in the batch being resumed
                skipped += 1
            else:
                known.append(previous)
        return Triage(send, known, skipped)

    def attempt(job: Job, target: Target) -> Attempt:
        return _attempt(prep, opts, batch, job.message, target, job.keys)

    def taken(job: Job, target: Target, held: Taken | Deduped) -> SendResult:
        """Another run claimed this target's idempotency key first: its outcome, not ours.
        Or the dedupe window holds it back: a ``deduped`` RESULT (not a failure)."""
        from smscli.history import Deduped

        if isinstance(held, Deduped):
            return deduped_result(prep, job.message, target, held, out)
        return earlier.claimed_elsewhere(prep, opts, target, held.row, out, single=single)

    def send(job: Job, targets: list[Target]) -> list[SendResult]:
        """The request(s) of one job, and every failure as a RESULT (scrubbed of the run's
        secrets before the history or the output sees it)."""
        try:
            with session.conversation(prep.info.label):  # a reply parsers cannot read: 6/7
                results = prep.provider.send(session, job.message, targets)
        except SmscliError as err:
            if single or isinstance(err, LoginRefused | ConfigError):
                fatal.append(err)  # the same for every target: stop, and show it as the error
                runner.stop.set()
            results = [failed_result(prep, job.message, t, err) for t in targets]
        return [session.redactor.result(r) for r in results]

    keep = (
        prep.wait is not None or prep.await_reply is not None or out.wants_results(prep.plan.total)
    )
    rate = opts.rate if opts.rate is not None else prep.settings.rate
    if rate is None:
        rate = prep.info.limits.default_rate
    runner = Runner(
        send,
        history=prep.history,
        attempt=attempt,
        triage=triage,
        weight=lambda job: prep.provider.request_count(job.message, job.targets),
        concurrency=capped_concurrency(opts.concurrency, out),
        max_targets=TARGETS_IN_FLIGHT,
        inline=prep.plan.requests <= 1,
        limiter=RateLimiter(rate or None, clock=session.monotonic, sleep=session.sleep),
        on_result=out.result,
        keep_results=keep,
        progress=out.progress_advance,
        on_stop=session.cancel,
        taken=taken,
        say=out.note,
    )
    out.progress_start(prep.plan.total)
    for r in prep.plan.invalid:
        out.result(r)
    try:
        outcome = runner.run(prep.plan.build())
    except SmscliError as err:
        if runner.handed_out:
            raise _stopped_after_sending(prep, err, runner.handed_out, batch) from None
        raise
    finally:
        out.progress_stop()
    if fatal and not outcome.interrupted:
        if outcome.counts["accepted"]:
            # A refused re-login half-way: the run stopped after messages went out.
            raise _stopped_after_sending(prep, fatal[0], runner.handed_out, batch)
        raise fatal[0]
    counts = dict(outcome.counts)
    counts["skipped"] += len(prep.plan.invalid)
    counts["total"] += len(prep.plan.invalid)
    results = [*prep.plan.invalid, *outcome.results] if keep else outcome.results
    # The skipped invalid targets count in no failure: a run whose every other target was
    # accepted exits 0 (with a warning), not 9.
    stopped_by = stdout_failure(runner.output_error) if runner.output_error else None
    return SendOutcome(
        results,
        counts,
        batch,
        outcome.interrupted,
        dict(outcome.failure_codes),
        outcome.abandoned,
        stopped_by,
        invalid=len(prep.plan.invalid),
    )


def _attempt(
    prep: Prepared,
    opts: SendOptions,
    batch: str,
    message: Message,
    target: Target,
    job_keys: dict[Target, str] | None = None,
) -> Attempt:
    """What a target's history row records before its request goes out: with a dedupe
    window, its key (stored on every row, so later runs find it) and the window's start
    (not with --force: the key is stored, not checked)."""
    from smscli.history import Attempt

    key = job_keys.get(target) if job_keys else None
    since = None
    if key is not None and prep.dedupe is not None and not opts.force:
        from datetime import UTC, datetime

        since = prep.dedupe.since(datetime.now(UTC))
    return Attempt(
        provider=prep.info.slug,
        profile=prep.settings.profile,
        base_url=prep.settings.base_url,
        target=str(target),
        text=message.text,
        segments=message.check.segments,
        encoding=message.encoding.value,
        reference=message.reference,
        batch=batch,
        idempotency_key=opts.idempotency_key,
        claim=opts.idempotency_key is not None and not opts.force,
        dedupe_key=key,
        dedupe_since=since,
    )


def wait_for_delivery(
    prep: Prepared, session: HttpSession, results: Sequence[SendResult], runtime: Runtime
) -> None:
    """--wait: poll each accepted message until a final status or the deadline; a final
    status is recorded in the history."""
    assert prep.wait is not None

    def record(item: Watched, report: StatusReport) -> None:
        result = item.result
        if report.status.is_final:
            row = prep.history.find(result.message_id or result.request_id or "")
            if row is not None:
                prep.history.set_status(row["id"], report.status, result.details)

    def status_of(item: Watched) -> StatusReport:
        with session.conversation(prep.info.label):
            return session.redactor.report(prep.provider.status(session, item.record))

    open_ones = [r for r in results if r.status.is_success and not r.status.is_final]
    if prep.info.features.receipts_by_callback:
        # Delivery comes only by callback (ThingSpace): wait for the receipt `smscli listen`
        # records in the history, looking every second.
        from smscli.pipeline.receipts import HISTORY_POLL, recorded_report

        poll(
            [Watched(as_record(r), r) for r in open_ones],
            lambda item: recorded_report(prep.info, prep.history, item.record, waiting=True),
            runtime,
            deadline=runtime.clock() + prep.wait,
            pause_first=True,
            steady=HISTORY_POLL,
        )
        return
    poll(
        [Watched(as_record(r), r) for r in open_ones],
        status_of,
        runtime,
        deadline=runtime.clock() + prep.wait,
        pause_first=True,
        on_report=record,
    )


def failed_result(prep: Prepared, message: Message, target: Target, err: SmscliError) -> SendResult:
    """A send that failed, as its RESULT: unknown, rejected or failed, with the error."""
    if isinstance(err, OutcomeUnknown):
        status = Status.UNKNOWN
    elif isinstance(err, ProviderRefused):
        status = Status.REJECTED
    else:
        status = Status.FAILED
    return prep.provider.result(
        target,
        status,
        message,
        error={
            "code": err.code,
            "message": err.message,
            "provider_code": err.provider_code,
            "exit_code": int(err.exit_code),
        },
    )


def _stopped_after_sending(
    prep: Prepared, err: SmscliError, handed_out: int, batch: str
) -> OutcomeUnknown:
    """An error that stopped a run after messages went out (the history failing, the
    --to-file unreadable on the second pass): its own exit code (3, 4) would say "nothing
    was sent", and its hint might be "use --no-history" — re-running so would send again."""
    return OutcomeUnknown(
        f"{err.message} — the run stopped after {handed_out} target(s) were handed to "
        f"{prep.info.slug} (batch {batch})",
        hint=f"see `smscli log --batch {batch}`; once this is fixed, re-run the same command "
        f"with --resume {batch} (it skips what was accepted)",
        code=err.code,
        provider_code=err.provider_code,
    )
