"""Fone Dynamics' Java client against a real `smscli sandbox` process (issue 10).

The client (fonedynamics/fonedynamics-java @ 7161c75, Maven com.fonedynamics:fonedynamics-apiclient)
is on no registry this project installs from, so these tests make its requests with httpx, as
it makes them (HttpClient.java, Request.java, MessageResource.java, BatchMessageResource.java):

- Apache HttpClient with a credentials provider and no preemptive auth: each call first goes
  out without an Authorization header, and only a 401 carrying ``WWW-Authenticate: Basic``
  makes it send the same request again with Basic AccountSid:Token. A new HttpClient per call,
  so every call goes through the challenge.
- Headers ``Accept: application/json``, ``AcceptEncoding: utf-8`` and ``Content-type`` with
  the body's type, or with no value on a GET (``addHeader("Content-type", null)``).
- The body is Gson's JSON of the MessageResource (null fields left out, DeliveryReceipt
  always), encoded by StringEntity in ISO-8859-1.

Also what the next issue's reply polling needs: the search with ``Direction=Receive`` finds a
device's "ACK: …" answer to a message ending in "?" (bounded polling, at most 6 s).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Generator
from typing import Any

import httpx
import pytest

POLL_SECONDS = 6.0
ACCOUNT = "ACi10java"
TOKEN = "tok-i10-java"


class ChallengedBasic(httpx.Auth):
    """Apache HttpClient's Basic auth with a credentials provider: no credentials until a
    401 asks for Basic, then the same request once more with them (never twice)."""

    requires_request_body = True

    def __init__(self, user: str, password: str) -> None:
        pair = f"{user}:{password}".encode("latin-1")
        self.header = "Basic " + base64.b64encode(pair).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        assert "authorization" not in request.headers
        response = yield request
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code != 401 or not challenge.lower().startswith("basic"):
            return
        request.headers["Authorization"] = self.header
        yield request


class JavaClient:
    """One FoneDynamicsClient: AccountSid, Token and a default PropertySid."""

    def __init__(self, base_url: str, account: str = ACCOUNT, token: str = TOKEN) -> None:
        self.base = base_url + "/fonedynamics"
        self.account = account
        self.token = token
        self.property = "PRi10" + uuid.uuid4().hex[:12].upper()  # this test's own messages
        # (had Authorization, status, WWW-Authenticate) of every exchange on the wire
        self.exchanges: list[tuple[bool, int, str | None]] = []

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        content_type: str | None = "application/json",
    ) -> httpx.Response:
        def seen(response: httpx.Response) -> None:
            self.exchanges.append(
                (
                    "authorization" in response.request.headers,
                    response.status_code,
                    response.headers.get("www-authenticate"),
                )
            )

        headers = {"Accept": "application/json", "AcceptEncoding": "utf-8"}
        content = None
        if body is not None:
            # Gson: nulls left out, non-ASCII as is; StringEntity: ISO-8859-1 ("?" if not).
            text = json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)
            content = text.encode("latin-1", "replace")
        if content_type is not None:
            headers["Content-type"] = content_type if body is not None else ""
        auth = ChallengedBasic(self.account, self.token)
        with httpx.Client(
            auth=auth, timeout=10, event_hooks={"response": [seen]}, trust_env=False
        ) as client:  # a new HttpClient per call, as HttpClient.GetHttpClient() builds one
            return client.request(
                method, self.base + path, headers=headers, content=content, params=params
            )

    def send(self, to: str, text: str, sender: str | None = None) -> httpx.Response:
        body = {"To": to, "Text": text, "From": sender, "DeliveryReceipt": True}
        return self.call("POST", f"/v2/Properties/{self.property}/Messages", body)

    def get(self, sid: str) -> httpx.Response:
        return self.call("GET", f"/v2/Messages/{sid}")

    def batch(self, messages: list[dict[str, Any]]) -> httpx.Response:
        return self.call(
            "POST", f"/v2/Properties/{self.property}/BatchMessages", {"Messages": messages}
        )

    def search(self, **params: Any) -> httpx.Response:
        now = int(time.time())
        query = {"Date_From": now - 600, "Date_To": now + 3600} | params
        return self.call("GET", f"/v2/Properties/{self.property}/Messages", params=query)


@pytest.fixture
def java(sandbox_process: str) -> JavaClient:
    return JavaClient(sandbox_process)


def test_the_java_client_signs_in_after_the_challenge(java: JavaClient) -> None:
    response = java.send("+61488023555", "Hello from Java")
    assert response.status_code == 200, response.text
    message = response.json()["Message"]
    assert message["AccountSid"] == ACCOUNT and message["PropertySid"] == java.property
    assert message["Text"] == "Hello from Java"
    [(first_auth, first, challenge), (second_auth, second, again)] = java.exchanges
    assert (first_auth, first) == (False, 401)
    assert challenge is not None and challenge.startswith('Basic realm="')
    assert (second_auth, second, again) == (True, 200, None)


def test_the_first_request_without_credentials_sends_nothing(java: JavaClient) -> None:
    """The unauthenticated first try of a send must not send the message: one message for
    one call, although the request went out twice."""
    text = "Once only " + uuid.uuid4().hex
    assert java.send("+61488023555", text).status_code == 200
    found = java.search(Direction="Transmit").json()["Messages"]
    assert [m["Text"] for m in found] == [text]


def test_refused_credentials_end_after_one_retry(sandbox_process: str) -> None:
    java = JavaClient(sandbox_process, token="refused")
    response = java.send("+61488023555", "Hi")
    assert response.status_code == 401
    assert response.json()["ResponseStatus"]["ErrorCode"] == "UNAUTHORIZED"
    assert [(a, s) for a, s, _ in java.exchanges] == [(False, 401), (True, 401)]
    assert all(c is not None and c.startswith("Basic ") for _, _, c in java.exchanges)


def test_get_a_message_with_the_empty_content_type_of_a_java_get(java: JavaClient) -> None:
    sid = java.send("+61488023555", "Fetch me", sender="FDX").json()["Message"]["MessageSid"]
    response = java.get(sid)
    assert response.status_code == 200, response.text
    message = response.json()["Message"]
    assert (message["MessageSid"], message["From"], message["Direction"]) == (
        sid,
        "FDX",
        "Transmit",
    )
    assert message["Status"] in ("Processing", "Submitted", "Delivered")
    # The GET, too, was challenged first.
    assert [(a, s) for a, s, _ in java.exchanges[-2:]] == [(False, 401), (True, 200)]


def test_a_request_without_content_type(java: JavaClient) -> None:
    """A JSON body with no Content-Type at all is read as JSON (UNCONFIRMED for the real
    API; the documented body is JSON)."""
    body = {"To": "+61488023555", "Text": "No type"}
    response = java.call(
        "POST", f"/v2/Properties/{java.property}/Messages", body, content_type=None
    )
    assert response.status_code == 200, response.text
    assert response.json()["Message"]["Text"] == "No type"


def test_a_latin_1_body_as_string_entity_encodes_it(java: JavaClient) -> None:
    response = java.send("+61488023555", "Café ok")
    assert response.status_code == 200, response.text
    assert response.json()["Message"]["Text"] == "Caf\ufffd ok"


def test_the_search_finds_the_devices_answer(java: JavaClient) -> None:
    """What a reply poller does: send a question, then search Direction=Receive until the
    device's "ACK: …" arrives (about three seconds after the send)."""
    device, sender = "+61488023557", "+61499009990"
    question = f"Status {uuid.uuid4().hex[:6]}?"
    sent = java.send(device, question, sender=sender)
    assert sent.status_code == 200, sent.text
    sent_sid = sent.json()["Message"]["MessageSid"]
    deadline = time.monotonic() + POLL_SECONDS
    replies: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = java.search(Direction="Receive")
        assert response.status_code == 200, response.text
        replies = response.json()["Messages"]
        if replies:
            break
        time.sleep(0.25)
    [reply] = replies
    assert reply["Text"] == "ACK: " + question
    assert (reply["From"], reply["To"]) == (device, sender)
    assert (reply["Direction"], reply["Status"]) == ("Receive", "Received")
    assert reply["MessageSid"] != sent_sid and reply["Received"] is not None
    # The reply's MessageSid can be fetched like any message.
    fetched = java.get(reply["MessageSid"])
    assert fetched.status_code == 200
    assert fetched.json()["Message"] == reply
    # Both directions together, oldest first; the question was delivered.
    both = java.search().json()["Messages"]
    assert [(m["Direction"], m["Status"]) for m in both] == [
        ("Transmit", "Delivered"),
        ("Receive", "Received"),
    ]


def test_batch_send(java: JavaClient) -> None:
    """BatchMessageResource.send: a list in, a list out, each entry a message or its error."""
    messages = [
        {"To": "+61488023555", "Text": "and a one", "From": "FDX", "DeliveryReceipt": True},
        {"To": "+61488023556", "Text": "and a two", "From": "FDX", "DeliveryReceipt": True},
        {"To": "0488023555", "Text": "and a one, two, three!", "DeliveryReceipt": True},
    ]
    response = java.batch(messages)
    assert response.status_code == 200, response.text
    entries = response.json()
    assert len(entries) == 3
    ok = [e for e in entries if e.get("MessageSid") is not None]  # getSuccessful()
    assert [e["Text"] for e in ok] == ["and a one", "and a two"]
    failed = entries[2]
    assert "MessageSid" not in failed
    assert failed["ErrorCode"] == "INVALID_PARAMETER" and failed["Message"]  # getErrorMessage()
    for entry in ok:
        got = java.get(entry["MessageSid"]).json()["Message"]
        assert (got["To"], got["Text"], got["PropertySid"]) == (
            entry["To"],
            entry["Text"],
            java.property,
        )
    listed = java.search(Direction="Transmit").json()["Messages"]
    assert sorted(m["Text"] for m in listed) == ["and a one", "and a two"]
