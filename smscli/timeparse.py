"""Durations (``90s``, ``30m``, ``2h``, ``3d``) and schedule times (ISO 8601 or ``+DURATION``).

A value these cannot read is a usage error (exit 2): the command line itself is wrong. Whether
the provider can honour a well-formed value is a message check (exit 4), made elsewhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from smscli.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SECONDS = 10 * 365 * 86400
DURATION_HINT = "a number with s, m, h or d, e.g. 90s, 30m, 2h or 3d"


def parse_duration(value: str, option: str = "duration") -> float:
    """``90s``/``30m``/``2h``/``3d`` or plain seconds → seconds."""
    match = _DURATION.match(value)
    if not match:
        raise UsageError(
            f"invalid {option} {value!r}: not a duration",
            hint=DURATION_HINT,
            code="invalid_duration",
        )
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise UsageError(
            f"invalid {option} {value!r}: must be positive",
            hint=DURATION_HINT,
            code="invalid_duration",
        )
    if seconds > MAX_SECONDS:
        raise UsageError(
            f"invalid {option} {value!r}: longer than ten years",
            hint=DURATION_HINT,
            code="invalid_duration",
        )
    return seconds


def parse_when(value: str, now: datetime | None = None) -> datetime:
    """``+DURATION`` from now, or an ISO 8601 time (without an offset: local time)."""
    now = now or datetime.now(UTC)
    text = value.strip()
    if text.startswith("+"):
        return now + timedelta(seconds=parse_duration(text[1:], "--at"))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise UsageError(
            f"invalid --at {value!r}: neither an ISO 8601 time nor +DURATION",
            hint="e.g. 2026-12-24T09:00+01:00 (without an offset: local time), or +30m",
            code="invalid_time",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a time without an offset is the user's local time
    return parsed
