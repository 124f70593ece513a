"""The only module that sends HTTP (HttpSession, on http_transport's backend). What a
transport failure means for a send is http_failures' table and wording.

Before the request reached the server (DNS, connect, TLS, proxy) nothing was sent:
``ProviderUnavailable`` (exit 6); refused at once, it is retried, within --timeout. After
it may have reached the server (read timeout, reset, a reply cut short) the message may
have been processed: ``OutcomeUnknown`` (exit 7) for the request that hands a message over,
never retried. Logins, lookups and status calls are safe to repeat, so 429 and 5xx on them
are retried a bounded number of times; a send is retried only when it provably never left
(refused connects, 429).
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from smscli import __version__
from smscli.errors import ConfigError, OutcomeUnknown, ProviderUnavailable, SmscliError
from smscli.http_failures import (
    BAD_URL,
    INVALID,
    NOT_SENT,
    Failure,
    describe,
    failure_error,
    header_problem,
    kind_of,
    valid_name,
)
from smscli.models import Request, Response
from smscli.redaction import Redactor

if TYPE_CHECKING:
    import httpx

    from smscli.providers.base import TokenStore

USER_AGENT = f"smscli/{__version__}"
MAX_RETRY_AFTER = 10.0  # seconds; a longer Retry-After is reported instead of waited out
_MIN_ATTEMPT = 0.05  # seconds: less left of --timeout, and a refused connect is not retried
CANCEL_GRACE = 0.5  # seconds a first Ctrl-C leaves replies in flight to arrive (cancel())
_TRACE_BODY_LIMIT = 2000
# What a parser raises on valid JSON/XML of the wrong shape, depth or range (conversation()).
_PARSE_ERRORS = (
    TypeError,
    LookupError,
    AttributeError,
    ValueError,
    ArithmeticError,
    RecursionError,
)


class Cancel:
    """When the exchanges in flight must stop (HttpSession.cancel()); read by
    http_transport between read slices. Safe to set from a signal handler."""

    def __init__(self) -> None:
        self.at: float | None = None

    def set(self, grace: float = 0.0) -> None:
        at = time.monotonic() + grace
        self.at = at if self.at is None else min(self.at, at)

    def is_set(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at


class HttpSession:
    """One command's connection pool, token store and redactor (providers.base.Session)."""

    def __init__(
        self,
        *,
        tokens: TokenStore,
        redactor: Redactor,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        trace: Callable[[str], None] | None = None,
        retries: int = 2,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tokens = tokens
        self.redactor = redactor
        self.timeout = timeout
        self.trace = trace
        self.retries = retries
        self.last_date: str | None = None  # the last reply's Date header (doctor's clock check)
        self.auth_lock = threading.RLock()  # one login at a time across send threads
        self._clock = clock
        self._sleep = sleep
        self._transport = transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._cancel = Cancel()
        self._local = threading.local()  # .answered: this thread's send got a reply
        self._extensions = {
            "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        }

    def _http(self) -> httpx.Client:
        """The command's one pooled client, made on first use. httpx applies HTTP(S)_PROXY,
        ALL_PROXY, NO_PROXY and the system's proxy settings (trust_env), as curl does."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._new_client()
        return self._client

    def _new_client(self) -> httpx.Client:
        import httpx

        from smscli.http_transport import Client

        try:
            return Client(
                transport=self._transport,
                follow_redirects=False,
                timeout=self.timeout,
                # Send threads share the pool: it never makes one wait for a connection.
                limits=httpx.Limits(
                    max_connections=None,
                    max_keepalive_connections=64,
                    keepalive_expiry=KEEPALIVE_SECONDS,
                ),
            )
        except ValueError as exc:  # httpx: a proxy variable it cannot use (socks4://, ...)
            raise ConfigError(
                f"cannot use the proxy settings: {describe(exc)}",
                hint="check HTTP_PROXY, HTTPS_PROXY and ALL_PROXY",
                code="proxy_invalid",
            ) from None

    def cancel(self, grace: float = CANCEL_GRACE) -> None:
        """Stop every exchange in flight, from any thread or a signal handler (the first
        Ctrl-C/SIGTERM of a run): a reply still being waited for after ``grace`` seconds
        (time for the ones on their way to arrive and be recorded) is given up within
        http_transport.READ_SLICE, as "interrupted": outcome unknown for a send whose request
        was written; one stopped in its connect or TLS handshake was not sent (exit 6)."""
        self._cancel.set(grace)
        transport = sys.modules.get("smscli.http_transport")  # (a signal handler: no import)
        if transport is not None:
            transport.interrupt_connect()

    def _transfer(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        """One exchange: (status, lower-case headers, body), or a Failure saying whether the
        request can have reached the server. The whole exchange, every byte of the reply
        included, ends within ``timeout``."""
        import httpx

        from smscli.http_transport import exchange, read_reply

        for name, value in headers.items():  # refused before any I/O, not by h11 after
            plain = value.isascii() and value.isprintable() and value == value.strip()
            if not (plain and valid_name(name)):
                problem = header_problem(name, value)
                if problem is not None:
                    raise Failure(INVALID, ValueError(problem))
        try:
            client = self._http()
            request = httpx.Request(
                method,
                url,
                headers=_merged_headers(headers),
                content=content,
                extensions=self._extensions,
            )
            port = request.url.port
            if port is not None and not 0 < port < 65536:  # the OS would wrap it round
                raise Failure(BAD_URL, ValueError(f"port {port} is out of range"))
            with exchange(timeout, self._cancel):
                raw = client.send(request, stream=True)
                try:
                    body = read_reply(raw)
                finally:
                    raw.close()
        except Failure:
            raise
        except Exception as exc:
            kind = kind_of(exc)
            if kind == INVALID:  # h11's own message would quote the header's value
                problems = [header_problem(k, v) for k, v in headers.items()]
                problem = next((p for p in problems if p), "a header cannot be written")
                exc = ValueError(problem)
            raise Failure(kind, exc) from None
        response_headers: dict[str, str] = {}
        for name, value in raw.headers.multi_items():
            key = name.lower()
            response_headers[key] = (
                f"{response_headers[key]}, {value}" if key in response_headers else value
            )
        return raw.status_code, response_headers, body

    def close(self) -> None:
        self.tokens.flush()
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> float:
        return self._clock()

    def monotonic(self) -> float:
        """A clock for pacing: time.monotonic (a wall-clock step must not stall a rate
        limit), unless a test injected its own clock."""
        return time.monotonic() if self._clock is time.time else self._clock()

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def add_secret(self, value: str) -> None:
        self.redactor.add(value, generated=True)

    def call(self, request: Request, *, sends_message: bool = False) -> Response:
        attempt = 0
        while True:
            attempt += 1
            response = self._send_once(request, sends_message=sends_message)
            delay = self._retry_delay(response, attempt, sends_message=sends_message)
            if delay is None:
                return response
            self._log(f"* retrying in {delay:.1f}s (HTTP {response.status_code})")
            self._sleep(delay)

    def _retry_delay(
        self, response: Response, attempt: int, *, sends_message: bool
    ) -> float | None:
        if attempt > self.retries:
            return None
        code = response.status_code
        if code == 429:
            retry_after = _parse_retry_after(response.header("retry-after"))
            if retry_after is not None:
                return retry_after if retry_after <= MAX_RETRY_AFTER else None
            return _backoff(attempt)
        if code >= 500 and not sends_message:
            return _backoff(attempt)
        return None

    def _send_once(self, request: Request, *, sends_message: bool) -> Response:
        body = request.body_text()
        headers = dict(request.headers)
        if request.json is not None:
            headers.setdefault("Content-Type", "application/json")
        if request.form is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        # What a credential header carries (the base64 of Basic "user:secret", a bearer
        # token) is a secret of the run from now on: a reply may echo it.
        self.redactor.add_credentials(headers)
        self._trace_request(request, headers, body)
        url = request.full_url()
        content = body.encode("utf-8") if body is not None else None
        connect_attempt = 0
        started = time.monotonic()
        # --timeout bounds the request's whole wait, its connect retries included (their
        # backoff on top): a retry gets what is left of it.
        budget_end = started + self.timeout
        while True:
            connect_attempt += 1
            left = min(self.timeout, budget_end - time.monotonic())
            try:
                status, response_headers, response_body = self._transfer(
                    request.method, url, headers, content, max(left, 0.001)
                )
                break
            except Failure as failure:
                # Refused at once (never connected): nothing was sent, so retrying is safe
                # even for a send. A connect that timed out used the time up: not retried.
                retry = failure.kind == NOT_SENT and not self._cancel.is_set()
                left = budget_end - time.monotonic()
                if retry and connect_attempt <= self.retries and left > _MIN_ATTEMPT:
                    self._log(f"* connect failed ({describe(failure.cause)}); retrying")
                    delay = _backoff(connect_attempt)
                    self._sleep(delay)
                    budget_end += delay
                    continue
                raise failure_error(
                    request.url,
                    failure,
                    sends_message=sends_message,
                    timeout=self.timeout,
                    cancelled=self._cancel.is_set(),
                ) from None
        if sends_message:
            self._local.answered = True  # for conversation(): the hand-over got a reply
        response = Response(status_code=status, headers=response_headers, content=response_body)
        self.last_date = response.header("date") or self.last_date
        self._trace_response(response, time.monotonic() - started)
        return response

    # -- replies the provider's parser cannot read ------------------------------------------
    @contextlib.contextmanager
    def conversation(self, label: str = "the provider") -> Iterator[None]:
        """Around a provider's send()/status(): valid JSON of an unexpected shape or depth,
        or a date out of range, makes a parser raise TypeError, KeyError, RecursionError...
        That is an unreadable reply (exit 7 once the message-sending request was answered,
        else 6), never an internal error."""
        self._local.answered = False
        try:
            yield
        except SmscliError as err:
            # Its message may quote the provider's reply (an echo of the request): scrubbed
            # here, before anything stores, prints or returns it.
            self.redactor.error(err)
            raise
        except _PARSE_ERRORS as exc:
            # (Scrubbed before it is cut short: no secret is left half-shown.)
            first = (str(exc) or type(exc).__name__).splitlines()[0]
            detail = self.redactor.text(f"{type(exc).__name__}: {first}")[:200]
            if getattr(self._local, "answered", False):
                raise self.redactor.error(
                    OutcomeUnknown(
                        f"unreadable reply from {label} ({detail}) after the message was "
                        "sent; it may have been processed",
                        hint="check `smscli status --last` or `smscli log` before sending again",
                        code="unreadable_reply",
                    )
                ) from exc
            raise self.redactor.error(
                ProviderUnavailable(
                    f"unreadable reply from {label} ({detail}); nothing was sent",
                    hint="re-run later; if it persists, the provider's API may have changed",
                    code="unreadable_reply",
                )
            ) from exc

    # -- -v trace ------------------------------------------------------------------------
    def _log(self, line: str) -> None:
        if self.trace is not None:
            self.trace(self.redactor.text(line))

    def _trace_request(self, request: Request, headers: dict[str, str], body: str | None) -> None:
        if self.trace is None:
            return
        self.trace(f"> {request.method} {self.redactor.text(request.full_url())}")
        for name, value in self.redactor.headers(headers).items():
            self.trace(f"> {name}: {value}")
        if body:
            self.trace("> " + _clip(self.redactor.body(body) or ""))

    def _trace_response(self, response: Response, elapsed: float) -> None:
        if self.trace is None:
            return
        self.trace(f"< HTTP {response.status_code} ({elapsed * 1000:.0f} ms)")
        for name, value in self.redactor.headers(dict(response.headers)).items():
            self.trace(f"< {name}: {value}")
        if response.content:
            self.trace("< " + _clip(self.redactor.body(response.text) or ""))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TRACE_BODY_LIMIT else text[:_TRACE_BODY_LIMIT] + "…"


def _backoff(attempt: int) -> float:
    # Exponential with jitter, so that many clients do not retry in lock-step.
    return float(min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2))


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, OverflowError):
            return None


# Sent with every request. Replies are tiny; "identity" keeps them uncompressed (a
# compressed one is still decoded, within http_transport.MAX_REPLY).
_DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}
_DEFAULT_NAMES = {name.lower() for name in _DEFAULT_HEADERS}
KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed, not reused


def _merged_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    """The default headers a request does not set itself (in any case), then its own."""
    names = {name.lower() for name in headers}
    if names.isdisjoint(_DEFAULT_NAMES):
        return [*_DEFAULT_HEADERS.items(), *headers.items()]
    defaults = [(k, v) for k, v in _DEFAULT_HEADERS.items() if k.lower() not in names]
    return [*defaults, *headers.items()]
