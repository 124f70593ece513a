"""Many targets, in-process: the row source, --template, check-everything-first,
--skip-invalid, --yes, --rate, --concurrency, --jsonl, exit codes, the history batch,
--resume and Ctrl-C, against the in-process sandbox (no sockets)."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from smscli import bulk
from smscli.bulk import RowSource, render, template_fields
from smscli.errors import InputError
from smscli.pipeline import runner
from smscli.pipeline.runner import RateLimiter
from tests.conftest import Cli, base_url, write_config

EM = ["emnify", "--base-url", base_url("emnify"), "--application-token", "T0ken"]
FD = ["fonedynamics", "--base-url", base_url("fonedynamics")]
FD += ["--account-sid", "A", "--token", "T", "--property-sid", "P"]
TS = ["thingspace", "--base-url", base_url("thingspace"), "--client-id", "key"]
TS += ["--client-secret", "S3cret", "--username", "uws", "--password", "S3cret"]
TS += ["--account-name", "0000123456-00001"]


def ep(n: int) -> str:
    """An ordinary emnify target: its value ends in 7, so it is never a magic suffix."""
    return f"endpoint:{n}7"


def write(tmp_path: Path, text: str, name: str = "targets.txt") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def targets_file(tmp_path: Path, targets: list[str], name: str = "targets.txt") -> str:
    return write(tmp_path, "".join(t + "\n" for t in targets), name)


def sms_posts(cli: Cli) -> list[httpx.Request]:
    """The SMS requests the sandbox received (emnify: POST /api/v1/endpoint/{id}/sms)."""
    return [r for r in cli.recorder.requests if r.method == "POST" and r.url.path.endswith("/sms")]


def posted_endpoints(cli: Cli) -> list[str]:
    return ["endpoint:" + r.url.path.split("/")[-2] for r in sms_posts(cli)]


def history_rows(home: Path) -> list[dict[str, Any]]:
    path = home / "data" / "history.sqlite3"
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM sends ORDER BY id")]
    db.close()
    return rows


def jsonl(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


# -- RateLimiter -------------------------------------------------------------------------------
class FakeTime:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def starts(limiter: RateLimiter, t: FakeTime, count: int, weight: int = 1) -> list[float]:
    """When ``count`` jobs start, each waiting (on the fake clock) for its slot."""
    out = []
    for _ in range(count):
        while (wait := limiter.reserve(weight)) > 0:
            t.sleep(wait)
        out.append(t.now)
    return out


def test_rate_limiter_spaces_starts_evenly() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    assert starts(limiter, t, 5) == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3, 1000.4])
    assert t.slept == pytest.approx([0.1] * 4)


def test_rate_limiter_after_a_pause_does_not_burst() -> None:
    t = FakeTime()
    limiter = RateLimiter(4, clock=t.clock, sleep=t.sleep)
    assert limiter.reserve() == 0.0
    t.now += 10  # idle for a while: the next start is immediate, the one after is spaced
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.25)


def test_rate_limiter_slot_not_due_is_not_taken() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    assert limiter.reserve() == 0.0
    # Asking again before the slot is due takes nothing: the wait only shrinks with time.
    assert limiter.reserve() == pytest.approx(0.1)
    assert limiter.reserve() == pytest.approx(0.1)
    t.now += 0.04
    assert limiter.reserve() == pytest.approx(0.06)


def test_rate_limiter_weight_counts_requests() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    # A job of 3 requests (an emnify lookup and two parts) holds 3 slots.
    assert starts(limiter, t, 3, weight=3) == pytest.approx([1000.0, 1000.3, 1000.6])


@pytest.mark.parametrize("rate", [None, 0, 0.0])
def test_rate_limiter_without_a_rate_never_sleeps(rate: float | None) -> None:
    def sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}")

    limiter = RateLimiter(rate, clock=lambda: 0.0, sleep=sleep)
    for _ in range(1000):
        assert limiter.reserve(3) == 0.0


# -- template_fields / render ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("Hello {name}, code {code}", ["name", "code"]),
        ("{{literal}} braces and {name}", ["name"]),
        ("no placeholders", []),
        ("{first_name} {dev-id} {name:>5}", ["first_name", "dev-id", "name"]),
        ("{to}", ["to"]),
    ],
)
def test_template_fields(text: str, fields: list[str]) -> None:
    assert template_fields(text) == fields


@pytest.mark.parametrize("text", ["{", "}", "a { b", "{}", "{a.b}", "{a[0]}"])
def test_template_fields_rejects_bad_fields(text: str) -> None:
    with pytest.raises(InputError) as info:
        template_fields(text)
    assert info.value.code == "bad_template"


def test_render_fills_columns_and_keeps_escaped_braces() -> None:
    assert render("{{x}} Hi {name}", {"to": "endpoint:17", "name": "Ann"}) == "{x} Hi Ann"


# -- RowSource ---------------------------------------------------------------------------------
def test_row_source_gives_to_values_then_file_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "# fleet A\nendpoint:27\n\n   \nendpoint:37  # the spare\n# end\n")
    source = RowSource(["endpoint:17", "endpoint:47"], path)
    expected = [{"to": t} for t in ("endpoint:17", "endpoint:47", "endpoint:27", "endpoint:37")]
    assert list(source.rows()) == expected
    assert list(source.rows()) == expected  # a file can be read again (the second pass)
    assert source.columns() is None
    source.close()


def test_row_source_reads_csv_with_a_to_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name,To,code\nAnn,endpoint:17,A1\n# skipped\nBob,endpoint:27,B2\n")
    source = RowSource([], path)
    assert source.columns() == ["name", "to", "code"]
    assert list(source.rows()) == [
        {"name": "Ann", "to": "endpoint:17", "code": "A1"},
        {"name": "Bob", "to": "endpoint:27", "code": "B2"},
    ]
    source.close()


def test_row_source_reads_stdin_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("to,name\nendpoint:17,Ann\nendpoint:27,Bob\n"))
    source = RowSource(["endpoint:7"], "-")
    first = list(source.rows())
    second = list(source.rows())
    assert (
        first
        == second
        == [
            {"to": "endpoint:7"},
            {"to": "endpoint:17", "name": "Ann"},
            {"to": "endpoint:27", "name": "Bob"},
        ]
    )
    assert source.columns() == ["to", "name"]
    source.close()


def test_row_source_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    source = RowSource([], str(tmp_path / "missing.txt"))
    with pytest.raises(InputError) as info:
        list(source.rows())
    assert info.value.code == "bad_file"


def test_row_source_refuses_a_file_changed_between_the_passes(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("endpoint:17\nendpoint:27\n")
    source = RowSource([], str(path))
    assert [r["to"] for r in source.rows()] == ["endpoint:17", "endpoint:27"]
    with path.open("a") as fh:  # someone appends while smscli waits for confirmation
        fh.write("endpoint:37\n")
    with pytest.raises(InputError) as info:
        list(source.rows())
    assert info.value.code == "file_changed"


def test_row_source_reads_a_pipe_twice(tmp_path: Path) -> None:
    """`--to-file <(cmd)`: a FIFO can be read once; it is spooled like stdin."""
    fifo = tmp_path / "targets.fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        with fifo.open("w") as fh:
            fh.write("# from a pipe\nendpoint:17\nendpoint:27\n")

    thread = threading.Thread(target=writer)
    thread.start()
    source = RowSource([], str(fifo))
    thread.join(5)
    try:
        first = [r["to"] for r in source.rows()]
        second = [r["to"] for r in source.rows()]
    finally:
        source.close()
    assert first == second == ["endpoint:17", "endpoint:27"]


def test_row_source_stdin_that_is_not_utf8_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A lenient text stdin (as under LC_ALL=C): the bytes are what is checked.
    raw = io.BytesIO(b"endpoint:17\n\xff\xfe\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw, errors="surrogateescape"))
    source = RowSource([], "-")
    try:
        with pytest.raises(InputError) as info:
            list(source.rows())
    finally:
        source.close()
    assert info.value.code == "bad_file"
    assert "stdin" in info.value.message


def test_distinct_targets_without_a_usable_temporary_file_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqlite3

    from smscli.errors import ConfigError

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(bulk.DistinctTargets, "IN_MEMORY", 1)
    monkeypatch.setattr(sqlite3, "connect", refuse)
    seen = bulk.DistinctTargets()
    assert seen.add("endpoint:1")
    with pytest.raises(ConfigError) as info:
        seen.add("endpoint:2")
    assert info.value.code == "temp_unavailable" and "TMPDIR" in (info.value.hint or "")


# -- the command line: reading and checking targets --------------------------------------------
def test_to_file_from_a_pipe_is_sent_once_each(cli: Cli, tmp_path: Path) -> None:
    fifo = tmp_path / "targets.fifo"
    os.mkfifo(fifo)
    targets = [ep(n) for n in range(1, 6)]

    def writer() -> None:
        with fifo.open("w") as fh:
            fh.write("".join(t + "\n" for t in targets))

    thread = threading.Thread(target=writer)
    thread.start()
    res = cli(*EM, "--to-file", str(fifo), "--rate", "0", "hi", "--json")
    thread.join(5)
    assert res.exit_code == 0, res.output
    assert sorted(posted_endpoints(cli)) == sorted(targets)


def test_to_file_plain_with_comments_and_to(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "# fleet\nendpoint:27\n\nendpoint:37 # second\n# end\n")
    res = cli(*EM, "--to", ep(1), "--to-file", path, "--rate", "0", "ping", "--json")
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert sorted(r["target"] for r in doc["results"]) == [ep(1), ep(2), ep(3)]
    assert sorted(posted_endpoints(cli)) == [ep(1), ep(2), ep(3)]
    assert {m["text"] for m in cli.sandbox.messages()} == {"ping"}


def test_to_file_from_stdin(cli: Cli) -> None:
    res = cli(*EM, "--to-file", "-", "--rate", "0", "ping", "--json", input="endpoint:17\n")
    assert res.exit_code == 0, res.output
    assert posted_endpoints(cli) == ["endpoint:17"]


def test_csv_template_from_stdin(cli: Cli) -> None:
    """--template reads the CSV header first (columns()), then the rows twice: from stdin,
    all from the same spooled copy."""
    csv_text = "to,name\nendpoint:17,Ann\nendpoint:27,Bob\n"
    res = cli(*EM, "--to-file", "-", "--template", "--rate", "0", "Hi {name}", "--json",
              input=csv_text)  # fmt: skip
    assert res.exit_code == 0, res.output
    texts = {m["target"]: m["text"] for m in cli.sandbox.messages()}
    assert texts == {"endpoint:17": "Hi Ann", "endpoint:27": "Hi Bob"}


def test_csv_template_renders_each_row(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "to,name,code\nendpoint:17,Ann,A1\nendpoint:27,Bob,B2\n")
    res = cli(*EM, "--to-file", path, "--template", "--rate", "0", "Hi {name}: {code} {{ok}}")
    assert res.exit_code == 0, res.output
    bodies = {m["target"]: m["text"] for m in cli.sandbox.messages()}
    assert bodies == {"endpoint:17": "Hi Ann: A1 {ok}", "endpoint:27": "Hi Bob: B2 {ok}"}
    sent = {json.loads(r.content)["payload"] for r in sms_posts(cli)}
    assert sent == {"Hi Ann: A1 {ok}", "Hi Bob: B2 {ok}"}


def test_template_with_plain_targets_can_use_to(cli: Cli) -> None:
    res = cli(*EM, "--to", "endpoint:17", "--template", "--rate", "0", "you are {to}")
    assert res.exit_code == 0, res.output
    assert [m["text"] for m in cli.sandbox.messages()] == ["you are endpoint:17"]


def test_template_column_missing_sends_nothing(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "to,name\nendpoint:17,Ann\nendpoint:27,Bob\n")
    res = cli(*EM, "--to-file", path, "--template", "Hi {name}, {code}", "--json")
    assert res.exit_code == 4, res.output
    error = res.json()["error"]
    assert error["code"] == "template_column_missing"
    assert "{code}" in error["message"]
    assert cli.recorder.requests == []


def test_template_row_without_the_cell_sends_nothing(cli: Cli, tmp_path: Path) -> None:
    # The header has the column, but the second row stops short of it: an input error for
    # that row (exit 4, nothing sent), never an internal error.
    path = write(tmp_path, "to,name\nendpoint:17,Ann\nendpoint:27\n")
    res = cli(*EM, "--to-file", path, "--template", "Hi {name}", "--json")
    assert res.exit_code == 4, res.output
    assert "target 2" in res.json()["error"]["message"]
    assert cli.recorder.requests == []


@pytest.mark.parametrize("text", ["Hi {to", "Hi {to.x}", "Hi {to!x}", "Hi {to:%}"])
def test_bad_template_is_exit_4(cli: Cli, text: str) -> None:
    # A conversion or format spec that str.format cannot apply is the user's input error
    # (exit 4), not an internal error (exit 1).
    res = cli(*EM, "--to", "endpoint:17", "--template", text, "--json")
    assert res.exit_code == 4, res.output
    assert res.json()["error"]["code"] == "bad_template"
    assert cli.recorder.requests == []


def test_invalid_target_in_the_middle_sends_nothing(
    cli: Cli, tmp_path: Path, isolated: Path
) -> None:
    path = targets_file(tmp_path, [ep(1), ep(2), "endpoint:12ab", ep(3)])
    res = cli(*EM, "--to-file", path, "--rate", "0", "ping", "--json")
    assert res.exit_code == 4, res.output
    error = res.json()["error"]
    assert error["message"].startswith("target 3 (endpoint:12ab)")
    assert cli.recorder.requests == []
    assert history_rows(isolated) == []


def test_a_kind_the_provider_cannot_take_sends_nothing(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, [ep(1), "+61488023555", ep(2)])
    res = cli(*EM, "--to-file", path, "--rate", "0", "ping", "--json")
    assert res.exit_code == 4, res.output
    assert "target 2" in res.json()["error"]["message"]
    assert cli.recorder.requests == []


def test_too_long_rendered_message_for_one_row_sends_nothing(cli: Cli, tmp_path: Path) -> None:
    rows = ["to,name", "+61488023555,Ann", "+61488023556," + "x" * 200, "+61488023557,Cy"]
    path = write(tmp_path, "\n".join(rows) + "\n")
    res = cli(*FD, "--to-file", path, "--template", "--max-segments", "1", "Hi {name}", "--json")
    assert res.exit_code == 4, res.output
    error = res.json()["error"]
    assert error["message"].startswith("target 2 (+61488023556)")
    assert cli.recorder.requests == []


def test_skip_invalid_sends_the_rest_and_reports_the_invalid(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, [ep(1), "endpoint:12ab", ep(2)])
    res = cli(*EM, "--to-file", path, "--skip-invalid", "--rate", "0", "ping", "--json")
    assert res.exit_code == 0, res.output  # every sendable target accepted (issue 9, W11)
    doc = res.json()
    by_target = {r["target"]: r for r in doc["results"]}
    assert set(by_target) == {ep(1), "endpoint:12ab", ep(2)}
    assert by_target[ep(1)]["status"] == by_target[ep(2)]["status"] == "accepted"
    bad = by_target["endpoint:12ab"]
    assert bad["status"] == "skipped"
    assert bad["error"]["exit_code"] == 4 and "target 2" in bad["error"]["message"]
    assert {k: doc["summary"][k] for k in ("total", "accepted", "failed", "skipped")} == {
        "total": 3,
        "accepted": 2,
        "failed": 0,
        "skipped": 1,
    }
    assert sorted(posted_endpoints(cli)) == [ep(1), ep(2)]


def test_skip_invalid_with_only_invalid_targets_sends_nothing(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, ["endpoint:12ab", "endpoint:x"])
    res = cli(*EM, "--to-file", path, "--skip-invalid", "ping", "--json")
    assert res.exit_code == 4, res.output
    assert len(res.json()["error"]["problems"]) == 2  # each one, as without --skip-invalid
    assert cli.recorder.requests == []


def test_duplicates_are_sent_once(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, [ep(1), ep(2), ep(1), "endpoint:017"])
    res = cli(*EM, "--to", ep(2), "--to-file", path, "--rate", "0", "ping", "--json")
    assert res.exit_code == 0, res.output
    assert sorted(posted_endpoints(cli)) == [ep(1), ep(2)]
    assert len(res.json()["results"]) == 2
    assert res.stderr.count("duplicate") == 3


def test_distinct_targets_spill_to_disk_past_the_in_memory_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bulk.DistinctTargets, "IN_MEMORY", 3)
    seen = bulk.DistinctTargets()
    first = [seen.add(f"endpoint:{n}") for n in range(10)]
    assert first == [True] * 10
    assert len(seen._set) == 3 and seen._db is not None  # the rest went to SQLite
    # Duplicates are found on both sides of the boundary.
    assert [seen.add(k) for k in ("endpoint:0", "endpoint:2", "endpoint:3", "endpoint:9")] == [
        False
    ] * 4
    assert seen.add("endpoint:10") is True
    seen.close()
    assert seen._db is None


def test_duplicates_past_the_in_memory_limit_are_sent_once(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk.DistinctTargets, "IN_MEMORY", 4)
    targets = [ep(n) for n in range(1, 13)]
    path = targets_file(tmp_path, [*targets, ep(11), ep(2), "endpoint:0097", *targets[:3]])
    res = cli(*EM, "--to-file", path, "--rate", "0", "ping", "--json")
    assert res.exit_code == 0, res.output
    assert sorted(posted_endpoints(cli)) == sorted(targets)
    assert res.stderr.count("duplicate") == 6


def test_more_than_100_targets_need_yes(cli: Cli, tmp_path: Path, isolated: Path) -> None:
    path = targets_file(tmp_path, [ep(n) for n in range(1, 102)])
    res = cli(*EM, "--to-file", path, "--rate", "0", "ping", "--json")
    assert res.exit_code == 2, res.output
    error = res.json()["error"]
    assert error["code"] == "confirmation_needed" and "--yes" in error["message"]
    assert cli.recorder.requests == []
    assert history_rows(isolated) == []


def test_100_targets_need_no_yes(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, [ep(n) for n in range(1, 101)])
    res = cli(*EM, "--to-file", path, "--rate", "0", "ping", "-q")
    assert res.exit_code == 0, res.output
    assert len(sms_posts(cli)) == 100


def test_yes_sends_to_more_than_100(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, [ep(n) for n in range(1, 102)])
    res = cli(*EM, "--to-file", path, "--yes", "--rate", "0", "ping", "-q")
    assert res.exit_code == 0, res.output
    assert len(sms_posts(cli)) == 101
    assert len(res.stdout.split()) == 101  # -q: one id per line


def test_dry_run_of_many_targets_sends_nothing(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, [ep(1), ep(2)])
    res = cli(*EM, "--to-file", path, "ping", "--dry-run", "--json")
    assert res.exit_code == 0, res.output
    urls = [r["url"] for r in res.json()["requests"]]
    assert sum(u.endswith("/sms") for u in urls) == 2
    assert cli.recorder.requests == []


# -- output and the history --------------------------------------------------------------------
def test_jsonl_prints_one_result_per_target(cli: Cli, tmp_path: Path, isolated: Path) -> None:
    targets = [ep(n) for n in range(1, 8)]
    res = cli(*EM, "--to-file", targets_file(tmp_path, targets), "--rate", "0", "hi", "--jsonl")
    assert res.exit_code == 0, res.output
    lines = jsonl(res.stdout)
    assert sorted(line["target"] for line in lines) == sorted(targets)
    assert all(line["status"] == "accepted" and line["message_id"] for line in lines)
    rows = history_rows(isolated)
    assert {r["message_id"] for r in rows} == {line["message_id"] for line in lines}


def test_jsonl_run_ends_with_a_summary_naming_the_batch(
    cli: Cli, tmp_path: Path, isolated: Path
) -> None:
    # The user of a --jsonl run needs the batch id for --resume (exit 9 says "with --resume").
    targets = [ep(1), ep(2), "endpoint:30400"]
    res = cli(*EM, "--to-file", targets_file(tmp_path, targets), "--rate", "0", "hi", "--jsonl")
    assert res.exit_code == 9, res.output
    assert len(jsonl(res.stdout)) == 3  # stdout stays one RESULT per line
    [batch] = {r["batch"] for r in history_rows(isolated)}
    assert batch in res.stderr
    assert "2 accepted" in res.stderr


def test_json_summary_counts_and_batch_in_history(cli: Cli, tmp_path: Path, isolated: Path) -> None:
    targets = [ep(n) for n in range(1, 6)]
    res = cli(*EM, "--to-file", targets_file(tmp_path, targets), "--rate", "0", "hi", "--json")
    assert res.exit_code == 0, res.output
    summary = res.json()["summary"]
    assert {k: summary[k] for k in ("total", "accepted", "failed", "skipped")} == {
        "total": 5,
        "accepted": 5,
        "failed": 0,
        "skipped": 0,
    }
    batch = summary["batch"]
    assert len(batch) == 8 and int(batch, 16) >= 0
    rows = history_rows(isolated)
    assert sorted(r["target"] for r in rows) == sorted(targets)
    assert {r["batch"] for r in rows} == {batch}
    assert {r["status"] for r in rows} == {"accepted"}


def test_human_run_of_many_targets_prints_a_summary_with_the_batch(
    cli: Cli, tmp_path: Path, isolated: Path
) -> None:
    targets = [ep(n) for n in range(1, 61)]
    res = cli(*EM, "--to-file", targets_file(tmp_path, targets), "--rate", "0", "hi")
    assert res.exit_code == 0, res.output
    [batch] = {r["batch"] for r in history_rows(isolated)}
    assert "60 target(s): 60 accepted, 0 failed, 0 skipped" in res.stderr
    assert batch in res.stderr


def test_each_row_is_written_before_its_request(cli: Cli, tmp_path: Path, isolated: Path) -> None:
    inner = cli.recorder.handler
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/sms"):
            target = "endpoint:" + request.url.path.split("/")[-2]
            [row] = [r for r in history_rows(isolated) if r["target"] == target]
            assert row["status"] == "unknown" and row["batch"]
            seen.append(target)
        return inner(request)

    cli.recorder.handler = handler
    targets = [ep(n) for n in range(1, 11)]
    path = targets_file(tmp_path, targets)
    res = cli(*EM, "--to-file", path, "--rate", "0", "--concurrency", "3", "hi", "--json")
    assert res.exit_code == 0, res.output
    assert sorted(seen) == sorted(targets)
    assert {r["status"] for r in history_rows(isolated)} == {"accepted"}


def test_no_history_records_nothing(cli: Cli, tmp_path: Path, isolated: Path) -> None:
    path = targets_file(tmp_path, [ep(1), ep(2)])
    res = cli(*EM, "--to-file", path, "--rate", "0", "--no-history", "hi", "--json")
    assert res.exit_code == 0, res.output
    assert history_rows(isolated) == []


# -- exit codes --------------------------------------------------------------------------------
def test_accepted_and_refused_is_exit_9(cli: Cli, tmp_path: Path, isolated: Path) -> None:
    path = targets_file(tmp_path, [ep(1), "endpoint:10400", ep(2)])
    res = cli(*EM, "--to-file", path, "--rate", "0", "hi", "--json")
    assert res.exit_code == 9, res.output
    by_target = {r["target"]: r for r in res.json()["results"]}
    assert by_target["endpoint:10400"]["status"] == "rejected"
    assert by_target["endpoint:10400"]["error"]["exit_code"] == 5
    assert res.json()["summary"]["failed"] == 1
    status = {r["target"]: r["status"] for r in history_rows(isolated)}
    assert status == {ep(1): "accepted", ep(2): "accepted", "endpoint:10400": "rejected"}


def test_all_refused_is_exit_5(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, ["endpoint:10400", "endpoint:20400", "endpoint:10404"])
    res = cli(*EM, "--to-file", path, "--rate", "0", "hi", "--json")
    assert res.exit_code == 5, res.output
    assert {r["status"] for r in res.json()["results"]} == {"rejected"}


def test_a_500_among_others_is_unknown_and_exit_9(cli: Cli, tmp_path: Path, isolated: Path) -> None:
    path = targets_file(tmp_path, [ep(1), "endpoint:10500", ep(2)])
    res = cli(*EM, "--to-file", path, "--rate", "0", "hi", "--json")
    assert res.exit_code == 9, res.output
    by_target = {r["target"]: r for r in res.json()["results"]}
    assert by_target["endpoint:10500"]["status"] == "unknown"
    assert by_target["endpoint:10500"]["error"]["exit_code"] == 7
    status = {r["target"]: r["status"] for r in history_rows(isolated)}
    assert status == {ep(1): "accepted", ep(2): "accepted", "endpoint:10500": "unknown"}
    # The send that may have been processed was not retried.
    assert posted_endpoints(cli).count("endpoint:10500") == 1


def test_nothing_accepted_with_an_unknown_is_exit_7(cli: Cli, tmp_path: Path) -> None:
    path = targets_file(tmp_path, ["endpoint:10400", "endpoint:10500"])
    res = cli(*EM, "--to-file", path, "--rate", "0", "hi", "--json")
    assert res.exit_code == 7, res.output


def _sixty(case: str) -> list[str]:
    if case == "all refused":
        return [f"endpoint:{n}0400" for n in range(1, 61)]
    if case == "all unknown":
        return [f"endpoint:{n}0500" for n in range(1, 61)]
    return [ep(n) for n in range(1, 60)] + ["endpoint:12ab"]  # one invalid, --skip-invalid


@pytest.mark.parametrize("mode", ["--json", "--jsonl", "-q", "human"])
@pytest.mark.parametrize(
    ("case", "expected"), [("all refused", 5), ("all unknown", 7), ("skip invalid", 0)]
)
def test_exit_code_of_a_large_run_does_not_depend_on_the_output_mode(
    cli: Cli, tmp_path: Path, mode: str, case: str, expected: int
) -> None:
    # More than 50 targets: human/--jsonl/-q runs do not keep every RESULT, and must still
    # give the exit code SPEC §5 gives (--json keeps them all).
    path = targets_file(tmp_path, _sixty(case))
    args = [*EM, "--to-file", path, "--rate", "0", "--concurrency", "8", "hi"]
    if case == "skip invalid":
        args.append("--skip-invalid")
    if mode != "human":
        args.append(mode)
    res = cli(*args)
    assert res.exit_code == expected, res.stderr[-500:]


# -- --rate and --concurrency ------------------------------------------------------------------
@pytest.fixture
def limiter_rates(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """The rate each run's RateLimiter is built with (and no real sleeping)."""
    rates: list[float | None] = []

    class Spy(RateLimiter):
        def __init__(self, rate: float | None, **kw: Any) -> None:
            rates.append(rate)
            t = FakeTime()  # waits for a slot pass on a fake clock
            super().__init__(rate, clock=t.clock, sleep=t.sleep)

    monkeypatch.setattr(runner, "RateLimiter", Spy)
    return rates


@pytest.mark.parametrize(
    ("args", "rate"),
    [([], 2000 / 300), (["--rate", "0"], None), (["--rate", "2.5"], 2.5)],
    ids=["emnify default: 2000 per 5 min", "0 = unlimited", "explicit"],
)
def test_rate_default_and_flag(
    cli: Cli, limiter_rates: list[float | None], args: list[str], rate: float | None
) -> None:
    res = cli(*EM, "--to", ep(1), "--to", ep(2), *args, "hi", "--json")
    assert res.exit_code == 0, res.output
    assert limiter_rates == [pytest.approx(rate) if rate else None]


def test_rate_from_the_profile(cli: Cli, isolated: Path, limiter_rates: list[float | None]) -> None:
    write_config(
        isolated,
        'default_profile = "fleet"\n[profiles.fleet]\nprovider = "emnify"\n'
        f'base_url = "{base_url("emnify")}"\napplication_token = "T0ken"\nrate = 3\n',
    )
    res = cli("send", "--to", ep(1), "--to", ep(2), "hi", "--json")
    assert res.exit_code == 0, res.output
    assert limiter_rates == [3]


def test_default_rate_counts_requests_not_messages(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # emnify documents 2,000 requests per 5 minutes; a 2-part message is 2 POSTs per target.
    # The limiter is a token bucket: a message's parts may go together, but the 5 messages
    # (10 POSTs) are spaced 2 intervals of 0.15 s apart, so the first and last POSTs of the
    # run are at least 4 * 2 * 0.15 s apart (counting messages would give only 4 * 0.15 s).
    class OnCliClock(RateLimiter):
        def __init__(self, rate: float | None, **kw: Any) -> None:
            super().__init__(rate, clock=lambda: cli.clock[0], sleep=cli.advance)

    monkeypatch.setattr(runner, "RateLimiter", OnCliClock)
    inner = cli.recorder.handler
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/sms"):
            times.append(cli.clock[0])
        return inner(request)

    cli.recorder.handler = handler
    targets = [arg for n in range(1, 6) for arg in ("--to", ep(n))]
    res = cli(*EM, *targets, "--concurrency", "1", "x" * 200, "--json")
    assert res.exit_code == 0, res.output
    assert len(times) == 10
    assert times[-1] - times[0] >= 4 * 2 * (300 / 2000) - 1e-6  # epoch floats: ulp ~2e-7


def test_concurrency_shares_one_login(cli: Cli, tmp_path: Path, isolated: Path) -> None:
    targets = [ep(n) for n in range(1, 51)]
    path = targets_file(tmp_path, targets)
    res = cli(*EM, "--to-file", path, "--concurrency", "8", "--rate", "0", "hi", "--json")
    assert res.exit_code == 0, res.output
    assert {r["status"] for r in res.json()["results"]} == {"accepted"}
    logins = [p for p in cli.recorder.paths() if p == "POST /emnify/api/v1/authenticate"]
    assert len(logins) == 1
    assert sorted(posted_endpoints(cli)) == sorted(targets)
    rows = history_rows(isolated)
    assert sorted(r["target"] for r in rows) == sorted(targets)
    assert len({r["batch"] for r in rows}) == 1


def test_concurrency_really_overlaps_requests(cli: Cli, tmp_path: Path) -> None:
    inner = cli.recorder.handler
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    gate = threading.Barrier(4, timeout=10)

    def handler(request: httpx.Request) -> httpx.Response:
        is_sms = request.method == "POST" and request.url.path.endswith("/sms")
        if is_sms:
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            if request.url.path.split("/")[-2] in ("27", "37", "47", "57"):
                gate.wait()  # these four can only get past together
        try:
            return inner(request)
        finally:
            if is_sms:
                with lock:
                    state["now"] -= 1

    cli.recorder.handler = handler
    path = targets_file(tmp_path, [ep(n) for n in range(1, 9)])
    res = cli(*EM, "--to-file", path, "--concurrency", "4", "--rate", "0", "hi", "--json")
    assert res.exit_code == 0, res.output
    assert state["max"] == 4


# -- ThingSpace batches natively ---------------------------------------------------------------
def test_thingspace_sends_many_devices_in_one_request(cli: Cli, isolated: Path) -> None:
    devices = ["mdn:5555550117", "mdn:5555550127", "mdn:5555550137"]
    res = cli(*TS, *(a for d in devices for a in ("--to", d)), "reboot", "--json")
    assert res.exit_code == 0, res.output
    sends = [r for r in cli.recorder.requests if r.url.path == "/thingspace/api/m2m/v1/sms"]
    assert len(sends) == 1
    body = json.loads(sends[0].content)
    assert body["deviceIds"] == [{"kind": "mdn", "id": d.split(":")[1]} for d in devices]
    results = res.json()["results"]
    assert sorted(r["target"] for r in results) == devices
    [request_id] = {r["request_id"] for r in results}
    assert request_id
    rows = history_rows(isolated)
    assert {r["request_id"] for r in rows} == {request_id}
    assert len({r["batch"] for r in rows}) == 1 and len(rows) == 3


def test_thingspace_splits_at_10000_devices(cli: Cli, tmp_path: Path) -> None:
    devices = [f"mdn:55{n:07d}7" for n in range(10_001)]
    path = targets_file(tmp_path, devices)
    res = cli(*TS, "--to-file", path, "--yes", "reboot", "-q", "--no-history")
    assert res.exit_code == 0, res.output[-2000:]
    sends = [r for r in cli.recorder.requests if r.url.path == "/thingspace/api/m2m/v1/sms"]
    sizes = sorted(len(json.loads(r.content)["deviceIds"]) for r in sends)
    assert sizes == [1, 10_000]


# -- --resume ----------------------------------------------------------------------------------
def test_resume_skips_accepted_and_refuses_unknown(
    cli: Cli, tmp_path: Path, isolated: Path
) -> None:
    path = targets_file(tmp_path, [ep(1), "endpoint:10400", ep(2), "endpoint:10500"])
    first = cli(*EM, "--to-file", path, "--rate", "0", "hi", "--json")
    assert first.exit_code == 9, first.output
    batch = first.json()["summary"]["batch"]
    cli.recorder.requests.clear()

    again = cli(*EM, "--to-file", path, "--rate", "0", "--resume", batch, "hi", "--json")
    # Only the refused target goes out again; the unknown one is reported, not sent.
    assert posted_endpoints(cli) == ["endpoint:10400"]
    by_target = {r["target"]: r for r in again.json()["results"]}
    assert set(by_target) == {"endpoint:10400", "endpoint:10500"}
    unknown = by_target["endpoint:10500"]
    assert unknown["status"] == "unknown"
    assert unknown["error"]["code"] == "resume_unknown"
    assert again.json()["summary"]["skipped"] == 2
    assert again.exit_code == 7, again.output  # nothing accepted; an unknown outcome
    cli.recorder.requests.clear()

    forced = cli(*EM, "--to-file", path, "--rate", "0", "--resume", batch, "--force", "hi")
    assert forced.exit_code == 7, forced.output
    assert sorted(posted_endpoints(cli)) == ["endpoint:10400", "endpoint:10500"]
    rows = history_rows(isolated)
    assert {r["batch"] for r in rows} == {batch}
    assert Counter(r["target"] for r in rows) == {
        ep(1): 1,
        ep(2): 1,
        "endpoint:10400": 3,
        "endpoint:10500": 2,
    }


def test_resume_sends_only_what_the_batch_has_not_accepted(
    cli: Cli, tmp_path: Path, isolated: Path
) -> None:
    first = cli(*EM, "--to", ep(1), "--to", ep(2), "--rate", "0", "hi", "--json")
    assert first.exit_code == 0, first.output
    batch = first.json()["summary"]["batch"]
    cli.recorder.requests.clear()
    path = targets_file(tmp_path, [ep(n) for n in range(1, 6)])
    res = cli(*EM, "--to-file", path, "--rate", "0", "--resume", batch, "hi", "--json")
    assert res.exit_code == 0, res.output
    assert sorted(posted_endpoints(cli)) == [ep(3), ep(4), ep(5)]
    assert res.json()["summary"]["skipped"] == 2
    assert res.json()["summary"]["batch"] == batch
    cli.recorder.requests.clear()
    done = cli(*EM, "--to-file", path, "--rate", "0", "--resume", batch, "hi", "--json")
    assert done.exit_code == 0, done.output
    assert sms_posts(cli) == []
    assert done.json()["summary"]["skipped"] == 5
    assert Counter(r["target"] for r in history_rows(isolated)) == {ep(n): 1 for n in range(1, 6)}


def test_resume_of_an_unknown_batch_is_exit_4(cli: Cli) -> None:
    res = cli(*EM, "--to", ep(1), "--resume", "deadbeef", "hi", "--json")
    assert res.exit_code == 4, res.output
    assert res.json()["error"]["code"] == "unknown_batch"
    assert sms_posts(cli) == []


# -- Ctrl-C ------------------------------------------------------------------------------------
def interrupt_on_sms(cli: Cli, nth: int) -> list[str]:
    """SIGINT arrives while the ``nth`` SMS request is in flight (after the sandbox took it,
    before its reply reaches smscli). Returns the endpoints the sandbox took."""
    inner = cli.recorder.handler
    lock = threading.Lock()
    taken: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        if request.method == "POST" and request.url.path.endswith("/sms"):
            with lock:
                taken.append("endpoint:" + request.url.path.split("/")[-2])
                fire = len(taken) == nth
            if fire:
                os.kill(os.getpid(), signal.SIGINT)
        return response

    cli.recorder.handler = handler
    return taken


@pytest.mark.parametrize(
    ("concurrency", "nth"),
    [("4", 6), ("1", 3), ("4", 1)],
    ids=["in a worker thread", "concurrency 1", "during the first request"],
)
def test_ctrl_c_finishes_and_records_in_flight_sends(
    cli: Cli, tmp_path: Path, isolated: Path, concurrency: str, nth: int
) -> None:
    targets = [ep(n) for n in range(1, 31)]
    path = targets_file(tmp_path, targets)
    plain = cli.recorder.handler
    taken = interrupt_on_sms(cli, nth)
    args = [*EM, "--to-file", path, "--rate", "0", "--concurrency", concurrency, "hi"]
    res = cli(*args, "--jsonl")
    assert res.exit_code == 130, res.output
    assert nth <= len(taken) < len(targets)
    rows = history_rows(isolated)
    [batch] = {r["batch"] for r in rows}
    assert f"--resume {batch}" in res.stderr
    # Every request that went out was finished and recorded: nothing is left unknown.
    status = {r["target"]: r["status"] for r in rows}
    assert status == dict.fromkeys(taken, "accepted")
    assert sorted(line["target"] for line in jsonl(res.stdout)) == sorted(taken)

    cli.recorder.handler = plain
    resumed = cli(*args, "--resume", batch, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert Counter(m["target"] for m in cli.sandbox.messages()) == dict.fromkeys(targets, 1)


# -- runner.Runner on its own: rounds, the history, a crash, a second Ctrl-C -----------------------
class RunnerHarness:
    """A Runner over a real History in tmp_path and a fake send that checks, from the send
    thread, what the history holds at the moment a request would go out."""

    def __init__(self, tmp_path: Path, *, concurrency: int = 4, rate: float | None = None) -> None:
        from smscli.encoding import analyze
        from smscli.history import History
        from smscli.models import Message

        self.path = tmp_path / "history.sqlite3"
        self.history = History(self.path)
        self.message = Message(check=analyze("hi"))
        self.concurrency = concurrency
        self.rate = rate
        self.records = 0
        self.sent: list[str] = []
        self.printed: list[str] = []
        self.unknown_at_send: list[int] = []
        self.problems: list[str] = []
        self.fail_on: str | None = None
        self.on_send: Any = None
        self.lock = threading.Lock()
        record = self.history.record

        def counting_record(**kwargs: Any) -> list[int | None]:
            self.records += 1
            return record(**kwargs)

        self.history.record = counting_record  # type: ignore[method-assign]

    def rows(self) -> dict[str, str]:
        db = sqlite3.connect(self.path)
        try:
            return dict(db.execute("SELECT target, status FROM sends ORDER BY id").fetchall())
        finally:
            db.close()

    def send(self, job: bulk.Job, targets: list[Any]) -> list[Any]:
        from smscli.models import SendResult, Status

        [target] = targets
        rows = self.rows()
        if rows.get(str(target)) != "unknown":
            self.problems.append(f"{target}: no unknown row before the request ({rows})")
        self.unknown_at_send.append(sum(1 for s in rows.values() if s == "unknown"))
        if self.on_send is not None:
            self.on_send(str(target))
        if str(target) == self.fail_on:
            raise RuntimeError("a bug in a send thread")
        with self.lock:
            self.sent.append(str(target))
        return [SendResult("emnify", None, str(target), Status.ACCEPTED, message_id=str(target))]

    def on_result(self, result: Any) -> None:
        # Called from the main thread after the round's transaction: already recorded.
        if self.rows().get(result.target) != "accepted":
            self.problems.append(f"{result.target} printed before it was recorded")
        self.printed.append(result.target)

    def run(self, count: int, triage: Any = None) -> runner.Outcome:
        from smscli.history import Attempt
        from smscli.models import Target

        jobs = (bulk.Job([Target("endpoint", f"{n}7")], self.message, n) for n in range(count))
        sender = runner.Runner(
            self.send,
            history=self.history,
            attempt=lambda job, t: Attempt("emnify", None, "x", str(t), "hi", 1, "gsm7", None),
            triage=triage or (lambda job: runner.Triage(job.targets)),
            concurrency=self.concurrency,
            limiter=RateLimiter(self.rate),
            on_result=self.on_result,
            keep_results=False,
        )
        try:
            return sender.run(jobs)
        finally:
            self.history.close()


def test_runner_records_before_each_request_and_prints_only_what_is_recorded(
    tmp_path: Path,
) -> None:
    h = RunnerHarness(tmp_path, concurrency=4)
    outcome = h.run(200)
    assert h.problems == []
    assert outcome.counts == {"total": 200, "accepted": 200, "failed": 0, "skipped": 0}
    assert sorted(h.printed) == sorted(h.sent) and len(set(h.sent)) == 200
    assert set(h.rows().values()) == {"accepted"}
    # Handed out and not yet recorded: only what the threads are sending (one each).
    assert max(h.unknown_at_send) <= 4
    # One transaction per round (a round records one answer or more, and starts the next
    # jobs), never the 400 of two writes per target.
    assert h.records <= 200 + 1


def test_runner_bug_in_a_send_thread_stops_and_drops_rows_never_sent(tmp_path: Path) -> None:
    h = RunnerHarness(tmp_path, concurrency=3)
    h.fail_on = "endpoint:207"
    with pytest.raises(RuntimeError, match="a bug in a send thread"):
        h.run(100)
    rows = h.rows()
    # What went out is recorded; the crashed request stays unknown; jobs handed out but never
    # started have no row (nothing was sent for them).
    assert {t for t, s in rows.items() if s == "accepted"} == set(h.sent)
    assert {t for t, s in rows.items() if s == "unknown"} == {"endpoint:207"}
    assert len(rows) == len(h.sent) + 1 < 100


def test_runner_second_ctrl_c_stops_waiting(tmp_path: Path) -> None:
    h = RunnerHarness(tmp_path, concurrency=2)
    release = threading.Event()

    def on_send(target: str) -> None:
        if target == "endpoint:57":
            os.kill(os.getpid(), signal.SIGINT)  # first: stop handing out jobs
            release.wait(2)
            os.kill(os.getpid(), signal.SIGINT)  # second: stop waiting for this one
            time.sleep(0.5)  # still in flight when the main thread gives up on it

    h.on_send = on_send
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    timer = threading.Timer(0.2, release.set)
    timer.start()
    outcome = h.run(50)
    timer.cancel()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert outcome.interrupted
    assert outcome.abandoned == 1  # endpoint:57, still in flight
    rows = h.rows()
    # Answers already in when the wait was stopped are recorded AND shown and counted.
    recorded = sorted(t for t, status in rows.items() if status == "accepted")
    assert sorted(h.printed) == recorded
    assert outcome.counts["accepted"] == len(recorded)
    assert rows["endpoint:57"] == "unknown"  # in flight when the run was abandoned
    assert "endpoint:497" not in rows  # never handed out
    assert set(rows.values()) <= {"accepted", "unknown"}
    assert sum(1 for s in rows.values() if s == "unknown") <= 2 * 2


def test_runner_error_in_the_main_thread_records_what_is_in_flight(tmp_path: Path) -> None:
    from smscli.errors import OutcomeUnknown

    h = RunnerHarness(tmp_path, concurrency=3)

    def triage(job: bulk.Job) -> runner.Triage:
        if job.row == 40:  # e.g. an idempotency key whose earlier send has an unknown outcome
            raise OutcomeUnknown("an earlier send has an unknown outcome", code="x")
        return runner.Triage(job.targets)

    def slow(target: str) -> None:
        time.sleep(0.01)  # some requests are surely in flight when the error comes

    h.on_send = slow
    with pytest.raises(OutcomeUnknown):
        h.run(100, triage=triage)
    rows = h.rows()
    # Requests in flight finished and were recorded; nothing sent is left unknown, and
    # nothing that was not sent has a row.
    assert rows == dict.fromkeys(h.sent, "accepted")
    assert 20 <= len(h.sent) <= 40  # some of rows 0-39 (what was handed out before row 40)
    assert h.problems == []


def test_runner_with_a_rate_hands_out_only_what_can_start(tmp_path: Path) -> None:
    """Under a rate limit a job's row is written when its slot is due and a thread is free:
    the rows that are unknown at any moment are the requests in flight, never more."""
    h = RunnerHarness(tmp_path, concurrency=3, rate=400)
    started = time.monotonic()
    outcome = h.run(60)
    elapsed = time.monotonic() - started
    assert h.problems == []
    assert outcome.counts["accepted"] == 60
    assert max(h.unknown_at_send) <= 3
    assert elapsed >= 59 / 400  # paced: 60 starts at 400 per second


def test_runner_first_ctrl_c_under_a_slow_rate_returns_at_once(tmp_path: Path) -> None:
    """The main thread waits for rate slots in steps that notice Ctrl-C: at 1 message per
    second, stopping does not wait for the next slot."""
    h = RunnerHarness(tmp_path, concurrency=2, rate=1)

    def on_send(target: str) -> None:
        if target == "endpoint:17":  # the second job
            os.kill(os.getpid(), signal.SIGINT)

    h.on_send = on_send
    started = time.monotonic()
    outcome = h.run(10)
    assert time.monotonic() - started < 1.8  # 1 s for the second slot, then at once
    assert outcome.interrupted
    assert h.rows() == dict.fromkeys(h.sent, "accepted")
    assert h.sent == ["endpoint:07", "endpoint:17"]


def test_second_ctrl_c_prints_the_summary_the_unknown_ones_and_the_hint(
    cli: Cli, tmp_path: Path, isolated: Path
) -> None:
    inner = cli.recorder.handler
    fired = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        if request.url.path.endswith("/37/sms") and not fired.is_set():
            fired.set()
            os.kill(os.getpid(), signal.SIGINT)  # stop handing out
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGINT)  # stop waiting for this one
            time.sleep(0.6)
        return response

    cli.recorder.handler = handler
    targets = [ep(n) for n in range(1, 21)]
    path = targets_file(tmp_path, targets)
    res = cli(*EM, "--to-file", path, "--rate", "0", "--concurrency", "1", "hi")
    assert res.exit_code == 130, res.output
    rows = history_rows(isolated)
    [batch] = {r["batch"] for r in rows}
    status = {r["target"]: r["status"] for r in rows}
    assert status == {ep(1): "accepted", ep(2): "accepted", ep(3): "unknown"}
    assert "1 target(s) were in flight when the wait was stopped" in res.stderr
    assert f"smscli status --batch {batch}" in res.stderr
    assert "17 target(s) were not sent" in res.stderr
    assert f"--resume {batch}" in res.stderr


def test_idempotency_unknown_for_one_of_many_is_its_result_not_the_runs_end(
    cli: Cli, tmp_path: Path
) -> None:
    unknown = "endpoint:10500"  # the sandbox's magic suffix 0500: outcome unknown
    first = cli(*EM, "--to", unknown, "--idempotency-key", "k1", "hi")
    assert first.exit_code == 7, first.output
    targets = [ep(1), unknown, ep(2), ep(3)]
    to = [arg for t in targets for arg in ("--to", t)]
    res = cli(*EM, *to, "--idempotency-key", "k1", "--rate", "0", "hi", "--json")
    assert res.exit_code == 9, res.output
    by_target = {r["target"]: r for r in res.json()["results"]}
    assert by_target[unknown]["status"] == "unknown"
    assert by_target[unknown]["error"]["code"] == "idempotency_unknown"
    assert {by_target[t]["status"] for t in (ep(1), ep(2), ep(3))} == {"accepted"}
    assert sorted(posted_endpoints(cli)) == sorted([unknown, ep(1), ep(2), ep(3)])  # once each


def test_history_failing_mid_run_exits_7_with_the_batch_not_nothing_sent(
    cli: Cli, tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smscli.errors import ConfigError
    from smscli.history import History

    record = History.record
    calls = [0]

    def failing(self: History, **kwargs: Any) -> list[int | None]:
        calls[0] += 1
        if calls[0] == 6:
            raise ConfigError(
                "cannot write the history: disk full",
                hint="free disk space or fix the permissions; or use --no-history",
                code="history_unavailable",
            )
        return record(self, **kwargs)

    monkeypatch.setattr(History, "record", failing)
    targets = [ep(n) for n in range(1, 41)]
    res = cli(*EM, "--to-file", targets_file(tmp_path, targets), "--rate", "0", "hi", "--json")
    assert res.exit_code == 7, res.output
    error = res.json()["error"]
    assert error["code"] == "history_unavailable"
    assert "the run stopped after" in error["message"] and "batch" in error["message"]
    assert "--resume" in error["hint"] and "--no-history" not in error["hint"]
    sent = posted_endpoints(cli)
    assert 0 < len(sent) < len(targets)


def test_history_failing_after_a_single_send_exits_7_not_3(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one SMS went out; the history could not record the answer. Exit 3 with "use
    --no-history" would invite sending it again."""
    from smscli.errors import ConfigError
    from smscli.history import History

    record = History.record

    def failing(self: History, **kwargs: Any) -> list[int | None]:
        if kwargs.get("finished"):
            raise ConfigError("cannot write the history: disk full", code="history_unavailable")
        return record(self, **kwargs)

    monkeypatch.setattr(History, "record", failing)
    res = cli(*EM, "--to", ep(1), "hi", "--json")
    assert res.exit_code == 7, res.output
    assert "the run stopped after 1 target(s)" in res.json()["error"]["message"]
    assert posted_endpoints(cli) == [ep(1)]


def test_login_refused_half_way_exits_7_with_the_batch(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smscli.errors import LoginRefused
    from smscli.providers.emnify import Emnify

    send = Emnify.send
    calls = [0]

    def refused_later(self: Emnify, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] > 4:  # the token ran out and the new login is refused
            raise LoginRefused("emnify refused the login (401)", code="login_refused")
        return send(self, *args, **kwargs)

    monkeypatch.setattr(Emnify, "send", refused_later)
    targets = [ep(n) for n in range(1, 31)]
    path = targets_file(tmp_path, targets)
    res = cli(*EM, "--to-file", path, "--rate", "0", "--concurrency", "1", "hi", "--json")
    assert res.exit_code == 7, res.output
    error = res.json()["error"]
    assert "the run stopped after" in error["message"] and "batch" in error["message"]
    assert "--resume" in error["hint"]
    assert len(posted_endpoints(cli)) == 4


def test_runner_stdout_error_stops_like_ctrl_c(tmp_path: Path) -> None:
    h = RunnerHarness(tmp_path, concurrency=2)
    printed = [0]

    def full_disk(result: Any) -> None:
        printed[0] += 1
        if printed[0] == 3:
            raise OSError(28, "No space left on device")

    h.on_result = full_disk  # type: ignore[method-assign]
    outcome = h.run(50)
    assert outcome.interrupted
    assert set(h.rows().values()) == {"accepted"}  # in flight finished and recorded
    assert len(h.rows()) < 50


def test_to_file_changed_during_the_send_stops_without_sending_the_new_rows(
    cli: Cli, tmp_path: Path
) -> None:
    targets = [ep(n) for n in range(1, 11)]
    path = Path(targets_file(tmp_path, targets))
    inner = cli.recorder.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/17/sms"):  # the first SMS: someone appends a line
            with path.open("a") as fh:
                fh.write(ep(99) + "\n")
        return inner(request)

    cli.recorder.handler = handler
    res = cli(*EM, "--to-file", str(path), "--rate", "0", "--concurrency", "1", "hi", "--json")
    assert res.exit_code == 7, res.output  # some went out: outcome of the run unknown
    error = res.json()["error"]
    assert error["code"] == "file_changed"
    assert "--resume" in error["hint"]
    assert ep(99) not in posted_endpoints(cli)
    assert set(posted_endpoints(cli)) <= set(targets)


def test_runner_reports_earlier_results_in_rounds_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """A resume of a batch whose targets all have earlier RESULTs sends nothing, but must
    still show them as it goes (not all at the end, not all in memory) and notice Ctrl-C."""
    from smscli.models import SendResult, Status

    h = RunnerHarness(tmp_path, concurrency=2)

    def known(job: bulk.Job) -> runner.Triage:
        [target] = job.targets
        earlier = SendResult("emnify", None, str(target), Status.UNKNOWN)
        return runner.Triage([], known=[earlier])

    def on_result(result: Any) -> None:
        h.printed.append(result.target)
        if len(h.printed) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    h.on_result = on_result  # type: ignore[method-assign]
    outcome = h.run(5000, triage=known)
    assert outcome.interrupted
    assert len(h.printed) == runner._KNOWN_PER_ROUND  # the round in progress, then it stopped
    assert h.sent == []


def test_runner_thread_that_cannot_start_is_an_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot_start(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    h = RunnerHarness(tmp_path, concurrency=2)
    monkeypatch.setattr(threading.Thread, "start", cannot_start)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        h.run(10)
    assert h.rows() == {}  # the handed-out job never went out: its row is gone
