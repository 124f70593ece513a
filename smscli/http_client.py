"""The only module that sends HTTP. Maps transport failures onto what they mean for a send.

Before the request reached the server (DNS, connect, TLS, proxy) nothing was sent:
``ProviderUnavailable`` (exit 6), and safe to retry. After it may have reached the server
(read timeout, reset, a reply cut short) the message may have been processed:
``OutcomeUnknown`` (exit 7) for the request that hands a message over, never retried.
Logins, lookups and status calls are safe to repeat, so 429 and 5xx on them are retried a
bounded number of times; a send is retried only when it provably never left (connect
errors, 429).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from smscli import __version__
from smscli.errors import ConfigError, OutcomeUnknown, ProviderUnavailable, SmscliError
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
                f"cannot use the proxy settings: {_describe(exc)}",
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

    def _transfer(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        """One exchange: (status, lower-case headers, body), or a _Failure saying whether the
        request can have reached the server. The whole exchange, every byte of the reply
        included, ends within ``timeout``."""
        import httpx

        from smscli.http_transport import exchange, read_reply

        for name, value in headers.items():  # refused before any I/O, not by h11 after
            plain = value.isascii() and value.isprintable() and value == value.strip()
            if not (plain and _valid_name(name)):
                problem = _header_problem(name, value)
                if problem is not None:
                    raise _Failure(_INVALID, ValueError(problem))
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
                raise _Failure(_BAD_URL, ValueError(f"port {port} is out of range"))
            with exchange(timeout, self._cancel):
                raw = client.send(request, stream=True)
                try:
                    body = read_reply(raw)
                finally:
                    raw.close()
        except _Failure:
            raise
        except Exception as exc:
            kind = self._kind(exc)
            if kind == _INVALID:  # h11's own message would quote the header's value
                problems = [_header_problem(k, v) for k, v in headers.items()]
                problem = next((p for p in problems if p), "a header cannot be written")
                exc = ValueError(problem)
            raise _Failure(kind, exc) from None
        response_headers: dict[str, str] = {}
        for name, value in raw.headers.multi_items():
            key = name.lower()
            response_headers[key] = (
                f"{response_headers[key]}, {value}" if key in response_headers else value
            )
        return raw.status_code, response_headers, body

    def _kind(self, exc: Exception) -> str:
        """What a failed exchange means (the table below), or re-raise what is not ours."""
        if isinstance(exc, SmscliError):
            raise exc  # the CA certificates or a SOCKS proxy without socksio: config
        if isinstance(exc, ImportError) and exc.name == "socksio":
            raise ConfigError(
                "a SOCKS proxy is configured (ALL_PROXY or HTTP(S)_PROXY = socks5://…), "
                "but the optional socksio package is not installed",
                hint="pip install socksio (or httpx[socks]), or unset the proxy variable",
                code="proxy_socks_missing",
            ) from None
        if isinstance(exc, OSError) and not _is_httpx(exc):  # ssl.SSLError too
            raise _certificates_error(exc) from None
        for cls, kind in _failure_table():
            if isinstance(exc, cls):
                return kind
        raise exc

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
        self.redactor.add(value)

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
            except _Failure as failure:
                # Refused at once (never connected): nothing was sent, so retrying is safe
                # even for a send. A connect that timed out used the time up: not retried.
                retry = failure.kind == _NOT_SENT and not self._cancel.is_set()
                left = budget_end - time.monotonic()
                if retry and connect_attempt <= self.retries and left > _MIN_ATTEMPT:
                    self._log(f"* connect failed ({_describe(failure.cause)}); retrying")
                    delay = _backoff(connect_attempt)
                    self._sleep(delay)
                    budget_end += delay
                    continue
                raise self._failure_error(request, failure, sends_message) from None
        if sends_message:
            self._local.answered = True  # for conversation(): the hand-over got a reply
        response = Response(status_code=status, headers=response_headers, content=response_body)
        self.last_date = response.header("date") or self.last_date
        self._trace_response(response, time.monotonic() - started)
        return response

    def _failure_error(
        self, request: Request, failure: _Failure, sends_message: bool
    ) -> SmscliError:
        """What a transport failure means for the user, by what can have been sent."""
        exc, where = failure.cause, _host(request.url)
        if failure.kind == _BAD_URL:
            if isinstance(exc, UnicodeError):  # from the idna codec, for an ASCII host name
                host = _host(request.url)
                exc = ValueError(
                    f"the host name {host!r} has an empty label or one longer than 63 characters"
                )
            return ConfigError(
                f"invalid provider URL {request.url!r}: {exc}",
                hint="check base_url in the profile",
                code="invalid_base_url",
            )
        if failure.kind in (_NOT_SENT, _NOT_SENT_IN_TIME):
            from smscli.http_transport import Stopped

            if isinstance(exc, Stopped) or self._cancel.is_set():
                return ProviderUnavailable(
                    f"{where}: interrupted before the request was sent; nothing was sent",
                    hint="re-run the same command to send it",
                    code="interrupted",
                )
            detail = _describe(exc)
            if failure.kind == _NOT_SENT_IN_TIME:
                detail = f"nothing within {self.timeout:g}s: {detail}"
            proxy: str | None = getattr(exc, "proxy", None)
            if proxy is not None:  # http_transport.ProxyUnreachable, ProxyTimeout
                return ProviderUnavailable(
                    f"cannot reach the proxy {proxy}{_proxy_source(request.url, proxy)}: {detail}",
                    hint="check the proxy, or HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and "
                    "NO_PROXY; nothing was sent",
                    code="unreachable",
                )
            return ProviderUnavailable(
                f"cannot reach {where}: {detail}",
                hint="check the network, proxy settings and base_url; nothing was sent",
                code="unreachable",
            )
        if failure.kind == _INVALID:
            return ProviderUnavailable(
                f"cannot send the request to {where}: {_describe(exc)}",
                hint="nothing was sent; a login reply may have been malformed",
                code="invalid_request",
            )
        return self._after_send_error(request, failure, sends_message)

    def _after_send_error(
        self, request: Request, failure: _Failure, sends_message: bool
    ) -> SmscliError:
        from smscli.http_transport import Cancelled, FloodedExchange

        exc = failure.cause
        if isinstance(exc.__cause__, Cancelled) or self._cancel.is_set():
            what, code = "interrupted while waiting for the reply", "interrupted"
        elif failure.kind == _TIMED_OUT:
            what, code = f"no reply within {self.timeout:g}s", "timeout"
        elif failure.kind == _UNREADABLE or isinstance(exc.__cause__, FloodedExchange):
            what, code = f"unreadable reply ({_describe(exc).rstrip('.')})", "unreadable_reply"
        else:
            what, code = f"connection lost ({_describe(exc).rstrip('.')})", "connection_lost"
        where = _host(request.url)
        if sends_message:
            return OutcomeUnknown(
                f"{where}: {what} after the message was sent; it may have been processed",
                hint="check `smscli status --last` or `smscli log` before sending again",
                code=code,
            )
        return ProviderUnavailable(
            f"{where}: {what}; nothing was sent",
            hint="re-run when the provider answers (raise --timeout if it is slow)",
            code=code,
        )

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
        except _PARSE_ERRORS as exc:
            detail = f"{type(exc).__name__}: {_describe(exc)}"[:200]
            if getattr(self._local, "answered", False):
                raise OutcomeUnknown(
                    f"unreadable reply from {label} ({detail}) after the message was sent; "
                    "it may have been processed",
                    hint="check `smscli status --last` or `smscli log` before sending again",
                    code="unreadable_reply",
                ) from exc
            raise ProviderUnavailable(
                f"unreadable reply from {label} ({detail}); nothing was sent",
                hint="re-run later; if it persists, the provider's API may have changed",
                code="unreadable_reply",
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


def _proxy_source(url: str, proxy: str) -> str:
    """ " (from HTTPS_PROXY)": the variable httpx took the proxy ``proxy`` (host:port) from
    for ``url``, as httpx prefers them; else the system's settings."""
    import httpx

    from smscli.http_transport import proxy_label

    scheme = url.split(":", 1)[0].lower()
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        try:
            if proxy_label(httpx.URL(value if "://" in value else f"http://{value}")) == proxy:
                return f" (from {name})"
        except (httpx.InvalidURL, ValueError):
            continue
    return " (from the system's proxy settings)"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


# What can have happened to a request that got no reply (see _Failure).
_BAD_URL = "bad-url"  # refused before any I/O
_NOT_SENT = "not-sent"  # refused at once (DNS, TCP, TLS, proxy): safe to retry, even a send
_NOT_SENT_IN_TIME = "not-sent-in-time"  # not sent by the deadline (or stopped): not retried
_TIMED_OUT = "timed-out"  # sent (or partly): no (whole) reply in time
_LOST = "lost"  # sent (or partly): the connection broke, or the reply was not HTTP
_UNREADABLE = "unreadable"  # a reply came, but too large or undecodable
_INVALID = "invalid"  # a request that cannot be written (a header with a line break)


@functools.cache
def _failure_table() -> tuple[tuple[type[Exception], str], ...]:
    """THE table: httpx's exceptions by what they mean for a send, first match wins."""
    import httpx

    from smscli.http_transport import NotSent

    return (
        (httpx.UnsupportedProtocol, _BAD_URL),  # a scheme other than http(s)
        (httpx.InvalidURL, _BAD_URL),
        (UnicodeError, _BAD_URL),  # the idna codec refuses a host name ("api..example")
        (httpx.LocalProtocolError, _INVALID),  # h11 would not write the request
        (NotSent, _NOT_SENT_IN_TIME),  # stopped, or out of time, before the first byte
        (httpx.ConnectTimeout, _NOT_SENT_IN_TIME),  # connect or TLS handshake too slow
        (httpx.ConnectError, _NOT_SENT),  # DNS, TCP, TLS handshake and certificates
        (httpx.ProxyError, _NOT_SENT),  # the proxy refused the tunnel
        (httpx.PoolTimeout, _NOT_SENT_IN_TIME),
        (httpx.TimeoutException, _TIMED_OUT),  # read/write: the request may be in
        (httpx.DecodingError, _UNREADABLE),  # http_transport.ReplyTooLarge too
        (httpx.TransportError, _LOST),  # reset, EOF, garbage, a cut-off reply
    )


def _is_httpx(exc: Exception) -> bool:
    return type(exc).__module__.startswith(("httpx", "httpcore"))


class _Failure(Exception):
    """A transport failure, classified by what it means for a send."""

    def __init__(self, kind: str, cause: Exception) -> None:
        super().__init__(kind)
        self.kind = kind
        self.cause = cause


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


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx wraps OS errors as "[Errno 111] Connection refused"; keep it short and readable.
    return text.splitlines()[0][:200]


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*|", re.ASCII)


@functools.cache
def _valid_name(name: str) -> bool:
    return _HEADER_NAME.fullmatch(name) is not None


def _header_problem(name: str, value: str) -> str | None:
    """Why this header cannot be sent as it is (httpx sends header values as ASCII; h11
    refuses line breaks and control characters), or None. Never quotes the value: it may
    be a token from a login reply."""
    if not _valid_name(name):
        return f"{name!r} is not a valid header name"
    if re.search(r"[\r\n\0]", value):
        return f"the {name} header has a line break"
    if not value.isascii():
        return f"the {name} header has a character outside ASCII"
    if not _HEADER_VALUE.fullmatch(value):
        return f"the {name} header has a control character or surrounding spaces"
    return None


def _certificates_error(exc: Exception) -> ConfigError:
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        where = f"SSL_CERT_FILE={cafile}" if cafile else f"SSL_CERT_DIR={capath}"
    else:
        where = "certifi's bundle"
    return ConfigError(
        f"cannot load the CA certificates ({where}): {_describe(exc)}",
        hint="point SSL_CERT_FILE at a PEM bundle, or unset it",
        code="tls_certificates",
    )
