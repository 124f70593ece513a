"""Issue 9, configuration and first run: which profile --provider uses, --sandbox with an
unresolvable reference (B1), a complete Telit login set (B2), one check of every key and
value (W3), `config set` references, what `config init` says it wrote, `config init` on a
terminal, a secret command that prints nothing, and the example config shipped in the
package. README "Decisions: configuration and first run"."""

from __future__ import annotations

import os
import select
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from smscli.errors import ExitCode
from tests.conftest import SCRIPT, Cli, base_url, write_config


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------- B1
def test_b1_init_then_send_with_sandbox_and_provider_works(isolated: Path) -> None:
    """The README's own first steps, as the issue ran them: exit 3 before the fix."""
    init = run("config", "init", "--provider", "emnify", "-p", "fleet")
    assert init.returncode == 0, init.stderr
    sent = run("send", "--sandbox", "--provider", "emnify", "-t", "endpoint:1001", "Hello")
    assert sent.returncode == 0, sent.stderr
    assert "accepted" in sent.stdout
    # --provider picked the default profile up, and said so.
    assert "using profile 'fleet' for emnify (default_profile)" in sent.stderr


def test_sandbox_fills_a_reference_that_does_not_resolve(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        'default_profile = "fleet"\n[profiles.fleet]\nprovider = "emnify"\n'
        'application_token = { command = ["false"] }\nmax_segments = 1\n',
    )
    res = cli("send", "--sandbox", "-t", "endpoint:1001", "--json", "Hello")
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["profile"] == "fleet"
    # The profile's other values still apply under --sandbox.
    long = cli("send", "--sandbox", "-t", "endpoint:1001", "x" * 200)
    assert long.exit_code == ExitCode.INVALID, long.output


def test_telit_sandbox_fills_the_login_set_the_profile_started(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        '[profiles.app]\nprovider = "telit"\napp_id = "my-app"\nthing_key = "gw-1"\n'
        'app_token = { env = "UNSET_TELIT_APP_TOKEN" }\n',
    )
    res = cli("telit", "-p", "app", "--sandbox", "-t", "thing:dev-1", "--json", "Hi")
    assert res.exit_code == 0, res.output
    [login, *_] = [r for r in cli.recorder.requests if r.url.path.endswith("/api")]
    assert b'"appId": "my-app"' in login.content or b'"appId":"my-app"' in login.content


def test_provider_without_p_uses_no_profile_of_another_provider(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        'default_profile = "portal"\n[profiles.portal]\nprovider = "telit"\n'
        'username = "u"\npassword = { env = "UNSET_PW" }\n',
    )
    res = cli(
        "emnify", "--base-url", base_url("emnify"), "--application-token", "tok-1234",
        "-t", "endpoint:17", "--json", "hi",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["profile"] is None
    assert "using profile" not in res.stderr
    # -p with a profile of another provider is an error, not a silent switch.
    mismatch = cli("emnify", "-p", "portal", "-t", "endpoint:17", "hi")
    assert mismatch.exit_code == ExitCode.CONFIG
    assert "telit profile, not emnify" in mismatch.stderr


def test_provider_without_p_says_which_profile_it_picked(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        f'[profiles.fleet]\nprovider = "emnify"\nbase_url = "{base_url("emnify")}"\n'
        'application_token = "tok-1234"\n',
    )
    res = cli("emnify", "-t", "endpoint:17", "--json", "hi", SMSCLI_PROFILE="fleet")
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["profile"] == "fleet"
    assert "using profile 'fleet' for emnify (SMSCLI_PROFILE); -p NAME picks another" in (
        res.stderr
    )
    quiet = cli("emnify", "-t", "endpoint:17", "-q", "hi", SMSCLI_PROFILE="fleet")
    assert quiet.exit_code == 0 and quiet.stderr == ""


# --------------------------------------------------------------------------- B2
TELIT_BOTH_REFS = (
    '[profiles.portal]\nprovider = "telit"\nusername = "ops"\n'
    'password = { env = "SMSCLI_TELIT_PASSWORD" }\n'
    'app_token = { env = "SMSCLI_TELIT_APP_TOKEN" }\n'
)


def test_b2_an_unused_app_token_reference_does_not_stop_a_password_login(
    cli: Cli, isolated: Path
) -> None:
    """The profile `config init --provider telit` wrote before the fix (both secrets as
    references): username+password is complete, app_token's variable is unset."""
    write_config(isolated, TELIT_BOTH_REFS)
    res = cli(
        "telit", "-p", "portal", "--base-url", base_url("telit"), "-t", "thing:dev-1", "hi",
        SMSCLI_TELIT_PASSWORD="pw-123456",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    ok = cli("config", "validate", "--json", SMSCLI_TELIT_PASSWORD="pw-123456")
    assert ok.exit_code == 0, ok.output


def test_the_other_login_sets_command_never_runs(cli: Cli, isolated: Path) -> None:
    marker = isolated / "ran"
    write_config(
        isolated,
        '[profiles.portal]\nprovider = "telit"\nusername = "ops"\npassword = "pw-123456"\n'
        f'app_token = {{ command = ["touch", "{marker}"] }}\n',
    )
    res = cli("telit", "-p", "portal", "--base-url", base_url("telit"), "-t", "thing:d", "hi")
    assert res.exit_code == 0, res.output
    assert not marker.exists()


def test_an_incomplete_login_reports_the_set_it_started_with_the_reason(
    offline_cli: Cli, isolated: Path
) -> None:
    write_config(
        isolated,
        '[profiles.app]\nprovider = "telit"\napp_id = "a"\n'
        'app_token = { env = "UNSET_APP_TOKEN" }\n',
    )
    res = offline_cli("telit", "-p", "app", "-t", "thing:d", "hi")
    assert res.exit_code == ExitCode.CONFIG
    [line] = error_lines(res.stderr)
    assert "app_token: environment variable UNSET_APP_TOKEN is not set" in line
    assert "thing_key (--thing-key" in line and "--username" not in line


def test_init_login_writes_only_that_sets_secrets(offline_cli: Cli, isolated: Path) -> None:
    res = offline_cli(
        "config", "init", "--provider", "telit", "-p", "app", "--login", "app_token",
        "--set", "app_id=my-app", "--set", "thing_key=gw-1",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    body = tomllib.loads((isolated / "config.toml").read_text())["profiles"]["app"]
    assert body == {
        "provider": "telit",
        "app_id": "my-app",
        "thing_key": "gw-1",
        "app_token": {"env": "SMSCLI_TELIT_APP_TOKEN"},
    }
    assert "logs in with app_id+app_token+thing_key" in res.stdout
    default = offline_cli("config", "init", "--provider", "telit", "-p", "portal")
    assert default.exit_code == 0
    body = tomllib.loads((isolated / "config.toml").read_text())["profiles"]["portal"]
    assert body == {"provider": "telit", "password": {"env": "SMSCLI_TELIT_PASSWORD"}}
    assert "username: still needed" in default.stdout
    by_set = offline_cli(
        "config", "init", "--provider", "telit", "-p", "by-set", "--set", "thing_key=gw"
    )
    assert "logs in with app_id+app_token+thing_key" in by_set.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--provider", "telit", "--login", "token"], "--login must be username+password or"),
        (["--provider", "emnify", "--login", "password"], "emnify has one way to log in"),
    ],
)
def test_init_refuses_a_login_it_does_not_know(
    offline_cli: Cli, isolated: Path, args: list[str], needle: str
) -> None:
    res = offline_cli("config", "init", *args)
    assert res.exit_code == ExitCode.USAGE
    assert needle in res.stderr
    assert not (isolated / "config.toml").exists()


# --------------------------------------------------------------------------- W3: one check
def test_w3_a_history_body_typo_stops_every_command(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        'history_body = "hashed"\n[profiles.fleet]\nprovider = "emnify"\n'
        'application_token = "tok-1234"\n',
    )
    res = cli("send", "-p", "fleet", "--base-url", base_url("emnify"), "-t", "endpoint:1", "hi")
    assert res.exit_code == ExitCode.CONFIG
    assert error_lines(res.stderr) == [
        f'error: {isolated / "config.toml"}: history_body: must be "full", "hash" or '
        "\"none\", not 'hashed'"
    ]
    assert cli.recorder.requests == []  # nothing sent
    assert cli("log").exit_code == ExitCode.CONFIG
    validate = cli("config", "validate")
    assert validate.exit_code == ExitCode.CONFIG
    assert "history_body" in validate.stderr


BROKEN = """\
default_profile = "nowhere"
history = "yes"
colour = true

[profiles.fleet]
provider = "emnify"
application_token = "tok-1234"
base_url = "htp://127.0.0.1:8025/emnify"
rate = "fast"
tiemout = 10

[profiles.au]
provider = "fonedynamics"
account_sid = "AC1"
token = { env = "FD_TOKEN", file = "x" }
property_sid = "PR1"
sender = "My Shop Pty Ltd"

[profiles.odd]
provider = "nokia"
"""

BROKEN_PROBLEMS = [
    "colour: unknown key (known: default_profile, profiles, history, history_body, history_url,"
    " history_password)",
    "profiles.fleet.base_url: 'htp://127.0.0.1:8025/emnify' cannot be used: the scheme must "
    "be http:// or https://",
    "profiles.fleet.rate: must be a number of messages per second (0 or more), not 'fast'",
    "profiles.fleet.tiemout: unknown key for emnify (known: provider, base_url, sender, "
    "timeout, max_segments, smart, rate, dedupe_window, application_token, callback_secret)",
    "profiles.au.token: a secret reference needs exactly one of env, file or command: "
    '{env = "VAR"}, {file = "PATH"} or {command = ["argv", ...]}',
    # Fone Dynamics' own sender rule (catalog), the one a send applies
    "profiles.au.sender: 'My Shop Pty Ltd' cannot be used: 15 characters; a sender ID has at "
    "most 11",
    "profiles.odd.provider: unknown provider 'nokia' (telit, csl, thingspace, emnify, "
    "fonedynamics)",
    "default_profile: no profile 'nowhere' (profiles: fleet, au, odd)",
    "history: must be true or false, not 'yes'",
]


def test_every_problem_is_reported_at_once_one_per_line(offline_cli: Cli, isolated: Path) -> None:
    path = write_config(isolated, BROKEN)
    res = offline_cli("send", "-p", "fleet", "-t", "endpoint:1", "hi")
    assert res.exit_code == ExitCode.CONFIG
    lines = res.stderr.splitlines()
    assert lines[0] == f"error: {path} has {len(BROKEN_PROBLEMS)} problems:"
    assert [line.strip() for line in lines[1 : 1 + len(BROKEN_PROBLEMS)]] == BROKEN_PROBLEMS
    assert "Traceback" not in res.output
    as_json = offline_cli("send", "-p", "fleet", "-t", "endpoint:1", "--json", "hi")
    assert as_json.json()["error"]["code"] == "config_invalid"
    assert as_json.json()["error"]["exit_code"] == 3
    validate = offline_cli("config", "validate", "--json")
    assert validate.exit_code == ExitCode.CONFIG
    assert validate.json()["problems"] == BROKEN_PROBLEMS
    rows = {r["profile"]: r for r in validate.json()["profiles"]}
    assert rows["fleet"]["ok"] is False and "base_url" in rows["fleet"]["problem"]
    assert "tiemout" in rows["fleet"]["problem"]
    human = offline_cli("config", "validate")
    assert f"error: {path}: colour: unknown key" in human.stderr
    assert "FAIL" in human.stdout
    # show still shows the file, so that it can be fixed.
    shown = offline_cli("config", "show")
    assert shown.exit_code == 0 and "tok-1234" not in shown.output
    assert "warning: history: must be true or false" in shown.stderr


def test_doctor_lists_every_problem_of_the_file(offline_cli: Cli, isolated: Path) -> None:
    write_config(isolated, BROKEN)
    res = offline_cli("doctor", "-p", "fleet", "--json")
    assert res.exit_code == ExitCode.CONFIG
    checks = [(c["check"], c["result"], c["detail"]) for c in res.json()["checks"]]
    assert [detail for _, _, detail in checks] == BROKEN_PROBLEMS
    assert {result for _, result, _ in checks} == {"FAIL"}
    assert ("base_url", "FAIL", BROKEN_PROBLEMS[1]) in checks


def test_a_secret_of_the_wrong_type_is_not_shown(offline_cli: Cli, isolated: Path) -> None:
    write_config(isolated, '[profiles.p]\nprovider = "emnify"\napplication_token = ["tok-1234"]\n')
    res = offline_cli("config", "validate")
    assert res.exit_code == ExitCode.CONFIG
    assert "tok-1234" not in res.output
    assert "application_token: must be a string or a reference" in res.stdout


def test_the_example_and_a_fresh_init_have_no_problems(offline_cli: Cli, isolated: Path) -> None:
    from smscli.config import example_text, problems

    assert problems(tomllib.loads(example_text())) == []
    assert offline_cli("config", "init", "--provider", "csl", "-p", "c").exit_code == 0
    assert problems(tomllib.loads((isolated / "config.toml").read_text())) == []


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("history_body", "hashed", 'history_body: must be "full", "hash" or "none"'),
        ("history", "yes", "history: must be true or false"),
        ("default_profile", "nope", "default_profile: no profile 'nope' (profiles: fleet)"),
        ("profiles.fleet.base_url", "htp://x", "the scheme must be http:// or https://"),
        ("profiles.fleet.timeout", "0", "timeout: must be a positive number of seconds"),
        ("profiles.fleet.timeout", "inf", "timeout: must be a positive number of seconds"),
        ("profiles.fleet.smart", "maybe", "smart: must be true or false"),
        ("profiles.fleet.max_segments", "2.5", "max_segments: must be a whole number"),
        ("profiles.fleet.colour", "red", "colour: unknown key for emnify"),
        ("profiles.fleet.provider", "nokia", "unknown provider 'nokia'"),
        ("profiles.new.base_url", "http://x", 'profiles.new: no provider = "…"'),
        ("profiles.fleet.application_token", '{env = ""}', "env must be the name of"),
        ("profiles.fleet.application_token", "{env = 'X'", "is not valid TOML"),
        ("profiles.fleet.application_token", '{env = "X", file = "y"}', "exactly one of"),
        ("colour", "red", "colour: unknown key"),
    ],
)
def test_config_set_refuses_what_the_check_refuses(
    offline_cli: Cli, isolated: Path, key: str, value: str, needle: str
) -> None:
    assert offline_cli("config", "init", "--provider", "emnify", "-p", "fleet").exit_code == 0
    before = (isolated / "config.toml").read_text()
    res = offline_cli("config", "set", key, value)
    assert res.exit_code == ExitCode.CONFIG, res.output
    assert needle in res.stderr
    assert "nothing was written" in res.stderr
    assert (isolated / "config.toml").read_text() == before


def test_config_set_can_fix_one_problem_while_another_remains(
    offline_cli: Cli, isolated: Path
) -> None:
    path = write_config(
        isolated,
        'history_body = "hashed"\nhistory = "yes"\n[profiles.f]\nprovider = "emnify"\n',
    )
    res = offline_cli("config", "set", "history_body", "hash")
    assert res.exit_code == 0, res.output
    assert "still to fix" in res.stderr and "history: must be true or false" in res.stderr
    assert tomllib.loads(path.read_text())["history_body"] == "hash"
    assert offline_cli("config", "set", "history", "false").exit_code == 0
    assert offline_cli("config", "validate", "--json").json()["problems"] == []


def test_config_init_set_is_checked_too(offline_cli: Cli, isolated: Path) -> None:
    res = offline_cli(
        "config", "init", "--provider", "fonedynamics", "-p", "au",
        "--set", "base_url=htp://x", "--set", "sender=Way Too Long A Sender", "--set", "rate=-1",
    )  # fmt: skip
    assert res.exit_code == ExitCode.CONFIG
    assert "has 3 problems" in res.stderr
    assert "profiles.au.base_url" in res.stderr and "profiles.au.sender" in res.stderr
    assert "profiles.au.rate" in res.stderr
    assert not (isolated / "config.toml").exists()


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ('{env = "EMNIFY_TOKEN"}', {"env": "EMNIFY_TOKEN"}),
        ('{env="EMNIFY_TOKEN"}', {"env": "EMNIFY_TOKEN"}),
        ('{file = "~/token"}', {"file": "~/token"}),
        ('{command = ["cat", "/run/secrets/t"]}', {"command": ["cat", "/run/secrets/t"]}),
    ],
)
def test_config_set_writes_a_reference_not_its_text(
    offline_cli: Cli, isolated: Path, value: str, stored: dict[str, object]
) -> None:
    assert offline_cli("config", "init", "--provider", "emnify", "-p", "fleet").exit_code == 0
    res = offline_cli("config", "set", "profiles.fleet.application_token", value)
    assert res.exit_code == 0, res.output
    assert "a reference" in res.stderr
    data = tomllib.loads((isolated / "config.toml").read_text())
    assert data["profiles"]["fleet"]["application_token"] == stored


def test_a_reference_set_by_config_set_is_used_by_a_send(cli: Cli, isolated: Path) -> None:
    assert cli("config", "init", "--provider", "emnify", "-p", "fleet").exit_code == 0
    cli("config", "set", "profiles.fleet.base_url", base_url("emnify"))
    cli("config", "set", "profiles.fleet.application_token", '{env="MY_EMNIFY_TOKEN"}')
    res = cli("send", "-t", "endpoint:17", "hi", MY_EMNIFY_TOKEN="tok-from-env-1234")
    assert res.exit_code == 0, res.output
    [auth] = [r for r in cli.recorder.requests if r.url.path.endswith("/authenticate")]
    assert b"tok-from-env-1234" in auth.content
    shown = cli("config", "show")
    assert 'env = "MY_EMNIFY_TOKEN"' in shown.stdout


def test_init_describes_what_it_wrote(offline_cli: Cli, isolated: Path) -> None:
    secret = "Literal-S3cret-Token"
    res = offline_cli(
        "config", "init", "--provider", "fonedynamics", "-p", "au",
        "--set", f"token={secret}", "--set", "account_sid=AC1", "--set", "sender=MyShop",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert secret not in res.output
    assert "token: stored in the file (mode 0600)" in res.stdout
    assert "$SMSCLI_FONEDYNAMICS_TOKEN" not in res.output  # it did not write a reference
    assert 'account_sid = "AC1"' in res.stdout and 'sender = "MyShop"' in res.stdout
    assert "property_sid: still needed" in res.stdout
    assert "it is the default profile" in res.stdout
    second = offline_cli(
        "config", "init", "--provider", "emnify", "-p", "fleet",
        "--set", 'application_token={file="~/emnify-token"}',
    )  # fmt: skip
    assert "application_token: read from the file ~/emnify-token" in second.stdout
    assert "the default profile stays 'au': use -p fleet" in second.stdout


# --------------------------------------------------------------------------- prompts
def test_init_in_a_script_never_asks(offline_cli: Cli, isolated: Path) -> None:
    res = offline_cli("config", "init", "-p", "fleet", input="emnify\n")
    assert res.exit_code == ExitCode.USAGE
    assert error_lines(res.stderr) == [
        "error: config init needs --provider SLUG (telit, csl, thingspace, emnify, fonedynamics)"
    ]
    assert not (isolated / "config.toml").exists()


def test_init_on_a_terminal_asks_for_what_it_needs(
    offline_cli: Cli, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("smscli.commands.config._interactive", lambda: True)
    # provider (a wrong one first), account_sid, token (Enter: a reference), property_sid
    res = offline_cli("config", "init", "-p", "au", input="nokia\nfonedynamics\nAC1\n\nPR1\n")
    assert res.exit_code == 0, res.output
    assert "unknown provider 'nokia'" in res.stderr
    body = tomllib.loads((isolated / "config.toml").read_text())["profiles"]["au"]
    assert body == {
        "provider": "fonedynamics",
        "account_sid": "AC1",
        "token": {"env": "SMSCLI_FONEDYNAMICS_TOKEN"},
        "property_sid": "PR1",
    }


def test_init_stopped_at_a_question_writes_nothing(
    offline_cli: Cli, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("smscli.commands.config._interactive", lambda: True)
    res = offline_cli("config", "init", "-p", "au", input="fonedynamics\n")  # then EOF
    assert res.exit_code == ExitCode.INTERRUPTED
    assert "error: config init stopped: nothing was written" in res.stderr
    assert not (isolated / "config.toml").exists()


def _pty_session(args: list[str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run SCRIPT on a pseudo-terminal, answering each prompt (waited for by a piece of its
    text; an answer to a question that hides its input only once the terminal's echo is
    off, as a person would). Its exit code and everything the terminal showed."""
    import pty
    import signal
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and stderr are the terminal
        try:
            os.execv(SCRIPT, [SCRIPT, *args])
        finally:
            os._exit(127)
    shown = ""

    def read(until: float) -> bool:
        nonlocal shown
        ready, _, _ = select.select([fd], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            return True
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        shown += chunk.decode("utf-8", "replace")
        return bool(chunk)

    try:
        for prompt, answer in answers:
            deadline = time.monotonic() + 30
            while prompt not in shown:
                assert time.monotonic() < deadline and read(deadline), (
                    f"no prompt {prompt!r} within 30 s; shown: {shown!r}"
                )
            if "(not shown)" in shown[shown.rindex(prompt) :]:
                while termios.tcgetattr(fd)[3] & termios.ECHO:
                    assert time.monotonic() < deadline, "the terminal's echo stayed on"
                    read(time.monotonic() + 0.01)
            os.write(fd, answer.encode() + b"\r")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and read(deadline):
            pass
    finally:
        for _ in range(300):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown


def test_init_on_a_real_pseudo_terminal_asks_and_hides_secrets(isolated: Path) -> None:
    secret = "S3cret-App-Token"
    code, shown = _pty_session(
        ["config", "init", "-p", "portal"],
        [
            ("Provider (", "telit"),
            ("Choose", "2"),
            ("app_id: Application id", "my-app"),
            ("app_token: Application token.", secret),
            ("thing_key: Thing key", "gw-1"),
        ],
    )
    assert code == 0, shown
    assert secret not in shown
    assert "app_token: stored in the file (mode 0600)" in shown
    body = tomllib.loads((isolated / "config.toml").read_text())["profiles"]["portal"]
    assert body == {
        "provider": "telit",
        "app_id": "my-app",
        "app_token": secret,
        "thing_key": "gw-1",
    }


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["true"], "command 'true' printed nothing"),
        (["printf", "\\n\\nS3cret-After-Blank"], "command 'printf' printed an empty first line"),
    ],
)
def test_a_secret_command_that_prints_nothing_says_so(
    offline_cli: Cli, isolated: Path, command: list[str], says: str
) -> None:
    argv = ", ".join(f'"{a}"' for a in command)
    write_config(
        isolated,
        f'[profiles.fleet]\nprovider = "emnify"\napplication_token = {{ command = [{argv}] }}\n',
    )
    res = offline_cli("emnify", "-p", "fleet", "-t", "endpoint:1", "hi")
    assert res.exit_code == ExitCode.CONFIG
    [line] = error_lines(res.stderr)
    assert line.startswith("error: profile 'fleet': missing application_token: ")
    assert says in line
    assert "S3cret-After-Blank" not in res.output
    assert "--application-token" not in line  # not the generic "give it as a flag" text


@pytest.mark.parametrize(
    ("reference", "says"),
    [("{ env = 'EMPTY_VAR' }", "environment variable EMPTY_VAR is empty"),
     ("{ file = 'EMPTY_FILE' }", "is empty")],
)  # fmt: skip
def test_an_empty_variable_or_file_says_so(
    offline_cli: Cli, isolated: Path, reference: str, says: str
) -> None:
    empty = isolated / "empty"
    empty.write_text("\n")
    write_config(
        isolated,
        '[profiles.fleet]\nprovider = "emnify"\n'
        f"application_token = {reference.replace('EMPTY_FILE', str(empty))}\n",
    )
    res = offline_cli("emnify", "-p", "fleet", "-t", "endpoint:1", "hi", EMPTY_VAR="")
    assert res.exit_code == ExitCode.CONFIG
    [line] = error_lines(res.stderr)
    assert "application_token" in line and says in line


# --------------------------------------------------------------------------- the example
def test_config_example_is_printed_by_the_installed_command(isolated: Path) -> None:
    from smscli import docgen

    res = run("config", "example")
    assert res.returncode == 0, res.stderr
    assert res.stdout.rstrip("\n") == docgen.config_example()
    data = tomllib.loads(res.stdout)
    assert {body["provider"] for body in data["profiles"].values()} == {
        "telit", "csl", "thingspace", "emnify", "fonedynamics",
    }  # fmt: skip


def test_the_example_is_package_data() -> None:
    from importlib.resources import files

    root = Path(__file__).resolve().parent.parent
    assert (files("smscli") / "config.example.toml").is_file()
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert "config.example.toml" in pyproject["tool"]["setuptools"]["package-data"]["smscli"]
    assert not (root / "config.example.toml").exists()  # one file, in the package


def test_hints_point_at_config_example_and_the_readme_at_no_missing_file(
    offline_cli: Cli, isolated: Path
) -> None:
    write_config(isolated, "this is = = not toml\n")
    res = offline_cli("config", "validate")
    assert res.exit_code == ExitCode.CONFIG
    assert "smscli config example" in res.stderr
    assert "config.example.toml" not in res.stderr
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "DESIGN.md" not in readme
