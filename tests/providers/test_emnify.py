"""smscli.providers.emnify: builders, parsers, and conversations against the sandbox.

Reply bodies are written from reference/providers-thingspace-emnify.md §2 (recorded traffic
and the OpenAPI mirror); UNCONFIRMED shapes are tested in both spellings.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smscli.encoding import analyze
from smscli.errors import (
    ConfigError,
    ExitCode,
    InputError,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    SessionExpired,
    SmscliError,
)
from smscli.http_client import HttpSession
from smscli.models import Encoding, Message, Response, Status, StatusReport, Target
from smscli.providers import emnify
from smscli.providers.base import Settings
from smscli.providers.emnify import (
    Emnify,
    SmsFields,
    api_error,
    combine,
    dcs_alphabet,
    expiry_date,
    find_sent,
    gateway_error_type,
    is_received,
    login_request,
    lookup_query,
    lookup_request,
    message_dcs,
    parse_login,
    parse_lookup,
    parse_send,
    parse_status,
    pick_endpoint,
    send_request,
    source_address,
    status_request,
    token_expiry,
)
from smscli.redaction import Redactor
from smscli.sandbox.base import DELIVERY_STEP_SECONDS
from smscli.sandbox.server import Sandbox
from smscli.tokens import TokenCache

BASE = "http://sandbox.test/emnify"
APP_TOKEN = "app-token-123"
SECRET = "S3cr3t-P4ss!<&>"
ICCID19 = "8988303000006734768"
ICCID20 = "89883030000067347689"


# --------------------------------------------------------------------------- helpers


def settings(token: str = APP_TOKEN, base_url: str = BASE) -> Settings:
    return Settings(
        slug="emnify",
        profile="test",
        base_url=base_url,
        values={"application_token": token},
        secret_names=frozenset({"application_token"}),
    )


def provider(token: str = APP_TOKEN) -> Emnify:
    return Emnify(settings(token))


def message(text: str = "hello", **kw: Any) -> Message:
    return Message(check=analyze(text), **kw)


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        content = b""
    elif isinstance(body, bytes):
        content = body
    elif isinstance(body, str):
        content = body.encode()
    else:
        content = json.dumps(body).encode()
    return Response(status, {k.lower(): v for k, v in (headers or {}).items()}, content)


def jwt(claims: Any) -> str:
    def seg(data: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{seg({'alg': 'HS512'})}.{seg(claims)}.c2lnbmF0dXJl"


HTML = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body></body></html>"
CREATED = {"Location": f"{BASE}/api/v1/endpoint/11379224/sms/19649276"}


# --------------------------------------------------------------------------- login


def test_login_request() -> None:
    request = login_request(BASE, APP_TOKEN)
    assert request.method == "POST"
    assert request.url == f"{BASE}/api/v1/authenticate"
    assert request.json == {"application_token": APP_TOKEN}
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers


def test_parse_login_returns_the_auth_token() -> None:
    token = jwt({"exp": 2_000_000_000})
    assert parse_login(reply(200, {"auth_token": token})) == token


@pytest.mark.parametrize(
    ("response", "exc_type", "provider_code"),
    [
        pytest.param(reply(401), LoginRefused, None, id="401-empty-body"),
        pytest.param(
            reply(401, {"error_code": 1101, "error_token": "InvalidCredentials", "message": "x"}),
            LoginRefused,
            "1101",
            id="401-error-object",
        ),
        pytest.param(
            reply(401, {"error_code": "1105", "error_token": "TooManyRequests", "message": "x"}),
            LoginRefused,
            "1105",
            id="401-locked-out-code-as-string",
        ),
        pytest.param(
            reply(
                422,
                {
                    "error_code": 1400,
                    "error_token": "InputValidationFailed",
                    "message": "Input validation failed",
                    "errors": [{"error_code": 1402, "error_token": "Required", "message": "m"}],
                },
            ),
            LoginRefused,
            "1400",
            id="422-nested",
        ),
        pytest.param(
            reply(429, {"message": "Too Many Requests"}), ProviderUnavailable, None, id="429"
        ),
        pytest.param(
            reply(500, HTML, {"Content-Type": "text/html"}),
            ProviderUnavailable,
            None,
            id="500-html",
        ),
        pytest.param(
            reply(200, {"refresh_token": "r"}), ProviderUnavailable, None, id="200-no-token"
        ),
        pytest.param(
            reply(200, HTML, {"Content-Type": "text/html"}),
            ProviderUnavailable,
            None,
            id="200-html",
        ),
        pytest.param(reply(200), ProviderUnavailable, None, id="200-empty"),
        pytest.param(reply(200, [{"auth_token": "x"}]), ProviderUnavailable, None, id="200-list"),
        pytest.param(reply(302, None, {"Location": "/login"}), ProviderUnavailable, None, id="302"),
    ],
)
def test_parse_login_errors(
    response: Response, exc_type: type[SmscliError], provider_code: str | None
) -> None:
    with pytest.raises(exc_type) as info:
        parse_login(response)
    assert type(info.value) is exc_type
    assert info.value.provider_code == provider_code
    assert "\n" not in info.value.message


def test_login_refusals_exit_5_and_lockout_says_so() -> None:
    with pytest.raises(LoginRefused) as info:
        parse_login(
            reply(401, {"error_code": 1105, "error_token": "TooManyRequests", "message": "x"})
        )
    assert info.value.exit_code is ExitCode.REFUSED
    assert "too many failed logins" in info.value.message
    assert info.value.hint and "5 minutes" in info.value.hint


def test_parse_login_does_not_echo_an_unreadable_body() -> None:
    # A 200 without auth_token may still carry another token: only key names are shown.
    with pytest.raises(ProviderUnavailable) as info:
        parse_login(reply(200, {"mfa_token": "very-secret-mfa"}))
    assert "very-secret-mfa" not in info.value.message
    assert "mfa_token" in info.value.message


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param(jwt({"exp": 1_700_000_000, "iat": 1}), 1_700_000_000.0, id="exp-int"),
        pytest.param(jwt({"exp": "1700000000"}), 1_700_000_000.0, id="exp-string"),
        pytest.param(jwt({"iat": 1}), 1000.0 + emnify.FALLBACK_TOKEN_TTL, id="no-exp"),
        pytest.param(jwt([1, 2]), 1000.0 + emnify.FALLBACK_TOKEN_TTL, id="payload-list"),
        pytest.param(jwt({"exp": None}), 1000.0 + emnify.FALLBACK_TOKEN_TTL, id="exp-null"),
        pytest.param("not-a-jwt", 1000.0 + emnify.FALLBACK_TOKEN_TTL, id="one-segment"),
        pytest.param("a.%%%.c", 1000.0 + emnify.FALLBACK_TOKEN_TTL, id="bad-base64"),
        pytest.param("a.bm90IGpzb24.c", 1000.0 + emnify.FALLBACK_TOKEN_TTL, id="not-json"),
        pytest.param("a.w7_Dvw.c", 1000.0 + emnify.FALLBACK_TOKEN_TTL, id="not-utf8"),
    ],
)
def test_token_expiry(token: str, expected: float) -> None:
    assert token_expiry(token, 1000.0) == expected


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    ("target", "query"),
    [
        pytest.param(Target("iccid", ICCID19), f"iccid:{ICCID19}", id="iccid-19"),
        pytest.param(Target("iccid", ICCID20), f"iccid_with_luhn:{ICCID20}", id="iccid-20"),
        pytest.param(Target("name", "tracker 7"), "name:tracker 7", id="name"),
    ],
)
def test_lookup_request(target: Target, query: str) -> None:
    request = lookup_request(BASE, "jwt", target)
    assert request.method == "GET"
    assert request.url == f"{BASE}/api/v1/endpoint"
    assert dict(request.params) == {"q": query}
    assert request.headers["Authorization"] == "Bearer jwt"
    assert request.json is None
    assert request.body_text() is None


def test_lookup_request_of_a_later_page() -> None:
    request = lookup_request(BASE, "jwt", Target("name", "x"), page=3)
    assert dict(request.params) == {"q": "name:x", "page": "3"}


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(Target("iccid", "898830300000673476"), id="iccid-18"),
        pytest.param(Target("iccid", "8988303000006734768912"), id="iccid-22"),
        pytest.param(Target("name", "a,b"), id="name-with-comma"),
    ],
)
def test_lookup_query_refuses_what_the_filter_cannot_express(target: Target) -> None:
    with pytest.raises(InputError) as info:
        lookup_query(target)
    assert info.value.exit_code is ExitCode.INVALID


def _endpoint(eid: Any, name: str = "x", **sim: Any) -> dict[str, Any]:
    return {"id": eid, "name": name, "status": {"id": 0, "description": "Enabled"}, "sim": sim}


@pytest.mark.parametrize(
    ("items", "target", "ids"),
    [
        pytest.param(
            [_endpoint(1, "tracker"), _endpoint(2, "tracker-2")],
            Target("name", "tracker"),
            ("1",),
            id="name-exact-among-prefix-matches",
        ),
        pytest.param(
            [_endpoint(1, "Tracker")], Target("name", "tracker"), (), id="name-case-differs"
        ),
        pytest.param(
            [_endpoint("11379224", "t")], Target("name", "t"), ("11379224",), id="id-as-string"
        ),
        pytest.param(
            [_endpoint(1, "a"), _endpoint(2, "a")], Target("name", "a"), ("1", "2"), id="duplicates"
        ),
        pytest.param(
            [_endpoint(5, iccid=ICCID19)], Target("iccid", ICCID19), ("5",), id="iccid-19"
        ),
        pytest.param(
            [_endpoint(5, iccid=ICCID19)], Target("iccid", ICCID20), ("5",), id="iccid-20-vs-19"
        ),
        pytest.param(
            [_endpoint(5, iccid_with_luhn=ICCID20)],
            Target("iccid", ICCID19),
            ("5",),
            id="iccid-19-vs-with-luhn",
        ),
        pytest.param(
            [_endpoint(5, iccid=ICCID19 + "1")], Target("iccid", ICCID20), (), id="other-luhn"
        ),
        pytest.param(
            [_endpoint(5, iccid=ICCID19[:-1] + "9")], Target("iccid", ICCID19), (), id="near-miss"
        ),
        pytest.param([{"name": "t"}], Target("name", "t"), (), id="no-id"),
        pytest.param([], Target("name", "t"), (), id="empty-list"),
        pytest.param(["junk", 3, None], Target("name", "t"), (), id="junk-items"),
    ],
)
def test_parse_lookup_keeps_exact_matches(
    items: list[Any], target: Target, ids: tuple[str, ...]
) -> None:
    assert parse_lookup(reply(200, items), target).ids == ids


def test_parse_lookup_takes_a_single_object_as_a_list() -> None:
    assert parse_lookup(reply(200, _endpoint(7, "t")), Target("name", "t")).ids == ("7",)


@pytest.mark.parametrize(
    ("headers", "next_page"),
    [
        pytest.param({"X-Current-Page": "1", "X-Total-Pages": "3"}, 2, id="more"),
        pytest.param({"X-Current-Page": "3", "X-Total-Pages": "3"}, None, id="last"),
        pytest.param({}, None, id="no-headers"),
        pytest.param({"X-Current-Page": "x", "X-Total-Pages": "3"}, None, id="garbage"),
    ],
)
def test_parse_lookup_paging(headers: dict[str, str], next_page: int | None) -> None:
    assert parse_lookup(reply(200, [], headers), Target("name", "t")).next_page == next_page


@pytest.mark.parametrize(
    ("response", "exc_type", "code"),
    [
        pytest.param(reply(401, {"message": "Unauthorized"}), SessionExpired, None, id="401"),
        pytest.param(
            reply(422, {"error_code": 1301, "error_token": "InvalidQueryCriteria", "message": "q"}),
            ProviderRefused,
            "provider_rejected",
            id="422",
        ),
        pytest.param(
            reply(200, {"error_code": 1104, "error_token": "Forbidden", "message": "no"}),
            ProviderRefused,
            "provider_rejected",
            id="error-in-200",
        ),
        pytest.param(reply(404), ProviderRefused, "unknown_target", id="404-empty"),
        pytest.param(reply(200, HTML), ProviderUnavailable, "unreadable_reply", id="200-html"),
        pytest.param(reply(200), ProviderUnavailable, "unreadable_reply", id="200-empty"),
        pytest.param(reply(200, "42"), ProviderUnavailable, "unreadable_reply", id="200-number"),
        pytest.param(reply(503, HTML), ProviderUnavailable, "server_error", id="503"),
        pytest.param(reply(429), ProviderUnavailable, "rate_limited", id="429"),
    ],
)
def test_parse_lookup_errors(
    response: Response, exc_type: type[Exception], code: str | None
) -> None:
    with pytest.raises(exc_type) as info:
        parse_lookup(response, Target("name", "t"))
    if code is not None:
        assert isinstance(info.value, SmscliError)
        assert info.value.code == code


def test_pick_endpoint() -> None:
    assert pick_endpoint(Target("name", "t"), ["9", "9"]) == "9"
    with pytest.raises(ProviderRefused, match=r"no endpoint named 'ghost'") as none:
        pick_endpoint(Target("name", "ghost"), [])
    assert none.value.code == "unknown_target"
    assert none.value.exit_code is ExitCode.REFUSED
    with pytest.raises(ProviderRefused, match=r"3 endpoints named 'dup': ids 1, 2, 3") as many:
        pick_endpoint(Target("name", "dup"), ["1", "2", "3"])
    assert many.value.code == "ambiguous_target"
    with pytest.raises(ProviderRefused, match=rf"no endpoint with iccid {ICCID19}"):
        pick_endpoint(Target("iccid", ICCID19), [])


# --------------------------------------------------------------------------- send


def test_send_request_with_every_field() -> None:
    fields = SmsFields(
        dcs=8,
        source_address="Acme",
        source_address_type=208,
        dest_address="1234",
        expiry_date="2024-05-01T12:00:00Z",
    )
    request = send_request(BASE, "jwt", "11379224", fields, "part one", "050003CC0201")
    assert request.method == "POST"
    assert request.url == f"{BASE}/api/v1/endpoint/11379224/sms"
    assert request.headers == {
        "Accept": "application/json",
        "Authorization": "Bearer jwt",
        "Content-Type": "application/json",
    }
    assert request.json == {
        "payload": "part one",
        "source_address": "Acme",
        "source_address_type": {"id": 208},
        "dest_address": "1234",
        "udh": "050003CC0201",
        "dcs": 8,
        "expiry_date": "2024-05-01T12:00:00Z",
    }


def test_send_request_minimal() -> None:
    request = send_request(BASE, "jwt", "5", SmsFields(dcs=0), "hi")
    assert request.json == {"payload": "hi", "dcs": 0}


@pytest.mark.parametrize(
    ("sender", "forced", "expected"),
    [
        pytest.param(None, None, (None, None), id="no-sender"),
        pytest.param("+491701234567", None, ("491701234567", 145), id="international"),
        pytest.param("+49 (170) 123-45.67", None, ("491701234567", 145), id="separators"),
        pytest.param("12345689", None, ("12345689", 161), id="national"),
        pytest.param("Acme", None, ("Acme", 208), id="alphanumeric"),
        pytest.param("Sender Name", None, ("Sender Name", 208), id="alphanumeric-11"),
        pytest.param("12345", 208, ("12345", 208), id="forced-208-digits"),
        pytest.param("+491701234567", 161, ("491701234567", 161), id="forced-161"),
        pytest.param("0170123", 145, ("0170123", 145), id="forced-145"),
    ],
)
def test_source_address(
    sender: str | None, forced: int | None, expected: tuple[str | None, int | None]
) -> None:
    assert source_address(sender, forced) == expected


@pytest.mark.parametrize(
    ("sender", "forced", "words"),
    [
        pytest.param("Acme Corp 12", None, "at most 11", id="alphanumeric-12"),
        pytest.param("Acme", 145, "needs digits", id="forced-145-letters"),
        pytest.param(None, 208, "needs a sender", id="type-without-sender"),
        pytest.param("Acme", 999, "use 145", id="unknown-type"),
        pytest.param("+" + "1" * 22, None, "21 characters", id="too-long"),
    ],
)
def test_source_address_refusals(sender: str | None, forced: int | None, words: str) -> None:
    with pytest.raises(InputError, match=words):
        source_address(sender, forced)


@pytest.mark.parametrize(
    ("dcs", "alphabet"),
    [
        pytest.param(0x00, Encoding.GSM7, id="00-gsm7"),
        pytest.param(0x04, Encoding.BINARY, id="04-8bit"),
        pytest.param(0x08, Encoding.UCS2, id="08-ucs2"),
        pytest.param(0x0C, None, id="0C-reserved"),
        pytest.param(0x10, Encoding.GSM7, id="10-flash"),
        pytest.param(0x18, Encoding.UCS2, id="18-ucs2-class0"),
        pytest.param(0x48, Encoding.UCS2, id="48-auto-delete-ucs2"),
        pytest.param(0x80, None, id="80-reserved-group"),
        pytest.param(0xC0, Encoding.GSM7, id="C0-mwi-discard"),
        pytest.param(0xE0, Encoding.UCS2, id="E0-mwi-ucs2"),
        pytest.param(0xF0, Encoding.GSM7, id="F0-class0"),
        pytest.param(0xF6, Encoding.BINARY, id="F6-sim-toolkit"),
    ],
)
def test_dcs_alphabet(dcs: int, alphabet: Encoding | None) -> None:
    assert dcs_alphabet(dcs) is alphabet


@pytest.mark.parametrize(
    ("text", "extra", "dcs"),
    [
        pytest.param("hello", {}, 0, id="gsm7"),
        pytest.param("привет", {}, 8, id="ucs2"),
        pytest.param("hello", {"dcs": 0x10}, 0x10, id="forced-gsm7-flash"),
        pytest.param("привет", {"dcs": 0x18}, 0x18, id="forced-ucs2-class0"),
        pytest.param("hello", {"dcs": 0xF6}, 0xF6, id="forced-8bit-one-part"),
        pytest.param("hello", {"dcs": 0x80}, 0x80, id="forced-reserved-passes"),
        pytest.param("hello", {"dcs": "0xF6"}, 0, id="unparsed-string-ignored"),
        pytest.param("hello", {"dcs": "16"}, 16, id="numeric-string"),
    ],
)
def test_message_dcs(text: str, extra: dict[str, Any], dcs: int) -> None:
    assert message_dcs(message(text, extra=extra)) == dcs


@pytest.mark.parametrize(
    ("text", "dcs", "words"),
    [
        pytest.param("x", 300, "0-255", id="out-of-range"),
        pytest.param("é" * 200, 8, "add --encoding ucs2", id="ucs2-dcs-on-gsm7-parts"),
        pytest.param("привет", 0, "add --encoding gsm7", id="gsm7-dcs-on-ucs2-text"),
        pytest.param("x" * 141, 0xF6, "141 octets", id="8bit-too-long"),
        pytest.param("x" * 200, 4, "2 part", id="8bit-two-parts"),
    ],
)
def test_message_dcs_refusals(text: str, dcs: int, words: str) -> None:
    with pytest.raises(InputError) as info:
        message_dcs(message(text, extra={"dcs": dcs}))
    assert words in f"{info.value.message} {info.value.hint}"


def test_expiry_date() -> None:
    assert expiry_date(1_714_564_800.0, 3600) == "2024-05-01T13:00:00Z"
    assert expiry_date(1_714_564_800.0, None) is None


def test_parse_send_reads_the_id_from_location() -> None:
    accepted = parse_send(
        reply(
            201,
            None,
            {
                **CREATED,
                "Content-Type": "text/html; charset=UTF-8",
                "Date": "Wed, 01 May 2024 12:00:00 GMT",
                "x-amzn-RequestId": "req-1",
            },
        )
    )
    assert accepted.sms_id == "19649276"
    assert accepted.date == "2024-05-01T12:00:00+00:00"
    assert accepted.request_id == "req-1"


@pytest.mark.parametrize(
    ("body", "location", "sms_id"),
    [
        pytest.param(b"{}", CREATED["Location"], "19649276", id="seed-empty-object"),
        pytest.param(b"not json at all", CREATED["Location"], "19649276", id="body-ignored"),
        pytest.param(None, "/api/v1/endpoint/1/sms/77/", "77", id="relative-trailing-slash"),
        pytest.param(None, f"{BASE}/api/v1/endpoint/1/sms/77?x=1", "77", id="query"),
    ],
)
def test_parse_send_never_parses_the_body(body: bytes | None, location: str, sms_id: str) -> None:
    assert parse_send(reply(201, body, {"Location": location})).sms_id == sms_id


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(reply(201), id="201-no-location"),
        pytest.param(reply(201, b"{}"), id="201-the-docs-empty-object"),
        pytest.param(
            reply(201, None, {"Location": f"{BASE}/api/v1/endpoint/1/sms"}),
            id="201-location-without-id",
        ),
    ],
)
def test_parse_send_201_without_location_is_accepted_with_no_id(response: Response) -> None:
    # The docs show `201 {}` with no header (issue 9): the message was taken.
    assert parse_send(response).sms_id is None


@pytest.mark.parametrize(
    ("response", "exc_type", "provider_code", "code"),
    [
        pytest.param(reply(200, HTML), OutcomeUnknown, None, "unreadable_reply", id="200-html"),
        pytest.param(reply(302), OutcomeUnknown, None, "unreadable_reply", id="302"),
        pytest.param(
            reply(
                404,
                {
                    "error_code": 1401,
                    "error_token": "InvalidReference",
                    "message": "Endpoint with Id '-1' not found.",
                },
            ),
            ProviderRefused,
            "1401",
            "unknown_target",
            id="404-recorded",
        ),
        pytest.param(
            reply(
                400,
                {
                    "error_code": "1000",
                    "error_token": "BadRequest",
                    "message": "Cannot parse parameter id as Long: x",
                },
            ),
            ProviderRefused,
            "1000",
            "provider_rejected",
            id="400-code-as-string",
        ),
        pytest.param(
            reply(
                422,
                {
                    "error_code": 1400,
                    "error_token": "InputValidationFailed",
                    "message": "Input validation failed",
                    "errors": [
                        {"error_code": 1403, "error_token": "InvalidFormat", "message": "dcs"},
                        {"error_code": 1402, "error_token": "Required", "message": "payload"},
                    ],
                },
            ),
            ProviderRefused,
            "1400",
            "provider_rejected",
            id="422-nested",
        ),
        pytest.param(
            reply(409, {"error_code": 1405, "error_token": "Duplicated", "message": "d"}),
            ProviderRefused,
            "1405",
            "provider_rejected",
            id="409",
        ),
        pytest.param(
            reply(403, {"message": "Forbidden"}, {"x-amzn-ErrorType": "AccessDeniedException:x"}),
            ProviderRefused,
            "AccessDeniedException",
            "provider_rejected",
            id="gateway-message-only",
        ),
        pytest.param(
            reply(422, b"", {"Content-Type": "text/html"}),
            ProviderRefused,
            None,
            "provider_rejected",
            id="422-empty-html",
        ),
        pytest.param(
            reply(422, [{"error_code": 1400, "message": "list"}]),
            ProviderRefused,
            "1400",
            "provider_rejected",
            id="error-in-a-list",
        ),
        pytest.param(reply(429), ProviderUnavailable, None, "rate_limited", id="429"),
        pytest.param(reply(500, HTML), OutcomeUnknown, None, "server_error", id="500"),
        pytest.param(reply(502, b""), OutcomeUnknown, None, "server_error", id="502-empty"),
    ],
)
def test_parse_send_errors(
    response: Response, exc_type: type[SmscliError], provider_code: str | None, code: str
) -> None:
    with pytest.raises(exc_type) as info:
        parse_send(response)
    assert type(info.value) is exc_type
    assert info.value.provider_code == provider_code
    assert info.value.code == code
    assert "\n" not in info.value.message


def test_parse_send_401_means_the_token_lapsed() -> None:
    with pytest.raises(SessionExpired):
        parse_send(reply(401, {"message": "token contains an invalid number of segments"}))
    with pytest.raises(SessionExpired):
        parse_send(reply(401, {"error_code": 1103, "error_token": "TokenExpired", "message": "x"}))


def test_error_messages_carry_the_provider_text() -> None:
    with pytest.raises(ProviderRefused) as info:
        parse_send(
            reply(
                404,
                {
                    "error_code": 1401,
                    "error_token": "InvalidReference",
                    "message": "Endpoint with Id '-1' not found.",
                },
            )
        )
    assert info.value.message == (
        "emnify refused the message: Endpoint with Id '-1' not found. "
        "(1401 InvalidReference, HTTP 404)"
    )


def test_api_error_of_an_empty_body() -> None:
    error = api_error(reply(422))
    assert error.describe() == "HTTP 422 with an empty body"
    assert (
        api_error(reply(502, HTML, {"Content-Type": "text/html"}))
        .describe()
        .startswith("HTTP 502 with an HTML page: 502 Bad Gateway")
    )


# --------------------------------------------------------------------------- status


def test_status_request() -> None:
    request = status_request(BASE, "jwt", "11379224", "19649276")
    assert request.method == "GET"
    assert request.url == f"{BASE}/api/v1/endpoint/11379224/sms/19649276"
    assert request.headers["Authorization"] == "Bearer jwt"


def _sms(status: Any, **kw: Any) -> dict[str, Any]:
    # Recorded production shape: numbers as strings, flat endpoint_id, "+0000" offsets.
    return {
        "id": 19649276,
        "submit_date": "2022-08-04T01:45:24.000+0000",
        "delivery_date": None,
        "final_date": None,
        "expiry_date": "2022-08-05T01:45:24.000+0000",
        "retry_count": "0",
        "gsm_map_error": None,
        "dcs": "0",
        "endpoint_id": "11379224",
        "dlr_status_id": 2,
        "status": status,
        **kw,
    }


@pytest.mark.parametrize(
    ("status_obj", "expected", "word"),
    [
        pytest.param(
            {"id": 1, "description": "DELIVERY ATTEMPT PENDING"},
            Status.ACCEPTED,
            "DELIVERY ATTEMPT PENDING",
            id="1-pending",
        ),
        pytest.param({"id": 2, "description": "IN PROGRESS"}, Status.SENT, "IN PROGRESS", id="2"),
        pytest.param({"id": 3, "description": "BUFFERED"}, Status.QUEUED, "BUFFERED", id="3"),
        pytest.param({"id": 4, "description": "Delivered"}, Status.DELIVERED, "Delivered", id="4"),
        pytest.param({"id": "5", "description": "FAILED"}, Status.FAILED, "FAILED", id="5-str"),
        pytest.param({"id": 6, "description": "EXPIRED"}, Status.EXPIRED, "EXPIRED", id="6"),
        pytest.param({"id": 7, "description": "CANCELED"}, Status.CANCELED, "CANCELED", id="7"),
        pytest.param({"id": 99, "description": "NEW"}, Status.UNKNOWN, "NEW", id="unknown-id"),
        pytest.param(
            {"description": "delivered"}, Status.DELIVERED, "delivered", id="no-id-lowercase-word"
        ),
        pytest.param(
            {"description": "In Progress"}, Status.SENT, "In Progress", id="no-id-mixed-case"
        ),
        pytest.param({"id": 4}, Status.DELIVERED, "4", id="no-description"),
        pytest.param(4, Status.DELIVERED, "4", id="bare-int"),
        pytest.param("Buffered", Status.QUEUED, "Buffered", id="bare-word"),
        pytest.param(None, Status.UNKNOWN, None, id="missing"),
    ],
)
def test_parse_status_maps_every_id(status_obj: Any, expected: Status, word: str | None) -> None:
    report = parse_status(reply(200, _sms(status_obj)))
    assert report.status is expected
    assert report.provider_status == word


def test_parse_status_details_and_dates() -> None:
    report = parse_status(
        reply(
            200,
            _sms(
                {"id": 4, "description": "DELIVERED"},
                delivery_date="2022-08-04T01:45:30.000+0000",
                final_date="2022-08-04T01:45:31.000+0000",
            ),
        )
    )
    assert report.date == "2022-08-04T01:45:30+00:00"
    assert report.error is None
    assert report.details["endpoint_id"] == "11379224"
    assert report.details["retry_count"] == 0
    assert report.details["sms_id"] == "19649276"


def test_parse_status_failure_carries_the_map_error() -> None:
    report = parse_status(
        reply(
            200,
            _sms(
                {"id": 5, "description": "FAILED"},
                gsm_map_error="27",
                final_date="2022-08-04T02:00:00.000+0000",
                endpoint={"id": 1, "name": "t"},
                endpoint_id=None,
            ),
        )
    )
    assert report.status is Status.FAILED
    assert report.error is not None
    assert report.error["provider_code"] == "27"
    assert report.date == "2022-08-04T02:00:00+00:00"
    assert report.details["endpoint_id"] == "1"


@pytest.mark.parametrize(
    ("response", "exc_type", "code"),
    [
        pytest.param(
            reply(404, {"error_code": 1201, "error_token": "NotFound", "message": "SMS not found"}),
            ProviderRefused,
            "unknown_message",
            id="404",
        ),
        pytest.param(reply(401), SessionExpired, None, id="401"),
        pytest.param(reply(200, HTML), ProviderUnavailable, "unreadable_reply", id="200-html"),
        pytest.param(reply(200), ProviderUnavailable, "unreadable_reply", id="200-empty"),
        pytest.param(reply(200, []), ProviderUnavailable, "unreadable_reply", id="200-empty-list"),
        pytest.param(
            reply(200, {"error_code": 1104, "error_token": "Forbidden", "message": "no"}),
            ProviderRefused,
            "provider_rejected",
            id="error-in-200",
        ),
        pytest.param(reply(500, HTML), ProviderUnavailable, "server_error", id="500"),
    ],
)
def test_parse_status_errors(
    response: Response, exc_type: type[Exception], code: str | None
) -> None:
    with pytest.raises(exc_type) as info:
        parse_status(response)
    if code is not None:
        assert isinstance(info.value, SmscliError)
        assert info.value.code == code


def test_parse_status_accepts_a_list_of_one() -> None:
    assert parse_status(reply(200, [_sms({"id": 4})])).status is Status.DELIVERED


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([Status.DELIVERED, Status.DELIVERED], Status.DELIVERED, id="all-delivered"),
        pytest.param([Status.DELIVERED, Status.SENT], Status.SENT, id="one-pending"),
        pytest.param([Status.SENT, Status.ACCEPTED], Status.ACCEPTED, id="least-advanced"),
        pytest.param([Status.DELIVERED, Status.FAILED], Status.FAILED, id="one-failed"),
        pytest.param([Status.EXPIRED, Status.SENT], Status.EXPIRED, id="one-expired"),
    ],
)
def test_combine_parts(statuses: list[Status], expected: Status) -> None:
    reports = {
        str(i): StatusReport(status=s, provider_status=s.value) for i, s in enumerate(statuses)
    }
    combined = combine(reports)
    assert combined.status is expected
    assert combined.details["parts"] == {str(i): s.value for i, s in enumerate(statuses)}


# --------------------------------------------------------------------------- check and dry run


@pytest.mark.parametrize(
    ("msg", "targets"),
    [
        pytest.param(message(), [Target("iccid", "898830300000673476")], id="iccid-18"),
        pytest.param(message(sender="Acme Corporation"), [Target("endpoint", "1")], id="alnum-16"),
        pytest.param(message(extra={"dcs": 256}), [Target("endpoint", "1")], id="dcs-256"),
        pytest.param(
            message(extra={"source_type": 145}),
            [Target("endpoint", "1")],
            id="source-type-without-sender",
        ),
        pytest.param(message("x" * 153 * 256), [Target("endpoint", "1")], id="256-parts"),
    ],
)
def test_check_message_refuses(msg: Message, targets: list[Target]) -> None:
    with pytest.raises(InputError) as info:
        provider().check_message(msg, targets)
    assert info.value.exit_code is ExitCode.INVALID


def test_check_message_accepts() -> None:
    provider().check_message(
        message("x" * 400, sender="+491701234567", extra={"dcs": 0, "dest_address": "12"}),
        [Target("endpoint", "1"), Target("iccid", ICCID19), Target("iccid", ICCID20)],
    )


def test_dry_run_is_the_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emnify, "new_reference", lambda: 0xCC)
    msg = message("a" * 200, sender="Acme", validity_seconds=3600, extra={"dest_address": "99"})
    requests = provider().dry_run(msg, [Target("endpoint", "42"), Target("name", "tracker")])
    assert [(r.method, r.full_url()) for r in requests] == [
        ("POST", f"{BASE}/api/v1/authenticate"),
        ("POST", f"{BASE}/api/v1/endpoint/42/sms"),
        ("POST", f"{BASE}/api/v1/endpoint/42/sms"),
        ("GET", f"{BASE}/api/v1/endpoint?q=name%3Atracker"),
        ("POST", f"{BASE}/api/v1/endpoint/{{endpoint_id}}/sms"),
        ("POST", f"{BASE}/api/v1/endpoint/{{endpoint_id}}/sms"),
    ]
    first, second = requests[1].json, requests[2].json
    assert first["payload"] == "a" * 153 and second["payload"] == "a" * 47
    assert (first["udh"], second["udh"]) == ("050003CC0201", "050003CC0202")
    assert first["source_address_type"] == {"id": 208}
    assert first["dest_address"] == "99"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["expiry_date"])
    assert all(r.headers["Authorization"] == "Bearer ***" for r in requests[1:])


def test_dry_run_single_part_has_no_udh() -> None:
    requests = provider().dry_run(message("hi"), [Target("endpoint", "42")])
    assert requests[1].json == {"payload": "hi", "dcs": 0}


# --------------------------------------------------------------------------- conversations


class Recorder:
    """A transport that records every request and delegates to another transport."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path.removeprefix('/emnify')}" for r in self.requests]

    def logins(self) -> int:
        return sum(p.endswith("/authenticate") for p in self.paths())


class World:
    """A sandbox, a recorder in front of it, and sessions that talk to it."""

    def __init__(self, clock: Callable[[], float] | None = None, ttl: float = 300.0) -> None:
        self.sandbox = Sandbox(clock=clock, token_ttl=ttl) if clock else Sandbox(token_ttl=ttl)
        self.recorder = Recorder(self.sandbox.transport())
        self.cache = TokenCache(None)

    def session(self, cache: TokenCache | None = None, timeout: float = 30.0) -> HttpSession:
        return HttpSession(
            tokens=(cache or self.cache).for_key("k"),
            redactor=Redactor(),
            transport=self.recorder.transport(),
            timeout=timeout,
            sleep=lambda _: None,
        )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def session(world: World) -> Iterator[HttpSession]:
    with world.session() as s:
        yield s


SMS_POST = re.compile(r"POST /api/v1/endpoint/\d+/sms")


def test_first_send_logs_in_then_sends(world: World, session: HttpSession) -> None:
    [result] = provider().send(session, message(), [Target("endpoint", "1001")])
    assert world.recorder.paths() == [
        "POST /api/v1/authenticate",
        "POST /api/v1/endpoint/1001/sms",
    ]
    assert result.status is Status.ACCEPTED
    assert result.message_id is not None
    assert result.parts == [result.message_id]
    assert result.details["endpoint_id"] == "1001"
    assert result.date is not None and result.date.endswith("+00:00")
    assert result.segments == 1 and result.encoding == "gsm7"
    sent = world.sandbox.messages()
    assert [m["text"] for m in sent] == ["hello"]
    assert sent[0]["fields"]["dcs"] == 0


def test_second_send_reuses_the_cached_token(world: World, session: HttpSession) -> None:
    p = provider()
    p.send(session, message(), [Target("endpoint", "1001")])
    p.send(session, message(), [Target("endpoint", "1002")])
    assert world.recorder.logins() == 1
    auth = {r.headers["authorization"] for r in world.recorder.requests if "sms" in r.url.path}
    assert len(auth) == 1


def test_lookup_then_send(world: World, session: HttpSession) -> None:
    [result] = provider().send(session, message(), [Target("name", "tracker-7")])
    paths = world.recorder.paths()
    assert paths[:2] == ["POST /api/v1/authenticate", "GET /api/v1/endpoint"]
    assert SMS_POST.fullmatch(paths[2])
    lookup = world.recorder.requests[1]
    assert lookup.url.params["q"] == "name:tracker-7"
    endpoint_id = result.details["endpoint_id"]
    assert paths[2] == f"POST /api/v1/endpoint/{endpoint_id}/sms"


def test_iccid_19_and_20_digits_resolve_to_the_same_endpoint(
    world: World, session: HttpSession
) -> None:
    p = provider()
    [a] = p.send(session, message(), [Target("iccid", ICCID19)])
    [b] = p.send(session, message(), [Target("iccid", ICCID20)])
    assert a.details["endpoint_id"] == b.details["endpoint_id"]
    queries = [r.url.params["q"] for r in world.recorder.requests if r.method == "GET"]
    assert queries == [f"iccid:{ICCID19}", f"iccid_with_luhn:{ICCID20}"]


def test_long_message_goes_in_udh_parts(
    world: World, session: HttpSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emnify, "new_reference", lambda: 0x2A)
    text = "ü" + "x" * 400  # GSM-7: 401 septets → 3 parts of 153
    [result] = provider().send(session, message(text), [Target("endpoint", "1001")])
    posts = [json.loads(r.content) for r in world.recorder.requests if r.method == "POST"][1:]
    assert [p["udh"] for p in posts] == ["0500032A0301", "0500032A0302", "0500032A0303"]
    assert "".join(p["payload"] for p in posts) == text
    assert result.parts is not None and len(result.parts) == 3
    assert result.message_id == result.parts[0]
    assert result.segments == 3


def test_ucs2_message_sends_dcs_8(world: World, session: HttpSession) -> None:
    provider().send(session, message("Привет " * 12), [Target("endpoint", "1001")])
    posts = [json.loads(r.content) for r in world.recorder.requests if r.method == "POST"][1:]
    assert len(posts) == 2
    assert {p["dcs"] for p in posts} == {8}


def test_refused_login_is_never_retried(world: World, session: HttpSession) -> None:
    with pytest.raises(LoginRefused) as info:
        provider("refused").send(session, message(), [Target("endpoint", "1001")])
    assert info.value.exit_code is ExitCode.REFUSED
    assert world.recorder.paths() == ["POST /api/v1/authenticate"]


def test_session_expiry_0419_costs_one_login_and_one_retry(
    world: World, session: HttpSession
) -> None:
    p = provider()
    p.send(session, message(), [Target("endpoint", "1001")])  # a session from earlier
    before = len(world.recorder.requests)
    [result] = p.send(session, message(), [Target("endpoint", "10419")])
    assert world.recorder.paths()[before:] == [
        "POST /api/v1/endpoint/10419/sms",
        "POST /api/v1/authenticate",
        "POST /api/v1/endpoint/10419/sms",
    ]
    assert result.status is Status.ACCEPTED


def test_session_expiry_by_time_costs_one_login_and_one_retry() -> None:
    import time

    t = [time.time()]
    world = World(clock=lambda: t[0], ttl=60)
    p = provider()
    # The token cache runs on the real clock: the server alone decides the token lapsed.
    with world.session() as session:
        p.send(session, message(), [Target("endpoint", "1001")])
        t[0] += 61
        p.send(session, message(), [Target("endpoint", "1001")])
    assert world.recorder.paths() == [
        "POST /api/v1/authenticate",
        "POST /api/v1/endpoint/1001/sms",
        "POST /api/v1/endpoint/1001/sms",
        "POST /api/v1/authenticate",
        "POST /api/v1/endpoint/1001/sms",
    ]


def test_token_is_cached_until_its_exp(tmp_path: Path) -> None:
    t = [1_800_000_000.0]
    world = World(clock=lambda: t[0], ttl=600)
    cache = TokenCache(tmp_path / "t.json", clock=lambda: t[0])
    p = provider()
    with world.session(cache) as session:
        p.send(session, message(), [Target("endpoint", "1001")])
        entry = json.loads((tmp_path / "t.json").read_text())["k"]["auth_token"]
        assert entry["expires_at"] == pytest.approx(t[0] + 600, abs=1)
        t[0] += 600  # past exp: the cache drops it, a fresh login, no 401 first
        p.send(session, message(), [Target("endpoint", "1001")])
    assert world.recorder.paths().count("POST /api/v1/authenticate") == 2
    assert len(world.recorder.paths()) == 4


def test_token_cache_survives_two_sessions(world: World, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    p = provider()
    with world.session(TokenCache(path)) as first:
        p.send(first, message(), [Target("endpoint", "1001")])
    with world.session(TokenCache(path)) as second:
        p.send(second, message(), [Target("endpoint", "1002")])
    assert world.recorder.logins() == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize(
    ("target", "exc_type", "exit_code", "words"),
    [
        pytest.param(Target("endpoint", "10400"), ProviderRefused, 5, "NotAllowed", id="0400"),
        pytest.param(Target("endpoint", "10401"), ProviderRefused, 5, "refused", id="0401"),
        pytest.param(Target("endpoint", "10404"), ProviderRefused, 5, "not found", id="0404"),
        pytest.param(Target("endpoint", "10408"), OutcomeUnknown, 7, "no reply", id="0408"),
        pytest.param(Target("endpoint", "10429"), ProviderUnavailable, 6, "429", id="0429"),
        pytest.param(Target("endpoint", "10444"), OutcomeUnknown, 7, "may have", id="0444"),
        pytest.param(Target("endpoint", "10500"), OutcomeUnknown, 7, "HTTP 500", id="0500"),
        pytest.param(
            Target("name", "dev-0404"), ProviderRefused, 5, "no endpoint named", id="name-0404"
        ),
        pytest.param(
            Target("iccid", "8988303000000000404"),
            ProviderRefused,
            5,
            "no endpoint with iccid",
            id="iccid-0404",
        ),
        pytest.param(
            Target("name", "dup-tracker"),
            ProviderRefused,
            5,
            "2 endpoints named 'dup-tracker': ids",
            id="name-duplicate",
        ),
        pytest.param(
            Target("name", "dev-0400"),
            ProviderRefused,
            5,
            "NotAllowed",
            id="name-resolves-to-magic",
        ),
    ],
)
def test_magic_targets(
    world: World, target: Target, exc_type: type[SmscliError], exit_code: int, words: str
) -> None:
    with world.session(timeout=5) as session, pytest.raises(exc_type) as info:
        provider().send(session, message(), [target])
    assert type(info.value) is exc_type
    assert int(info.value.exit_code) == exit_code
    assert words in info.value.message


def test_magic_0404_names_the_provider_code(world: World, session: HttpSession) -> None:
    with pytest.raises(ProviderRefused) as info:
        provider().send(session, message(), [Target("endpoint", "10404")])
    assert info.value.provider_code == "1401"
    assert info.value.code == "unknown_target"


def test_0401_logs_in_once_more_then_gives_up(world: World, session: HttpSession) -> None:
    p = provider()
    p.send(session, message(), [Target("endpoint", "1001")])
    before = len(world.recorder.requests)
    with pytest.raises(ProviderRefused):
        p.send(session, message(), [Target("endpoint", "10401")])
    assert world.recorder.paths()[before:] == [
        "POST /api/v1/endpoint/10401/sms",
        "POST /api/v1/authenticate",
        "POST /api/v1/endpoint/10401/sms",
    ]


@pytest.mark.parametrize(
    ("endpoint", "final", "word"),
    [
        pytest.param("1001", Status.DELIVERED, "DELIVERED", id="delivered"),
        pytest.param("10410", Status.FAILED, "FAILED", id="0410-failed"),
        pytest.param("10411", Status.EXPIRED, "EXPIRED", id="0411-expired"),
    ],
)
def test_status_moves_from_accepted_to_final(endpoint: str, final: Status, word: str) -> None:
    t = [1_800_000_000.0]
    world = World(clock=lambda: t[0])
    p = provider()
    with world.session(TokenCache(None, clock=lambda: t[0])) as session:
        [result] = p.send(session, message("x" * 200), [Target("endpoint", endpoint)])
        record = {
            "provider": "emnify",
            "profile": "test",
            "target": result.target,
            "message_id": result.message_id,
            "request_id": None,
            "uuid": None,
            "reference": None,
            "parts": result.parts,
            "details": result.details,
            "date": result.date,
        }
        assert p.status(session, record).status is Status.ACCEPTED
        t[0] += DELIVERY_STEP_SECONDS
        middle = p.status(session, record)
        assert middle.status is (Status.SENT if final is Status.DELIVERED else Status.QUEUED)
        t[0] += DELIVERY_STEP_SECONDS
        report = p.status(session, record)
    assert report.status is final
    assert report.provider_status == word
    assert set(report.details["parts"]) == set(result.parts or [])


def test_status_without_endpoint_in_details_looks_the_target_up(
    world: World, session: HttpSession
) -> None:
    p = provider()
    [result] = p.send(session, message(), [Target("name", "tracker")])
    before = len(world.recorder.requests)
    record = {
        "target": "name:tracker",
        "message_id": result.message_id,
        "parts": None,
        "details": {},
    }
    assert p.status(session, record).status is Status.ACCEPTED
    assert [r.method for r in world.recorder.requests[before:]] == ["GET", "GET"]


def test_status_of_an_unknown_message(world: World, session: HttpSession) -> None:
    record = {"target": "endpoint:1001", "message_id": "999999", "details": {"endpoint_id": "1001"}}
    with pytest.raises(ProviderRefused) as info:
        provider().status(session, record)
    assert info.value.code == "unknown_message"


def test_status_without_an_id_is_an_input_error(session: HttpSession) -> None:
    with pytest.raises(InputError):
        provider().status(session, {"target": "endpoint:1", "message_id": None, "details": {}})


def test_login_and_logout(world: World, session: HttpSession) -> None:
    p = provider()
    p.login(session)
    assert session.tokens.get(emnify.TOKEN_NAME) is not None
    p.logout(session)
    assert session.tokens.get(emnify.TOKEN_NAME) is None
    assert world.recorder.paths() == ["POST /api/v1/authenticate"]


# --------------------------------------------------------------------------- parts failing midway


def _second_post_fails(world: World, answer: Callable[[httpx.Request], httpx.Response]) -> None:
    inner = world.recorder.inner
    posts = [0]

    class Flaky(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/sms"):
                posts[0] += 1
                if posts[0] == 2:
                    return answer(request)
            return inner.handle_request(request)

    world.recorder.inner = Flaky()


def test_refused_second_part_reports_failed_with_the_parts_sent(world: World) -> None:
    _second_post_fails(
        world,
        lambda r: httpx.Response(
            422,
            json={"error_code": 1400, "error_token": "InputValidationFailed", "message": "bad"},
        ),
    )
    with world.session() as session:
        [result] = provider().send(session, message("x" * 400), [Target("endpoint", "1001")])
    assert result.status is Status.FAILED
    assert result.parts is not None and len(result.parts) == 1
    assert result.message_id == result.parts[0]
    assert result.error is not None
    assert result.error["exit_code"] == 5
    assert result.error["provider_code"] == "1400"
    assert "part 2 of 3" in result.error["message"]
    assert result.details["parts_sent"] == "1 of 3"


def test_second_part_with_unknown_outcome_names_the_parts_sent(world: World) -> None:
    _second_post_fails(world, lambda r: httpx.Response(500, text="oops"))
    with world.session() as session, pytest.raises(OutcomeUnknown) as info:
        provider().send(session, message("x" * 400), [Target("endpoint", "1001")])
    first_id = world.sandbox.messages()[0]["id"]
    assert f"parts already accepted: ids {first_id}" in info.value.message
    assert "part 2 of 3" in info.value.message


def test_first_part_refused_raises(world: World) -> None:
    posts = [0]
    inner = world.recorder.inner

    class Refuse(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/sms"):
                posts[0] += 1
                return httpx.Response(409, json={"error_code": 1405, "message": "dup"})
            return inner.handle_request(request)

    world.recorder.inner = Refuse()
    with world.session() as session, pytest.raises(ProviderRefused):
        provider().send(session, message("x" * 400), [Target("endpoint", "1001")])
    assert posts[0] == 1


# --------------------------------------------------------------------------- lookup paging


def test_lookup_reads_further_pages_for_an_exact_match() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/authenticate"):
            return httpx.Response(200, json={"auth_token": jwt({"exp": 4_000_000_000})})
        if request.method == "GET":
            page = request.url.params.get("page", "1")
            seen.append(page)
            items = [_endpoint(1, "t-1")] if page == "1" else [_endpoint(2, "t")]
            headers = {"X-Current-Page": page, "X-Total-Pages": "2"}
            return httpx.Response(200, json=items, headers=headers)
        return httpx.Response(201, headers={"Location": f"{BASE}/api/v1/endpoint/2/sms/5"})

    with HttpSession(
        tokens=TokenCache(None).for_key("k"),
        redactor=Redactor(),
        transport=httpx.MockTransport(handler),
    ) as session:
        [result] = provider().send(session, message(), [Target("name", "t")])
    assert seen == ["1", "2"]
    assert result.details["endpoint_id"] == "2"
    assert result.message_id == "5"


# --------------------------------------------------------------------------- secrets


def test_nothing_shows_the_secret(world: World) -> None:
    p = provider(SECRET)
    msg = message("x" * 200, sender="Acme")
    redactor = Redactor([SECRET])
    for request in p.dry_run(msg, [Target("name", "tracker"), Target("endpoint", "10400")]):
        rendered = json.dumps(
            {
                "url": redactor.text(request.full_url()),
                "headers": redactor.headers(dict(request.headers)),
                "body": redactor.body(request.body_text()),
            }
        )
        assert SECRET not in rendered
        assert json.dumps(SECRET)[1:-1] not in rendered
    with world.session() as session:
        session.add_secret(SECRET)
        [result] = p.send(session, msg, [Target("endpoint", "1001")])
        token = session.tokens.get(emnify.TOKEN_NAME)
        assert token is not None
        assert session.redactor.text(f"Bearer {token}") == "Bearer ***"
        with pytest.raises(ProviderRefused) as info:
            p.send(session, msg, [Target("endpoint", "10400")])
    for text in (json.dumps(result.to_json()), info.value.message, str(info.value.hint)):
        assert SECRET not in text
        assert token not in text


def test_refused_login_message_has_no_secret(world: World) -> None:
    with world.session() as session, pytest.raises(LoginRefused) as info:
        provider("refused").send(session, message(), [Target("endpoint", "1")])
    assert "refused" in info.value.message  # the word, from "emnify refused the login"
    assert "application_token" not in info.value.message


# --------------------------------------------------------------------------- issue 10


@pytest.mark.parametrize(
    "kind",
    [
        "AccessDeniedException",  # recorded (cassettes of emnify/emnify-sdk-python)
        "AccessDenied",  # what the sandbox used to say
        "accessdeniedexception",
        "ACCESSDENIED",
        "AccessDeniedException:http://internal.amazon.com/coral/com.amazonaws.gateway/",
    ],
)
def test_the_gateways_access_denied_reads_the_same_in_either_spelling(kind: str) -> None:
    headers = {"x-amzn-ErrorType": kind}
    body = {"message": "token contains an invalid number of segments"}
    error = api_error(reply(401, body, headers))
    assert (error.code, error.token) == ("AccessDeniedException", "AccessDeniedException")
    with pytest.raises(SessionExpired):  # a 401: one fresh login and one retry
        parse_send(reply(401, body, headers))
    with pytest.raises(ProviderRefused) as info:
        parse_send(reply(403, {"message": "Forbidden"}, headers))
    assert info.value.provider_code == "AccessDeniedException"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        (" : x", None),
        ("ThrottlingException:x", "ThrottlingException"),  # unknown ones keep their name
        ("unauthorized", "UnauthorizedException"),
        ("MissingAuthenticationToken", "MissingAuthenticationTokenException"),
    ],
)
def test_gateway_error_type(header: str | None, expected: str | None) -> None:
    assert gateway_error_type(header) == expected


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(
            reply(
                403,
                {"message": "Missing Authentication Token"},
                {"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
            ),
            id="sandbox-and-aws-shape",
        ),
        pytest.param(
            reply(
                403,
                {"message": "Forbidden"},
                {"x-amzn-ErrorType": "missingauthenticationtoken"},
            ),
            id="type-in-another-case",
        ),
        pytest.param(
            reply(403, {"message": "missing authentication token"}), id="message-without-type"
        ),
        pytest.param(reply(404, {"message": "Not Found"}), id="404"),
        pytest.param(reply(405), id="405"),
    ],
)
def test_login_on_a_path_without_a_route_is_a_config_error(response: Response) -> None:
    # The gateway's "Missing Authentication Token" for a path without a route is AWS's
    # documented behaviour and the sandbox's, not seen from emnify (UNCONFIRMED): the
    # plausible alternatives count the same.
    with pytest.raises(ConfigError):
        parse_login(response)


@pytest.mark.parametrize(
    ("sms_type", "received"),
    [
        ({"id": 1, "description": "MT"}, False),
        ({"id": 2, "description": "MO"}, True),
        ({"id": "2", "description": "mo"}, True),
        ({"id": 1, "description": "MO"}, True),  # the description decides: MO's id is unknown
        ({"id": 7, "description": "MT"}, False),
        ({"id": 2}, True),  # no description: any id but 1
        ({"id": "1"}, False),
        (None, False),
    ],
)
def test_is_received_keys_on_the_description(sms_type: Any, received: bool) -> None:
    assert is_received({"sms_type": sms_type}) is received


def test_find_sent_skips_the_devices_replies() -> None:
    stamp = "2027-01-15T08:00:00.000+0000"
    around = emnify._epoch(stamp) or 0.0
    mo = {"id": 2, "description": "MO"}
    mt = {"id": 1, "description": "MT"}
    common = {"payload": "x?", "udh": "", "submit_date": stamp}
    items = [{"id": 9, **common, "sms_type": mo}, {"id": 8, **common, "sms_type": mt}]
    assert find_sent(reply(200, items), "x?", "", around) == "8"
    assert find_sent(reply(200, items[:1]), "x?", "", around) is None
