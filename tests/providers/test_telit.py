"""smscli.providers.telit: TR50 builders and parsers, and conversations with the sandbox."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smscli import catalog
from smscli.encoding import analyze, analyze_binary
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
from smscli.models import Message, Response, Status, Target
from smscli.providers.base import Settings
from smscli.providers.telit import (
    SESSION_TTL,
    Credentials,
    Telit,
    TelitSessionError,
    credentials_from,
    login_request,
    logout_request,
    parse_login,
    parse_send,
    parse_status,
    send_request,
    status_request,
)
from smscli.redaction import Redactor
from smscli.sandbox.server import Sandbox
from smscli.tokens import TokenCache

BASE = "http://sandbox.test/telit"
API = BASE + "/api"
SECRET = "S3cr3t-P4ss!<&>"
USER = {"username": "ops@example.com", "password": "pw-123456"}
APP = {"app_id": "app-1", "app_token": "tok-abcdef", "thing_key": "gateway-1"}


# --------------------------------------------------------------------------- helpers


def settings(values: dict[str, str] | None = None, base_url: str = BASE) -> Settings:
    return Settings(
        slug="telit",
        profile="test",
        base_url=base_url,
        values=USER if values is None else values,
        secret_names=catalog.REGISTRY["telit"].secret_names,
    )


def message(text: str = "Hello device", **kw: Any) -> Message:
    return Message(check=analyze(text), **kw)


def reply(body: Any, status: int = 200, content_type: str = "application/json") -> Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status_code=status, headers={"content-type": content_type}, content=content)


HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body></body></html>"


def error_of(fn: Callable[[], object]) -> SmscliError:
    with pytest.raises(SmscliError) as info:
        fn()
    return info.value


def recording(inner: httpx.BaseTransport, log: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        log.append(request)
        return inner.handle_request(request)

    return httpx.MockTransport(handler)


def commands(log: list[httpx.Request]) -> list[str]:
    """The TR50 command of each recorded request (the login's, or the one under "1")."""
    out = []
    for request in log:
        body = json.loads(request.content)
        entry = body.get("1") or body.get("auth")
        out.append(entry["command"])
    return out


class Conversation:
    """A provider talking to an in-process sandbox, with every request recorded."""

    def __init__(
        self,
        values: dict[str, str] | None = None,
        *,
        sandbox: Sandbox | None = None,
        cache: TokenCache | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.sandbox = sandbox or Sandbox()
        self.log: list[httpx.Request] = []
        # The cache judges expiry by its own clock: give it the test's clock too.
        self.cache = cache or TokenCache(None, **({"clock": clock} if clock else {}))
        self.session = HttpSession(
            tokens=self.cache.for_key("k"),
            redactor=Redactor(),
            transport=recording(self.sandbox.transport(), self.log),
            sleep=lambda _s: None,
            **({"clock": clock} if clock else {}),
        )
        self.provider = Telit(settings(values))

    def send(self, target: str, text: str = "Hello device", **kw: Any) -> Any:
        kind, _, value = target.partition(":")
        return self.provider.send(self.session, message(text, **kw), [Target(kind, value)])[0]

    def commands(self) -> list[str]:
        return commands(self.log)

    def reset(self) -> None:
        self.log.clear()


@pytest.fixture
def conv() -> Iterator[Conversation]:
    c = Conversation()
    yield c
    c.session.close()


# --------------------------------------------------------------------------- builders


def test_login_request_user() -> None:
    request = login_request(BASE, Credentials.user("ops@example.com", "pw"))
    assert request.method == "POST"
    assert request.url == API
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "auth": {
            "command": "api.authenticate",
            "params": {"username": "ops@example.com", "password": "pw"},
        }
    }


def test_login_request_application() -> None:
    request = login_request(BASE + "/", Credentials.application("a", "t", "k"))
    assert request.url == API
    assert request.json == {
        "auth": {
            "command": "api.authenticate",
            "params": {"appId": "a", "appToken": "t", "thingKey": "k"},
        }
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(USER, {"username": "ops@example.com", "password": "pw-123456"}, id="user"),
        pytest.param(
            APP, {"appId": "app-1", "appToken": "tok-abcdef", "thingKey": "gateway-1"}, id="app"
        ),
        pytest.param(
            {**USER, **APP},
            {"appId": "app-1", "appToken": "tok-abcdef", "thingKey": "gateway-1"},
            id="both-prefers-application",
        ),
    ],
)
def test_credentials_from(values: dict[str, str], expected: dict[str, str]) -> None:
    assert dict(credentials_from(values).params) == expected


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        pytest.param({}, "username, password", id="nothing"),
        pytest.param({"username": "u"}, "password", id="no-password"),
        pytest.param({"app_id": "a", "app_token": "t"}, "thing_key", id="no-thing-key"),
    ],
)
def test_credentials_missing(values: dict[str, str], missing: str) -> None:
    err = error_of(lambda: credentials_from(values))
    assert isinstance(err, ConfigError)
    assert err.exit_code == ExitCode.CONFIG
    assert f"missing {missing}" in err.message


@pytest.mark.parametrize(
    ("target", "param", "value"),
    [
        pytest.param(Target("thing", "my-device_01"), "thingKey", "my-device_01", id="thing"),
        pytest.param(Target("esn", "8A123456"), "esn", "8A123456", id="esn"),
        pytest.param(
            Target("iccid", "89883030000067347689"), "iccid", "89883030000067347689", id="iccid"
        ),
        pytest.param(Target("imei", "490154203237518"), "imei", "490154203237518", id="imei"),
        pytest.param(Target("imsi", "262011234567890"), "imsi", "262011234567890", id="imsi"),
        pytest.param(Target("meid", "A0000012345678"), "meid", "A0000012345678", id="meid"),
        pytest.param(
            Target("msisdn", "+808203508039380"), "msisdn", "808203508039380", id="msisdn-no-plus"
        ),
    ],
)
def test_send_request_identifier(target: Target, param: str, value: str) -> None:
    request = send_request(BASE, "sid", target, message(), smsc=None)
    assert request.method == "POST"
    assert request.url == API
    assert request.json == {
        "auth": {"sessionId": "sid"},
        "1": {
            "command": "sms.send",
            "params": {param: value, "message": "Hello device", "coding": "SEVEN_BIT"},
        },
    }


def test_send_request_matches_the_documented_connection_example() -> None:
    # seed 000: EIGHT_BIT with a hex message, from and validity
    msg = Message(
        check=analyze_binary(b"The SMS message to send"), sender="8009876543", validity_seconds=1200
    )
    request = send_request(BASE, "sid", Target("msisdn", "+808203508039380"), msg, smsc=None)
    assert request.json == {
        "auth": {"sessionId": "sid"},
        "1": {
            "command": "sms.send",
            "params": {
                "msisdn": "808203508039380",
                "message": "54686520534d53206d65737361676520746f2073656e64",
                "coding": "EIGHT_BIT",
                "from": "8009876543",
                "validity": 1200,
            },
        },
    }


def test_send_request_matches_the_documented_external_example() -> None:
    msg = message("The External SMS message to send")
    request = send_request(BASE, "sid", Target("msisdn", "+5615043452"), msg, smsc="att")
    assert request.json["1"]["params"] == {
        "msisdn": "5615043452",
        "message": "The External SMS message to send",
        "coding": "SEVEN_BIT",
        "smsc": "att",
    }


@pytest.mark.parametrize(
    ("text", "encoding", "coding", "payload"),
    [
        pytest.param("Hello", "auto", "SEVEN_BIT", "Hello", id="gsm7"),
        pytest.param("Grüße €", "auto", "SEVEN_BIT", "Grüße €", id="gsm7-extension"),
        pytest.param("Привет", "auto", "UCS2", "Привет", id="ucs2-auto"),
        pytest.param("Hello", "ucs2", "UCS2", "Hello", id="ucs2-forced"),
        pytest.param("Hi", "binary", "EIGHT_BIT", "4869", id="binary-utf8-hex"),
    ],
)
def test_coding_from_the_message_check(text: str, encoding: str, coding: str, payload: str) -> None:
    msg = Message(check=analyze(text, encoding=encoding))
    params = send_request(BASE, "s", Target("thing", "t"), msg, smsc=None).json["1"]["params"]
    assert (params["coding"], params["message"]) == (coding, payload)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({}, None, id="default-not-sent"),
        pytest.param({"trim": False}, False, id="no-trim"),
        pytest.param({"trim": True}, True, id="trim"),
    ],
)
def test_trim(extra: dict[str, Any], expected: bool | None) -> None:
    msg = message("  padded  ", extra=extra)
    params = send_request(BASE, "s", Target("thing", "t"), msg, smsc=None).json["1"]["params"]
    assert params.get("trim") == expected


def test_smsc_goes_only_with_msisdn_targets() -> None:
    thing = send_request(BASE, "s", Target("thing", "t"), message(), smsc="att").json
    phone = send_request(BASE, "s", Target("msisdn", "+15615043452"), message(), smsc="att").json
    assert "smsc" not in thing["1"]["params"]
    assert phone["1"]["params"]["smsc"] == "att"


def test_status_request() -> None:
    by_id = status_request(BASE, "sid", message_id="5b75e566fe2a13383127358d", uuid="u")
    by_uuid = status_request(BASE, "sid", uuid="57d0230853266d6edb8f78e3")
    assert by_id.url == API
    assert by_id.json == {
        "auth": {"sessionId": "sid"},
        "1": {"command": "sms.status", "params": {"id": "5b75e566fe2a13383127358d"}},
    }
    assert by_uuid.json["1"]["params"] == {"uuid": "57d0230853266d6edb8f78e3"}
    assert isinstance(error_of(lambda: status_request(BASE, "sid")), InputError)


def test_logout_request() -> None:
    request = logout_request(BASE, "sid")
    assert request.url == API
    assert request.json == {"auth": {"sessionId": "sid"}, "1": {"command": "session.end"}}


# --------------------------------------------------------------------------- parsers

SEND_OK = {
    "1": {
        "success": True,
        "params": {
            "dateSent": "2021-09-17T10:24:08.12-04:00",
            "uuid": "57d0230853266d6edb8f78e3",
            "preferredSmsc": "tele2",
            "id": "5b75e566fe2a13383127358d",
        },
    }
}


def test_parse_login() -> None:
    body = {"auth": {"success": True, "params": {"sessionId": "abc123"}}}
    assert parse_login(reply(body)) == "abc123"


@pytest.mark.parametrize(
    ("response", "cls", "code"),
    [
        pytest.param(
            reply(
                {
                    "auth": {
                        "success": False,
                        "errorCodes": [-90006],
                        "errorMessages": ["Authentication failed"],
                    }
                }
            ),
            LoginRefused,
            ExitCode.REFUSED,
            id="auth-entry-failure",
        ),
        pytest.param(
            reply({"success": False, "errorCodes": [-1], "errorMessages": ["Invalid session"]}),
            LoginRefused,
            ExitCode.REFUSED,
            id="top-level-failure",
        ),
        pytest.param(
            reply({"auth": {"success": True}}),
            ProviderUnavailable,
            ExitCode.UNAVAILABLE,
            id="no-session-id",
        ),
        pytest.param(
            reply(HTML, 200, "text/html"), ProviderUnavailable, ExitCode.UNAVAILABLE, id="html-200"
        ),
        pytest.param(reply(b""), ProviderUnavailable, ExitCode.UNAVAILABLE, id="empty"),
        pytest.param(
            reply(HTML, 502, "text/html"), ProviderUnavailable, ExitCode.UNAVAILABLE, id="502"
        ),
        pytest.param(reply({}, 429), ProviderUnavailable, ExitCode.UNAVAILABLE, id="429"),
        pytest.param(reply(HTML, 403, "text/html"), LoginRefused, ExitCode.REFUSED, id="403"),
    ],
)
def test_parse_login_failures(response: Response, cls: type[SmscliError], code: ExitCode) -> None:
    err = error_of(lambda: parse_login(response))
    assert type(err) is cls
    assert err.exit_code == code
    assert "\n" not in err.message


def test_parse_login_mfa() -> None:
    body = {
        "auth": {"success": False, "errorCodes": [-90041], "errorMessages": ["MFA code required"]}
    }
    err = error_of(lambda: parse_login(reply(body)))
    assert isinstance(err, LoginRefused)
    assert err.provider_code == "-90041"
    assert "multi-factor" in err.message
    assert err.hint is not None and "app_token" in err.hint


def test_parse_send_documented_reply() -> None:
    sent = parse_send(reply(SEND_OK))
    assert sent.message_id == "5b75e566fe2a13383127358d"
    assert sent.uuid == "57d0230853266d6edb8f78e3"
    assert sent.preferred_smsc == "tele2"
    assert sent.date == "2021-09-17T14:24:08+00:00"  # UTC, to the second


@pytest.mark.parametrize(
    ("body", "message_id", "date"),
    [
        pytest.param(
            {"1": {"success": "true", "params": {"id": 12345, "dateSent": "1631888648000"}}},
            "12345",
            "2021-09-17T14:24:08+00:00",
            id="numbers-as-strings-and-epoch-ms",
        ),
        pytest.param(
            {"1": {"success": True, "params": {"id": "x", "dateSent": 1631888648}}},
            "x",
            "2021-09-17T14:24:08+00:00",
            id="epoch-seconds",
        ),
        pytest.param(
            {"1": {"success": 1, "params": {"id": "x", "dateSent": "2021-09-17T14:24:08Z"}}},
            "x",
            "2021-09-17T14:24:08+00:00",
            id="success-as-number-and-zulu",
        ),
        pytest.param({"1": {"success": True}}, None, None, id="success-without-params"),
        pytest.param(
            {"cmd": {"success": True, "params": {"id": "y"}}}, "y", None, id="renamed-command-id"
        ),
        pytest.param(
            {"success": True, "1": {"success": True, "params": {"id": "z"}}},
            "z",
            None,
            id="top-level-success",
        ),
    ],
)
def test_parse_send_lenient(body: Any, message_id: str | None, date: str | None) -> None:
    sent = parse_send(reply(body))
    assert (sent.message_id, sent.date) == (message_id, date)


@pytest.mark.parametrize(
    ("body", "provider_code", "words"),
    [
        pytest.param(
            {"1": {"success": False, "errorCodes": [-22], "errorMessages": ["Device not found"]}},
            "-22",
            "Device not found",
            id="command-level",
        ),
        pytest.param(
            {"success": False, "errorCodes": [-90002], "errorMessages": ["Bad request"]},
            "-90002",
            "Bad request",
            id="top-level",
        ),
        pytest.param(
            {"success": "false", "errorCodes": ["-7", -8], "errorMessages": "two\nlines"},
            "-7,-8",
            "two lines",
            id="strings-and-scalars",
        ),
        pytest.param(
            {"1": {"errorCodes": [-5], "errorMessages": ["no success key"]}},
            "-5",
            "no success key",
            id="errors-without-success",
        ),
        pytest.param(
            {"1": {"success": False, "errorMessage": "legacy singular"}},
            None,
            "legacy singular",
            id="legacy-singular-keys",
        ),
        pytest.param({"1": {"success": False}}, None, "no error message", id="bare-failure"),
    ],
)
def test_parse_send_refused(body: Any, provider_code: str | None, words: str) -> None:
    err = error_of(lambda: parse_send(reply(body)))
    assert type(err) is ProviderRefused
    assert err.exit_code == ExitCode.REFUSED
    assert err.provider_code == provider_code
    assert words in err.message
    for code in (provider_code or "").split(","):
        assert code in err.message
    assert "\n" not in err.message


def test_parse_send_not_found_is_unknown_target() -> None:
    body = {"1": {"success": False, "errorCodes": [-90008], "errorMessages": ["Thing not found"]}}
    err = error_of(lambda: parse_send(reply(body)))
    assert err.code == "unknown_target"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"success": False, "errorCodes": [-90004], "errorMessages": ["Invalid session"]},
            id="top-level",
        ),
        pytest.param(
            {"1": {"success": False, "errorMessages": ["SESSION EXPIRED"]}}, id="upper-case"
        ),
        pytest.param(
            {"1": {"success": False, "errorMessages": ["Not authenticated"]}}, id="not-auth"
        ),
        pytest.param(
            {"success": False, "errorMessages": ["Authorization failed for this request"]},
            id="authorization",
        ),
    ],
)
def test_parse_send_session_errors(body: Any) -> None:
    # The session-error codes are UNCONFIRMED: the text is matched, case-insensitively.
    with pytest.raises(TelitSessionError) as info:
        parse_send(reply(body))
    assert isinstance(info.value, SessionExpired)
    assert info.value.refusal.exit_code == ExitCode.REFUSED


# How Telit says "your session expired" is UNCONFIRMED; the sandbox's -90004 and its text are
# its own invention. Each of these is taken as a session error (one re-login, one retry).
SESSION_VARIANTS = [
    pytest.param(
        {"success": False, "errorCodes": [-90004], "errorMessages": ["Request not permitted"]},
        id="code-90004-any-text",
    ),
    pytest.param({"success": False, "errorCodes": ["-90004"]}, id="code-90004-as-text-no-message"),
    pytest.param(
        {"1": {"success": False, "errorCodes": [-90004], "errorMessages": []}},
        id="code-90004-per-command",
    ),
    pytest.param(
        {
            "success": False,
            "errorCodes": [-90004],
            "errorMessages": ["Session is invalid or has expired; authenticate again"],
        },
        id="sandbox-words",
    ),
    pytest.param(
        {"success": False, "errorCodes": [-90017], "errorMessages": ["Session timed out"]},
        id="other-code-session-words",
    ),
    pytest.param(
        {"1": {"success": False, "errorMessages": ["Unknown sessionId"]}}, id="unknown-sessionid"
    ),
    pytest.param({"success": False, "errorMessages": ["Token has expired"]}, id="token-expired"),
    pytest.param({"success": False, "errorMessage": "Please log in again"}, id="please-log-in"),
    pytest.param(
        {"1": {"success": False, "errorCodes": [-1], "errorMessages": ["Login required"]}},
        id="login-required",
    ),
    pytest.param({"success": False, "errorMessages": ["Must re-authenticate"]}, id="re-auth"),
]


@pytest.mark.parametrize("body", SESSION_VARIANTS)
def test_parse_send_session_error_variants(body: Any) -> None:
    with pytest.raises(TelitSessionError):
        parse_send(reply(body))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"1": {"success": False, "errorCodes": [-90020], "errorMessages": ["Rejected"]}},
            id="rejected",
        ),
        pytest.param(
            {"1": {"success": False, "errorCodes": [-90008], "errorMessages": ["Not found"]}},
            id="not-found",
        ),
        pytest.param(
            {"1": {"success": False, "errorCodes": [-900041], "errorMessages": ["Bad coding"]}},
            id="code-that-merely-contains-90004",
        ),
        pytest.param(
            {"1": {"success": False, "errorMessages": ["Message expired"]}}, id="message-expired"
        ),
    ],
)
def test_parse_send_other_refusals_are_not_session_errors(body: Any) -> None:
    err = error_of(lambda: parse_send(reply(body)))
    assert type(err) is ProviderRefused


@pytest.mark.parametrize("body", SESSION_VARIANTS)
def test_any_session_error_variant_relogs_in_once_and_retries(body: Any) -> None:
    """A server that says "session expired" its own way (not the sandbox's): the cached
    session's send is answered with ``body``; smscli logs in once more and sends again."""
    sandbox = Sandbox()
    inner = sandbox.transport()
    sends = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("1", {}).get("command") == "sms.send":
            sends[0] += 1
            if sends[0] == 2:  # the send with the session cached by the first one
                return httpx.Response(200, json=body)
        return inner.handle_request(request)

    c = Conversation(sandbox=sandbox)
    c.session.close()
    c.session = HttpSession(
        tokens=c.cache.for_key("k"),
        redactor=Redactor(),
        transport=recording(httpx.MockTransport(handler), c.log),
        sleep=lambda _s: None,
    )
    c.send("thing:warm-up")
    c.reset()
    assert c.send("thing:sensor-1").status is Status.ACCEPTED
    assert c.commands() == ["sms.send", "api.authenticate", "sms.send"]
    assert [m["target"] for m in sandbox.messages()] == ["thingKey:warm-up", "thingKey:sensor-1"]
    c.session.close()


@pytest.mark.parametrize(
    ("response", "cls", "code"),
    [
        pytest.param(
            reply(HTML, 200, "text/html"), OutcomeUnknown, ExitCode.UNKNOWN, id="html-200"
        ),
        pytest.param(reply(b""), OutcomeUnknown, ExitCode.UNKNOWN, id="empty-200"),
        pytest.param(reply([SEND_OK]), OutcomeUnknown, ExitCode.UNKNOWN, id="json-list"),
        pytest.param(
            reply({"auth": {"success": True}}),
            OutcomeUnknown,
            ExitCode.UNKNOWN,
            id="no-command-entry",
        ),
        pytest.param(reply({"1": "ok"}), OutcomeUnknown, ExitCode.UNKNOWN, id="entry-not-object"),
        pytest.param(reply(HTML, 500, "text/html"), OutcomeUnknown, ExitCode.UNKNOWN, id="500"),
        pytest.param(reply(HTML, 503, "text/html"), OutcomeUnknown, ExitCode.UNKNOWN, id="503"),
        pytest.param(
            reply({"message": "slow down"}, 429),
            ProviderUnavailable,
            ExitCode.UNAVAILABLE,
            id="429",
        ),
        pytest.param(
            reply(HTML, 400, "text/html"), ProviderRefused, ExitCode.REFUSED, id="400-html"
        ),
        pytest.param(
            reply({"error": "forbidden"}, 403), ProviderRefused, ExitCode.REFUSED, id="403-json"
        ),
    ],
)
def test_parse_send_transport_and_unreadable(
    response: Response, cls: type[SmscliError], code: ExitCode
) -> None:
    err = error_of(lambda: parse_send(response))
    assert type(err) is cls
    assert err.exit_code == code
    assert "\n" not in err.message


def test_parse_send_http_401_is_a_session_error() -> None:
    with pytest.raises(TelitSessionError):
        parse_send(reply(HTML, 401, "text/html"))


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        pytest.param("delivered", "DELIVERED", Status.DELIVERED, id="documented"),
        pytest.param("Sent", None, Status.SENT, id="case-variant"),
        pytest.param(None, "FAILED", Status.FAILED, id="raw-only"),
        pytest.param("expired", "EXPIRED", Status.EXPIRED, id="expired"),
        pytest.param("pending", "PENDING", Status.QUEUED, id="pending"),
        pytest.param("accepted", "ACCEPTED", Status.ACCEPTED, id="accepted"),
        pytest.param("rejected", "REJECTED", Status.REJECTED, id="rejected"),
        pytest.param("mystery", "MYSTERY", Status.UNKNOWN, id="unknown-word"),
        pytest.param("mystery", "DELIVERED", Status.DELIVERED, id="raw-fallback"),
    ],
)
def test_parse_status(status: str | None, raw: str | None, expected: Status) -> None:
    params: dict[str, Any] = {"dateSent": "2021-09-17T10:24:08.12-04:00", "preferredSmsc": "tele2"}
    if status is not None:
        params["status"] = status
    if raw is not None:
        params["statusRaw"] = raw
    report = parse_status(reply({"1": {"success": True, "params": params}}))
    assert report.status is expected
    assert report.provider_status == (raw or status)
    assert report.date == "2021-09-17T14:24:08+00:00"  # UTC, to the second
    assert report.details["preferredSmsc"] == "tele2"


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        pytest.param(
            reply(
                {
                    "1": {
                        "success": False,
                        "errorCodes": [-90008],
                        "errorMessages": ["SMS not found"],
                    }
                }
            ),
            ProviderRefused,
            id="not-found",
        ),
        pytest.param(reply(HTML, 500, "text/html"), ProviderUnavailable, id="500-is-not-unknown"),
        pytest.param(reply(b"", 200), ProviderUnavailable, id="empty"),
    ],
)
def test_parse_status_failures(response: Response, cls: type[SmscliError]) -> None:
    assert type(error_of(lambda: parse_status(response))) is cls


# --------------------------------------------------------------------------- provider


def test_smsc_is_for_external_sms_only() -> None:
    # smsc (--smsc, the env var or the profile) goes with msisdn targets; not an error for a
    # thing target, which it does not reach.
    provider = Telit(settings({**USER, "smsc": "att"}))
    provider.check_message(message(), [Target("thing", "t")])
    requests = provider.dry_run(message(), [Target("thing", "t")])
    assert "smsc" not in requests[1].json["1"]["params"]


def test_check_message_validity() -> None:
    provider = Telit(settings())
    err = error_of(
        lambda: provider.check_message(message(validity_seconds=0), [Target("thing", "t")])
    )
    assert isinstance(err, InputError)


def test_profile_smsc_is_used_for_msisdn() -> None:
    provider = Telit(settings({**USER, "smsc": "tele2"}))
    requests = provider.dry_run(message(), [Target("msisdn", "+15615043452")])
    assert requests[1].json["1"]["params"]["smsc"] == "tele2"
    blank = Telit(settings({**USER, "smsc": "  "}))
    plain = blank.dry_run(message(), [Target("msisdn", "+15615043452")])
    assert "smsc" not in plain[1].json["1"]["params"]


def test_dry_run_is_login_then_one_send_per_target() -> None:
    provider = Telit(settings(base_url=BASE))
    targets = [Target("thing", "a"), Target("iccid", "89883030000067347689")]
    requests = provider.dry_run(message(validity_seconds=3600, sender="ACME"), targets)
    assert [r.json.get("1", r.json.get("auth"))["command"] for r in requests] == [
        "api.authenticate",
        "sms.send",
        "sms.send",
    ]
    assert all(r.url == API for r in requests)
    assert requests[1].json["auth"] == {"sessionId": "***"}
    assert (
        requests[1].json["1"]["params"]
        == send_request(
            BASE, "***", targets[0], message(validity_seconds=3600, sender="ACME"), smsc=None
        ).json["1"]["params"]
    )


# --------------------------------------------------------------------------- conversations


def test_first_send_logs_in_then_sends(conv: Conversation) -> None:
    result = conv.send("thing:sensor-1")
    assert conv.commands() == ["api.authenticate", "sms.send"]
    assert all(str(r.url) == API for r in conv.log)
    assert result.status is Status.ACCEPTED
    assert result.provider == "telit"
    assert result.target == "thing:sensor-1"
    assert result.message_id and len(result.message_id) == 24
    assert result.uuid and result.uuid != result.message_id
    assert result.date is not None and result.date.endswith("+00:00")
    assert result.details == {"preferredSmsc": "sandbox-smsc"}
    assert result.segments == 1 and result.encoding == "gsm7"
    sent = json.loads(conv.log[1].content)
    assert sent["auth"]["sessionId"] == conv.session.tokens.get("sessionId")
    stored = conv.sandbox.messages()
    assert [m["id"] for m in stored] == [result.message_id]


def test_second_send_reuses_the_cached_session(conv: Conversation) -> None:
    conv.send("thing:sensor-1")
    conv.reset()
    conv.send("thing:sensor-2")
    assert conv.commands() == ["sms.send"]


def test_session_expired_0419_relogs_in_once_and_retries_once(conv: Conversation) -> None:
    conv.send("thing:warm-up")
    conv.reset()
    result = conv.send("thing:dev-0419")
    assert conv.commands() == ["sms.send", "api.authenticate", "sms.send"]
    assert result.status is Status.ACCEPTED
    first, retry = json.loads(conv.log[0].content), json.loads(conv.log[2].content)
    assert first["auth"]["sessionId"] != retry["auth"]["sessionId"]


def test_session_past_the_sandbox_ttl_relogs_in_once() -> None:
    t = [1000.0]
    sandbox = Sandbox(clock=lambda: t[0])
    c = Conversation(sandbox=sandbox, clock=lambda: t[0])
    c.send("thing:a")
    t[0] += sandbox.token_ttl + 1
    c.reset()
    assert c.send("thing:b").status is Status.ACCEPTED
    assert c.commands() == ["sms.send", "api.authenticate", "sms.send"]


def test_cached_session_expiry_follows_the_ttl() -> None:
    t = [1000.0]
    cache = TokenCache(None, clock=lambda: t[0])
    c = Conversation(cache=cache, clock=lambda: t[0])
    c.send("thing:a")
    t[0] += SESSION_TTL + 1
    c.reset()
    c.send("thing:b")
    assert c.commands() == ["api.authenticate", "sms.send"]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"username": "u@example.com", "password": "refused"}, id="user"),
        pytest.param({"app_id": "a", "app_token": "refused", "thing_key": "k"}, id="application"),
    ],
)
def test_refused_login_is_final(values: dict[str, str]) -> None:
    c = Conversation(values)
    err = error_of(lambda: c.send("thing:sensor-1"))
    assert isinstance(err, LoginRefused)
    assert err.exit_code == ExitCode.REFUSED
    assert c.commands() == ["api.authenticate"]
    assert c.sandbox.messages() == []


def test_refused_login_with_a_stale_cached_session_is_still_one_login(conv: Conversation) -> None:
    conv.send("thing:warm-up")
    conv.provider = Telit(settings({"username": "ops@example.com", "password": "refused"}))
    conv.reset()
    err = error_of(lambda: conv.send("thing:dev-0419"))
    assert isinstance(err, LoginRefused)
    assert conv.commands() == ["sms.send", "api.authenticate"]


def test_auth_error_on_every_attempt_0401_is_refused_after_one_relogin(conv: Conversation) -> None:
    conv.send("thing:warm-up")
    conv.reset()
    err = error_of(lambda: conv.send("thing:dev-0401"))
    assert type(err) is ProviderRefused
    assert "Authorization failed" in err.message
    assert err.provider_code
    assert conv.commands() == ["sms.send", "api.authenticate", "sms.send"]


def test_auth_error_on_a_fresh_session_is_not_retried(conv: Conversation) -> None:
    err = error_of(lambda: conv.send("thing:dev-0401"))
    assert type(err) is ProviderRefused
    assert conv.commands() == ["api.authenticate", "sms.send"]


@pytest.mark.parametrize(
    ("target", "cls", "code", "sends"),
    [
        pytest.param("thing:dev-0400", ProviderRefused, ExitCode.REFUSED, 1, id="0400-rejected"),
        pytest.param(
            "iccid:8988303000000000404", ProviderRefused, ExitCode.REFUSED, 1, id="0404-unknown"
        ),
        pytest.param(
            "msisdn:+15550100429",
            ProviderUnavailable,
            ExitCode.UNAVAILABLE,
            3,
            id="0429-rate-limited",
        ),
        pytest.param(
            "imei:35000000000500", OutcomeUnknown, ExitCode.UNKNOWN, 1, id="0500-server-error"
        ),
        pytest.param(
            "imsi:262010000000444", OutcomeUnknown, ExitCode.UNKNOWN, 1, id="0444-dropped"
        ),
        pytest.param("esn:12345670408", OutcomeUnknown, ExitCode.UNKNOWN, 1, id="0408-slow"),
    ],
)
def test_magic_failures(
    conv: Conversation, target: str, cls: type[SmscliError], code: ExitCode, sends: int
) -> None:
    err = error_of(lambda: conv.send(target))
    assert type(err) is cls
    assert err.exit_code == code
    assert conv.commands() == ["api.authenticate"] + ["sms.send"] * sends
    assert "\n" not in err.message


def test_unknown_target_0404_shows_the_provider_code(conv: Conversation) -> None:
    err = error_of(lambda: conv.send("thing:dev-0404"))
    assert err.code == "unknown_target"
    assert err.provider_code == "-90008"
    assert "-90008" in err.message and "not found" in err.message


@pytest.mark.parametrize(
    ("target", "final"),
    [
        pytest.param("thing:dev-1", Status.DELIVERED, id="delivered"),
        pytest.param("thing:dev-0410", Status.FAILED, id="0410-failed"),
        pytest.param("thing:dev-0411", Status.EXPIRED, id="0411-expired"),
    ],
)
def test_status_moves_from_accepted_to_final(target: str, final: Status) -> None:
    t = [0.0]
    c = Conversation(sandbox=Sandbox(clock=lambda: t[0]), clock=lambda: t[0])
    result = c.send(target)
    record = {
        "provider": "telit",
        "profile": "test",
        "target": target,
        "message_id": result.message_id,
        "request_id": None,
        "uuid": result.uuid,
        "reference": None,
        "parts": None,
        "details": result.details,
        "date": result.date,
    }
    seen = []
    for now in (0.0, 1.5, 3.0):
        t[0] = now
        seen.append(c.provider.status(c.session, record).status)
    assert seen == [Status.ACCEPTED, Status.SENT, final]
    report = c.provider.status(c.session, {**record, "message_id": None})
    assert report.status is final
    assert report.provider_status == final.value.upper()
    assert c.commands().count("api.authenticate") == 1


def test_status_needs_an_id(conv: Conversation) -> None:
    err = error_of(lambda: conv.provider.status(conv.session, {"message_id": None, "details": {}}))
    assert isinstance(err, InputError)
    assert conv.log == []


def test_login_is_a_real_login_and_is_cached(conv: Conversation) -> None:
    conv.provider.login(conv.session)
    conv.send("thing:a")
    assert conv.commands() == ["api.authenticate", "sms.send"]


def test_logout_ends_the_session_and_clears_the_cache(conv: Conversation) -> None:
    conv.send("thing:a")
    old = json.loads(conv.log[1].content)["auth"]["sessionId"]
    conv.reset()
    conv.provider.logout(conv.session)
    assert conv.commands() == ["session.end"]
    assert json.loads(conv.log[0].content)["auth"]["sessionId"] == old
    assert conv.session.tokens.get("sessionId") is None
    conv.reset()
    conv.send("thing:b")
    assert conv.commands() == ["api.authenticate", "sms.send"]


def test_logout_without_a_session_only_clears(conv: Conversation) -> None:
    conv.provider.logout(conv.session)
    assert conv.log == []


def test_logout_is_best_effort(conv: Conversation) -> None:
    conv.session.tokens.set("sessionId", "stale-session", expires_at=None)
    conv.provider.logout(conv.session)  # the server refuses the stale session: no error
    assert conv.session.tokens.get("sessionId") is None


def test_token_cache_survives_across_sessions(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    sandbox = Sandbox()
    first = Conversation(sandbox=sandbox, cache=TokenCache(path))
    first.send("thing:a")
    first.session.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = Conversation(sandbox=sandbox, cache=TokenCache(path))
    second.send("thing:b")
    assert second.commands() == ["sms.send"]
    shared = TokenCache(path)
    third, fourth = (Conversation(sandbox=sandbox, cache=shared) for _ in range(2))
    third.send("thing:c")
    fourth.send("thing:d")
    assert third.commands() == fourth.commands() == ["sms.send"]


def test_several_targets_share_one_login() -> None:
    conv = Conversation({**USER, "smsc": "att"})
    targets = [Target("thing", "a"), Target("msisdn", "+15615043452")]
    results = conv.provider.send(conv.session, message(), targets)
    assert [r.status for r in results] == [Status.ACCEPTED, Status.ACCEPTED]
    assert conv.commands() == ["api.authenticate", "sms.send", "sms.send"]
    assert results[1].details == {"preferredSmsc": "att"}
    fields = [m["fields"] for m in conv.sandbox.messages()]
    assert "smsc" not in fields[0] and fields[1]["smsc"] == "att"


def test_binary_and_every_option_reach_the_sandbox(conv: Conversation) -> None:
    msg = Message(
        check=analyze_binary(bytes.fromhex("0102ff")),
        sender="ACME",
        validity_seconds=1200,
        extra={"trim": False},
    )
    conv.provider.send(conv.session, msg, [Target("thing", "a")])
    (stored,) = conv.sandbox.messages()
    assert stored["text"] == "0102ff"
    assert stored["fields"]["coding"] == "EIGHT_BIT"
    assert (stored["fields"]["from"], stored["fields"]["validity"]) == ("ACME", 1200)
    assert stored["fields"]["trim"] is False


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"username": "ops@example.com", "password": SECRET}, id="password"),
        pytest.param({"app_id": "a", "app_token": SECRET, "thing_key": "k"}, id="app-token"),
    ],
)
def test_secrets_stay_out_of_every_output(values: dict[str, str]) -> None:
    redactor = Redactor([SECRET])
    provider = Telit(settings(values))
    for request in provider.dry_run(message(), [Target("thing", "a")]):
        rendered = [
            redactor.body(request.body_text()) or "",
            json.dumps(redactor.headers(request.headers)),
            redactor.text(request.full_url()),
        ]
        assert not any(SECRET in part for part in rendered)
        assert not any(json.dumps(SECRET)[1:-1] in part for part in rendered)

    c = Conversation(values)
    result = c.send("thing:a")
    assert SECRET not in json.dumps(result.to_json())
    for target in ("thing:dev-0400", "thing:dev-0404", "thing:dev-0500", "thing:dev-0401"):
        err = error_of(lambda target=target: c.send(target))
        assert SECRET not in err.message and SECRET not in (err.hint or "")
    session_id = c.session.tokens.get("sessionId")
    assert session_id is not None
    assert c.session.redactor.text(f"id={session_id}") == "id=***"
    assert SECRET not in json.dumps(c.sandbox.messages())


def test_credentials_repr_hides_the_secret() -> None:
    assert SECRET not in repr(Credentials.user("u", SECRET))
    assert SECRET not in repr(
        credentials_from({"app_id": "a", "app_token": SECRET, "thing_key": "k"})
    )


# --------------------------------------------------------------------------- command flags


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({"trim": None}, {}, id="unset"),
        pytest.param({"trim": False}, {"trim": False}, id="no-trim"),
        pytest.param({"trim": True}, {"trim": True}, id="trim"),
    ],
)
def test_command_extra(values: dict[str, Any], expected: dict[str, Any]) -> None:
    info = catalog.REGISTRY["telit"]
    assert info.extra_from(values) == expected
    assert [o.name for o in info.options] == ["trim"]
    assert info.field("smsc").flag == "--smsc"  # the SMSC is a profile field, flag and all
