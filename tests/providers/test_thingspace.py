"""smscli.providers.thingspace: builders, parsers, checks and conversations with the sandbox.

Reply bodies come from reference/providers-thingspace-emnify.md §1 and seed 002.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from smscli import catalog
from smscli.encoding import analyze, analyze_binary
from smscli.errors import (
    ExitCode,
    InputError,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    SmscliError,
)
from smscli.http_client import HttpSession
from smscli.models import Message, Response, Settings, Status, Target
from smscli.providers import thingspace as ts
from smscli.redaction import Redactor
from smscli.sandbox.server import Sandbox
from smscli.sandbox.thingspace import ThingSpaceEmulator
from smscli.tokens import TokenCache

BASE = "http://sandbox.test/thingspace"
ICCID = "89148000000800139708"
SECRET = "S3cr3t-P4ss!<&>"
VALUES = {
    "client_id": "app-key-1",
    "client_secret": "app-secret-1",
    "username": "uws-user",
    "password": "uws-pass-1",
    "account_name": "0000123456-00001",
}


def settings(**overrides: str) -> Settings:
    return Settings(
        slug="thingspace",
        profile="test",
        base_url=BASE,
        values={**VALUES, **overrides},
        secret_names=catalog.REGISTRY["thingspace"].secret_names,
    )


def provider(**overrides: str) -> ts.ThingSpace:
    return ts.ThingSpace(settings(**overrides))


def message(text: str = "Can you hear me now?", encoding: str = "auto", **extra: Any) -> Message:
    return Message(check=analyze(text, encoding=encoding), extra=extra)


def binary(data: bytes, **extra: Any) -> Message:
    return Message(check=analyze_binary(data), extra=extra)


def reply(status: int, body: Any = None, *, raw: bytes | None = None, **headers: str) -> Response:
    if raw is None:
        raw = b"" if body is None else json.dumps(body).encode()
    return Response(status, {k.replace("_", "-").lower(): v for k, v in headers.items()}, raw)


HTML_500 = b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head></html>"
AM_FAULT = (
    b'<am:fault xmlns:am="http://wso2.org/apimanager"><am:code>404</am:code>'
    b"<am:type>Status report</am:type><am:message>Not Found</am:message>"
    b"<am:description>The requested resource is not available.</am:description></am:fault>"
)
FAULT_900901 = {
    "fault": {
        "code": "900901",
        "message": "Invalid Credentials",
        "description": "Make sure you have given the correct access token",
    }
}
SESSION_EXPIRED = {
    "errorCode": "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired",
    "errorMessage": "The Session has expired.",
}


# --------------------------------------------------------------------------- builders


def test_token_request_is_basic_auth_and_form() -> None:
    request = ts.token_request(BASE, "key", "sec:ret")
    assert request.method == "POST"
    assert request.url == "http://sandbox.test/thingspace/api/ts/v1/oauth2/token"
    scheme, encoded = request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "key:sec:ret"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form == {"grant_type": "client_credentials"}
    assert request.body_text() == "grant_type=client_credentials"
    assert request.json is None


def test_login_request_sends_uws_credentials_with_the_bearer() -> None:
    request = ts.login_request(BASE, "tok", "user", "pw")
    assert (request.method, request.url) == (
        "POST",
        "http://sandbox.test/thingspace/api/m2m/v1/session/login",
    )
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Content-Type"] == "application/json"
    assert "VZ-M2M-Token" not in request.headers
    assert request.json == {"username": "user", "password": "pw"}


def test_send_request_carries_both_tokens() -> None:
    body = {"deviceIds": [{"kind": "iccid", "id": ICCID}], "smsMessage": "hi"}
    request = ts.send_request(BASE, "tok", "sess", body)
    assert (request.method, request.url) == ("POST", f"{BASE}/api/m2m/v1/sms")
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["VZ-M2M-Token"] == "sess"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == body


def test_logout_request_has_both_tokens_and_no_body() -> None:
    request = ts.logout_request(BASE, "tok", "sess")
    assert request.url == f"{BASE}/api/m2m/v1/session/logout"
    assert request.headers["VZ-M2M-Token"] == "sess"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.body_text() is None


@pytest.mark.parametrize(
    ("msg", "targets", "expected"),
    [
        pytest.param(
            message(),
            [Target("iccid", ICCID)],
            {
                "deviceIds": [{"kind": "iccid", "id": ICCID}],
                "accountName": "0000123456-00001",
                "dataEncoding": "7-bit",
                "smsMessage": "Can you hear me now?",
            },
            id="seed-single-device",
        ),
        pytest.param(
            message("hi"),
            [Target("msisdn", "+15551234567"), Target("mdn", "5551234567"), Target("imei", "1")],
            {
                "deviceIds": [
                    {"kind": "msisdn", "id": "15551234567"},
                    {"kind": "mdn", "id": "5551234567"},
                    {"kind": "imei", "id": "1"},
                ],
                "accountName": "0000123456-00001",
                "dataEncoding": "7-bit",
                "smsMessage": "hi",
            },
            id="several-devices-msisdn-without-plus",
        ),
        pytest.param(
            message("The rain in Spain", service_plan="plan A"),
            [Target("service_plan", "plan A")],
            {
                "accountName": "0000123456-00001",
                "servicePlan": "plan A",
                "dataEncoding": "7-bit",
                "smsMessage": "The rain in Spain",
            },
            id="seed-service-plan",
        ),
        pytest.param(
            message(
                "hi",
                group_name="fleet",
                service_plan="p",
                custom_fields={"CustomField1": "a", "CustomField5": "b"},
            ),
            [Target("selection", "x")],
            {
                "accountName": "0000123456-00001",
                "groupName": "fleet",
                "servicePlan": "p",
                "customFields": [
                    {"key": "CustomField1", "value": "a"},
                    {"key": "CustomField5", "value": "b"},
                ],
                "dataEncoding": "7-bit",
                "smsMessage": "hi",
            },
            id="group-plan-custom-fields",
        ),
        pytest.param(
            message("Grüße “quoted”"),
            [Target("iccid", ICCID)],
            {
                "deviceIds": [{"kind": "iccid", "id": ICCID}],
                "accountName": "0000123456-00001",
                "dataEncoding": "8-bit-UTF-8",
                "smsMessage": "Grüße “quoted”",
            },
            id="ucs2-text-is-8-bit-utf-8",
        ),
        pytest.param(
            binary(b"\x01\x02\xab"),
            [Target("iccid", ICCID)],
            {
                "deviceIds": [{"kind": "iccid", "id": ICCID}],
                "accountName": "0000123456-00001",
                "dataEncoding": "8-bit-DATA",
                "smsMessage": "0102AB",
            },
            id="binary-is-8-bit-data-hex",
        ),
        pytest.param(
            message("plain", data_encoding="8-bit-ASCII"),
            [Target("esn", "8A123456")],
            {
                "deviceIds": [{"kind": "esn", "id": "8A123456"}],
                "accountName": "0000123456-00001",
                "dataEncoding": "8-bit-ASCII",
                "smsMessage": "plain",
            },
            id="forced-data-encoding",
        ),
    ],
)
def test_sms_body(msg: Message, targets: list[Target], expected: dict[str, Any]) -> None:
    assert ts.sms_body(msg, targets, "0000123456-00001") == expected


def test_dry_run_is_the_three_requests_send_makes() -> None:
    requests = provider().dry_run(message(), [Target("iccid", ICCID)])
    assert [r.url for r in requests] == [
        f"{BASE}/api/ts/v1/oauth2/token",
        f"{BASE}/api/m2m/v1/session/login",
        f"{BASE}/api/m2m/v1/sms",
    ]
    assert requests[1].headers["Authorization"] == "Bearer ***"
    assert requests[2].headers["Authorization"] == "Bearer ***"
    assert requests[2].headers["VZ-M2M-Token"] == "***"
    assert requests[2].json == ts.sms_body(
        message(), [Target("iccid", ICCID)], VALUES["account_name"]
    )


# --------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("body", "lifetime"),
    [
        pytest.param(
            {"access_token": "a", "token_type": "Bearer", "expires_in": 3599}, 3599, id="int"
        ),
        pytest.param({"access_token": "a", "expires_in": "1800"}, 1800, id="number-as-string"),
        pytest.param({"access_token": "a"}, 3600, id="no-expiry-one-hour"),
        pytest.param({"access_token": "a", "expires_in": 86400}, 3600, id="capped-at-one-hour"),
        pytest.param({"access_token": "a", "expires_in": "soon"}, 3600, id="garbage-expiry"),
    ],
)
def test_parse_token(body: dict[str, Any], lifetime: float) -> None:
    assert ts.parse_token(reply(200, body), now=1000.0) == ("a", 1000.0 + lifetime)


@pytest.mark.parametrize(
    ("response", "error", "provider_code"),
    [
        pytest.param(
            reply(
                401,
                {"error": "invalid_client", "error_description": "Client Authentication failed."},
            ),
            LoginRefused,
            "invalid_client",
            id="oauth2-invalid-client",
        ),
        pytest.param(
            reply(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Missing grant_type parameter value",
                },
            ),
            LoginRefused,
            "invalid_request",
            id="oauth2-invalid-request",
        ),
        pytest.param(
            reply(401, {"fault": {"code": 900902, "message": "Missing Credentials"}}),
            LoginRefused,
            "900902",
            id="gateway-fault-code-as-number",
        ),
        pytest.param(reply(401), LoginRefused, None, id="401-empty-body"),
        pytest.param(
            reply(500, raw=HTML_500, content_type="text/html"),
            ProviderUnavailable,
            None,
            id="500-html",
        ),
        pytest.param(reply(429, {"message": "slow down"}), ProviderUnavailable, None, id="429"),
        pytest.param(
            reply(200, raw=b"<html>proxy</html>"), ProviderUnavailable, None, id="200-html"
        ),
        pytest.param(reply(200), ProviderUnavailable, None, id="200-empty"),
        pytest.param(reply(200, [{"access_token": "a"}]), ProviderUnavailable, None, id="200-list"),
        pytest.param(
            reply(200, {"access_token": None}), ProviderUnavailable, None, id="200-token-null"
        ),
    ],
)
def test_parse_token_failures(
    response: Response, error: type[SmscliError], provider_code: str | None
) -> None:
    with pytest.raises(error) as info:
        ts.parse_token(response, now=0.0)
    assert type(info.value) is error
    assert info.value.provider_code == provider_code
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"sessionToken": "bcce3ea6"}, ("bcce3ea6", 1200.0), id="documented"),
        pytest.param(
            {"sessionToken": "s", "expiresIn": "600"}, ("s", 600.0), id="expiresIn-string"
        ),
        pytest.param(
            {"sessionToken": "s", "expiresIn": 7200}, ("s", 1200.0), id="expiresIn-capped"
        ),
    ],
)
def test_parse_login(body: dict[str, Any], expected: tuple[str, float]) -> None:
    assert ts.parse_login(reply(200, body), now=0.0) == expected


@pytest.mark.parametrize(
    ("response", "error", "provider_code"),
    [
        pytest.param(
            reply(
                400,
                {
                    "errorCode": "UnifiedWebService.REQUEST_FAILED.LoginFailed",
                    "errorMessage": "Invalid user name or password",
                },
            ),
            LoginRefused,
            "UnifiedWebService.REQUEST_FAILED.LoginFailed",
            id="uws-refused",
        ),
        pytest.param(
            reply(401, FAULT_900901), ts.BearerRefused, "900901", id="gateway-refused-bearer"
        ),
        pytest.param(reply(401, raw=b""), ts.BearerRefused, None, id="401-empty"),
        pytest.param(
            reply(403, raw=AM_FAULT, content_type="application/xml"),
            LoginRefused,
            "404",
            id="am-fault",
        ),
        pytest.param(reply(503, raw=b""), ProviderUnavailable, None, id="503"),
        pytest.param(
            reply(200, {"token": "x"}), ProviderUnavailable, None, id="200-without-sessionToken"
        ),
        pytest.param(reply(200, raw=b"OK"), ProviderUnavailable, None, id="200-text"),
    ],
)
def test_parse_login_failures(
    response: Response, error: type[Exception], provider_code: str | None
) -> None:
    with pytest.raises(error) as info:
        ts.parse_login(response, now=0.0)
    assert getattr(info.value, "provider_code", None) == provider_code


def test_parse_send_reads_request_id_and_date() -> None:
    accepted = ts.parse_send(
        reply(
            200,
            {"requestId": "d1f08526-5443-4054-9a29-4456490ea9f8"},
            date="Tue, 03 Jun 2025 10:00:00 GMT",
        )
    )
    assert accepted == ts.Accepted(
        "d1f08526-5443-4054-9a29-4456490ea9f8", "2025-06-03T10:00:00+00:00"
    )


def test_parse_send_number_request_id_and_no_date() -> None:
    assert ts.parse_send(reply(200, {"requestId": 12345})) == ts.Accepted("12345", None)


@pytest.mark.parametrize(
    ("response", "error", "exit_code", "provider_code"),
    [
        pytest.param(
            reply(
                400,
                {
                    "errorCode": "DeviceService.REQUEST_FAILED.DeviceNotFound",
                    "errorMessage": "Device not found",
                },
            ),
            ProviderRefused,
            ExitCode.REFUSED,
            "DeviceService.REQUEST_FAILED.DeviceNotFound",
            id="400-errorCode",
        ),
        pytest.param(
            reply(400, {"errorCode": "DeviceService.INPUT_INVALID.CustomField.InvalidName"}),
            ProviderRefused,
            ExitCode.REFUSED,
            "DeviceService.INPUT_INVALID.CustomField.InvalidName",
            id="400-errorCode-without-message",
        ),
        pytest.param(
            reply(
                400,
                [{"errorCode": "X.INPUT_INVALID.Request.InvalidCharacter", "errorMessage": "bad"}],
            ),
            ProviderRefused,
            ExitCode.REFUSED,
            "X.INPUT_INVALID.Request.InvalidCharacter",
            id="400-list-of-errors",
        ),
        pytest.param(
            reply(
                200,
                {
                    "errorCode": "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
                    "errorMessage": "x",
                },
            ),
            ProviderRefused,
            ExitCode.REFUSED,
            "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
            id="error-inside-200",
        ),
        pytest.param(
            reply(403, raw=AM_FAULT, content_type="application/xml"),
            ProviderRefused,
            ExitCode.REFUSED,
            "404",
            id="403-am-fault-xml",
        ),
        pytest.param(
            reply(404, raw=b"<html><title>Not Found</title></html>", content_type="text/html"),
            ProviderRefused,
            ExitCode.REFUSED,
            None,
            id="404-html",
        ),
        pytest.param(
            reply(400, {"fault": {"code": "900906", "message": "No matching resource found"}}),
            ProviderRefused,
            ExitCode.REFUSED,
            "900906",
            id="400-gateway-wrong-path",
        ),
        pytest.param(
            reply(429, raw=b""), ProviderUnavailable, ExitCode.UNAVAILABLE, None, id="429"
        ),
        pytest.param(
            reply(500, raw=HTML_500, content_type="text/html"),
            OutcomeUnknown,
            ExitCode.UNKNOWN,
            None,
            id="500-html",
        ),
        pytest.param(reply(502, raw=b""), OutcomeUnknown, ExitCode.UNKNOWN, None, id="502-empty"),
        pytest.param(
            reply(500, SESSION_EXPIRED),
            OutcomeUnknown,
            ExitCode.UNKNOWN,
            None,
            id="500-session-wording-is-never-retried",
        ),
        pytest.param(
            reply(200, raw=b"<html>ok</html>"),
            OutcomeUnknown,
            ExitCode.UNKNOWN,
            None,
            id="200-html",
        ),
        pytest.param(reply(200), OutcomeUnknown, ExitCode.UNKNOWN, None, id="200-empty"),
        pytest.param(reply(200, ["d1f0"]), OutcomeUnknown, ExitCode.UNKNOWN, None, id="200-list"),
        pytest.param(
            reply(200, {"requestId": ""}), OutcomeUnknown, ExitCode.UNKNOWN, None, id="200-blank-id"
        ),
        pytest.param(reply(302, raw=b""), OutcomeUnknown, ExitCode.UNKNOWN, None, id="302"),
    ],
)
def test_parse_send_failures(
    response: Response, error: type[SmscliError], exit_code: ExitCode, provider_code: str | None
) -> None:
    with pytest.raises(error) as info:
        ts.parse_send(response)
    assert info.value.exit_code == exit_code
    assert info.value.provider_code == provider_code
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("response", "refusal"),
    [
        pytest.param(reply(401, FAULT_900901), ts.BearerRefused, id="401-fault-900901"),
        pytest.param(reply(401, {"fault": {"code": 900902}}), ts.BearerRefused, id="401-fault-int"),
        pytest.param(reply(401, raw=b"Unauthorized"), ts.BearerRefused, id="401-text"),
        pytest.param(reply(400, SESSION_EXPIRED), ts.M2MSessionRefused, id="400-session-expired"),
        pytest.param(reply(401, SESSION_EXPIRED), ts.M2MSessionRefused, id="401-session-expired"),
        pytest.param(
            reply(
                400, {"errorCode": "UWS.INPUT_INVALID.SESSIONTOKEN.INVALID", "errorMessage": "x"}
            ),
            ts.M2MSessionRefused,
            id="upper-case-session-invalid",
        ),
        pytest.param(
            reply(
                400,
                {
                    "errorCode": "INVALID_PARAMETER",
                    "errorMessage": "UWS verification failure (The Session has expired.)",
                },
            ),
            ts.M2MSessionRefused,
            id="wording-in-message-only",
        ),
        # The session-expired shape is UNCONFIRMED: the plausible alternatives.
        pytest.param(
            reply(
                400, {"errorCode": "INVALID_PARAMETER", "errorMessage": "UWS verification failure"}
            ),
            ts.M2MSessionRefused,
            id="uws-verification-failure",
        ),
        pytest.param(
            reply(400, {"errorMessage": "Session timed out"}),
            ts.M2MSessionRefused,
            id="session-timed-out",
        ),
        pytest.param(
            reply(
                400, {"errorCode": "X.REQUEST_FAILED.Unknown", "errorMessage": "Unknown session"}
            ),
            ts.M2MSessionRefused,
            id="unknown-session",
        ),
        pytest.param(
            reply(403, {"errorCode": "X.SessionToken.NotValid", "errorMessage": "x"}),
            ts.M2MSessionRefused,
            id="403-session-not-valid",
        ),
        pytest.param(
            reply(401, {"errorCode": "UnifiedWebService.Unauthorized", "errorMessage": "Denied"}),
            ts.BearerRefused,
            id="401-any-code",
        ),
        pytest.param(
            reply(401, {"error": "invalid_token", "error_description": "Access token expired"}),
            ts.BearerRefused,
            id="401-oauth-invalid-token",
        ),
        pytest.param(
            reply(400, {"errorCode": "X", "errorMessage": "The access token has expired"}),
            ts.BearerRefused,
            id="400-access-token-expired",
        ),
        pytest.param(reply(400, FAULT_900901), ts.BearerRefused, id="400-fault-900901"),
    ],
)
def test_parse_send_token_refusals(response: Response, refusal: type[Exception]) -> None:
    with pytest.raises(refusal):
        ts.parse_send(response)


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("UnifiedWebService.REQUEST_FAILED.SessionToken.Expired", "", True),
        ("X.REQUEST_FAILED.SessionNotFound", "", True),
        (None, "Invalid session token", True),
        ("X.INPUT_INVALID.Request.InvalidCharacter", "bad character", False),
        ("X.REQUEST_FAILED.AccountNotFound", "account expired", False),
        ("DeviceService.REQUEST_FAILED.DeviceNotFound", "not found", False),
        ("INVALID_PARAMETER", "UWS verification failure", True),
        (None, "Session timed out", True),
        (None, "session timeout", True),
        ("X.SessionToken.NotValid", "", True),
        (None, "The VZ-M2M-Token is not valid", True),
        (None, "Device is inactive", False),
        ("DeviceService.REQUEST_FAILED.DeviceNotFound", "Device unknown", False),
    ],
)
def test_is_session_error(code: str | None, message: str, expected: bool) -> None:
    assert ts.is_session_error(ts.ApiError(code, message)) is expected


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("900901", "Invalid Credentials", True),
        ("900902", "Missing Credentials", True),
        ("invalid_token", "The access token expired", True),
        (None, "Bearer token invalid", True),
        (
            "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired",
            "The Session has expired.",
            False,
        ),
        (None, "The VZ-M2M-Token is invalid", False),
        (None, "The session's access token expired", False),
        ("X.INPUT_INVALID.Request.InvalidCharacter", "bad character", False),
    ],
)
def test_is_bearer_error(code: str | None, message: str, expected: bool) -> None:
    assert ts.is_bearer_error(ts.ApiError(code, message)) is expected


# --------------------------------------------------------------------------- local checks


@pytest.mark.parametrize(
    ("msg", "targets", "code"),
    [
        pytest.param(
            message(group_name="g"),
            [Target("iccid", ICCID)],
            "conflicting_targets",
            id="devices-and-group",
        ),
        pytest.param(
            message(custom_fields={"CustomField1": "a"}),
            [Target("mdn", "5551234567")],
            "conflicting_targets",
            id="devices-and-custom-field",
        ),
        pytest.param(message(), [], "no_targets", id="nothing"),
        pytest.param(
            message(), [Target("endpoint", "12")], "unsupported_target", id="foreign-kind"
        ),
        pytest.param(
            message("字" * 47),
            [Target("iccid", ICCID)],
            "message_too_long",
            id="utf8-over-140-bytes",
        ),
        pytest.param(
            message("a" * 141, data_encoding="8-bit-ASCII"),
            [Target("iccid", ICCID)],
            "message_too_long",
            id="ascii-over-140",
        ),
        pytest.param(
            message("é" * 71, data_encoding="8-bit-UTF-8"),
            [Target("iccid", ICCID)],
            "message_too_long",
            id="gsm7-text-forced-utf8-over-140-bytes",
        ),
        pytest.param(
            message("café", data_encoding="8-bit-ASCII"),
            [Target("iccid", ICCID)],
            "not_ascii",
            id="ascii-forced-non-ascii",
        ),
        pytest.param(
            message("“hi”", data_encoding="7-bit"),
            [Target("iccid", ICCID)],
            "not_gsm7",
            id="7-bit-forced-ucs2",
        ),
        pytest.param(
            message("hi", data_encoding="8-bit-DATA"),
            [Target("iccid", ICCID)],
            "encoding_mismatch",
            id="data-needs-binary",
        ),
        pytest.param(
            binary(b"\x00", data_encoding="7-bit"),
            [Target("iccid", ICCID)],
            "encoding_mismatch",
            id="binary-needs-data",
        ),
        pytest.param(
            message(custom_fields={"CustomField9": "a"}),
            [Target("custom_field", "x")],
            "invalid_option",
            id="bad-custom-field",
        ),
        pytest.param(
            message(data_encoding="16-bit"),
            [Target("iccid", ICCID)],
            "invalid_option",
            id="bad-data-encoding",
        ),
    ],
)
def test_check_message_refuses(msg: Message, targets: list[Target], code: str) -> None:
    with pytest.raises(InputError) as info:
        provider().check_message(msg, targets)
    assert info.value.code == code
    assert info.value.exit_code == ExitCode.INVALID


@pytest.mark.parametrize(
    ("msg", "targets"),
    [
        pytest.param(message("字" * 46), [Target("iccid", ICCID)], id="utf8-138-bytes"),
        pytest.param(message("a" * 160), [Target("iccid", ICCID)], id="160-gsm7"),
        pytest.param(
            message("a" * 140, data_encoding="8-bit-ASCII"),
            [Target("iccid", ICCID)],
            id="140-ascii",
        ),
        pytest.param(binary(bytes(140)), [Target("iccid", ICCID)], id="140-octets"),
        pytest.param(message(group_name="g"), [Target("group", "g")], id="implicit-group"),
        pytest.param(message(), [Target(k, "1") for k in ts.DEVICE_KINDS], id="every-kind"),
    ],
)
def test_check_message_accepts(msg: Message, targets: list[Target]) -> None:
    provider().check_message(msg, targets)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({}, [], id="none"),
        pytest.param({"group_name": "fleet"}, [Target("group", "fleet")], id="group"),
        pytest.param({"service_plan": "p1"}, [Target("service_plan", "p1")], id="plan"),
        pytest.param(
            {"custom_fields": {"CustomField2": "x"}},
            [Target("custom_field", "CustomField2=x")],
            id="custom-field",
        ),
        pytest.param(
            {"group_name": "fleet", "custom_fields": {"CustomField1": "a"}},
            [Target("selection", "group=fleet;custom_field=CustomField1=a")],
            id="combined",
        ),
    ],
)
def test_implicit_targets(extra: dict[str, Any], expected: list[Target]) -> None:
    assert provider().implicit_targets(message(**extra)) == expected


def test_status_says_delivery_comes_by_callback() -> None:
    record = {"provider": "thingspace", "request_id": "d1f08526", "details": {}}
    with pytest.raises(InputError) as info:
        provider().status(_never_session(), record)
    assert info.value.exit_code == ExitCode.INVALID
    assert "callback" in info.value.message
    assert "SMSDeliveryConfirmation" in info.value.message
    assert "d1f08526" in info.value.message


def test_catalog_entry() -> None:
    info = catalog.REGISTRY["thingspace"]
    assert info.limits.max_targets_per_request == 10_000
    assert not (info.features.sender or info.features.at)
    assert info.features.validity  # timeToLive (issue 9)
    assert set(info.target_kinds) == set(ts.DEVICE_KINDS)
    assert info.provider() is ts.ThingSpace


# --------------------------------------------------------------------------- conversations


class Recorder(httpx.BaseTransport):
    """Delegates to the sandbox and keeps every request, to count logins and retries."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def steps(self) -> list[str]:
        names = {"token": "token", "login": "login", "logout": "logout", "sms": "sms"}
        return [names[r.url.path.rsplit("/", 1)[-1]] for r in self.requests]

    def clear(self) -> None:
        self.requests.clear()


class World:
    """A sandbox, an injected clock and a session factory sharing one token cache."""

    def __init__(self, token_ttl: float = 300.0, cache_path: Path | None = None) -> None:
        self.t = [1_700_000_000.0]
        self.sandbox = Sandbox(clock=self.clock, token_ttl=token_ttl)
        self.recorder = Recorder(self.sandbox.transport())
        self.cache = TokenCache(cache_path, clock=self.clock)

    def clock(self) -> float:
        return self.t[0]

    def session(
        self, cache: TokenCache | None = None, secrets: tuple[str, ...] = ()
    ) -> HttpSession:
        return HttpSession(
            tokens=(cache or self.cache).for_key("k"),
            redactor=Redactor(secrets),
            transport=self.recorder,
            timeout=5.0,
            clock=self.clock,
            sleep=lambda _: None,
        )

    @property
    def emulator(self) -> ThingSpaceEmulator:
        emulator = self.sandbox.emulator("thingspace")
        assert isinstance(emulator, ThingSpaceEmulator)
        return emulator


def _never_session() -> HttpSession:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request {request.url}")

    return HttpSession(
        tokens=TokenCache(None).for_key("k"),
        redactor=Redactor(),
        transport=httpx.MockTransport(refuse),
    )


def iccid(suffix: str = "") -> Target:
    """A 20-digit ICCID ending with a magic suffix of the sandbox."""
    return Target("iccid", ICCID[: len(ICCID) - len(suffix)] + suffix)


def test_first_send_logs_in_twice_then_sends() -> None:
    world = World()
    results = provider().send(world.session(), message(), [iccid()])
    assert world.recorder.steps() == ["token", "login", "sms"]
    token, login, sms = world.recorder.requests
    assert token.headers["authorization"].startswith("Basic ")
    assert login.headers["authorization"] == sms.headers["authorization"]
    [session_token] = world.emulator.sessions
    assert sms.headers["vz-m2m-token"] == session_token
    [result] = results
    assert result.status is Status.ACCEPTED
    assert result.request_id and result.message_id is None
    assert result.target == f"iccid:{ICCID}"
    assert result.details == {"data_encoding": "7-bit", "account_name": VALUES["account_name"]}
    stored = world.sandbox.messages()
    assert [m["fields"]["requestId"] for m in stored] == [result.request_id]


def test_second_send_reuses_both_cached_tokens() -> None:
    world = World()
    provider().send(world.session(), message(), [iccid()])
    world.recorder.clear()
    world.t[0] += 60
    provider().send(world.session(), message("again"), [iccid()])
    assert world.recorder.steps() == ["sms"]


def test_batch_goes_in_one_request_with_one_request_id() -> None:
    world = World()
    targets = [iccid(), Target("mdn", "5551234567"), Target("msisdn", "+15551234567")]
    results = provider().send(world.session(), message(), targets)
    assert world.recorder.steps() == ["token", "login", "sms"]
    body = json.loads(world.recorder.requests[-1].content)
    assert [d["kind"] for d in body["deviceIds"]] == ["iccid", "mdn", "msisdn"]
    assert len({r.request_id for r in results}) == 1
    assert [r.target for r in results] == [str(t) for t in targets]


def test_group_send_has_one_implicit_target() -> None:
    world = World()
    p = provider()
    msg = message(group_name="fleet-a")
    targets = p.implicit_targets(msg)
    p.check_message(msg, targets)
    [result] = p.send(world.session(), msg, targets)
    assert result.target == "group:fleet-a"
    body = json.loads(world.recorder.requests[-1].content)
    assert "deviceIds" not in body
    assert body["groupName"] == "fleet-a"
    assert body["accountName"] == VALUES["account_name"]


def test_magic_0419_relogs_the_session_once_and_retries_once() -> None:
    world = World()
    provider().send(world.session(), message(), [iccid()])
    world.recorder.clear()
    [result] = provider().send(world.session(), message(), [iccid("0419")])
    assert world.recorder.steps() == ["sms", "login", "sms"]
    assert result.status is Status.ACCEPTED
    first, _, retry = world.recorder.requests
    assert first.headers["vz-m2m-token"] != retry.headers["vz-m2m-token"]
    assert first.headers["authorization"] == retry.headers["authorization"]


def test_magic_0419_on_a_fresh_session_is_just_sent() -> None:
    world = World()
    provider().send(world.session(), message(), [iccid("0419")])
    assert world.recorder.steps() == ["token", "login", "sms"]


def test_idle_session_past_token_ttl_one_relogin_one_retry() -> None:
    world = World(token_ttl=300.0)
    provider().send(world.session(), message(), [iccid()])
    world.recorder.clear()
    world.t[0] += 301  # both tokens died in the sandbox; our cache still trusts the session
    [result] = provider().send(world.session(), message(), [iccid()])
    assert world.recorder.steps() == ["token", "sms", "login", "sms"]
    assert result.status is Status.ACCEPTED


def test_bearer_revoked_by_the_gateway_drops_both_tokens_once() -> None:
    world = World()
    provider().send(world.session(), message(), [iccid()])
    world.emulator.bearers.clear()
    world.emulator.bearer_of.clear()
    world.recorder.clear()
    provider().send(world.session(), message(), [iccid()])
    assert world.recorder.steps() == ["sms", "token", "login", "sms"]


def test_session_login_with_a_revoked_cached_bearer_gets_a_new_bearer() -> None:
    world = World(token_ttl=3000.0)
    provider().send(world.session(), message(), [iccid()])
    world.cache.delete("k", ts.SESSION_TOKEN)
    world.emulator.bearers.clear()
    world.emulator.bearer_of.clear()
    world.recorder.clear()
    provider().send(world.session(), message(), [iccid()])
    assert world.recorder.steps() == ["login", "token", "login", "sms"]


def test_session_refused_twice_is_final() -> None:
    world = World()
    provider().send(world.session(), message(), [iccid()])
    world.recorder.clear()

    class AlwaysExpired(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/sms"):
                return httpx.Response(400, json=SESSION_EXPIRED)
            return world.recorder.handle_request(request)

    session = HttpSession(
        tokens=world.cache.for_key("k"),
        redactor=Redactor(),
        transport=AlwaysExpired(),
        clock=world.clock,
    )
    with pytest.raises(ProviderRefused) as info:
        provider().send(session, message(), [iccid()])
    assert info.value.code == "session_refused"
    assert world.recorder.steps() == ["login"]  # one re-login, never a second


@pytest.mark.parametrize(
    ("status", "body", "steps"),
    [
        pytest.param(400, SESSION_EXPIRED, ["sms", "login", "sms"], id="sandbox-shape"),
        pytest.param(401, SESSION_EXPIRED, ["sms", "login", "sms"], id="401-session-expired"),
        pytest.param(
            400,
            {"errorCode": "INVALID_PARAMETER", "errorMessage": "UWS verification failure"},
            ["sms", "login", "sms"],
            id="uws-verification-failure",
        ),
        pytest.param(
            400, {"errorMessage": "Session timed out"}, ["sms", "login", "sms"], id="timed-out"
        ),
        pytest.param(
            401,
            {"errorCode": "UnifiedWebService.Unauthorized", "errorMessage": "Denied"},
            ["sms", "token", "login", "sms"],
            id="401-any-code",
        ),
        pytest.param(
            401,
            {"error": "invalid_token", "error_description": "Access token expired"},
            ["sms", "token", "login", "sms"],
            id="401-oauth-invalid-token",
        ),
    ],
)
def test_other_session_expiry_shapes_get_one_relogin_and_one_retry(
    status: int, body: dict[str, Any], steps: list[str]
) -> None:
    """The session-expired error is UNCONFIRMED: every plausible shape of it, answered once
    to a send with cached tokens, gets the one re-login and the one retry."""
    world = World()
    provider().send(world.session(), message(), [iccid()])
    world.recorder.clear()
    pending = [httpx.Response(status, json=body)]

    class ExpiresOnce(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/sms") and pending:
                world.recorder.requests.append(request)
                return pending.pop()
            return world.recorder.handle_request(request)

    session = HttpSession(
        tokens=world.cache.for_key("k"),
        redactor=Redactor(),
        transport=ExpiresOnce(),
        clock=world.clock,
    )
    [result] = provider().send(session, message(), [iccid()])
    assert result.status is Status.ACCEPTED
    assert world.recorder.steps() == steps


@pytest.mark.parametrize(
    ("overrides", "steps"),
    [
        pytest.param({"client_secret": "refused"}, ["token"], id="app-secret"),
        pytest.param({"password": "refused"}, ["token", "login"], id="uws-password"),
    ],
)
def test_refused_login_is_never_retried(overrides: dict[str, str], steps: list[str]) -> None:
    world = World()
    with pytest.raises(LoginRefused) as info:
        provider(**overrides).send(world.session(), message(), [iccid()])
    assert info.value.exit_code == ExitCode.REFUSED
    assert world.recorder.steps() == steps


def test_login_for_doctor_gets_both_tokens() -> None:
    world = World()
    provider().login(world.session())
    assert world.recorder.steps() == ["token", "login"]
    world.recorder.clear()
    provider().send(world.session(), message(), [iccid()])
    assert world.recorder.steps() == ["sms"]


def test_logout_ends_the_session_and_clears_the_cache() -> None:
    world = World()
    provider().send(world.session(), message(), [iccid()])
    world.recorder.clear()
    provider().logout(world.session())
    assert world.recorder.steps() == ["logout"]
    assert world.emulator.sessions == {}
    world.recorder.clear()
    provider().send(world.session(), message(), [iccid()])
    assert world.recorder.steps() == ["token", "login", "sms"]


def test_logout_without_tokens_makes_no_request() -> None:
    provider().logout(_never_session())


def test_session_idle_deadline_moves_with_each_use() -> None:
    world = World(token_ttl=3000.0)
    provider().send(world.session(), message(), [iccid()])
    for _ in range(2):
        world.t[0] += 1000  # 2000 s in all: past 20 minutes from the login, not from last use
        provider().send(world.session(), message(), [iccid()])
    assert world.recorder.steps() == ["token", "login", "sms", "sms", "sms"]


def test_token_cache_survives_across_sessions_in_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    world = World(cache_path=path)
    provider().send(world.session(TokenCache(path, clock=world.clock)), message(), [iccid()])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    world.recorder.clear()
    provider().send(world.session(TokenCache(path, clock=world.clock)), message(), [iccid()])
    assert world.recorder.steps() == ["sms"]


@pytest.mark.parametrize(
    ("suffix", "error", "exit_code", "provider_code"),
    [
        pytest.param(
            "0400",
            ProviderRefused,
            ExitCode.REFUSED,
            "SMSService.REQUEST_FAILED.MessageRejected",
            id="0400-rejected",
        ),
        pytest.param("0401", LoginRefused, ExitCode.REFUSED, "900901", id="0401-auth"),
        pytest.param(
            "0404",
            ProviderRefused,
            ExitCode.REFUSED,
            "DeviceService.REQUEST_FAILED.DeviceNotFound",
            id="0404-unknown",
        ),
        pytest.param("0408", OutcomeUnknown, ExitCode.UNKNOWN, None, id="0408-slow"),
        pytest.param(
            "0429", ProviderUnavailable, ExitCode.UNAVAILABLE, None, id="0429-rate-limited"
        ),
        pytest.param("0444", OutcomeUnknown, ExitCode.UNKNOWN, None, id="0444-dropped"),
        pytest.param("0500", OutcomeUnknown, ExitCode.UNKNOWN, None, id="0500-server-error"),
    ],
)
def test_magic_failures(
    suffix: str, error: type[SmscliError], exit_code: ExitCode, provider_code: str | None
) -> None:
    world = World()
    with pytest.raises(error) as info:
        provider().send(world.session(), message(), [iccid(suffix)])
    assert info.value.exit_code == exit_code
    assert info.value.provider_code == provider_code
    sends = world.recorder.steps().count("sms")
    assert sends == (3 if suffix == "0429" else 1)  # http_client retries only a 429


def test_magic_0401_with_cached_tokens_relogs_once_then_refuses() -> None:
    world = World()
    provider().send(world.session(), message(), [iccid()])
    world.recorder.clear()
    with pytest.raises(LoginRefused):
        provider().send(world.session(), message(), [iccid("0401")])
    assert world.recorder.steps() == ["sms", "token", "login", "sms"]


@pytest.mark.parametrize(
    ("suffix", "final"), [("0410", "failed"), ("0411", "expired"), ("", "delivered")]
)
def test_delivery_moves_on_in_the_sandbox(suffix: str, final: str) -> None:
    world = World()
    [result] = provider().send(world.session(), message(), [iccid(suffix)])
    assert result.status is Status.ACCEPTED
    seen = []
    for _ in range(3):
        [stored] = world.sandbox.messages()
        seen.append(stored["status"])
        world.t[0] += 1.0
    assert seen == ["accepted", "sent", final]
    with pytest.raises(InputError):
        provider().status(world.session(), {"request_id": result.request_id})


def test_binary_message_arrives_as_hex_data() -> None:
    world = World()
    provider().send(world.session(), binary(b"\x00\xffAB"), [iccid()])
    [stored] = world.sandbox.messages()
    assert stored["text"] == "00FF4142"
    assert stored["fields"]["dataEncoding"] == "8-bit-DATA"


# --------------------------------------------------------------------------- secrets


def _secret_values() -> dict[str, str]:
    return {"client_secret": SECRET, "password": SECRET + "-uws"}


def test_dry_run_renders_no_secret() -> None:
    p = provider(**_secret_values())
    redactor = Redactor([SECRET, SECRET + "-uws"])
    for request in p.dry_run(message(), [iccid()]):
        rendered = json.dumps(redactor.headers(dict(request.headers))) + (
            redactor.body(request.body_text()) or ""
        )
        assert SECRET not in rendered
        basic = base64.b64encode(f"{VALUES['client_id']}:{SECRET}".encode()).decode()
        assert basic not in rendered


def _runtime_tokens(world: World) -> list[str]:
    emulator = world.emulator
    return [*emulator.bearers, *emulator.sessions]


@pytest.mark.parametrize("suffix", ["", "0400", "0401", "0404", "0500"])
def test_no_secret_in_results_or_errors(suffix: str) -> None:
    world = World()
    p = provider(**_secret_values())
    outputs: list[str] = []
    try:
        outputs += [
            json.dumps(r.to_json()) for r in p.send(world.session(), message(), [iccid(suffix)])
        ]
    except SmscliError as exc:
        outputs.append(f"{exc.message} {exc.hint} {exc.code} {exc.provider_code}")
    for text in outputs:
        assert SECRET not in text
        for token in _runtime_tokens(world):
            assert token not in text


def test_refused_login_error_has_no_secret() -> None:
    world = World()
    with pytest.raises(LoginRefused) as info:
        provider(password="refused", client_secret=SECRET).send(
            world.session(), message(), [iccid()]
        )
    assert SECRET not in f"{info.value.message} {info.value.hint}"


def test_runtime_tokens_are_registered_for_redaction() -> None:
    world = World()
    session = world.session()
    provider().send(session, message(), [iccid()])
    tokens = _runtime_tokens(world)
    assert len(tokens) == 2
    for token in tokens:
        assert session.redactor.text(f"x {token} y") == "x *** y"


# --------------------------------------------------------------------------- command flags


def test_declared_options_are_data() -> None:
    from smscli.commands.sending import make_send_command

    options = catalog.REGISTRY["thingspace"].options
    assert [o.name for o in options] == ["group", "service_plan", "custom_field", "data_encoding"]
    assert [o.extra_key for o in options] == [
        "group_name",
        "service_plan",
        "custom_fields",
        "data_encoding",
    ]
    params = inspect.signature(make_send_command("thingspace")).parameters
    for option in options:
        param = params[option.name]
        assert param.kind is param.KEYWORD_ONLY
        assert isinstance(param.default, typer.models.OptionInfo)
        assert param.default.default is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({}, {}, id="nothing"),
        pytest.param(
            {"group": None, "service_plan": None, "custom_field": None, "data_encoding": None},
            {},
            id="all-unset",
        ),
        pytest.param(
            {
                "group": " fleet ",
                "service_plan": "plan",
                "custom_field": ["customfield1=a", "CustomField5=b=c"],
                "data_encoding": "8-bit-utf-8",
            },
            {
                "group_name": "fleet",
                "service_plan": "plan",
                "custom_fields": {"CustomField1": "a", "CustomField5": "b=c"},
                "data_encoding": "8-bit-UTF-8",
            },
            id="everything",
        ),
    ],
)
def test_command_extra(values: dict[str, Any], expected: dict[str, Any]) -> None:
    assert catalog.REGISTRY["thingspace"].extra_from(values) == expected


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"custom_field": ["CustomField1"]}, id="no-equals"),
        pytest.param({"custom_field": ["CustomField6=a"]}, id="key-out-of-range"),
        pytest.param({"custom_field": ["Colour=red"]}, id="unknown-key"),
        pytest.param({"custom_field": ["CustomField1="]}, id="empty-value"),
        pytest.param({"custom_field": ["CustomField1=a", "customfield1=b"]}, id="twice"),
        pytest.param({"data_encoding": "utf8"}, id="bad-encoding"),
        pytest.param({"group": "  "}, id="empty-group"),
    ],
)
def test_command_extra_refuses(values: dict[str, Any]) -> None:
    from smscli.errors import UsageError

    with pytest.raises(UsageError) as info:
        catalog.REGISTRY["thingspace"].extra_from(values)
    assert info.value.exit_code == ExitCode.USAGE


def test_status_without_request_id() -> None:
    with pytest.raises(InputError) as info:
        provider().status(_never_session(), {"request_id": None})
    assert "no requestId" in info.value.message
