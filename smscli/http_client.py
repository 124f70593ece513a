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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smscli import __version__
from smscli.errors import ConfigError, OutcomeUnknown, ProviderUnavailable, SmscliError
from smscli.models import Request, Response
from smscli.redaction import Redactor

if TYPE_CHECKING:
    import http.client

    import httpx

    from smscli.providers.base import TokenStore

USER_AGENT = f"smscli/{__version__}"
MAX_RETRY_AFTER = 10.0  # seconds; a longer Retry-After is reported instead of waited out
_TRACE_BODY_LIMIT = 2000


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
        self._clients: dict[str, httpx.Client] = {}
        self._wire: Wire | None = None
        self._use_direct: bool | None = None

    def _client_for(self, url: str) -> httpx.Client:
        """One pooled httpx client per scheme, made on first use: for an injected transport
        (tests) and whenever a proxy variable is set (httpx applies HTTP(S)_PROXY, ALL_PROXY
        and NO_PROXY exactly as curl does)."""
        scheme = "https" if url.lower().startswith("https:") else "http"
        if scheme not in self._clients:
            try:
                self._clients[scheme] = self._new_client(scheme)
            except OSError as exc:  # ssl.SSLError is an OSError too
                raise _certificates_error(exc) from None
        return self._clients[scheme]

    def _new_client(self, scheme: str) -> httpx.Client:
        import httpx

        return httpx.Client(
            timeout=self.timeout,
            transport=self._transport,
            headers=_DEFAULT_HEADERS,
            follow_redirects=False,
            # Certificates are verified whenever TLS is used; a plain-HTTP client has no
            # TLS to verify (and redirects are never followed).
            verify=scheme == "https",
        )

    def _direct(self, url: str) -> bool:
        """Wire (http.client), or httpx.Client (injected transport, proxy, unusual URL)?"""
        if self._transport is not None:
            return False
        if self._use_direct is None:
            self._use_direct = not _proxy_configured()
        return self._use_direct and _plain_url(url)

    def _transfer(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        """One exchange: (status, lower-case headers, body), or a _Failure saying whether the
        request can have reached the server."""
        if self._direct(url):
            return self._transfer_direct(method, url, headers, content)
        return self._transfer_httpx(method, url, headers, content)

    def _transfer_direct(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        if self._wire is None:
            self._wire = Wire(self.timeout)
        return self._wire.exchange(method, url, _merged_headers(headers), content)

    def _transfer_httpx(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        import httpx

        try:
            client = self._client_for(url)
            raw = client.send(client.build_request(method, url, headers=headers, content=content))
            return raw.status_code, {k.lower(): v for k, v in raw.headers.items()}, raw.content
        except UnicodeEncodeError:  # httpx sends header values as ASCII (the text may be secret)
            names = [k for k, v in headers.items() if not (k + v).isascii()]
            problem = ValueError(f"the {', '.join(names) or 'request'} header is not ASCII")
            raise _Failure(_INVALID, problem) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise _Failure(_BAD_URL, exc) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            raise _Failure(_NOT_SENT, exc) from None
        except httpx.TimeoutException as exc:
            raise _Failure(_TIMED_OUT, exc) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _Failure(_LOST, exc) from None

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        if self._wire is not None:
            self._wire.close()

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
        while True:
            connect_attempt += 1
            try:
                status, response_headers, response_body = self._transfer(
                    request.method, url, headers, content
                )
                break
            except _Failure as failure:
                # Never connected: nothing was sent, so retrying is safe even for a send.
                if failure.kind == _NOT_SENT and connect_attempt <= self.retries:
                    self._log(f"* connect failed ({_describe(failure.cause)}); retrying")
                    self._sleep(_backoff(connect_attempt))
                    continue
                raise self._failure_error(request, failure, sends_message) from None
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
            return ConfigError(
                f"invalid provider URL {request.url!r}: {exc}",
                hint="check base_url in the profile",
                code="invalid_base_url",
            )
        if failure.kind == _NOT_SENT:
            return ProviderUnavailable(
                f"cannot reach {where}: {_describe(exc)}",
                hint="check the network, proxy settings and base_url; nothing was sent",
                code="unreachable",
            )
        if failure.kind == _INVALID:
            return ProviderUnavailable(
                f"cannot send the request to {where}: {_describe(exc)}",
                hint="nothing was sent; a login reply may have been malformed",
                code="invalid_request",
            )
        return self._after_send_error(
            request, exc, sends_message, timed_out=failure.kind == _TIMED_OUT
        )

    def _after_send_error(
        self, request: Request, exc: Exception, sends_message: bool, *, timed_out: bool
    ) -> SmscliError:
        if timed_out:
            what = f"no reply within {self.timeout:g}s"
        else:
            what = f"connection lost ({_describe(exc).rstrip('.')})"
        where = _host(request.url)
        if sends_message:
            return OutcomeUnknown(
                f"{where}: {what} after the message was sent; it may have been processed",
                hint="check `smscli status --last` or `smscli log` before sending again",
                code="timeout" if timed_out else "connection_lost",
            )
        return ProviderUnavailable(
            f"{where}: {what}; nothing was sent",
            hint="re-run when the provider answers (raise --timeout if it is slow)",
            code="timeout" if timed_out else "connection_lost",
        )

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
        except (TypeError, ValueError):
            return None


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


# What can have happened to a request that got no reply (see _Failure).
_BAD_URL = "bad-url"  # refused before any I/O
_NOT_SENT = "not-sent"  # never connected: safe to retry, even a send
_TIMED_OUT = "timed-out"  # sent (or partly): no reply in time
_LOST = "lost"  # sent (or partly): the connection broke
_INVALID = "invalid"  # a request that cannot be written (a header with a line break)


class _Failure(Exception):
    """A transport failure of either HTTP path, classified by what it means for a send."""

    def __init__(self, kind: str, cause: Exception) -> None:
        super().__init__(kind)
        self.kind = kind
        self.cause = cause


# Sent on both paths, so the bytes on the wire do not depend on which one is used. Replies
# are tiny; "identity" keeps them uncompressed (a compressed one is still decoded).
_DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def _merged_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    """The default headers a request does not set itself, then its own."""
    names = {name.lower() for name in headers}
    defaults = [(k, v) for k, v in _DEFAULT_HEADERS.items() if k.lower() not in names]
    return [*defaults, *headers.items()]


def _proxy_configured() -> bool:
    """Any proxy variable, in any case (httpx.Client then decides, NO_PROXY included)."""
    return any(value and name.lower() in _PROXY_VARIABLES for name, value in os.environ.items())


def _plain_url(url: str) -> bool:
    """An http(s) URL in printable ASCII with a host: what Wire takes as it is. Anything
    else (an IDN host, a space, another scheme) goes through httpx, which encodes it or
    reports it exactly."""
    lowered = url[:8].lower()
    if not (lowered.startswith("http://") or lowered.startswith("https://")):
        return False
    if not url.isascii() or not url.isprintable() or " " in url:
        return False
    host = url.split("://", 1)[1].split("/", 1)[0]
    return bool(host) and "@" not in host and not host.startswith(":")


def _decode(body: bytes, encoding: str) -> bytes:
    import zlib

    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some send
    except zlib.error as exc:
        raise _Failure(_LOST, exc) from None
    raise _Failure(_LOST, ValueError(f"unsupported Content-Encoding {encoding!r}"))


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx wraps OS errors as "[Errno 111] Connection refused"; keep it short and readable.
    return text.splitlines()[0][:200]


# -- the direct path -------------------------------------------------------------------------
KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed, not reused (as httpx)


class Wire:
    """Keep-alive HTTP/1.1 over the standard library's http.client: one connection per send
    thread and origin, reused while it stays open.

    Why not httpx.Client here: a bulk run is CPU-bound in the client, and per request
    httpx.Client costs ~620 us, httpcore's pool used directly ~310 us, http.client ~180 us
    (measured against `smscli sandbox` on the 2-core CI machine); it also imports in ~20 ms
    instead of ~70 ms, which a single send pays at start-up (SPEC §9). httpx stays for
    proxies, injected test transports and unusual URLs (HttpSession._direct).

    What httpx/httpcore did that is done here too: a connection is checked before it is
    reused (the server may have closed it while idle: it is then readable) and dropped after
    KEEPALIVE_SECONDS idle, so a request is not written into a dead connection; TLS verifies
    certificates against certifi's bundle (or SSL_CERT_FILE / SSL_CERT_DIR); failures are
    classified by whether the request can have reached the server.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[http.client.HTTPConnection] = []
        self._ssl_context: Any = None

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            connection.close()

    def exchange(
        self, method: str, url: str, headers: list[tuple[str, str]], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        import http.client

        scheme, _, rest = url.partition("://")
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        origin, target = rest[:cut], rest[cut:]
        if not target.startswith("/"):
            target = "/" + target
        for name, value in headers:
            # A token from a login reply with a line break or a "€", say: refused before
            # any I/O, naming the header but never showing its value (it may be a secret).
            problem = _header_problem(name, value)
            if problem is not None:
                raise _Failure(_INVALID, ValueError(problem))
        connection = self._connection(scheme.lower(), origin)
        try:
            # putrequest/putheader send the headers exactly as given (request() would add
            # Accept-Encoding and Host itself).
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if content is not None or method in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(content or b"")))
            connection.endheaders(content)
            reply = connection.getresponse()
            body = reply.read()
        except TimeoutError as exc:
            self._discard(connection)
            raise _Failure(_TIMED_OUT, exc) from None
        except (OSError, http.client.HTTPException) as exc:
            self._discard(connection)
            raise _Failure(_LOST, exc) from None
        except BaseException:
            self._discard(connection)  # never reuse a connection left mid-request
            raise
        if reply.will_close:
            self._discard(connection)
        else:
            self._local.used[connection] = time.monotonic()
        response_headers: dict[str, str] = {}
        for name, value in reply.getheaders():
            key = name.lower()
            response_headers[key] = (
                f"{response_headers[key]}, {value}" if key in response_headers else value
            )
        encoding = response_headers.get("content-encoding", "").strip().lower()
        if body and encoding not in ("", "identity"):
            body = _decode(body, encoding)
        return reply.status, response_headers, body

    def _connection(self, scheme: str, origin: str) -> http.client.HTTPConnection:
        """This thread's open connection to the origin, or a new, connected one."""
        import http.client

        if not hasattr(self._local, "connections"):
            self._local.connections = {}
            self._local.used = {}
        key = (scheme, origin)
        connection: http.client.HTTPConnection | None = self._local.connections.get(key)
        if connection is not None and not self._reusable(connection):
            self._discard(connection)
            connection = None
        if connection is None or connection.sock is None:
            try:
                if scheme == "https":
                    connection = http.client.HTTPSConnection(
                        origin, timeout=self.timeout, context=self._tls()
                    )
                else:
                    connection = http.client.HTTPConnection(origin, timeout=self.timeout)
            except http.client.InvalidURL as exc:
                raise _Failure(_BAD_URL, exc) from None
            if not 0 < connection.port < 65536:  # http.client would wrap it round
                raise _Failure(_BAD_URL, ValueError(f"port {connection.port} is out of range"))
            connection.response_class = _checked_response_class()
            # Never reconnect by itself (http.client would, on a connection Wire.close()
            # closed from another thread, sending on one this Wire no longer tracks).
            connection.auto_open = 0
            try:
                connection.connect()  # DNS, TCP, TLS: a failure here sent nothing
            except OSError as exc:
                connection.close()
                raise _Failure(_NOT_SENT, exc) from None
            except ValueError as exc:  # the idna codec's UnicodeError for "api..example"
                connection.close()
                raise _Failure(_BAD_URL, ValueError(_bad_host(connection.host, exc))) from None
            self._local.connections[key] = connection
            self._local.used[connection] = time.monotonic()
            with self._lock:
                self._open.append(connection)
        return connection

    def _reusable(self, connection: http.client.HTTPConnection) -> bool:
        sock = connection.sock
        if sock is None:
            return False
        if time.monotonic() - self._local.used.get(connection, 0.0) > KEEPALIVE_SECONDS:
            return False
        import select

        try:
            # Readable while idle = the server closed it (or sent something unasked).
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def _discard(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        for key, known in list(self._local.connections.items()):
            if known is connection:
                del self._local.connections[key]
        self._local.used.pop(connection, None)
        with self._lock, contextlib.suppress(ValueError):
            self._open.remove(connection)

    def _tls(self) -> Any:
        """The TLS context httpx.Client would build: certificates verified against certifi's
        bundle, or SSL_CERT_FILE / SSL_CERT_DIR when set. Made once (loading the bundle
        takes ~45 ms, so a plain-HTTP run never does it)."""
        with self._lock:
            if self._ssl_context is None:
                import ssl

                cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
                try:  # the order httpx follows
                    if cafile:
                        context = ssl.create_default_context(cafile=cafile)
                    elif capath:
                        context = ssl.create_default_context(capath=capath)
                    else:
                        import certifi

                        context = ssl.create_default_context(cafile=certifi.where())
                except (OSError, ssl.SSLError) as exc:
                    raise _certificates_error(exc) from None
                context.set_alpn_protocols(["http/1.1"])
                self._ssl_context = context
            return self._ssl_context


_BAD_HEADER_CHARS = re.compile(r"[\r\n\0]")
_HEADER_NAME = re.compile(r"[^:\s][^:\r\n]*", re.ASCII)  # what http.client's putheader accepts


def _header_problem(name: str, value: str) -> str | None:
    """Why http.client cannot write this header (it would raise ValueError or
    UnicodeEncodeError from putheader), or None. Never quotes the value."""
    if not name.isascii() or not _HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a valid header name"
    if _BAD_HEADER_CHARS.search(value):
        return f"the {name} header has a line break"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return f"the {name} header has a character outside latin-1"
    return None


def _bad_host(host: str, exc: ValueError) -> str:
    if isinstance(exc, UnicodeError):  # an ASCII host name: only label lengths fail
        return f"the host name {host!r} has an empty label or one longer than 63 characters"
    return f"the host name {host!r} cannot be used: {_describe(exc)}"


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


@functools.cache
def _checked_response_class() -> type[http.client.HTTPResponse]:
    import http.client

    class CheckedResponse(http.client.HTTPResponse):
        """http.client takes a reply cut off inside its headers (EOF before the blank line)
        as complete; httpx/h11 and this class call it what it is: a reply cut short.

        http.client skips only "100 Continue" before the reply; other informational replies
        (103 Early Hints, say) would be taken as the reply, leaving the real one unread in
        the socket. They are skipped here, as httpx does (101 stays the reply)."""

        def begin(self) -> None:
            raw = self.fp
            watched = _EofWatch(raw)
            self.fp = watched  # type: ignore[assignment]
            try:
                super().begin()
                while 100 < self.status < 200 and self.status != 101 and not watched.eof:
                    # (begin() does nothing while headers are set)
                    self.headers = self.msg = None  # type: ignore[assignment]
                    super().begin()
            finally:
                if self.fp is not None:  # (None: begin() closed it, a reply without a body)
                    self.fp = raw
            if watched.eof:
                self.close()
                raise http.client.RemoteDisconnected("the reply ended inside its headers")

    return CheckedResponse


class _EofWatch:
    """Records whether a readline() hit the end of the stream (while the headers are read)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.eof = False

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self._raw.readline(limit)
        if not line:
            self.eof = True
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
