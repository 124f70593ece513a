"""The Fone Dynamics emulator: as strict as seed 004 and the errors page, magic targets work."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest

from smscli.sandbox.base import DELIVERY_STEP_SECONDS, MAGIC, SLOW_SECONDS, Drop, Slow
from smscli.sandbox.fonedynamics import CHALLENGE, LEASED_NUMBER
from smscli.sandbox.server import Sandbox

T0 = 1_700_000_000.0
HOST = "http://sandbox.test"
SEND = "/fonedynamics/v2/Properties/PR1/Messages"
BATCH = "/fonedynamics/v2/Properties/PR1/BatchMessages"
TO = "+61488023555"
TOKEN = "tok-Secret-987"


def basic(sid: str = "AC1", token: str = TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


def magic_to(suffix: str) -> str:
    return "+6140000" + suffix  # +61400000400 and friends


class Api:
    """Requests straight into ``Sandbox.handle`` with a clock the test moves."""

    def __init__(self) -> None:
        self.now = [T0]
        self.sandbox = Sandbox(clock=lambda: self.now[0])

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        auth: str | None = None,
        content_type: str | None = "application/json",
    ) -> httpx.Response:
        headers = {} if auth is None else {"Authorization": auth}
        if content is None and body is not None:
            content = json.dumps(body).encode()
        if content is not None and content_type is not None:
            headers["Content-Type"] = content_type
        return self.sandbox.handle(
            httpx.Request(method, HOST + path, headers=headers, content=content)
        )

    def send(self, body: Any, *, auth: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", SEND, body=body, auth=auth or basic(), **kw)

    def get(self, sid: str, *, auth: str | None = None) -> httpx.Response:
        return self.request("GET", f"/fonedynamics/v2/Messages/{sid}", auth=auth or basic())

    def messages(self) -> list[dict[str, Any]]:
        return self.sandbox.messages()


@pytest.fixture
def api() -> Api:
    return Api()


_DROP = object()  # simple(To=_DROP) leaves To out


def simple(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"To": TO, "Text": "You win again, gravity!"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not _DROP}


def assert_error(
    response: httpx.Response, status: int, code: str, fields: list[str] | None = None
) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert list(data) == ["ResponseStatus"]
    rs = data["ResponseStatus"]
    assert set(rs) == {"ErrorCode", "Message", "Errors"}
    assert rs["ErrorCode"] == code
    assert isinstance(rs["Message"], str) and rs["Message"]
    if fields is not None:
        assert rs["Errors"] == [{"FieldName": f} for f in fields]


# --------------------------------------------------------------------------- accepted


def test_accepted_reply_shape(api: Api) -> None:
    response = api.send(simple(From="+61499009990"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert list(data) == ["Message"]
    message = data["Message"]
    assert set(message) == {"MessageSid", "AccountSid", "PropertySid", "From", "To", "Text"}
    assert re.fullmatch(r"M[0-9A-F]{31}", message["MessageSid"])
    assert message == {
        "MessageSid": message["MessageSid"],
        "AccountSid": "AC1",
        "PropertySid": "PR1",
        "From": "+61499009990",
        "To": TO,
        "Text": "You win again, gravity!",
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(simple(), id="from-omitted"),
        pytest.param(simple(From=""), id="from-blank"),
        pytest.param(simple(From=None), id="from-null"),
    ],
)
def test_leased_sender_is_the_allocated_number(api: Api, body: dict[str, Any]) -> None:
    response = api.send(body)
    assert response.status_code == 200
    assert response.json()["Message"]["From"] == LEASED_NUMBER


def test_message_sids_differ(api: Api) -> None:
    sids = {api.send(simple()).json()["Message"]["MessageSid"] for _ in range(5)}
    assert len(sids) == 5


@pytest.mark.parametrize(
    "sender",
    [
        pytest.param("A", id="one-letter"),
        pytest.param("ABCDEFGHIJK", id="11-chars"),
        pytest.param("My Shop 24", id="spaces-and-digits"),
        pytest.param("+61499009990", id="e164"),
    ],
)
def test_valid_senders(api: Api, sender: str) -> None:
    assert api.send(simple(From=sender)).status_code == 200


def test_lease_example_with_all_parameters(api: Api) -> None:
    """Seed 004's second example (with a Schedule inside the window)."""
    body = {
        "From": "",
        "To": "+61488023555",
        "Text": "You call that an antenna?",
        "Schedule": int(T0) + 600,
        "DeliveryReceipt": True,
        "DeliveryReceiptWebhookUri": "https://callback.2.me/for/delivery_receipt",
        "DeliveryReceiptWebhookMethod": "POST",
        "ForwardToSms": "+61499333222",
        "ForwardFromSms": "",
        "ForwardToEmail": "[email protected]",
        "ForwardFromEmail": "[email protected]",
        "WebhookUri": "https://callback.2.me/for/sms_responses",
        "WebhookMethod": "POST",
        "ExternalId": "testid123",
    }
    response = api.send(body)
    assert response.status_code == 200
    assert response.json()["Message"]["Text"] == "You call that an antenna?"
    [stored] = api.messages()
    assert stored["fields"]["ExternalId"] == "testid123"
    assert stored["fields"]["Schedule"] == int(T0) + 600


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8"],
)
def test_json_content_types(api: Api, content_type: str) -> None:
    assert api.send(simple(), content_type=content_type).status_code == 200


def test_non_ascii_text_is_kept(api: Api) -> None:
    content = json.dumps(simple(Text="Grüße 👋"), ensure_ascii=False).encode()
    response = api.send(None, content=content)
    assert response.json()["Message"]["Text"] == "Grüße 👋"
    assert api.messages()[0]["text"] == "Grüße 👋"


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(14 * 86400, id="exactly-14-days"),
        pytest.param(60, id="in-a-minute"),
        pytest.param(-3599, id="59-min-past"),
        pytest.param(-3600, id="exactly-1-hour-past"),
    ],
)
def test_schedule_within_window(api: Api, offset: int) -> None:
    assert api.send(simple(Schedule=int(T0) + offset)).status_code == 200


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("Bearer abc", id="bearer"),
        pytest.param("Basic", id="basic-no-value"),
        pytest.param("Basic !!!not-base64!!!", id="not-base64"),
        pytest.param("Basic " + base64.b64encode(b"no-colon").decode(), id="no-colon"),
        pytest.param("Basic " + base64.b64encode(b":tok").decode(), id="empty-sid"),
        pytest.param("Basic " + base64.b64encode(b"AC1:").decode(), id="empty-token"),
        pytest.param("Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(), id="not-utf8"),
        pytest.param(basic(token="refused"), id="refused-token"),
    ],
)
def test_bad_credentials_are_401(api: Api, auth: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    request = httpx.Request("POST", HOST + SEND, headers=headers, content=json.dumps(simple()))
    response = api.sandbox.handle(request)
    assert_error(response, 401, "UNAUTHORIZED", [])
    assert response.headers["www-authenticate"] == CHALLENGE
    assert api.messages() == []


def test_get_needs_credentials_too(api: Api) -> None:
    sid = api.send(simple()).json()["Message"]["MessageSid"]
    for response in (
        api.request("GET", f"/fonedynamics/v2/Messages/{sid}"),
        api.get(sid, auth=basic(token="refused")),
    ):
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"] == CHALLENGE


def test_scheme_is_case_insensitive(api: Api) -> None:
    assert api.send(simple(), auth=basic().replace("Basic", "basic")).status_code == 200


# --------------------------------------------------------------------------- strictness


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param("application/xml", id="xml"),
    ],
)
def test_wrong_content_type(api: Api, content_type: str | None) -> None:
    assert_error(api.send(simple(), content_type=content_type), 400, "INVALID_CONTENT_TYPE")
    assert api.messages() == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"", id="empty"),
        pytest.param(b"To=%2B61488023555&Text=hi", id="form-body"),
        pytest.param(b'[{"To": "+61488023555", "Text": "hi"}]', id="list"),
        pytest.param(b'"hi"', id="string"),
        pytest.param(b"null", id="null"),
    ],
)
def test_body_must_be_a_json_object(api: Api, content: bytes) -> None:
    assert_error(api.send(None, content=content), 400, "INVALID_JSON")
    assert api.messages() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(simple(To=_DROP), "To", id="no-to"),
        pytest.param(simple(Text=_DROP), "Text", id="no-text"),
        pytest.param(simple(To=""), "To", id="empty-to"),
        pytest.param(simple(Text=""), "Text", id="empty-text"),
        pytest.param(simple(To=None), "To", id="null-to"),
        pytest.param({}, "To", id="empty-object"),
    ],
)
def test_required_fields(api: Api, body: dict[str, Any], field: str) -> None:
    assert_error(api.send(body), 400, "PARAMETER_REQUIRED", [field])
    assert api.messages() == []


@pytest.mark.parametrize(
    "to",
    [
        pytest.param("61488023555", id="no-plus"),
        pytest.param("0488023555", id="national"),
        pytest.param("+0488023555", id="plus-zero"),
        pytest.param("+61 488 023 555", id="spaces"),
        pytest.param("+614880", id="too-short"),
        pytest.param("+6148802355512345", id="too-long"),
        pytest.param("+6148802355a", id="letter"),
        pytest.param("+61488023555\n", id="trailing-newline"),
    ],
)
def test_to_must_be_e164(api: Api, to: str) -> None:
    assert_error(api.send(simple(To=to)), 400, "INVALID_PARAMETER", ["To"])
    assert api.messages() == []


@pytest.mark.parametrize(
    "sender",
    [
        pytest.param("ABCDEFGHIJKL", id="12-chars"),
        pytest.param("123456", id="no-letter"),
        pytest.param("My-Shop", id="dash"),
        pytest.param("Shop!", id="punctuation"),
        pytest.param("Café", id="non-ascii"),
        pytest.param("61499009990", id="number-without-plus"),
        pytest.param("+0499009990", id="bad-e164"),
        pytest.param("ACME\n", id="trailing-newline"),
    ],
)
def test_bad_sender(api: Api, sender: str) -> None:
    assert_error(api.send(simple(From=sender)), 400, "INVALID_PARAMETER", ["From"])
    assert api.messages() == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        pytest.param({"Priority": 1}, "Priority", id="unknown"),
        pytest.param({"to": TO}, "to", id="wrong-case"),
        pytest.param({"MessageSid": "M1"}, "MessageSid", id="reply-field"),
    ],
)
def test_unknown_field(api: Api, extra: dict[str, Any], field: str) -> None:
    assert_error(api.send(simple(**extra)), 400, "INVALID_PARAMETER", [field])
    assert api.messages() == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        pytest.param({"Schedule": str(int(T0) + 60)}, "Schedule", id="schedule-string"),
        pytest.param({"Schedule": float(T0) + 60.5}, "Schedule", id="schedule-float"),
        pytest.param({"Schedule": True}, "Schedule", id="schedule-bool"),
        pytest.param({"DeliveryReceipt": "true"}, "DeliveryReceipt", id="receipt-string"),
        pytest.param({"DeliveryReceipt": 1}, "DeliveryReceipt", id="receipt-int"),
        pytest.param({"To": 61488023555}, "To", id="to-number"),
        pytest.param({"Text": ["hi"]}, "Text", id="text-list"),
        pytest.param({"From": 61499009990}, "From", id="from-number"),
        pytest.param({"ExternalId": 42}, "ExternalId", id="external-id-number"),
        pytest.param(
            {"DeliveryReceiptWebhookUri": {"u": 1}}, "DeliveryReceiptWebhookUri", id="uri"
        ),
    ],
)
def test_wrong_types(api: Api, extra: dict[str, Any], field: str) -> None:
    assert_error(api.send(simple(**extra)), 400, "INVALID_PARAMETER", [field])
    assert api.messages() == []


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(14 * 86400 + 1, id="14-days-1-s-ahead"),
        pytest.param(30 * 86400, id="30-days-ahead"),
        pytest.param(-3601, id="1-hour-1-s-past"),
        pytest.param(-86400, id="a-day-past"),
    ],
)
def test_schedule_out_of_window(api: Api, offset: int) -> None:
    assert_error(
        api.send(simple(Schedule=int(T0) + offset)), 400, "INVALID_PARAMETER", ["Schedule"]
    )
    assert api.messages() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("DeliveryReceiptWebhookMethod", "PUT", id="receipt-put"),
        pytest.param("DeliveryReceiptWebhookMethod", "", id="receipt-empty"),
        pytest.param("WebhookMethod", "DELETE", id="reply-delete"),
        pytest.param("WebhookMethod", "PATCH", id="reply-patch"),
    ],
)
def test_webhook_methods_are_post_or_get(api: Api, name: str, value: str) -> None:
    assert_error(api.send(simple(**{name: value})), 400, "INVALID_PARAMETER", [name])


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("name", ["DeliveryReceiptWebhookMethod", "WebhookMethod"])
def test_webhook_methods_accepted(api: Api, name: str, method: str) -> None:
    assert api.send(simple(**{name: method})).status_code == 200


LEASE_ONLY = {
    "ForwardToSms": "+61499333222",
    "ForwardFromSms": "ACME",
    "ForwardToEmail": "a@x.test",
    "ForwardFromEmail": "b@x.test",
    "WebhookUri": "https://x.test/r",
    "WebhookMethod": "POST",
}


@pytest.mark.parametrize("name", list(LEASE_ONLY))
@pytest.mark.parametrize("sender", ["+61499009990", "MyShop"])
def test_lease_only_fields_need_a_blank_sender(api: Api, name: str, sender: str) -> None:
    assert_error(
        api.send(simple(From=sender, **{name: LEASE_ONLY[name]})), 400, "CONFLICTING_PARAMETERS"
    )
    assert api.messages() == []


@pytest.mark.parametrize(
    "sender", [pytest.param(_DROP, id="omitted"), pytest.param("", id="blank")]
)
def test_lease_only_fields_with_a_leased_sender(api: Api, sender: Any) -> None:
    assert api.send(simple(From=sender, **LEASE_ONLY)).status_code == 200


# --------------------------------------------------------------------------- routes


@pytest.mark.parametrize(
    "path",
    [
        "/fonedynamics/v1/Properties/PR1/Messages",
        "/fonedynamics/v2/Properties/PR1/Calls",
        "/fonedynamics/v2/Properties/Messages",
        "/fonedynamics/",
        "/fonedynamics/v2/Messages/M1/Extra",
    ],
)
def test_unknown_path_is_404(api: Api, path: str) -> None:
    response = api.request("POST", path, body=simple(), auth=basic())
    assert response.status_code == 404
    # The framework's page, not the API's ResponseStatus (that is for resources it has).
    assert response.text.startswith("Handler for Request not found (404)")
    assert "ResponseStatus" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("PUT", SEND, id="put-send"),
        pytest.param("DELETE", SEND, id="delete-send"),
        pytest.param("PATCH", SEND, id="patch-send"),
        pytest.param("POST", "/fonedynamics/v2/Messages/M1", id="post-message"),
        pytest.param("DELETE", "/fonedynamics/v2/Messages/M1", id="delete-message"),
        pytest.param("GET", BATCH, id="get-batch"),
        pytest.param("PUT", BATCH, id="put-batch"),
    ],
)
def test_wrong_method_is_405(api: Api, method: str, path: str) -> None:
    assert_error(api.request(method, path, body=simple(), auth=basic()), 405, "METHOD_NOT_ALLOWED")
    assert api.messages() == []


def test_trailing_slash_on_send(api: Api) -> None:
    response = api.request("POST", SEND + "/", body=simple(), auth=basic())
    assert response.status_code == 200


def test_other_property_is_recorded(api: Api) -> None:
    response = api.request(
        "POST", "/fonedynamics/v2/Properties/PR9/Messages", body=simple(), auth=basic()
    )
    assert response.json()["Message"]["PropertySid"] == "PR9"


# --------------------------------------------------------------------------- the resource


def test_get_full_resource_and_progression(api: Api) -> None:
    sid = api.send(simple(From="MyShop", ExternalId="job42")).json()["Message"]["MessageSid"]
    seen = []
    for step in (0.0, 1.0, 2.0, 10.0):
        api.now[0] = T0 + step * DELIVERY_STEP_SECONDS
        response = api.get(sid)
        assert response.status_code == 200
        data = response.json()
        assert list(data) == ["Message"]
        seen.append(data["Message"])
    assert [m["Status"] for m in seen] == ["Processing", "Submitted", "Delivered", "Delivered"]
    assert [m["Submitted"] for m in seen] == [None, int(T0) + 1, int(T0) + 1, int(T0) + 1]
    assert [m["Delivered"] for m in seen] == [None, None, int(T0) + 2, int(T0) + 2]
    assert seen[-1] == {
        "MessageSid": sid,
        "AccountSid": "AC1",
        "PropertySid": "PR1",
        "From": "MyShop",
        "To": TO,
        "Text": "You win again, gravity!",
        "Direction": "Transmit",
        "Status": "Delivered",
        "DeliveryReceipt": True,
        "NumSegments": 1,
        "Created": int(T0),
        "Scheduled": None,
        "Submitted": int(T0) + 1,
        "Delivered": int(T0) + 2,
        "Received": None,
        "ErrorCode": None,
        "ExternalId": "job42",
    }


def test_get_keeps_schedule_receipt_and_leased_sender(api: Api) -> None:
    body = simple(Schedule=int(T0) + 600, DeliveryReceipt=False)
    sid = api.send(body).json()["Message"]["MessageSid"]
    message = api.get(sid).json()["Message"]
    assert message["Scheduled"] == int(T0) + 600
    assert message["DeliveryReceipt"] is False
    assert message["From"] == LEASED_NUMBER


def test_same_account_with_another_token_can_read(api: Api) -> None:
    sid = api.send(simple()).json()["Message"]["MessageSid"]
    assert api.get(sid, auth=basic(token="another-token")).status_code == 200


def test_another_account_cannot_read(api: Api) -> None:
    sid = api.send(simple()).json()["Message"]["MessageSid"]
    assert_error(api.get(sid, auth=basic(sid="AC2")), 404, "MESSAGE_NOT_FOUND")


def test_unknown_message_is_404(api: Api) -> None:
    assert_error(api.get("M" + "0" * 31), 404, "MESSAGE_NOT_FOUND")


def test_messages_listing_has_no_credentials(api: Api) -> None:
    api.send(simple(From="MyShop", ExternalId="job42"))
    response = api.request("GET", "/_sandbox/messages")
    assert response.status_code == 200
    [listed] = response.json()["messages"]
    assert listed["provider"] == "fonedynamics"
    assert listed["target"] == TO and listed["text"] == "You win again, gravity!"
    assert listed["status"] == "accepted" and listed["created"] == T0
    assert listed["fields"]["From"] == "MyShop" and listed["fields"]["ExternalId"] == "job42"
    dumped = json.dumps(response.json())
    pair = basic().removeprefix("Basic ")
    assert TOKEN not in dumped
    assert pair not in dumped
    assert basic() not in dumped
    assert "Secret" not in dumped


# --------------------------------------------------------------------------- magic


def test_magic_0400_is_rejected(api: Api) -> None:
    assert_error(api.send(simple(To=magic_to("0400"))), 400, "COUNTRY_UNAVAILABLE")
    assert api.messages() == []


def test_magic_0401_is_unauthorized(api: Api) -> None:
    response = api.send(simple(To=magic_to("0401")))
    assert_error(response, 401, "UNAUTHORIZED", [])
    assert response.headers["www-authenticate"] == CHALLENGE
    assert api.messages() == []


def test_magic_0404_is_unknown_target(api: Api) -> None:
    assert_error(api.send(simple(To=magic_to("0404"))), 400, "ADDRESS_NOT_FOUND", ["To"])
    assert api.messages() == []


def test_magic_0429_is_rate_limited(api: Api) -> None:
    response = api.send(simple(To=magic_to("0429")))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0"
    assert api.messages() == []


def test_magic_0500_is_an_html_server_error(api: Api) -> None:
    response = api.send(simple(To=magic_to("0500")))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")
    # after the message was taken, as a real provider may: `smscli reconcile` finds it
    assert len(api.messages()) == 1


def test_magic_0444_drops_the_connection(api: Api) -> None:
    with pytest.raises(Drop):
        api.send(simple(To=magic_to("0444")))


def test_magic_0408_replies_too_late(api: Api) -> None:
    with pytest.raises(Slow) as info:
        api.send(simple(To=magic_to("0408")))
    slow = info.value
    assert slow.seconds == SLOW_SECONDS > 30
    assert slow.response.status_code == 200
    late = slow.response.json()["Message"]
    assert late["To"] == magic_to("0408") and late["MessageSid"].startswith("M")


def test_magic_drop_and_slow_keep_the_message(api: Api) -> None:
    """Outcome unknown means the message was taken before the reply was lost (as in the other
    four emulators), and the late reply's MessageSid can be looked up."""
    with pytest.raises(Drop):
        api.send(simple(To=magic_to("0444")))
    with pytest.raises(Slow) as info:
        api.send(simple(To=magic_to("0408")))
    assert [m["target"] for m in api.messages()] == [magic_to("0444"), magic_to("0408")]
    sid = info.value.response.json()["Message"]["MessageSid"]
    assert api.get(sid).status_code == 200


def test_magic_via_transport_become_httpx_errors(api: Api) -> None:
    with httpx.Client(transport=api.sandbox.transport(), base_url=HOST, timeout=5) as client:
        headers = {"Authorization": basic()}
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(SEND, json=simple(To=magic_to("0444")), headers=headers)
        with pytest.raises(httpx.ReadTimeout):
            client.post(SEND, json=simple(To=magic_to("0408")), headers=headers)
        ok = client.post(SEND, json=simple(), headers=headers)
        assert ok.status_code == 200


def test_slow_reply_arrives_with_a_long_timeout(api: Api) -> None:
    with httpx.Client(transport=api.sandbox.transport(), base_url=HOST, timeout=60) as client:
        response = client.post(
            SEND, json=simple(To=magic_to("0408")), headers={"Authorization": basic()}
        )
    assert response.status_code == 200
    assert response.json()["Message"]["To"] == magic_to("0408")


@pytest.mark.parametrize(
    ("suffix", "error_code"),
    [
        pytest.param("0410", "UNDELIVERABLE", id="0410-failed"),
        pytest.param("0411", "EXPIRED", id="0411-expired"),
    ],
)
def test_magic_delivery_failures(api: Api, suffix: str, error_code: str) -> None:
    response = api.send(simple(To=magic_to(suffix)))
    assert response.status_code == 200
    sid = response.json()["Message"]["MessageSid"]
    assert api.get(sid).json()["Message"]["Status"] == "Processing"
    api.now[0] = T0 + 1 * DELIVERY_STEP_SECONDS
    assert api.get(sid).json()["Message"]["Status"] == "Submitted"
    api.now[0] = T0 + 3 * DELIVERY_STEP_SECONDS
    message = api.get(sid).json()["Message"]
    assert message["Status"] == "Failed"
    assert message["ErrorCode"] == error_code
    assert message["Delivered"] is None


def test_magic_0419_is_accepted_there_is_no_session(api: Api) -> None:
    response = api.send(simple(To=magic_to("0419")))
    assert response.status_code == 200
    assert len(api.messages()) == 1


def test_magic_only_applies_to_the_recipient(api: Api) -> None:
    assert api.send(simple(From=magic_to("0400"))).status_code == 200


def test_magic_suffix_validation_comes_first(api: Api) -> None:
    """A request the real API would refuse is refused before any magic applies."""
    assert_error(
        api.send(simple(To=magic_to("0500"), Text="")), 400, "PARAMETER_REQUIRED", ["Text"]
    )


def test_every_magic_suffix_is_tested_here() -> None:
    tested = {"0400", "0401", "0404", "0408", "0410", "0411", "0419", "0429", "0444", "0500"}
    assert set(MAGIC) == tested


# --------------------------------------------------------------------------- issue 10: the
# Java client's sign-in (a 401 challenge), requests without Content-Type, the search with the
# devices' replies, the batch send


def test_a_401_asks_for_basic_credentials(api: Api) -> None:
    """Fone Dynamics' Java client (Apache HttpClient with a credentials provider) sends no
    Authorization header until a 401 asks for Basic, then sends the request again with it."""
    first = api.request("POST", SEND, body=simple())
    assert_error(first, 401, "UNAUTHORIZED", [])
    challenge = first.headers["www-authenticate"]
    assert challenge == CHALLENGE
    assert re.fullmatch(r'Basic realm="[^"]+"', challenge)
    assert api.messages() == []
    again = api.request("POST", SEND, body=simple(), auth=basic())
    assert again.status_code == 200
    assert len(api.messages()) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/fonedynamics/v2/Messages/M1", id="get"),
        pytest.param("GET", SEND + "?Date_From=0&Date_To=1", id="search"),
        pytest.param("POST", BATCH, id="batch"),
    ],
)
def test_every_route_challenges(api: Api, method: str, path: str) -> None:
    response = api.request(method, path, body={"Messages": [simple()]})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE


def test_a_200_has_no_challenge(api: Api) -> None:
    assert "www-authenticate" not in api.send(simple()).headers


@pytest.mark.parametrize(
    "content_type", [pytest.param(None, id="missing"), pytest.param("", id="empty")]
)
def test_a_json_body_without_content_type_is_read_as_json(
    api: Api, content_type: str | None
) -> None:
    """UNCONFIRMED what the real API does; the documented body is JSON, so it is unambiguous."""
    headers = {"Authorization": basic()}
    if content_type is not None:
        headers["Content-Type"] = content_type
    request = httpx.Request("POST", HOST + SEND, headers=headers, content=json.dumps(simple()))
    assert "content-type" not in request.headers or request.headers["content-type"] == ""
    response = api.sandbox.handle(request)
    assert response.status_code == 200
    assert response.json()["Message"]["To"] == TO


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"To=%2B61488023555&Text=hi", id="form-body"),
        pytest.param(b"", id="empty"),
        pytest.param(b'[{"To": "+61488023555", "Text": "hi"}]', id="list"),
    ],
)
def test_without_content_type_a_body_that_is_no_json_object_is_refused(
    api: Api, content: bytes
) -> None:
    response = api.send(None, content=content, content_type=None)
    assert_error(response, 400, "INVALID_CONTENT_TYPE")
    assert api.messages() == []


def test_text_json_is_json(api: Api) -> None:
    assert api.send(simple(), content_type="text/json").status_code == 200


def test_a_latin_1_body_as_the_java_client_encodes_it(api: Api) -> None:
    """The Java client's StringEntity encodes the JSON in ISO-8859-1: "é" arrives as the
    single byte E9, which is no UTF-8; it is read as U+FFFD (UNCONFIRMED), not refused."""
    content = json.dumps(simple(Text="Café ok?"), ensure_ascii=False).encode("latin-1")
    response = api.send(None, content=content)
    assert response.status_code == 200
    assert response.json()["Message"]["Text"] == "Caf\ufffd ok?"


def test_a_utf8_bom_is_skipped(api: Api) -> None:
    response = api.send(None, content=b"\xef\xbb\xbf" + json.dumps(simple()).encode())
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["DeliveryReceiptWebhookMethod", "WebhookMethod"])
@pytest.mark.parametrize("method", ["Post", "Get", "post", "get"])
def test_webhook_methods_as_the_official_clients_write_them(
    api: Api, name: str, method: str
) -> None:
    """Gson (Java) and Newtonsoft's StringEnumConverter (C#) write the WebhookMethod enum by
    its name: "Post", "Get"."""
    response = api.send(simple(**{name: method}))
    assert response.status_code == 200
    assert api.messages()[0]["fields"][name] == method


def test_what_the_java_client_sends_is_accepted(api: Api) -> None:
    """Gson writes every non-null field of MessageResource: DeliveryReceipt always."""
    body = {"To": TO, "Text": "and a one", "From": "FDX", "DeliveryReceipt": True}
    body |= {"DeliveryReceiptWebhookMethod": "Post"}
    response = api.send(body)
    assert response.status_code == 200
    assert response.json()["Message"]["From"] == "FDX"


# ----------------------------------------------------------------- replies and the search


QUESTION = "Are you there?"


def search(api: Api, *, auth: str | None = None, prop: str = "PR1", **params: Any) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.request(
        "GET", f"/fonedynamics/v2/Properties/{prop}/Messages?{query}", auth=auth or basic()
    )


def window(**more: Any) -> dict[str, Any]:
    return {"Date_From": int(T0) - 60, "Date_To": int(T0) + 3600} | more


def test_a_device_answers_a_question_and_the_search_finds_it(api: Api) -> None:
    sid = api.send(simple(From="+61499009990", Text=QUESTION)).json()["Message"]["MessageSid"]
    api.now[0] = T0 + 2.9
    assert search(api, **window(Direction="Receive")).json() == {"Messages": []}
    api.now[0] = T0 + 3
    data = search(api, **window(Direction="Receive")).json()
    [reply] = data["Messages"]
    assert re.fullmatch(r"M[0-9A-F]{31}", reply["MessageSid"]) and reply["MessageSid"] != sid
    assert reply == {
        "MessageSid": reply["MessageSid"],
        "AccountSid": "AC1",
        "PropertySid": "PR1",
        "From": TO,  # the device
        "To": "+61499009990",  # the sender it answers
        "Text": "ACK: " + QUESTION,
        "Direction": "Receive",
        "Status": "Received",
        "DeliveryReceipt": False,
        "NumSegments": 1,
        "Created": int(T0) + 3,
        "Scheduled": None,
        "Submitted": None,
        "Delivered": None,
        "Received": int(T0) + 3,
        "ErrorCode": None,
        "ExternalId": None,
    }
    # The reply is a message of its own: GET /v2/Messages/{sid} finds it too.
    got = api.get(reply["MessageSid"])
    assert got.status_code == 200
    assert got.json() == {"Message": reply}
    stored = {m["id"]: m for m in api.messages()}[reply["MessageSid"]]
    assert stored["direction"] == "mo" and stored["reply_to"] == sid


def test_a_reply_to_a_leased_sender_goes_to_the_leased_number(api: Api) -> None:
    api.send(simple(Text=QUESTION))
    api.now[0] = T0 + 5
    [reply] = search(api, **window(Direction="Receive")).json()["Messages"]
    assert (reply["From"], reply["To"]) == (TO, LEASED_NUMBER)


def test_the_search_lists_sent_and_received_oldest_first(api: Api) -> None:
    first = api.send(simple(Text=QUESTION)).json()["Message"]["MessageSid"]
    api.now[0] = T0 + 1
    second = api.send(simple(Text="no question")).json()["Message"]["MessageSid"]
    api.now[0] = T0 + 10
    listed = search(api, **window()).json()["Messages"]
    assert [m["Direction"] for m in listed] == ["Transmit", "Transmit", "Receive"]
    assert [m["MessageSid"] for m in listed[:2]] == [first, second]
    assert [m["Status"] for m in listed] == ["Delivered", "Delivered", "Received"]
    transmit = search(api, **window(Direction="Transmit")).json()["Messages"]
    assert [m["MessageSid"] for m in transmit] == [first, second]


def test_the_search_filters_by_status_as_it_is_now(api: Api) -> None:
    api.send(simple(Text="one"))
    api.send(simple(To=magic_to("0410"), Text="two"))
    api.now[0] = T0 + 1
    assert [m["Text"] for m in search(api, **window(Status="Submitted")).json()["Messages"]] == [
        "one",
        "two",
    ]
    api.now[0] = T0 + 5
    assert [m["Text"] for m in search(api, **window(Status="Failed")).json()["Messages"]] == ["two"]
    assert [m["Text"] for m in search(api, **window(Status="delivered")).json()["Messages"]] == [
        "one"
    ]
    assert search(api, **window(Status="Received")).json()["Messages"] == []


def test_date_from_is_inclusive_and_date_to_exclusive(api: Api) -> None:
    api.send(simple(Text="at T0"))
    t = int(T0)
    assert len(search(api, Date_From=t, Date_To=t + 1).json()["Messages"]) == 1
    assert search(api, Date_From=t + 1, Date_To=t + 2).json()["Messages"] == []
    assert search(api, Date_From=t - 1, Date_To=t).json()["Messages"] == []


def test_results_count_and_skip_page_the_search(api: Api) -> None:
    for n in range(5):
        api.now[0] = T0 + n / 10
        api.send(simple(Text=f"m{n}"))

    def texts(**params: Any) -> list[str]:
        return [m["Text"] for m in search(api, **window(**params)).json()["Messages"]]

    assert texts() == ["m0", "m1", "m2", "m3", "m4"]
    assert texts(Results_Count=2) == ["m0", "m1"]
    assert texts(Results_Count=2, Results_Skip=2) == ["m2", "m3"]
    assert texts(Results_Count=2, Results_Skip=4) == ["m4"]
    assert texts(Results_Skip=9) == []
    assert texts(Results_Count=0) == []


def test_results_count_defaults_to_200(api: Api) -> None:
    for n in range(205):
        api.send(simple(Text=f"m{n}"))
    assert len(search(api, **window()).json()["Messages"]) == 200
    assert len(search(api, **window(Results_Skip=200)).json()["Messages"]) == 5


def test_the_search_sees_only_the_accounts_property(api: Api) -> None:
    api.send(simple(Text="mine"))
    api.request(
        "POST", "/fonedynamics/v2/Properties/PR2/Messages", body=simple(Text="PR2"), auth=basic()
    )
    api.send(simple(Text="AC2's"), auth=basic(sid="AC2"))
    assert [m["Text"] for m in search(api, **window()).json()["Messages"]] == ["mine"]
    assert [m["Text"] for m in search(api, prop="PR2", **window()).json()["Messages"]] == ["PR2"]
    other = search(api, auth=basic(sid="AC2"), **window()).json()["Messages"]
    assert [m["Text"] for m in other] == ["AC2's"]


def test_the_search_parameters_may_come_as_a_json_body(api: Api) -> None:
    """The docs show the filters as JSON; a GET with a JSON body is read too."""
    api.send(simple(Text=QUESTION))
    api.now[0] = T0 + 5
    response = api.request(
        "GET", SEND, body=window(Direction="Receive", Results_Count=5), auth=basic()
    )
    [reply] = response.json()["Messages"]
    assert reply["Text"] == "ACK: " + QUESTION


def test_search_parameter_names_are_case_insensitive(api: Api) -> None:
    api.send(simple())
    response = search(api, date_from=int(T0), DATE_TO=int(T0) + 1, direction="transmit")
    assert len(response.json()["Messages"]) == 1


@pytest.mark.parametrize("missing", ["Date_From", "Date_To"])
def test_the_search_needs_both_dates(api: Api, missing: str) -> None:
    params = window()
    del params[missing]
    assert_error(search(api, **params), 400, "PARAMETER_REQUIRED", [missing])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("Date_From", "2024-01-01T00:00:00Z", id="iso-date"),
        pytest.param("Date_To", "1.5", id="fraction"),
        pytest.param("Date_From", "soon", id="word"),
        pytest.param("Results_Count", "-1", id="negative-count"),
        pytest.param("Results_Skip", "x", id="skip-word"),
        pytest.param("Status", "Sent", id="unknown-status"),
        pytest.param("Direction", "Inbound", id="unknown-direction"),
    ],
)
def test_bad_search_parameters_are_400(api: Api, name: str, value: str) -> None:
    assert_error(search(api, **window(**{name: value})), 400, "INVALID_PARAMETER", [name])


def test_a_reply_of_another_account_is_not_found(api: Api) -> None:
    api.send(simple(Text=QUESTION))
    api.now[0] = T0 + 5
    [reply] = search(api, **window(Direction="Receive")).json()["Messages"]
    assert_error(api.get(reply["MessageSid"], auth=basic(sid="AC2")), 404, "MESSAGE_NOT_FOUND")


def test_no_reply_to_a_failed_message_or_one_without_a_question(api: Api) -> None:
    api.send(simple(To=magic_to("0410"), Text=QUESTION))
    api.send(simple(Text="Hello."))
    api.now[0] = T0 + 60
    assert search(api, **window(Direction="Receive")).json()["Messages"] == []


# --------------------------------------------------------------------------- batch


def batch(api: Api, messages: Any, **kw: Any) -> httpx.Response:
    return api.request("POST", BATCH, body={"Messages": messages}, auth=basic(), **kw)


def test_batch_sends_each_message_and_lists_them_in_order(api: Api) -> None:
    response = batch(
        api,
        [
            simple(Text="and a one", From="FDX"),
            simple(To="+61488023556", Text="and a two", ExternalId="two"),
        ],
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    first, second = response.json()
    assert first == {
        "MessageSid": first["MessageSid"],
        "AccountSid": "AC1",
        "PropertySid": "PR1",
        "From": "FDX",
        "To": TO,
        "Text": "and a one",
    }
    assert second["From"] == LEASED_NUMBER and second["To"] == "+61488023556"
    assert re.fullmatch(r"M[0-9A-F]{31}", first["MessageSid"]) != second["MessageSid"]
    stored = api.messages()
    assert [m["text"] for m in stored] == ["and a one", "and a two"]
    assert stored[1]["fields"]["ExternalId"] == "two"
    # Each is a message like a single send's: it can be fetched and it moves on.
    api.now[0] = T0 + 5
    assert api.get(second["MessageSid"]).json()["Message"]["Status"] == "Delivered"
    assert api.get(second["MessageSid"]).json()["Message"]["ExternalId"] == "two"


def test_batch_entries_fail_on_their_own(api: Api) -> None:
    response = batch(
        api,
        [
            simple(Text="ok"),
            simple(To="0488023555"),
            simple(Text=_DROP),
            simple(To=magic_to("0400")),
            simple(To=magic_to("0404")),
            simple(Priority=1),
            "not an object",
            simple(From="ACME", WebhookUri="https://x.test/r"),
        ],
    )
    assert response.status_code == 200
    entries = response.json()
    assert "MessageSid" in entries[0]
    failed = entries[1:]
    assert all("MessageSid" not in e for e in failed)
    assert [e["ErrorCode"] for e in failed] == [
        "INVALID_PARAMETER",
        "PARAMETER_REQUIRED",
        "COUNTRY_UNAVAILABLE",
        "ADDRESS_NOT_FOUND",
        "INVALID_PARAMETER",
        "INVALID_PARAMETER",
        "CONFLICTING_PARAMETERS",
    ]
    assert all(isinstance(e["Message"], str) and e["Message"] for e in failed)
    assert entries[1]["To"] == "0488023555"  # what was sent, to match the entry
    assert entries[4] == {
        "To": magic_to("0404"),
        "Text": "You win again, gravity!",
        "ErrorCode": "ADDRESS_NOT_FOUND",
        "Message": "The recipient number does not exist.",
    }
    assert entries[6] == {"ErrorCode": "INVALID_PARAMETER", "Message": entries[6]["Message"]}
    assert [m["text"] for m in api.messages()] == ["ok"]


def test_a_batch_of_failures_is_still_200(api: Api) -> None:
    response = batch(api, [simple(To="x")])
    assert response.status_code == 200
    assert [e["ErrorCode"] for e in response.json()] == ["INVALID_PARAMETER"]


@pytest.mark.parametrize(
    ("body", "status", "code", "fields"),
    [
        pytest.param({}, 400, "PARAMETER_REQUIRED", ["Messages"], id="no-messages"),
        pytest.param({"Messages": None}, 400, "PARAMETER_REQUIRED", ["Messages"], id="null"),
        pytest.param({"Messages": []}, 400, "PARAMETER_REQUIRED", ["Messages"], id="empty"),
        pytest.param({"Messages": simple()}, 400, "INVALID_PARAMETER", ["Messages"], id="dict"),
        pytest.param(
            {"Messages": [simple()], "Priority": 1},
            400,
            "INVALID_PARAMETER",
            ["Priority"],
            id="unknown-field",
        ),
    ],
)
def test_bad_batches_are_refused_whole(
    api: Api, body: dict[str, Any], status: int, code: str, fields: list[str]
) -> None:
    response = api.request("POST", BATCH, body=body, auth=basic())
    assert_error(response, status, code, fields)
    assert api.messages() == []


def test_a_batch_that_is_no_json_object_is_refused(api: Api) -> None:
    response = api.request("POST", BATCH, body=[simple()], auth=basic())
    assert_error(response, 400, "INVALID_JSON")


def test_a_batch_without_content_type_is_read_as_json(api: Api) -> None:
    response = batch(api, [simple()], content_type=None)
    assert response.status_code == 200
    assert len(response.json()) == 1


@pytest.mark.parametrize("suffix", ["0401", "0429"])
def test_batch_magic_that_refuses_the_request_refuses_the_whole_batch(
    api: Api, suffix: str
) -> None:
    response = batch(api, [simple(), simple(To=magic_to(suffix))])
    assert response.status_code == int(suffix[1:])
    if suffix == "0401":
        assert response.headers["www-authenticate"] == CHALLENGE
    assert api.messages() == []


def test_batch_magic_0500_answers_500_after_taking_the_messages(api: Api) -> None:
    response = batch(api, [simple(Text="a"), simple(To=magic_to("0500"), Text="b")])
    assert response.status_code == 500
    assert [m["text"] for m in api.messages()] == ["a", "b"]


def test_batch_magic_drop_and_slow_keep_the_messages(api: Api) -> None:
    with pytest.raises(Drop):
        batch(api, [simple(Text="a"), simple(To=magic_to("0444"), Text="b")])
    assert [m["text"] for m in api.messages()] == ["a", "b"]
    with pytest.raises(Slow) as info:
        batch(api, [simple(To=magic_to("0408"), Text="c")])
    [late] = info.value.response.json()
    assert late["Text"] == "c" and late["MessageSid"].startswith("M")


def test_batch_delivery_failures_and_replies_work_as_for_single_sends(api: Api) -> None:
    entries = batch(api, [simple(To=magic_to("0411")), simple(Text=QUESTION)]).json()
    api.now[0] = T0 + 5
    expired = api.get(entries[0]["MessageSid"]).json()["Message"]
    assert (expired["Status"], expired["ErrorCode"]) == ("Failed", "EXPIRED")
    [reply] = search(api, **window(Direction="Receive")).json()["Messages"]
    assert reply["Text"] == "ACK: " + QUESTION


# --------------------------------------------------------------------------- --spec-strict


def test_spec_strict_changes_nothing_for_fone_dynamics() -> None:
    """No production recording of this API differs from its docs (none is known)."""
    answers = []
    for strict in (False, True):
        sandbox = Sandbox(clock=lambda: T0, spec_strict=strict)
        auth = {"Authorization": basic()}
        requests = [
            httpx.Request("POST", HOST + SEND, json=simple()),
            httpx.Request("POST", HOST + SEND, json=simple(To="x"), headers=auth),
            httpx.Request("GET", HOST + SEND + "?Date_From=0&Date_To=1", headers=auth),
            httpx.Request("POST", HOST + BATCH, json={"Messages": [simple()]}, headers=auth),
        ]
        answers.append(
            [
                (r.status_code, re.sub(r'"M[0-9A-F]{31}"', "sid", r.text), r.headers)
                for r in map(sandbox.handle, requests)
            ]
        )
    assert answers[0] == answers[1]
