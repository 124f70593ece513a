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
import sys
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
    SmscliError,
    UsageError,
)
from smscli.message import build_check, read_body
from smscli.models import Message, MessageCheck, SendResult, Settings, Status, Target
from smscli.output import Output
from smscli.redaction import Redactor
from smscli.timeparse import parse_duration, parse_when

if TYPE_CHECKING:
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
    sandbox: bool = False
    base_url: str | None = None
    credentials: dict[str, str | None] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


# -- reading input -----------------------------------------------------------------------------
def read_targets(to: Sequence[str], to_file: str | None) -> Iterator[str]:
    from smscli.targets import read_target_lines

    yield from to
    if to_file is None:
        return
    if to_file == "-":
        yield from read_target_lines(sys.stdin)
        return
    try:
        with open(to_file, encoding="utf-8") as fh:
            yield from read_target_lines(fh)
    except OSError as exc:
        raise InputError(
            f"cannot read --to-file {to_file}: {exc.strerror}", code="bad_file"
        ) from None


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


def parse_all_targets(raws: Iterator[str], info: ProviderInfo, out: Output) -> list[Target]:
    from smscli.targets import parse_targets

    targets, warnings = parse_targets(raws, info.target_kinds)
    for w in warnings:
        out.warn(w)
    return targets


# -- the run ---------------------------------------------------------------------------------
@dataclass
class Prepared:
    info: ProviderInfo
    settings: Settings
    provider: Provider
    message: Message
    targets: list[Target]
    history: History
    wait: float | None


def prepare(opts: SendOptions, runtime: Runtime, out: Output, cfg: config_mod.Config) -> Prepared:
    """Every local check, in the order a user fixes things; no network I/O."""
    choice = config_mod.choose(cfg, opts.profile, opts.provider)
    info = choice.info
    body = read_body(opts.text, opts.file)
    profile_smart = choice.body.get("smart") is True
    check = build_check(
        body,
        encoding=opts.encoding,
        hex_input=opts.hex,
        base64_input=opts.base64,
        smart=opts.smart or profile_smart,
    )
    if check.units == 0:
        raise InputError("the message is empty; nothing to send", code="empty_message")
    for r in check.replacements:
        out.info(f"--smart: replaced {r.char!r} ({r.codepoint}) with {r.replacement!r}")
    profile_max = choice.body.get("max_segments")
    max_segments = opts.max_segments or (profile_max if isinstance(profile_max, int) else None)
    problems = limit_problems(check, info, max_segments)
    if problems:
        raise problems[0]
    settings_sender = choice.body.get("sender")
    message = build_message(
        opts,
        info,
        settings_sender if isinstance(settings_sender, str) else None,
        check,
        datetime.fromtimestamp(runtime.clock(), UTC),
    )
    targets = parse_all_targets(read_targets(opts.to, opts.to_file), info, out)
    wait = None
    if opts.wait is not None:
        wait = DEFAULT_WAIT if opts.wait == "default" else parse_duration(opts.wait, "--wait")
        if not info.features.status:
            raise _unsupported(info, "--wait (delivery status)", "status")
    settings = config_mod.resolve_settings(
        choice, opts.credentials, base_url=opts.base_url, sandbox=opts.sandbox
    )
    if opts.timeout is not None:
        settings = _replace(settings, timeout=opts.timeout)
    from smscli.providers import load

    provider = load(info)(settings)
    if not targets:
        targets = provider.implicit_targets(message)
    if not targets:
        raise UsageError("no target: give --to TARGET (or --to-file PATH)")
    provider.check_message(message, targets)
    return Prepared(info, settings, provider, message, targets, open_history(cfg, opts), wait)


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
    out.redactor = Redactor(prep.settings.secret_values()) if not out.redactor else out.redactor
    for secret in prep.settings.secret_values():
        out.redactor.add(secret)
    if opts.dry_run:
        out.dry_run(prep.provider.dry_run(prep.message, prep.targets))
        return ExitCode.OK
    with open_session(prep.settings, runtime, out, opts.verbose) as session:
        results = send_all(prep, session, out, opts)
        if prep.wait is not None:
            results = wait_all(prep, session, results, prep.wait, runtime, out)
    return finish(results, out, waited=prep.wait is not None)


def send_all(
    prep: Prepared, session: HttpSession, out: Output, opts: SendOptions
) -> list[SendResult]:
    results: list[SendResult] = []
    import secrets

    batch_id = secrets.token_hex(4) if len(prep.targets) > 1 else None
    todo: list[Target] = []
    for target in prep.targets:
        previous = _idempotent(prep, opts, target)
        if previous is not None:
            out.info(f"{target}: already accepted under this --idempotency-key; not sent again")
            results.append(previous)
            out.result_streamed(previous)
        else:
            todo.append(target)
    for batch in prep.provider.batches(todo):
        rows = [
            prep.history.start(
                provider=prep.info.slug,
                profile=prep.settings.profile,
                base_url=prep.settings.base_url,
                target=str(t),
                text=prep.message.text,
                segments=prep.message.check.segments,
                encoding=prep.message.encoding.value,
                reference=prep.message.reference,
                batch=batch_id,
                idempotency_key=opts.idempotency_key,
            )
            for t in batch
        ]
        try:
            batch_results = prep.provider.send(session, prep.message, batch)
        except SmscliError as err:
            batch_results = [_failed(prep, t, err) for t in batch]
            if len(prep.targets) == 1 or isinstance(err, LoginRefused | ConfigError):
                for row, r in zip(rows, batch_results, strict=True):
                    prep.history.finish(row, r)
                raise
        for row, r in zip(rows, batch_results, strict=True):
            prep.history.finish(row, r)
            out.result_streamed(r)
        results.extend(batch_results)
    return results


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


def _failed(prep: Prepared, target: Target, err: SmscliError) -> SendResult:
    if isinstance(err, OutcomeUnknown):
        status = Status.UNKNOWN
    elif isinstance(err, ProviderRefused):
        status = Status.REJECTED
    else:
        status = Status.FAILED
    return prep.provider.result(
        target,
        status,
        prep.message,
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
            r.status = report.status
            if report.date:
                r.details["status_date"] = report.date
            if report.provider_status:
                r.details["provider_status"] = report.provider_status
            if report.error:
                r.error = report.error
            if report.status.is_final:
                pending.remove(r)
                row = prep.history.find(r.message_id or r.request_id or "")
                if row is not None:
                    prep.history.set_status(row["id"], report.status, r.details)
    return results


def _record(r: SendResult) -> dict[str, Any]:
    data = r.to_json()
    data["details"] = dict(r.details)
    return data


def finish(results: Sequence[SendResult], out: Output, *, waited: bool) -> ExitCode:
    summary = {
        "total": len(results),
        "accepted": sum(1 for r in results if r.status.is_success),
        "failed": sum(1 for r in results if not r.status.is_success),
        "skipped": 0,
    }
    out.results(results, summary)
    code = exit_code_of(results, waited=waited)
    return code


def exit_code_of(results: Sequence[SendResult], *, waited: bool = False) -> ExitCode:
    """One exit code for a run (SPEC §5)."""
    if not results:
        return ExitCode.OK
    if waited:
        if all(r.status is Status.DELIVERED for r in results):
            return ExitCode.OK
        if any(r.status in (Status.FAILED, Status.EXPIRED, Status.REJECTED) for r in results):
            return ExitCode.DELIVERY_FAILED if len(results) == 1 else ExitCode.PARTIAL
        return ExitCode.WAIT_TIMEOUT if len(results) == 1 else ExitCode.PARTIAL
    ok = [r for r in results if r.status.is_success]
    if len(ok) == len(results):
        return ExitCode.OK
    if len(results) > 1:
        return ExitCode.PARTIAL
    err = results[0].error or {}
    return ExitCode(int(err.get("exit_code", ExitCode.UNKNOWN)))


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
    return config_mod.resolve_settings(choice, credentials, base_url=base_url)


def run_status(
    ident: str | None,
    last: bool,
    wait: str | None,
    timeout: float | None,
    verbose: bool,
    config_path: str | None,
    runtime: Runtime,
    out: Output,
) -> ExitCode:
    """`smscli status`: look the message up in the history, ask its provider, record it."""
    from smscli.catalog import get_info
    from smscli.history import row_to_result
    from smscli.providers import load

    cfg = config_mod.load(config_mod.config_path(config_path))
    history = open_history(cfg)
    if not history.enabled:
        raise ConfigError("`status` needs the history, and it is turned off", code="no_history")
    if (ident is None) == (not last):
        raise UsageError("give a message id (or #N), or --last")
    record = history.last() if last else history.find(ident or "")
    if record is None:
        what = "no sends in the history yet" if last else f"no message {ident!r} in the history"
        raise InputError(what, hint="`smscli log` lists what was sent", code="not_found")
    info = get_info(record["provider"])
    settings = settings_for_record(record, cfg, {})
    if timeout is not None:
        settings = _replace(settings, timeout=timeout)
    for secret in settings.secret_values():
        out.redactor.add(secret)
    provider = load(info)(settings)
    result = row_to_result(record)
    if record["status"] == Status.UNKNOWN.value and not record["message_id"]:
        out.warn(
            f"history #{record['id']}: the send's outcome is unknown and the provider returned "
            "no id; asking anyway"
        )
    deadline = None
    if wait is not None:
        deadline = runtime.clock() + (
            DEFAULT_WAIT if wait == "default" else parse_duration(wait, "--wait")
        )
    interval = 1.0
    with open_session(settings, runtime, out, verbose) as session:
        while True:
            report = provider.status(session, record)
            if report.status is not Status.UNKNOWN or not result.status.is_success:
                result.status = report.status
            if report.provider_status:
                result.details["provider_status"] = report.provider_status
            if report.date:
                result.details["status_date"] = report.date
            if report.error:
                result.error = report.error
            if deadline is None or report.status.is_final or runtime.clock() >= deadline:
                break
            runtime.sleep(min(interval, max(0.0, deadline - runtime.clock())))
            interval = min(interval * 1.5, 15.0)
    history.set_status(record["id"], result.status, result.details)
    result.details["history_id"] = record["id"]
    accepted = int(result.status.is_success)
    summary = {"total": 1, "accepted": accepted, "failed": 1 - accepted, "skipped": 0}
    out.results([result], summary)
    if deadline is not None:
        return exit_code_of([result], waited=True)
    return ExitCode.OK
