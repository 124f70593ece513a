"""Issue 9, the command line: --skip-invalid and invalid targets, usage errors for bad option
values, -q failures, error prefixes, stdin used twice, Ctrl-C feedback, --sandbox at exit,
help polish. Through the public command line (in-process, and the installed script)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCRIPT, Cli, base_url
from tests.test_faults_e2e import child_env

FD = ["fonedynamics", "--base-url", base_url("fonedynamics")]
FD += ["--account-sid", "A", "--token", "T", "--property-sid", "P"]
EM = ["emnify", "--base-url", base_url("emnify"), "--application-token", "T0ken"]
TELIT = ["telit", "--base-url", base_url("telit"), "--username", "u", "--password", "pw"]
GOOD = "+61488023555"


def sms_posts(cli: Cli) -> list[str]:
    return [r.url.path for r in cli.recorder.requests if r.method == "POST"]


# -- W11: --skip-invalid -------------------------------------------------------------------
def test_skip_invalid_targets_are_skipped_and_a_run_whose_rest_was_accepted_exits_0(
    cli: Cli,
) -> None:
    res = cli(*FD, "-t", GOOD, "-t", "12", "-t", "abc", "--skip-invalid", "hi", "--json")
    assert res.exit_code == 0, res.output
    doc = res.json()
    by_target = {r["target"]: r for r in doc["results"]}
    assert by_target["12"]["status"] == by_target["abc"]["status"] == "skipped"
    assert by_target[f"msisdn:{GOOD}"]["status"] == "accepted"
    assert by_target["12"]["error"]["message"].startswith("target 2 (12): invalid msisdn")
    summary = {k: doc["summary"][k] for k in ("total", "accepted", "failed", "skipped")}
    assert summary == {"total": 3, "accepted": 1, "failed": 0, "skipped": 2}
    assert "warning: 2 invalid target(s) skipped" in res.stderr
    assert len(sms_posts(cli)) == 1


def test_skip_invalid_in_human_mode_shows_skipped_rows_once_each(cli: Cli) -> None:
    res = cli(*FD, "-t", GOOD, "-t", "12", "--skip-invalid", "hi")
    assert res.exit_code == 0, res.output
    [row] = [line for line in res.stdout.splitlines() if line.startswith("fonedynamics  12 ")]
    assert "skipped" in row.split() and "failed" not in row.split()
    # Each skipped target is said once, as a warning (not an error), without a doubled
    # "12: target 2 (12):" prefix.
    assert "error:" not in res.stderr
    assert res.stderr.count("target 2 (12)") == 1, res.stderr
    assert "12: target 2" not in res.stderr
    assert "2 target(s): 1 accepted, 0 failed, 1 skipped" in res.stderr


@pytest.mark.parametrize("mode", ["--jsonl", "-q"])
def test_skip_invalid_exit_0_in_streamed_modes(cli: Cli, mode: str) -> None:
    res = cli(*FD, "-t", GOOD, "-t", "12", "--skip-invalid", "hi", mode)
    assert res.exit_code == 0, res.output
    if mode == "--jsonl":
        statuses = [json.loads(line)["status"] for line in res.stdout.splitlines()]
        assert sorted(statuses) == ["accepted", "skipped"]
    assert "warning: 1 invalid target(s) skipped" in res.stderr


def test_skip_invalid_with_a_refused_target_exits_with_the_refusal(cli: Cli) -> None:
    # The only sendable target was refused: exit 5, the skipped one does not make it 9.
    res = cli(*FD, "-t", "+61488000400", "-t", "12", "--skip-invalid", "hi", "--json")
    assert res.exit_code == 5, res.output
    summary = res.json()["summary"]
    assert (summary["accepted"], summary["failed"], summary["skipped"]) == (0, 1, 1)


def test_skip_invalid_with_some_accepted_and_some_refused_is_still_partial(cli: Cli) -> None:
    res = cli(*FD, "-t", GOOD, "-t", "+61488000400", "-t", "12", "--skip-invalid", "hi", "--json")
    assert res.exit_code == 9, res.output


def test_skip_invalid_with_wait_counts_each_target_once(cli: Cli) -> None:
    res = cli(*FD, "-t", GOOD, "-t", "12", "--skip-invalid", "--wait=30s", "hi", "--json")
    assert res.exit_code == 0, res.output
    summary = res.json()["summary"]
    assert (summary["total"], summary["skipped"], summary["failed"]) == (2, 1, 0), summary


def test_skip_invalid_with_no_valid_target_sends_nothing_and_says_so(cli: Cli) -> None:
    res = cli(*FD, "-t", "12", "-t", "abc", "--skip-invalid", "hi", "--json")
    assert res.exit_code == 4, res.output
    error = res.json()["error"]
    assert error["message"] == "2 of 2 targets are invalid; nothing was sent"
    assert len(error["problems"]) == 2
    assert cli.recorder.requests == []


def test_every_invalid_target_is_reported_at_once(cli: Cli) -> None:
    res = cli(*FD, "-t", "12", "-t", GOOD, "-t", "abc", "hi")
    assert res.exit_code == 4, res.output
    lines = res.stderr.splitlines()
    assert lines[0] == "error: 2 of 3 targets are invalid; nothing was sent"
    assert lines[1].startswith("  target 1 (12): invalid msisdn")
    assert lines[2].startswith("  target 3 (abc): invalid msisdn")
    assert lines[3].startswith("hint: ") and "--skip-invalid" in lines[3]
    assert len(lines) == 4
    assert res.stderr.count("error:") == 1
    assert cli.recorder.requests == []


def test_every_invalid_target_is_in_the_json_error(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_text("12\n+61488023555\nabc\nendpoint:1\n")
    res = cli(*FD, "--to-file", str(path), "hi", "--json")
    assert res.exit_code == 4, res.output
    error = res.json()["error"]
    assert error["code"] == "invalid_targets"
    assert [p.split(":")[0] for p in error["problems"]] == [
        "target 1 (12)",
        "target 3 (abc)",
        "target 4 (endpoint",
    ]


def test_a_long_list_of_invalid_targets_is_capped(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_text("".join(f"{n}\n" for n in range(1, 251)))
    res = cli(*FD, "--to-file", str(path), "hi")
    assert res.exit_code == 4, res.output
    assert res.stderr.startswith("error: 250 of 250 targets are invalid; nothing was sent\n")
    assert "  target 100 (100)" in res.stderr and "target 101 (101)" not in res.stderr
    assert "  … and 150 more\n" in res.stderr


def test_one_invalid_target_keeps_its_own_error_and_hint(cli: Cli) -> None:
    res = cli(*FD, "-t", "12", "-t", GOOD, "hi")
    assert res.exit_code == 4, res.output
    lines = res.stderr.splitlines()
    assert lines[0].startswith("error: target 1 (12): invalid msisdn '12'")
    assert lines[1].startswith("hint: msisdn:")


# -- errors that are not about a target ------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "start"),
    [
        ([*FD, "-t", GOOD, "--at", "+30d"], "--at "),
        ([*FD, "-t", GOOD, "--receipt-webhook", "https://x.test/r", "--no-delivery-receipt"],
         "--receipt-webhook needs"),
        (["csl", "--base-url", base_url("csl"), "--username", "u", "--password", "p",
          "--api-id", "1", "-t", "iccid:89883030000067347689", "--ref", "a b"], "csl sms_uid"),
        (["thingspace", "--base-url", base_url("thingspace"), "--client-id", "k",
          "--client-secret", "s", "--username", "u", "--password", "p", "--account-name", "a",
          "-t", "mdn:5555555555", "--data-encoding", "8-bit-ASCII", "é"], "8-bit-ASCII"),
    ],
    ids=["fonedynamics --at", "fonedynamics receipts", "csl --ref", "thingspace encoding"],
)  # fmt: skip
def test_a_message_error_has_no_target_prefix(cli: Cli, args: list[str], start: str) -> None:
    res = cli(*args) if args[0] == "thingspace" else cli(*args, "hi")
    assert res.exit_code == 4, res.output
    assert res.stderr.startswith(f"error: {start}"), res.stderr
    assert "target 1" not in res.stderr


def test_a_message_error_is_not_skipped_target_by_target(cli: Cli) -> None:
    # --skip-invalid skips invalid targets; a message no target can take stops the run.
    res = cli(*FD, "-t", GOOD, "-t", "+61488023556", "--skip-invalid", "--at", "+30d", "hi")
    assert res.exit_code == 4, res.output
    assert res.stderr.startswith("error: --at "), res.stderr
    assert "skipped" not in res.output
    assert cli.recorder.requests == []


def test_a_target_error_from_the_provider_keeps_its_prefix(cli: Cli) -> None:
    # emnify checks a name target's lookup query: that is about the target.
    res = cli(*EM, "-t", "endpoint:17", "-t", "name:a,b", "hi")
    assert res.exit_code == 4, res.output
    assert res.stderr.startswith("error: target 2 (name:a,b): "), res.stderr


# -- -q prints a single failure once -------------------------------------------------------
def test_quiet_prints_a_single_failure_once(cli: Cli) -> None:
    res = cli(*FD, "-t", "+61488000500", "hi", "-q")
    assert res.exit_code == 7, res.output
    assert res.stdout == ""
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert "hint: " in res.stderr


def test_quiet_still_prints_each_failure_of_many(cli: Cli) -> None:
    res = cli(*FD, "-t", GOOD, "-t", "+61488000400", "-t", "+61488000404", "hi", "-q")
    assert res.exit_code == 9, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, res.stderr


# -- bad option values are usage errors (2) -------------------------------------------------
@pytest.mark.parametrize(
    ("args", "option"),
    [
        ([*FD, "-t", GOOD, "--validity", "5x"], "--validity"),
        ([*FD, "-t", GOOD, "--validity", "0s"], "--validity"),
        ([*TELIT, "-t", "thing:abc", "--validity", "0.5s"], "--validity"),
        ([*FD, "-t", GOOD, "--at", "tomorrow"], "--at"),
        ([*FD, "-t", GOOD, "--at", "+5x"], "--at"),
        ([*EM, "-t", "endpoint:17", "--at", "tomorrow"], "--at"),
        ([*FD, "-t", GOOD, "--wait=5x"], "--wait"),
        ([*EM, "-t", "endpoint:17", "--dcs", "300"], "--dcs"),
        ([*EM, "-t", "endpoint:17", "--dcs", "abc"], "--dcs"),
        (["status", "--last", "--wait=5x"], "--wait"),
        (["log", "--since", "yesterday"], "--since"),
        (["log", "--since", "5x"], "--since"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_a_malformed_option_value_is_a_usage_error(
    offline_cli: Cli, args: list[str], option: str
) -> None:
    res = offline_cli(*args, "hi") if args[0] not in ("status", "log") else offline_cli(*args)
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith("error: ") and option in lines[0]
    assert lines[1].startswith("hint: ")
    as_json = offline_cli(*args, "--json", *(["hi"] if args[0] not in ("status", "log") else []))
    assert as_json.exit_code == 2
    error = as_json.json()["error"]
    assert error["exit_code"] == 2 and error["hint"]


def test_a_usage_error_without_a_hint_of_its_own_points_at_the_command_help(
    offline_cli: Cli,
) -> None:
    res = offline_cli(*FD, "-t", GOOD, "--hex", "--base64", "00")
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [
        "error: --hex and --base64 exclude each other",
        "hint: see `smscli fonedynamics --help`",
    ]


def test_a_value_the_provider_cannot_take_is_still_exit_4(offline_cli: Cli) -> None:
    # Well-formed, but beyond what Fone Dynamics schedules: a message check (4), not usage.
    res = offline_cli(*FD, "-t", GOOD, "--at", "+30d", "hi")
    assert res.exit_code == 4, res.output


# -- stdin cannot be both ----------------------------------------------------------------------
def test_to_file_stdin_and_text_stdin_is_a_usage_error(offline_cli: Cli) -> None:
    res = offline_cli(*FD, "--to-file", "-", "-", input=GOOD + "\n")
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert lines[0].startswith("error: stdin cannot be both"), res.stderr
    assert lines[1].startswith("hint: ")


def test_to_file_stdin_without_text_is_a_usage_error_with_a_hint(offline_cli: Cli) -> None:
    res = offline_cli(*FD, "--to-file", "-", input=GOOD + "\n")
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines()[1].startswith("hint: ")


# -- --sandbox adds no delay at exit ---------------------------------------------------------
def test_sandbox_adds_no_half_second_at_exit(cli: Cli) -> None:
    args = ["send", "--provider", "fonedynamics", "-t", GOOD, "hi", "-q"]

    def best_of(extra: list[str]) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            res = cli(*args, *extra)
            times.append(time.perf_counter() - started)
            assert res.exit_code == 0, res.output
        return min(times)

    plain = best_of(["--base-url", base_url("fonedynamics"), "--account-sid", "A", "--token",
                     "T", "--property-sid", "P"])  # fmt: skip
    with_sandbox = best_of(["--sandbox"])
    assert with_sandbox - plain < 0.25, (plain, with_sandbox)


# -- Ctrl-C says at once what it waits for ------------------------------------------------------
def _stderr_lines(proc: subprocess.Popen[bytes], into: list[tuple[float, str]]) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        into.append((time.monotonic(), raw.decode()))


def _received(sandbox: str, targets: set[str]) -> set[str]:
    messages = httpx.get(f"{sandbox}/_sandbox/messages", timeout=5).json()["messages"]
    return {m["target"] for m in messages} & targets


@pytest.mark.e2e
@pytest.mark.parametrize("slow", [1, 2], ids=["one request", "send threads"])
def test_a_first_ctrl_c_says_at_once_what_it_waits_for(
    sandbox_process: str, tmp_path: Path, slow: int
) -> None:
    # Targets ending in 0408: the sandbox takes the message, then answers after 35 s.
    tag = f"{os.getpid() % 10000:04d}{slow}"
    slow_targets = {f"+614{tag}{n}0408" for n in range(slow)}
    targets = sorted(slow_targets) if slow == 1 else [GOOD, *sorted(slow_targets)]
    args = ["fonedynamics", "--base-url", f"{sandbox_process}/fonedynamics"]
    args += ["--account-sid", "A", "--token", "T", "--property-sid", "P", "--timeout", "60"]
    args += ["--rate", "0", "--concurrency", "2", "--json", "--no-history"]
    args += [a for t in targets for a in ("-t", t)]
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        [SCRIPT, *args, "slow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=child_env(tmp_path),
    ) as proc:
        try:
            reader = threading.Thread(target=_stderr_lines, args=(proc, lines), daemon=True)
            reader.start()
            deadline = time.monotonic() + 20
            while _received(sandbox_process, slow_targets) != slow_targets:
                assert time.monotonic() < deadline, "the slow sends never reached the sandbox"
                time.sleep(0.05)
            time.sleep(0.2)
            signalled = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=15)  # (stdout is one small JSON document: the pipe holds it)
            ended = time.monotonic()
            reader.join(5)
            assert proc.stdout is not None
            stdout = proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    said = [(t, line) for t, line in lines if line.startswith("stopping:")]
    assert said, lines
    when, line = said[0]
    assert line.strip() == (
        f"stopping: waiting for {slow} request(s) in flight (Ctrl-C again to stop waiting)"
    )
    # At once: well before the requests in flight were given up (half a second after the
    # Ctrl-C, http_client.CANCEL_GRACE) and the process ended.
    assert when - signalled < 0.4, (when - signalled, ended - signalled)
    assert when < ended
    assert proc.returncode == 130, lines
    statuses = sorted(r["status"] for r in json.loads(stdout)["results"])
    assert statuses == (["unknown"] if slow == 1 else ["accepted", "unknown", "unknown"])


# -- help polish ---------------------------------------------------------------------------------
@pytest.mark.e2e
def test_help_at_80_columns_from_the_installed_script() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    screens = {
        name: subprocess.run(
            [SCRIPT, name, "--help"], capture_output=True, text=True, env=env, check=True
        ).stdout
        for name in ("telit", "fonedynamics", "send", "check", "log", "status")
    }
    assert screens["telit"].count("--smsc") == 1
    fd = screens["fonedynamics"]
    panel = fd[fd.index("Fone Dynamics:") :]
    for flag in ("--delivery-receipt / --no-delivery-receipt", "--reply-method POST|GET"):
        assert flag in panel
    for name, text in screens.items():
        assert all(len(line) <= 80 for line in text.splitlines()), name
        assert "<str>" not in text and "<int" not in text and "<float" not in text, name
