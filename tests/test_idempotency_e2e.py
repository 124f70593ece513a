"""Overlapping runs under one `--idempotency-key` (cron jobs that overlap, a retried CI step):
ten `smscli` processes started together against one `smscli sandbox` process send the
message exactly once (issue 9). The loser of the claim waits for the winner's answer and
prints it (exit 0), or reports it as in progress (exit 7)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import httpx

from tests.conftest import SCRIPT

PROCESSES = 10
REPEATS = 20


def test_ten_processes_under_one_key_send_exactly_once(
    sandbox_process: str, isolated: Path
) -> None:
    base = f"{sandbox_process}/emnify"
    for repeat in range(REPEATS):
        text = f"once {repeat} {secrets.token_hex(4)}"
        argv = [SCRIPT, "emnify", "--base-url", base, "--application-token", "e2e-token"]
        argv += ["-t", "endpoint:1001", "--idempotency-key", f"job-{repeat}", "--json", text]
        procs = [
            subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=dict(os.environ),
            )
            for _ in range(PROCESSES)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        codes = [proc.returncode for proc in procs]
        messages = httpx.get(sandbox_process + "/_sandbox/messages").json()["messages"]
        received = [m for m in messages if m["text"] == text]
        assert len(received) == 1, (repeat, codes, [err for _, err in outputs])
        assert set(codes) <= {0, 7}, (repeat, codes, [err for _, err in outputs])
        answered = [json.loads(out) for out, _ in outputs]
        won = [d for d, code in zip(answered, codes, strict=True) if code == 0]
        ids = {d["results"][0]["message_id"] for d in won}
        assert len(ids) == 1, (repeat, codes, answered)  # every success shows the one send
        for doc, code in zip(answered, codes, strict=True):
            if code == 7:
                assert doc["error"]["code"] in ("idempotency_in_progress", "idempotency_unknown")
