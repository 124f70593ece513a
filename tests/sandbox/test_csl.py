"""The CSL SIM Insight emulator: strict like the docs, magic ICCIDs, delivery over time."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import xmltodict

from smscli.sandbox.base import DELIVERY_STEP_SECONDS
from smscli.sandbox.server import Sandbox

ICCID = "8944110000000000001"
PREFIX = "894411000000000"
T0 = 1_700_000_000.0
AUTH = "<authentication><username>user</username><password>pw-1234</password></authentication>"


def send_xml(
    *,
    iccid: str | None = ICCID,
    text: str | None = "reset modem",
    coding: str | None = None,
    sms_uid: str | None = None,
    origin: str | None = None,
    auth: str = AUTH,
    attrs: str = 'version="1" api_id="123456"',
    extra: str = "",
) -> str:
    parts = [f"<send_sms {attrs}>", auth]
    for name, value in (
        ("iccid", iccid),
        ("message_text", text),
        ("data_coding", coding),
        ("origin", origin),
        ("sms_uid", sms_uid),
    ):
        if value is not None:
            escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            parts.append(f"<{name}>{escaped}</{name}>")
    parts.append(extra)
    parts.append("</send_sms>")
    return "\n".join(parts)


def query_xml(iccid: str = ICCID, lastx: str | None = None, auth: str = AUTH) -> str:
    last = f"<lastx>{lastx}</lastx>" if lastx is not None else ""
    return (
        f'<query_sms_mt_details version="1" api_id="123456">{auth}<iccid>{iccid}</iccid>'
        f"{last}</query_sms_mt_details>"
    )


@pytest.fixture
def clock() -> list[float]:
    return [T0]


@pytest.fixture
def sandbox(clock: list[float]) -> Sandbox:
    return Sandbox(clock=lambda: clock[0])


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox.test", timeout=5
    ) as c:
        yield c


def post(
    client: httpx.Client,
    body: str,
    content_type: str = "application/xml",
    path: str = "/csl/",
) -> httpx.Response:
    return client.post(path, content=body.encode(), headers={"Content-Type": content_type})


def outcome(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    document = xmltodict.parse(response.content)
    root, content = next(iter(document.items()))
    return root, content


def assert_failure(response: httpx.Response, words: str, status: int = 200) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/xml"
    _root, content = outcome(response)
    assert content["api_outcome"] == "failure"
    assert words in content["error_description"]


# --------------------------------------------------------------------------- accepted


def test_send_sms_success(client: httpx.Client, sandbox: Sandbox) -> None:
    response = post(client, send_xml(sms_uid="job42", origin="447890123456"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    assert outcome(response) == (
        "send_sms_response",
        {"@api_id": "123456", "api_outcome": "success"},
    )
    [stored] = sandbox.messages()
    assert stored["provider"] == "csl" and stored["target"] == ICCID
    assert stored["text"] == "reset modem" and stored["status"] == "accepted"
    assert stored["fields"] == {
        "iccid": ICCID,
        "data_coding": "default",
        "origin": "447890123456",
        "sms_uid": "job42",
    }


def test_charset_parameter_is_fine(client: httpx.Client) -> None:
    response = post(client, send_xml(), "application/xml; charset=utf-8")
    assert outcome(response)[1]["api_outcome"] == "success"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * 160, id="160-chars"),
        pytest.param("{" * 80, id="80-extension-chars"),
        pytest.param("  spaced  \n", id="whitespace-kept"),
        pytest.param('<&>"', id="escaped"),
    ],
)
def test_text_within_limits(client: httpx.Client, sandbox: Sandbox, text: str) -> None:
    assert outcome(post(client, send_xml(text=text)))[1]["api_outcome"] == "success"
    assert sandbox.messages()[0]["text"] == text


def test_binary_within_limits(client: httpx.Client) -> None:
    text = base64.b64encode(bytes(120)).decode()
    response = post(client, send_xml(text=text, coding="binary"))
    assert outcome(response)[1]["api_outcome"] == "success"


def test_messages_listing_has_no_credentials(client: httpx.Client) -> None:
    post(client, send_xml())
    listing = client.get("/_sandbox/messages")
    assert listing.status_code == 200
    [message] = listing.json()["messages"]
    assert message["target"] == ICCID
    dumped = json.dumps(listing.json())
    assert "pw-1234" not in dumped and "user" not in dumped


# --------------------------------------------------------------------------- strictness


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param("<send_sms version='1'", "malformed XML", id="malformed"),
        pytest.param("", "malformed XML", id="empty"),
        pytest.param(send_xml(auth=""), "missing authentication", id="no-auth"),
        pytest.param(
            send_xml(auth="<authentication><username>u</username></authentication>"),
            "missing authentication",
            id="no-password",
        ),
        pytest.param(send_xml(iccid=None), "missing parameter: iccid", id="no-iccid"),
        pytest.param(send_xml(text=None), "missing parameter: message_text", id="no-text"),
        pytest.param(send_xml(text=""), "missing parameter: message_text", id="empty-text"),
        pytest.param(send_xml(text="x" * 161), "invalid content", id="161-chars"),
        pytest.param(send_xml(text="x" * 79 + "{" * 41), "invalid content", id="extension-161"),
        pytest.param(
            send_xml(text=base64.b64encode(bytes(121)).decode(), coding="binary"),
            "121 bytes",
            id="binary-121-bytes",
        ),
        pytest.param(send_xml(text="not base64!", coding="binary"), "base64", id="binary-not-b64"),
        pytest.param(send_xml(coding="7bit"), "data_coding", id="bad-coding"),
        pytest.param(send_xml(sms_uid="1234567890123"), "sms_uid", id="sms-uid-13"),
        pytest.param(send_xml(sms_uid="job-42"), "sms_uid", id="sms-uid-dash"),
        pytest.param(send_xml(iccid="12345"), "invalid identifier", id="short-iccid"),
        pytest.param(send_xml(iccid="89ABC00000000000001"), "invalid identifier", id="hex-iccid"),
        pytest.param(send_xml(extra="<priority>1</priority>"), "unknown element", id="unknown"),
        pytest.param(send_xml(extra=f"<iccid>{ICCID}</iccid>"), "more than once", id="twice"),
        pytest.param(
            send_xml(iccid=None, extra=f"<iccid><value>{ICCID}</value></iccid>"),
            "must be text",
            id="structured",
        ),
        pytest.param(send_xml(attrs='version="1"'), "missing api_id", id="no-api-id"),
        pytest.param(send_xml(attrs='version="2" api_id="1"'), "version", id="bad-version"),
        pytest.param("<sendSMS version='1' api_id='1'/>", "unknown command", id="bad-root"),
    ],
)
def test_send_sms_refusals(client: httpx.Client, sandbox: Sandbox, body: str, words: str) -> None:
    assert_failure(post(client, body), words)
    assert sandbox.messages() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "text/xml", ""])
def test_wrong_content_type(client: httpx.Client, content_type: str) -> None:
    assert_failure(post(client, send_xml(), content_type), "content type")


def test_refused_password(client: httpx.Client, sandbox: Sandbox) -> None:
    auth = "<authentication><username>u</username><password>refused</password></authentication>"
    assert_failure(post(client, send_xml(auth=auth)), "invalid authentication credentials")
    assert sandbox.messages() == []


def test_reply_echoes_api_id_and_root(client: httpx.Client) -> None:
    root, content = outcome(post(client, send_xml(text=None)))
    assert root == "send_sms_response" and content["@api_id"] == "123456"


def test_get_and_other_paths(client: httpx.Client) -> None:
    assert_failure(client.get("/csl/"), "POST", status=405)
    assert_failure(post(client, send_xml(), path="/csl/api"), "no resource", status=404)


# --------------------------------------------------------------------------- magic


@pytest.mark.parametrize(
    ("suffix", "words"),
    [
        pytest.param("0400", "rejected by operator", id="0400"),
        pytest.param("0401", "invalid authentication credentials", id="0401"),
        pytest.param("0404", "unknown identifier", id="0404"),
    ],
)
def test_magic_refusals_in_200(
    client: httpx.Client, sandbox: Sandbox, suffix: str, words: str
) -> None:
    assert_failure(post(client, send_xml(iccid=PREFIX + suffix)), words)
    assert sandbox.messages() == []


@pytest.mark.parametrize(("suffix", "status"), [("0429", 429), ("0500", 500)])
def test_magic_http_errors(client: httpx.Client, suffix: str, status: int) -> None:
    response = post(client, send_xml(iccid=PREFIX + suffix))
    assert response.status_code == status
    if status == 429:
        assert response.headers["retry-after"] == "0"


def test_magic_drop_and_slow_keep_the_message(client: httpx.Client, sandbox: Sandbox) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, send_xml(iccid=PREFIX + "0444"))
    with pytest.raises(httpx.ReadTimeout):
        post(client, send_xml(iccid=PREFIX + "0408"))
    # Both were taken before the reply was lost: that is what "outcome unknown" means.
    assert [m["target"] for m in sandbox.messages()] == [PREFIX + "0444", PREFIX + "0408"]


def test_magic_0419_is_accepted_there_is_no_session(client: httpx.Client) -> None:
    assert outcome(post(client, send_xml(iccid=PREFIX + "0419")))[1]["api_outcome"] == "success"


# --------------------------------------------------------------------------- delivery


def sms_list(response: httpx.Response) -> list[dict[str, Any]] | None:
    root, content = outcome(response)
    assert root == "query_sms_mt_details_response"
    assert content["api_outcome"] == "success"
    sms = content["sms"]
    if sms is None:
        return None
    return sms if isinstance(sms, list) else [sms]


def test_delivery_progression(client: httpx.Client, clock: list[float]) -> None:
    post(client, send_xml(sms_uid="abc123"))
    seen = []
    for step in (0.0, 1.5, 3.0):
        clock[0] = T0 + step
        [sms] = sms_list(post(client, query_xml())) or []
        seen.append((sms["status"], sms["delivered_timestamp"]))
    assert seen == [
        ("pending", None),
        ("sent", None),
        ("delivered", "14/11/2023 22:13:22"),
    ]
    assert sms == {
        "sent_timestamp": "14/11/2023 22:13:20",
        "sms_uid": "abc123",
        "status": "delivered",
        "delivered_timestamp": "14/11/2023 22:13:22",
        "origin": "api",
        "message_text": "reset modem",
    }


@pytest.mark.parametrize(("suffix", "final"), [("0410", "failed"), ("0411", "expired")])
def test_delivery_failures(
    client: httpx.Client, clock: list[float], suffix: str, final: str
) -> None:
    post(client, send_xml(iccid=PREFIX + suffix, sms_uid="u1"))
    clock[0] = T0 + 3 * DELIVERY_STEP_SECONDS
    [sms] = sms_list(post(client, query_xml(PREFIX + suffix))) or []
    assert sms["status"] == final and sms["delivered_timestamp"] is None


def test_query_newest_first_lastx_and_sms_uid_only_when_set(client: httpx.Client) -> None:
    for uid in ("first", None, "third"):
        post(client, send_xml(sms_uid=uid, text=f"msg {uid}"))
    [newest] = sms_list(post(client, query_xml())) or []  # lastx defaults to 1
    assert newest["sms_uid"] == "third"
    listed = sms_list(post(client, query_xml(lastx="20"))) or []
    assert [s.get("sms_uid") for s in listed] == ["third", None, "first"]
    assert [s["message_text"] for s in listed] == ["msg third", "msg None", "msg first"]


def test_query_no_messages_is_one_empty_sms(client: httpx.Client) -> None:
    response = post(client, query_xml())
    assert sms_list(response) is None
    assert b"<sms></sms>" in response.content


def test_query_only_that_sims_messages(client: httpx.Client) -> None:
    post(client, send_xml(iccid=PREFIX + "1234"))
    assert sms_list(post(client, query_xml())) is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(query_xml(lastx="0"), "lastx", id="lastx-0"),
        pytest.param(query_xml(lastx="21"), "lastx", id="lastx-21"),
        pytest.param(query_xml(lastx="x"), "lastx", id="lastx-text"),
        pytest.param(query_xml(iccid=PREFIX + "0404"), "unknown identifier", id="unknown-iccid"),
        pytest.param(query_xml(iccid=PREFIX + "0401"), "authentication", id="auth"),
        pytest.param(query_xml(auth=""), "missing authentication", id="no-auth"),
        pytest.param(
            "<query_sms_mt_details version='1' api_id='1'>" + AUTH + "</query_sms_mt_details>",
            "missing parameter: iccid",
            id="no-iccid",
        ),
    ],
)
def test_query_refusals(client: httpx.Client, body: str, words: str) -> None:
    response = post(client, body)
    assert_failure(response, words)
    assert outcome(response)[0] == "query_sms_mt_details_response"


def test_query_lists_no_replies_of_the_device(
    client: httpx.Client, sandbox: Sandbox, clock: list[float]
) -> None:
    # A device answers "status?" (sandbox.base); CSL has no pull call for MO (push only), so
    # the reply is in /_sandbox/messages but never in the SMS-MT listing.
    post(client, send_xml(sms_uid="q1", text="status?"))
    clock[0] = T0 + 10
    post(client, send_xml(sms_uid="q2", text="reboot"))
    clock[0] = T0 + 60
    listed = sms_list(post(client, query_xml(lastx="20"))) or []
    assert [(s["sms_uid"], s["message_text"]) for s in listed] == [
        ("q2", "reboot"),
        ("q1", "status?"),
    ]
    [reply] = [m for m in sandbox.messages() if m["direction"] == "mo"]
    assert reply["text"] == "ACK: status?" and reply["target"] == ICCID
    assert reply["id"].startswith("csl-mo-") and "sms_uid" not in reply["fields"]
    [newest] = sms_list(post(client, query_xml())) or []  # lastx 1: the newest MT, not the MO
    assert newest["sms_uid"] == "q2"
