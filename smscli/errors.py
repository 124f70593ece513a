"""Exit codes and the one error tree.

Every failure a user can cause or meet is a ``SmscliError``; ``cli.py`` turns it into one
line on stderr (or the JSON error object) and its exit code, in one place::

    SmscliError                     exit_code  meaning (SPEC §5)
    ├── UsageError                  2          the command line is wrong
    ├── ConfigError                 3          config or credentials; nothing sent
    ├── InputError                  4          message or target failed a local check
    ├── ProviderRefused             5          the provider said no; not sent
    │   └── LoginRefused            5          credentials refused (never retried)
    ├── ProviderUnavailable         6          not handed over (DNS, connect, TLS, 429)
    ├── OutcomeUnknown              7          may have been processed: check before re-running
    ├── LockHeld                    11         --lock-strict: another run holds the lock
    └── Interrupted                 130        Ctrl-C

Exit codes 8 (delivery failed), 9 (some targets not accepted) and 10 (--wait timed out) are
not errors that stop a run: ``pipeline.exits.exit_code_of`` derives them from the RESULTs.

``SessionExpired`` is not shown to users: providers raise it when a cached session or token
is refused, and ``providers.base.with_reauth`` answers it with one fresh login and one retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Process exit codes (SPEC §5). The README table is generated from these docstrings."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    INVALID = 4
    REFUSED = 5
    UNAVAILABLE = 6
    UNKNOWN = 7
    DELIVERY_FAILED = 8
    PARTIAL = 9
    WAIT_TIMEOUT = 10
    LOCKED = 11
    INTERRUPTED = 130


EXIT_CODE_MEANINGS: dict[ExitCode, tuple[str, str]] = {
    ExitCode.OK: ("every message accepted (or delivered, with --wait); check passed", "—"),
    ExitCode.INTERNAL: ("internal error (a bug); SMSCLI_DEBUG=1 shows the traceback", "—"),
    ExitCode.USAGE: ("command-line usage error", "fix the command"),
    ExitCode.CONFIG: ("configuration or credential problem; nothing sent", "fix the config"),
    ExitCode.INVALID: ("message or target failed a local check; nothing sent", "fix the input"),
    ExitCode.REFUSED: (
        "the provider refused (4xx, error in the body, login refused, unknown target); not sent",
        "fix the input or credentials",
    ),
    ExitCode.UNAVAILABLE: (
        "provider unreachable before the message was handed over (DNS, connect, TLS, 429)",
        "yes",
    ),
    ExitCode.UNKNOWN: (
        "outcome unknown: the request may have been processed (timeout after sending, 5xx, "
        "reset, unreadable reply)",
        "check `smscli status`/`log` first",
    ),
    ExitCode.DELIVERY_FAILED: ("--wait: delivery failed, expired or was rejected", "—"),
    ExitCode.PARTIAL: ("several targets: some accepted, some not", "with --resume"),
    ExitCode.WAIT_TIMEOUT: (
        "--wait: no final status before the timeout; --await-reply: no reply in time",
        "—",
    ),
    ExitCode.LOCKED: (
        "--lock NAME --lock-strict: another run holds NAME; nothing was done (without "
        "--lock-strict that run exits 0 with a `skipped:` line)",
        "at the next scheduled run",
    ),
    ExitCode.INTERRUPTED: (
        "interrupted (Ctrl-C); in-flight requests finish and are recorded first",
        "with --resume",
    ),
}


class SmscliError(Exception):
    """Base of every error a user sees. ``code`` is a snake_case slug for JSON output."""

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        provider_code: str | None = None,
        problems: Sequence[str] = (),
        problems_omitted: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code or self.default_code
        # The provider's own error code (e.g. "PARAMETER_REQUIRED"), shown to the user.
        self.provider_code = provider_code
        # One error made of several (every invalid target of a run): each one, listed under
        # the error line (JSON: "problems"), and how many more were not listed.
        self.problems = list(problems)
        self.problems_omitted = problems_omitted


class UsageError(SmscliError):
    exit_code = ExitCode.USAGE
    default_code = "usage_error"


class ConfigError(SmscliError):
    exit_code = ExitCode.CONFIG
    default_code = "config_error"


class InputError(SmscliError):
    exit_code = ExitCode.INVALID
    default_code = "invalid_input"


class ProviderRefused(SmscliError):
    exit_code = ExitCode.REFUSED
    default_code = "provider_rejected"


class LoginRefused(ProviderRefused):
    default_code = "auth_failed"


class ProviderUnavailable(SmscliError):
    exit_code = ExitCode.UNAVAILABLE
    default_code = "provider_unavailable"


class OutcomeUnknown(SmscliError):
    exit_code = ExitCode.UNKNOWN
    default_code = "outcome_unknown"


class LockHeld(SmscliError):
    """``--lock NAME --lock-strict``: another run holds NAME (exit 11); nothing was done."""

    exit_code = ExitCode.LOCKED
    default_code = "lock_held"


class Interrupted(SmscliError):
    exit_code = ExitCode.INTERRUPTED
    default_code = "interrupted"


class SessionExpired(Exception):
    """A cached session/token was refused; answered by one re-login and one retry."""
