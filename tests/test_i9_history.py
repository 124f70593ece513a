"""Issue 9, history and status: every printed id is found by `status`; `--resume` shows its
table and no pointless hint; unexpected status values read as `unknown`; a read-only
history is read; every history file is 0600; the "locked" hint; `status -p/--provider`;
odd `--config` paths. Through the command line, as a user meets them."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smscli.errors import ConfigError
from smscli.history import Attempt, History, Taken
from smscli.models import Status
from tests.conftest import SCRIPT, Cli, base_url, write_config

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


# -- W1: every id smscli prints is accepted by `status`, and `log` shows it ------------------
@pytest.mark.parametrize("slug", list(TARGETS))
def test_the_id_quiet_prints_is_found_by_status_and_shown_by_log(cli: Cli, slug: str) -> None:
    sent = cli(*send_args(slug, "-t", TARGETS[slug], "-q", "Hello"))
    assert sent.exit_code == 0, sent.output
    [ident] = sent.stdout.split()
    cli.advance(5)
    res = cli("status", ident, "--json", *flags(slug))
    if slug == "thingspace":  # delivery only by callback: said, not "no message"
        assert res.exit_code == 4, res.output
        assert res.json()["error"]["code"] == "status_unsupported"
    else:
        assert res.exit_code == 0, res.output
        [result] = res.json()["results"]
        assert result["details"]["history_id"] == 1
        assert result["status"] in ("queued", "sent", "delivered"), result
    log = cli("log")
    assert log.exit_code == 0, log.output
    assert ident in log.stdout.splitlines()[1].split()  # the row's id column


def test_csl_status_finds_the_generated_sms_uid_in_every_output_mode(cli: Cli) -> None:
    sent = cli(*send_args("csl", "-t", TARGETS["csl"], "--json", "Hello")).json()
    [result] = sent["results"]
    sms_uid = result["reference"]
    assert result["message_id"] is None and sms_uid  # CSL's only handle is the sms_uid
    res = cli("status", sms_uid, "-q", *flags("csl"))
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() in ("queued", "sent", "delivered")
    entry = cli("log", "--json").json()["entries"][0]
    assert entry["reference"] == sms_uid


# -- W5 and the --resume hint --------------------------------------------------------------
def test_resume_in_human_mode_prints_the_table_of_what_it_sent(cli: Cli) -> None:
    args = send_args("fonedynamics", "-t", "+61488023555", "-t", "+61488000400", "Hi")
    first = cli(*args, "--json")
    assert first.exit_code == 9, first.output
    batch = first.json()["summary"]["batch"]
    again = cli(*args, "--resume", batch)
    assert again.exit_code == 5, again.output
    table = again.stdout.splitlines()
    assert table[0].split()[:3] == ["provider", "target", "status"]
    assert [line.split()[1:3] for line in table[1:]] == [["msisdn:+61488000400", "rejected"]]
    assert "2 target(s): 0 accepted, 1 failed, 1 skipped" in again.stderr


def interrupt_on_send(cli: Cli, nth: int) -> None:
    """SIGINT while the ``nth`` emnify SMS request is in flight (the sandbox took it)."""
    inner = cli.recorder.handler
    lock = threading.Lock()
    seen = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        if request.method == "POST" and request.url.path.endswith("/sms"):
            with lock:
                seen[0] += 1
                fire = seen[0] == nth
            if fire:
                os.kill(os.getpid(), signal.SIGINT)
        return response

    cli.recorder.handler = handler


def test_no_resume_hint_when_ctrl_c_comes_after_every_target_went_out(cli: Cli) -> None:
    interrupt_on_send(cli, 3)  # during the last of three
    to = [a for n in (17, 27, 37) for a in ("-t", f"endpoint:{n}")]
    res = cli(*send_args("emnify", *to, "--rate", "0", "--concurrency", "1", "hi"))
    assert res.exit_code == 130, res.output
    assert "--resume" not in res.stderr
    assert "interrupted: every target was sent, nothing is left to send" in res.stderr
    assert "smscli status --batch" in res.stderr


def test_the_resume_hint_stays_when_targets_were_left(cli: Cli) -> None:
    interrupt_on_send(cli, 1)
    to = [a for n in (17, 27, 37) for a in ("-t", f"endpoint:{n}")]
    res = cli(*send_args("emnify", *to, "--rate", "0", "--concurrency", "1", "hi"))
    assert res.exit_code == 130, res.output
    assert "2 target(s) were not sent" in res.stderr
    assert "to send the rest" in res.stderr and "--resume" in res.stderr


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


# -- W8: a history on a read-only file system ------------------------------------------------
@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[list[str]]:
    """Run a command with ``directory`` read-only. The command prefix to use: none (a
    non-root user: the directory 0500, its files 0400), or, as root (whom modes do not
    stop), a private mount namespace where the directory is a read-only bind mount."""
    if os.geteuid() != 0:
        saved = {p: p.stat().st_mode for p in [directory, *directory.iterdir()]}
        for p in saved:
            p.chmod(0o500 if p.is_dir() else 0o400)
        try:
            yield []
        finally:
            for p, mode in saved.items():
                p.chmod(stat.S_IMODE(mode))
        return
    unshare = shutil.which("unshare")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    prefix = [unshare or "unshare", "--mount", "sh", "-c", script, "sh", str(directory)]
    probe = None
    if unshare is not None:
        probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    if probe is None or probe.returncode != 0:
        pytest.skip("root without the right to mount: cannot make a read-only directory")
    yield prefix


def run(prefix: list[str], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        check=False,
    )


def sandbox_messages(sandbox: str) -> int:
    return len(httpx.get(f"{sandbox}/_sandbox/messages", timeout=10).json()["messages"])


def test_log_and_status_read_a_history_on_a_read_only_file_system(
    sandbox_process: str, isolated: Path
) -> None:
    fd = ["fonedynamics", "--base-url", f"{sandbox_process}/fonedynamics", *flags("fonedynamics")]
    sent = run([], *fd, "-t", "+61488023555", "Hi", "--json")
    assert sent.returncode == 0, sent.stderr
    message_id = json.loads(sent.stdout)["results"][0]["message_id"]
    data = db_path(isolated).parent
    with read_only(data) as prefix:
        log = run(prefix, "log", "--json")
        assert log.returncode == 0, log.stderr
        assert [e["message_id"] for e in json.loads(log.stdout)["entries"]] == [message_id]
        status = run(prefix, "status", message_id, "--json", *flags("fonedynamics"))
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["results"][0]["message_id"] == message_id
        assert "shown, not recorded" in status.stderr
        before = sandbox_messages(sandbox_process)
        refused = run(prefix, *fd, "-t", "+61488023556", "Hi", "--json")
        assert refused.returncode == 3, refused.stderr
        error = json.loads(refused.stdout)["error"]
        assert error["code"] == "history_read_only"
        assert "nothing was sent" in error["message"]
        assert sandbox_messages(sandbox_process) == before
        # No history there at all, and none can be created: an empty log, not an error.
        empty = run(prefix, "log", "--json", SMSCLI_DATA_DIR=str(data / "new"))
        assert empty.returncode == 0, empty.stderr
        assert json.loads(empty.stdout) == {"entries": []}
    assert [r["status"] for r in rows(isolated)] == ["accepted"]


def test_a_read_only_history_opens_with_sqlite_read_only_modes(tmp_path: Path) -> None:
    """The fallbacks themselves (usable as root too): ``mode=ro``, then ``immutable=1``;
    writes are refused with a clear error, never attempted."""
    path = tmp_path / "history.sqlite3"
    writer = History(path)
    writer.start(provider="emnify", profile=None, base_url="u", target="endpoint:1",
                 text="hi", segments=1, encoding="gsm7", reference=None)  # fmt: skip
    writer.close()
    reader = History(path)
    reader._store = reader._open_read_only(path, "is on a read-only file system")
    assert [r["target"] for r in reader.query()] == ["endpoint:1"]
    assert reader.find("#1") is not None and not reader.writable
    with pytest.raises(ConfigError, match="is on a read-only file system") as err:
        reader.require_writable()
    assert err.value.code == "history_read_only"
    with pytest.raises(ConfigError, match="is on a read-only file system"):
        reader.set_status(1, Status.DELIVERED, None)


# -- W8: every history file is 0600 ----------------------------------------------------------
@pytest.mark.parametrize("existing", [False, True], ids=["new history", "older 0644 history"])
def test_every_history_file_is_0600_even_under_umask_022(
    cli: Cli, isolated: Path, existing: bool
) -> None:
    path = db_path(isolated)
    if existing:  # as an older smscli (or sqlite3 itself under umask 022) left it
        path.parent.mkdir()
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE t (x)")
        path.chmod(0o644)
    seen: dict[str, int] = {}
    inner = cli.recorder.handler

    def handler(request: httpx.Request) -> httpx.Response:
        # While the send is in flight its row is written: the WAL and its index exist.
        for suffix in ("", "-wal", "-shm"):
            file = Path(f"{path}{suffix}")
            if file.exists():
                seen[suffix or "db"] = stat.S_IMODE(file.stat().st_mode)
        return inner(request)

    cli.recorder.handler = handler
    old = os.umask(0o022)
    try:
        res = cli(*send_args("fonedynamics", "-t", "+61488023555", "Hi"))
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert seen == {"db": 0o600, "-wal": 0o600, "-shm": 0o600}
    for file in path.parent.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


# -- W8: "database is locked" and --no-history ----------------------------------------------
def test_a_locked_history_hints_at_waiting_not_at_no_history(
    cli: Cli, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(*send_args("fonedynamics", "-t", "+61488023555", "Hi")).exit_code == 0
    monkeypatch.setattr("smscli.history.BUSY_TIMEOUT", 0.2)
    before = fd_sends(cli)
    with contextlib.closing(sqlite3.connect(db_path(isolated), isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process is writing
        res = cli(*send_args("fonedynamics", "-t", "+61488023556", "Hi", "--json"))
        other.execute("ROLLBACK")
    assert res.exit_code == 3, res.output
    error = res.json()["error"]
    assert "locked" in error["message"]
    assert "--no-history" not in error["hint"]
    assert "another smscli process" in error["hint"]
    assert fd_sends(cli) == before


def test_no_history_with_an_idempotency_key_or_resume_is_refused(cli: Cli) -> None:
    base = send_args("fonedynamics", "-t", "+61488023555", "--no-history", "Hi", "--json")
    for extra in (["--idempotency-key", "k"], ["--resume", "abcd1234"]):
        res = cli(*base, *extra)
        assert res.exit_code == 2, (extra, res.output)
        assert res.json()["error"]["code"] == "history_disabled", extra
    assert fd_sends(cli) == 0


# -- status -p/--provider: a message the history does not hold --------------------------------
def test_status_asks_a_provider_directly_for_a_message_it_did_not_record(cli: Cli) -> None:
    sent = cli(*send_args("fonedynamics", "-t", "+61488023555", "--no-history", "-q", "Hi"))
    assert sent.exit_code == 0, sent.output
    message_id = sent.stdout.strip()
    cli.advance(5)
    env = {"SMSCLI_FONEDYNAMICS_BASE_URL": base_url("fonedynamics")}
    missing = cli("status", message_id, "--json", *flags("fonedynamics"), **env)
    assert missing.exit_code == 4, missing.output
    assert "--provider" in missing.json()["error"]["hint"]
    res = cli(
        "status", "--provider", "fonedynamics", message_id, "--json",
        *flags("fonedynamics"), **env,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    assert (result["message_id"], result["status"]) == (message_id, "delivered")
    assert "history_id" not in result["details"]
    assert SECRET not in res.output


def test_status_with_a_profile_and_a_target(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        '[profiles.fleet]\nprovider = "emnify"\n'
        f'base_url = "{base_url("emnify")}"\napplication_token = "{SECRET}"\n',
    )
    sent = cli("emnify", "-p", "fleet", "-t", "endpoint:1001", "--no-history", "-q", "Hi")
    assert sent.exit_code == 0, sent.output
    sms_id = sent.stdout.strip()
    cli.advance(5)
    no_target = cli("status", "-p", "fleet", sms_id, "--json")
    assert no_target.exit_code == 2, no_target.output
    assert no_target.json()["error"]["code"] == "target_needed"
    res = cli("status", "-p", "fleet", "-t", "endpoint:1001", sms_id, "--json")
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["status"] == "delivered"
    assert res.json()["results"][0]["profile"] == "fleet"


def test_status_provider_looks_among_that_providers_rows(cli: Cli) -> None:
    assert cli(*send_args("emnify", "-t", "endpoint:1001", "Hi")).exit_code == 0
    assert cli(*send_args("fonedynamics", "-t", "+61488023555", "Hi")).exit_code == 0
    cli.advance(5)
    res = cli("status", "--last", "--provider", "emnify", "--json", *flags("emnify"))
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    assert (result["provider"], result["details"]["history_id"]) == ("emnify", 1)


def test_status_help_names_profile_provider_and_target(cli: Cli) -> None:
    res = cli("status", "--help")
    assert res.exit_code == 0
    for option in ("-p, --profile", "--provider", "-t, --to"):
        assert option in res.stdout, option


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
