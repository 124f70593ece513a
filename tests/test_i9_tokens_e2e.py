"""The token cache shared by `smscli` processes running at once (issue 9): real processes of
the installed script against one `smscli sandbox` process, counting the logins the sandbox
answered (``GET /_sandbox/logins``).

- Ten processes with ten different credential sets, started together, leave all ten
  profiles' tokens in the cache (read-merge-write under a file lock, each through a
  temporary file of its own), so a second round logs in not once.
- Ten processes of one profile, started together, log in once: the first takes the
  profile's login lock, the others wait for it and use the token it got.
- Ten processes whose login is refused try it once: the others answer with that refusal.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCRIPT

PROCESSES = 10
SECRET = "Concurrent-S3cret"
TARGET = {"thingspace": "mdn:5555550100", "emnify": "endpoint:1001"}


def thingspace_flags(client_id: str, username: str) -> list[str]:
    return [
        "--client-id",
        client_id,
        "--client-secret",
        SECRET,
        "--username",
        username,
        "--password",
        SECRET,
        "--account-name",
        "0000123456-00001",
    ]


def start_together(
    sandbox: str, slug: str, credentials: list[list[str]], text: str
) -> list[tuple[int, str]]:
    """Start one `smscli <slug>` send per credential set at once: (exit code, stderr) each."""
    options = ["-t", TARGET[slug], "--no-history", "-q", text]
    procs = [
        subprocess.Popen(
            [SCRIPT, slug, "--base-url", f"{sandbox}/{slug}", *flags, *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ),
        )
        for flags in credentials
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert not any(SECRET in out + err for out, err in outputs)
    assert not any("Traceback" in err for _, err in outputs)
    return [(proc.returncode, err) for proc, (_, err) in zip(procs, outputs, strict=True)]


def run_together(sandbox: str, slug: str, credentials: list[list[str]], text: str) -> None:
    """``start_together``, and every one must succeed."""
    results = start_together(sandbox, slug, credentials, text)
    assert [code for code, _ in results] == [0] * len(results), results


def logins(sandbox: str, slug: str, accounts: set[str]) -> dict[tuple[str, str], int]:
    """The logins the sandbox answered for these accounts: (step, account) → count."""
    rows = httpx.get(f"{sandbox}/_sandbox/logins", timeout=10).json()["logins"]
    return {
        (row["step"], row["account"]): row["issued"]
        for row in rows
        if row["provider"] == slug and row["account"] in accounts
    }


def cached_keys(cache_dir: Path, slug: str) -> dict[str, dict[str, object]]:
    data = json.loads((cache_dir / "tokens.json").read_text(encoding="utf-8"))
    return {key: entry for key, entry in data.items() if f":{slug}:" in key}


def test_ten_processes_with_ten_credential_sets_keep_all_ten_tokens(
    sandbox_process: str, isolated: Path
) -> None:
    run = secrets.token_hex(3)
    pairs = [(f"app-{run}-{i}", f"user-{run}-{i}") for i in range(PROCESSES)]
    credentials = [thingspace_flags(app, user) for app, user in pairs]
    accounts = {name for pair in pairs for name in pair}

    run_together(sandbox_process, "thingspace", credentials, "round one")
    first = logins(sandbox_process, "thingspace", accounts)
    assert sum(first.values()) == 2 * PROCESSES  # an OAuth token and a session each
    cache = cached_keys(isolated / "cache", "thingspace")
    assert len(cache) == PROCESSES, sorted(cache)
    assert all(set(entry) == {"oauth_token", "session_token"} for entry in cache.values()), cache
    assert not list((isolated / "cache").glob("*.tmp")), "no temporary file is left behind"

    run_together(sandbox_process, "thingspace", credentials, "round two")
    assert logins(sandbox_process, "thingspace", accounts) == first, "round two logged in"


@pytest.mark.parametrize("slug", ["thingspace", "emnify"])
def test_ten_processes_of_one_profile_log_in_once(
    slug: str, sandbox_process: str, isolated: Path
) -> None:
    run = secrets.token_hex(3)
    if slug == "thingspace":
        flags = thingspace_flags(f"app-{run}", f"user-{run}")
        accounts = {f"app-{run}", f"user-{run}"}
        expected = {("oauth2/token", f"app-{run}"): 1, ("session/login", f"user-{run}"): 1}
    else:
        token = f"{SECRET}-{run}"
        flags = ["--application-token", token]
        digest = "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]
        accounts = {digest}
        expected = {("authenticate", digest): 1}

    run_together(sandbox_process, slug, [flags] * PROCESSES, f"one profile {run}")
    assert logins(sandbox_process, slug, accounts) == expected
    messages = httpx.get(f"{sandbox_process}/_sandbox/messages", timeout=10).json()["messages"]
    assert sum(m["text"] == f"one profile {run}" for m in messages) == PROCESSES


@pytest.mark.parametrize("slug", ["thingspace", "emnify"])
def test_ten_processes_with_refused_credentials_try_the_login_once(
    slug: str, sandbox_process: str, isolated: Path
) -> None:
    """Accounts lock after a few refused logins (ThingSpace 5, emnify 3): the runs that
    waited for the refused one answer with its refusal instead of trying again."""
    run = secrets.token_hex(3)
    if slug == "thingspace":
        flags = thingspace_flags(f"app-{run}", f"user-{run}")
        flags[flags.index("--password") + 1] = "refused"
        account, step = f"user-{run}", "session/login"
    else:
        flags = ["--application-token", "refused"]
        account = "sha256:" + hashlib.sha256(b"refused").hexdigest()[:12]
        step = "authenticate"
    before = refusals(sandbox_process, slug, step, account)

    results = start_together(sandbox_process, slug, [flags] * PROCESSES, f"refused {run}")
    assert [code for code, _ in results] == [5] * PROCESSES, results
    for _, stderr in results:  # (the sandbox's refused secret is "refused": it is masked)
        assert stderr.startswith("error: "), stderr
    assert refusals(sandbox_process, slug, step, account) == before + 1

    if slug == "thingspace":  # one failure does not lock the contact: the right password works
        flags[flags.index("--password") + 1] = SECRET
        run_together(sandbox_process, slug, [flags], f"after {run}")


def refusals(sandbox: str, slug: str, step: str, account: str) -> int:
    rows = httpx.get(f"{sandbox}/_sandbox/logins", timeout=10).json()["logins"]
    found = [
        row["refused"]
        for row in rows
        if (row["provider"], row["step"], row["account"]) == (slug, step, account)
    ]
    return sum(found)
