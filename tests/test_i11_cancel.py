"""Issue 11: `smscli cancel ID` (emnify DELETE …/sms/{id}) through the installed command
against a real `smscli sandbox` process, and the `canceled` status in every reader."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx

from smscli.history import Attempt, History
from smscli.models import SendResult, Status
from tests.conftest import SCRIPT, Cli


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env or dict(os.environ),
    )


def send(base: str, text: str, target: str = "endpoint:1001", *more: str) -> dict:
    done = run("emnify", "--base-url", base, "--application-token", "t", "-t", target,
               "--json", *more, text)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["results"][0]


def test_cancel_a_pending_emnify_message(sandbox_process: str) -> None:
    base = f"{sandbox_process}/emnify"
    sent = send(base, "cancel me")
    done = run("cancel", "--json", sent["message_id"])
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert result["status"] == "canceled"
    assert result["details"]["canceled"] == [sent["message_id"]]
    # The provider says so (status asks it: 7 CANCELED), and the history records it.
    status = run("status", "--json", sent["message_id"])
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["results"][0]["status"] == "canceled"
    log = run("log", "--json", "--status", "canceled")
    assert log.returncode == 0, log.stderr
    assert [e["message_id"] for e in json.loads(log.stdout)["entries"]] == [sent["message_id"]]
    # Canceled twice: emnify answers 409, exit 5 with one clear line.
    again = run("cancel", sent["message_id"])
    assert again.returncode == 5
    assert again.stderr.startswith("error: emnify did not cancel SMS")
    assert "Traceback" not in again.stderr


def test_cancel_a_delivered_message_is_refused_with_exit_5(sandbox_process: str) -> None:
    base = f"{sandbox_process}/emnify"
    sent = send(base, "deliver me")
    waited = run("status", "--wait=30s", "-q", sent["message_id"])
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.strip() == "delivered"
    done = run("cancel", "--json", sent["message_id"])
    assert done.returncode == 5
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "not_cancelable"
    assert "DELIVERED" in error["message"]
    log = run("log", "--json", "-n", "1")
    assert json.loads(log.stdout)["entries"][0]["status"] == "delivered"  # not touched


def test_cancel_by_provider_for_a_message_the_history_lacks(sandbox_process: str) -> None:
    base = f"{sandbox_process}/emnify"
    env = dict(os.environ, SMSCLI_EMNIFY_BASE_URL=base)
    sent = send(base, "sent elsewhere", "endpoint:1002", "--no-history")
    args = ("cancel", "--provider", "emnify", "--application-token", "t")
    missing_target = run(*args, sent["message_id"], env=env)
    assert missing_target.returncode == 2
    assert "-t/--to" in missing_target.stderr
    done = run(*args, "-t", "endpoint:1002", "--json", sent["message_id"], env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["status"] == "canceled"
    unknown = run(*args, "-t", "endpoint:1002", "99999999", env=env)
    assert unknown.returncode == 4
    assert unknown.stderr.startswith("error: emnify has no SMS 99999999")


def test_cancel_on_a_provider_without_cancel_is_exit_4(sandbox_process: str) -> None:
    base = f"{sandbox_process}/telit"
    done = run("telit", "--base-url", base, "--username", "u", "--password", "pw",
               "-t", "+15551230001", "--json", "hi")  # fmt: skip
    assert done.returncode == 0, done.stderr
    ident = json.loads(done.stdout)["results"][0]["message_id"]
    refused = run("cancel", ident)
    assert refused.returncode == 4
    assert refused.stderr.splitlines()[0] == (
        "error: cancel is not supported by Telit IoT Portal (TR50): its API cannot cancel a message once accepted"
    )
    direct = run("cancel", "--provider", "thingspace", "--json", "x1")
    assert direct.returncode == 4
    assert json.loads(direct.stdout)["error"]["code"] == "cancel_unsupported"


def test_canceled_and_not_sent_rows_in_the_history(tmp_path: Path) -> None:
    """A canceled row holds its idempotency key (the user stopped it); a not-sent one does
    not (nothing went out); both read back as themselves."""
    history = History(tmp_path / "h.sqlite3")
    ids = history.record(started=[
        Attempt("emnify", None, "u", "endpoint:1", "a", 1, "gsm7", None, "b", "k1"),
        Attempt("emnify", None, "u", "endpoint:2", "a", 1, "gsm7", None, "b", "k2"),
    ])  # fmt: skip
    assert isinstance(ids[0], int) and isinstance(ids[1], int)
    history.finish(ids[0], SendResult("emnify", None, "endpoint:1", Status.ACCEPTED))
    history.set_status(ids[0], Status.CANCELED, None)
    history.set_status(ids[1], Status.NOT_SENT, None)
    again = history.record(started=[
        Attempt("emnify", None, "u", "endpoint:1", "a", 1, "gsm7", None, "c", "k1", claim=True),
        Attempt("emnify", None, "u", "endpoint:2", "a", 1, "gsm7", None, "c", "k2", claim=True),
    ])  # fmt: skip
    assert type(again[0]).__name__ == "Taken"
    assert isinstance(again[1], int)
    assert [r["status"] for r in history.query(batch="b")] == ["canceled", "not-sent"]
    assert Status.CANCELED.is_final and not Status.CANCELED.is_success
    assert not Status.NOT_SENT.is_final and not Status.NOT_SENT.is_success


def test_canceled_is_not_resent_by_resume_or_idempotency_key(sandbox_process: str) -> None:
    base = f"{sandbox_process}/emnify"
    text = "canceled then resumed"
    common = ["emnify", "--base-url", base, "--application-token", "t", "--json"]
    done = run(*common, "-t", "endpoint:1001", "-t", "endpoint:1002", text)
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout)
    batch = sent["summary"]["batch"]
    first = sent["results"][0]["message_id"]
    assert run("cancel", first).returncode == 0

    def received() -> int:
        messages = httpx.get(sandbox_process + "/_sandbox/messages").json()["messages"]
        return sum(1 for m in messages if m["text"] == text)

    resumed = run(*common, "-t", "endpoint:1001", "-t", "endpoint:1002", "--resume", batch, text)
    assert resumed.returncode == 0, resumed.stderr
    assert "canceled (history #" in resumed.stderr
    assert received() == 2
    keyed = [*common, "-t", "endpoint:1003", "--idempotency-key", "job-c", text]
    once = run(*keyed)
    assert once.returncode == 0
    assert run("cancel", json.loads(once.stdout)["results"][0]["message_id"]).returncode == 0
    again = run(*keyed)
    assert again.returncode == 8, again.stderr
    assert json.loads(again.stdout)["results"][0]["status"] == "canceled"
    assert "already canceled under --idempotency-key" in again.stderr
    assert received() == 3
    forced = run(*keyed[:-1], "--force", text)
    assert forced.returncode == 0, forced.stderr
    assert received() == 4


def test_cancel_of_an_id_the_history_lacks_hints_at_cancel_not_status() -> None:
    done = run("cancel", "12")
    assert done.returncode == 4
    assert done.stderr.splitlines() == [
        "error: no message '12' in the history",
        "hint: `smscli log` lists what was sent; to ask a provider directly: "
        "smscli cancel --provider SLUG ID",
    ]


def test_cancel_of_an_id_without_its_endpoint_asks_for_the_target(cli: Cli) -> None:
    """The same rule as `status` (one ask_about() for both): emnify cancels by endpoint."""
    done = cli("cancel", "--provider", "emnify", "--application-token", "t", "4711", "--json")
    assert done.exit_code == 2, done.output
    error = done.json()["error"]
    assert error["code"] == "target_needed"
    assert error["message"] == (
        "emnify cancels a message by where it was sent: give -t/--to TARGET with the id"
    )
