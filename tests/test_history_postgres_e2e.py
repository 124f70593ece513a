"""Issue 12 end to end: several "hosts" (processes with their own home, config and data
directories) share one PostgreSQL history through `SMSCLI_HISTORY_URL`, against one real
`smscli sandbox` process.

- Ten hosts send under one idempotency key at once, 20 times over: the sandbox receives
  exactly one message each time (the claim is a unique constraint in the shared database).
- The claiming process is SIGKILLed while its request is in flight: its row stays
  `unknown`; a later send with the key exits 7 until `--force` (sends again) or
  `reconcile` (finds it accepted: it reached the sandbox)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.conftest import SCRIPT

HOSTS = 10
REPEATS = 20


def host_env(root: Path, n: int, url: str) -> dict[str, str]:
    """A separate "host": its own home, config, data and cache; the shared history."""
    home = root / f"host{n}"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    return env | {"HOME": str(home), "SMSCLI_CONFIG": str(home / "config.toml"),
                  "SMSCLI_DATA_DIR": str(home / "data"), "SMSCLI_CACHE_DIR": str(home / "cache"),
                  "SMSCLI_HISTORY_URL": url}  # fmt: skip


def rows(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return list(conn.execute(sql, args).fetchall())


def received(sandbox: str, text: str) -> list[dict[str, Any]]:
    messages = httpx.get(sandbox + "/_sandbox/messages", timeout=10).json()["messages"]
    return [m for m in messages if m["text"] == text]


def test_ten_hosts_under_one_key_send_exactly_once(
    sandbox_process: str, postgres_url: str, tmp_path: Path
) -> None:
    envs = [host_env(tmp_path, n, postgres_url) for n in range(HOSTS)]
    first = subprocess.run([SCRIPT, "history", "migrate"], env=envs[0], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert first.returncode == 0, first.stderr
    base = f"{sandbox_process}/emnify"
    for repeat in range(REPEATS):
        text = f"once {repeat} {secrets.token_hex(4)}"
        key = f"job-{repeat}-{secrets.token_hex(2)}"
        argv = [SCRIPT, "emnify", "--base-url", base, "--application-token", "e2e-token"]
        argv += ["-t", "endpoint:1001", "--idempotency-key", key, "--json", text]
        procs = [
            subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
            for env in envs
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        codes = [proc.returncode for proc in procs]
        errors = [err for _, err in outputs]
        assert len(received(sandbox_process, text)) == 1, (repeat, codes, errors)
        assert set(codes) <= {0, 7}, (repeat, codes, errors)
        answered = [json.loads(out) for out, _ in outputs]
        won = [d for d, code in zip(answered, codes, strict=True) if code == 0]
        assert len({d["results"][0]["message_id"] for d in won}) == 1, (repeat, answered)
        for doc, code in zip(answered, codes, strict=True):
            if code == 7:
                assert doc["error"]["code"] in ("idempotency_in_progress", "idempotency_unknown")
        # One row in the shared history: the losers wrote nothing.
        assert len(rows(postgres_url, "SELECT id FROM sends WHERE idempotency_key=%s", key)) == 1


def killed_claim(sandbox: str, env: dict[str, str], key: str, text: str) -> list[str]:
    """Start a send under ``key`` to a target the sandbox answers after 35 s, and SIGKILL it
    once the message reached the sandbox: its request was in flight. Returns the send's
    argv (without the text) for later runs."""
    send = [SCRIPT, "emnify", "--base-url", f"{sandbox}/emnify", "--application-token",
            "e2e-token", "-t", "endpoint:20408", "--idempotency-key", key, "--json"]  # fmt: skip
    claimer = subprocess.Popen([*send, "--timeout", "30", text], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not received(sandbox, text):  # it reached the provider…
            assert claimer.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        claimer.send_signal(signal.SIGKILL)  # …and its process dies before the answer
        claimer.communicate(timeout=30)
    return send[1:]


def run(*args: str, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_killed_claim_stays_unknown_until_reconcile(
    sandbox_process: str, postgres_url: str, tmp_path: Path
) -> None:
    env_a, env_b = host_env(tmp_path, 0, postgres_url), host_env(tmp_path, 1, postgres_url)
    text = f"killed {secrets.token_hex(4)}"
    send = killed_claim(sandbox_process, env_a, "nightly", text)
    [row] = rows(postgres_url, "SELECT * FROM sends")
    assert row["status"] == "unknown" and row["claim"] == "nightly"
    # Another host, later: not sent (exit 7), whether it waits a little or not.
    for _ in range(2):
        code, doc = run(*send, "--timeout", "1", text, env=env_b)
        assert code == 7, doc
        assert doc["error"]["code"] in ("idempotency_in_progress", "idempotency_unknown")
    assert len(received(sandbox_process, text)) == 1
    assert len(rows(postgres_url, "SELECT id FROM sends")) == 1
    # `log` on any host shows it as unknown.
    code, doc = run("log", "--json", env=env_a)
    assert [e["status"] for e in doc["entries"]] == ["unknown"]
    # reconcile (on host B) finds it at the provider: accepted; the key then replays it.
    code, doc = run("reconcile", "#1", "--json",
                    env=env_b | {"SMSCLI_EMNIFY_APPLICATION_TOKEN": "e2e-token"})  # fmt: skip
    assert code == 0, doc
    assert [r["after"] for r in doc["reconciled"]] == ["accepted"]
    code, doc = run(*send, "--timeout", "1", text, env=env_a)
    assert code == 0 and doc["results"][0]["status"] == "accepted"
    assert len(received(sandbox_process, text)) == 1


def test_a_killed_claim_is_sent_again_with_force(
    sandbox_process: str, postgres_url: str, tmp_path: Path
) -> None:
    env_a, env_b = host_env(tmp_path, 0, postgres_url), host_env(tmp_path, 1, postgres_url)
    text = f"killed {secrets.token_hex(4)}"
    send = killed_claim(sandbox_process, env_a, "hourly", text)
    code, doc = run(*send, "--timeout", "1", text, env=env_b)
    assert code == 7, doc
    # --force sends again under the held key: the forced row takes no claim, so the
    # unique constraint does not refuse it.
    code, doc = run(*send, "--force", "--timeout", "1", text, env=env_b)
    assert code == 7, doc  # …0408 is slow again (unknown), but it went out
    error = doc["error"] if "error" in doc else doc["results"][0]["error"]
    assert error["code"] not in ("idempotency_unknown", "idempotency_in_progress"), doc
    assert len(received(sandbox_process, text)) == 2
    killed, forced = rows(postgres_url, "SELECT * FROM sends ORDER BY id")
    assert (killed["claim"], forced["claim"]) == ("hourly", None)
    assert forced["idempotency_key"] == "hourly"
