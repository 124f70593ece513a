"""The two things a run opens and must close: the HTTP session and the history.

Shared by sending, `status`, `doctor` and `logout`, so that each builds them the same way
(the token cache of the profile, the run's redactor, the injected transport and clock).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from smscli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from smscli import config as config_mod
    from smscli.history import History
    from smscli.http_client import HttpSession
    from smscli.models import Settings
    from smscli.pipeline import Runtime, SendOptions
    from smscli.redaction import Redactor
    from smscli.report import Reporter


def open_history(
    cfg: config_mod.Config,
    opts: SendOptions | None = None,
    *,
    redactor: Redactor | None = None,
    url: str | None = None,
) -> History:
    """The history of this config (a disabled one when it, or --no-history, turns it off):
    the SQLite file, or the PostgreSQL database of ``url`` (the Python API's), else of
    ``SMSCLI_HISTORY_URL``, else of ``history_url``. Nothing is opened yet (a dry run never
    connects); ``history_password`` is resolved when it is. What it stores of a provider's
    replies passes through ``redactor`` (the run's)."""
    from smscli import config as config_mod
    from smscli import history

    enabled = cfg.history_enabled and (opts is None or opts.history)
    if not enabled:
        return history.History(None, cfg.history_body, redactor=redactor)
    given = url or (opts.history_url if opts is not None else None)
    if given:
        problem = config_mod.history_url_problem(given)
        if problem is not None:
            raise ConfigError(f"history_url: {problem}", code="config_invalid")
    url = given or cfg.history_url
    if url:
        return history.History(
            None, cfg.history_body, redactor=redactor, url=url, password=cfg.history_password
        )
    return history.History(history.default_path(), cfg.history_body, redactor=redactor)


def open_session(settings: Settings, runtime: Runtime, out: Reporter, verbose: bool) -> HttpSession:
    """One HTTP session for the command: the profile's cached tokens, traces redacted."""
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


def with_timeout(settings: Settings, timeout: float | None) -> Settings:
    """``--timeout`` over the profile's: checked, then applied."""
    if timeout is None:
        return settings
    if not (math.isfinite(timeout) and 0 < timeout <= 3600):
        raise UsageError(
            f"--timeout must be between 0.1 and 3600 seconds, not {timeout}",
            hint="the default is 30",
            code="invalid_option",
        )
    return settings._replace(timeout=timeout)


def hide_secrets(settings: Settings, out: Reporter) -> None:
    """Every secret of the profile is masked in whatever this run shows."""
    for secret in settings.secret_values():
        out.redactor.add(secret)
