"""smscli.http_client: bytes on the wire, transport failures mapped to exit 6 / 7, bounded
safe retries (never a send that may have been processed), and a trace without secrets
(SPEC §5, DESIGN "Testing in three layers")."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from smscli.errors import ConfigError, ExitCode, OutcomeUnknown, ProviderUnavailable
from smscli.http_client import MAX_RETRY_AFTER, USER_AGENT, HttpSession
from smscli.models import Request, Response
from smscli.redaction import Redactor
from smscli.sandbox.server import Sandbox
from smscli.tokens import TokenCache
from tests.conftest import Recorder

Handler = Callable[[httpx.Request], httpx.Response]
URL = "https://api.example.test/v1/messages"


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


@dataclass
class Harness:
    session: HttpSession
    recorder: Recorder
    delays: list[float]
    trace: list[str] = field(default_factory=list)


@pytest.fixture
def make() -> Iterator[Callable[..., Harness]]:
    """``make(handler, retries=2, timeout=30, transport=None)``: a session whose sleeps are
    recorded, not slept, and whose trace lines are collected."""
    sessions: list[HttpSession] = []

    def factory(
        handler: Handler = ok,
        *,
        retries: int = 2,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> Harness:
        recorder = Recorder(handler)
        delays: list[float] = []
        trace: list[str] = []
        session = HttpSession(
            tokens=TokenCache(None).for_key("test"),
            redactor=Redactor(),
            timeout=timeout,
            transport=transport or httpx.MockTransport(recorder),
            trace=trace.append,
            retries=retries,
            sleep=delays.append,
        )
        sessions.append(session)
        return Harness(session, recorder, delays, trace)

    yield factory
    for session in sessions:
        session.close()


def sequence(*responses: httpx.Response | type[Exception]) -> Handler:
    """A handler answering each request with the next item (an exception class is raised)."""
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, httpx.Response):
            return item
        raise item("simulated", request=request)  # type: ignore[call-arg]

    return handler


# --------------------------------------------------------------------------- the wire


def test_json_body_on_the_wire(make: Callable[..., Harness]) -> None:
    h = make()
    request = Request(
        "POST",
        URL,
        headers={"Accept": "application/json"},
        json={"To": "+61400000100", "Text": "Grüße €"},
    )
    response = h.session.call(request, sends_message=True)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    [sent] = h.recorder.requests
    body_text = request.body_text()
    assert body_text is not None
    assert sent.content == body_text.encode("utf-8")
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["user-agent"] == USER_AGENT
    assert sent.method == "POST"
    assert str(sent.url) == URL


def test_explicit_content_type_is_kept(make: Callable[..., Harness]) -> None:
    h = make()
    h.session.call(
        Request("POST", URL, headers={"Content-Type": "application/json; charset=utf-8"}, json={})
    )
    assert h.recorder.requests[0].headers.get_list("content-type") == [
        "application/json; charset=utf-8"
    ]


def test_form_body_on_the_wire(make: Callable[..., Harness]) -> None:
    h = make()
    request = Request("POST", URL, form={"grant_type": "client_credentials", "scope": "a b&c"})
    h.session.call(request)
    [sent] = h.recorder.requests
    assert sent.content == b"grant_type=client_credentials&scope=a+b%26c"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"


def test_raw_content_body(make: Callable[..., Harness]) -> None:
    h = make()
    xml = "<request><text>é</text></request>"
    h.session.call(Request("POST", URL, headers={"Content-Type": "application/xml"}, content=xml))
    [sent] = h.recorder.requests
    assert sent.content == xml.encode("utf-8")
    assert sent.headers["content-type"] == "application/xml"


def test_params_in_the_query(make: Callable[..., Harness]) -> None:
    h = make()
    h.session.call(Request("GET", URL, params={"page": "2", "q": "a b"}))
    [sent] = h.recorder.requests
    assert sent.url.path == "/v1/messages"
    assert dict(sent.url.params) == {"page": "2", "q": "a b"}
    assert sent.content == b""


def test_response_headers_lower_case(make: Callable[..., Harness]) -> None:
    h = make(lambda r: httpx.Response(201, headers={"X-Request-Id": "req-9"}, content=b"hi"))
    response = h.session.call(Request("GET", URL))
    assert isinstance(response, Response)
    assert response.status_code == 201
    assert response.header("X-Request-Id") == "req-9"
    assert response.headers["x-request-id"] == "req-9"
    assert response.text == "hi"


def test_last_date_records_the_date_header(make: Callable[..., Harness]) -> None:
    date = "Tue, 01 Dec 2026 10:00:00 GMT"
    h = make(sequence(httpx.Response(200, headers={"Date": date}), httpx.Response(200)))
    assert h.session.last_date is None
    h.session.call(Request("GET", URL))
    assert h.session.last_date == date
    h.session.call(Request("GET", URL))  # no Date: the last one is kept
    assert h.session.last_date == date


def test_session_exposes_tokens_and_clock() -> None:
    tokens = TokenCache(None).for_key("k")
    with HttpSession(
        tokens=tokens,
        redactor=Redactor(),
        transport=httpx.MockTransport(ok),
        clock=lambda: 123.0,
    ) as session:
        assert session.tokens is tokens
        assert session.now() == 123.0


# --------------------------------------------------------------------------- connect errors


@pytest.mark.parametrize("sends_message", [False, True], ids=["lookup", "send"])
@pytest.mark.parametrize(
    ("failure", "attempts"),
    [
        # Refused at once (never connected): tried again, even a send, a bounded number of
        # times with a short backoff.
        pytest.param(httpx.ConnectError, 3, id="refused"),
        # --timeout bounds the request's wait: a connect that used it up is not tried again.
        pytest.param(httpx.ConnectTimeout, 1, id="timed-out"),
    ],
)
def test_a_failed_connect_is_unavailable_after_bounded_retries(
    make: Callable[..., Harness], sends_message: bool, failure: type[Exception], attempts: int
) -> None:
    h = make(sequence(failure), retries=2)
    with pytest.raises(ProviderUnavailable) as info:
        h.session.call(Request("POST", URL, json={}), sends_message=sends_message)
    assert info.value.exit_code is ExitCode.UNAVAILABLE
    assert info.value.code == "unreachable"
    assert "api.example.test" in info.value.message
    assert len(h.recorder.requests) == attempts
    assert len(h.delays) == attempts - 1
    assert all(0 < d <= 8 for d in h.delays)


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_connect_retries_bounded_by_retries(make: Callable[..., Harness], retries: int) -> None:
    h = make(sequence(httpx.ConnectError), retries=retries)
    with pytest.raises(ProviderUnavailable):
        h.session.call(Request("GET", URL))
    assert len(h.recorder.requests) == retries + 1


def test_connect_error_then_success(make: Callable[..., Harness]) -> None:
    h = make(sequence(httpx.ConnectError, httpx.Response(200, json={"id": "m-1"})))
    response = h.session.call(Request("POST", URL, json={}), sends_message=True)
    assert response.json() == {"id": "m-1"}
    assert len(h.recorder.requests) == 2
    assert len(h.delays) == 1


# --------------------------------------------------------------------------- after sending


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (httpx.ReadTimeout, "timeout"),
        (httpx.WriteTimeout, "timeout"),
        (httpx.RemoteProtocolError, "connection_lost"),
        (httpx.ReadError, "connection_lost"),
    ],
    ids=["read-timeout", "write-timeout", "remote-protocol-error", "read-error"],
)
def test_failure_after_sending_a_message_is_outcome_unknown(
    make: Callable[..., Harness], error: type[Exception], code: str
) -> None:
    h = make(sequence(error))
    with pytest.raises(OutcomeUnknown) as info:
        h.session.call(Request("POST", URL, json={}), sends_message=True)
    assert info.value.exit_code is ExitCode.UNKNOWN
    assert info.value.code == code
    assert len(h.recorder.requests) == 1
    assert h.delays == []


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout, httpx.RemoteProtocolError],
    ids=["read-timeout", "remote-protocol-error"],
)
def test_failure_after_sending_a_lookup_is_unavailable(
    make: Callable[..., Harness], error: type[Exception]
) -> None:
    h = make(sequence(error))
    with pytest.raises(ProviderUnavailable) as info:
        h.session.call(Request("GET", URL), sends_message=False)
    assert info.value.exit_code is ExitCode.UNAVAILABLE
    assert not isinstance(info.value, OutcomeUnknown)
    assert len(h.recorder.requests) == 1


def test_timeout_message_names_the_timeout(make: Callable[..., Harness]) -> None:
    h = make(sequence(httpx.ReadTimeout), timeout=12.5)
    with pytest.raises(OutcomeUnknown) as info:
        h.session.call(Request("POST", URL, json={}), sends_message=True)
    assert "12.5s" in info.value.message


# --------------------------------------------------------------------------- 429


def test_429_retry_after_is_slept_then_retried(make: Callable[..., Harness]) -> None:
    h = make(
        sequence(
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(200, json={"id": "m-1"}),
        )
    )
    response = h.session.call(Request("POST", URL, json={}), sends_message=True)
    assert response.status_code == 200
    assert h.delays == [2.0]
    assert len(h.recorder.requests) == 2


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_429_gives_up_after_retries(make: Callable[..., Harness], retries: int) -> None:
    h = make(sequence(httpx.Response(429, headers={"Retry-After": "2"})), retries=retries)
    response = h.session.call(Request("POST", URL, json={}), sends_message=True)
    assert response.status_code == 429
    assert h.delays == [2.0] * retries
    assert len(h.recorder.requests) == retries + 1


@pytest.mark.parametrize(
    "retry_after", [str(MAX_RETRY_AFTER + 1), "3600"], ids=["just-above-max", "an-hour"]
)
def test_429_retry_after_above_max_not_retried(
    make: Callable[..., Harness], retry_after: str
) -> None:
    h = make(sequence(httpx.Response(429, headers={"Retry-After": retry_after})))
    response = h.session.call(Request("GET", URL))
    assert response.status_code == 429
    assert response.header("retry-after") == retry_after
    assert h.delays == []
    assert len(h.recorder.requests) == 1


def test_429_retry_after_at_max_is_waited(make: Callable[..., Harness]) -> None:
    h = make(
        sequence(
            httpx.Response(429, headers={"Retry-After": str(int(MAX_RETRY_AFTER))}),
            httpx.Response(200),
        )
    )
    assert h.session.call(Request("GET", URL)).status_code == 200
    assert h.delays == [MAX_RETRY_AFTER]


def test_429_without_retry_after_backs_off(make: Callable[..., Harness]) -> None:
    h = make(sequence(httpx.Response(429), httpx.Response(200)))
    assert h.session.call(Request("GET", URL)).status_code == 200
    assert len(h.delays) == 1
    assert 0 < h.delays[0] <= 8


# --------------------------------------------------------------------------- 5xx


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_retried_for_lookups(make: Callable[..., Harness], status: int) -> None:
    h = make(sequence(httpx.Response(status)), retries=2)
    response = h.session.call(Request("GET", URL), sends_message=False)
    assert response.status_code == status
    assert len(h.recorder.requests) == 3
    assert len(h.delays) == 2


def test_5xx_then_success_for_lookups(make: Callable[..., Harness]) -> None:
    h = make(sequence(httpx.Response(503), httpx.Response(200, json={"s": 1})))
    assert h.session.call(Request("GET", URL)).json() == {"s": 1}
    assert len(h.recorder.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_never_retried_for_a_send(make: Callable[..., Harness], status: int) -> None:
    h = make(sequence(httpx.Response(status)), retries=5)
    response = h.session.call(Request("POST", URL, json={}), sends_message=True)
    assert response.status_code == status
    assert len(h.recorder.requests) == 1
    assert h.delays == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_4xx_not_retried(make: Callable[..., Harness], status: int) -> None:
    h = make(sequence(httpx.Response(status)))
    assert h.session.call(Request("GET", URL)).status_code == status
    assert len(h.recorder.requests) == 1


# --------------------------------------------------------------------------- invalid URLs


def test_invalid_url_is_config_error(make: Callable[..., Harness]) -> None:
    h = make()
    with pytest.raises(ConfigError) as info:
        h.session.call(Request("GET", "http://api.example.test:port/v1"))
    assert info.value.exit_code is ExitCode.CONFIG
    assert info.value.code == "invalid_base_url"
    assert h.recorder.requests == []


@pytest.mark.parametrize(
    "url",
    ["ftp://sandbox.invalid/api", "sandbox.invalid/api"],
    ids=["ftp-scheme", "no-scheme"],
)
def test_unsupported_scheme_is_config_error(url: str) -> None:
    # The real transport refuses these before any I/O.
    with (
        HttpSession(
            tokens=TokenCache(None).for_key("k"), redactor=Redactor(), sleep=lambda s: None
        ) as session,
        pytest.raises(ConfigError) as info,
    ):
        session.call(Request("GET", url), sends_message=True)
    assert info.value.code == "invalid_base_url"
    assert url in info.value.message


# --------------------------------------------------------------------------- trace


def test_trace_shows_the_exchange_without_secrets(make: Callable[..., Harness]) -> None:
    runtime_token = "rt-9f8e7d6c5b4a"
    basic = base64.b64encode(b"AC123:basic-token-pw").decode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Date": "Tue, 01 Dec 2026 10:00:00 GMT", "X-Echo": runtime_token},
            json={"sessionId": runtime_token, "auth_token": "jwt-abcdef", "echo": runtime_token},
        )

    h = make(handler)
    h.session.add_secret(runtime_token)
    request = Request(
        "POST",
        URL,
        headers={"Authorization": f"Basic {basic}", "X-Note": f"see {runtime_token}"},
        params={"sig": runtime_token},
        json={"username": "ops", "password": "hunter2-pw", "text": f"tok {runtime_token}"},
    )
    h.session.call(request, sends_message=True)
    trace = "\n".join(h.trace)
    assert f"> POST {URL}?sig=***" in trace
    assert "< HTTP 200" in trace
    assert "> Authorization: Basic ***" in trace
    assert '"username": "ops"' in trace
    for secret in (runtime_token, basic, "hunter2-pw", "jwt-abcdef"):
        assert secret not in trace
    # and the wire still carries the real values
    sent = h.recorder.requests[0]
    assert sent.headers["authorization"] == f"Basic {basic}"
    assert json.loads(sent.content)["password"] == "hunter2-pw"


def test_trace_of_connect_retries_has_no_secret(make: Callable[..., Harness]) -> None:
    secret = "conn-secret-123"

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused while holding {secret}", request=request)

    h = make(handler, retries=1)
    h.session.add_secret(secret)
    with pytest.raises(ProviderUnavailable):
        h.session.call(Request("GET", URL))
    trace = "\n".join(h.trace)
    assert "* connect failed" in trace
    assert secret not in trace


def test_trace_clips_long_bodies(make: Callable[..., Harness]) -> None:
    h = make(lambda r: httpx.Response(200, content=b"x" * 5000))
    h.session.call(Request("GET", URL))
    [body_line] = [line for line in h.trace if line.startswith("< x")]
    assert len(body_line) < 2100
    assert body_line.endswith("…")


def test_no_trace_callback_is_fine() -> None:
    with HttpSession(
        tokens=TokenCache(None).for_key("k"),
        redactor=Redactor(),
        transport=httpx.MockTransport(ok),
    ) as session:
        assert session.call(Request("GET", URL)).status_code == 200


# --------------------------------------------------------------------------- against the sandbox


def _fonedynamics_send(to: str) -> Request:
    auth = base64.b64encode(b"AC1:tok").decode()
    return Request(
        "POST",
        "http://sandbox.test/fonedynamics/v2/Properties/P1/Messages",
        headers={"Authorization": f"Basic {auth}"},
        json={"To": to, "Text": "hello"},
    )


def test_sandbox_accepts_a_send(make: Callable[..., Harness]) -> None:
    h = make(transport=Sandbox().transport())
    response = h.session.call(_fonedynamics_send("+61400000100"), sends_message=True)
    assert response.status_code == 200
    assert response.json()["Message"]["MessageSid"]


@pytest.mark.parametrize("suffix", ["0444", "0408"], ids=["dropped", "slow"])
def test_sandbox_lost_reply_is_outcome_unknown(make: Callable[..., Harness], suffix: str) -> None:
    h = make(transport=Sandbox().transport())
    with pytest.raises(OutcomeUnknown):
        h.session.call(_fonedynamics_send(f"+6140000{suffix}"), sends_message=True)


def test_sandbox_slow_reply_within_a_long_timeout(make: Callable[..., Harness]) -> None:
    h = make(transport=Sandbox().transport(), timeout=60)
    response = h.session.call(_fonedynamics_send("+61400000408"), sends_message=True)
    assert response.status_code == 200


def test_sandbox_500_on_a_send_is_returned_once(make: Callable[..., Harness]) -> None:
    sandbox = Sandbox()
    h = make(transport=sandbox.transport())
    response = h.session.call(_fonedynamics_send("+61400000500"), sends_message=True)
    assert response.status_code == 500
    assert h.delays == []


def test_sandbox_429_retry_after_zero(make: Callable[..., Harness]) -> None:
    h = make(transport=Sandbox().transport(), retries=2)
    response = h.session.call(_fonedynamics_send("+61400000429"), sends_message=True)
    assert response.status_code == 429
    assert h.delays == [0.0, 0.0]


def test_pacing_clock_is_monotonic_unless_a_clock_is_injected() -> None:
    import time

    real = HttpSession(tokens=TokenCache(None).for_key("k"), redactor=Redactor())
    before = time.monotonic()
    assert before <= real.monotonic() <= time.monotonic()  # not time.time()
    fake = HttpSession(
        tokens=TokenCache(None).for_key("k"), redactor=Redactor(), clock=lambda: 42.0
    )
    assert fake.monotonic() == 42.0
