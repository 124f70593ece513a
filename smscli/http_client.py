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

import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from smscli import __version__
from smscli.errors import ConfigError, OutcomeUnknown, ProviderUnavailable
from smscli.models import Request, Response
from smscli.redaction import Redactor

if TYPE_CHECKING:
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

    def _client_for(self, url: str) -> httpx.Client:
        """One pooled client per scheme, made on first use. Building the TLS context loads
        the CA bundle (~45 ms), so a plain-HTTP sandbox run does not pay for it."""
        scheme = "https" if url.lower().startswith("https:") else "http"
        if scheme not in self._clients:
            self._clients[scheme] = httpx.Client(
                timeout=self.timeout,
                transport=self._transport,
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
                # Certificates are verified whenever TLS is used; a plain-HTTP client has no
                # TLS to verify (and redirects are never followed).
                verify=scheme == "https",
            )
        return self._clients[scheme]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

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
        connect_attempt = 0
        started = time.monotonic()
        while True:
            connect_attempt += 1
            try:
                client = self._client_for(request.url)
                built = client.build_request(
                    request.method,
                    request.url,
                    params=dict(request.params) or None,
                    headers=headers,
                    content=body.encode("utf-8") if body is not None else None,
                )
                raw = client.send(built)
                break
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise ConfigError(
                    f"invalid provider URL {request.url!r}: {exc}",
                    hint="check base_url in the profile",
                    code="invalid_base_url",
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
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
            except httpx.TimeoutException as exc:
                raise self._after_send_error(request, exc, sends_message, timed_out=True) from None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                raise self._after_send_error(request, exc, sends_message, timed_out=False) from None
        response = Response(
            status_code=raw.status_code,
            headers={k.lower(): v for k, v in raw.headers.items()},
            content=raw.content,
        )
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
    return httpx.URL(url).host or url


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx wraps OS errors as "[Errno 111] Connection refused"; keep it short and readable.
    return text.splitlines()[0][:200]
