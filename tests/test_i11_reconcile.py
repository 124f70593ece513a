"""Issue 11: `smscli reconcile` through the installed command against a real `smscli
sandbox` process, for each provider, and `--resume` afterwards.

The sandbox's magic targets make `unknown` rows: …0444 (dropped connection), …0500 (HTTP
500) and …0408 (a reply slower than --timeout). Every emulator stores the message before it
fails, as a real provider may, so reconcile must find them all (accepted). A send that never
reached the sandbox (a server that takes the request and never answers) is `not-sent`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx

from tests.conftest import SCRIPT, silent_server, write_config


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=90,
        stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip


def profiles(home: Path, url: str, fone_url: str | None = None) -> None:
    write_config(
        home,
        f"""
[profiles.em]
provider = "emnify"
base_url = "{url}/emnify"
application_token = "t"

[profiles.tel]
provider = "telit"
base_url = "{url}/telit"
username = "u"
password = "pw"

[profiles.fone]
provider = "fonedynamics"
base_url = "{fone_url or url + "/fonedynamics"}"
account_sid = "AC1"
token = "t"
property_sid = "PR1"

[profiles.csl]
provider = "csl"
base_url = "{url}/csl"
username = "u"
password = "p"
api_id = "1"

[profiles.ts]
provider = "thingspace"
base_url = "{url}/thingspace"
client_id = "c"
client_secret = "s"
username = "u"
password = "p"
account_name = "0000123456-00001"
""",
    )


def send_batch(profile: str, targets: list[str], text: str) -> tuple[int, str]:
    argv = ["send", "-p", profile, "--timeout", "1", "--json"]
    for t in targets:
        argv += ["-t", t]
    done = run(*argv, text)
    return done.returncode, json.loads(done.stdout)["summary"]["batch"]


def reconciled(which: str) -> tuple[int, dict[str, str]]:
    done = run("reconcile", "--json", which)
    assert "Traceback" not in done.stderr
    rows = json.loads(done.stdout)["reconciled"]
    return done.returncode, {r["target"]: (r["before"], r["after"]) for r in rows}


def test_reconcile_each_provider(sandbox_process: str, isolated: Path) -> None:
    profiles(isolated, sandbox_process)
    cases = {
        "em": (["endpoint:10444", "endpoint:10500", "endpoint:10408"],
               ["accepted", "accepted", "accepted"]),
        "tel": (["msisdn:+15551230444", "msisdn:+15551230500", "msisdn:+15551230408"],
                ["accepted", "accepted", "accepted"]),
        "fone": (["+61400000444", "+61400000500", "+61400000408"],
                 ["accepted", "accepted", "accepted"]),
        "csl": (["iccid:8985200000000000444", "iccid:8985200000000000500",
                 "iccid:8985200000000000408"], ["accepted", "accepted", "accepted"]),
    }  # fmt: skip
    for profile, (targets, expected) in cases.items():
        code, batch = send_batch(profile, targets, f"reconcile {profile}")
        assert code == 7, profile
        code, rows = reconciled(batch)
        assert code == 0, (profile, rows)
        assert [after for _, after in rows.values()] == expected, (profile, rows)
        assert {before for before, _ in rows.values()} == {"unknown"}
        # The history holds the answers: nothing unknown is left in the batch, the found
        # ones have the provider's id (CSL's is the sms_uid smscli generated).
        log = json.loads(run("log", "--json", "--batch", batch).stdout)["entries"]
        assert [e["status"] for e in log] == expected
        assert all(e["message_id"] or e["reference"] for e in log if e["status"] == "accepted")
        again = run("reconcile", batch)
        assert again.returncode == 0
        assert again.stdout == ""  # no "0 unknown: 0 accepted …" line
        assert again.stderr.splitlines() == [
            f"none of the {len(targets)} sends is unknown: nothing to reconcile"
        ]


def test_reconcile_thingspace_cannot_tell(sandbox_process: str, isolated: Path) -> None:
    profiles(isolated, sandbox_process)
    code, batch = send_batch("ts", ["+15551230444", "+15551230001"], "reconcile ts")
    assert code == 7  # (one request for both targets: both unknown)
    done = run("reconcile", batch)
    assert done.returncode == 7
    assert "cannot tell" in done.stdout
    code, rows = reconciled("--last")
    assert code == 7
    assert set(rows.values()) == {("unknown", "unknown")}
    assert len(rows) == 2
    quiet = run("reconcile", "-q", "--last")
    assert quiet.returncode == 7
    assert [line.split()[1] for line in quiet.stdout.splitlines()] == ["unknown", "unknown"]


def test_resume_after_reconcile_resends_only_not_sent(sandbox_process: str, isolated: Path) -> None:
    """Sent through a server that never answers: both rows unknown, nothing reached the
    sandbox. With the profile pointed at the sandbox again, reconcile finds them not-sent;
    --resume sends just those; a row still unknown (another batch's) is never resent."""
    text = "resume after reconcile"
    targets = ["+61400000001", "+61400000002"]
    with silent_server() as port:
        profiles(isolated, sandbox_process, f"http://127.0.0.1:{port}/fonedynamics")
        code, batch = send_batch("fone", targets, text)
        assert code == 7
    profiles(isolated, sandbox_process)
    code, other = send_batch("fone", ["+61400000444", "+61400000003"], text)
    assert code == 9  # 0444: unknown, but stored; 0003 accepted

    def received() -> list[str]:
        messages = httpx.get(sandbox_process + "/_sandbox/messages").json()["messages"]
        return sorted(m["target"] for m in messages if m["text"] == text)

    assert received() == ["+61400000003", "+61400000444"]
    # An unknown row is never resent by --resume (not reconciled yet).
    held = run("send", "-p", "fone", "-t", "+61400000444", "-t", "+61400000003",
               "--resume", other, "--json", text)  # fmt: skip
    assert held.returncode == 7
    assert received() == ["+61400000003", "+61400000444"]
    code, rows = reconciled(batch)
    assert code == 0
    assert rows == {"msisdn:+61400000001": ("unknown", "not-sent"),
                    "msisdn:+61400000002": ("unknown", "not-sent")}  # fmt: skip
    resume = ["send", "-p", "fone", "-t", targets[0], "-t", targets[1], "--resume", batch]
    resumed = run(*resume, "--json", text)
    assert resumed.returncode == 0, resumed.stderr
    assert received() == ["+61400000001", "+61400000002", "+61400000003", "+61400000444"]
    again = run(*resume, "--json", text)
    assert again.returncode == 0
    assert len(received()) == 4  # accepted now: skipped


def test_reconcile_usage_and_not_found(isolated: Path) -> None:
    assert run("reconcile").returncode == 2
    missing = run("reconcile", "nope")
    assert missing.returncode == 4
    assert missing.stderr.startswith("error: no batch or message 'nope' in the history")


def test_matchers_stay_unknown_when_in_doubt() -> None:
    from smscli.models import Status
    from smscli.providers import emnify, fonedynamics, telit

    mt = {"id": 5, "payload": "hi", "submit_date": "2026-01-01T00:00:10+00:00",
          "sms_type": {"id": 1, "description": "MT"}}  # fmt: skip
    start, end = 1767225600.0, 1767225700.0  # 2026-01-01T00:00:00 … +100 s
    assert emnify.find_unknown_send([mt], True, "hi", start, end).status is Status.ACCEPTED
    assert emnify.find_unknown_send([mt, mt | {"id": 6}], True, "hi", start, end).status is (
        Status.UNKNOWN
    )
    assert emnify.find_unknown_send([], False, "hi", start, end).status is Status.UNKNOWN
    assert emnify.find_unknown_send([], True, "hi", start, end).status is Status.NOT_SENT
    mo = mt | {"sms_type": {"id": 2, "description": "MO"}}
    assert emnify.find_unknown_send([mo], True, "hi", start, end).status is Status.NOT_SENT

    assert telit.match_history({"count": 3, "result": []}, "x").status is Status.UNKNOWN
    assert telit.match_history({"count": 0, "result": []}, "x").status is Status.NOT_SENT
    assert telit.match_history({"oops": 1}, "x").status is Status.UNKNOWN
    found = telit.match_history({"count": 1, "result": [{"id": "a1", "message": "x"}]}, "x")
    assert (found.status, found.message_id) == (Status.ACCEPTED, "a1")

    sent = {"MessageSid": "M1", "Text": "x", "To": "+61400000001", "ExternalId": "r1"}
    match = fonedynamics.match_sent
    assert match([sent], True, text="x", to="61400000001", reference=None).message_id == "M1"
    assert match([sent], True, text="x", to="+61400000002", reference=None).status is (
        Status.NOT_SENT
    )
    assert match([sent], False, text="y", to="+61400000001", reference=None).status is (
        Status.UNKNOWN
    )
    assert match([sent], True, text=None, to="x", reference="r1").status is Status.ACCEPTED
    assert match([sent], True, text=None, to="x", reference=None).status is Status.UNKNOWN


def test_python_api_reconcile(sandbox_process: str, isolated: Path) -> None:
    from smscli.api import Client

    profiles(isolated, sandbox_process)
    code, batch = send_batch("em", ["endpoint:20444", "endpoint:20500"], "api reconcile")
    assert code == 7
    report = Client().reconcile(batch)
    assert report.ok and report.exit_code == 0
    assert [(r["target"], r["before"], r["after"]) for r in report.rows] == [
        ("endpoint:20444", "unknown", "accepted"),
        ("endpoint:20500", "unknown", "accepted"),
    ]
    assert report.summary == {"total": 2, "accepted": 2, "not_sent": 0, "unknown": 0}
    again = Client().reconcile(last=True)
    assert again.rows == [] and again.ok
    # --last is the last run: its whole batch, both now accepted
    assert again.notes == ["none of the 2 sends is unknown: nothing to reconcile"]
