"""smscli.output on a terminal: what a person sees in a narrow window."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from smscli.models import SendResult, Status
from smscli.output import Output
from tests.conftest import SCRIPT


def _visible(line: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", line)


def test_ids_are_never_folded_in_a_narrow_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    target = "thing:warehouse-7-cold-room-sensor-0001"
    message_id = "SM0123456789abcdef0123456789abcdef"
    uuid = "4f6c2b1e-9a8d-4c3b-8e7f-1a2b3c4d5e6f"
    result = SendResult(
        provider="telit",
        profile=None,
        target=target,
        status=Status.ACCEPTED,
        message_id=message_id,
        uuid=uuid,
        date="2026-11-22T04:00:00+00:00",
        segments=1,
        encoding="gsm7",
        details={"preferredSmsc": "+491234567890"},
    )
    summary = {"total": 1, "accepted": 1, "failed": 0, "skipped": 0}
    Output("human").results([result], summary)
    shown = capsys.readouterr().out
    # Too narrow for the three identifiers side by side: one "column  value" line each,
    # every identifier whole on one line (copyable), nothing cropped.
    for whole in (target, message_id, uuid, "accepted", "preferredSmsc=+491234567890"):
        assert whole in shown, (whole, shown)
    assert all(len(_visible(line)) <= 80 for line in shown.splitlines())

    # Wide enough: the table, still with whole identifiers.
    monkeypatch.setenv("COLUMNS", "200")
    Output("human").results([result], summary)
    shown = capsys.readouterr().out
    assert "│" in shown or "┃" in shown
    for whole in (target, message_id, uuid):
        assert whole in shown, (whole, shown)


def test_short_ids_keep_the_table_in_a_100_column_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    results = [
        SendResult(
            provider="emnify",
            profile=None,
            target=f"endpoint:100{n}",
            status=Status.ACCEPTED,
            message_id=f"123456{n}",
            date="2026-11-22T04:00:00+00:00",
            segments=1,
            encoding="gsm7",
            details={"endpoint_id": f"100{n}", "dcs": 0},
        )
        for n in (1, 2)
    ]
    Output("human").results(results, {"total": 2, "accepted": 2, "failed": 0, "skipped": 0})
    lines = [_visible(line) for line in capsys.readouterr().out.splitlines()]
    assert any("│" in line for line in lines)  # a table
    for n in (1, 2):
        [row] = [line for line in lines if f"endpoint:100{n}" in line]
        assert f"123456{n}" in row and "accepted" in row  # whole, on the target's line
    assert max(len(line) for line in lines) <= 100


# -- nothing is lost at any width ---------------------------------------------------------------

_LOG_COLUMNS = ["#", "created", "provider", "target", "status", "message id", "error"]
_LOG_ROWS = [
    [
        "231",
        "2026-11-22T04:00:00+00:00",
        "twilio",
        "+61488023600",
        "failed",
        "",
        "The 'To' number +61488023600 is not a valid phone number for this account.",
    ],
    [
        "232",
        "2026-11-22T04:01:12+00:00",
        "emnify",
        "endpoint:1001",
        "accepted",
        "123456789",
        "",
    ],
    [
        "233",
        "2026-11-22T04:02:30+00:00",
        "1nce",
        "msisdn:+61488023600",
        "rejected",
        "",
        "quota exceeded for this billing period (limit 1000 SMS per day); retry tomorrow",
    ],
    [
        "234",
        "2026-11-22T04:03:45+00:00",
        "telit",
        "thing:倉庫センサー7",
        "failed",
        "SM0123456789abcdef",
        "宛先の端末が見つかりません (device not found)",
    ],
]


def _cells(text: str) -> int:
    """Display width: CJK (wide, fullwidth) characters take two cells."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _ink(text: str) -> Counter[str]:
    """The characters that carry information: no spaces, no box drawing."""
    return Counter(ch for ch in text if not ch.isspace() and not "\u2500" <= ch <= "\u257f")


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _assert_nothing_lost(shown: str, columns: list[str], rows: list[list[str]], width: int) -> None:
    """Every character of every header and cell is shown once (none cropped, folded away or
    added, e.g. an ellipsis), in its column and order, and no line is wider than the terminal.
    A table shows the headers once; "column  value" records show a name per non-empty cell."""
    shown = _visible(shown)
    lines = shown.splitlines()
    assert lines, shown
    too_wide = [line for line in lines if _cells(line) > width]
    assert not too_wide, (width, too_wide, shown)
    kept = [i for i in range(len(columns)) if any(row[i] for row in rows)]
    if any("│" in line for line in lines):  # a table
        expected = [columns[i] for i in kept] + [row[i] for row in rows for i in kept]
        assert _ink(shown) == _ink("".join(expected)), (width, shown)
        # Column by column, top to bottom: the folded pieces join up into the cells.
        for bar, texts in (("┃", [[columns[i] for i in kept]]), ("│", rows)):
            pieces = [line.split(bar) for line in lines if bar in line]
            assert all(len(p) == len(kept) for p in pieces), (width, shown)
            for n, i in enumerate(kept):
                got = "".join(_squeeze(p[n]) for p in pieces)
                want = "".join(_squeeze(t[i] if bar == "│" else t[n]) for t in texts)
                assert got == want, (width, columns[i], got, want, shown)
    else:  # one "column  value" line (or a few) per non-empty cell
        expected = [text for row in rows for i in kept if row[i] for text in (columns[i], row[i])]
        assert _ink(shown) == _ink("".join(expected)), (width, shown)
        assert _squeeze(shown) == _squeeze("".join(expected)), (width, shown)


@pytest.mark.parametrize("width", range(40, 121))
def test_a_log_table_loses_nothing_at_any_width(
    width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    Output("human").table(_LOG_COLUMNS, _LOG_ROWS, status_column=4)
    shown = capsys.readouterr().out
    _assert_nothing_lost(shown, _LOG_COLUMNS, _LOG_ROWS, width)
    if width >= 80:  # a table at the usual 80 columns and wider; records when narrower
        assert "│" in shown, shown


# Long identifiers (too wide for a table at 120 columns: records), and short ones (a table
# from about 106 columns), both with CJK text in an identifier and in a detail.
_LONG_IDS = [
    SendResult(
        provider="telit",
        profile=None,
        target="thing:warehouse-7-cold-room-sensor-0001",
        status=Status.ACCEPTED,
        message_id="SM0123456789abcdef0123456789abcdef",
        uuid="4f6c2b1e-9a8d-4c3b-8e7f-1a2b3c4d5e6f",
        date="2026-11-22T04:00:00+00:00",
        segments=1,
        encoding="gsm7",
        details={"preferredSmsc": "+491234567890"},
    ),
    SendResult(
        provider="telit",
        profile=None,
        target="thing:倉庫センサー7",
        status=Status.ACCEPTED,
        message_id="SM00000000000000000000000000000002",
        uuid="9a8d4c3b-4f6c-2b1e-8e7f-6f5e4d3c2b1a",
        date="2026-11-22T04:00:01+00:00",
        segments=2,
        encoding="ucs2",
        parts=["SM00000000000000000000000000000002", "SM00000000000000000000000000000003"],
        details={"name": "冷蔵室の温度センサー (warehouse 7)"},
    ),
    SendResult(
        provider="telit",
        profile=None,
        target="thing:warehouse-7-door",
        status=Status.FAILED,
        date="2026-11-22T04:00:02+00:00",
        error={"message": "unknown thing"},
    ),
]
_SHORT_IDS = [
    SendResult(
        provider="emnify",
        profile=None,
        target="endpoint:1001",
        status=Status.ACCEPTED,
        message_id="1234561",
        date="2026-11-22T04:00:00+00:00",
        segments=1,
        encoding="gsm7",
        details={"endpoint_id": "1001", "dcs": 0},
    ),
    SendResult(
        provider="emnify",
        profile=None,
        target="name:倉庫センサー7",
        status=Status.ACCEPTED,
        message_id="1234562",
        date="2026-11-22T04:00:01+00:00",
        segments=2,
        encoding="ucs2",
        details={"endpoint_id": "1002", "name": "冷蔵室の温度センサー"},
    ),
]


@pytest.mark.parametrize("results", [_LONG_IDS, _SHORT_IDS], ids=["long-ids", "short-ids"])
@pytest.mark.parametrize("width", range(40, 121))
def test_a_results_table_loses_nothing_and_keeps_ids_whole_at_any_width(
    width: int,
    results: list[SendResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    failed = sum(1 for r in results if r.error)
    summary = {"total": len(results), "accepted": len(results) - failed, "failed": failed}
    Output("human").results(results, summary | {"skipped": 0})
    shown = capsys.readouterr().out
    columns = ["provider", "target", "status", "message id", "request id / uuid / ref"]
    columns += ["date", "segments", "encoding", "details"]
    rows = [
        [
            r.provider,
            r.target,
            r.status.value,
            (r.message_id or "") + (f" (+{len(r.parts) - 1} parts)" if r.parts else ""),
            r.uuid or "",
            r.date or "",
            "" if r.segments is None else str(r.segments),
            r.encoding or "",
            ", ".join(f"{k}={v}" for k, v in r.details.items()),
        ]
        for r in results
    ]
    _assert_nothing_lost(shown, columns, rows, width)
    lines = [_visible(line) for line in shown.splitlines()]
    for r in results:  # identifiers on one line each: copyable
        for ident in (r.target, r.message_id, r.uuid):
            assert not ident or any(ident in line for line in lines), (width, ident, shown)
    if results is _SHORT_IDS and width >= 110:
        assert any("│" in line for line in lines), shown  # still a table


def test_stdout_that_cannot_be_written_is_one_error_line_not_a_bug(tmp_path: Path) -> None:
    """`> /dev/full` (Linux's always-full device): a disk that is full."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env["SMSCLI_CONFIG"] = str(tmp_path / "config.toml")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [SCRIPT, "providers", "--json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "error: cannot write to stdout: No space left on device"


def test_a_nested_detail_shows_as_json_not_python_repr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status` of a ThingSpace message shows the receipt listen recorded: a nested object
    in the details cell reads as compact JSON."""
    monkeypatch.setenv("COLUMNS", "400")
    receipt = {"status": "delivered", "provider_status": "Delivered"}
    result = SendResult(provider="thingspace", profile=None, target="mdn:5551230001",
                        status=Status.DELIVERED, details={"receipt": receipt, "ids": ["a"]})  # fmt: skip
    Output("human").results([result], {"total": 1, "accepted": 1, "failed": 0, "skipped": 0})
    shown = capsys.readouterr().out
    assert 'receipt={"status":"delivered","provider_status":"Delivered"}' in shown, shown
    assert 'ids=["a"]' in shown
    assert "{'status'" not in shown
