"""The one flow every sending command uses.

config → profile → provider metadata
→ message check, targets, option support, limits     (local: no I/O yet; exit 3/4)
→ --dry-run: print the requests the builders make, stop
→ per batch: history row written → provider.send() → history row updated
→ --wait: poll each accepted message until final
→ results rendered, one exit code
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smscli import config as config_mod
from smscli.catalog import ProviderInfo, limit_problems, supporting
from smscli.errors import (
    ConfigError,
    ExitCode,
    InputError,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    SmscliError,
    UsageError,
)
from smscli.message import build_check, read_body
from smscli.models import (
    Message,
    MessageCheck,
    Request,
    SendResult,
    Settings,
    Status,
    StatusReport,
    Target,
)
from smscli.output import Output
from smscli.timeparse import parse_duration, parse_when

if TYPE_CHECKING:
    from smscli.bulk import Job, Plan, RowSource
    from smscli.history import History
    from smscli.http_client import HttpSession
    from smscli.providers.base import Provider

DEFAULT_WAIT = 300.0  # seconds, for a bare --wait
_ALNUM_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_NUMERIC_SENDER = re.compile(r"^\+?\d{3,15}$")


@dataclass
class Runtime:
    """What a command gets from outside: tests inject a transport and a clock here."""

    transport: Any = None  # httpx.BaseTransport; None = the network
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass
class SendOptions:
    """Everything a sending command was told, before any of it is checked."""

    provider: str | None = None
    profile: str | None = None
    config: str | None = None
    to: list[str] = field(default_factory=list)
    to_file: str | None = None
    text: str | None = None
    file: str | None = None
    hex: bool = False
    base64: bool = False
    encoding: str = "auto"
    smart: bool = False
    max_segments: int | None = None
    sender: str | None = None
    validity: str | None = None
    at: str | None = None
    ref: str | None = None
    idempotency_key: str | None = None
    force: bool = False
    wait: str | None = None
    dry_run: bool = False
    timeout: float | None = None
    verbose: bool = False
    history: bool = True
    yes: bool = False
    template: bool = False
    skip_invalid: bool = False
    concurrency: int = 4
    rate: float | None = None
    resume: str | None = None
    sandbox: bool = False
    base_url: str | None = None
    credentials: dict[str, str | None] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


# -- reading input -----------------------------------------------------------------------------
# -- local checks ------------------------------------------------------------------------------
def check_sender(sender: str) -> None:
    """E.164 number, short code, or alphanumeric (1–11 of A-Za-z0-9 and space, ≥ 1 letter)."""
    if sender == "":
        return  # blank: the provider picks (Fone Dynamics' leased sender)
    compact = re.sub(r"[\s\-().]", "", sender)
    if _NUMERIC_SENDER.match(compact) or _ALNUM_SENDER.match(sender):
        return
    if len(sender) > 11 and any(c.isalpha() for c in sender):
        reason = f"{len(sender)} characters; an alphanumeric sender has at most 11"
    elif not any(c.isalpha() for c in sender):
        reason = "not a phone number (3–15 digits, + optional)"
    else:
        reason = "an alphanumeric sender may use only A-Z, a-z, 0-9 and spaces"
    raise InputError(f"invalid --from {sender!r}: {reason}", code="invalid_sender")


def _unsupported(info: ProviderInfo, option: str, feature: str) -> InputError:
    others = [s for s in supporting(feature) if s != info.slug]
    return InputError(
        f"{info.slug} cannot honour {option}; providers that can: {', '.join(others) or 'none'}",
        code="unsupported_option",
    )


def build_message(
    opts: SendOptions,
    info: ProviderInfo,
    settings_sender: str | None,
    check: MessageCheck,
    now: datetime,
) -> Message:
    sender = opts.sender if opts.sender is not None else settings_sender
    if opts.sender is not None and not info.features.sender:
        raise _unsupported(info, "--from", "sender")
    if sender is not None and info.features.sender:
        check_sender(sender)
    elif not info.features.sender:
        sender = None  # a profile default sender does not apply to this provider
    at = None
    if opts.at is not None:
        if not info.features.at:
            raise _unsupported(info, "--at", "at")
        at = parse_when(opts.at, now)
    validity = None
    if opts.validity is not None:
        if not info.features.validity:
            raise _unsupported(info, "--validity", "validity")
        validity = int(parse_duration(opts.validity, "--validity"))
    if check.encoding.value == "binary" and not info.features.binary:
        raise _unsupported(info, "binary data (--hex/--base64/--encoding binary)", "binary")
    return Message(
        check=check,
        sender=sender,
        validity_seconds=validity,
        at=at,
        reference=opts.ref,
        extra=dict(opts.extra),
    )


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Prepared:
    info: ProviderInfo
    settings: Settings
    provider: Provider
    plan: Plan
    history: History
    wait: float | None
    source: RowSource


def prepare(opts: SendOptions, runtime: Runtime, out: Output, cfg: config_mod.Config) -> Prepared:
    """Every local check, in the order a user fixes things; no network I/O.

    Every target and every (rendered) message is checked before the first request.
    """
    from smscli.bulk import DistinctTargets, Job, Plan, RowSource, render, template_fields

    choice = config_mod.choose(cfg, opts.profile, opts.provider)
    info = choice.info
    if opts.to_file == "-" and opts.text is None and opts.file is None:
        raise UsageError("--to-file - reads targets from stdin: give the message as TEXT or --file")
    body = read_body(opts.text, opts.file)
    max_segments = opts.max_segments or config_mod.common(choice, "max_segments")
    profile_sender = config_mod.common(choice, "sender")
    profile_smart = config_mod.common(choice, "smart") is True
    now = datetime.fromtimestamp(runtime.clock(), UTC)

    def make_message(text: str) -> Message:
        check = build_check(
            text,
            encoding=opts.encoding,
            hex_input=opts.hex,
            base64_input=opts.base64,
            smart=opts.smart or profile_smart,
        )
        if check.units == 0:
            raise InputError("the message is empty; nothing to send", code="empty_message")
        problems = limit_problems(check, info, max_segments)
        if problems:
            raise problems[0]
        return build_message(opts, info, profile_sender, check, now)

    source = RowSource(opts.to, opts.to_file)
    base_message: Message | None = None
    if opts.template:
        fields = template_fields(body)
        columns = source.columns() or ["to"]
        missing = [f for f in fields if f not in columns]
        if missing:
            raise InputError(
                f"--template uses {', '.join('{' + m + '}' for m in missing)}, but the targets "
                f"have only these columns: {', '.join(columns)}",
                code="template_column_missing",
            )
    else:
        base_message = make_message(body)
        for r in base_message.check.replacements:
            out.info(f"--smart: replaced {r.char!r} ({r.codepoint}) with {r.replacement!r}")
    wait = None
    if opts.wait is not None:
        wait = DEFAULT_WAIT if opts.wait == "default" else parse_duration(opts.wait, "--wait")
        if not info.features.status:
            raise _unsupported(info, "--wait (delivery status)", "status")
    settings = config_mod.resolve_settings(
        choice, opts.credentials, base_url=opts.base_url, sandbox=opts.sandbox
    )
    check_timeout(opts.timeout)
    if opts.timeout is not None:
        settings = _replace(settings, timeout=opts.timeout)
    from smscli.providers import load
    from smscli.targets import parse_target

    provider = load(info)(settings)

    duplicates: set[int] = set()  # row numbers (memory grows with duplicates, not targets)

    def checked(
        report: bool,
    ) -> Iterator[tuple[int, str, Target | None, Message | None, SmscliError | None]]:
        """(row, raw, target, message, error) for every row, duplicates dropped. The first
        pass (report=True) finds the duplicates; the second skips the rows it found."""
        seen = DistinctTargets() if report else None
        try:
            for n, row in enumerate(source.rows(), 1):
                if n in duplicates:
                    continue
                raw = row["to"]
                try:
                    target, warnings = parse_target(raw, info.target_kinds)
                    if seen is not None and not seen.add(str(target)):
                        duplicates.add(n)
                        out.warn(f"target {n}: duplicate {target}; sent once")
                        continue
                    message = make_message(render(body, row)) if opts.template else base_message
                    assert message is not None
                    provider.check_message(message, [target])
                except SmscliError as err:
                    if not isinstance(err, InputError):
                        raise
                    err.message = f"target {n} ({raw}): {err.message}"
                    yield n, raw, None, None, err
                    continue
                if report:
                    for w in warnings:
                        out.warn(f"target {n}: {w}")
                yield n, raw, target, message, None
        finally:
            if seen is not None:
                seen.close()

    plan = Plan(total=0)
    invalid_rows: set[int] = set()
    for n, raw, _target, _message, err in checked(report=True):
        if err is not None:
            if not opts.skip_invalid:
                raise err
            plan.invalid.append(_invalid(info.slug, settings.profile, raw, err))
            invalid_rows.add(n)
        else:
            plan.total += 1
    if plan.total == 0 and not plan.invalid:
        implicit = provider.implicit_targets(base_message) if base_message else []
        if not implicit and opts.to_file is not None:
            raise InputError(f"--to-file {opts.to_file} has no targets", code="no_targets")
        if not implicit:
            raise UsageError("no target: give --to TARGET (or --to-file PATH)")
        assert base_message is not None
        provider.check_message(base_message, implicit)
        plan.total = 1
        plan.build = lambda: iter([Job(implicit, base_message, 1)])
    else:
        size = info.limits.max_targets_per_request if not opts.template else 1

        def build() -> Iterator[Job]:
            """The second pass: the same rows, checked again; one the first pass found
            valid and this one does not means the --to-file changed in between."""
            group: list[Target] = []
            sent = 0
            for n, raw, target, message, err in checked(report=False):
                if err is not None or target is None or message is None:
                    if n in invalid_rows:
                        continue  # --skip-invalid reported it already
                    raise InputError(
                        f"target {n} ({raw}) was valid when checked and is not now: "
                        f"--to-file {opts.to_file} changed while smscli was reading it",
                        code="file_changed",
                    )
                sent += 1
                if sent > plan.total:
                    raise InputError(
                        f"--to-file {opts.to_file} has more targets than when it was checked",
                        code="file_changed",
                    )
                if size == 1:
                    yield Job([target], message, n)
                    continue
                group.append(target)
                if len(group) >= size:
                    yield Job(group, message, n)
                    group = []
            if group:
                assert base_message is not None
                yield Job(group, base_message, 0)

        plan.build = build
    return Prepared(info, settings, provider, plan, open_history(cfg, opts), wait, source)


def _invalid(provider: str, profile: str | None, raw: str, err: SmscliError) -> SendResult:
    from smscli.bulk import invalid_result

    return invalid_result(provider, profile, raw, err)


def check_timeout(timeout: float | None) -> None:
    import math

    if timeout is not None and not (math.isfinite(timeout) and 0 < timeout <= 3600):
        raise UsageError(f"--timeout must be between 0.1 and 3600 seconds, not {timeout}")


def _replace(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def open_history(cfg: config_mod.Config, opts: SendOptions | None = None) -> History:
    from smscli import history

    enabled = cfg.history_enabled and (opts is None or opts.history)
    return history.History(history.default_path() if enabled else None, cfg.history_body)


def open_session(settings: Settings, runtime: Runtime, out: Output, verbose: bool) -> HttpSession:
    from smscli.http_client import HttpSession
    from smscli.tokens import TokenCache, default_path

    return HttpSession(
        tokens=TokenCache(default_path(), clock=runtime.clock).for_key(settings.cache_key),
        redactor=out.redactor,
        timeout=settings.timeout,
        transport=runtime.transport,
        trace=out.trace if verbose else None,
        clock=runtime.clock,
        sleep=runtime.sleep,
    )


def run_send(opts: SendOptions, runtime: Runtime, out: Output) -> ExitCode:
    cfg = config_mod.load(config_mod.config_path(opts.config))
    for w in cfg.warnings:
        out.warn(w)
    if opts.sandbox:
        return _with_sandbox(opts, runtime, out, cfg)
    return _run(opts, runtime, out, cfg)


def _with_sandbox(
    opts: SendOptions, runtime: Runtime, out: Output, cfg: config_mod.Config
) -> ExitCode:
    """--sandbox: the emulator in-process on a free loopback port, for this one command."""
    from smscli.sandbox.server import Sandbox, SandboxServer

    info = config_mod.choose(cfg, opts.profile, opts.provider).info
    with SandboxServer(Sandbox(clock=runtime.clock)) as server:
        opts.base_url = f"{server.url}/{info.slug}"
        out.info(f"sandbox: {info.label} emulator at {opts.base_url} (nothing leaves this machine)")
        return _run(opts, runtime, out, cfg)


def _run(opts: SendOptions, runtime: Runtime, out: Output, cfg: config_mod.Config) -> ExitCode:
    prep = prepare(opts, runtime, out, cfg)
    try:
        for secret in prep.settings.secret_values():
            out.redactor.add(secret)
        if opts.dry_run:
            requests: list[Request] = []
            for job in prep.plan.build():
                for request in prep.provider.dry_run(job.message, job.targets):
                    # A login the real run makes once is shown once.
                    if request not in requests:
                        requests.append(request)
            out.dry_run(requests)
            return ExitCode.OK
        from smscli.bulk import confirm

        confirm(prep.plan.total, opts.yes, out)
        with open_session(prep.settings, runtime, out, opts.verbose) as session:
            outcome = send_all(prep, session, out, opts)
            results = outcome.results
            if prep.wait is not None and not outcome.interrupted:
                try:
                    results = wait_all(prep, session, results, prep.wait, runtime, out)
                except KeyboardInterrupt:
                    outcome.interrupted = True  # the messages went out: show them
                outcome.counts = _counts(results, skipped=outcome.counts["skipped"])
        if outcome.interrupted:
            if out.stdout_error:
                out.info(f"stopped: {out.stdout_error}")
            # Dealt with: sent (or answered from an earlier run) and skipped by --resume.
            done = outcome.counts["total"] - len(prep.plan.invalid)
            not_sent = prep.plan.total - done - outcome.abandoned
            if outcome.abandoned:
                out.info(
                    f"{outcome.abandoned} target(s) were in flight when the wait was stopped: "
                    f"their outcome is unknown (smscli status --batch {outcome.batch})"
                )
            if not_sent > 0:
                out.info(f"{not_sent} target(s) were not sent")
        return finish(results, out, waited=prep.wait is not None, counts=outcome.counts,
                      interrupted=outcome.interrupted, batch=outcome.batch,
                      failure_codes=outcome.failure_codes)  # fmt: skip
    finally:
        prep.source.close()
        prep.history.close()


@dataclass
class SendOutcome:
    results: list[SendResult]
    counts: dict[str, int]
    batch: str
    interrupted: bool = False
    failure_codes: dict[int, int] = field(default_factory=dict)
    abandoned: int = 0  # in flight when a second Ctrl-C stopped the wait: outcome unknown


def send_all(prep: Prepared, session: HttpSession, out: Output, opts: SendOptions) -> SendOutcome:
    """Send every job: each target's history row is written before its request goes out."""
    import secrets

    from smscli.bulk import HUMAN_TABLE_LIMIT, RateLimiter, Runner, Triage
    from smscli.history import Attempt

    batch = opts.resume or secrets.token_hex(4)
    if opts.resume is not None:
        _check_resumable(prep, opts.resume)
    single = prep.plan.total == 1 and not prep.plan.invalid
    fatal: list[SmscliError] = []

    def triage(job: Job) -> Triage:
        """Main thread, before the job's rows are written: what an earlier run did."""
        send: list[Target] = []
        known: list[SendResult] = []
        skipped = 0
        for target in job.targets:
            previous = _previous(prep, opts, batch, target, out)
            if previous is None:
                send.append(target)
            elif isinstance(previous, str):  # "skip": accepted in the batch being resumed
                skipped += 1
            else:
                known.append(previous)
        return Triage(send, known, skipped)

    def attempt(job: Job, target: Target) -> Attempt:
        message = job.message
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
        )

    def send(job: Job, targets: list[Target]) -> list[SendResult]:
        """A send thread: the request(s), and every failure as a RESULT."""
        try:
            return prep.provider.send(session, job.message, targets)
        except SmscliError as err:
            if single or isinstance(err, LoginRefused | ConfigError):
                fatal.append(err)  # the same for every target: stop, and show it as the error
                runner.stop.set()
            return [_failed(prep, job.message, t, err) for t in targets]

    keep = out.mode == "json" or prep.wait is not None or prep.plan.total <= HUMAN_TABLE_LIMIT
    rate = opts.rate if opts.rate is not None else prep.settings.rate
    if rate is None:
        rate = prep.info.limits.default_rate
    progress = out.progress(prep.plan.total) if prep.plan.total > 1 else None
    runner = Runner(
        send,
        history=prep.history,
        attempt=attempt,
        triage=triage,
        weight=lambda job: prep.provider.request_count(job.message, job.targets),
        concurrency=opts.concurrency,
        limiter=RateLimiter(rate or None, clock=session.monotonic, sleep=session.sleep),
        on_result=out.result_streamed,
        keep_results=keep,
        progress=progress,
    )
    for r in prep.plan.invalid:
        out.result_streamed(r)
    try:
        outcome = runner.run(prep.plan.build())
    except SmscliError as err:
        if runner.handed_out:
            raise _stopped_after_sending(prep, err, runner.handed_out, batch) from None
        raise
    finally:
        out.progress_done()
    if fatal and not outcome.interrupted:
        if outcome.counts["accepted"]:
            # A refused re-login half-way: the run stopped after messages went out.
            raise _stopped_after_sending(prep, fatal[0], runner.handed_out, batch)
        raise fatal[0]
    counts = dict(outcome.counts)
    counts["skipped"] += len(prep.plan.invalid)
    counts["total"] += len(prep.plan.invalid)
    results = [*prep.plan.invalid, *outcome.results] if keep else outcome.results
    codes = dict(outcome.failure_codes)
    if prep.plan.invalid:
        codes[int(ExitCode.INVALID)] = codes.get(int(ExitCode.INVALID), 0) + len(prep.plan.invalid)
    return SendOutcome(results, counts, batch, outcome.interrupted, codes, outcome.abandoned)


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


def _check_resumable(prep: Prepared, batch: str) -> None:
    rows = prep.history.query(batch=batch, limit=1)
    if not rows:
        raise InputError(f"no batch {batch!r} in the history", code="unknown_batch")
    row = rows[0]
    if row["provider"] != prep.info.slug or row["profile"] != prep.settings.profile:
        was = row["provider"] + (f" (profile {row['profile']})" if row["profile"] else "")
        raise InputError(
            f"batch {batch} was sent with {was}; resume it with the same command",
            code="resume_mismatch",
        )


def _sent_to_a_temporary_sandbox(record: Mapping[str, Any]) -> bool:
    url = str(record.get("base_url") or "")
    return record.get("profile") is None and url.startswith(
        ("http://127.0.0.1:", "http://localhost:")
    )


def _counts(results: Sequence[SendResult], *, skipped: int) -> dict[str, int]:
    accepted = sum(1 for r in results if r.status.is_success)
    total = len(results) + skipped
    return {"total": total, "accepted": accepted, "failed": len(results) - accepted,
            "skipped": skipped}  # fmt: skip


def _previous(
    prep: Prepared, opts: SendOptions, batch: str, target: Target, out: Output
) -> SendResult | str | None:
    """What an earlier run already did for this target: a RESULT to report again, "skip",
    or None (send it)."""
    if opts.resume is not None:
        row = prep.history.in_batch(batch, str(target))
        if row is not None:
            if Status(row["status"]).is_success:
                return "skip"
            if row["status"] == Status.UNKNOWN.value and not opts.force:
                return prep.provider.result(
                    target,
                    Status.UNKNOWN,
                    _placeholder_message(prep, row),
                    error={
                        "code": "resume_unknown",
                        "message": f"history #{row['id']}: outcome unknown; not sent again "
                        "(check `smscli status`, or --force)",
                        "exit_code": int(ExitCode.UNKNOWN),
                    },
                )
    try:
        previous = _idempotent(prep, opts, target)
    except OutcomeUnknown as err:
        if prep.plan.total == 1 and not prep.plan.invalid:
            raise  # one target: the error is the answer
        # Many targets: this one is reported (as --resume does), the others go on.
        return prep.provider.result(
            target,
            Status.UNKNOWN,
            _placeholder_message(prep, {}),
            error={"code": err.code, "message": err.message, "exit_code": int(err.exit_code)},
        )
    if previous is not None:
        out.info(
            f"{target}: already accepted under --idempotency-key {opts.idempotency_key!r}; "
            "not sent again (the earlier result is shown)"
        )
    return previous


def _placeholder_message(prep: Prepared, row: dict[str, Any]) -> Message:
    from smscli.encoding import analyze

    return Message(check=analyze(""), reference=row.get("reference"))


def _idempotent(prep: Prepared, opts: SendOptions, target: Target) -> SendResult | None:
    if opts.idempotency_key is None:
        return None
    from smscli.history import row_to_result

    row = prep.history.by_key(opts.idempotency_key, str(target))
    if row is None:
        return None
    status = row["status"]
    if status == Status.UNKNOWN.value and not opts.force:
        raise OutcomeUnknown(
            f"{target}: an earlier send under idempotency key {opts.idempotency_key!r} has an "
            "unknown outcome (history #{})".format(row["id"]),
            hint="check `smscli status #{}`; --force sends anyway".format(row["id"]),
            code="idempotency_unknown",
        )
    if Status(status).is_success:
        return row_to_result(row)
    return None  # refused or failed before: sending again is what the user wants


def _failed(prep: Prepared, message: Message, target: Target, err: SmscliError) -> SendResult:
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


def wait_all(
    prep: Prepared,
    session: HttpSession,
    results: list[SendResult],
    timeout: float,
    runtime: Runtime,
    out: Output,
) -> list[SendResult]:
    """Poll each accepted message until a final status or the deadline."""
    deadline = runtime.clock() + timeout
    pending = [r for r in results if r.status.is_success and not r.status.is_final]
    interval = 1.0
    while pending and runtime.clock() < deadline:
        runtime.sleep(min(interval, max(0.0, deadline - runtime.clock())))
        interval = min(interval * 1.5, 15.0)  # polite: back off while nothing changes
        for r in list(pending):
            report = prep.provider.status(session, _record(r))
            apply_report(r, report)
            if report.status.is_final:
                pending.remove(r)
                row = prep.history.find(r.message_id or r.request_id or "")
                if row is not None:
                    prep.history.set_status(row["id"], report.status, r.details)
    return results


def apply_report(result: SendResult, report: StatusReport) -> None:
    """What a status lookup found, onto the RESULT shown to the user."""
    # An "unknown" answer does not undo an acceptance the history already knows about.
    if report.status is not Status.UNKNOWN or not result.status.is_success:
        result.status = report.status
    if report.provider_status:
        result.details["provider_status"] = report.provider_status
    if report.date:
        result.details["status_date"] = report.date
    if report.error:
        result.error = report.error


def _record(r: SendResult) -> dict[str, Any]:
    data = r.to_json()
    data["details"] = dict(r.details)
    return data


def finish(
    results: Sequence[SendResult],
    out: Output,
    *,
    waited: bool,
    counts: dict[str, int] | None = None,
    interrupted: bool = False,
    batch: str | None = None,
    failure_codes: Mapping[int, int] | None = None,
) -> ExitCode:
    summary = counts or {
        "total": len(results),
        "accepted": sum(1 for r in results if r.status.is_success),
        "failed": sum(1 for r in results if not r.status.is_success),
        "skipped": 0,
    }
    out.results(results, summary, batch=batch)
    if interrupted:
        out.info(f"interrupted: re-run the same command with --resume {batch} to send the rest")
        return ExitCode.INTERRUPTED
    if failure_codes is not None and len(results) < summary["total"]:
        # Results were not all kept (a large run): the same rules, from the counts.
        return exit_code_from_counts(summary["accepted"], failure_codes)
    return exit_code_of(results, waited=waited)


def exit_code_from_counts(accepted: int, failure_codes: Mapping[int, int]) -> ExitCode:
    failed = {code for code, n in failure_codes.items() if n}
    if not failed:
        return ExitCode.OK
    if accepted:
        return ExitCode.PARTIAL
    if len(failed) == 1:
        return ExitCode(failed.pop())
    return ExitCode.UNKNOWN if ExitCode.UNKNOWN in failed else ExitCode.PARTIAL


def exit_code_of(results: Sequence[SendResult], *, waited: bool = False) -> ExitCode:
    """One exit code for a run (SPEC §5)."""
    if not results:
        return ExitCode.OK
    if waited:
        delivered = sum(1 for r in results if r.status is Status.DELIVERED)
        if delivered == len(results):
            return ExitCode.OK
        if not delivered and all(r.status.is_final for r in results):
            return ExitCode.DELIVERY_FAILED
        if not delivered and not any(r.status.is_final for r in results):
            return ExitCode.WAIT_TIMEOUT
        return ExitCode.PARTIAL
    codes: dict[int, int] = {}
    for r in results:
        if not r.status.is_success:
            code = int((r.error or {}).get("exit_code", ExitCode.UNKNOWN))
            codes[code] = codes.get(code, 0) + 1
    # Nothing accepted for different reasons: an unknown outcome matters most.
    return exit_code_from_counts(sum(1 for r in results if r.status.is_success), codes)


# -- used by `status` --------------------------------------------------------------------------
def settings_for_record(
    record: Mapping[str, Any], cfg: config_mod.Config, credentials: Mapping[str, str | None]
) -> Settings:
    """Settings to query a message from the history: its profile, or its provider + env."""
    profile = record.get("profile")
    if profile and profile in cfg.profiles:
        choice = config_mod.choose(cfg, profile, None)
    else:
        choice = config_mod.choose(cfg, None, record["provider"])
    base_url = record.get("base_url") if not profile else None
    # A --sandbox emulator accepted any credentials; do not ask for real ones to reach it.
    sandbox = _sent_to_a_temporary_sandbox(record)
    return config_mod.resolve_settings(choice, credentials, base_url=base_url, sandbox=sandbox)


def run_status(
    ident: str | None,
    last: bool,
    wait: str | None,
    timeout: float | None,
    verbose: bool,
    config_path: str | None,
    runtime: Runtime,
    out: Output,
    batch: str | None = None,
    credentials: Mapping[str, str | None] | None = None,
) -> ExitCode:
    """`smscli status`: look messages up in the history, ask their provider, record it."""

    cfg = config_mod.load(config_mod.config_path(config_path))
    history = open_history(cfg)
    try:
        return _status(
            ident,
            last,
            wait,
            timeout,
            verbose,
            runtime,
            out,
            batch,
            credentials or {},
            cfg,
            history,
        )
    finally:
        history.close()


def _status(
    ident: str | None,
    last: bool,
    wait: str | None,
    timeout: float | None,
    verbose: bool,
    runtime: Runtime,
    out: Output,
    batch: str | None,
    credentials: Mapping[str, str | None],
    cfg: config_mod.Config,
    history: History,
) -> ExitCode:
    from smscli.catalog import get_info
    from smscli.history import row_to_result
    from smscli.providers import load

    if not history.enabled:
        raise ConfigError("`status` needs the history, and it is turned off", code="no_history")
    if sum((ident is not None, last, batch is not None)) != 1:
        raise UsageError("give a message id (or #N), --last, or --batch BATCH")
    if batch is not None:
        records = history.query(batch=batch, limit=1_000_000)
        if not records:
            raise InputError(f"no batch {batch!r} in the history", code="not_found")
    else:
        record = history.last() if last else history.find(ident or "")
        if record is None:
            what = "no sends in the history yet" if last else f"no message {ident!r} in the history"
            raise InputError(what, hint="`smscli log` lists what was sent", code="not_found")
        records = [record]
        if record["status"] == Status.UNKNOWN.value and not record["message_id"]:
            out.warn(
                f"history #{record['id']}: the send's outcome is unknown and the provider "
                "returned no id; asking anyway"
            )
    first = records[0]
    info = get_info(first["provider"])
    settings = settings_for_record(first, cfg, credentials)
    check_timeout(timeout)
    if timeout is not None:
        settings = _replace(settings, timeout=timeout)
    for secret in settings.secret_values():
        out.redactor.add(secret)
    provider = load(info)(settings)
    results = [row_to_result(r) for r in records]
    for record, result in zip(records, results, strict=True):
        result.details["history_id"] = record["id"]
    # A single message is always asked about; in a batch, only those the provider took.
    # Ask about messages the provider took (or may have: unknown); a refused or failed send
    # has nothing to look up, its recorded status is the answer.
    todo = [
        (rec, res)
        for rec, res in zip(records, results, strict=True)
        if (res.status.is_success and not res.status.is_final)
        or (batch is None and res.status is Status.UNKNOWN)
    ]
    deadline = None
    if wait is not None:
        deadline = runtime.clock() + (
            DEFAULT_WAIT if wait == "default" else parse_duration(wait, "--wait")
        )
    interval = 1.0
    with open_session(settings, runtime, out, verbose) as session:
        while todo:
            for record, result in list(todo):
                try:
                    report = provider.status(session, record)
                except ProviderUnavailable as err:
                    if _sent_to_a_temporary_sandbox(record):
                        raise ProviderUnavailable(
                            f"history #{record['id']} was sent to a --sandbox emulator that ran "
                            "only for that command; there is nothing to ask any more",
                            hint="to try status, run `smscli sandbox` and point a profile at it",
                            code="sandbox_gone",
                        ) from None
                    raise err
                apply_report(result, report)
                history.set_status(record["id"], result.status, result.details)
                if deadline is None or report.status.is_final:
                    todo.remove((record, result))
            if not todo or deadline is None or runtime.clock() >= deadline:
                break
            runtime.sleep(min(interval, max(0.0, deadline - runtime.clock())))
            interval = min(interval * 1.5, 15.0)  # polite: back off while nothing changes
    accepted = sum(1 for r in results if r.status.is_success)
    summary = {"total": len(results), "accepted": accepted, "failed": len(results) - accepted}
    summary["skipped"] = 0
    if out.mode == "quiet":
        for result in results:
            out.print(result.status.value)  # `status -q`: just the word, for scripts
    else:
        out.results(results, summary, batch=batch)
    if deadline is not None:
        return exit_code_of(results, waited=True)
    return ExitCode.OK
