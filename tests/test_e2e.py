"""End to end: the installed `smscli` console script against a real `smscli sandbox` process
on a random loopback port. Real bytes on the wire, real config files, the token cache on
disk across runs, a closed port, a reply slower than --timeout."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SCRIPT, free_port, write_config

# A valid target per provider, and the stem that magic suffixes are appended to.
TARGETS = {
    "telit": ("imei:490154203237518", "thing:dev-"),
    "csl": ("iccid:8988303000006734768", "iccid:89883030000000"),
    "thingspace": ("mdn:5555550100", "mdn:555555"),
    "emnify": ("endpoint:1001", "endpoint:1"),
    "fonedynamics": ("+61488023555", "+61488000"),
}
SECRET = "E2e-S3cret-Value!"
CREDENTIALS = {
    "telit": {"username": "ops@example.com", "password": SECRET},
    "csl": {"username": "api", "password": SECRET, "api_id": "123456"},
    "thingspace": {
        "client_id": "key",
        "client_secret": SECRET,
        "username": "uws",
        "password": SECRET,
        "account_name": "0000123456-00001",
    },
    "emnify": {"application_token": SECRET},
    "fonedynamics": {"account_sid": "AC1", "token": SECRET, "property_sid": "PR1"},
}
TOKEN_PROVIDERS = ("telit", "thingspace", "emnify")


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def profile_config(home: Path, sandbox_url: str) -> Path:
    lines = ['default_profile = "emnify"']
    for slug, fields in CREDENTIALS.items():
        lines.append(f"[profiles.{slug}]")
        lines.append(f'provider = "{slug}"')
        lines.append(f'base_url = "{sandbox_url}/{slug}"')
        lines += [f'{k} = "{v}"' for k, v in fields.items()]
    return write_config(home, "\n".join(lines) + "\n")


def flags(slug: str) -> list[str]:
    out: list[str] = []
    for key, value in CREDENTIALS[slug].items():
        out += ["--" + key.replace("_", "-"), value]
    return out


def doc(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("slug", list(TARGETS))
def test_send_with_a_profile(slug: str, sandbox_process: str, isolated: Path) -> None:
    profile_config(isolated, sandbox_process)
    proc = run("send", "-p", slug, "-t", TARGETS[slug][0], "Hello from e2e", "--json")
    assert proc.returncode == 0, proc.stderr
    [result] = doc(proc)["results"]
    assert result["status"] == "accepted"
    assert result["provider"] == slug and result["profile"] == slug
    assert SECRET not in proc.stdout + proc.stderr
    received = httpx.get(sandbox_process + "/_sandbox/messages").json()["messages"]
    assert any(m["provider"] == slug and m["text"] == "Hello from e2e" for m in received)
    assert SECRET not in json.dumps(received)


@pytest.mark.parametrize("slug", list(TARGETS))
def test_provider_subcommand_with_flags_and_no_config(slug: str, sandbox_process: str) -> None:
    proc = run(
        slug,
        "--base-url",
        f"{sandbox_process}/{slug}",
        *flags(slug),
        "-t",
        TARGETS[slug][0],
        "Hi",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "quiet mode prints the id"
    assert SECRET not in proc.stdout + proc.stderr


@pytest.mark.parametrize("slug", list(TARGETS))
@pytest.mark.parametrize(
    ("suffix", "exit_code"),
    [("0400", 5), ("0404", 5), ("0500", 7), ("0444", 7)],
    ids=["rejected", "unknown target", "500", "dropped"],
)
def test_failures_over_real_http(
    slug: str, suffix: str, exit_code: int, sandbox_process: str, isolated: Path
) -> None:
    profile_config(isolated, sandbox_process)
    target = TARGETS[slug][1] + suffix
    proc = run("send", "-p", slug, "-t", target, "Hi", "--json")
    assert proc.returncode == exit_code, proc.stdout + proc.stderr
    assert doc(proc)["error"]["exit_code"] == exit_code
    assert SECRET not in proc.stdout + proc.stderr


def test_slow_reply_past_timeout_is_outcome_unknown(sandbox_process: str, isolated: Path) -> None:
    profile_config(isolated, sandbox_process)
    proc = run("send", "-p", "fonedynamics", "-t", "+61488000408", "Hi", "--timeout", "1", "--json")
    assert proc.returncode == 7, proc.stderr
    assert doc(proc)["error"]["code"] == "timeout"
    log = doc(run("log", "--json"))["entries"]
    assert log[-1]["status"] == "unknown"


def test_connection_refused_is_unavailable(isolated: Path) -> None:
    port = free_port()
    proc = run("fonedynamics", "--base-url", f"http://127.0.0.1:{port}/fonedynamics",
               *flags("fonedynamics"), "-t", "+61488023555", "Hi", "--json")  # fmt: skip
    assert proc.returncode == 6, proc.stderr
    assert doc(proc)["error"]["code"] == "unreachable"


@pytest.mark.parametrize("slug", TOKEN_PROVIDERS)
def test_token_cache_is_reused_across_runs(slug: str, sandbox_process: str, isolated: Path) -> None:
    profile_config(isolated, sandbox_process)
    first = run("send", "-p", slug, "-t", TARGETS[slug][0], "one", "-v")
    assert first.returncode == 0, first.stderr
    second = run("send", "-p", slug, "-t", TARGETS[slug][0], "two", "-v")
    assert second.returncode == 0, second.stderr
    requests_1 = [
        line
        for line in first.stderr.splitlines()
        if line.startswith("> POST") or line.startswith("> GET")
    ]
    requests_2 = [
        line
        for line in second.stderr.splitlines()
        if line.startswith("> POST") or line.startswith("> GET")
    ]
    assert len(requests_2) < len(requests_1), (requests_1, requests_2)
    cache = isolated / "cache" / "tokens.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert SECRET not in first.stderr + second.stderr
    assert SECRET not in cache.read_text()
    logout = run("logout", "-p", slug)
    assert logout.returncode == 0, logout.stderr
    third = run("send", "-p", slug, "-t", TARGETS[slug][0], "three", "-v")
    requests_3 = [
        line
        for line in third.stderr.splitlines()
        if line.startswith("> POST") or line.startswith("> GET")
    ]
    assert len(requests_3) == len(requests_1)


def test_status_wait_against_the_sandbox(sandbox_process: str, isolated: Path) -> None:
    profile_config(isolated, sandbox_process)
    sent = run("send", "-p", "fonedynamics", "-t", "+61488023555", "Hi", "--json")
    assert sent.returncode == 0, sent.stderr
    status = run("status", "--last", "--wait=20s", "--json")
    assert status.returncode == 0, status.stderr
    assert doc(status)["results"][0]["status"] == "delivered"


def test_sandbox_flag_needs_no_account(isolated: Path) -> None:
    proc = run("send", "--sandbox", "--provider", "fonedynamics", "-t", "+61488023555", "Hello")
    assert proc.returncode == 0, proc.stderr
    assert "accepted" in proc.stdout
    assert "sandbox:" in proc.stderr


def test_doctor_logs_in_for_real(sandbox_process: str, isolated: Path) -> None:
    profile_config(isolated, sandbox_process)
    for slug in TARGETS:
        proc = run("doctor", "-p", slug, "--json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        checks = {c["check"]: c["result"] for c in doc(proc)["checks"]}
        assert checks["login"] == "ok" and checks["credentials"] == "ok"


def test_doctor_reports_a_refused_login(sandbox_process: str, isolated: Path) -> None:
    profile_config(isolated, sandbox_process)
    proc = run(
        "doctor", "-p", "emnify", "--json", env={"SMSCLI_EMNIFY_APPLICATION_TOKEN": "refused"}
    )
    assert proc.returncode == 5
    checks = {c["check"]: c["result"] for c in doc(proc)["checks"]}
    assert checks["login"] == "FAIL"


def test_help_and_version_work_from_the_installed_script() -> None:
    proc = run("--help")
    assert proc.returncode == 0 and "send" in proc.stdout
    assert run("--version").stdout.startswith("smscli ")
    wrong = run("send", "--nope")
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: No such option")
