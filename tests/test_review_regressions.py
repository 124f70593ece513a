"""Regressions found by reviewing the tool as a user would (each was a real bug)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from smscli.catalog import REGISTRY, limit_problems
from smscli.cli import expand_optional_values
from smscli.encoding import analyze
from smscli.models import SendResult, Settings, Status
from smscli.pipeline.exits import exit_code_of
from tests.conftest import Cli, base_url, write_config

FD = [
    "--base-url",
    base_url("fonedynamics"),
    "--account-sid",
    "AC1",
    "--token",
    "tok-12345",
    "--property-sid",
    "PR1",
]


def test_token_cache_key_changes_when_the_secret_changes() -> None:
    def key(token: str) -> str:
        return Settings("emnify", "fleet", "https://x", {"application_token": token},
                        frozenset({"application_token"})).cache_key  # fmt: skip

    assert key("old-token") != key("new-token")
    assert "old-token" not in key("old-token")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["send", "--wait", "5s", "hi"], ["send", "--wait=5s", "hi"]),
        (["send", "hi", "--wait"], ["send", "hi", "--wait=default"]),
        (["send", "--wait", "hello"], ["send", "--wait=default", "hello"]),
        (["send", "--wait=2m"], ["send", "--wait=2m"]),
        (["send", "--", "--wait"], ["send", "--", "--wait"]),
    ],
)
def test_wait_takes_a_following_duration(argv: list[str], expected: list[str]) -> None:
    assert expand_optional_values(argv) == expected


def test_config_show_masks_any_secret_value(offline_cli: Cli, isolated: Path) -> None:
    write_config(isolated, '[profiles.a]\nprovider = "emnify"\napplication_token = 12345678\n'
                 '[profiles.b]\nprovider = "emnfy"\napplication_token = "PlainSecretInTypo"\n')  # fmt: skip
    res = offline_cli("config", "show")
    assert "12345678" not in res.output and "PlainSecretInTypo" not in res.output


@pytest.mark.parametrize(
    ("extra", "code"),
    [(["--timeout", "nan"], 2), (["--timeout", "inf"], 2), (["--validity", "99999999999d"], 2)],
    ids=["nan timeout", "inf timeout", "huge validity"],
)
def test_odd_numbers_are_refused_before_anything_is_recorded(
    offline_cli: Cli, isolated: Path, extra: list[str], code: int
) -> None:
    args = ["telit", "--base-url", base_url("telit"), "--username", "u", "--password", "pppp"]
    res = offline_cli(*args, "-t", "imei:490154203237518", *extra, "hi")
    assert res.exit_code == code, res.output
    assert "internal error" not in res.output
    assert not (isolated / "data" / "history.sqlite3").exists() or not _rows(isolated)


def _rows(home: Path) -> list[object]:
    db = sqlite3.connect(home / "data" / "history.sqlite3")
    rows = list(db.execute("SELECT * FROM sends"))
    db.close()
    return rows


def test_non_utf8_target_file_is_exit_4(offline_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"+61488023555\n\xff\xfe\n")
    res = offline_cli("fonedynamics", *FD, "--to-file", str(path), "hi")
    assert res.exit_code == 4 and "not UTF-8" in res.stderr


def test_empty_target_file_says_so(offline_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("to,name\n")
    res = offline_cli("fonedynamics", *FD, "--to-file", str(path), "hi")
    assert res.exit_code == 4 and "has no targets" in res.stderr


def _result(status: Status, exit_code: int | None = None) -> SendResult:
    error = {"exit_code": exit_code} if exit_code else None
    return SendResult("emnify", None, "endpoint:1", status, error=error)


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([Status.DELIVERED, Status.DELIVERED], 0),
        ([Status.FAILED, Status.EXPIRED], 8),
        ([Status.SENT, Status.QUEUED], 10),
        ([Status.DELIVERED, Status.FAILED], 9),
        ([Status.SENT, Status.FAILED], 9),
    ],
)
def test_wait_exit_codes_for_several_targets(statuses: list[Status], code: int) -> None:
    assert exit_code_of([_result(s) for s in statuses], waited=True) == code


def test_wait_summary_counts_what_happened(cli: Cli) -> None:
    res = cli(
        "fonedynamics", *FD, "-t", "+61488000411", "-t", "+61488023555", "hi", "--wait=1m", "--json"
    )
    doc = res.json()
    assert res.exit_code == 9
    assert (doc["summary"]["accepted"], doc["summary"]["failed"]) == (1, 1)


def test_thingspace_counts_utf8_bytes_not_ucs2_segments() -> None:
    info = REGISTRY["thingspace"]
    assert limit_problems(analyze("a" * 100 + "ő"), info, None) == []
    assert limit_problems(analyze("ő" * 71), info, None)  # 142 bytes


def test_provider_subcommand_uses_the_default_profile_for_that_provider(
    cli: Cli, isolated: Path
) -> None:
    write_config(isolated, f'default_profile = "au"\n[profiles.au]\nprovider = "fonedynamics"\n'
                 f'base_url = "{base_url("fonedynamics")}"\naccount_sid = "A"\ntoken = "tttt"\n'
                 f'property_sid = "P"\n')  # fmt: skip
    res = cli("fonedynamics", "-t", "+61488023555", "hi", "--json")
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["profile"] == "au"


def test_status_of_a_refused_message_needs_no_lookup(cli: Cli) -> None:
    assert cli("fonedynamics", *FD, "-t", "+61488000400", "hi").exit_code == 5
    before = len(cli.recorder.requests)
    res = cli("status", "--last", "--json", SMSCLI_FONEDYNAMICS_ACCOUNT_SID="AC1",
              SMSCLI_FONEDYNAMICS_TOKEN="tok-12345", SMSCLI_FONEDYNAMICS_PROPERTY_SID="PR1")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["status"] == "rejected"
    assert len(cli.recorder.requests) == before


def test_quiet_mode_still_reports_failures_on_stderr(cli: Cli) -> None:
    res = cli("fonedynamics", *FD, "-t", "+61488023555", "-t", "+61488000400", "hi", "-q")
    assert res.exit_code == 9
    assert res.stdout.strip().startswith("M") and len(res.stdout.split()) == 1
    assert "error: msisdn:+61488000400" in res.stderr


def test_binary_on_a_text_only_provider_names_those_that_can(offline_cli: Cli) -> None:
    res = offline_cli("fonedynamics", *FD, "-t", "+61488023555", "--hex", "0102")
    assert res.exit_code == 4 and "telit" in res.stderr and "csl" in res.stderr


def test_log_rejects_an_unknown_status(offline_cli: Cli) -> None:
    assert offline_cli("log", "--status", "bogus").exit_code == 2


def test_common_profile_fields_come_from_env_too(cli: Cli, isolated: Path) -> None:
    write_config(isolated, f'[profiles.au]\nprovider = "fonedynamics"\nbase_url = "{base_url("fonedynamics")}"\n'
                 'account_sid = "A"\ntoken = "tttt"\nproperty_sid = "P"\nsender = "FromFile"\n')  # fmt: skip
    res = cli(
        "send",
        "-p",
        "au",
        "-t",
        "+61488023555",
        "hi",
        "--json",
        SMSCLI_FONEDYNAMICS_SENDER="FromEnv",
    )
    assert res.json()["results"][0]["details"]["from"] == "FromEnv"
    too_long = cli(
        "send", "-p", "au", "-t", "+61488023555", "x" * 161, SMSCLI_FONEDYNAMICS_MAX_SEGMENTS="1"
    )
    assert too_long.exit_code == 4
    bad = cli("send", "-p", "au", "-t", "+61488023555", "hi", SMSCLI_FONEDYNAMICS_TIMEOUT="soon")
    assert bad.exit_code == 3 and "SMSCLI_FONEDYNAMICS_TIMEOUT" in bad.stderr


def test_resume_refuses_a_batch_from_another_provider(cli: Cli) -> None:
    first = cli("fonedynamics", *FD, "-t", "+61488023555", "-t", "+61488000500", "hi", "--json")
    batch = first.json()["summary"]["batch"]
    other = cli("emnify", "--base-url", base_url("emnify"), "--application-token", "tok-1234",
                "-t", "endpoint:17", "hi", "--resume", batch)  # fmt: skip
    assert other.exit_code == 4 and "resume it with the same command" in other.stderr


def test_dry_run_shows_one_login_for_many_targets(offline_cli: Cli) -> None:
    res = offline_cli("emnify", "--base-url", base_url("emnify"), "--application-token", "tok-1234",
                      "-t", "endpoint:17", "-t", "endpoint:27", "hi", "--dry-run", "--json")  # fmt: skip
    urls = [r["url"] for r in res.json()["requests"]]
    assert sum(u.endswith("/authenticate") for u in urls) == 1
    assert sum(u.endswith("/sms") for u in urls) == 2


def test_token_cache_prunes_expired_profiles(tmp_path: Path) -> None:
    from smscli.tokens import TokenCache

    now = [1000.0]
    cache = TokenCache(tmp_path / "t.json", clock=lambda: now[0])
    cache.set("old", "token", "a", 1100.0)
    now[0] = 2000.0
    cache.set("new", "token", "b", 9000.0)
    assert set(TokenCache(tmp_path / "t.json", clock=lambda: now[0])._data) == {"new"}


@pytest.mark.parametrize("command", [["status", "--last"], ["cancel", "#1"]])
def test_asking_about_a_message_sent_to_a_temporary_sandbox_says_so(
    isolated: Path, command: list[str]
) -> None:
    import subprocess

    from tests.conftest import SCRIPT

    sent = subprocess.run([SCRIPT, "send", "--sandbox", "--provider", "emnify", "-t", "endpoint:17", "hi"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    asked = subprocess.run([SCRIPT, *command], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)  # fmt: skip
    assert asked.returncode == 6
    assert "--sandbox emulator that ran only for that command" in asked.stderr
    assert f"to try {command[0]}, run `smscli sandbox`" in asked.stderr
