"""`smscli doctor` and `smscli logout`: checks and cleanup around a profile's credentials."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from smscli import config as config_mod
from smscli.errors import ExitCode, ProviderUnavailable, SmscliError
from smscli.pipeline import Runtime
from smscli.pipeline.sessions import hide_secrets, open_session
from smscli.report import CheckLine, Reporter

CLOCK_SKEW_WARN = 60.0  # seconds; tokens with lifetimes (JWT exp, OAuth) misbehave past this


def run_doctor(
    profile: str | None, provider: str | None, config: str | None, runtime: Runtime, out: Reporter
) -> ExitCode:
    checks: list[CheckLine] = []
    failure: SmscliError | None = None

    def record(name: str, ok: bool | None, detail: str) -> None:
        checks.append(CheckLine(name, _word(ok), out.redactor.text(detail)))

    path = config_mod.config_path(config)
    try:
        cfg = config_mod.load(path, check=False)
    except SmscliError as err:
        record("config file", False, err.message)
        return _report(out, checks, err)
    if cfg.problems:  # every problem of the file on its own line (config.problems)
        for problem in cfg.problems:
            key = problem.partition(": ")[0]
            record("base_url" if key.endswith(".base_url") else "config file", False, problem)
        return _report(out, checks, config_mod.problems_error(path, cfg.problems))
    try:
        record("config file", True, f"{path}" if cfg.exists else f"{path} (none; flags/env only)")
        for w in cfg.warnings:
            record("config file", None, w)
        choice = config_mod.choose(cfg, profile, provider)
        settings = config_mod.resolve_settings(choice, {})
        hide_secrets(settings, out)
        record("credentials", True, f"{choice.info.slug}: every field is set")
    except SmscliError as err:
        what = "base_url" if err.code == "invalid_base_url" else "credentials"
        record(what, False, err.message + (f" ({err.hint})" if err.hint else ""))
        return _report(out, checks, err)
    from smscli.providers import load

    instance = load(choice.info)(settings)
    with open_session(settings, runtime, out, verbose=False) as session:
        started = time.monotonic()
        try:
            with session.conversation(instance.label):  # an odd login reply: unreadable (6)
                instance.login(session)
            elapsed = (time.monotonic() - started) * 1000
            record("reachability", True, f"{settings.base_url} answered in {elapsed:.0f} ms")
            record("login", True, "the provider accepted the credentials")
        except ProviderUnavailable as err:
            record("reachability", False, err.message)
            failure = err
        except SmscliError as err:
            record("reachability", True, f"{settings.base_url} answered")
            record("login", False, err.message)
            failure = err
        date = session.last_date
    if date:
        try:
            skew = parsedate_to_datetime(date).timestamp() - runtime.clock()
            ok = abs(skew) < CLOCK_SKEW_WARN
            record("clock", True if ok else None, f"{skew:+.0f} s against the provider's clock")
        except (TypeError, ValueError, OverflowError):
            record("clock", None, f"unreadable Date header {date!r}")
    return _report(out, checks, failure)


def _word(ok: bool | None) -> str:
    return {True: "ok", False: "FAIL", None: "warn"}[ok]


def _report(out: Reporter, checks: list[CheckLine], failure: SmscliError | None) -> ExitCode:
    out.checks(checks, failure.hint if failure is not None else None)
    return ExitCode.OK if failure is None else failure.exit_code


def run_logout(
    profile: str | None,
    provider: str | None,
    all_: bool,
    config: str | None,
    runtime: Runtime,
    out: Reporter,
) -> ExitCode:
    from smscli.tokens import TokenCache, default_path

    cache = TokenCache(default_path(), clock=runtime.clock)
    if all_:
        count = cache.clear()
        out.note(f"forgot every cached token ({count} profile(s))")
        return ExitCode.OK
    cfg = config_mod.load(config_mod.config_path(config))
    choice = config_mod.choose(cfg, profile, provider)
    try:
        settings = config_mod.resolve_settings(choice, {})
    except SmscliError:
        settings = None  # credentials gone: still forget what is cached
    if settings is not None:
        from smscli.providers import load

        hide_secrets(settings, out)  # a refused logout may quote them
        with open_session(settings, runtime, out, verbose=False) as session:
            try:
                load(choice.info)(settings).logout(session)
            except SmscliError as err:
                out.warning(
                    f"the provider's logout failed ({err.message}); forgetting tokens anyway"
                )
    count = cache.clear(prefix=f"{choice.name or '-'}:{choice.info.slug}:")
    name = choice.name or choice.info.slug
    out.note(f"logged out {name}" + ("" if count else " (no cached tokens)"))
    return ExitCode.OK
