"""SPEC §9: `smscli check` and `--help` must not import httpx, xmltodict, any provider's API
module or Markdown/syntax highlighting (rich.markdown, markdown-it, pygments); help screens
are plain text and import no Rich at all; `--version` not even Typer. A provider's
declaration (smscli.catalog.<slug>) is import-cheap and may be loaded. A real send goes
through httpx."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

HEAVY = (
    "httpx",
    "xmltodict",
    "smscli.providers",
    "smscli.sandbox",
    "smscli.http_client",
    "smscli.http_failures",
    "smscli.http_transport",
    "rich.markdown",
    "markdown_it",
    "pygments",
    "psycopg",  # the PostgreSQL history only (issue 12)
)

# What the console script runs (smscli.cli:main), then the modules it loaded.
PROBE = """
import json, sys
sys.argv = ["smscli", *{args!r}]
from smscli.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def modules_after(*args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=list(args))],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return list(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [
        ["check", "hello"],
        ["check", "--provider", "csl", "--json", "hello"],
        ["--help"],
        ["send", "--help"],
        ["emnify", "--help"],
        ["devicewise", "--help"],
    ],
    ids=["check", "check for csl", "help", "send help", "provider help", "alias help"],
)
def test_light_commands_do_not_import_heavy_modules(args: list[str]) -> None:
    loaded = modules_after(*args)
    assert "smscli.cli" in loaded  # the probe really ran the CLI
    for name in HEAVY:
        assert not any(m == name or m.startswith(name + ".") for m in loaded), name


@pytest.mark.parametrize("args", [["--help"], ["send", "--help"], ["emnify", "--help"]])
def test_help_screens_do_not_import_rich(args: list[str]) -> None:
    loaded = modules_after(*args)
    assert "smscli.cli" in loaded
    assert not any(m == "rich" or m.startswith("rich.") for m in loaded)


def test_version_is_answered_before_typer_is_imported() -> None:
    loaded = modules_after("--version")
    assert "smscli.cli" in loaded
    assert not any(m == "typer" or m.startswith("typer.") for m in loaded)
    assert "smscli.catalog" not in loaded


def test_a_command_builds_only_itself() -> None:
    loaded = modules_after("emnify", "--help")
    assert "smscli.commands.sending" in loaded
    for other in ("smscli.commands.admin", "smscli.commands.log", "smscli.commands.status"):
        assert other not in loaded


def test_a_dry_run_loads_no_http_library() -> None:
    loaded = modules_after(
        "fonedynamics",
        "--dry-run",
        "--account-sid",
        "a",
        "--token",
        "tttt",
        "--property-sid",
        "p",
        "-t",
        "+61488023555",
        "hi",
    )
    assert "smscli.providers.fonedynamics" in loaded
    assert "httpx" not in loaded


def test_a_real_send_goes_through_httpx_and_builds_no_tls_context(
    sandbox_process: str, isolated: object
) -> None:
    """A single send to the sandbox (over real HTTP) goes through the one HTTP path, httpx
    (issue 8), and a plain-HTTP run neither imports http.client itself nor loads the CA
    bundle (SPEC §9's start-up budget for a real send)."""
    loaded = modules_after(
        "fonedynamics",
        "--base-url",
        f"{sandbox_process}/fonedynamics",
        "--account-sid",
        "AC1",
        "--token",
        "tttt",
        "--property-sid",
        "PR1",
        "-t",
        "+61488023555",
        "--no-history",
        "speed probe over httpx",
    )
    messages = httpx.get(f"{sandbox_process}/_sandbox/messages").json()["messages"]
    texts = [m["text"] for m in messages]
    assert "speed probe over httpx" in texts  # it really sent
    for name in ("httpx", "httpcore", "h11", "smscli.http_transport"):
        assert name in loaded, name


def test_the_sqlite_history_never_imports_psycopg() -> None:
    """psycopg is imported only when a postgresql:// history_url is used."""
    loaded = modules_after("log", "--json")
    assert "smscli.history" in loaded
    assert not any(m == "psycopg" or m.startswith("psycopg.") for m in loaded)
    assert "smscli.history.postgres" not in loaded
