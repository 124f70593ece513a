"""smscli.timeparse: durations (--validity, --timeout, --wait) and --at times."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from smscli.errors import ExitCode, UsageError
from smscli.timeparse import parse_duration, parse_when

NOW = datetime(2026, 12, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def tz_plus_10() -> Iterator[None]:
    """The process local time zone is UTC+10 (POSIX TZ: the sign is inverted)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "AEST-10")
        time.tzset()
        yield
    time.tzset()


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("3d", 259200.0),
        ("45", 45.0),
        ("1.5h", 5400.0),
        ("0.5m", 30.0),
        ("2H", 7200.0),
        (" 10 m ", 600.0),
        ("0.1", 0.1),
    ],
    ids=[
        "seconds",
        "minutes",
        "hours",
        "days",
        "plain-number",
        "decimal-hours",
        "decimal-minutes",
        "upper-case",
        "spaces",
        "small-decimal",
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "10x", "1w", "-5", "-5m", "0", "0s", "0.0h", "1h30m", "1,5h", "h", "s90"],
    ids=[
        "empty",
        "word",
        "unknown-unit",
        "weeks",
        "negative",
        "negative-minutes",
        "zero",
        "zero-seconds",
        "zero-decimal",
        "compound",
        "comma-decimal",
        "unit-only",
        "unit-first",
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_duration(text, "--validity")
    assert info.value.exit_code is ExitCode.USAGE  # the command line is wrong (issue 9)
    assert info.value.hint
    assert info.value.code == "invalid_duration"
    assert "--validity" in info.value.message
    assert repr(text) in info.value.message


# --------------------------------------------------------------------------- --at


@pytest.mark.parametrize(
    ("text", "delta"),
    [("+90s", 90), ("+30m", 1800), ("+2h", 7200), ("+1d", 86400), ("+45", 45), ("  +1.5h", 5400)],
    ids=["seconds", "minutes", "hours", "days", "plain", "leading-space"],
)
def test_parse_when_relative(text: str, delta: int) -> None:
    assert parse_when(text, NOW) == NOW + timedelta(seconds=delta)


def test_parse_when_relative_defaults_to_now() -> None:
    before = datetime.now(UTC)
    when = parse_when("+1h")
    after = datetime.now(UTC)
    assert when.tzinfo is not None
    assert before + timedelta(hours=1) <= when <= after + timedelta(hours=1)


@pytest.mark.parametrize("text", ["+0s", "+", "+x", "+-5m"], ids=["zero", "empty", "word", "neg"])
def test_parse_when_bad_relative(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_when(text, NOW)
    assert info.value.code == "invalid_duration"
    assert "--at" in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-24T09:00+01:00", datetime(2026, 12, 24, 8, 0, tzinfo=UTC)),
        ("2026-12-24T09:00:30-05:30", datetime(2026, 12, 24, 14, 30, 30, tzinfo=UTC)),
        ("2026-12-24T08:00:00Z", datetime(2026, 12, 24, 8, 0, tzinfo=UTC)),
        ("2026-12-24T08:00Z", datetime(2026, 12, 24, 8, 0, tzinfo=UTC)),
        ("2026-12-24 08:00:00+00:00", datetime(2026, 12, 24, 8, 0, tzinfo=UTC)),
    ],
    ids=["offset", "negative-offset-seconds", "z", "z-no-seconds", "space-separator"],
)
def test_parse_when_iso_with_offset(text: str, expected: datetime) -> None:
    when = parse_when(text, NOW)
    assert when == expected
    assert when.utcoffset() is not None


def test_parse_when_keeps_the_given_offset() -> None:
    when = parse_when("2026-12-24T09:00+01:00", NOW)
    assert when.utcoffset() == timedelta(hours=1)
    assert (when.hour, when.minute) == (9, 0)


@pytest.mark.usefixtures("tz_plus_10")
def test_parse_when_naive_is_local_time() -> None:
    when = parse_when("2026-12-24T18:00", NOW)
    assert when.utcoffset() == timedelta(hours=10)
    assert when == datetime(2026, 12, 24, 8, 0, tzinfo=UTC)
    assert when == datetime(2026, 12, 24, 18, 0, tzinfo=timezone(timedelta(hours=10)))


@pytest.mark.parametrize(
    "text",
    ["tomorrow", "", "24/12/2026 09:00", "2026-13-01T00:00", "09:00+01:00", "2026-12-24T25:00"],
    ids=["word", "empty", "slashes", "month-13", "time-only", "hour-25"],
)
def test_parse_when_garbage(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_when(text, NOW)
    assert info.value.exit_code is ExitCode.USAGE  # the command line is wrong (issue 9)
    assert info.value.hint
    assert info.value.code == "invalid_time"
    assert "--at" in info.value.message
