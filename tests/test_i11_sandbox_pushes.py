"""Issue 11: the sandbox PUSHES the webhook contract's callbacks to what is registered with
it (a real `smscli sandbox` process, a loopback receiver standing in for `smscli listen`):
ThingSpace (registered with Verizon's own SDK), emnify (HS256 JWT), Fone Dynamics (per
message, POST and GET), CSL and Telit (the `/_sandbox/push/*` portal stand-ins); the
`/_sandbox/pushes` log, retries and bad URLs; the registration endpoints' checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import time
from typing import Any

import httpx
import pytest
import xmltodict
from verizon.models.register_callback_request import RegisterCallbackRequest
from verizon.models.sms_send_request import SMSSendRequest

from smscli.sandbox.pushes import Push, Pusher, hs256_jwt, masked
from smscli.sandbox.server import Sandbox
from tests.callback_receiver import Receiver, receiver
from tests.conftest import SCRIPT, free_port
from tests.test_i10_thingspace_client import account_name, device, log_in

__all__ = ["receiver"]  # the fixture, used by name


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip


def verify_hs256(token: str, secret: str) -> dict[str, Any]:
    """The claims of an HS256 JWT whose signature ``secret`` makes (stdlib only)."""
    header, payload, signature = token.split(".")

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(decode(header)) == {"alg": "HS256", "typ": "JWT"}
    expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    assert hmac.compare_digest(decode(signature), expected.digest())
    claims: dict[str, Any] = json.loads(decode(payload))
    return claims


def unique_digits(n: int) -> str:
    return "".join(secrets.choice("123456789") for _ in range(n))


# --------------------------------------------------------------------------- ThingSpace


def test_thingspace_pushes_delivery_sent_and_reply(
    sandbox_process: str, receiver: Receiver
) -> None:
    api, _ = log_in(sandbox_process)
    account = account_name()
    url = f"{receiver.url}/thingspace"
    for service in ("SMSDeliveryConfirmation", "EnhancedConnectivityService"):
        done = api.connectivity_callbacks.register_callback(
            account,
            RegisterCallbackRequest(name=service, url=url, username="smscli", password="pw-1"),
        )
        assert done.status_code == 200
        assert done.body.service_name == service
    listed = api.connectivity_callbacks.list_registered_callbacks(account)
    assert sorted(c.service_name for c in listed.body) == [
        "EnhancedConnectivityService",
        "SMSDeliveryConfirmation",
    ]
    sent = api.sms.send_sms_to_device(
        SMSSendRequest(account_name=account, sms_message="status?", device_ids=[device(7)])
    )
    request_id = sent.body.request_id

    def mine(r: Any) -> bool:
        return (
            r.path == "/thingspace"
            and r.json()["password"] == "pw-1"
            and (r.json().get("requestId") == request_id or "message" in r.json())
        )

    got = receiver.wait_for(mine, count=3)
    by_kind = {("deviceResponse" in r.json(), "message" in r.json()): r.json() for r in got}
    delivered = by_kind[(True, False)]
    assert delivered == {
        "username": "smscli",
        "password": "pw-1",
        "requestId": request_id,
        "deviceIds": [{"id": device(7).id, "kind": "Iccid"}],
        "deviceResponse": {"smsDeliveryResponse": {"confirmation": "Delivered"}},
    }
    handed = by_kind[(False, False)]
    assert handed["comment"] == "SendSmsMessage,Performed action on device."
    assert handed["status"] == "Success" and handed["requestId"] == request_id
    reply = by_kind[(False, True)]
    assert reply["message"] == "ACK: status?"
    assert reply["deviceIds"] == [{"id": device(7).id, "kind": "iccid"}]
    assert reply["timestamp"]
    assert all(r.method == "POST" and r.headers["content-type"] == "application/json" for r in got)
    # Deregistered: the SDK's call, then no listener is left.
    for service in ("SMSDeliveryConfirmation", "EnhancedConnectivityService"):
        gone = api.connectivity_callbacks.deregister_callback(account, service)
        assert gone.status_code == 200
    assert api.connectivity_callbacks.list_registered_callbacks(account).body == []


def test_thingspace_undelivered_and_registration_checks() -> None:
    """In-process, on a fake clock: …0410 pushes Undelivered, …0411 Expired; the
    registration refuses what the docs require (name, url) and an unknown service."""
    clock = [1_000_000.0]
    sandbox = Sandbox(clock=lambda: clock[0])
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200)

    sandbox.start(push_transport=httpx.MockTransport(record))
    try:
        client = httpx.Client(transport=sandbox.transport(), base_url="http://sbx/thingspace")
        token = client.post(
            "/api/ts/v1/oauth2/token",
            auth=("k", "s"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        session = client.post(
            "/api/m2m/v1/session/login", headers=bearer, json={"username": "u", "password": "p"}
        ).json()["sessionToken"]
        headers = {**bearer, "VZ-M2M-Token": session}
        path = "/api/m2m/v1/callbacks/acct-1"
        for body, code in (
            ({"url": "http://x.test/"}, "UnifiedWebService.REQUEST_FAILED.UnexpectedError"),
            ({"name": "SMSDeliveryConfirmation"}, "UnifiedWebService.REQUEST_FAILED.UnexpectedError"),
            ({"name": "Nope", "url": "http://x.test/"}, "UnifiedWebService.INPUT_INVALID.ServiceName"),
            ({"name": "SMSDeliveryConfirmation", "url": "ftp://x.test/"},
             "UnifiedWebService.REQUEST_FAILED.UnexpectedError"),
        ):  # fmt: skip
            refused = client.post(path, headers=headers, json=body)
            assert refused.status_code == 400 and refused.json()["errorCode"] == code
        assert client.post(path, json={}).status_code == 401  # no bearer
        missing = client.delete(f"{path}/name/SMSDeliveryConfirmation", headers=headers)
        assert missing.status_code == 400
        ok = client.post(
            path, headers=headers, json={"name": "SMSDeliveryConfirmation", "url": "http://r.test/"}
        )
        assert ok.json() == {"accountName": "acct-1", "serviceName": "SMSDeliveryConfirmation"}
        for n in ("0410", "0411"):
            client.post(
                "/api/m2m/v1/sms",
                headers=headers,
                json={
                    "accountName": "acct-1",
                    "smsMessage": "hi",
                    "deviceIds": [{"kind": "iccid", "id": f"891480000008001{n}"}],
                },
            )
        clock[0] += 2.5
        sandbox.emulator("thingspace").settle()
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        words = sorted(
            json.loads(r.content)["deviceResponse"]["smsDeliveryResponse"]["confirmation"]
            for r in seen
        )
        assert words == ["Expired", "Undelivered"]
        # Registered without credentials: the pushes carry none.
        assert all("password" not in json.loads(r.content) for r in seen)
    finally:
        sandbox.close()


# --------------------------------------------------------------------------- emnify


def emnify_client(base: str) -> httpx.Client:
    client = httpx.Client(base_url=f"{base}/emnify", timeout=10)
    token = client.post("/api/v1/authenticate", json={"application_token": "t"}).json()
    client.headers["Authorization"] = f"Bearer {token['auth_token']}"
    return client


def test_emnify_pushes_mo_and_receipt_with_a_jwt(sandbox_process: str, receiver: Receiver) -> None:
    client = emnify_client(sandbox_process)
    try:
        emnify_round_trip(client, sandbox_process, receiver)
    finally:
        client.close()


def emnify_round_trip(client: httpx.Client, sandbox_process: str, receiver: Receiver) -> None:
    secret = "s3cret-" + secrets.token_hex(4)
    created = client.post("/api/v1/api_callback", json={"url": f"{receiver.url}/emnify"})
    assert created.status_code == 201, created.text
    callback_id = created.json()["id"]
    stored = client.post("/api/v1/api_secret", json={"secret": secret, "purpose": "smscli"})
    assert stored.status_code == 201
    secret_id = stored.json()["id"]
    assert secret not in client.get("/api/v1/api_secret").text  # never returned
    try:
        endpoint = unique_digits(5) + "1"
        payload = f"status {unique_digits(6)}?"
        done = run("emnify", "--base-url", f"{sandbox_process}/emnify", "--application-token",
                   "t", "-t", f"endpoint:{endpoint}", "--json", payload)  # fmt: skip
        assert done.returncode == 0, done.stderr
        sms_id = json.loads(done.stdout)["results"][0]["message_id"]

        def mine(r: Any) -> bool:
            return r.json()["endpoint"]["id"] == int(endpoint)

        got = {r.method: r for r in receiver.wait_for(mine, count=2)}
        receipt, mo = got["PATCH"], got["POST"]
        assert receipt.json()["id"] == int(sms_id)
        assert receipt.json()["status"]["id"] == 4
        assert receipt.json()["payload"] == payload
        assert mo.json()["payload"] == "ACK: " + payload
        assert mo.json()["sms_type"] == {"id": 2, "description": "MO"}
        assert set(mo.json()) >= {"id", "endpoint", "organisation", "source_address",
                                  "dest_address", "dcs", "pid", "submit_date"}  # fmt: skip
        for request in (receipt, mo):
            scheme, _, token = request.headers["authorization"].partition(" ")
            assert scheme == "Bearer"
            claims = verify_hs256(token, secret)
            assert claims["exp"] > time.time() > claims["iat"] - 5
    finally:
        assert client.delete(f"/api/v1/api_callback/{callback_id}").status_code == 204
        assert client.delete(f"/api/v1/api_secret/{secret_id}").status_code == 204
    assert client.get(f"/api/v1/api_callback/{callback_id}").status_code == 404


def test_emnify_registration_checks_and_service_profile() -> None:
    sandbox = Sandbox()
    client = httpx.Client(transport=sandbox.transport(), base_url="http://sbx/emnify")
    token = client.post("/api/v1/authenticate", json={"application_token": "t"}).json()
    client.headers["Authorization"] = f"Bearer {token['auth_token']}"
    assert client.post("/api/v1/api_callback", json={}).status_code == 422
    assert client.post("/api/v1/api_callback", json={"url": "mailto:x@y"}).status_code == 422
    assert client.post("/api/v1/api_secret", json={"purpose": "x"}).status_code == 422
    assert httpx.Client(transport=sandbox.transport()).get(
        "http://sbx/emnify/api/v1/api_callback"
    ).status_code == 401  # fmt: skip
    first = client.post("/api/v1/api_callback", json={"url": "http://a.test/"}).json()["id"]
    client.post("/api/v1/api_callback", json={"url": "http://b.test/"})
    emulator: Any = sandbox.emulator("emnify")
    assert emulator._push_target() == ("http://b.test/", None)  # the newest applies
    linked = client.patch("/api/v1/service_profile/1", json={"api_callback": {"id": first}})
    assert linked.status_code == 204
    assert emulator._push_target() == ("http://a.test/", None)  # the service profile's
    unknown = client.patch("/api/v1/service_profile/1", json={"api_secret": {"id": 999}})
    assert unknown.status_code == 404


# --------------------------------------------------------------------------- Fone Dynamics


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_fonedynamics_pushes_receipt_and_reply_per_message(
    sandbox_process: str, receiver: Receiver, method: str
) -> None:
    to = "+614" + unique_digits(8)
    done = run(
        "fonedynamics", "--base-url", f"{sandbox_process}/fonedynamics", "--account-sid", "AC1",
        "--token", "tok", "--property-sid", "PR1", "-t", to, "--json",
        "--receipt-webhook", f"{receiver.url}/fonedynamics?token=abc",
        "--receipt-method", method,
        "--reply-webhook", f"{receiver.url}/fonedynamics?token=abc", "--reply-method", method,
        "ping?",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sid = json.loads(done.stdout)["results"][0]["message_id"]

    def fields(r: Any) -> dict[str, Any]:
        return dict(r.query) if r.method == "GET" else r.json()

    got = receiver.wait_for(lambda r: to in (fields(r)["To"], fields(r)["From"]), count=2)
    assert {r.method for r in got} == {method}
    assert all(r.query["token"] == "abc" for r in got)
    receipt = next(fields(r) for r in got if fields(r)["Direction"] == "Transmit")
    reply = next(fields(r) for r in got if fields(r)["Direction"] == "Receive")
    assert receipt["MessageSid"] == sid and receipt["Status"] == "Delivered"
    assert reply["Status"] == "Received" and reply["Text"] == "ACK: ping?"
    assert reply["MessageSid"] != sid
    log = httpx.get(f"{sandbox_process}/_sandbox/pushes").json()["pushes"]
    assert any(e["url"].endswith("token=***") and e["status"] == 200 for e in log)
    assert "token=abc" not in json.dumps(log)


# --------------------------------------------------------------------------- CSL, Telit


def test_csl_post_services(sandbox_process: str, receiver: Receiver) -> None:
    portal = f"{sandbox_process}/_sandbox/push/csl"
    assert httpx.put(portal, json={"url": "nope"}).status_code == 400
    set_up = httpx.put(portal, json={"url": f"{receiver.url}/csl", "secret": "pass-phrase"})
    assert set_up.status_code == 200
    assert "pass-phrase" not in set_up.text
    iccid = "8944" + unique_digits(15)
    try:
        done = run("csl", "--base-url", f"{sandbox_process}/csl", "--username", "u",
                   "--password", "p", "--api-id", "1", "-t", f"iccid:{iccid}", "--ref", "abc123",
                   "--json", "ok?")  # fmt: skip
        assert done.returncode == 0, done.stderr

        def mine(r: Any) -> bool:
            return iccid.encode() in r.body

        got = receiver.wait_for(mine, count=2)
    finally:
        assert httpx.delete(portal).json()["deleted"] is True
    docs = {next(iter(xmltodict.parse(r.body))): r for r in got}
    receipt = xmltodict.parse(docs["post_delivery_receipt"].body)["post_delivery_receipt"]
    assert receipt["passphrase"] == "pass-phrase"
    assert receipt["iccid"] == iccid and receipt["sms_uid"] == "abc123"
    assert receipt["status"] == "delivered" and receipt["@version"] == "1"
    assert receipt["@api_did"] and len(receipt["timestamp"]) == 19
    mo = xmltodict.parse(docs["post_sms"].body)["post_sms"]
    assert mo["message_text"] == "ACK: ok?" and mo["passphrase"] == "pass-phrase"
    for request in got:
        assert request.headers["user-agent"] == "CSL SIM Insight/1.0.0"
        assert request.headers["content-type"].startswith("text/xml")


def test_telit_push_sms_template(sandbox_process: str, receiver: Receiver) -> None:
    portal = f"{sandbox_process}/_sandbox/push/telit"
    assert (
        httpx.put(portal, json={"url": f"{receiver.url}/telit", "secret": "tk"}).status_code == 200
    )
    shown = httpx.get(portal).json()["push"]
    assert shown == {"url": f"{receiver.url}/telit", "secret": True}
    iccid = "8901" + unique_digits(15)
    text = 'say "hi"\\?'
    try:
        done = run("telit", "--base-url", f"{sandbox_process}/telit", "--username", "u",
                   "--password", "p", "-t", f"iccid:{iccid}", "--json", text)  # fmt: skip
        assert done.returncode == 0, done.stderr
        got = receiver.wait_for(lambda r: r.json()["iccid"] == iccid, count=2)
    finally:
        httpx.delete(portal)
    assert all(r.query == {"token": "tk"} and r.method == "POST" for r in got)
    events = {r.json()["type"]: r.json() for r in got}
    assert events["mt"]["status"] == "delivered" and events["mt"]["body"] == text
    assert events["mt"]["uuid"] == json.loads(done.stdout)["results"][0]["message_id"]
    assert events["mo"]["status"] == "received" and events["mo"]["body"] == "ACK: " + text
    assert events["mo"]["smscli"] == "telit-push/1"


# --------------------------------------------------------------------------- the pusher


def test_pusher_retries_connect_errors_and_never_fails_on_a_bad_url() -> None:
    pusher = Pusher()
    dead = f"http://127.0.0.1:{free_port()}/x?token=secret"
    try:
        pusher.submit(Push("emnify", "mo", dead, "POST", b"{}"))
        pusher.submit(Push("emnify", "mo", "http://[not-a-host/", "POST", b"{}"))
        time.sleep(2.0)  # the two backoffs (0.5 s, 1 s) of the first push
        deadline = time.monotonic() + 10
        while len(pusher.log()) < 4 and time.monotonic() < deadline:  # 3 attempts + 1
            time.sleep(0.05)
    finally:
        pusher.close()
    log = pusher.log()
    retried = [e for e in log if e["url"].startswith("http://127.0.0.1")]
    assert [e["attempt"] for e in retried] == [1, 2, 3]
    assert all(e["status"] is None and "Connect" in e["error"] for e in retried)
    assert all("secret" not in json.dumps(e) for e in log)
    assert any(e["url"].startswith("http://[") and e["error"] for e in log)


def test_pusher_retries_a_5xx_then_stops(receiver: Receiver) -> None:
    receiver.status = 503
    pusher = Pusher()
    try:
        pusher.submit(Push("csl", "post_sms", receiver.url + "/csl", "POST", b"<x/>"))
        receiver.wait_for(lambda r: True, count=3, timeout=10)
        deadline = time.monotonic() + 5
        while len(pusher.log()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)  # the third answer is recorded after the receiver saw it
    finally:
        pusher.close()
    assert [e["status"] for e in pusher.log()] == [503, 503, 503]


def test_helpers() -> None:
    assert masked("http://h/x?a=1&token=abc&b=2") == "http://h/x?a=1&token=***&b=2"
    assert verify_hs256(hs256_jwt("k", {"a": 1}), "k") == {"a": 1}
