"""smscli.providers.fonedynamics: JSON builders and parsers (no HTTP), then conversations.

Bodies and replies are written from seed 004 (the vendor's "Send SMS" page) and
reference/providers-telit-csl-fonedynamics.md §3 (auth, Message resource, ResponseStatus errors).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from smscli import catalog
from smscli.encoding import analyze
from smscli.errors import (
    ConfigError,
    ExitCode,
    InputError,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    SmscliError,
)
from smscli.http_client import HttpSession
from smscli.models import Message, Request, Response, SendResult, Settings, Status, Target
from smscli.providers.fonedynamics import (
    EXTRA_FIELDS,
    LEASE_ONLY,
    FoneDynamics,
    parse_send,
    parse_status,
    send_body,
    send_request,
    status_request,
)
from smscli.redaction import Redactor
from smscli.sandbox.base import MAGIC
from smscli.sandbox.fonedynamics import LEASED_NUMBER
from smscli.sandbox.server import Sandbox
from smscli.tokens import TokenCache
from tests.providers import MAGIC_SEND_FAILURES

BASE = "http://sandbox.test/fonedynamics"
TO = "+61488023555"
TOKEN = "S3cr3t-T0ken<&>"
BASIC_PAIR = base64.b64encode(f"AC1:{TOKEN}".encode()).decode()
T0 = 1_700_000_000.0
SEND_URL = BASE + "/v2/Properties/PR1/Messages"


def message(text: str = "You win again, gravity!", **kw: Any) -> Message:
    return Message(check=analyze(text), **kw)


def settings(token: str = "tok-1234", **values: str) -> Settings:
    return Settings(
        slug="fonedynamics",
        profile="test",
        base_url=BASE,
        values={"account_sid": "AC1", "token": token, "property_sid": "PR1", **values},
        secret_names=catalog.REGISTRY["fonedynamics"].secret_names,
    )


def target(value: str = TO) -> Target:
    return Target("msisdn", value)


def magic_target(suffix: str) -> Target:
    return target("+6140000" + suffix)  # +61400000400 and friends


def reply(data: Any, status: int = 200, content_type: str = "application/json") -> Response:
    content = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Response(status, {"content-type": content_type}, content)


def error_body(code: str, text: str, *fields: str) -> dict[str, Any]:
    return {
        "ResponseStatus": {
            "ErrorCode": code,
            "Message": text,
            "Errors": [{"FieldName": f} for f in fields],
        }
    }


def error_of(call: Callable[[], object]) -> SmscliError:
    with pytest.raises(SmscliError) as info:
        call()
    return info.value


def body_of(request: Request) -> dict[str, Any]:
    text = request.body_text()
    assert text is not None
    data: dict[str, Any] = json.loads(text)
    return data


# --------------------------------------------------------------------------- builders


def test_send_request_is_documented_post_with_basic_auth() -> None:
    request = send_request(BASE, "AC1", "tok-1234", "PR1", message(), TO)
    assert request.method == "POST"
    assert request.url == SEND_URL
    assert request.params == {}
    expected = base64.b64encode(b"AC1:tok-1234").decode()
    assert request.headers == {"Authorization": f"Basic {expected}", "Accept": "application/json"}
    assert request.form is None and request.content is None
    assert request.json == {"To": TO, "Text": "You win again, gravity!"}


def test_basic_pair_decodes_to_account_and_token() -> None:
    request = send_request(BASE, "AC1", TOKEN, "PR1", message(), TO)
    scheme, _, value = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == f"AC1:{TOKEN}"


@pytest.mark.parametrize(
    ("property_sid", "path"),
    [
        pytest.param("PR1", "PR1", id="plain"),
        pytest.param("PR 1/x?y#z", "PR%201%2Fx%3Fy%23z", id="quoted"),
    ],
)
def test_property_sid_is_url_quoted(property_sid: str, path: str) -> None:
    request = send_request(BASE, "AC1", "tok", property_sid, message(), TO)
    assert request.url == f"{BASE}/v2/Properties/{path}/Messages"


def test_base_url_without_prefix() -> None:
    request = send_request("https://api.fonedynamics.com", "AC1", "t", "PR1", message(), TO)
    assert request.url == "https://api.fonedynamics.com/v2/Properties/PR1/Messages"


def test_provider_strips_a_trailing_slash_of_the_base_url() -> None:
    provider = FoneDynamics(
        Settings(
            slug="fonedynamics",
            profile=None,
            base_url=BASE + "/",
            values={"account_sid": "AC1", "token": "t", "property_sid": "PR1"},
        )
    )
    [request] = provider.dry_run(message(), [target()])
    assert request.url == SEND_URL


def test_simple_body_has_no_null_fields() -> None:
    body = body_of(send_request(BASE, "AC1", "t", "PR1", message("hi"), TO))
    assert body == {"To": TO, "Text": "hi"}
    assert "null" not in (
        send_request(BASE, "AC1", "t", "PR1", message("hi"), TO).body_text() or ""
    )


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        pytest.param("+61499009990", "+61499009990", id="e164"),
        pytest.param("MyShop", "MyShop", id="alphanumeric"),
        pytest.param("", "", id="leased-blank"),
    ],
)
def test_from(sender: str, expected: str) -> None:
    assert send_body(message(sender=sender), TO)["From"] == expected


def test_from_omitted_when_no_sender() -> None:
    assert "From" not in send_body(message(), TO)


def test_schedule_is_integer_epoch_seconds() -> None:
    at = datetime(2011, 11, 11, 11, 11, 11, 900_000, tzinfo=UTC)
    body = send_body(message(at=at), TO)
    assert body["Schedule"] == 1321009871
    assert type(body["Schedule"]) is int


def test_schedule_of_an_offset_datetime_is_utc_epoch() -> None:
    at = datetime(2011, 11, 11, 22, 11, 11, tzinfo=timezone(timedelta(hours=11)))
    assert send_body(message(at=at), TO)["Schedule"] == 1321009871


def test_external_id_from_reference() -> None:
    assert send_body(message(reference="testid123"), TO)["ExternalId"] == "testid123"


def test_every_documented_field_from_the_lease_example() -> None:
    """Seed 004's "lease with all parameters" example, built from smscli's options."""
    msg = message(
        "You call that an antenna?",
        sender="",
        at=datetime.fromtimestamp(1321009871, UTC),
        reference="testid123",
        extra={
            "delivery_receipt": True,
            "receipt_webhook": "https://callback.2.me/for/delivery_receipt",
            "receipt_method": "POST",
            "forward_to_sms": "+61499333222",
            "forward_from_sms": "",
            "forward_to_email": "[email protected]",
            "forward_from_email": "[email protected]",
            "reply_webhook": "https://callback.2.me/for/sms_responses",
            "reply_method": "POST",
        },
    )
    assert send_body(msg, "+61488023555") == {
        "From": "",
        "To": "+61488023555",
        "Text": "You call that an antenna?",
        "Schedule": 1321009871,
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


@pytest.mark.parametrize(
    ("key", "value", "name"),
    [
        pytest.param("delivery_receipt", False, "DeliveryReceipt", id="delivery-receipt-false"),
        pytest.param("delivery_receipt", True, "DeliveryReceipt", id="delivery-receipt-true"),
        pytest.param("receipt_webhook", "https://x.test/dr", "DeliveryReceiptWebhookUri", id="drw"),
        pytest.param("receipt_method", "GET", "DeliveryReceiptWebhookMethod", id="drm"),
        pytest.param("forward_to_sms", "+61499333222", "ForwardToSms", id="fts"),
        pytest.param("forward_from_sms", "ACME", "ForwardFromSms", id="ffs"),
        pytest.param("forward_to_email", "a@x.test", "ForwardToEmail", id="fte"),
        pytest.param("forward_from_email", "b@x.test", "ForwardFromEmail", id="ffe"),
        pytest.param("reply_webhook", "https://x.test/r", "WebhookUri", id="reply-webhook"),
        pytest.param("reply_method", "GET", "WebhookMethod", id="reply-method"),
    ],
)
def test_each_extra_key_maps_to_its_documented_name(key: str, value: Any, name: str) -> None:
    body = send_body(message(extra={key: value}), TO)
    assert body == {"To": TO, "Text": "You win again, gravity!", name: value}


def test_delivery_receipt_false_is_json_false() -> None:
    request = send_request(BASE, "AC1", "t", "PR1", message(extra={"delivery_receipt": False}), TO)
    assert '"DeliveryReceipt": false' in (request.body_text() or "")


def test_extra_fields_table_is_the_documented_set() -> None:
    assert set(EXTRA_FIELDS.values()) == {
        "DeliveryReceipt",
        "DeliveryReceiptWebhookUri",
        "DeliveryReceiptWebhookMethod",
        "ForwardToSms",
        "ForwardFromSms",
        "ForwardToEmail",
        "ForwardFromEmail",
        "WebhookUri",
        "WebhookMethod",
    }
    assert {EXTRA_FIELDS[k] for k in LEASE_ONLY} == {
        "ForwardToSms",
        "ForwardFromSms",
        "ForwardToEmail",
        "ForwardFromEmail",
        "WebhookUri",
        "WebhookMethod",
    }


def test_unknown_extra_keys_are_not_sent() -> None:
    assert set(send_body(message(extra={"data_coding": "binary"}), TO)) == {"To", "Text"}


def test_non_ascii_text_is_utf8_json_not_escapes() -> None:
    text = "Grüße aus Köln 👋 ✓"
    request = send_request(BASE, "AC1", "t", "PR1", message(text), TO)
    body = request.body_text()
    assert body is not None
    assert text in body
    assert "\\u" not in body
    assert json.loads(body)["Text"] == text


def test_status_request() -> None:
    request = status_request(BASE, "AC1", "tok-1234", "M87DMNHSDJHSD48DMNSDS6VJCNKD9MD0")
    assert request.method == "GET"
    assert request.url == BASE + "/v2/Messages/M87DMNHSDJHSD48DMNSDS6VJCNKD9MD0"
    assert request.json is None and request.body_text() is None
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC1:tok-1234").decode()
    assert request.headers["Accept"] == "application/json"


def test_status_request_quotes_the_sid() -> None:
    assert status_request(BASE, "A", "t", "M/1 2").url == BASE + "/v2/Messages/M%2F1%202"


# --------------------------------------------------------------------------- send replies

ACCEPTED = {
    "Message": {
        "MessageSid": "M87DMNHSDJHSD48DMNSDS6VJCNKD9MD0",
        "AccountSid": "AG5T3HFR5ASD54FS5GB3SDAFJAKSH6DS",
        "PropertySid": "S7DNJ9KJDS0MDS23DKS9QMZ8DKJSD9KL",
        "From": "+6199111222",
        "To": "+61488023555",
        "Text": "You call that an antenna?",
    }
}
HTML = (
    "<!DOCTYPE html><html><head><title>500 - Internal server error.</title></head>"
    "<body><h2>500 - Internal server error.</h2></body></html>"
)


def test_parse_send_documented_reply() -> None:
    assert parse_send(reply(ACCEPTED)) == ACCEPTED["Message"]


def test_parse_send_tolerates_more_resource_fields() -> None:
    data = {"Message": {**ACCEPTED["Message"], "Status": "Processing", "NumSegments": 1}}
    assert parse_send(reply(data))["MessageSid"] == "M87DMNHSDJHSD48DMNSDS6VJCNKD9MD0"


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(reply({"Result": "ok"}), id="no-message"),
        pytest.param(reply({"Message": None}), id="message-null"),
        pytest.param(reply({"Message": "queued"}), id="message-text"),
        pytest.param(reply({"Message": {"To": TO}}), id="no-sid"),
        pytest.param(reply({"Message": {"MessageSid": 12345}}), id="sid-not-text"),
        pytest.param(reply([ACCEPTED]), id="json-list"),
        pytest.param(reply(b"not json at all", content_type="text/plain"), id="not-json"),
        pytest.param(reply(HTML.encode(), content_type="text/html"), id="html"),
        pytest.param(reply(b""), id="empty"),
        pytest.param(reply(b'{"Message": {"MessageSid": "M1"'), id="cut-short"),
    ],
)
def test_parse_send_unreadable_200_is_outcome_unknown(response: Response) -> None:
    error = error_of(lambda: parse_send(response))
    assert type(error) is OutcomeUnknown
    assert error.exit_code is ExitCode.UNKNOWN
    assert int(error.exit_code) == 7
    assert error.code == "unreadable_reply"
    assert "may have been sent" in error.message
    assert "\n" not in error.message


def test_parse_send_parameter_required() -> None:
    body = error_body("PARAMETER_REQUIRED", "A required parameter was not supplied.", "To")
    error = error_of(lambda: parse_send(reply(body, 400)))
    assert type(error) is ProviderRefused
    assert error.exit_code is ExitCode.REFUSED
    assert int(error.exit_code) == 5
    assert error.provider_code == "PARAMETER_REQUIRED"
    assert "A required parameter was not supplied." in error.message
    assert "To" in error.message and "(fields: To)" in error.message
    assert "HTTP 400" in error.message


def test_parse_send_several_fields_named() -> None:
    body = error_body("INVALID_PARAMETER", "Bad fields.", "To", "Schedule")
    error = error_of(lambda: parse_send(reply(body, 400)))
    assert "(fields: To, Schedule)" in error.message


def test_parse_send_401_is_login_refused() -> None:
    body = error_body("UNAUTHORIZED", "Invalid or missing credentials.")
    error = error_of(lambda: parse_send(reply(body, 401)))
    assert type(error) is LoginRefused
    assert error.exit_code is ExitCode.REFUSED
    assert error.provider_code == "UNAUTHORIZED"
    assert "Invalid or missing credentials." in error.message


def test_parse_send_401_without_json_is_login_refused() -> None:
    error = error_of(lambda: parse_send(reply(b"Unauthorized", 401, "text/plain")))
    assert type(error) is LoginRefused and error.provider_code is None
    assert "Unauthorized" in error.message


def test_parse_send_403_forbidden() -> None:
    body = error_body("FORBIDDEN", "The property is not enabled for SMS.")
    error = error_of(lambda: parse_send(reply(body, 403)))
    assert type(error) is ProviderRefused
    assert error.exit_code is ExitCode.REFUSED
    assert error.provider_code == "FORBIDDEN"
    assert "The property is not enabled for SMS." in error.message and "HTTP 403" in error.message


def test_parse_send_404_is_not_found() -> None:
    body = error_body("NOT_FOUND", "No such property.")
    error = error_of(lambda: parse_send(reply(body, 404)))
    assert type(error) is ProviderRefused and error.code == "not_found"


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(reply({"message": "Too Many Requests"}, 429), id="json"),
        pytest.param(reply(b"", 429), id="empty"),
    ],
)
def test_parse_send_429_is_unavailable(response: Response) -> None:
    error = error_of(lambda: parse_send(response))
    assert type(error) is ProviderUnavailable
    assert error.exit_code is ExitCode.UNAVAILABLE
    assert int(error.exit_code) == 6
    assert error.code == "rate_limited"


def test_parse_send_500_html_is_outcome_unknown() -> None:
    error = error_of(lambda: parse_send(reply(HTML.encode(), 500, "text/html; charset=utf-8")))
    assert type(error) is OutcomeUnknown
    assert error.exit_code is ExitCode.UNKNOWN
    assert "HTML" in error.message and "500" in error.message
    assert "<" not in error.message and "\n" not in error.message


def test_parse_send_500_with_response_status_is_outcome_unknown() -> None:
    body = error_body("INTERNAL_ERROR", "Something broke.")
    error = error_of(lambda: parse_send(reply(body, 500)))
    assert type(error) is OutcomeUnknown and error.exit_code is ExitCode.UNKNOWN


def test_parse_status_500_is_unavailable() -> None:
    error = error_of(lambda: parse_status(reply(HTML.encode(), 500, "text/html")))
    assert type(error) is ProviderUnavailable
    assert error.exit_code is ExitCode.UNAVAILABLE
    assert "HTML" in error.message


@pytest.mark.parametrize(
    "errors",
    [
        pytest.param(
            [{"FieldName": "To", "ErrorCode": "INVALID", "Message": "bad number", "Meta": {}}],
            id="extra-keys",
        ),
        pytest.param(
            [{"Field": "To"}, "To", None, {"FieldName": 3}, {"FieldName": "To"}], id="mixed"
        ),
    ],
)
def test_error_items_with_other_shapes_are_tolerated(errors: list[Any]) -> None:
    body = {
        "ResponseStatus": {"ErrorCode": "INVALID_PARAMETER", "Message": "Bad.", "Errors": errors}
    }
    error = error_of(lambda: parse_send(reply(body, 400)))
    assert type(error) is ProviderRefused and error.provider_code == "INVALID_PARAMETER"
    assert "(fields: To)" in error.message


@pytest.mark.parametrize(
    "errors",
    [
        pytest.param(None, id="null"),
        pytest.param("To", id="text"),
        pytest.param({"FieldName": "To"}, id="object"),
        pytest.param(3, id="number"),
        pytest.param(True, id="bool"),
    ],
)
def test_errors_that_are_not_a_list_are_tolerated(errors: Any) -> None:
    body = {
        "ResponseStatus": {"ErrorCode": "INVALID_PARAMETER", "Message": "Bad.", "Errors": errors}
    }
    error = error_of(lambda: parse_send(reply(body, 400)))
    assert type(error) is ProviderRefused and error.provider_code == "INVALID_PARAMETER"
    assert "Bad." in error.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"ResponseStatus": "FORBIDDEN"}, id="text"),
        pytest.param({"ResponseStatus": ["FORBIDDEN"]}, id="list"),
        pytest.param({"ResponseStatus": None}, id="null"),
        pytest.param({"ResponseStatus": {"ErrorCode": 403, "Message": ["x"]}}, id="odd-members"),
        pytest.param({"error": "forbidden"}, id="other-shape"),
        pytest.param(["FORBIDDEN"], id="json-list"),
    ],
)
def test_response_status_of_another_shape_is_tolerated(data: Any) -> None:
    error = error_of(lambda: parse_send(reply(data, 403)))
    assert type(error) is ProviderRefused
    assert error.exit_code is ExitCode.REFUSED
    assert error.provider_code is None
    assert "HTTP 403" in error.message and "\n" not in error.message


# --------------------------------------------------------------------------- status replies


def resource(**fields: Any) -> Response:
    base = {**ACCEPTED["Message"], "Direction": "Transmit", "NumSegments": 1}
    return reply({"Message": {**base, **fields}})


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("Processing", Status.QUEUED),
        ("processing", Status.QUEUED),
        ("PROCESSING", Status.QUEUED),
        ("Submitted", Status.SENT),
        ("submitted", Status.SENT),
        ("SUBMITTED", Status.SENT),
        ("Delivered", Status.DELIVERED),
        ("delivered", Status.DELIVERED),
        ("DELIVERED", Status.DELIVERED),
        ("Failed", Status.FAILED),
        ("failed", Status.FAILED),
        ("FAILED", Status.FAILED),
        ("Received", Status.DELIVERED),
    ],
)
def test_status_words(word: str, status: Status) -> None:
    report = parse_status(resource(Status=word))
    assert report.status is status
    assert report.provider_status == word


@pytest.mark.parametrize("word", ["Queued", "Scheduled", "Cancelled", "in limbo"])
def test_unknown_status_word_keeps_provider_status(word: str) -> None:
    report = parse_status(resource(Status=word))
    assert report.status is Status.UNKNOWN
    assert report.provider_status == word


@pytest.mark.parametrize("value", [None, ""])
def test_missing_status_word(value: str | None) -> None:
    report = parse_status(resource(Status=value))
    assert report.status is Status.UNKNOWN and report.provider_status is None


@pytest.mark.parametrize(
    ("dates", "iso"),
    [
        pytest.param(
            {"Created": 1700000000, "Submitted": 1700000001, "Delivered": 1700000002},
            "2023-11-14T22:13:22+00:00",
            id="delivered",
        ),
        pytest.param(
            {"Created": 1700000000, "Submitted": 1700000001, "Delivered": None},
            "2023-11-14T22:13:21+00:00",
            id="submitted",
        ),
        pytest.param(
            {"Created": 1700000000, "Submitted": None}, "2023-11-14T22:13:20+00:00", id="created"
        ),
        pytest.param({}, None, id="none"),
    ],
)
def test_status_date_is_iso_utc(dates: dict[str, Any], iso: str | None) -> None:
    report = parse_status(resource(Status="Delivered", **dates))
    assert report.date == iso


def test_status_error_code_is_the_error() -> None:
    report = parse_status(resource(Status="Failed", ErrorCode="UNDELIVERABLE", Created=1700000000))
    assert report.status is Status.FAILED
    assert report.error == {"detail": "ErrorCode UNDELIVERABLE", "provider_code": "UNDELIVERABLE"}


@pytest.mark.parametrize("value", [None, ""])
def test_status_without_error_code(value: str | None) -> None:
    assert parse_status(resource(Status="Delivered", ErrorCode=value)).error is None


def test_status_segments_in_details() -> None:
    assert parse_status(resource(Status="Delivered", NumSegments=3)).details == {"segments": 3}


@pytest.mark.parametrize(
    ("response", "cls", "exit_code"),
    [
        pytest.param(
            reply(error_body("MESSAGE_NOT_FOUND", "Not found."), 404),
            ProviderRefused,
            ExitCode.REFUSED,
            id="404",
        ),
        pytest.param(
            reply(error_body("UNAUTHORIZED", "No."), 401), LoginRefused, ExitCode.REFUSED, id="401"
        ),
        pytest.param(reply(b"", 429), ProviderUnavailable, ExitCode.UNAVAILABLE, id="429"),
        pytest.param(reply(b"", 503), ProviderUnavailable, ExitCode.UNAVAILABLE, id="503"),
    ],
)
def test_status_errors(response: Response, cls: type[SmscliError], exit_code: ExitCode) -> None:
    error = error_of(lambda: parse_status(response))
    assert type(error) is cls and error.exit_code is exit_code


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(reply(b""), id="200-empty"),
        pytest.param(reply(HTML.encode(), content_type="text/html"), id="200-html"),
        pytest.param(reply({"Result": "ok"}), id="200-no-message"),
    ],
)
def test_status_unreadable_reply_is_unavailable_not_unknown(response: Response) -> None:
    """A status lookup sends nothing: an unreadable reply is exit 6 (as for CSL and emnify),
    never exit 7 with "the message may have been sent"."""
    error = error_of(lambda: parse_status(response))
    assert type(error) is ProviderUnavailable
    assert error.exit_code is ExitCode.UNAVAILABLE
    assert "may have been sent" not in error.message


# --------------------------------------------------------------------------- local checks


def check(msg: Message) -> None:
    FoneDynamics(settings()).check_message(msg, [target()])


@pytest.mark.parametrize(
    "delta",
    [
        pytest.param(timedelta(days=14, minutes=5), id="14-days-5-min-ahead"),
        pytest.param(timedelta(days=30), id="30-days-ahead"),
        pytest.param(timedelta(hours=-1, minutes=-5), id="65-min-past"),
        pytest.param(timedelta(days=-2), id="2-days-past"),
    ],
)
def test_schedule_out_of_window(delta: timedelta) -> None:
    error = error_of(lambda: check(message(at=datetime.now(UTC) + delta)))
    assert type(error) is InputError
    assert error.exit_code is ExitCode.INVALID
    assert int(error.exit_code) == 4
    assert error.code == "invalid_schedule"


@pytest.mark.parametrize(
    "delta",
    [
        pytest.param(timedelta(days=13, hours=23), id="almost-14-days"),
        pytest.param(timedelta(minutes=5), id="soon"),
        pytest.param(timedelta(minutes=-30), id="30-min-past-sends-now"),
    ],
)
def test_schedule_within_window(delta: timedelta) -> None:
    check(message(at=datetime.now(UTC) + delta))


def test_schedule_window_with_another_offset() -> None:
    check(message(at=datetime.now(timezone(timedelta(hours=10))) + timedelta(days=1)))
    with pytest.raises(InputError):
        check(message(at=datetime.now(timezone(timedelta(hours=-5))) + timedelta(days=15)))


@pytest.mark.parametrize("key", LEASE_ONLY)
@pytest.mark.parametrize("sender", ["+61499009990", "MyShop"])
def test_lease_only_option_with_a_sender(key: str, sender: str) -> None:
    error = error_of(lambda: check(message(sender=sender, extra={key: "x"})))
    assert type(error) is InputError and error.code == "lease_only_option"
    assert "--" + key.replace("_", "-") in error.message


@pytest.mark.parametrize(
    "sender", [pytest.param(None, id="no-sender"), pytest.param("", id="blank-sender")]
)
def test_leased_sender_with_forwarding_passes(sender: str | None) -> None:
    extra = {
        "forward_to_sms": "+61499333222",
        "forward_from_sms": "",
        "forward_to_email": "a@x.test",
        "forward_from_email": "b@x.test",
        "reply_webhook": "https://x.test/r",
        "reply_method": "POST",
    }
    check(message(sender=sender, extra=extra))


def test_receipt_webhook_needs_delivery_receipts() -> None:
    msg = message(extra={"delivery_receipt": False, "receipt_webhook": "https://x.test/dr"})
    error = error_of(lambda: check(msg))
    assert type(error) is InputError and error.code == "conflicting_options"


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"delivery_receipt": True, "receipt_webhook": "https://x.test/dr"}, id="on"),
        pytest.param({"receipt_webhook": "https://x.test/dr"}, id="default"),
        pytest.param({"delivery_receipt": False, "receipt_method": "GET"}, id="method-only"),
    ],
)
def test_receipt_options_that_pass(extra: dict[str, Any]) -> None:
    check(message(sender="+61499009990", extra=extra))


# --------------------------------------------------------------------------- conversations


@dataclass
class Recorder:
    """A transport handler that keeps every request and passes it to ``inner``."""

    inner: httpx.BaseTransport
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.inner.handle_request(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


@pytest.fixture
def clock() -> list[float]:
    return [T0]


@pytest.fixture
def sandbox(clock: list[float]) -> Sandbox:
    return Sandbox(clock=lambda: clock[0])


@pytest.fixture
def recorder(sandbox: Sandbox) -> Recorder:
    return Recorder(sandbox.transport())


@pytest.fixture
def sleeps() -> list[float]:
    return []


def session_for(
    recorder: Recorder,
    sleeps: list[float] | None = None,
    *,
    secret: str = "tok-1234",
    timeout: float = 30.0,
    trace: Callable[[str], None] | None = None,
) -> HttpSession:
    return HttpSession(
        tokens=TokenCache(None).for_key("k"),
        redactor=Redactor([secret]),
        transport=httpx.MockTransport(recorder),
        timeout=timeout,
        trace=trace,
        sleep=(sleeps if sleeps is not None else []).append,
    )


@pytest.fixture
def session(recorder: Recorder, sleeps: list[float]) -> Iterator[HttpSession]:
    with session_for(recorder, sleeps) as s:
        yield s


SEND_PATH = "POST /fonedynamics/v2/Properties/PR1/Messages"


def test_send_is_one_authenticated_request(
    session: HttpSession, recorder: Recorder, sandbox: Sandbox
) -> None:
    [result] = FoneDynamics(settings()).send(session, message("hello"), [target()])
    assert result.status is Status.ACCEPTED
    assert result.provider == "fonedynamics" and result.profile == "test"
    assert result.target == f"msisdn:{TO}"
    assert result.message_id is not None and result.message_id.startswith("M")
    assert len(result.message_id) == 32
    assert result.segments == 1 and result.encoding == "gsm7"
    assert result.details == {"from": LEASED_NUMBER}
    assert recorder.paths() == [SEND_PATH]
    [sent] = recorder.requests
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"AC1:tok-1234").decode()
    assert json.loads(sent.content) == {"To": TO, "Text": "hello"}
    [stored] = sandbox.messages()
    assert stored["id"] == result.message_id and stored["target"] == TO


@pytest.mark.parametrize(
    ("sender", "shown"),
    [
        pytest.param(None, LEASED_NUMBER, id="omitted-is-leased"),
        pytest.param("", LEASED_NUMBER, id="blank-is-leased"),
        pytest.param("+61499009990", "+61499009990", id="e164"),
        pytest.param("MyShop", "MyShop", id="alphanumeric"),
    ],
)
def test_send_reports_the_actual_sender(
    session: HttpSession, sender: str | None, shown: str
) -> None:
    [result] = FoneDynamics(settings()).send(session, message(sender=sender), [target()])
    assert result.details == {"from": shown}


def test_send_with_every_option_reaches_the_sandbox(
    session: HttpSession, recorder: Recorder, sandbox: Sandbox
) -> None:
    at = datetime.fromtimestamp(T0 + 3600, UTC)
    extra = {
        "delivery_receipt": True,
        "receipt_webhook": "https://x.test/dr",
        "receipt_method": "GET",
        "forward_to_sms": "+61499333222",
        "forward_to_email": "a@x.test",
        "reply_webhook": "https://x.test/r",
        "reply_method": "POST",
    }
    msg = message("Grüße 👋", sender="", at=at, reference="job42", extra=extra)
    [result] = FoneDynamics(settings()).send(session, msg, [target()])
    assert result.status is Status.ACCEPTED and result.reference == "job42"
    assert result.encoding == "ucs2"
    [stored] = sandbox.messages()
    assert stored["text"] == "Grüße 👋"
    assert stored["fields"]["Schedule"] == int(T0 + 3600)
    assert stored["fields"]["ExternalId"] == "job42"
    assert stored["fields"]["WebhookMethod"] == "POST"
    assert "\\u" not in recorder.requests[0].content.decode()


def test_several_targets_are_one_request_each(session: HttpSession, recorder: Recorder) -> None:
    targets = [target(), target("+61488023556")]
    results = FoneDynamics(settings()).send(session, message(), targets)
    assert [r.target for r in results] == [f"msisdn:{TO}", "msisdn:+61488023556"]
    assert len({r.message_id for r in results}) == 2
    assert recorder.paths() == [SEND_PATH, SEND_PATH]


def test_dry_run_is_what_send_puts_on_the_wire(session: HttpSession, recorder: Recorder) -> None:
    provider = FoneDynamics(settings())
    msg = message("Grüße", sender="MyShop", reference="r1", extra={"delivery_receipt": False})
    [planned] = provider.dry_run(msg, [target()])
    provider.send(session, msg, [target()])
    [sent] = recorder.requests
    assert planned.method == sent.method
    assert planned.url == str(sent.url)
    assert (planned.body_text() or "").encode() == sent.content
    for name, value in planned.headers.items():
        assert sent.headers[name] == value


def test_dry_run_one_request_per_target_and_no_io(recorder: Recorder) -> None:
    requests = FoneDynamics(settings()).dry_run(message(), [target(), target("+61488023556")])
    assert [body_of(r)["To"] for r in requests] == [TO, "+61488023556"]
    assert recorder.requests == []


def test_scheduled_send_goes_through(session: HttpSession, sandbox: Sandbox) -> None:
    at = datetime.fromtimestamp(T0 + 86400, UTC)
    FoneDynamics(settings()).send(session, message(at=at), [target()])
    assert sandbox.messages()[0]["fields"]["Schedule"] == int(T0) + 86400


@pytest.mark.parametrize(("suffix", "cls", "exit_code", "requests"), MAGIC_SEND_FAILURES)
def test_magic_failures(
    recorder: Recorder,
    suffix: str,
    cls: type[SmscliError],
    exit_code: ExitCode,
    requests: int,
) -> None:
    sleeps: list[float] = []
    with session_for(recorder, sleeps, timeout=5.0) as session:
        error = error_of(
            lambda: FoneDynamics(settings()).send(session, message(), [magic_target(suffix)])
        )
    assert type(error) is cls and error.exit_code is exit_code
    # 429 was never processed and is retried (1 + 2 retries); a send that may have been
    # processed (timeout, drop, 500) is never retried.
    assert len(recorder.requests) == requests
    assert recorder.paths() == [SEND_PATH] * requests
    assert len(sleeps) == requests - 1


def send_error(provider: FoneDynamics, session: HttpSession, to: Target) -> SmscliError:
    with pytest.raises(SmscliError) as info:
        provider.send(session, message(), [to])
    return info.value


def test_magic_provider_codes(session: HttpSession) -> None:
    provider = FoneDynamics(settings())
    codes = {s: send_error(provider, session, magic_target(s)) for s in ("0400", "0401", "0404")}
    assert codes["0400"].provider_code == "COUNTRY_UNAVAILABLE"
    assert codes["0401"].provider_code == "UNAUTHORIZED"
    assert codes["0404"].provider_code == "ADDRESS_NOT_FOUND"
    assert "(fields: To)" in codes["0404"].message


def test_429_retry_uses_retry_after_zero(recorder: Recorder) -> None:
    sleeps: list[float] = []
    with session_for(recorder, sleeps) as session, pytest.raises(ProviderUnavailable) as info:
        FoneDynamics(settings()).send(session, message(), [magic_target("0429")])
    assert sleeps == [0.0, 0.0]
    assert info.value.code == "rate_limited"


def test_500_on_a_send_is_never_retried(recorder: Recorder) -> None:
    sleeps: list[float] = []
    with session_for(recorder, sleeps) as session, pytest.raises(OutcomeUnknown) as info:
        FoneDynamics(settings()).send(session, message(), [magic_target("0500")])
    assert len(recorder.requests) == 1 and sleeps == []
    assert "HTML" in info.value.message and info.value.code == "server_error"


def test_0408_is_a_timeout(recorder: Recorder) -> None:
    with session_for(recorder, timeout=5.0) as session, pytest.raises(OutcomeUnknown) as info:
        FoneDynamics(settings()).send(session, message(), [magic_target("0408")])
    assert info.value.code == "timeout"
    assert "may have been processed" in info.value.message


def test_slow_reply_within_a_long_timeout_is_accepted(recorder: Recorder) -> None:
    with session_for(recorder, timeout=60.0) as session:
        [result] = FoneDynamics(settings()).send(session, message(), [magic_target("0408")])
    assert result.status is Status.ACCEPTED and result.message_id is not None


def test_0444_is_connection_lost(session: HttpSession) -> None:
    with pytest.raises(OutcomeUnknown) as info:
        FoneDynamics(settings()).send(session, message(), [magic_target("0444")])
    assert info.value.code == "connection_lost"


def test_0419_is_accepted_there_is_no_session(session: HttpSession, recorder: Recorder) -> None:
    [result] = FoneDynamics(settings()).send(session, message(), [magic_target("0419")])
    assert result.status is Status.ACCEPTED
    assert recorder.paths() == [SEND_PATH]


def test_refused_token_is_one_request_never_retried(recorder: Recorder, sandbox: Sandbox) -> None:
    with session_for(recorder, secret="refused") as session:
        error = error_of(
            lambda: FoneDynamics(settings(token="refused")).send(session, message(), [target()])
        )
    assert type(error) is LoginRefused and error.exit_code is ExitCode.REFUSED
    assert len(recorder.requests) == 1
    assert sandbox.messages() == []


def record_of(result: SendResult) -> dict[str, Any]:
    return {
        "provider": result.provider,
        "profile": result.profile,
        "target": result.target,
        "message_id": result.message_id,
        "request_id": result.request_id,
        "uuid": result.uuid,
        "reference": result.reference,
        "parts": result.parts,
        "details": result.details,
        "date": result.date,
    }


def test_status_moves_queued_sent_delivered(
    session: HttpSession, recorder: Recorder, clock: list[float]
) -> None:
    provider = FoneDynamics(settings())
    [result] = provider.send(session, message(), [target()])
    seen = []
    for step in (0.0, 1.0, 2.0):
        clock[0] = T0 + step
        seen.append(provider.status(session, record_of(result)))
    assert [r.status for r in seen] == [Status.QUEUED, Status.SENT, Status.DELIVERED]
    assert [r.provider_status for r in seen] == ["Processing", "Submitted", "Delivered"]
    assert [r.date for r in seen] == [
        "2023-11-14T22:13:20+00:00",
        "2023-11-14T22:13:21+00:00",
        "2023-11-14T22:13:22+00:00",
    ]
    assert all(r.error is None for r in seen)
    assert recorder.paths()[1:] == [f"GET /fonedynamics/v2/Messages/{result.message_id}"] * 3


@pytest.mark.parametrize(
    ("suffix", "error_code", "status"),
    [
        pytest.param("0410", "UNDELIVERABLE", Status.FAILED, id="failed"),
        # Failed with an ErrorCode naming EXPIRED is `expired` (issue 9).
        pytest.param("0411", "EXPIRED", Status.EXPIRED, id="expired"),
    ],
)
def test_delivery_failures_end_failed_or_expired(
    session: HttpSession, clock: list[float], suffix: str, error_code: str, status: Status
) -> None:
    provider = FoneDynamics(settings())
    [result] = provider.send(session, message(), [magic_target(suffix)])
    assert result.status is Status.ACCEPTED
    clock[0] = T0 + 5
    report = provider.status(session, record_of(result))
    assert report.status is status and report.provider_status == "Failed"
    assert report.error is not None and report.error["provider_code"] == error_code


def test_status_of_an_unknown_sid_is_not_found(session: HttpSession) -> None:
    record = {"message_id": "M" + "0" * 31}
    error = error_of(lambda: FoneDynamics(settings()).status(session, record))
    assert type(error) is ProviderRefused and error.code == "not_found"
    assert error.provider_code == "MESSAGE_NOT_FOUND"


def test_status_of_another_accounts_message_is_not_found(
    session: HttpSession, recorder: Recorder
) -> None:
    [result] = FoneDynamics(settings()).send(session, message(), [target()])
    other = FoneDynamics(settings(account_sid="AC2"))
    with pytest.raises(ProviderRefused):
        other.status(session, record_of(result))


def test_status_without_a_message_id_makes_no_request(
    session: HttpSession, recorder: Recorder
) -> None:
    error = error_of(lambda: FoneDynamics(settings()).status(session, {"message_id": None}))
    assert type(error) is InputError and error.code == "no_message_id"
    assert recorder.requests == []


def test_status_5xx_is_retried_then_unavailable() -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text=HTML, headers={"Content-Type": "text/html"})

    recorder = Recorder(httpx.MockTransport(failing))
    sleeps: list[float] = []
    with session_for(recorder, sleeps) as session:
        error = error_of(lambda: FoneDynamics(settings()).status(session, {"message_id": "M1"}))
    assert type(error) is ProviderUnavailable and error.exit_code is ExitCode.UNAVAILABLE
    assert len(recorder.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    ("account", "token"),
    [("AC1", "tok-1234"), ("anyone", "anything at all"), ("x", "y:z")],
)
def test_login_accepts_any_credentials(recorder: Recorder, account: str, token: str) -> None:
    with session_for(recorder, secret=token) as session:
        FoneDynamics(settings(token=token, account_sid=account)).login(session)
    assert recorder.paths() == ["GET /fonedynamics/v2/Messages/MSMSCLIDOCTORCHECK"]


def test_login_refused(recorder: Recorder) -> None:
    with session_for(recorder, secret="refused") as session:
        error = error_of(lambda: FoneDynamics(settings(token="refused")).login(session))
    assert type(error) is LoginRefused and error.exit_code is ExitCode.REFUSED
    assert len(recorder.requests) == 1


def test_logout_makes_no_request(session: HttpSession, recorder: Recorder) -> None:
    FoneDynamics(settings()).logout(session)
    assert recorder.requests == []


# --------------------------------------------------------------------------- secrets


def leaks(text: str) -> bool:
    return TOKEN in text or BASIC_PAIR in text or "S3cr3t" in text


def test_dry_run_rendered_has_no_secret() -> None:
    redactor = Redactor([TOKEN])
    msg = message("hi", extra={"reply_webhook": "https://x.test/r"})
    requests = FoneDynamics(settings(token=TOKEN)).dry_run(msg, [target(), magic_target("0400")])
    assert len(requests) == 2
    for request in requests:
        assert BASIC_PAIR in request.headers["Authorization"]  # the real header, before redaction
        headers = redactor.headers(request.headers)
        assert headers["Authorization"] == "Basic ***"
        assert headers["Accept"] == "application/json"
        rendered = [redactor.text(request.full_url()), json.dumps(headers)]
        rendered.append(redactor.body(request.body_text()) or "")
        for part in rendered:
            assert not leaks(part), part


def test_token_never_leaks(recorder: Recorder, sandbox: Sandbox, clock: list[float]) -> None:
    lines: list[str] = []
    provider = FoneDynamics(settings(token=TOKEN))
    with session_for(recorder, secret=TOKEN, trace=lines.append) as session:
        [ok] = provider.send(session, message("hi"), [target()])
        errors = [
            send_error(provider, session, magic_target(suffix))
            for suffix in ("0400", "0401", "0404", "0408", "0429", "0444", "0500")
        ]
        clock[0] = T0 + 5
        report = provider.status(session, record_of(ok))
        errors.append(error_of(lambda: provider.status(session, {"message_id": "M0"})))
    assert any("Basic ***" in line for line in lines)
    texts = [
        *lines,
        *(e.message for e in errors),
        *(str(e.hint) for e in errors),
        json.dumps(ok.to_json()),
        str(report),
        json.dumps(sandbox.messages()),
    ]
    for text in texts:
        assert not leaks(text), text


def test_refused_login_error_does_not_quote_the_token(recorder: Recorder) -> None:
    with session_for(recorder, secret="refused") as session:
        error = error_of(lambda: FoneDynamics(settings(token="refused")).login(session))
    assert base64.b64encode(b"AC1:refused").decode() not in error.message


def test_magic_table_is_covered() -> None:
    covered = {"0400", "0401", "0404", "0408", "0410", "0411", "0419", "0429", "0444", "0500"}
    assert set(MAGIC) == covered


# --------------------------------------------------------------------------- doctor's probe
# UNCONFIRMED how the real API answers an unknown MessageSid (the sandbox's 404 with a
# ResponseStatus MESSAGE_NOT_FOUND is its own invention): `doctor` takes the plausible
# answers as "the credentials work", and still tells a wrong base_url from them (issue 10).

PROBE = "/fonedynamics/v2/Messages/MSMSCLIDOCTORCHECK"
NO_ROUTE_PAGE = (404, "text/plain", b"Handler for Request not found (404)")


def answering(probe: tuple[int, str, bytes], no_route: tuple[int, str, bytes]) -> Recorder:
    """An API that answers the probe's lookup with ``probe`` and any other path with
    ``no_route`` (status, content type, body)."""

    def handle(request: httpx.Request) -> httpx.Response:
        status, ctype, body = probe if request.url.path == PROBE else no_route
        return httpx.Response(status, content=body, headers={"Content-Type": ctype})

    return Recorder(httpx.MockTransport(handle))


def as_json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode()


@pytest.mark.parametrize(
    "probe",
    [
        pytest.param(as_json(404, error_body("MESSAGE_NOT_FOUND", "No.")), id="404-sandbox"),
        pytest.param(as_json(404, error_body("NOT_FOUND", "No.")), id="404-other-code"),
        pytest.param(as_json(404, {"ResponseStatus": {}}), id="404-bare-response-status"),
        pytest.param(
            as_json(400, error_body("INVALID_PARAMETER", "Invalid.", "MessageSid")),
            id="400-field-names-the-sid",
        ),
        pytest.param(as_json(400, error_body("INVALID_MESSAGE_SID", "No.")), id="400-code-sid"),
        pytest.param(as_json(400, error_body("MESSAGE_NOT_FOUND", "No.")), id="400-code-msg"),
        pytest.param(
            as_json(400, error_body("INVALID_PARAMETER", "MSMSCLIDOCTORCHECK is not valid.")),
            id="400-text-quotes-the-sid",
        ),
    ],
)
def test_doctor_takes_a_plausible_unknown_message_answer_at_once(
    probe: tuple[int, str, bytes],
) -> None:
    recorder = answering(probe, NO_ROUTE_PAGE)
    with session_for(recorder) as session:
        FoneDynamics(settings()).login(session)
    assert recorder.paths() == [f"GET {PROBE}"]


@pytest.mark.parametrize(
    "probe",
    [
        pytest.param((404, "application/json", b""), id="404-empty"),
        pytest.param((404, "text/plain", b""), id="404-empty-text"),
        pytest.param(as_json(404, {}), id="404-empty-object"),
        pytest.param(as_json(404, {"Message": None}), id="404-null-message"),
        pytest.param((404, "text/plain", b"Not Found"), id="404-text-vs-empty-no-route"),
    ],
)
def test_doctor_takes_another_404_when_a_path_without_route_answers_otherwise(
    probe: tuple[int, str, bytes],
) -> None:
    no_route = (404, "text/html", b"<html><title>404</title></html>")
    recorder = answering(probe, no_route)
    with session_for(recorder) as session:
        FoneDynamics(settings()).login(session)
    assert recorder.paths() == [f"GET {PROBE}", f"GET {PROBE}/SmscliNoSuchRoute"]
    assert recorder.requests[1].headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("probe", "no_route"),
    [
        pytest.param(NO_ROUTE_PAGE, NO_ROUTE_PAGE, id="framework-page-both"),
        pytest.param((404, "text/plain", b""), (404, "text/plain", b""), id="empty-both"),
        pytest.param(
            as_json(404, {"message": "no emulator"}),
            as_json(404, {"message": "no emulator at all"}),
            id="other-json-both",
        ),
        pytest.param(
            (404, "text/html", b"<html>a</html>"), (404, "text/html", b"<html>b</html>"), id="html"
        ),
        pytest.param((404, "text/plain", b""), as_json(401, {}), id="no-route-is-no-404"),
        pytest.param(as_json(405, {}), NO_ROUTE_PAGE, id="405"),
    ],
)
def test_doctor_still_blames_a_wrong_base_url(
    probe: tuple[int, str, bytes], no_route: tuple[int, str, bytes]
) -> None:
    recorder = answering(probe, no_route)
    with session_for(recorder) as session:
        error = error_of(lambda: FoneDynamics(settings()).login(session))
    assert type(error) is ConfigError and error.code == "wrong_base_url"
    assert "the base_url's path looks wrong (the credentials were not checked)" in error.message


@pytest.mark.parametrize(
    "probe",
    [
        pytest.param(as_json(400, error_body("COUNTRY_UNAVAILABLE", "No.")), id="400-other"),
        pytest.param(as_json(400, error_body("INVALID_PARAMETER", "Bad.", "To")), id="400-to"),
        pytest.param(as_json(403, error_body("FORBIDDEN", "No.")), id="403"),
    ],
)
def test_doctor_reports_other_refusals(probe: tuple[int, str, bytes]) -> None:
    recorder = answering(probe, NO_ROUTE_PAGE)
    with session_for(recorder) as session:
        error = error_of(lambda: FoneDynamics(settings()).login(session))
    assert type(error) is ProviderRefused
    assert len(recorder.requests) == 1


def test_doctor_against_the_sandbox_needs_one_request(recorder: Recorder) -> None:
    with session_for(recorder) as session:
        FoneDynamics(settings()).login(session)
    assert recorder.paths() == [f"GET {PROBE}"]
