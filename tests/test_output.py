"""smscli.output on a terminal: what a person sees in a narrow window."""

from __future__ import annotations

import re
import sys

import pytest

from smscli.models import SendResult, Status
from smscli.output import Output


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
