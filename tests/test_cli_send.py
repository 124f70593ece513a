"""`smscli send` / `smscli fonedynamics` through the public command line, against the
in-process sandbox: exit codes, JSON envelopes, history, idempotency, secrets."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.conftest import RESULT_KEYS, Cli, base_url, write_config

SECRET = "Tok3n-S3cr3t!<&>"
FD = ["--account-sid", "AC123", "--token", SECRET, "--property-sid", "PR456"]


def fd(*args: str) -> list[str]:
    return ["fonedynamics", "--base-url", base_url("fonedynamics"), *FD, *args]


def history_rows(home: Path) -> list[dict[str, object]]:
    db = sqlite3.connect(home / "data" / "history.sqlite3")
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM sends ORDER BY id")]
    db.close()
    return rows


def test_send_prints_the_result_table_and_exits_0(cli: Cli) -> None:
    res = cli(*fd("-t", "+61488023555", "Hello"))
    assert res.exit_code == 0, res.output
    assert "accepted" in res.stdout
    assert "msisdn:+61488023555" in res.stdout
    [req] = cli.recorder.requests
    assert req.url.path == "/fonedynamics/v2/Properties/PR456/Messages"
    assert json.loads(req.content) == {"To": "+61488023555", "Text": "Hello"}


def test_send_json_is_one_document_with_results_and_summary(cli: Cli) -> None:
    res = cli(*fd("-t", "+61488023555", "--from", "MyShop", "--ref", "r-1", "Hi", "--json"))
    assert res.exit_code == 0
    doc = res.json()
    assert set(doc) == {"results", "summary"}
    [result] = doc["results"]
    assert result["status"] == "accepted"
    assert result["message_id"].startswith("M")
    assert result["reference"] == "r-1"
    assert result["details"]["from"] == "MyShop"
    assert set(result) >= RESULT_KEYS
    summary = doc["summary"]
    assert {k: summary[k] for k in ("total", "accepted", "failed", "skipped")} == {
        "total": 1,
        "accepted": 1,
        "failed": 0,
        "skipped": 0,
    }
    assert len(summary["batch"]) == 8  # the history batch, for --resume
    assert res.stderr == ""


def test_quiet_prints_only_the_message_id(cli: Cli) -> None:
    res = cli(*fd("-t", "+61488023555", "Hi", "-q"))
    assert res.exit_code == 0
    assert res.stdout.strip().startswith("M") and len(res.stdout.split()) == 1


def test_jsonl_prints_one_result_per_line(cli: Cli) -> None:
    res = cli(*fd("-t", "+61488023555", "-t", "+61488023556", "Hi", "--jsonl"))
    assert res.exit_code == 0
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [line["target"] for line in lines] == ["msisdn:+61488023555", "msisdn:+61488023556"]


@pytest.mark.parametrize(
    ("target", "exit_code", "code"),
    [
        ("+61488000400", 5, "provider_rejected"),
        ("+61488000401", 5, "auth_failed"),
        ("+61488000404", 5, "provider_rejected"),
        ("+61488000429", 6, "rate_limited"),
        ("+61488000500", 7, "server_error"),
        ("+61488000444", 7, "connection_lost"),
        ("+61488000408", 7, "timeout"),
    ],
    ids=["rejected", "401", "unknown target", "429", "500", "dropped", "slow"],
)
def test_failures_give_their_exit_code_and_json_error(
    cli: Cli, target: str, exit_code: int, code: str
) -> None:
    res = cli(*fd("-t", target, "Hi", "--json", "--timeout", "1"))
    assert res.exit_code == exit_code, res.output
    error = res.json()["error"]
    assert error["exit_code"] == exit_code
    assert error["code"] == code
    assert SECRET not in res.output


def test_human_error_is_one_line_plus_hint(cli: Cli) -> None:
    res = cli(*fd("-t", "+61488000400", "Hi"))
    assert res.exit_code == 5
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: Fone Dynamics refused")
    assert "[COUNTRY_UNAVAILABLE]" in lines[0]
    assert all(line.startswith(("error:", "hint:")) for line in lines)
    assert "Traceback" not in res.output


def test_history_row_exists_before_the_request_goes_out(cli: Cli, isolated: Path) -> None:
    seen: list[list[dict[str, object]]] = []
    inner = cli.recorder.handler

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(history_rows(isolated))
        return inner(request)

    cli.recorder.handler = handler
    assert cli(*fd("-t", "+61488023555", "Hi")).exit_code == 0
    assert seen[0][-1]["status"] == "unknown"
    assert seen[0][-1]["target"] == "msisdn:+61488023555"
    [row] = history_rows(isolated)
    assert row["status"] == "accepted" and str(row["message_id"]).startswith("M")


def test_unknown_outcome_stays_unknown_in_history(cli: Cli, isolated: Path) -> None:
    assert cli(*fd("-t", "+61488000500", "Hi")).exit_code == 7
    [row] = history_rows(isolated)
    assert row["status"] == "unknown"
    assert "500" in str(row["error"])


def test_idempotency_key_never_sends_twice(cli: Cli) -> None:
    first = cli(*fd("-t", "+61488023555", "Hi", "--idempotency-key", "job-1", "--json"))
    second = cli(*fd("-t", "+61488023555", "Hi", "--idempotency-key", "job-1", "--json"))
    assert first.exit_code == second.exit_code == 0
    assert len(cli.recorder.requests) == 1
    assert second.json()["results"][0]["message_id"] == first.json()["results"][0]["message_id"]


def test_idempotency_key_with_unknown_outcome_exits_7_unless_forced(cli: Cli) -> None:
    assert cli(*fd("-t", "+61488000500", "Hi", "--idempotency-key", "k")).exit_code == 7
    again = cli(*fd("-t", "+61488000500", "Hi", "--idempotency-key", "k", "--json"))
    assert again.exit_code == 7
    assert again.json()["error"]["code"] == "idempotency_unknown"
    assert len(cli.recorder.requests) == 1
    forced = cli(*fd("-t", "+61488000500", "Hi", "--idempotency-key", "k", "--force"))
    assert forced.exit_code == 7
    assert len(cli.recorder.requests) == 2


def test_dry_run_sends_nothing_and_hides_secrets(offline_cli: Cli) -> None:
    res = offline_cli(*fd("-t", "+61488023555", "Hi", "--dry-run", "--json"))
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["dry_run"] is True
    [req] = doc["requests"]
    assert req["method"] == "POST"
    assert req["headers"]["Authorization"] == "Basic ***"
    assert json.loads(req["body"]) == {"To": "+61488023555", "Text": "Hi"}
    assert SECRET not in res.output
    assert offline_cli.recorder.requests == []


def test_verbose_trace_hides_secrets(cli: Cli) -> None:
    res = cli(*fd("-t", "+61488023555", "Hi", "-v"))
    assert res.exit_code == 0
    assert "> POST" in res.stderr and "< HTTP 200" in res.stderr
    assert "Authorization: Basic ***" in res.stderr
    assert SECRET not in res.output


def test_wait_reports_delivery(cli: Cli) -> None:
    res = cli(*fd("-t", "+61488023555", "Hi", "--wait", "--json"))
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["status"] == "delivered"


@pytest.mark.parametrize(
    # Failed with ErrorCode EXPIRED is `expired`, as for every provider (issue 9).
    ("target", "status"),
    [("+61488000410", "failed"), ("+61488000411", "expired")],
)
def test_wait_on_failed_delivery_exits_8(cli: Cli, target: str, status: str) -> None:
    res = cli(*fd("-t", target, "Hi", "--wait=1m", "--json"))
    assert res.exit_code == 8
    assert res.json()["results"][0]["status"] == status
    # Every non-zero exit says why in one line (issue 9, W4).
    assert res.stderr.strip().splitlines() == [f"warning: not delivered: 1 {status}"]


@pytest.mark.parametrize("mode", ["--json", "-q", None])
def test_wait_timeout_exits_10_and_says_why(cli: Cli, mode: str | None) -> None:
    res = cli(*fd("-t", "+61488023555", "Hi", "--wait=1s", *([mode] if mode else [])))
    assert res.exit_code == 10
    if mode == "--json":
        assert res.json()["results"][0]["status"] in ("queued", "sent")
    [line] = [x for x in res.stderr.splitlines() if "--wait" in x]
    assert line.startswith("warning: no final delivery status before the --wait timeout: 1 ")
    assert "smscli status --batch " in line


def test_status_last_and_by_id(cli: Cli) -> None:
    sent = cli(*fd("-t", "+61488023555", "Hi", "--json")).json()["results"][0]
    cli.advance(5)
    env = {"SMSCLI_FONEDYNAMICS_TOKEN": SECRET, "SMSCLI_FONEDYNAMICS_ACCOUNT_SID": "AC123",
           "SMSCLI_FONEDYNAMICS_PROPERTY_SID": "PR456"}  # fmt: skip
    by_last = cli("status", "--last", "--json", **env)
    assert by_last.exit_code == 0, by_last.output
    assert by_last.json()["results"][0]["status"] == "delivered"
    by_id = cli("status", sent["message_id"], "--json", **env)
    assert by_id.json()["results"][0]["message_id"] == sent["message_id"]
    assert cli("status", "nope", **env).exit_code == 4


# -- local checks: nothing reaches the network -------------------------------------------------
@pytest.mark.parametrize(
    ("args", "exit_code", "needle"),
    [
        (["-t", "+12", "Hi"], 4, "invalid msisdn"),
        (["-t", "iccid:89883030000067347685", "Hi"], 4, "accepts"),
        (["-t", "+61488023555", ""], 4, "empty"),
        (["-t", "+61488023555", "x" * 1531], 4, "segments"),
        (["-t", "+61488023555", "--max-segments", "1", "x" * 161], 4, "at most 1"),
        (["-t", "+61488023555", "--from", "Way Too Long Sender", "Hi"], 4, "--from"),
        (["-t", "+61488023555", "--validity", "1h", "Hi"], 4, "telit"),
        (["-t", "+61488023555", "--hex", "--file", "/dev/null", "ABC"], 2, "TEXT or --file"),
        (["-t", "+61488023555", "--hex", "zz"], 4, "hex"),
        (["-t", "+61488023555", "--at", "+30d", "Hi"], 4, "14 days"),
        (["-t", "+61488023555", "--at", "tomorrow", "Hi"], 2, "ISO 8601"),  # usage (issue 9)
        (["Hi"], 2, "no target"),
        (["-t", "+61488023555", "--encoding", "gsm7", "It’s"], 4, "GSM-7"),
        (["-t", "+61488023555", "--forward-to-sms", "+61400000001", "--from", "Shop", "Hi"], 4, "leased"),
        (["-t", "+61488023555", "--receipt-method", "PUT", "Hi"], 2, "POST or GET"),
    ],
    ids=[
        "short number", "wrong kind", "empty text", "over 10 segments", "161 chars for 1 segment",
        "bad sender", "unsupported option", "hex with text and file", "invalid hex", "schedule too far",
        "bad schedule", "no target", "forced gsm7", "lease-only option", "bad method",
    ],
)  # fmt: skip
def test_local_checks_fail_before_any_request(
    offline_cli: Cli, args: list[str], exit_code: int, needle: str
) -> None:
    res = offline_cli(*fd(*args))
    assert res.exit_code == exit_code, res.output
    assert needle.lower() in res.stderr.lower()
    assert offline_cli.recorder.requests == []
    assert "Traceback" not in res.output


def test_missing_credentials_are_all_reported_at_once(offline_cli: Cli) -> None:
    res = offline_cli("send", "--provider", "fonedynamics", "-t", "+61488023555", "Hi", "--json")
    assert res.exit_code == 3
    message = res.json()["error"]["message"]
    for needle in ("account_sid", "token", "property_sid", "--account-sid",
                   "SMSCLI_FONEDYNAMICS_TOKEN", "`property_sid = …`"):  # fmt: skip
        assert needle in message


def test_no_config_no_profile_is_a_config_error(offline_cli: Cli) -> None:
    res = offline_cli("send", "-t", "+61488023555", "Hi")
    assert res.exit_code == 3
    assert "no profile" in res.stderr and "config init" in res.stderr


def test_broken_config_is_one_line_exit_3(offline_cli: Cli, isolated: Path) -> None:
    write_config(isolated, "default_profile = \n")
    res = offline_cli("send", "-t", "+61488023555", "Hi")
    assert res.exit_code == 3
    assert res.stderr.startswith("error:") and "not valid TOML" in res.stderr


def test_send_with_a_profile_and_env_secret(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        f"""default_profile = "au"
[profiles.au]
provider = "fonedynamics"
base_url = "{base_url("fonedynamics")}"
account_sid = "AC9"
property_sid = "PR9"
token = {{ env = "MY_FD_TOKEN" }}
sender = "Depot"
""",
    )
    res = cli("send", "-t", "+61488023555", "Hi", "--json", MY_FD_TOKEN=SECRET)
    assert res.exit_code == 0, res.output
    result = res.json()["results"][0]
    assert result["profile"] == "au"
    assert result["details"]["from"] == "Depot"
    auth = cli.recorder.requests[0].headers["authorization"]
    assert auth.startswith("Basic ")


def test_usage_error_is_one_line_and_exit_2(offline_cli: Cli) -> None:
    res = offline_cli("send", "--bogus")
    assert res.exit_code == 2
    first, hint = res.stderr.splitlines()
    assert first.startswith("error: No such option: --bogus")
    assert hint == "hint: see `smscli send --help`"
    assert "Traceback" not in res.output
    as_json = offline_cli("send", "--bogus", "--json")
    assert as_json.json()["error"]["exit_code"] == 2


def test_sender_rules() -> None:
    from smscli.errors import InputError
    from smscli.pipeline.prepare import check_sender

    for ok in ("+61499009990", "61499009990", "MyShop", "My Shop 1", "12345", ""):
        check_sender(ok)
    for bad in ("TwelveChars12", "12", "Shop!", "ÄBC"):
        with pytest.raises(InputError):
            check_sender(bad)


@pytest.mark.parametrize("args", [[], ["config"]], ids=["smscli", "smscli config"])
def test_a_group_alone_prints_its_help_on_stdout_and_exits_2(
    offline_cli: Cli, args: list[str]
) -> None:
    res = offline_cli(*args)
    assert res.exit_code == 2
    assert res.stdout.startswith("Usage: smscli")
    assert "error" not in res.stderr


@pytest.mark.parametrize(
    ("args", "env", "smsc"),
    [
        pytest.param(["--smsc", "att"], {}, "att", id="flag"),
        pytest.param([], {"SMSCLI_TELIT_SMSC": "tele2"}, "tele2", id="env"),
        pytest.param(["--smsc", "att"], {"SMSCLI_TELIT_SMSC": "tele2"}, "att", id="flag-wins"),
        pytest.param([], {}, None, id="unset"),
    ],
)
def test_telit_smsc_is_one_profile_field_with_one_flag(
    offline_cli: Cli, args: list[str], env: dict[str, str], smsc: str | None
) -> None:
    base = ["telit", "--username", "u", "--password", "pw", "-t", "msisdn:+15615043452"]
    res = offline_cli(*base, *args, "Hi", "--dry-run", "--json", **env)
    assert res.exit_code == 0, res.output
    params = json.loads(res.json()["requests"][-1]["body"])["1"]["params"]
    assert params.get("smsc") == smsc


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        pytest.param(["--smsc", "att"], {}, 4, id="flag-refused"),
        pytest.param([], {"SMSCLI_TELIT_SMSC": "att"}, 0, id="env-ignored"),
    ],
)
def test_telit_smsc_on_the_command_line_needs_an_msisdn_target(
    offline_cli: Cli, args: list[str], env: dict[str, str], code: int
) -> None:
    # An option the target cannot use is an error, never dropped silently (SPEC §2); a
    # profile's (or the environment's) smsc serves its msisdn targets and is left out here.
    base = ["telit", "--username", "u", "--password", "pw", "-t", "thing:gw-1"]
    res = offline_cli(*base, *args, "Hi", "--dry-run", "--json", **env)
    assert res.exit_code == code, res.output
    if code:
        assert res.json()["error"]["code"] == "option_unsupported"
    else:
        params = json.loads(res.json()["requests"][-1]["body"])["1"]["params"]
        assert "smsc" not in params


def test_a_providers_own_option_on_send_names_the_command_that_takes_it(
    offline_cli: Cli,
) -> None:
    res = offline_cli("send", "-p", "fd", "-t", "+61488023555", "--receipt-webhook", "x", "hi")
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "error: No such option: --receipt-webhook",
        "hint: --receipt-webhook is an option of the provider's own command: "
        "`smscli fonedynamics` (with -p PROFILE)",
    ]
    # Another provider's command: the hint names the provider whose option it is.
    other = offline_cli("fonedynamics", "--dcs", "4", "hi")
    assert other.exit_code == 2
    assert other.stderr.splitlines()[1] == (
        "hint: --dcs is an option of the provider's own command: `smscli emnify` (with -p PROFILE)"
    )
    wrong = offline_cli("emnify", "--receipt-webhook", "x", "hi")
    assert "`smscli fonedynamics`" in wrong.stderr
