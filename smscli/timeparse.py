"""Durations (``90s``, ``30m``, ``2h``, ``3d``) and schedule times (ISO 8601 or ``+DURATION``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from smscli.errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SECONDS = 10 * 365 * 86400


def parse_duration(value: str, option: str = "duration") -> float:
    """``90s``/``30m``/``2h``/``3d`` or plain seconds → seconds."""
    match = _DURATION.match(value)
    if not match:
        raise InputError(
            f"invalid {option} {value!r}: expected a number with s, m, h or d (e.g. 90s, 30m, 2h)",
            code="invalid_duration",
        )
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise InputError(f"invalid {option} {value!r}: must be positive", code="invalid_duration")
    if seconds > MAX_SECONDS:
        raise InputError(
            f"invalid {option} {value!r}: longer than ten years", code="invalid_duration"
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
        raise InputError(
            f"invalid --at {value!r}: expected ISO 8601 (2026-12-24T09:00+01:00) or +DURATION",
            code="invalid_time",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a time without an offset is the user's local time
    return parsed
