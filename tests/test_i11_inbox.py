"""`smscli inbox` (issue 11): the devices' replies pulled into the history, through the
command line against the sandbox (in-process on a fake clock, and a real sandbox process)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SCRIPT, Cli, base_url

CREDENTIALS: dict[str, list[str]] = {
    "emnify": ["--application-token", "app-token-1"],
    "telit": ["--username", "u1", "--password", "telit-pass-1"],
    "thingspace": ["--client-id", "c1", "--client-secret", "ts-secret-1", "--username", "u1",
                   "--password", "ts-pass-1", "--account-name", "0000123456-00001"],
    "fonedynamics": ["--account-sid", "AC1", "--token", "fd-token-1", "--property-sid", "PR1"],
}  # fmt: skip
TARGETS = {
    "emnify": "endpoint:1001",
    "telit": "msisdn:+15551230001",
    "thingspace": "mdn:5551230002",
    "fonedynamics": "+61400000003",
}
SENDERS = {
    "emnify": "endpoint:1001",
    "telit": "msisdn:15551230001",  # Telit's numbers are digits only
    "thingspace": "mdn:5551230002",
    "fonedynamics": "msisdn:+61400000003",
}


def provider_args(slug: str, url: str) -> list[str]:
    return ["--provider", slug, "--base-url", url, *CREDENTIALS[slug]]


def history_path(home: Path) -> Path:
    return home / "data" / "history.sqlite3"


@pytest.mark.parametrize("slug", list(CREDENTIALS))
def test_inbox_pulls_the_reply_and_stores_it_once(cli: Cli, slug: str, isolated: Path) -> None:
    args = provider_args(slug, base_url(slug))
    sent = cli("send", *args, "-t", TARGETS[slug], "status?", "--json")
    assert sent.exit_code == 0, sent.output
    empty = cli("inbox", *args, "--json")
    assert empty.exit_code == 0, empty.output
    assert empty.json() == {"replies": [], "new": 0}  # the device has not answered yet
    cli.advance(10)
    first = cli("inbox", *args, "--json")
    assert first.exit_code == 0, first.output
    [reply] = first.json()["replies"]
    assert reply["text"] == "ACK: status?"
    assert reply["from"] == SENDERS[slug]
    assert reply["provider"] == slug and reply["new"] is True and reply["date"]
    if slug == "thingspace":
        assert reply["id"].startswith("sha256:")  # its history entries carry no id
    second = cli("inbox", *args, "--json")
    assert second.exit_code == 0, second.output
    assert [r["new"] for r in second.json()["replies"]] == [False]
    assert second.json()["new"] == 0
    stored = cli("log", "--replies", "--json").json()["replies"]
    assert [(r["provider"], r["text"]) for r in stored] == [(slug, "ACK: status?")]
    # Table and JSONL forms.
    table = cli("inbox", *args)
    assert "ACK: status?" in table.stdout and SENDERS[slug] in table.stdout
    lines = cli("inbox", *args, "--jsonl").stdout.splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["ACK: status?"]
    assert "app-token-1" not in table.output + "".join(lines)


def test_inbox_filters_by_device_since_and_count(cli: Cli) -> None:
    args = provider_args("fonedynamics", base_url("fonedynamics"))
    for target in ("+61400000003", "+61400000004"):
        assert cli("send", *args, "-t", target, "status?", "-q").exit_code == 0
    cli.advance(10)
    everything = cli("inbox", *args, "--json").json()["replies"]
    assert sorted(r["from"] for r in everything) == ["msisdn:+61400000003", "msisdn:+61400000004"]
    one = cli("inbox", *args, "--from", "+61400000004", "--json").json()["replies"]
    assert [r["from"] for r in one] == ["msisdn:+61400000004"]
    assert len(cli("inbox", *args, "-n", "1", "--json").json()["replies"]) == 1
    later = cli("inbox", *args, "--since", "2999-01-01T00:00:00Z", "--json")
    assert later.exit_code == 0 and later.json()["replies"] == []
    bad = cli("inbox", *args, "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.stderr


def test_emnify_takes_the_endpoints_from_recent_sends_or_from(cli: Cli) -> None:
    args = provider_args("emnify", base_url("emnify"))
    none = cli("inbox", *args, "--json")
    assert none.exit_code == 2
    assert none.json()["error"]["code"] == "target_needed"
    assert "--from" in none.json()["error"]["message"]
    # --from an endpoint nobody sent to: asked, nothing there.
    quiet = cli("inbox", *args, "--from", "endpoint:1002", "--json")
    assert quiet.exit_code == 0 and quiet.json()["replies"] == []
    assert cli("send", *args, "-t", "endpoint:1001", "status?", "-q").exit_code == 0
    cli.advance(10)
    [reply] = cli("inbox", *args, "--json").json()["replies"]
    assert reply["from"] == "endpoint:1001"


def test_csl_inbox_lists_what_listen_stored(cli: Cli, isolated: Path) -> None:
    """CSL has no pull API: `inbox` asks nothing and lists the replies `smscli listen`
    stored (tests/test_i11_listen.py stores them end to end)."""
    from smscli.history import History
    from smscli.models import Reply

    args = ["--provider", "csl", "--base-url", base_url("csl"), "--username", "u",
            "--password", "csl-pass-1", "--api-id", "1"]  # fmt: skip
    res = cli("inbox", *args)
    assert res.exit_code == 0, res.output
    assert "smscli listen" in res.stderr and "no replies" in res.stderr
    history = History(history_path(isolated))
    history.add_replies(
        [Reply("csl", "D-1", "iccid:8944", "ACK: hi?", "2026-12-06T10:00:00+00:00")]
    )
    history.close()
    listed = cli("inbox", *args, "--json")
    assert [(r["id"], r["from"], r["text"]) for r in listed.json()["replies"]] == [
        ("D-1", "iccid:8944", "ACK: hi?")
    ]
    assert cli.recorder.requests == []


def test_csl_inbox_follow_shows_what_listen_stores_meanwhile(cli: Cli, isolated: Path) -> None:
    from smscli.history import History
    from smscli.models import Reply

    args = ["--provider", "csl", "--base-url", base_url("csl"), "--username", "u",
            "--password", "csl-pass-1", "--api-id", "1"]  # fmt: skip
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # meanwhile, `smscli listen` stores a reply
        sleeps.append(seconds)
        if len(sleeps) == 1:
            history = History(history_path(isolated))
            history.add_replies([Reply("csl", "D-9", "iccid:8944", "ACK: late?", None)])
            history.close()
        if len(sleeps) > 2:
            raise KeyboardInterrupt
        cli.clock[0] += seconds

    cli.advance = sleep  # type: ignore[method-assign]
    res = cli("inbox", *args, "--follow", "--jsonl", "--interval", "5")
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(r["id"], r["text"], r["new"]) for r in lines] == [("D-9", "ACK: late?", True)]
    assert cli.recorder.requests == []


def test_thingspace_stores_each_page_before_acknowledging_it(cli: Cli, isolated: Path) -> None:
    """The queue removes a page when the next is asked for: at every `?next=` request the
    replies of the page it acknowledges are already committed to the history (read by
    another connection), and a run that dies before acknowledging loses nothing."""
    args = provider_args("thingspace", base_url("thingspace"))
    devices = [f"mdn:55512300{n:02d}" for n in range(7)]  # 7 replies: two pages of 5
    sent = cli("send", *args, *[x for d in devices for x in ("-t", d)], "status?", "--json")
    assert sent.exit_code == 0, sent.output
    cli.advance(10)
    inner = cli.recorder.handler
    seen: list[tuple[str | None, int]] = []

    def stored() -> int:
        with sqlite3.connect(history_path(isolated)) as db:
            return int(db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def checking(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/history"):
            seen.append((request.url.params.get("next"), stored()))
        return inner(request)

    cli.recorder.handler = checking
    res = cli("inbox", *args, "--json")
    assert res.exit_code == 0, res.output
    assert len(res.json()["replies"]) == 7
    # First page: nothing stored yet; asking for page 2 acknowledges 5 stored replies; the
    # request after the last page acknowledges all 7.
    assert seen == [(None, 0), ("1", 5), ("2", 7)]


def test_thingspace_a_failed_acknowledgement_loses_no_reply(cli: Cli, isolated: Path) -> None:
    args = provider_args("thingspace", base_url("thingspace"))
    assert cli("send", *args, "-t", "mdn:5551230002", "status?", "-q").exit_code == 0
    cli.advance(10)
    inner = cli.recorder.handler

    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("next") is not None:
            return httpx.Response(503, text="down")  # the acknowledgement fails
        return inner(request)

    cli.recorder.handler = broken
    failed = cli("inbox", *args, "--json", "--timeout", "1")
    assert failed.exit_code == 6, failed.output
    assert len(cli("log", "--replies", "--json").json()["replies"]) == 1  # already stored
    cli.recorder.handler = inner
    again = cli("inbox", *args, "--json")  # the page comes again: stored once
    assert again.exit_code == 0, again.output
    assert [r["new"] for r in again.json()["replies"]] == [False]
    assert len(cli("log", "--replies", "--json").json()["replies"]) == 1


def test_thingspace_queue_is_not_read_without_a_history(cli: Cli, isolated: Path) -> None:
    (isolated / "config.toml").write_text("history = false\n")
    args = provider_args("thingspace", base_url("thingspace"))
    res = cli("inbox", *args)
    assert res.exit_code == 3 and "queue" in res.stderr
    assert cli.recorder.requests == []


def test_sandbox_account_matches_the_emulator() -> None:
    from smscli.providers.thingspace import SANDBOX_ACCOUNT
    from smscli.sandbox.thingspace import DEFAULT_ACCOUNT

    assert SANDBOX_ACCOUNT == DEFAULT_ACCOUNT


def test_follow_prints_new_replies_until_ctrl_c(cli: Cli) -> None:
    args = provider_args("telit", base_url("telit"))
    assert cli("send", *args, "-t", "msisdn:+15551230001", "status?", "-q").exit_code == 0
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > 2:
            raise KeyboardInterrupt
        cli.clock[0] += seconds

    cli.advance = sleep  # type: ignore[method-assign]
    res = cli("inbox", *args, "--follow", "--jsonl", "--interval", "5")
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(r["text"], r["new"]) for r in lines] == [("ACK: status?", True)]  # printed once
    assert sleeps == [5, 5, 5]
    too_fast = cli("inbox", *args, "--follow", "--interval", "1")
    assert too_fast.exit_code == 2 and "--interval" in too_fast.stderr
    assert cli("inbox", *args, "--follow", "--json").exit_code == 2


def test_an_older_history_gets_the_replies_table_in_place(cli: Cli, isolated: Path) -> None:
    path = history_path(isolated)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:  # the schema before issue 11: sends only
        db.execute(
            "CREATE TABLE sends (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, batch TEXT, provider TEXT NOT NULL, profile TEXT,"
            " base_url TEXT, target TEXT NOT NULL, status TEXT NOT NULL, message_id TEXT,"
            " request_id TEXT, uuid TEXT, reference TEXT, date TEXT, segments INTEGER,"
            " encoding TEXT, parts TEXT, error TEXT, details TEXT, idempotency_key TEXT,"
            " body TEXT)"
        )
        db.execute(
            "INSERT INTO sends (created_at, updated_at, provider, target, status)"
            " VALUES ('2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 'telit',"
            " 'msisdn:+15551230001', 'accepted')"
        )
    os.chmod(path, 0o600)
    args = provider_args("telit", base_url("telit"))
    assert cli("send", *args, "-t", "msisdn:+15551230001", "status?", "-q").exit_code == 0
    cli.advance(10)
    assert len(cli("inbox", *args, "--json").json()["replies"]) == 1
    assert len(cli("log", "--json").json()["entries"]) == 2  # the old row is kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- end to end: the installed console script against a real sandbox process -------------


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("slug", list(CREDENTIALS))
def test_inbox_end_to_end(sandbox_process: str, isolated: Path, slug: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env |= {"SMSCLI_CONFIG": str(isolated / "config.toml"),
            "SMSCLI_DATA_DIR": str(isolated / "data"),
            "SMSCLI_CACHE_DIR": str(isolated / "cache")}  # fmt: skip
    # A profile pointed at the sandbox, its credentials in the config.
    flags = CREDENTIALS[slug]
    fields = {flags[i][2:].replace("-", "_"): flags[i + 1] for i in range(0, len(flags), 2)}
    lines = ['default_profile = "dev"', "[profiles.dev]", f'provider = "{slug}"',
             f'base_url = "{sandbox_process}/{slug}"']  # fmt: skip
    lines += [f'{k} = "{v}"' for k, v in fields.items()]
    (isolated / "config.toml").write_text("\n".join(lines) + "\n")
    (isolated / "config.toml").chmod(0o600)
    sent = run("send", "-t", TARGETS[slug], "status?", "--json", env=env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    replies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not replies and time.monotonic() < deadline:
        time.sleep(1)
        # (The sandbox process is shared by the session's tests: other tests' devices
        # answer too, so only this device's replies are looked at.)
        res = run("inbox", "--from", TARGETS[slug], "--json", env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        replies = json.loads(res.stdout)["replies"]
    assert [(r["text"], r["from"]) for r in replies] == [("ACK: status?", SENDERS[slug])]
    again = run("inbox", "-p", "dev", "-n", "1000", "--json", env=env)  # every device
    assert again.returncode == 0
    mine = [r for r in json.loads(again.stdout)["replies"] if r["from"] == SENDERS[slug]]
    assert [r["new"] for r in mine] == [False]
    stored = json.loads(run("log", "--replies", "--json", "-n", "1000", env=env).stdout)
    assert len([r for r in stored["replies"] if r["sender"] == SENDERS[slug]]) == 1


# -- send --await-reply ----------------------------------------------------------------------


@pytest.mark.parametrize("slug", list(CREDENTIALS))
def test_await_reply_prints_the_reply(cli: Cli, slug: str) -> None:
    args = provider_args(slug, base_url(slug))
    res = cli("send", *args, "-t", TARGETS[slug], "--await-reply=20s", "status?", "--json")
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    assert result["reply"]["text"] == "ACK: status?"
    assert set(result["reply"]) == {"text", "date", "id", "from"}
    assert result["reply"]["date"]
    # The reply is in the history: `inbox` finds it there, not new.
    again = cli("inbox", *args, "--json").json()["replies"]
    assert [(r["text"], r["new"]) for r in again] == [("ACK: status?", False)]


def test_await_reply_one_reply_per_target_and_the_table(cli: Cli) -> None:
    args = provider_args("telit", base_url("telit"))
    targets = ["msisdn:+15551230001", "msisdn:+15551230002"]
    res = cli("send", *args, "-t", targets[0], "-t", targets[1], "--await-reply", "status?")
    assert res.exit_code == 0, res.output
    assert "reply" in res.stdout and res.stdout.count("ACK: status?") == 2
    data = cli("send", *args, "-t", targets[0], "-t", targets[1], "--await-reply", "2m",
               "again?", "--json").json()  # fmt: skip
    assert [r["reply"]["text"] for r in data["results"]] == ["ACK: again?", "ACK: again?"]
    assert [r["reply"]["from"] for r in data["results"]] == ["msisdn:15551230001",
                                                             "msisdn:15551230002"]  # fmt: skip


def test_await_reply_exits_10_when_no_reply_comes(cli: Cli) -> None:
    args = provider_args("emnify", base_url("emnify"))
    start = cli.clock[0]
    # The devices answer only messages that end in "?".
    res = cli("send", *args, "-t", "endpoint:1001", "--await-reply=30s", "reboot", "--json")
    assert res.exit_code == 10, res.output
    assert res.json()["results"][0]["reply"] is None
    assert [line for line in res.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: no reply within --await-reply (30 s) from endpoint:1001"
    ]
    assert 30 <= cli.clock[0] - start <= 31  # waited the whole 30 s, no longer
    human = cli("send", *args, "-t", "endpoint:1001", "--await-reply=5s", "reboot")
    assert human.exit_code == 10 and "(none)" in human.stdout


def test_await_reply_ignores_a_reply_from_before_the_send(cli: Cli) -> None:
    args = provider_args("emnify", base_url("emnify"))
    assert cli("send", *args, "-t", "endpoint:1001", "first?", "-q").exit_code == 0
    cli.advance(60)
    res = cli("send", *args, "-t", "endpoint:1001", "--await-reply=20s", "second?", "--json")
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["reply"]["text"] == "ACK: second?"


def test_await_reply_refused_before_sending_for_csl(cli: Cli) -> None:
    args = ["--provider", "csl", "--base-url", base_url("csl"), "--username", "u",
            "--password", "csl-pass-1", "--api-id", "1"]  # fmt: skip
    res = cli("send", *args, "-t", "iccid:8944500102198304826", "--await-reply", "status?")
    assert res.exit_code == 4 and "smscli listen" in res.stderr
    assert cli.recorder.requests == []
    bad = cli("send", *provider_args("emnify", base_url("emnify")), "-t", "endpoint:1001",
              "--await-reply=soon", "status?")  # fmt: skip
    assert bad.exit_code == 2 and "--await-reply" in bad.stderr


def test_await_reply_end_to_end_with_a_temporary_sandbox(isolated: Path) -> None:
    """The issue's done-when, as the installed console script runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env |= {"SMSCLI_CONFIG": str(isolated / "config.toml"),
            "SMSCLI_DATA_DIR": str(isolated / "data"),
            "SMSCLI_CACHE_DIR": str(isolated / "cache")}  # fmt: skip
    res = run("send", "--sandbox", "--provider", "emnify", "-t", "endpoint:1001",
              "--await-reply=20s", "status?", env=env)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ACK: status?" in res.stdout


@pytest.mark.parametrize("slug", list(CREDENTIALS))
def test_await_reply_end_to_end(sandbox_process: str, isolated: Path, slug: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env |= {"SMSCLI_CONFIG": str(isolated / "config.toml"),
            "SMSCLI_DATA_DIR": str(isolated / "data"),
            "SMSCLI_CACHE_DIR": str(isolated / "cache")}  # fmt: skip
    args = provider_args(slug, f"{sandbox_process}/{slug}")
    res = run("send", *args, "-t", TARGETS[slug], "--await-reply=20s", "status?", "--json",
              env=env)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    [result] = json.loads(res.stdout)["results"]
    assert result["reply"]["text"] == "ACK: status?"


# -- the Python API --------------------------------------------------------------------------


def test_python_api_inbox_and_await_reply(cli: Cli) -> None:
    from smscli.api import Client

    def sleep(seconds: float) -> None:
        cli.clock[0] += seconds

    client = Client(
        provider="telit",
        base_url=base_url("telit"),
        credentials={"username": "u1", "password": "telit-pass-1"},
        transport=httpx.MockTransport(cli.recorder),
        clock=lambda: cli.clock[0],
        sleep=sleep,
    )
    report = client.send("status?", to="msisdn:+15551230001", await_reply="20s")
    assert report.ok
    assert report.results[0].reply is not None
    assert report.results[0].reply["text"] == "ACK: status?"
    [reply] = client.inbox()
    assert (reply["text"], reply["from"], reply["new"]) == (
        "ACK: status?",
        "msisdn:15551230001",
        False,
    )
    silent = client.send("reboot", to="msisdn:+15551230001", await_reply=5)
    assert silent.exit_code == 10 and silent.results[0].reply == {}
    assert any("no reply" in w for w in silent.warnings)
    assert client.inbox(sender="msisdn:+15551230002") == []
    csl = Client(
        provider="csl",
        credentials={"username": "u", "password": "csl-pass-1", "api_id": "1"},
        transport=httpx.MockTransport(cli.recorder),
    )
    assert csl.inbox() == []  # CSL pushes replies: what `smscli listen` stored (none here)
    without_history = Client(
        provider="fonedynamics",
        base_url=base_url("fonedynamics"),
        credentials={"account_sid": "AC1", "token": "fd-token-1", "property_sid": "PR1"},
        transport=httpx.MockTransport(cli.recorder),
        clock=lambda: cli.clock[0],
        sleep=sleep,
        history=False,
    )
    assert without_history.send("status?", to="+61400000003", await_reply=True).ok
    assert [r["text"] for r in without_history.inbox()] == ["ACK: status?"]


def test_await_reply_for_an_iccid_target_and_many_targets(cli: Cli, tmp_path: Path) -> None:
    """emnify: a send to an ICCID is answered from its endpoint; a run past the human
    table's size still waits for every target's reply."""
    args = provider_args("emnify", base_url("emnify"))
    res = cli("send", *args, "-t", "iccid:8988303000000001001", "--await-reply=20s", "s?",
              "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    assert result["reply"]["from"] == f"endpoint:{result['details']['endpoint_id']}"
    targets = tmp_path / "targets.txt"
    targets.write_text("".join(f"endpoint:{1001 + n}\n" for n in range(60)))
    many = cli("send", *args, "--to-file", str(targets), "--await-reply=30s", "s?", "--yes")
    assert many.exit_code == 0, many.output
    assert len(cli("log", "--replies", "--json", "-n", "100").json()["replies"]) == 61
