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

import os
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from smscli import __version__
from smscli.errors import ConfigError, OutcomeUnknown, ProviderUnavailable
from smscli.models import Request, Response
from smscli.redaction import Redactor

if TYPE_CHECKING:
    import httpcore
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
        self._pools: dict[str, httpcore.ConnectionPool] = {}
        self._use_direct: bool | None = None

    def _client_for(self, url: str) -> httpx.Client:
        """One pooled httpx client per scheme, made on first use: for an injected transport
        (tests) and whenever a proxy variable is set (httpx applies HTTP(S)_PROXY, ALL_PROXY
        and NO_PROXY exactly as curl does)."""
        import httpx

        scheme = "https" if url.lower().startswith("https:") else "http"
        if scheme not in self._clients:
            self._clients[scheme] = httpx.Client(
                timeout=self.timeout,
                transport=self._transport,
                headers=_DEFAULT_HEADERS,
                follow_redirects=False,
                # Certificates are verified whenever TLS is used; a plain-HTTP client has no
                # TLS to verify (and redirects are never followed).
                verify=scheme == "https",
            )
        return self._clients[scheme]

    def _pool_for(self, url: str) -> httpcore.ConnectionPool:
        """httpcore's connection pool (the one under httpx.Client), used directly: half the
        CPU per request of httpx.Client, which is what a 1,000-message/s bulk run needs."""
        import httpcore

        scheme = "https" if url.lower().startswith("https:") else "http"
        if scheme not in self._pools:
            ssl_context = None
            if scheme == "https":
                import httpx  # only for the TLS context httpx.Client would build

                # Building it loads the CA bundle (~45 ms), so a plain-HTTP run skips it.
                ssl_context = httpx.create_ssl_context()
            # httpx.Client's defaults: 100 connections, 20 kept alive for 5 s, HTTP/1.1.
            self._pools[scheme] = httpcore.ConnectionPool(
                ssl_context=ssl_context,
                max_connections=100,
                max_keepalive_connections=20,
                keepalive_expiry=5.0,
            )
        return self._pools[scheme]

    def _direct(self, url: str) -> bool:
        """httpcore directly, or httpx.Client (injected transport, proxy, unusual URL)?"""
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
        import httpcore

        timeout = self.timeout
        try:
            raw = self._pool_for(url).request(
                method,
                url,
                headers=_merged_headers(headers),
                content=content,
                extensions={
                    "timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)
                },
            )
        except httpcore.UnsupportedProtocol as exc:
            raise _Failure(_BAD_URL, exc) from None
        except (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.ProxyError) as exc:
            raise _Failure(_NOT_SENT, exc) from None
        except httpcore.TimeoutException as exc:
            raise _Failure(_TIMED_OUT, exc) from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise _Failure(_LOST, exc) from None
        response_headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw.headers
        }
        body = raw.content
        encoding = response_headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            body = _decode(body, encoding)
        return raw.status, response_headers, body

    def _transfer_httpx(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        import httpx

        try:
            client = self._client_for(url)
            raw = client.send(client.build_request(method, url, headers=headers, content=content))
            return raw.status_code, {k.lower(): v for k, v in raw.headers.items()}, raw.content
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
        for pool in self._pools.values():
            pool.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> float:
        return self._clock()

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
                exc = failure.cause
                if failure.kind == _BAD_URL:
                    raise ConfigError(
                        f"invalid provider URL {request.url!r}: {exc}",
                        hint="check base_url in the profile",
                        code="invalid_base_url",
                    ) from None
                if failure.kind == _NOT_SENT:
                    # Never connected: nothing was sent, so retrying is safe even for a send.
                    if connect_attempt <= self.retries:
                        self._log(f"* connect failed ({_describe(exc)}); retrying")
                        self._sleep(_backoff(connect_attempt))
                        continue
                    raise ProviderUnavailable(
                        f"cannot reach {_host(request.url)}: {_describe(exc)}",
                        hint="check the network, proxy settings and base_url; nothing was sent",
                        code="unreachable",
                    ) from None
                raise self._after_send_error(
                    request, exc, sends_message, timed_out=failure.kind == _TIMED_OUT
                ) from None
        response = Response(status_code=status, headers=response_headers, content=response_body)
        self.last_date = response.header("date") or self.last_date
        self._trace_response(response, time.monotonic() - started)
        return response

    def _after_send_error(
        self, request: Request, exc: Exception, sends_message: bool, *, timed_out: bool
    ) -> Exception:
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
    names = {name.lower() for name in headers}
    defaults = [(k, v) for k, v in _DEFAULT_HEADERS.items() if k.lower() not in names]
    return [*defaults, *headers.items()]


def _proxy_configured() -> bool:
    """Any proxy variable, in any case (httpx.Client then decides, NO_PROXY included)."""
    return any(value and name.lower() in _PROXY_VARIABLES for name, value in os.environ.items())


def _plain_url(url: str) -> bool:
    """An http(s) URL in printable ASCII with a host: what httpcore takes as it is. Anything
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
