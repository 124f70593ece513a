"""What sits under HttpSession's httpx.Client: httpx's own connection pool (httpcore), with a
deadline per exchange, a stop switch, TLS built on first use, and bounded reply reading.

httpx's timeouts are per operation: a server that drips one byte a second, or sends endless
``100 Continue`` lines, never trips them. Here every socket operation of an exchange gets
``min(its own timeout, what is left of the exchange)``, and past the deadline raises
``httpcore.ReadTimeout`` (or Write/Connect), which httpx reports as usual. The deadline
belongs to the thread running the exchange (``exchange()``), so the send threads of a bulk
run share one pool and each keeps its own clock.

Reads are cut into short slices that check the session's cancel event between them, so
that a first Ctrl-C/SIGTERM ends an exchange waiting for its reply, in the calling thread or
a send thread, within a slice. The TCP connect and the TLS handshake are httpcore's own
(this module opens no socket itself): bounded by the deadline, and ended at once by a
Ctrl-C in the main thread (``interrupt_connect``).

What was sent is tracked too: an exchange that ends before a byte of its request reached the
socket (stopped or out of time in its connect, handshake, or before its first write) raises
``NotSent``: nothing was sent, whatever the phase.

Replies are read raw, at most MAX_REPLY bytes, and decompressed by ``read_reply`` under the
same limit (never a whole chunk at once: a gzip bomb stays a few kilobytes of memory).

One module on purpose: the backend, the stream, the pools and the reply reader all work on
one exchange's thread-local state (deadline, cancel event, bytes received, whether the
request was written), which stays private to it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import httpcore
import httpx

MAX_REPLY = 1 << 20  # bytes, before and after decompression: every API here answers in KBs
READ_SLICE = 0.25  # seconds a wait (connect, handshake, read) lasts before it looks at the
# cancel event again
# Bytes an exchange may receive in all: the reply, its headers (h11 allows 100 KiB) and any
# 1xx lines before it. A flood of "100 Continue" ends here instead of burning the CPU
# until the deadline.
MAX_RECEIVED = MAX_REPLY + (256 << 10)

_local = threading.local()  # .deadline (time.monotonic()), .cancel (a Stop), .room, .token


class Stop(Protocol):
    def is_set(self) -> bool: ...


class Cancelled(httpcore.ReadError):
    """HttpSession.cancel() stopped the exchange (a first Ctrl-C/SIGTERM in a bulk run)."""


class NotSent(httpx.TransportError):
    """The exchange ended before a byte of its request reached the socket: nothing was
    sent. This class itself: the deadline passed before the first write (a connect that
    used it up); ``Stopped``: cancel(). Raised as httpx's kind of error (httpcore's pool
    lets it through as it is), for http_failures' table."""


class Stopped(NotSent):
    """HttpSession.cancel() ended the exchange in its connect, its TLS handshake or before
    its first write: nothing was sent."""


class ProxyUnreachable(httpx.ConnectError):
    """The TCP connect to the proxy failed. ``proxy``: its host:port (never its user or
    password)."""

    def __init__(self, message: str, proxy: str) -> None:
        super().__init__(message)
        self.proxy = proxy


class ProxyTimeout(httpx.ConnectTimeout):
    """No TCP connection to the proxy in time. ``proxy``: its host:port."""

    def __init__(self, message: str, proxy: str) -> None:
        super().__init__(message)
        self.proxy = proxy


def proxy_label(url: httpx.URL) -> str:
    """A proxy as host:port, for messages: never its credentials."""
    host = url.host
    port = url.port or {"https": 443, "socks5": 1080, "socks5h": 1080}.get(url.scheme, 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ReplyTooLarge(httpx.DecodingError):
    """The reply (or what it decompresses to) is over MAX_REPLY bytes."""


class FloodedExchange(httpcore.ReadError):
    """The exchange received over MAX_RECEIVED bytes (endless 1xx lines, say)."""


@contextlib.contextmanager
def exchange(timeout: float, cancel: Stop) -> Iterator[None]:
    """Every socket operation of this thread, inside the block, ends by ``timeout`` seconds
    from now, or as soon as ``cancel`` is set (for reads)."""
    _local.deadline = time.monotonic() + timeout
    _local.cancel = cancel
    _local.room = MAX_RECEIVED
    _local.token = object()  # this exchange, for _Stream: has its request been written?
    try:
        yield
    finally:
        _local.deadline = None
        _local.cancel = None
        _local.room = None
        _local.token = None


def _until(timeout: float | None, late: type[Exception]) -> float | None:
    """When an operation started now with ``timeout`` must end: the sooner of its own
    timeout and the exchange's deadline (None: no limit at all, outside an exchange)."""
    now = time.monotonic()
    end = None if timeout is None else now + timeout
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is not None:
        end = deadline if end is None else min(end, deadline)
    if end is not None and end <= now:
        raise late("the exchange ran past its deadline")
    return end


class _TooLate(NotSent):
    def __init__(self, message: str) -> None:
        super().__init__("the deadline passed before the request was sent")


_NEVER = object()


def _left(end: float | None) -> float | None:
    return None if end is None else max(0.001, end - time.monotonic())


def _stop_if_cancelled() -> None:
    cancel: Stop | None = getattr(_local, "cancel", None)
    if cancel is not None and cancel.is_set():
        raise Stopped("stopped by a signal before the request was sent")


def interrupt_connect() -> None:
    """Called by the first Ctrl-C/SIGTERM's handler (HttpSession.cancel): when the main
    thread is blocked in a TCP connect or a TLS handshake, end it now, as not sent.

    httpcore's blocking socket calls cannot look at the cancel event, but an exception a
    signal handler raises ends the system call the main thread is in (PEP 475 retries it
    only when the handler returns). Send threads of a bulk run are not interrupted: their
    connect ends by the exchange's deadline, or the second Ctrl-C stops waiting for it."""
    if (
        getattr(_local, "connecting", False)
        and threading.current_thread() is threading.main_thread()
    ):
        _local.connecting = False
        raise Stopped("stopped by a signal before the request was sent")


@contextlib.contextmanager
def _connecting() -> Iterator[None]:
    """A connect or handshake: nothing of the request has left; a signal may end it."""
    _stop_if_cancelled()
    _local.connecting = True
    try:
        yield
    finally:
        _local.connecting = False


class _Stream(httpcore.NetworkStream):
    """A connection under the exchange's deadline. Writes are held until the first read
    (or 64 KiB): h11 writes a request's head and body separately, and one send() instead
    of two is most of a bulk run's system time on loopback."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._held = b""
        self._wrote_in: object = _NEVER  # the last exchange (_local.token) it wrote in

    def _flush(self) -> None:
        if not self._held:
            return
        held, self._held = self._held, b""
        token = getattr(_local, "token", None)
        if self._wrote_in is not token:  # the first write of this exchange's request
            # Not a byte has left yet: stopped or out of time here, nothing was sent.
            _stop_if_cancelled()
            _until(None, _TooLate)
            self._wrote_in = token
        self._stream.write(held, _left(_until(None, httpcore.WriteTimeout)))

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush()
        end = _until(timeout, httpcore.ReadTimeout)
        cancel: Stop | None = getattr(_local, "cancel", None)
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("stopped by a signal")
            left = _left(end)
            wait = READ_SLICE if left is None else min(left, READ_SLICE)
            try:
                data = self._stream.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                if end is not None and time.monotonic() >= end:
                    raise httpcore.ReadTimeout("no reply in time") from None
                continue
            room: int | None = getattr(_local, "room", None)
            if room is not None:
                _local.room = room - len(data)
                if _local.room < 0:
                    raise FloodedExchange(f"over {MAX_RECEIVED // 1024} KiB received")
            return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._held += buffer
        if len(self._held) > 65536:
            self._flush()

    def close(self) -> None:
        self._held = b""
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        end = _until(timeout, httpcore.ConnectTimeout)
        with _connecting():
            return _Stream(self._stream.start_tls(ssl_context, server_hostname, _left(end)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's blocking socket backend, under the exchange's deadline. ``proxy``: the
    proxy every TCP connect of this backend goes to (its pool's), to name it on failure."""

    def __init__(self, proxy: str | None = None) -> None:
        self._backend = httpcore.SyncBackend()
        self._proxy = proxy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        end = _until(timeout, httpcore.ConnectTimeout)
        try:
            with _connecting():
                stream = self._backend.connect_tcp(
                    host, port, _left(end), local_address, socket_options
                )
        except httpcore.ConnectTimeout as exc:
            if self._proxy is None:
                raise
            raise ProxyTimeout(str(exc), self._proxy) from exc
        except httpcore.ConnectError as exc:
            if self._proxy is None:
                raise
            raise ProxyUnreachable(str(exc), self._proxy) from exc
        return _Stream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


# httpcore's exceptions as httpx reports them (what httpx.HTTPTransport does too).
_AS_HTTPX: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
}


@contextlib.contextmanager
def _as_httpx() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for cls in type(exc).__mro__:
            if cls in _AS_HTTPX:
                raise _AS_HTTPX[cls](str(exc)) from exc
        raise


class _ReplyStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class Transport(httpx.BaseTransport):
    """httpx.HTTPTransport's job (HTTP/1.1 keep-alive pools, direct or through one proxy),
    on the deadline backend.

    Each thread has its own pool per scheme, made on first use: a bulk run's send threads
    each keep their own keep-alive connection, and no request looks at another thread's
    connections (httpcore's pool polls every idle connection it holds on each request:
    ~10% of a bulk run's CPU when the threads shared one). The TLS context is built once,
    on the first https request: a plain-HTTP run never loads the CA bundle (~45 ms)."""

    def __init__(self, limits: httpx.Limits, proxy: httpx.Proxy | None = None) -> None:
        self._limits = limits
        self._proxy = proxy
        self._backend = _Backend(None if proxy is None else proxy_label(proxy.url))
        self._local = threading.local()  # .pools: this thread's pool per scheme
        self._pools: list[httpcore.ConnectionPool] = []  # every thread's, for close()
        self._tls: Any = None
        self._lock = threading.Lock()

    def _pool(self, scheme: str) -> httpcore.ConnectionPool:
        pools: dict[str, httpcore.ConnectionPool] | None = getattr(self._local, "pools", None)
        if pools is None:
            pools = self._local.pools = {}
        pool = pools.get(scheme)
        if pool is None:
            pool = pools[scheme] = self._new_pool(scheme)
            with self._lock:
                self._pools.append(pool)
        return pool

    def _tls_context(self) -> Any:
        # Certificates as httpx documents: SSL_CERT_FILE, SSL_CERT_DIR, else certifi's.
        with self._lock:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            return self._tls

    def _new_pool(self, scheme: str) -> httpcore.ConnectionPool:
        tls = self._tls_context() if scheme == "https" else None
        common: dict[str, Any] = {
            "ssl_context": tls,
            "max_connections": self._limits.max_connections,
            "max_keepalive_connections": self._limits.max_keepalive_connections,
            "keepalive_expiry": self._limits.keepalive_expiry,
            "network_backend": self._backend,
        }
        proxy = self._proxy
        if proxy is None:
            return httpcore.ConnectionPool(**common)
        url = httpcore.URL(
            scheme=proxy.url.raw_scheme,
            host=proxy.url.raw_host,
            port=proxy.url.port,
            target=proxy.url.raw_path,
        )
        if proxy.url.scheme in ("http", "https"):
            return httpcore.HTTPProxy(
                proxy_url=url,
                proxy_auth=proxy.raw_auth,
                proxy_headers=proxy.headers.raw,
                proxy_ssl_context=proxy.ssl_context,
                **common,
            )
        import importlib.util

        if importlib.util.find_spec("socksio") is None:  # optional: HttpSession says so (exit 3)
            raise ModuleNotFoundError("No module named 'socksio'", name="socksio")

        return httpcore.SOCKSProxy(proxy_url=url, proxy_auth=proxy.raw_auth, **common)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx():
            reply = self._pool(url.scheme).handle_request(core)
        assert isinstance(reply.stream, Iterable)
        return httpx.Response(
            status_code=reply.status,
            headers=reply.headers,
            stream=_ReplyStream(reply.stream),
            extensions=reply.extensions,
        )

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, []
        self._local = threading.local()
        for pool in pools:
            pool.close()


class Client(httpx.Client):
    """httpx.Client whose transports (direct, and one per proxy that httpx's trust_env finds
    in HTTP(S)_PROXY / ALL_PROXY / NO_PROXY or the system settings) are ``Transport``s.

    It keeps no cookies. No API here uses them, and HttpSession builds its requests itself
    (``client.send``), so none was ever sent back; an empty jar also spares httpx parsing
    every reply for them (~4% of a bulk run's CPU) and keeps a provider's session cookie
    out of memory."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        pass  # httpx.Client.__init__ sets an empty jar; smscli never sets one

    def _init_transport(  # type: ignore[override]
        self, *, limits: httpx.Limits, transport: httpx.BaseTransport | None = None, **_: Any
    ) -> httpx.BaseTransport:
        return transport if transport is not None else Transport(limits)

    def _init_proxy_transport(  # type: ignore[override]
        self, proxy: httpx.Proxy, *, limits: httpx.Limits, **_: Any
    ) -> httpx.BaseTransport:
        return Transport(limits, proxy)


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: replies' Set-Cookie headers are not even parsed."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        pass


_NO_COOKIES = _NoCookies()


def read_reply(response: httpx.Response, limit: int = MAX_REPLY) -> bytes:
    """The reply's body, decoded (gzip, deflate), of at most ``limit`` bytes either way."""
    if response.is_stream_consumed:  # an in-memory reply (httpx.MockTransport in tests)
        if len(response.content) > limit:
            raise ReplyTooLarge(f"the reply is over {limit // 1024} KiB")
        return response.content
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder = _Decoder(encoding, limit) if encoding not in ("", "identity") else None
    body = bytearray()
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > limit:
            raise ReplyTooLarge(f"the reply is over {limit // 1024} KiB")
        body += decoder.feed(chunk) if decoder is not None else chunk
    if decoder is not None and received:
        body += decoder.finish()
    return bytes(body)


class _Decoder:
    """Incremental gzip/deflate with a cap on the output (a "zip bomb" stays small)."""

    def __init__(self, encoding: str, limit: int) -> None:
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise httpx.DecodingError(f"unsupported Content-Encoding {encoding!r}")
        self._raw_fallback = encoding == "deflate"  # some servers send raw deflate
        self._room = limit

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._zlib.decompress(data, self._room + 1)
        except zlib.error as exc:
            if not self._raw_fallback:
                raise httpx.DecodingError(f"undecodable reply: {exc}") from None
            self._raw_fallback = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(data)
        self._raw_fallback = False
        if len(out) > self._room or self._zlib.unconsumed_tail:
            raise ReplyTooLarge("the reply decompresses to over 1 MiB")
        self._room -= len(out)
        return out

    def finish(self) -> bytes:
        try:
            out = self._zlib.flush()
        except zlib.error as exc:  # (zlib documents it; no input here was seen to cause it)
            raise httpx.DecodingError(f"undecodable reply: {exc}") from None
        if len(out) > self._room:
            raise ReplyTooLarge("the reply decompresses to over 1 MiB")
        if not self._zlib.eof:
            raise httpx.DecodingError("the compressed reply is cut short")
        return out
