"""Issue 12: the dedupe window. `send --dedupe-window 30m` (or `dedupe_window` in a profile)
does not send the same text to the same target again within the window: the held-back
send is recorded as `deduped` (details.deduped_of points at the earlier row) and the run
exits 0 with a note. `--dedupe-key TEMPLATE` chooses what counts as the same send.

In-process through the `cli` fixture, and ten real processes at once against a real
`smscli sandbox` (one message)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from smscli.api import Client
from smscli.errors import ExitCode, LockHeld, UsageError
from smscli.locks import FileLock
from smscli.models import Status
from smscli.sandbox.server import Sandbox
from tests.conftest import SCRIPT, Cli, base_url, write_config

EM = ["send", "--provider", "emnify", "--base-url", base_url("emnify"),
      "--application-token", "t"]  # fmt: skip


def _rows(cli: Cli) -> list[dict[str, object]]:
    res = cli("log", "--json", "-n", "100")
    assert res.exit_code == 0, res.output
    rows: list[dict[str, object]] = res.json()["entries"]
    return rows


def test_the_same_text_twice_within_the_window_is_sent_once(cli: Cli) -> None:
    first = cli(*EM, "-t", "endpoint:1001", "--dedupe-window", "30m", "reboot", "--json")
    assert first.exit_code == 0, first.output
    sent = first.json()["results"][0]
    second = cli(*EM, "-t", "endpoint:1001", "--dedupe-window", "30m", "reboot", "--json")
    assert second.exit_code == 0, second.output
    assert len(cli.sandbox.messages()) == 1
    doc = second.json()
    [result] = doc["results"]
    assert result["status"] == "deduped" and result["message_id"] is None
    summary = {k: doc["summary"][k] for k in ("total", "accepted", "failed", "skipped")}
    assert summary == {"total": 1, "accepted": 0, "failed": 0, "skipped": 1}
    rows = _rows(cli)
    assert [r["status"] for r in rows] == ["accepted", "deduped"]
    earlier, deduped = rows
    pointer = deduped["details"]["deduped_of"]  # type: ignore[index]
    assert pointer["id"] == earlier["id"] and pointer["message_id"] == sent["message_id"]
    assert result["details"]["deduped_of"] == pointer
    assert deduped["dedupe_key"] == earlier["dedupe_key"]
    assert str(earlier["dedupe_key"]).startswith("emnify:endpoint:1001:")
    line = second.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"deduped: endpoint:1001 was sent the same text at {earlier['created_at']} "
        f"(#{earlier['id']}); not sent again"
    ), second.stderr


def test_human_output_and_the_note(cli: Cli) -> None:
    assert cli(*EM, "-t", "endpoint:1001", "--dedupe-window", "1h", "x").exit_code == 0
    res = cli(*EM, "-t", "endpoint:1001", "--dedupe-window", "1h", "x")
    assert res.exit_code == 0
    assert "deduped" in res.stdout and 'deduped_of={"id":1,' in res.stdout
    assert "deduped: endpoint:1001 was sent the same text at " in res.stderr


def test_a_different_text_or_target_is_sent(cli: Cli) -> None:
    for text, target in (("a", "endpoint:1001"), ("b", "endpoint:1001"), ("a", "endpoint:1002")):
        res = cli(*EM, "-t", target, "--dedupe-window", "30m", text)
        assert res.exit_code == 0 and "deduped" not in res.output, res.output
    assert len(cli.sandbox.messages()) == 3


def test_after_the_window_it_is_sent_again(cli: Cli) -> None:
    assert cli(*EM, "-t", "endpoint:1001", "--dedupe-window", "1s", "ping").exit_code == 0
    time.sleep(2.1)  # the history's times are the wall clock's, to the second
    res = cli(*EM, "-t", "endpoint:1001", "--dedupe-window", "1s", "ping")
    assert res.exit_code == 0 and "deduped" not in res.output, res.output
    assert len(cli.sandbox.messages()) == 2


def test_without_a_window_nothing_is_deduped_and_no_key_is_stored(cli: Cli) -> None:
    for _ in range(2):
        assert cli(*EM, "-t", "endpoint:1001", "same").exit_code == 0
    assert len(cli.sandbox.messages()) == 2
    assert [r["dedupe_key"] for r in _rows(cli)] == [None, None]


def test_force_sends_and_stores_the_key(cli: Cli) -> None:
    args = [*EM, "-t", "endpoint:1001", "--dedupe-window", "30m", "again"]
    assert cli(*args).exit_code == 0
    res = cli(*args, "--force")
    assert res.exit_code == 0 and "deduped" not in res.output
    assert len(cli.sandbox.messages()) == 2
    keys = {r["dedupe_key"] for r in _rows(cli)}
    assert len(keys) == 1 and None not in keys


def test_an_unknown_send_holds_the_window_a_refused_one_does_not(cli: Cli) -> None:
    args = ["--dedupe-window", "30m", "--timeout", "1", "hi"]
    assert cli(*EM, "-t", "endpoint:10500", *args).exit_code == 7  # HTTP 500: unknown
    res = cli(*EM, "-t", "endpoint:10500", *args)
    assert res.exit_code == 0 and "deduped: endpoint:10500" in res.stderr, res.output
    assert cli(*EM, "-t", "endpoint:10400", *args).exit_code == 5  # rejected: not sent
    res = cli(*EM, "-t", "endpoint:10400", *args)
    assert res.exit_code == 5 and "deduped" not in res.output  # tried again


def test_many_targets_are_deduped_each_on_its_own(cli: Cli, tmp_path: Path) -> None:
    args = ["--dedupe-window", "30m", "--rate", "0", "--json", "hello"]
    assert cli(*EM, "-t", "endpoint:1001", "-t", "endpoint:1002", *args).exit_code == 0
    res = cli(*EM, "-t", "endpoint:1001", "-t", "endpoint:1003", "-t", "endpoint:1002", *args)
    assert res.exit_code == 0, res.output
    statuses = {r["target"]: r["status"] for r in res.json()["results"]}
    assert statuses == {
        "endpoint:1001": "deduped",
        "endpoint:1002": "deduped",
        "endpoint:1003": "accepted",
    }
    summary = {k: res.json()["summary"][k] for k in ("total", "accepted", "failed", "skipped")}
    assert summary == {"total": 3, "accepted": 1, "failed": 0, "skipped": 2}
    assert len(cli.sandbox.messages()) == 3


def test_a_dedupe_key_from_a_to_file_column(cli: Cli, tmp_path: Path) -> None:
    """An Alertmanager-style group key: one SMS per group within the window, whatever the
    text and the target."""
    first = tmp_path / "first.csv"
    first.write_text("to,group\nendpoint:1001,db-down\nendpoint:1002,disk-full\n")
    args = ["--dedupe-window", "30m", "--dedupe-key", "{group}", "--rate", "0", "--json"]
    res = cli(*EM, "--to-file", str(first), *args, "alert 1")
    assert res.exit_code == 0, res.output
    later = tmp_path / "later.csv"
    later.write_text("to,group\nendpoint:1003,db-down\nendpoint:1004,cpu\n")
    res = cli(*EM, "--to-file", str(later), *args, "alert 2, other text")
    assert res.exit_code == 0, res.output
    statuses = {r["target"]: r["status"] for r in res.json()["results"]}
    assert statuses == {"endpoint:1003": "deduped", "endpoint:1004": "accepted"}
    assert "endpoint:1003: its --dedupe-key was sent at " in res.stderr
    assert "to endpoint:1001)" in res.stderr
    assert len(cli.sandbox.messages()) == 3
    rows = _rows(cli)
    assert [r["dedupe_key"] for r in rows] == ["db-down", "disk-full", "db-down", "cpu"]


def test_key_placeholders(cli: Cli) -> None:
    args = ["--dedupe-window", "30m", "--dedupe-key", "{profile}|{provider}|{to}"]
    assert cli(*EM, "-t", "endpoint:1001", *args, "one text").exit_code == 0
    res = cli(*EM, "-t", "endpoint:1001", *args, "another text")
    assert res.exit_code == 0 and "deduped: endpoint:1001: its --dedupe-key" in res.stderr
    assert _rows(cli)[0]["dedupe_key"] == "|emnify|endpoint:1001"


def test_dry_run_says_which_would_be_deduped(cli: Cli) -> None:
    assert cli(*EM, "-t", "endpoint:1001", "--dedupe-window", "30m", "dry").exit_code == 0
    res = cli(*EM, "-t", "endpoint:1001", "-t", "endpoint:1002", "--dedupe-window", "30m",
              "--dry-run", "dry")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "dry run: deduped: endpoint:1001 was sent the same text at " in res.stderr
    assert "endpoint:1002" not in res.stderr
    # The held-back target's request is not listed; the other one's is.
    assert "/endpoint/1001/sms" not in res.stdout and "/endpoint/1002/sms" in res.stdout
    # Two targets of one run sharing a key: the second is held back, as a real run does.
    res = cli(*EM, "-t", "endpoint:1003", "-t", "endpoint:1004", "--dedupe-window", "30m",
              "--dedupe-key", "{provider}", "--dry-run", "dry")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "dry run: deduped: endpoint:1004: its --dedupe-key is that of endpoint:1003" in (
        res.stderr
    )
    assert "/endpoint/1003/sms" in res.stdout and "/endpoint/1004/sms" not in res.stdout
    assert len(cli.sandbox.messages()) == 1
    assert len(_rows(cli)) == 1  # a dry run writes nothing


def test_a_dedupe_window_in_the_profile(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        f'[profiles.fleet]\nprovider = "emnify"\nbase_url = "{base_url("emnify")}"\n'
        'application_token = "t"\ndedupe_window = "30m"\n',
    )
    assert cli("send", "-p", "fleet", "-t", "endpoint:1001", "hi").exit_code == 0
    res = cli("send", "-p", "fleet", "-t", "endpoint:1001", "hi")
    assert res.exit_code == 0 and "deduped: endpoint:1001" in res.stderr
    assert "(within dedupe_window; --force sends)" in res.stderr
    assert len(cli.sandbox.messages()) == 1
    # The env var of a common field overrides it (SMSCLI_<PROVIDER>_<FIELD>).
    res = cli("send", "-p", "fleet", "-t", "endpoint:1001", "hi",
              SMSCLI_EMNIFY_DEDUPE_WINDOW="bogus")  # fmt: skip
    assert res.exit_code == 3 and "SMSCLI_EMNIFY_DEDUPE_WINDOW.dedupe_window" in res.stderr


@pytest.mark.parametrize("value", ['"soon"', "30", '"0s"'])
def test_a_bad_dedupe_window_in_the_profile_is_a_config_error(
    cli: Cli, isolated: Path, value: str
) -> None:
    write_config(
        isolated,
        f'[profiles.fleet]\nprovider = "emnify"\napplication_token = "t"\n'
        f"dedupe_window = {value}\n",
    )
    res = cli("send", "-p", "fleet", "-t", "endpoint:1001", "hi")
    assert res.exit_code == 3, res.output
    assert "profiles.fleet.dedupe_window" in res.stderr
    assert cli("config", "check").exit_code != 0


@pytest.mark.parametrize(
    ("extra", "code", "says"),
    [
        (["--dedupe-window", "soon"], 2, "invalid --dedupe-window 'soon'"),
        (["--dedupe-window", "0s"], 2, "must be positive"),
        (["--dedupe-key", "{to}"], 2, "--dedupe-key needs a dedupe window"),
        (["--dedupe-window", "1m", "--dedupe-key", "fixed"], 2, "has no placeholder"),
        (["--dedupe-window", "1m", "--dedupe-key", "{to"], 2, "--dedupe-key:"),
        (["--dedupe-window", "1m", "--dedupe-key", "{group}"], 4, "uses {group}"),
        (["--dedupe-window", "1m", "--dedupe-key", "{text_hash:x}"], 2, "no format spec"),
        (["--dedupe-window", "1m", "--dedupe-key", "{to!r}"], 2, "({to!r})"),
        (["--dedupe-window", "1m", "--dedupe-key", "{to:{to}}"], 2, "no format spec"),
        (["--dedupe-window", "1m", "--no-history"], 2, "needs the history"),
    ],
)
def test_bad_dedupe_options(cli: Cli, extra: list[str], code: int, says: str) -> None:
    res = cli(*EM, "-t", "endpoint:1001", *extra, "hi")
    assert res.exit_code == code, res.output
    assert says in res.stderr and "Traceback" not in res.output
    assert cli.sandbox.messages() == []


def test_log_status_deduped(cli: Cli) -> None:
    for _ in range(2):
        cli(*EM, "-t", "endpoint:1001", "--dedupe-window", "30m", "hi")
    res = cli("log", "--status", "deduped", "--json")
    assert res.exit_code == 0
    assert [r["status"] for r in res.json()["entries"]] == ["deduped"]


# -- real processes ----------------------------------------------------------------------------
REPEATS = 5


@pytest.mark.parametrize("repeat", range(REPEATS))
def test_ten_processes_with_one_window_send_once(sandbox_process: str, repeat: int) -> None:
    text = f"window {secrets.token_hex(4)}"
    argv = [SCRIPT, "emnify", "--base-url", f"{sandbox_process}/emnify", "--application-token",
            "t", "-t", "endpoint:1001", "--dedupe-window", "10m", "--json", text]  # fmt: skip
    env, pipe = dict(os.environ), subprocess.PIPE
    procs = [
        subprocess.Popen(
            argv, stdout=pipe, stderr=pipe, stdin=subprocess.DEVNULL, text=True, env=env
        )
        for _ in range(10)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    messages = httpx.get(sandbox_process + "/_sandbox/messages").json()["messages"]
    assert sum(1 for m in messages if m["text"] == text) == 1, outputs
    assert codes == [0] * 10, outputs
    statuses = sorted(json.loads(out)["results"][0]["status"] for out, _ in outputs)
    assert statuses == ["accepted"] + ["deduped"] * 9


# -- the Python API ----------------------------------------------------------------------------
def _client() -> tuple[Client, Sandbox]:
    sandbox = Sandbox()
    transport = httpx.MockTransport(sandbox.transport().handle_request)
    creds = {"application_token": "t"}
    client = Client(provider="emnify", base_url=base_url("emnify"), credentials=creds,
                    transport=transport)  # fmt: skip
    return client, sandbox


def test_the_python_api_takes_a_dedupe_window_and_key() -> None:
    client, sandbox = _client()
    first = client.send("task 7 done", to="endpoint:1001", dedupe_window="30m")
    assert first.ok and first.results[0].status is Status.ACCEPTED
    again = client.send("task 7 done", to="endpoint:1001", dedupe_window=1800)
    assert again.ok and again.exit_code == ExitCode.OK
    [result] = again.results
    assert result.status is Status.DEDUPED
    assert result.details["deduped_of"]["message_id"] == first.results[0].message_id
    assert any(n.startswith("deduped: endpoint:1001") for n in again.notes)
    keyed = client.send("other", to="endpoint:1002", dedupe_window="30m", dedupe_key="{profile}x")
    assert keyed.results[0].status is Status.ACCEPTED
    keyed = client.send("other 2", to="endpoint:1003", dedupe_window="30m", dedupe_key="{profile}x")
    assert keyed.results[0].status is Status.DEDUPED
    assert len(sandbox.messages()) == 2
    with pytest.raises(UsageError):
        client.send("x", to="endpoint:1001", dedupe_window=True)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no format spec"):  # (it was a bare ValueError)
        client.send("x", to="endpoint:1001", dedupe_window="5m", dedupe_key="{to:q}")


def test_the_python_api_takes_a_lock(isolated: Path) -> None:
    client, sandbox = _client()
    holder = FileLock(isolated / "data" / "locks")
    assert holder.acquire("job") is None
    try:
        report = client.send("hi", to="endpoint:1001", lock="job")
        assert report.ok and report.results == [] and report.lock is not None
        assert report.lock["pid"] == os.getpid()
        assert report.notes[-1].startswith("skipped: job is held by host ")
        with pytest.raises(LockHeld) as raised:
            client.send("hi", to="endpoint:1001", lock="job", lock_strict=True)
        assert raised.value.exit_code == 11
        with pytest.raises(UsageError):
            client.send("hi", to="endpoint:1001", lock="a/b")
    finally:
        holder.release()
    report = client.send("hi", to="endpoint:1001", lock="job")
    assert report.ok and report.lock is None and len(report.results) == 1
    assert len(sandbox.messages()) == 1
    assert holder.acquire("job") is None  # given back after the send
    holder.release()
