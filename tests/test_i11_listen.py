"""`smscli listen` (issue 11): the webhook receiver. Units for each provider's callback
parser (the contract's shapes and lenient variants), the JWT check and the history's
receipts; then end to end with real processes: `smscli listen` (the console script) with a
config of one profile per provider pointed at a real `smscli sandbox`, called with httpx."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from smscli.history import History
from smscli.listen.events import (
    TELIT_TEMPLATE,
    Incoming,
    Problem,
    Route,
    make_jwt,
    parse,
    verify_jwt,
)
from smscli.models import SendResult, Status
from tests.conftest import SCRIPT, free_port

TS_SECRET = "ts-Callback-Pw-4f9Qx2"
EM_SECRET = "em-Api-Secret-8KzT1w"
FD_SECRET = "fd-Token-Qm73Lp0v"
CSL_SECRET = "csl-Passphrase-Wq19Zr"
TL_SECRET = "tl-Token-Hh52Nc8e"
SECRETS = (TS_SECRET, EM_SECRET, FD_SECRET, CSL_SECRET, TL_SECRET)
ICCID = "89148000000800139708"

ROUTES = {
    "thingspace": [Route("thingspace", "ts", TS_SECRET, "smscli")],
    "emnify": [Route("emnify", "em", EM_SECRET)],
    "fonedynamics": [Route("fonedynamics", "fd", FD_SECRET)],
    "csl": [Route("csl", "c", CSL_SECRET)],
    "telit": [Route("telit", "tl", TL_SECRET)],
}


def incoming(
    method: str,
    body: bytes | str | dict[str, Any] = b"",
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Incoming:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return Incoming(
        method,
        "/x",
        {k: [v] for k, v in (query or {}).items()},
        {k.lower(): v for k, v in (headers or {}).items()},
        body,
    )


def bearer(secret: str = EM_SECRET, **claims: Any) -> dict[str, str]:
    now = int(time.time())
    body = {"iss": "emnify-sandbox", "iat": now, "exp": now + 300} | claims
    return {"Authorization": f"Bearer {make_jwt(body, secret)}"}


def ts_confirmation(request_id: str, word: str = "Delivered", **extra: Any) -> dict[str, Any]:
    return {
        "username": "smscli", "password": TS_SECRET, "requestId": request_id,
        "deviceIds": [{"id": ICCID, "kind": "iccid"}],
        "deviceResponse": {"smsDeliveryResponse": {"confirmation": word}},
    } | extra  # fmt: skip


TS_SENT = {
    "username": "smscli", "password": TS_SECRET, "requestId": "req-1",
    "deviceIds": [{"id": ICCID, "kind": "iccid"}],
    "comment": "SendSmsMessage,Performed action on device.", "status": "Success",
    "callbackCount": 1, "maxCallbackThreshold": 4,
}  # fmt: skip
TS_REPLY = {
    "username": "smscli", "password": TS_SECRET, "deviceIds": [{"id": ICCID, "kind": "iccid"}],
    "message": "ACK: status?", "timestamp": "2026-12-06T10:00:00Z",
}  # fmt: skip
EM_MO = {
    "id": 98765, "endpoint": {"id": 1001, "name": "dev-1"},
    "organisation": {"id": 4, "name": "org"}, "source_address": 432311234,
    "dest_address": "12345", "payload": "ACK: hi?", "dcs": 0, "pid": 0,
    "submit_date": "2026-12-06T10:00:00Z", "sms_type": {"id": 2, "description": "MO"},
}  # fmt: skip
EM_RECEIPT = {
    "id": 555, "status": {"id": 4, "description": "DELIVERED"},
    "submit_date": "2026-12-06T10:00:00Z", "delivery_date": "2026-12-06T10:00:02Z",
    "endpoint": {"id": 1001},
}  # fmt: skip
FD_RECEIPT = {
    "MessageSid": "MSGRECEIPT1", "AccountSid": "AC1", "PropertySid": "PR1",
    "From": "+61400000001", "To": "+61400000003", "Text": "hi", "Direction": "Transmit",
    "Status": "Delivered", "DeliveredTimestamp": 1765015200,
}  # fmt: skip
FD_REPLY = {
    "MessageSid": "MSGREPLY1", "AccountSid": "AC1", "PropertySid": "PR1",
    "From": "+61400000003", "To": "+61400000001", "Text": "ACK: hi?", "Direction": "Receive",
    "Status": "Received", "Received": 1765015200,
}  # fmt: skip
CSL_MO = (
    f'<post_sms version="1" api_did="D-77"><passphrase>{CSL_SECRET}</passphrase>'
    f"<iccid>{ICCID}</iccid><msisdn>447700900001</msisdn>"
    "<timestamp>06/12/2026 10:00:00</timestamp><message_text>ACK: hi?</message_text></post_sms>"
)
CSL_RECEIPT = (
    f'<post_delivery_receipt version="1" api_did="D-78"><passphrase>{CSL_SECRET}</passphrase>'
    f"<iccid>{ICCID}</iccid><msisdn>447700900001</msisdn><sms_uid>UID000000001</sms_uid>"
    "<status>delivered</status><timestamp>06/12/2026 10:00:05</timestamp></post_delivery_receipt>"
)


def telit_push(kind: str = "mo", status: str = "received", uuid: str = "u-1") -> dict[str, Any]:
    return {"smscli": "telit-push/1", "uuid": uuid, "type": kind, "status": status,
            "from": "15551230001", "to": "12345", "body": "ACK: hi?",
            "ts": "2026-12-06T10:00:00.12-05:00", "iccid": ICCID, "msisdn": "15551230001"}  # fmt: skip


# -- parsers -------------------------------------------------------------------------------


def test_thingspace_confirmation_sent_and_reply() -> None:
    route, [event] = parse(
        "thingspace", incoming("POST", ts_confirmation("req-1")), ROUTES["thingspace"]
    )
    assert route.profile == "ts"
    assert (event.kind, event.request_id, event.target, event.status) == (
        "receipt", "req-1", f"iccid:{ICCID}", Status.DELIVERED)  # fmt: skip
    for word, status in [("Undelivered", Status.FAILED), ("EXPIRED", Status.EXPIRED),
                         ("rejected", Status.REJECTED)]:  # fmt: skip
        body = ts_confirmation("req-1", word)
        assert (
            parse("thingspace", incoming("POST", body), ROUTES["thingspace"])[1][0].status is status
        )
    [sent] = parse("thingspace", incoming("POST", TS_SENT), ROUTES["thingspace"])[1]
    assert (sent.kind, sent.provider_status) == ("sent", "Success")
    [reply] = parse("thingspace", incoming("POST", TS_REPLY), ROUTES["thingspace"])[1]
    assert reply.reply is not None
    assert (reply.reply.sender, reply.reply.text, reply.reply.date) == (
        f"iccid:{ICCID}", "ACK: status?", "2026-12-06T10:00:00+00:00")  # fmt: skip
    # The same key `inbox` gives the same message read from the history queue.
    from smscli.models import content_id

    assert reply.reply.reply_id == content_id(
        f"iccid:{ICCID}", "2026-12-06T10:00:00Z", "ACK: status?"
    )


def test_thingspace_lenient_keys_and_a_custom_username() -> None:
    body = {k.upper(): v for k, v in ts_confirmation("req-2").items()}
    body["USERNAME"] = "ops"
    routes = [Route("thingspace", "ts", TS_SECRET, "ops")]
    [event] = parse("thingspace", incoming("POST", body), routes)[1]
    assert (event.request_id, event.status) == ("req-2", Status.DELIVERED)


@pytest.mark.parametrize(
    "body",
    [ts_confirmation("r") | {"password": "wrong"}, ts_confirmation("r") | {"username": "x"},
     {k: v for k, v in ts_confirmation("r").items() if k != "password"}],
)  # fmt: skip
def test_thingspace_wrong_credentials_are_401(body: dict[str, Any]) -> None:
    with pytest.raises(Problem) as caught:
        parse("thingspace", incoming("POST", body), ROUTES["thingspace"])
    assert caught.value.status == 401
    assert TS_SECRET not in caught.value.reason


def test_emnify_mo_and_receipt() -> None:
    _, [mo] = parse("emnify", incoming("POST", EM_MO, headers=bearer()), ROUTES["emnify"])
    assert mo.reply is not None
    assert (mo.kind, mo.reply.reply_id, mo.reply.sender, mo.reply.text) == (
        "reply", "98765", "endpoint:1001", "ACK: hi?")  # fmt: skip
    assert mo.reply.details == {"source_address": "432311234"}
    # The documented MO shape has no sms_type; submit_date {} as on the old page.
    old = {k: v for k, v in EM_MO.items() if k != "sms_type"} | {"submit_date": {}}
    [mo2] = parse("emnify", incoming("POST", old, headers=bearer()), ROUTES["emnify"])[1]
    assert mo2.kind == "reply" and mo2.reply is not None and mo2.reply.date is None
    [receipt] = parse("emnify", incoming("PATCH", EM_RECEIPT, headers=bearer()), ROUTES["emnify"])[
        1
    ]
    assert (receipt.kind, receipt.message_id, receipt.status, receipt.target) == (
        "receipt", "555", Status.DELIVERED, "endpoint:1001")  # fmt: skip
    failed = EM_RECEIPT | {"id": "556", "status": {"id": "5"}}  # an id as a string
    [event] = parse("emnify", incoming("PATCH", failed, headers=bearer()), ROUTES["emnify"])[1]
    assert (event.message_id, event.status) == ("556", Status.FAILED)


def test_jwt_verification() -> None:
    now = time.time()
    token = make_jwt({"exp": now + 60}, EM_SECRET)
    assert verify_jwt(token, EM_SECRET, now)["exp"] == now + 60
    cases = {
        "signature": make_jwt({"exp": now + 60}, "another-secret"),
        "expired": make_jwt({"exp": now - 3600}, EM_SECRET),
        "'none'": make_jwt({"exp": now + 60}, EM_SECRET, alg="none"),
        "not a JWT": "abc",
        "readable": "a.b.c",
    }
    for why, bad in cases.items():
        with pytest.raises(Problem) as caught:
            verify_jwt(bad, EM_SECRET, now)
        assert caught.value.status == 401 and why in caught.value.reason, caught.value.reason
    # alg none with an empty signature (the classic forgery) is refused too.
    head, body, _ = make_jwt({"exp": now + 60}, EM_SECRET, alg="none").split(".")
    with pytest.raises(Problem):
        verify_jwt(f"{head}.{body}.", EM_SECRET, now)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"}, bearer("wrong-secret")])
def test_emnify_without_a_valid_jwt_is_401(headers: dict[str, str]) -> None:
    with pytest.raises(Problem) as caught:
        parse("emnify", incoming("POST", EM_MO, headers=headers), ROUTES["emnify"])
    assert caught.value.status == 401


def test_fonedynamics_post_get_form_and_wrapped() -> None:
    token = {"token": FD_SECRET}
    [receipt] = parse(
        "fonedynamics", incoming("POST", FD_RECEIPT, query=token), ROUTES["fonedynamics"]
    )[1]
    assert (receipt.kind, receipt.message_id, receipt.status, receipt.date) == (
        "receipt", "MSGRECEIPT1", Status.DELIVERED, "2025-12-06T10:00:00+00:00")  # fmt: skip
    as_query = {k: str(v) for k, v in FD_RECEIPT.items()} | token
    [got] = parse("fonedynamics", incoming("GET", query=as_query), ROUTES["fonedynamics"])[1]
    assert (got.message_id, got.status) == ("MSGRECEIPT1", Status.DELIVERED)
    expired = FD_RECEIPT | {"Status": "failed", "ErrorCode": "MESSAGE_EXPIRED"}
    form = "&".join(f"{k}={v}" for k, v in expired.items())
    [exp] = parse("fonedynamics", incoming("POST", form, query=token), ROUTES["fonedynamics"])[1]
    assert exp.status is Status.EXPIRED
    wrapped = {"Message": FD_REPLY}
    [reply] = parse("fonedynamics", incoming("POST", wrapped, query=token), ROUTES["fonedynamics"])[
        1
    ]
    assert reply.reply is not None
    assert (reply.kind, reply.reply.reply_id, reply.reply.sender) == (
        "reply", "MSGREPLY1", "msisdn:+61400000003")  # fmt: skip
    with pytest.raises(Problem) as caught:
        parse(
            "fonedynamics",
            incoming("POST", FD_RECEIPT, query={"token": "nope"}),
            ROUTES["fonedynamics"],
        )
    assert caught.value.status == 401


def test_csl_post_sms_and_receipt() -> None:
    [mo] = parse("csl", incoming("POST", CSL_MO), ROUTES["csl"])[1]
    assert mo.reply is not None
    assert (mo.reply.reply_id, mo.reply.sender, mo.reply.text, mo.reply.date) == (
        "D-77", f"iccid:{ICCID}", "ACK: hi?", "2026-12-06T10:00:00+00:00")  # fmt: skip
    [receipt] = parse("csl", incoming("POST", CSL_RECEIPT), ROUTES["csl"])[1]
    assert (receipt.message_id, receipt.status) == ("UID000000001", Status.DELIVERED)
    # Lenient: upper-case names, and no api_did (an id from the content).
    shouted = CSL_MO.replace("message_text", "MESSAGE-TEXT").replace(' api_did="D-77"', "")
    [again] = parse("csl", incoming("POST", shouted), ROUTES["csl"])[1]
    assert again.reply is not None and again.reply.reply_id.startswith("sha256:")
    for bad, status in [(CSL_MO.replace(CSL_SECRET, "nope"), 401), ("<post_sms", 400),
                        ('<!DOCTYPE x [<!ENTITY a "b">]><post_sms/>', 400)]:  # fmt: skip
        with pytest.raises(Problem) as caught:
            parse("csl", incoming("POST", bad), ROUTES["csl"])
        assert caught.value.status == status


def test_telit_template_mo_and_status() -> None:
    token = {"token": TL_SECRET}
    filled = json.loads(TELIT_TEMPLATE)
    assert set(filled) == {"smscli", "uuid", "type", "status", "from", "to", "body", "ts",
                           "iccid", "msisdn"}  # fmt: skip
    [mo] = parse("telit", incoming("POST", telit_push(), query=token), ROUTES["telit"])[1]
    assert mo.reply is not None
    assert (mo.reply.reply_id, mo.reply.sender, mo.reply.date) == (
        "u-1", f"iccid:{ICCID}", "2026-12-06T15:00:00+00:00")  # fmt: skip
    mt = telit_push("mt", "DELIVERED", "u-2")
    [status] = parse("telit", incoming("POST", mt, query=token), ROUTES["telit"])[1]
    assert (status.kind, status.message_id, status.status) == ("receipt", "u-2", Status.DELIVERED)
    with pytest.raises(Problem) as caught:  # Telit did not escape a quote in the body
        parse(
            "telit",
            incoming("POST", '{"uuid":"u","body":"say "hi""}', query=token),
            ROUTES["telit"],
        )
    assert caught.value.status == 400
    with pytest.raises(Problem) as caught:  # unfilled variables: no uuid
        parse("telit", incoming("POST", TELIT_TEMPLATE, query=token), ROUTES["telit"])
    assert caught.value.status == 400


def test_methods_and_routes_that_are_off() -> None:
    with pytest.raises(Problem) as caught:
        parse("thingspace", incoming("GET"), ROUTES["thingspace"])
    assert caught.value.status == 405
    with pytest.raises(Problem) as caught:
        parse("csl", incoming("POST", CSL_MO), [Route("csl", "c", None)])
    assert caught.value.status == 403


# -- the history's receipts ----------------------------------------------------------------


def test_a_receipt_never_moves_a_status_backwards(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    row = history.start(provider="thingspace", profile="ts", base_url="u", target="iccid:1",
                        text="hi", segments=1, encoding="gsm7", reference=None)  # fmt: skip
    assert row is not None
    history.finish(row, SendResult("thingspace", "ts", "iccid:1", Status.ACCEPTED, request_id="r"))
    apply = history.apply_receipt
    assert apply(row, Status.SENT, provider_status="Success", date=None)
    assert apply(
        row, Status.DELIVERED, provider_status="Delivered", date="2026-12-06T10:00:00+00:00"
    )
    assert not apply(row, Status.DELIVERED, provider_status="Delivered", date=None)  # again
    assert not apply(row, Status.SENT, provider_status="sent", date=None)  # an older one
    assert not apply(row, Status.FAILED, provider_status="Undelivered", date=None)
    stored = history.find("r")
    assert stored is not None and stored["status"] == "delivered"
    assert stored["details"]["receipt"]["date"] == "2026-12-06T10:00:00+00:00"


def test_a_message_in_parts_is_delivered_when_every_part_is(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    row = history.start(provider="emnify", profile="em", base_url="u", target="endpoint:1",
                        text="hi", segments=2, encoding="gsm7", reference=None)  # fmt: skip
    assert row is not None
    history.finish(row, SendResult("emnify", "em", "endpoint:1", Status.ACCEPTED,
                                   message_id="11", parts=["11", "12"]))  # fmt: skip
    assert history.apply_receipt(row, Status.DELIVERED, provider_status="4", date=None, part="11")
    assert history.find("11")["status"] == "accepted"  # type: ignore[index]
    assert history.apply_receipt(row, Status.DELIVERED, provider_status="4", date=None, part="12")
    assert history.find("12")["status"] == "delivered"  # type: ignore[index]


# -- end to end ------------------------------------------------------------------------------


@dataclass
class Listening:
    url: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    home: Path

    def stdout(self) -> str:
        return (self.home / "listen.out").read_text()

    def stderr(self) -> str:
        return (self.home / "listen.err").read_text()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout().splitlines()]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=self.env,
                              timeout=60)  # fmt: skip


def write_profiles(home: Path, sandbox: str) -> None:
    (home / "config.toml").write_text(f"""
[profiles.ts]
provider = "thingspace"
base_url = "{sandbox}/thingspace"
client_id = "c1"
client_secret = "ts-app-secret-1"
username = "u1"
password = "ts-pass-1"
account_name = "0000123456-00001"
callback_secret = "{TS_SECRET}"

[profiles.em]
provider = "emnify"
base_url = "{sandbox}/emnify"
application_token = "app-token-1"
callback_secret = {{ env = "EM_CALLBACK" }}

[profiles.em2]
provider = "emnify"
base_url = "{sandbox}/emnify"
application_token = "app-token-2"

[profiles.fd]
provider = "fonedynamics"
base_url = "{sandbox}/fonedynamics"
account_sid = "AC1"
token = "fd-token-1"
property_sid = "PR1"
callback_secret = "{FD_SECRET}"

[profiles.c]
provider = "csl"
base_url = "{sandbox}/csl"
username = "u1"
password = "csl-pass-1"
api_id = "1"
callback_secret = "{CSL_SECRET}"

[profiles.tl]
provider = "telit"
base_url = "{sandbox}/telit"
username = "u1"
password = "telit-pass-1"
callback_secret = "{TL_SECRET}"
""")
    (home / "config.toml").chmod(0o600)


def start_listen(home: Path, env: dict[str, str], *extra: str) -> Listening:
    port = free_port()
    with (home / "listen.out").open("wb") as out, (home / "listen.err").open("wb") as err:
        proc = subprocess.Popen([SCRIPT, "listen", "--port", str(port), *extra],
                                stdout=out, stderr=err, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:  # (a connect, not a request: a request would be a stderr line)
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, (home / "listen.err").read_text()
            time.sleep(0.1)
    return Listening(url, proc, env, home)


@pytest.fixture
def listening(sandbox_process: str, isolated: Path) -> Iterator[Listening]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env |= {"SMSCLI_CONFIG": str(isolated / "config.toml"),
            "SMSCLI_DATA_DIR": str(isolated / "data"),
            "SMSCLI_CACHE_DIR": str(isolated / "cache"), "EM_CALLBACK": EM_SECRET}  # fmt: skip
    write_profiles(isolated, sandbox_process)
    exec_log = isolated / "exec.log"
    script = f"import sys; open({str(exec_log)!r}, 'a').write(sys.stdin.read())"
    listening = start_listen(isolated, env, "--exec", sys.executable, "-c", script)
    yield listening
    if listening.proc.poll() is None:
        listening.proc.send_signal(signal.SIGTERM)
        assert listening.proc.wait(timeout=20) == 0


def post(listening: Listening, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(kwargs.pop("method", "POST"), listening.url + path, timeout=10, **kwargs)


def test_every_provider_end_to_end(listening: Listening, isolated: Path) -> None:
    calls = [
        ("/thingspace", {"json": TS_REPLY}),
        ("/emnify", {"json": EM_MO, "headers": bearer()}),
        ("/fonedynamics?token=" + FD_SECRET, {"json": FD_REPLY}),
        ("/csl", {"content": CSL_MO, "headers": {"Content-Type": "text/xml"}}),
        ("/telit?token=" + TL_SECRET, {"json": telit_push()}),
    ]
    for path, kwargs in calls:
        answer = post(listening, path, **kwargs)
        assert answer.status_code == 200, (path, answer.text)
    for path, kwargs in calls:  # the providers deliver again: stored once
        assert post(listening, path, **kwargs).status_code == 200
    # A receipt for a message the history does not hold: 200, printed, not recorded.
    answer = post(listening, "/emnify", method="PATCH", json=EM_RECEIPT, headers=bearer())
    assert answer.status_code == 200
    events = listening.events()
    replies = [e for e in events if e["event"] == "reply"]
    assert [(e["provider"], e["stored"]) for e in replies] == [
        (p, True) for p in ("thingspace", "emnify", "fonedynamics", "csl", "telit")
    ] + [(p, False) for p in ("thingspace", "emnify", "fonedynamics", "csl", "telit")]
    assert [e["profile"] for e in replies[:5]] == ["ts", "em", "fd", "c", "tl"]
    assert {e["text"] for e in replies} == {"ACK: status?", "ACK: hi?"}
    [receipt] = [e for e in events if e["event"] == "receipt"]
    assert receipt | {"received_at": None} == {
        "event": "receipt", "provider": "emnify", "profile": "em", "message_id": "555",
        "request_id": None, "reply_id": None, "history_id": None, "target": "endpoint:1001",
        "status": "delivered", "provider_status": "DELIVERED", "text": None,
        "date": "2026-12-06T10:00:02+00:00", "received_at": None, "matched": False,
        "stored": False,
    }  # fmt: skip
    stored = json.loads(listening.run("log", "--replies", "--json", "-n", "100").stdout)
    assert sorted(r["provider"] for r in stored["replies"]) == sorted(
        ["thingspace", "emnify", "fonedynamics", "csl", "telit"]
    )
    # CSL has no pull API: `inbox` lists what listen stored.
    csl = listening.run("inbox", "-p", "c", "--json")
    assert csl.returncode == 0, csl.stderr
    assert [(r["id"], r["text"]) for r in json.loads(csl.stdout)["replies"]] == [
        ("D-77", "ACK: hi?")
    ]
    # --exec got each new event once, in order.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = [json.loads(line) for line in (isolated / "exec.log").read_text().splitlines()] if (
            isolated / "exec.log").exists() else []  # fmt: skip
        if len(got) >= 5:
            break
        time.sleep(0.2)
    assert [(e["provider"], e["reply_id"]) for e in got] == [
        (e["provider"], e["reply_id"]) for e in replies[:5]
    ]


def test_refused_calls_are_never_recorded(listening: Listening) -> None:
    cases = [
        ("/thingspace", {"json": TS_REPLY | {"password": "wrong"}}, 401),
        ("/emnify", {"json": EM_MO, "headers": bearer("wrong-secret")}, 401),
        ("/emnify", {"json": EM_MO}, 401),
        ("/emnify/em2", {"json": EM_MO, "headers": bearer()}, 403),  # no callback_secret
        ("/emnify/nobody", {"json": EM_MO, "headers": bearer()}, 404),
        ("/fonedynamics", {"json": FD_REPLY}, 401),
        ("/fonedynamics?token=wrong", {"json": FD_REPLY}, 401),
        ("/csl", {"content": CSL_MO.replace(CSL_SECRET, "wrong")}, 401),
        ("/telit?token=" + TL_SECRET, {"content": '{"uuid": "x", "body": "a "b""}'}, 400),
        ("/telit?token=" + TL_SECRET, {"content": b"x" * (1024 * 1024 + 1)}, 413),
        ("/nowhere", {"json": {}}, 404),
        ("/thingspace", {"method": "GET"}, 405),
    ]
    for path, kwargs, status in cases:
        answer = post(listening, path, **kwargs)
        assert answer.status_code == status, (path, answer.text)
        assert "error" in answer.json()
    assert listening.stdout() == ""
    problems = [line for line in listening.stderr().splitlines() if line.startswith("listen: ")]
    assert len(problems) == len(cases)
    stored = json.loads(listening.run("log", "--replies", "--json").stdout)
    assert stored["replies"] == []
    assert "wrong" not in listening.stderr()  # (the query string is never shown)


def test_thingspace_status_and_wait_read_the_receipt(listening: Listening, isolated: Path) -> None:
    sent = listening.run("send", "-p", "ts", "-t", f"iccid:{ICCID}", "hello", "--json")
    assert sent.returncode == 0, sent.stderr
    request_id = json.loads(sent.stdout)["results"][0]["request_id"]
    before = listening.run("status", request_id)
    assert before.returncode == 4, before.stderr
    assert "smscli listen" in before.stderr and "callbacks register" in before.stderr
    # An informational "handed to the device" callback changes nothing.
    assert (
        post(listening, "/thingspace", json=TS_SENT | {"requestId": request_id}).status_code == 200
    )
    assert listening.run("status", request_id).returncode == 4
    answer = post(listening, "/thingspace", json=ts_confirmation(request_id))
    assert answer.status_code == 200
    status = listening.run("status", request_id, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["results"][0]["status"] == "delivered"
    # A redelivery, and an older word, change nothing.
    post(listening, "/thingspace", json=ts_confirmation(request_id))
    post(listening, "/thingspace", json=ts_confirmation(request_id, "Undelivered"))
    events = [e for e in listening.events() if e["request_id"] == request_id]
    assert [(e["event"], e["matched"], e["stored"]) for e in events] == [
        ("sent", True, False), ("receipt", True, True), ("receipt", True, False),
        ("receipt", True, False)]  # fmt: skip
    assert events[1]["target"] == f"iccid:{ICCID}" and events[1]["history_id"] is not None
    again = listening.run("status", request_id, "--json")
    assert json.loads(again.stdout)["results"][0]["status"] == "delivered"


def test_thingspace_send_wait_reaches_delivered(listening: Listening, isolated: Path) -> None:
    waiting = subprocess.Popen(
        [SCRIPT, "send", "-p", "ts", "-t", f"iccid:{ICCID}", "hello", "--wait", "20s", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=listening.env,
    )  # fmt: skip
    request_id = None
    deadline = time.monotonic() + 15
    while request_id is None and time.monotonic() < deadline:
        rows = json.loads(listening.run("log", "--json").stdout)["entries"]
        request_id = next((r["request_id"] for r in rows if r["request_id"]), None)
        time.sleep(0.2)
    assert request_id is not None
    assert post(listening, "/thingspace", json=ts_confirmation(request_id)).status_code == 200
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert json.loads(out)["results"][0]["status"] == "delivered"


def test_thingspace_send_wait_times_out_without_a_receipt(listening: Listening) -> None:
    res = listening.run("send", "-p", "ts", "-t", f"iccid:{ICCID}", "hello", "--wait", "2s")
    assert res.returncode == 10, res.stderr


def test_no_secret_in_output_or_history(listening: Listening, isolated: Path) -> None:
    jwt = bearer()["Authorization"].split()[1]
    post(listening, "/thingspace", json=TS_REPLY)
    post(listening, "/emnify", json=EM_MO, headers={"Authorization": f"Bearer {jwt}"})
    post(listening, "/fonedynamics?token=" + FD_SECRET, json=FD_REPLY)
    post(listening, "/csl", content=CSL_MO)
    post(listening, "/telit?token=" + TL_SECRET, json=telit_push())
    post(listening, "/telit?token=" + TL_SECRET, content="not json")
    listening.proc.send_signal(signal.SIGTERM)
    assert listening.proc.wait(timeout=20) == 0
    assert "listen stopped" in listening.stderr()
    shown = listening.stdout() + listening.stderr()
    stored = b"".join(p.read_bytes() for p in (isolated / "data").iterdir() if p.is_file())
    for secret in (*SECRETS, EM_SECRET, jwt):
        assert secret not in shown
        assert secret.encode() not in stored
    assert "token=***" in listening.stderr()  # the banner's URLs mask it
    assert len(listening.events()) == 5


def test_port_busy_and_nothing_to_serve(isolated: Path, sandbox_process: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env |= {"SMSCLI_CONFIG": str(isolated / "config.toml"),
            "SMSCLI_DATA_DIR": str(isolated / "data")}  # fmt: skip
    empty = subprocess.run([SCRIPT, "listen", "--port", "0"], capture_output=True, text=True,
                           env=env, timeout=30)  # fmt: skip
    assert empty.returncode == 3 and "no profiles" in empty.stderr
    write_profiles(isolated, sandbox_process)
    port = int(sandbox_process.rsplit(":", 1)[1])  # taken by the sandbox
    busy = subprocess.run([SCRIPT, "listen", "--port", str(port), "-p", "fd"],
                          capture_output=True, text=True, env=env, timeout=30)  # fmt: skip
    assert busy.returncode == 2
    assert [line for line in busy.stderr.splitlines() if line.startswith("error:")] == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    usage = subprocess.run([SCRIPT, "listen", "--exec"], capture_output=True, text=True,
                           env=env, timeout=30)  # fmt: skip
    assert usage.returncode == 2
    template = subprocess.run([SCRIPT, "listen", "--telit-template"], capture_output=True,
                              text=True, env=env, timeout=30)  # fmt: skip
    assert template.returncode == 0 and json.loads(template.stdout)["uuid"] == "$(event.uuid)"


def test_a_failing_exec_never_changes_the_answer(sandbox_process: str, isolated: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env |= {"SMSCLI_CONFIG": str(isolated / "config.toml"),
            "SMSCLI_DATA_DIR": str(isolated / "data"), "EM_CALLBACK": EM_SECRET}  # fmt: skip
    write_profiles(isolated, sandbox_process)
    script = "import sys; sys.stdin.read(); print('hook ran'); sys.exit(3)"
    listening = start_listen(isolated, env, "-p", "fd", "--exec", sys.executable, "-c", script)
    try:
        answer = post(listening, "/fonedynamics?token=" + FD_SECRET, json=FD_REPLY)
        assert answer.status_code == 200
        assert post(listening, "/csl", content=CSL_MO).status_code == 403  # not served (-p fd)
        deadline = time.monotonic() + 20
        while "exited 3" not in listening.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        listening.proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop too
        assert listening.proc.wait(timeout=20) == 0
    err = listening.stderr()
    assert f"warning: --exec {sys.executable} exited 3" in err
    assert "hook ran" in err  # the hook's output goes to stderr: stdout stays events only
    assert [e["reply_id"] for e in listening.events()] == ["MSGREPLY1"]
    banner = err.split("listen: ")[0]
    assert "off" in banner and "/csl" in banner and FD_SECRET not in err


def test_callback_fields_are_never_needed_to_send(cli: Any, isolated: Path) -> None:
    """A callback_secret whose reference does not resolve here (it lives where listen
    runs) does not stop a send, nor does the profile need one."""
    (isolated / "config.toml").write_text(
        '[profiles.ts]\nprovider = "thingspace"\nbase_url = "http://sandbox.test/thingspace"\n'
        'client_id = "c1"\nclient_secret = "s1"\nusername = "u1"\npassword = "p1"\n'
        'callback_secret = { env = "UNSET_CALLBACK_VAR_XYZ" }\ncallback_username = "ops"\n'
    )
    (isolated / "config.toml").chmod(0o600)
    sent = cli("send", "-p", "ts", "-t", f"iccid:{ICCID}", "hello", "--json")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["results"][0]["status"] == "accepted"


SEND_TARGETS = {
    "em": "endpoint:1001",
    "fd": "+61400000003",
    "c": f"iccid:{ICCID}",
    "tl": "msisdn:+15551230001",
}


def receipt_call(profile: str, result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The provider's delivery receipt for a RESULT smscli printed."""
    if profile == "em":
        body = {"id": int(result["message_id"]), "status": {"id": 4, "description": "DELIVERED"},
                "endpoint": {"id": 1001}, "delivery_date": "2026-12-06T10:00:02Z"}  # fmt: skip
        return "/emnify", {"method": "PATCH", "json": body, "headers": bearer()}
    if profile == "fd":
        body = FD_RECEIPT | {"MessageSid": result["message_id"]}
        return "/fonedynamics?token=" + FD_SECRET, {"json": body}
    if profile == "c":
        xml = CSL_RECEIPT.replace("UID000000001", result["reference"])
        return "/csl", {"content": xml}
    body = telit_push("mt", "delivered", result["uuid"])
    return "/telit?token=" + TL_SECRET, {"json": body}


@pytest.mark.parametrize("profile", list(SEND_TARGETS))
def test_a_receipt_reaches_the_row_of_each_providers_id(listening: Listening, profile: str) -> None:
    sent = listening.run("send", "-p", profile, "-t", SEND_TARGETS[profile], "hello", "--json")
    assert sent.returncode == 0, sent.stderr
    [result] = json.loads(sent.stdout)["results"]
    path, kwargs = receipt_call(profile, result)
    assert post(listening, path, **kwargs).status_code == 200
    [event] = [e for e in listening.events() if e["event"] == "receipt"]
    assert (event["matched"], event["stored"], event["status"]) == (True, True, "delivered")
    [row] = json.loads(listening.run("log", "--json").stdout)["entries"]
    assert (row["id"], row["status"]) == (event["history_id"], "delivered")
    assert post(listening, path, **kwargs).status_code == 200  # a redelivery: nothing new
    assert [e["stored"] for e in listening.events() if e["event"] == "receipt"] == [True, False]


def test_thingspace_status_of_a_batch_shows_each_device_as_it_stands(
    cli: Any, isolated: Path
) -> None:
    """One request to two devices is a row per device; a receipt for one of them (as listen
    records it) shows on that row only; `status --batch` lists both without asking."""
    args = ["--provider", "thingspace", "--base-url", "http://sandbox.test/thingspace",
            "--client-id", "c1", "--client-secret", "s1", "--username", "u1",
            "--password", "p1"]  # fmt: skip
    other = "89148000000800139709"
    sent = cli("send", *args, "-t", f"iccid:{ICCID}", "-t", f"iccid:{other}", "hi", "--json")
    assert sent.exit_code == 0, sent.output
    batch = json.loads(sent.stdout)["summary"]["batch"]
    request_id = json.loads(sent.stdout)["results"][0]["request_id"]
    history = History(isolated / "data" / "history.sqlite3")
    rows = history.rows_for(request_id, "thingspace")
    assert len(rows) == 2
    [mine] = [r for r in rows if r["target"] == f"iccid:{ICCID}"]
    assert history.apply_receipt(mine["id"], Status.DELIVERED, provider_status="Delivered",
                                 date="2026-12-06T10:00:00+00:00")  # fmt: skip
    history.close()
    before = len(cli.recorder.requests)
    creds = args[4:]  # (status takes the credential flags, not --base-url)
    res = cli("status", "--batch", batch, *creds, "--json")
    assert res.exit_code == 0, res.output
    shown = {r["target"]: r["status"] for r in res.json()["results"]}
    assert shown == {f"iccid:{ICCID}": "delivered", f"iccid:{other}": "accepted"}
    assert len(cli.recorder.requests) == before  # the history answers, not the API
    [theirs] = [r for r in rows if r["target"] == f"iccid:{other}"]
    single = cli("status", f"#{theirs['id']}", *creds)
    assert single.exit_code == 4 and "smscli listen" in single.stderr


# -- the true end to end: the sandbox pushes, listen records, --wait sees it ------------------


def test_thingspace_sandbox_pushes_reach_listen_and_send_wait_delivers(
    sandbox_process: str, isolated: Path
) -> None:
    """No manual POST: the sandbox (registered like ThingSpace, with Verizon's SDK) pushes
    SMSDeliveryConfirmation and EnhancedConnectivityService to `smscli listen`, and
    `send --wait` reaches delivered; the device's reply lands in the history too."""
    from verizon.models.register_callback_request import RegisterCallbackRequest

    from tests.test_i10_thingspace_client import account_name, log_in

    account = account_name()  # (the sandbox process is shared: an account of this test's own)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env |= {"SMSCLI_CONFIG": str(isolated / "config.toml"),
            "SMSCLI_DATA_DIR": str(isolated / "data"), "EM_CALLBACK": EM_SECRET}  # fmt: skip
    write_profiles(isolated, sandbox_process)
    config = (isolated / "config.toml").read_text()
    (isolated / "config.toml").write_text(config.replace("0000123456-00001", account))
    listening = start_listen(isolated, env, "-p", "ts")
    api, _ = log_in(sandbox_process)
    services = ("SMSDeliveryConfirmation", "EnhancedConnectivityService")
    for service in services:
        request = RegisterCallbackRequest(
            name=service, url=f"{listening.url}/thingspace", username="smscli", password=TS_SECRET
        )
        assert api.connectivity_callbacks.register_callback(account, request).status_code == 200
    try:
        sent = listening.run("send", "-p", "ts", "-t", f"iccid:{ICCID}", "status?",
                             "--wait", "20s", "--json")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        [result] = json.loads(sent.stdout)["results"]
        assert result["status"] == "delivered"
        status = listening.run("status", result["request_id"], "--json")
        assert json.loads(status.stdout)["results"][0]["status"] == "delivered"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            replies = [e for e in listening.events() if e["event"] == "reply"]
            if replies:
                break
            time.sleep(0.2)
        assert [(r["text"], r["target"], r["stored"]) for r in replies] == [
            ("ACK: status?", f"iccid:{ICCID}", True)
        ]
        kinds = [(e["event"], e["matched"]) for e in listening.events() if e["event"] != "reply"]
        assert ("sent", True) in kinds and ("receipt", True) in kinds
    finally:
        for service in services:
            api.connectivity_callbacks.deregister_callback(account, service)
        listening.proc.send_signal(signal.SIGTERM)
        assert listening.proc.wait(timeout=20) == 0


def test_csl_sandbox_pushes_reach_listen_and_inbox(sandbox_process: str, isolated: Path) -> None:
    """CSL's post services (the sandbox's portal stand-in): the receipt and the device's
    reply reach `smscli listen`; `status` sees the receipt, `inbox -p c` the reply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    env |= {"SMSCLI_CONFIG": str(isolated / "config.toml"),
            "SMSCLI_DATA_DIR": str(isolated / "data"), "EM_CALLBACK": EM_SECRET}  # fmt: skip
    write_profiles(isolated, sandbox_process)
    listening = start_listen(isolated, env, "-p", "c")
    portal = f"{sandbox_process}/_sandbox/push/csl"
    iccid = "8944" + "".join(str(time.time_ns())[-15:])  # a SIM of this test's own
    put = httpx.put(portal, json={"url": f"{listening.url}/csl", "secret": CSL_SECRET})
    assert put.status_code == 200, put.text
    try:
        sent = listening.run("send", "-p", "c", "-t", f"iccid:{iccid}", "status?", "--json")
        assert sent.returncode == 0, sent.stderr
        [result] = json.loads(sent.stdout)["results"]
        deadline = time.monotonic() + 20
        kinds: set[str] = set()
        while kinds != {"receipt", "reply"} and time.monotonic() < deadline:
            time.sleep(0.2)
            mine = [e for e in listening.events() if e["target"] == f"iccid:{iccid}"]
            kinds = {e["event"] for e in mine}
        [receipt] = [e for e in mine if e["event"] == "receipt"]
        assert (receipt["message_id"], receipt["matched"], receipt["stored"]) == (
            result["reference"], True, True)  # fmt: skip
        inbox = listening.run("inbox", "-p", "c", "--from", f"iccid:{iccid}", "--json")
        assert [r["text"] for r in json.loads(inbox.stdout)["replies"]] == ["ACK: status?"]
    finally:
        httpx.delete(portal)
        listening.proc.send_signal(signal.SIGTERM)
        assert listening.proc.wait(timeout=20) == 0


@pytest.fixture
def tiny_listener(tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    """listen's server in-process with no routes and a 0.5 s request timeout; yields its
    port and what it warned."""
    import threading

    from smscli.listen.server import Listener, make_server
    from smscli.redaction import Redactor

    warned: list[str] = []
    listener = Listener(routes={}, history=History(tmp_path / "h.sqlite3"), redactor=Redactor(),
                        write=lambda line: None, warn=warned.append)  # fmt: skip
    server = make_server(listener, "127.0.0.1", 0, request_timeout=0.5)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1], warned
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_stalled_client_is_dropped_not_waited_on_forever(
    tiny_listener: tuple[int, list[str]],
) -> None:
    port, _ = tiny_listener
    for request in (b"POST /csl HTTP/1.1\r\nHost: x\r\n",  # headers never end
                    b"POST /csl HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"):  # body stalls  # fmt: skip
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(request)
            began = time.monotonic()
            assert client.recv(1024) == b""  # closed by listen, no answer
            assert time.monotonic() - began < 5


def test_a_body_shorter_than_its_length_is_400_and_not_recorded(
    tiny_listener: tuple[int, list[str]],
) -> None:
    port, warned = tiny_listener
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"POST /csl HTTP/1.1\r\nContent-Length: 100\r\n\r\n<post_sms>")
        client.shutdown(socket.SHUT_WR)
        answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert warned == ["listen: 400 POST /csl: the body ended after 10 of 100 bytes\n"]


def test_a_reply_without_a_readable_date_is_dated_and_keyed_when_it_came() -> None:
    """A device answering "OK" twice, in callbacks without a timestamp, is two replies (the
    second was dropped as a redelivery); an unreadable date is never stored as given."""
    undated = {k: v for k, v in TS_REPLY.items() if k != "timestamp"}
    [first] = parse("thingspace", incoming("POST", undated), ROUTES["thingspace"])[1]
    time.sleep(1.1)
    [second] = parse("thingspace", incoming("POST", undated), ROUTES["thingspace"])[1]
    assert first.reply is not None and second.reply is not None
    assert first.reply.reply_id != second.reply.reply_id
    assert first.reply.date is not None and first.reply.date.startswith("20")
    for key, bad in (("timestamp", "2026-13-45T99:00:00Z"), ("timestamp", "nonsense")):
        [event] = parse("thingspace", incoming("POST", TS_REPLY | {key: bad}),
                        ROUTES["thingspace"])[1]  # fmt: skip
        assert event.reply is not None and event.reply.date != bad
        datetime.fromisoformat(str(event.reply.date))
    csl = CSL_MO.replace("06/12/2026 10:00:00", "31/02/2026 10:00:00")
    [event] = parse("csl", incoming("POST", csl), ROUTES["csl"])[1]
    assert event.reply is not None
    datetime.fromisoformat(str(event.reply.date))
    [receipt] = parse("emnify", incoming("PATCH", EM_RECEIPT | {"delivery_date": "nonsense"},
                                         headers=bearer()), ROUTES["emnify"])[1]  # fmt: skip
    assert receipt.date != "nonsense"


def test_a_reply_without_its_device_is_400() -> None:
    cases = [
        ("emnify", incoming("POST", EM_MO | {"endpoint": None, "source_address": None},
                            headers=bearer())),
        ("csl", incoming("POST", f"<post_sms><passphrase>{CSL_SECRET}</passphrase></post_sms>")),
        ("telit", incoming("POST", telit_push() | {"from": "", "iccid": "", "msisdn": ""},
                           query={"token": TL_SECRET})),
        ("telit", incoming("POST", telit_push() | {"from": "$(event.from)", "iccid": "",
                                                   "msisdn": ""}, query={"token": TL_SECRET})),
    ]  # fmt: skip
    for slug, request in cases:
        with pytest.raises(Problem) as refused:
            parse(slug, request, ROUTES[slug])
        assert refused.value.status == 400, slug
