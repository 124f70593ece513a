"""Issue 9, history and status: every printed id is found by `status`; `--resume` shows its
table and no pointless hint; unexpected status values read as `unknown`; a read-only
history is read; every history file is 0600; the "locked" hint; `status -p/--provider`;
odd `--config` paths. Through the command line, as a user meets them."""

from __future__ import annotations

import contextlib
import resource
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from smscli.history import Attempt, History, Taken
from tests.conftest import SCRIPT, Cli, base_url

SECRET = "I9-S3cret-Value!"
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
TARGETS = {
    "telit": "imei:490154203237518",
    "csl": "iccid:8988303000006734768",
    "thingspace": "mdn:5555550100",
    "emnify": "endpoint:1001",
    "fonedynamics": "+61488023555",
}
FD_ENV = {
    "SMSCLI_FONEDYNAMICS_ACCOUNT_SID": "AC1",
    "SMSCLI_FONEDYNAMICS_TOKEN": SECRET,
    "SMSCLI_FONEDYNAMICS_PROPERTY_SID": "PR1",
}


def flags(slug: str) -> list[str]:
    out: list[str] = []
    for key, value in CREDENTIALS[slug].items():
        out += ["--" + key.replace("_", "-"), value]
    return out


def send_args(slug: str, *more: str) -> list[str]:
    return [slug, "--base-url", base_url(slug), *flags(slug), *more]


def db_path(home: Path) -> Path:
    return home / "data" / "history.sqlite3"


def rows(home: Path) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(db_path(home))) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM sends ORDER BY id")]


def set_status(home: Path, value: str) -> None:
    with contextlib.closing(sqlite3.connect(db_path(home))) as db:
        db.execute("UPDATE sends SET status=?", (value,))
        db.commit()


def fd_sends(cli: Cli) -> int:
    return sum(
        1 for r in cli.recorder.requests if r.method == "POST" and r.url.path.endswith("/Messages")
    )


# -- W8: a status value smscli does not know reads as unknown --------------------------------
def test_an_unexpected_status_blocks_an_idempotency_key_like_unknown(
    cli: Cli, isolated: Path
) -> None:
    args = send_args("fonedynamics", "-t", "+61488023555", "--idempotency-key", "k1", "Hi")
    assert cli(*args).exit_code == 0
    set_status(isolated, "Delivered-ish")  # another version's word, or a hand edit
    before = fd_sends(cli)
    res = cli(*args, "--json")
    assert res.exit_code == 7, res.output
    assert res.json()["error"]["code"] == "idempotency_unknown"
    assert fd_sends(cli) == before  # not sent again


def test_an_unexpected_status_in_a_resumed_batch_is_not_sent_again(
    cli: Cli, isolated: Path
) -> None:
    args = send_args("fonedynamics", "-t", "+61488023555", "-t", "+61488023556", "Hi")
    batch = cli(*args, "--json").json()["summary"]["batch"]
    set_status(isolated, "bogus")
    before = fd_sends(cli)
    res = cli(*args, "--resume", batch, "--json")
    assert res.exit_code == 7, res.output
    assert {r["error"]["code"] for r in res.json()["results"]} == {"resume_unknown"}
    assert fd_sends(cli) == before


def test_status_and_log_read_an_unexpected_status_as_unknown(cli: Cli, isolated: Path) -> None:
    assert cli(*send_args("fonedynamics", "-t", "+61488023555", "Hi")).exit_code == 0
    set_status(isolated, "12")
    cli.advance(5)
    assert [e["status"] for e in cli("log", "--json").json()["entries"]] == ["unknown"]
    assert len(cli("log", "--status", "unknown", "--json").json()["entries"]) == 1
    res = cli("status", "#1", "--json", *flags("fonedynamics"))
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["status"] == "delivered"  # asked, and recorded
    assert rows(isolated)[0]["status"] == "delivered"


def test_a_row_with_an_unexpected_status_holds_its_key_against_a_racing_claim(
    tmp_path: Path,
) -> None:
    history = History(tmp_path / "h.sqlite3")
    attempt = Attempt("emnify", None, "u", "endpoint:1", "hi", 1, "gsm7", None, "b", "k", True)
    [first] = history.record(started=[attempt])
    assert isinstance(first, int)
    history._db().execute("UPDATE sends SET status='weird'")
    [second] = history.record(started=[attempt])
    assert isinstance(second, Taken) and second.row["status"] == "unknown"


# -- odd --config paths: exit 3 with one line, never 1 ---------------------------------------
@pytest.mark.parametrize(
    "path",
    ["/tmp/" + "a" * 300, "/tmp/" + "b" * 300 + "/config.toml", "~no-such-user-i9/config.toml"],
    ids=["300-character name", "300-character directory", "unknown ~user"],
)
@pytest.mark.parametrize("command", [["log"], ["config", "path"], ["config", "show"]])
def test_an_unusable_config_path_is_exit_3(cli: Cli, path: str, command: list[str]) -> None:
    res = cli(*command, "--config", path)
    assert res.exit_code == 3, res.output
    [line] = res.stderr.splitlines()[:1]
    assert line.startswith("error: --config ") and "cannot be used" in line
    env = cli("log", SMSCLI_CONFIG=path)
    assert env.exit_code == 3, env.output
    assert env.stderr.startswith("error: SMSCLI_CONFIG ")


def test_a_config_path_that_never_ends_is_exit_3() -> None:
    def limit() -> None:  # were it read whole, the test fails instead of the machine
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run(
        [SCRIPT, "log", "--config", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("error: /dev/zero is not a config file")
