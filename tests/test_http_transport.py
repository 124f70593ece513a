"""HttpSession's one HTTP path (httpx.Client on http_transport.Transport), against real
sockets on 127.0.0.1 (never the internet, never a provider).

Each test starts a small raw-socket HTTP/1.1 server in a thread (``serve``) whose replies
come from a per-test handler and which records every request and every TCP connection, so
keep-alive, the bytes on the wire and misbehaving servers (silence, a dropped connection,
garbage, a reply dripping one byte at a time, a gzip bomb) can be checked for real.
Sessions are built without a transport: exactly the code path a user's command runs.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import http
import json
import os
import re
import signal
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

import smscli.http_client
from smscli.errors import (
    ConfigError,
    ExitCode,
    OutcomeUnknown,
    ProviderUnavailable,
    SmscliError,
)
from smscli.http_client import USER_AGENT, HttpSession
from smscli.models import Request
from smscli.redaction import Redactor
from smscli.tokens import TokenCache
from tests.conftest import blackhole, free_port, silent_server

_ENV_TO_CLEAR = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable (it would route these requests through a proxy) and no SSL_*
    (it would change the TLS trust) from the environment the tests run in."""
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- the server


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]  # as received: order, case and repeats kept
    body: bytes
    connection: int  # which TCP connection (1, 2, ...) it came on

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(values) <= 1, f"header {name} sent {len(values)} times"
        return values[0] if values else None

    def lower_headers(self) -> list[tuple[str, str]]:
        return sorted((n.lower(), v) for n, v in self.headers)


@dataclass
class Reply:
    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b'{"ok": true}'
    close: bool = False  # close the connection after this reply, without saying so
    raw: bytes | None = None  # send these bytes (then close) instead of a formatted reply
    delay: float = 0.0  # wait this long before replying (cut short at teardown)
    drop: bool = False  # close the connection instead of replying
    interim: bytes = b""  # sent just before the reply (informational 1xx replies, say)
    # Send these pieces instead (then close), waiting ``drip`` seconds after each one.
    stream: Iterable[bytes] | None = None
    drip: float = 0.0

    def encode(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {http.HTTPStatus(self.status).phrase}"]
        headers = list(self.headers)
        if not any(n.lower() == "content-length" for n, _ in headers):
            headers.append(("Content-Length", str(len(self.body))))
        lines += [f"{n}: {v}" for n, v in headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return self.interim + head + self.body


Handler = Callable[[Seen], Reply]


def ok(seen: Seen) -> Reply:
    return Reply()


class Server:
    """A threaded HTTP/1.1 server on 127.0.0.1:<free port> answering with ``handler``."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.requests: list[Seen] = []
        self.connections = 0  # TCP connections accepted
        self.open = 0  # of those, how many the server still has open
        self.errors: list[BaseException] = []  # unexpected exceptions in the server itself
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.02)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        self._listener.close()
        with self._cond:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(5)
            with self._cond:
                self.connections += 1
                self.open += 1
                self._socks.append(sock)
                number = self.connections
                self._cond.notify_all()
            thread = threading.Thread(target=self._serve, args=(sock, number), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        reader: BinaryIO | None = None
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                with self._cond:
                    self._socks.append(sock)
            reader = sock.makefile("rb")
            while True:
                seen = _read_request(reader, number)
                if seen is None:
                    break  # the client closed the connection
                with self._cond:
                    self.requests.append(seen)
                    self._cond.notify_all()
                reply = self.handler(seen)
                if reply.delay:
                    self._stop.wait(reply.delay)
                if reply.drop:
                    break
                if reply.stream is not None:
                    for piece in reply.stream:
                        if self._stop.is_set():
                            break
                        sock.sendall(piece)
                        if reply.drip:
                            self._stop.wait(reply.drip)
                    break
                sock.sendall(reply.raw if reply.raw is not None else reply.encode())
                if reply.close or reply.raw is not None:
                    break
        except (OSError, ValueError):
            pass  # the client went away, or sent something that is not HTTP
        except BaseException as exc:  # a bug in the test server: fail the test
            self.errors.append(exc)
        finally:
            if reader is not None:
                reader.close()
            sock.close()
            with self._cond:
                self.open -= 1
                self._cond.notify_all()


def _read_request(reader: BinaryIO, number: int) -> Seen | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        raw = reader.readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name, value.strip()))
    length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
    body = reader.read(length) if length else b""
    return Seen(method, target, version, headers, body, number)


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """``serve(handler=ok, tls=None)``: a running Server, shut down after the test."""
    servers: list[Server] = []

    def factory(handler: Handler = ok, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler, tls)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()
    for server in servers:
        assert not server.errors, server.errors


def replies(*items: Reply) -> Handler:
    """A handler answering each request with the next reply (the last one repeats)."""
    queue = list(items)

    def handler(seen: Seen) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


# --------------------------------------------------------------------------- the client


@dataclass
class Client:
    session: HttpSession
    delays: list[float]
    trace: list[str] = field(default_factory=list)

    def get(self, url: str, *, sends_message: bool = False) -> int:
        return self.session.call(Request("GET", url), sends_message=sends_message).status_code


@pytest.fixture
def make() -> Iterator[Callable[..., Client]]:
    """``make(timeout=2, retries=2, transport=None)``: a session on the users' path (no
    transport) whose sleeps are recorded, not slept, and whose -v trace is collected."""
    sessions: list[HttpSession] = []

    def factory(
        *, timeout: float = 2.0, retries: int = 2, transport: httpx.BaseTransport | None = None
    ) -> Client:
        delays: list[float] = []
        trace: list[str] = []
        session = HttpSession(
            tokens=TokenCache(None).for_key("k"),
            redactor=Redactor(),
            timeout=timeout,
            retries=retries,
            sleep=delays.append,
            trace=trace.append,
            transport=transport,
        )
        sessions.append(session)
        return Client(session, delays, trace)

    yield factory
    for session in sessions:
        session.close()


# --------------------------------------------------------------------------- bytes on the wire


def test_json_post_reaches_the_server_with_exactly_the_expected_headers(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    payload = {"To": "+61400000100", "Text": "Grüße €"}
    request = Request(
        "POST",
        server.url("/v1/messages"),
        headers={"Authorization": "Bearer t0k3n", "accept": "application/json"},
        json=payload,
    )
    response = c.session.call(request, sends_message=True)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    [seen] = server.requests
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    assert (seen.method, seen.target, seen.version) == ("POST", "/v1/messages", "HTTP/1.1")
    assert seen.body == body
    # Every header once: the request's own "accept" replaces the default Accept, whatever
    # the case, and Content-Length counts bytes (the text has multi-byte characters).
    assert seen.lower_headers() == sorted(
        [
            ("host", f"127.0.0.1:{server.port}"),
            ("user-agent", USER_AGENT),
            ("accept", "application/json"),
            ("accept-encoding", "identity"),
            ("authorization", "Bearer t0k3n"),
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
        ]
    )
    assert len(body) > len(json.dumps(payload, ensure_ascii=False))


def test_get_sends_the_default_headers_and_no_body_headers(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    make().get(server.url("/status"))
    [seen] = server.requests
    assert (seen.method, seen.target) == ("GET", "/status")
    assert seen.lower_headers() == sorted(
        [
            ("host", f"127.0.0.1:{server.port}"),
            ("user-agent", USER_AGENT),
            ("accept", "*/*"),
            ("accept-encoding", "identity"),
        ]
    )


def test_form_post_and_empty_post(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    c.session.call(Request("POST", server.url("/form"), form={"a": "1 2", "b": "é"}))
    c.session.call(Request("POST", server.url("/empty")))
    form, empty = server.requests
    assert form.body == b"a=1+2&b=%C3%A9"
    assert form.header("content-type") == "application/x-www-form-urlencoded"
    assert form.header("content-length") == str(len(form.body))
    assert empty.body == b""
    assert empty.header("content-length") == "0"
    assert empty.header("content-type") is None


@pytest.mark.parametrize(
    ("path", "params", "target"),
    [
        ("/x", {"b": "2", "q": "a b&c"}, "/x?b=2&q=a+b%26c"),
        ("/x?a=1", {"b": "2"}, "/x?a=1&b=2"),
        ("/x?a=1", {}, "/x?a=1"),
        ("", {"b": "2"}, "/?b=2"),  # no path at all: the query still goes to "/"
        ("", {}, "/"),
    ],
)
def test_params_end_up_in_the_query_string(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    path: str,
    params: dict[str, str],
    target: str,
) -> None:
    server = serve()
    make().session.call(Request("GET", server.url(path), params=params))
    assert [s.target for s in server.requests] == [target]


# --------------------------------------------------------------------------- keep-alive


def test_sequential_calls_share_one_connection(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    statuses = [c.get(server.url(f"/n/{i}")) for i in range(20)]
    assert statuses == [200] * 20
    assert server.connections == 1
    assert [s.target for s in server.requests] == [f"/n/{i}" for i in range(20)]
    assert c.delays == []


def test_threads_share_the_pool_with_at_most_one_connection_each(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    barrier = threading.Barrier(4)
    statuses: list[int] = []
    failures: list[BaseException] = []

    def work(number: int) -> None:
        try:
            barrier.wait(5)
            for i in range(5):
                request = Request(
                    "GET", server.url(f"/t{number}/{i}"), headers={"X-T": str(number)}
                )
                statuses.append(c.session.call(request).status_code)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert statuses == [200] * 20
    assert len(server.requests) == 20
    # Never more connections than threads.
    assert 1 <= server.connections <= 4


def test_a_thread_never_reuses_another_threads_connection(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    # One pool per thread (http_transport.Transport): a thread that starts after another
    # finished opens its own connection, and each one keeps its own alive.
    server = serve()
    c = make()

    def work(number: int) -> None:
        for i in range(2):
            c.session.call(Request("GET", server.url(f"/t{number}/{i}")))

    for number in range(3):
        thread = threading.Thread(target=work, args=(number,))
        thread.start()
        thread.join(10)
    assert [s.target for s in server.requests] == [f"/t{n}/{i}" for n in range(3) for i in (0, 1)]
    assert [s.connection for s in server.requests] == [1, 1, 2, 2, 3, 3]


def test_the_client_keeps_no_cookies(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve(replies(Reply(headers=[("Set-Cookie", "sid=abc123; Path=/")]), Reply()))
    c = make()
    assert [c.get(server.url(f"/{i}")) for i in range(2)] == [200] * 2
    assert [s.header("Cookie") for s in server.requests] == [None, None]
    assert dict(c.session._http().cookies) == {}


def test_idle_connection_closed_by_the_server_is_replaced(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    # The server closes after each reply without saying so (no "Connection: close"): the
    # client only learns it from the idle socket becoming readable (EOF).
    server = serve(lambda seen: Reply(close=True))
    c = make()
    assert c.get(server.url("/1")) == 200
    wait_for(lambda: server.open == 0)
    time.sleep(0.05)  # let the FIN reach the client's socket
    response = c.session.call(Request("POST", server.url("/2"), json={}), sends_message=True)
    assert response.status_code == 200
    assert [s.connection for s in server.requests] == [1, 2]
    assert c.delays == []


def test_connection_idle_longer_than_keepalive_is_not_reused(
    serve: Callable[..., Server], make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smscli.http_client, "KEEPALIVE_SECONDS", 0.0)
    server = serve()
    c = make()
    assert [c.get(server.url(f"/{i}")) for i in range(3)] == [200] * 3
    assert [s.connection for s in server.requests] == [1, 2, 3]
    # Each expired connection was closed by the client, not left open.
    wait_for(lambda: server.open <= 1)


def test_connection_close_header_means_a_new_connection(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve(lambda seen: Reply(headers=[("Connection", "close")], close=True))
    c = make()
    for i in range(3):
        response = c.session.call(Request("POST", server.url(f"/{i}"), json={}), sends_message=True)
        assert response.status_code == 200
    assert [s.connection for s in server.requests] == [1, 2, 3]
    assert c.delays == []


def test_a_429_is_retried_on_the_same_connection(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve(replies(Reply(429, headers=[("Retry-After", "1")]), Reply()))
    c = make()
    response = c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    assert response.status_code == 200
    assert c.delays == [1.0]
    assert [s.connection for s in server.requests] == [1, 1]


def test_a_5xx_is_not_retried_for_a_send_but_is_for_a_lookup(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve(lambda seen: Reply(503))
    c = make(retries=2)
    send = c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    assert send.status_code == 503
    assert len(server.requests) == 1
    assert c.delays == []
    lookup = c.session.call(Request("GET", server.url("/status")))
    assert lookup.status_code == 503
    assert len(server.requests) == 4
    assert len(c.delays) == 2
    assert server.connections == 1


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("sends_message", [True, False])
def test_connection_refused_is_retried_then_unreachable(
    make: Callable[..., Client], sends_message: bool
) -> None:
    port = free_port()  # bound, then closed: nothing listens there
    c = make(retries=2)
    with pytest.raises(ProviderUnavailable) as info:
        c.session.call(
            Request("POST", f"http://127.0.0.1:{port}/send", json={}), sends_message=sends_message
        )
    assert info.value.code == "unreachable"
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert int(info.value.exit_code) == 6
    assert "127.0.0.1" in info.value.message
    assert "refused" in info.value.message.lower()
    assert "nothing was sent" in (info.value.hint or "")
    # Retried `retries` times with backoff, slept through the injected sleep.
    assert len(c.delays) == 2
    assert 0.25 <= c.delays[0] <= 0.5
    assert 0.5 <= c.delays[1] <= 1.0


def test_connection_refused_without_retries(make: Callable[..., Client]) -> None:
    c = make(retries=0)
    with pytest.raises(ProviderUnavailable):
        c.get(f"http://127.0.0.1:{free_port()}/")
    assert c.delays == []


@pytest.mark.parametrize(
    ("sends_message", "error", "exit_code"),
    [(True, OutcomeUnknown, 7), (False, ProviderUnavailable, 6)],
)
def test_connection_dropped_after_the_request(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    sends_message: bool,
    error: type[SmscliError],
    exit_code: int,
) -> None:
    server = serve(replies(Reply(drop=True), Reply()))
    c = make(retries=2)
    with pytest.raises(error) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=sends_message)
    assert type(info.value) is error
    assert info.value.code == "connection_lost"
    assert info.value.exit_code == exit_code
    assert "connection lost" in info.value.message
    assert "127.0.0.1" in info.value.message
    # Never retried: the server saw the request exactly once.
    assert len(server.requests) == 1
    assert c.delays == []
    # The dead connection is not reused: the next call works on a new one.
    assert c.get(server.url("/next")) == 200
    assert [s.connection for s in server.requests] == [1, 2]


@pytest.mark.parametrize(
    ("sends_message", "error"), [(True, OutcomeUnknown), (False, ProviderUnavailable)]
)
def test_no_reply_within_the_timeout(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    sends_message: bool,
    error: type[SmscliError],
) -> None:
    server = serve(replies(Reply(delay=0.8, body=b"late"), Reply(body=b"fresh")))
    c = make(timeout=0.3, retries=2)
    started = time.monotonic()
    with pytest.raises(error) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=sends_message)
    assert time.monotonic() - started < 0.75
    assert type(info.value) is error
    assert info.value.code == "timeout"
    assert "no reply within 0.3s" in info.value.message
    assert len(server.requests) == 1
    assert c.delays == []
    # The late reply must never be taken as the answer to the next request.
    response = c.session.call(Request("GET", server.url("/next")))
    assert response.content == b"fresh"
    assert [s.connection for s in server.requests] == [1, 2]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"NOT HTTP\r\n\r\n", id="garbage"),
        pytest.param(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok"', id="body-cut"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", id="chunk-cut"
        ),
    ],
)
def test_unreadable_reply_to_a_send_is_outcome_unknown(
    serve: Callable[..., Server], make: Callable[..., Client], raw: bytes
) -> None:
    server = serve(replies(Reply(raw=raw), Reply()))
    c = make()
    with pytest.raises(OutcomeUnknown) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    assert info.value.code == "connection_lost"
    assert info.value.exit_code == 7
    assert len(server.requests) == 1
    assert c.delays == []
    assert c.get(server.url("/next")) == 200


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", id="header-cut"),
        pytest.param(b"HTTP/1.1 200 OK\r\n", id="status-line-only"),
    ],
)
def test_reply_cut_inside_its_headers_is_outcome_unknown(
    serve: Callable[..., Server], make: Callable[..., Client], raw: bytes
) -> None:
    server = serve(lambda seen: Reply(raw=raw))
    c = make()
    try:
        response = c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    except OutcomeUnknown as exc:
        assert exc.code == "connection_lost"
    else:
        pytest.fail(
            f"a cut-off reply was accepted: HTTP {response.status_code} {response.content!r}"
        )


def test_unparsable_port_is_a_config_error_and_nothing_is_sent(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    for url in ("http://127.0.0.1:notaport/x", f"http://127.0.0.1:{server.port}x/x"):
        with pytest.raises(ConfigError) as info:
            c.session.call(Request("POST", url, json={}), sends_message=True)
        assert info.value.code == "invalid_base_url"
        assert info.value.exit_code == 3
        assert url in info.value.message
    assert server.connections == 0
    assert c.delays == []


def test_out_of_range_port_is_a_config_error_and_nothing_is_sent(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    url = f"http://127.0.0.1:{server.port + 65536}/send"
    try:
        c.session.call(Request("POST", url, json={}), sends_message=True)
    except ConfigError as exc:
        assert exc.code == "invalid_base_url"
    else:
        pytest.fail(f"{url} was accepted; the server on port {server.port} got the request")
    assert server.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://api..example.test/send",  # an empty label
        "https://api..example.test/send",
        "http://.example.test/send",
        f"http://{'a' * 64}.example.test/send",  # a label over 63 characters
        f"http://api.{'b' * 70}/send",
    ],
)
@pytest.mark.parametrize("sends_message", [True, False])
def test_malformed_host_name_is_a_config_error_and_nothing_is_sent(
    make: Callable[..., Client], url: str, sends_message: bool
) -> None:
    # The idna codec refuses these host names (UnicodeError, not OSError) before any lookup.
    c = make()
    with pytest.raises(ConfigError) as info:
        c.session.call(Request("POST", url, json={}), sends_message=sends_message)
    assert info.value.code == "invalid_base_url"
    assert info.value.exit_code == 3
    assert url in info.value.message
    assert "empty label or one longer than 63 characters" in info.value.message
    assert "codec" not in info.value.message
    assert c.delays == []  # not retried: it can never connect


# --------------------------------------------------------------------------- replies


def _deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _deflate_raw),
        ("identity", lambda body: body),
    ],
)
def test_compressed_reply_is_decoded(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    encoding: str,
    encode: Callable[[bytes], bytes],
) -> None:
    body = json.dumps({"id": "m-1", "text": "x" * 500}).encode()
    server = serve(lambda seen: Reply(headers=[("Content-Encoding", encoding)], body=encode(body)))
    response = make().session.call(Request("GET", server.url("/")))
    assert response.content == body
    assert response.json()["id"] == "m-1"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("br", b"\x1b\x0b\x00\xf8\xa5\x40\x42\x62"), ("gzip", b"not gzip at all"), ("compress", b"x")],
)
@pytest.mark.parametrize(
    ("sends_message", "error"), [(True, OutcomeUnknown), (False, ProviderUnavailable)]
)
def test_undecodable_reply_is_a_failure_not_a_wrong_body(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    encoding: str,
    body: bytes,
    sends_message: bool,
    error: type[SmscliError],
) -> None:
    server = serve(lambda seen: Reply(headers=[("Content-Encoding", encoding)], body=body))
    c = make()
    with pytest.raises(error) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=sends_message)
    # A reply that could not be read (the request did reach the server).
    assert type(info.value) is error
    assert info.value.code == "unreadable_reply"
    if encoding == "br":
        assert "unsupported Content-Encoding 'br'" in info.value.message
    assert len(server.requests) == 1
    assert c.delays == []


_EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"


@pytest.mark.parametrize(
    "interim",
    [
        pytest.param(_EARLY_HINTS, id="103"),
        pytest.param(b"HTTP/1.1 102 Processing\r\n\r\n" + _EARLY_HINTS * 2, id="several"),
        pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n" + _EARLY_HINTS, id="100-then-103"),
        pytest.param(_EARLY_HINTS + b"HTTP/1.1 100 Continue\r\n\r\n", id="103-then-100"),
    ],
)
def test_informational_replies_before_the_reply_are_skipped(
    serve: Callable[..., Server], make: Callable[..., Client], interim: bytes
) -> None:
    server = serve(replies(Reply(interim=interim, body=b"ok"), Reply(body=b"next")))
    c = make()
    response = c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    assert (response.status_code, response.content) == (200, b"ok")
    assert "link" not in response.headers  # the 103's headers are not the reply's
    # Nothing of the reply was left in the socket: the next request gets its own reply on
    # the same connection.
    following = c.session.call(Request("GET", server.url("/next")))
    assert (following.status_code, following.content) == (200, b"next")
    assert [s.connection for s in server.requests] == [1, 1]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_EARLY_HINTS, id="after-103"),
        pytest.param(_EARLY_HINTS + b"HTTP/1.1 200 OK\r\nContent-Le", id="headers-cut"),
        pytest.param(b"HTTP/1.1 103 Early Hints\r\nLink: </x>", id="103-cut"),
    ],
)
def test_reply_cut_after_an_informational_reply_is_outcome_unknown(
    serve: Callable[..., Server], make: Callable[..., Client], raw: bytes
) -> None:
    server = serve(lambda seen: Reply(raw=raw))
    c = make()
    with pytest.raises(OutcomeUnknown) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    assert info.value.code == "connection_lost"
    assert len(server.requests) == 1


def test_empty_body_with_content_encoding_is_an_empty_reply(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve(lambda seen: Reply(202, headers=[("Content-Encoding", "gzip")], body=b""))
    response = make().session.call(
        Request("POST", server.url("/send"), json={}), sends_message=True
    )
    assert response.status_code == 202
    assert response.content == b""


def test_repeated_headers_are_joined_and_names_lower_cased(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    date = formatdate(usegmt=True)
    headers = [
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-Dup", "one"),
        ("x-dup", "two"),
        ("X-Request-ID", "r-42"),
        ("Date", date),
        ("Content-Type", "application/json"),
    ]
    server = serve(lambda seen: Reply(headers=headers))
    c = make()
    assert c.session.last_date is None
    response = c.session.call(Request("GET", server.url("/")))
    assert response.headers == {
        "set-cookie": "a=1, b=2",
        "x-dup": "one, two",
        "x-request-id": "r-42",
        "date": date,
        "content-type": "application/json",
        "content-length": str(len(b'{"ok": true}')),
    }
    assert response.header("X-DUP") == "one, two"
    assert c.session.last_date == date


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(
            Reply(headers=[("Content-Encoding", "gzip")], body=gzip.compress(b"{}")), id="gzip"
        ),
        pytest.param(
            Reply(headers=[("Content-Encoding", "deflate")], body=_deflate_raw(b"{}")),
            id="raw-deflate",
        ),
        pytest.param(
            Reply(headers=[("X-A", "1"), ("x-a", "2"), ("Date", "Sun, 01 Jan 2023 00:00:00 GMT")]),
            id="headers",
        ),
        pytest.param(Reply(201, body=b""), id="empty"),
        pytest.param(Reply(interim=_EARLY_HINTS, body=b"ok"), id="early-hints"),
    ],
)
def test_stock_httpx_transport_and_ours_see_the_same_reply(
    serve: Callable[..., Server], make: Callable[..., Client], reply: Reply
) -> None:
    """http_transport.Transport turns the same bytes into the same Response as httpx's own
    HTTPTransport (which tests may inject)."""
    server = serve(lambda seen: reply)
    wire = make().session.call(Request("GET", server.url("/")))
    via_httpx = make(transport=httpx.HTTPTransport()).session.call(Request("GET", server.url("/")))
    assert (wire.status_code, dict(wire.headers), wire.content) == (
        via_httpx.status_code,
        dict(via_httpx.headers),
        via_httpx.content,
    )


# --------------------------------------------------------------------------- proxies


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_proxy_variable_sends_the_request_through_the_proxy(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    origin = serve()
    proxy = serve(lambda seen: Reply(body=b'{"via": "proxy"}'))
    monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
    c = make()
    response = c.session.call(Request("GET", origin.url("/v1/status"), params={"id": "7"}))
    assert response.json() == {"via": "proxy"}
    [seen] = proxy.requests
    # httpx's absolute-form request line: the proxy is told the whole URL.
    assert seen.target == f"http://127.0.0.1:{origin.port}/v1/status?id=7"
    assert seen.header("user-agent") == USER_AGENT
    assert origin.connections == 0


def test_no_proxy_goes_direct(
    serve: Callable[..., Server], make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = serve()
    proxy = serve()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    c = make()
    assert c.get(origin.url("/direct")) == 200
    assert [s.target for s in origin.requests] == ["/direct"]
    assert proxy.connections == 0


# --------------------------------------------------------------------------- close


def test_close_closes_the_connections_and_a_later_call_reconnects(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    assert c.get(server.url("/1")) == 200
    assert server.open == 1
    c.session.close()
    wait_for(lambda: server.open == 0)  # the server saw EOF
    # A call after close() opens a new pool and connection.
    assert c.get(server.url("/2")) == 200
    assert [s.connection for s in server.requests] == [1, 2]
    c.session.close()
    c.session.close()  # closing twice is fine
    wait_for(lambda: server.open == 0)


# --------------------------------------------------------------------------- TLS

# A self-signed certificate for IP 127.0.0.1 (CA:TRUE, valid 2000-2100), test-only.
_CERT = """-----BEGIN CERTIFICATE-----
MIIBjjCCATOgAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAkxMjcuMC4w
LjEwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDr3PC9p6q/n+DHU
01hyRWecRL+zHPT/pjxHvhCv26TQa1UDmFvKXquDCaZRsrF3ShefGDmgaHk9gF+U
ckRBG9SjdDByMA8GA1UdEQQIMAaHBH8AAAEwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAoQwHQYDVR0OBBYEFIo+CxAFZd915HEbWYxhCQfhfvxoMB8GA1Ud
IwQYMBaAFIo+CxAFZd915HEbWYxhCQfhfvxoMAoGCCqGSM49BAMCA0kAMEYCIQDC
tovmEm2fktv7zHWRVqxzJg1jwe5GHhmeS0LaRRhjrwIhAM3nSYGKRjhoNkoTJ/hH
1na9aD8T+6YfNzoIdiIVWGVX
-----END CERTIFICATE-----
"""
_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJZu9SK0QTGm/6Vov
3BuEEi2WZBNDjZxdUgxAJHx7YtuhRANCAAQ69zwvaeqv5/gx1NNYckVnnES/sxz0
/6Y8R74Qr9uk0GtVA5hbyl6rgwmmUbKxd0oXnxg5oGh5PYBflHJEQRvU
-----END PRIVATE KEY-----
"""


@dataclass
class Tls:
    cert_file: Path
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    cert.write_text(_CERT)
    key.write_text(_KEY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return Tls(cert, context)


def test_https_with_ssl_cert_file_verifies_and_keeps_alive(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
    tls: Tls,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert_file))
    server = serve(tls=tls.server)
    c = make()
    for i in range(3):
        response = c.session.call(Request("POST", server.url(f"/{i}", "https"), json={"i": i}))
        assert response.json() == {"ok": True}
    assert [s.body for s in server.requests] == [b'{"i": 0}', b'{"i": 1}', b'{"i": 2}']
    assert server.connections == 1


def test_https_with_an_untrusted_certificate_is_unreachable(
    serve: Callable[..., Server], make: Callable[..., Client], tls: Tls
) -> None:
    server = serve(tls=tls.server)  # no SSL_CERT_FILE: certifi's bundle does not trust it
    c = make(retries=1)
    with pytest.raises(ProviderUnavailable) as info:
        c.session.call(Request("POST", server.url("/send", "https"), json={}), sends_message=True)
    assert info.value.code == "unreachable"
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
    assert server.requests == []
    assert len(c.delays) == 1


@pytest.mark.parametrize("kind", ["missing", "directory", "not-pem"])
def test_bad_ssl_cert_file_is_a_config_error(
    make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    path = _bad_ca_file(tmp_path, kind)
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    c = make()
    with pytest.raises(ConfigError) as info:
        c.get(f"https://127.0.0.1:{free_port()}/")
    assert info.value.code == "tls_certificates"
    assert info.value.exit_code == 3
    assert f"SSL_CERT_FILE={path}" in info.value.message
    assert c.delays == []


@pytest.mark.parametrize("kind", ["missing", "not-pem"])
def test_bad_ssl_cert_file_behind_a_proxy_is_a_config_error(
    make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(_bad_ca_file(tmp_path, kind)))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    c = make(retries=0)
    with pytest.raises(SmscliError) as info:
        c.get(f"https://127.0.0.1:{free_port()}/")
    assert info.value.exit_code == 3


def _bad_ca_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "ca.pem"
    if kind == "directory":
        path.mkdir()
    elif kind == "not-pem":
        path.write_text("not a certificate\n")
    return path


# --------------------------------------------------------------------------- header values


def test_header_value_with_a_line_break_is_an_smscli_error(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    with pytest.raises(ProviderUnavailable) as info:
        c.session.call(Request("GET", server.url("/"), headers={"Authorization": "Bearer abc\n"}))
    assert info.value.exit_code is ExitCode.UNAVAILABLE
    assert info.value.code == "invalid_request"
    assert "nothing was sent" in (info.value.hint or "")
    assert "abc" not in info.value.message  # names the header, not its value
    assert server.requests == []


def test_connection_is_usable_after_a_rejected_header(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    c = make()
    with pytest.raises(ProviderUnavailable):
        c.session.call(Request("GET", server.url("/"), headers={"Authorization": "Bearer abc\n"}))
    response = c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    assert response.status_code == 200
    assert [s.target for s in server.requests] == ["/send"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Authorization", "Bearer s3cr3t€t0k3n"),  # outside latin-1
        ("Authorization", "Bearer s3cr3t\u2028t0k3n"),
        ("X-Api-Key", "s3cr3t🔑t0k3n"),
    ],
)
@pytest.mark.parametrize("sends_message", [True, False])
def test_header_value_outside_latin1_is_refused_and_not_shown(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    name: str,
    value: str,
    sends_message: bool,
) -> None:
    server = serve()
    c = make()
    assert c.get(server.url("/first")) == 200  # an open connection the refusal must not spoil
    request = Request("POST", server.url("/send"), headers={name: value}, json={})
    with pytest.raises(ProviderUnavailable) as info:
        c.session.call(request, sends_message=sends_message)
    assert info.value.exit_code is ExitCode.UNAVAILABLE
    assert info.value.code == "invalid_request"
    assert "nothing was sent" in (info.value.hint or "")
    assert name in info.value.message  # names the header...
    for part in ("s3cr3t", "t0k3n", value):
        assert part not in info.value.message  # ...never its value
    assert c.delays == []
    assert [s.target for s in server.requests] == ["/first"]
    assert c.get(server.url("/next")) == 200
    assert [s.connection for s in server.requests] == [1, 1]


@pytest.mark.parametrize("sends_message", [True, False])
def test_header_value_in_latin1_is_refused_like_any_non_ascii(
    serve: Callable[..., Server], make: Callable[..., Client], sends_message: bool
) -> None:
    # One rule for every header value: ASCII only (httpx's), so "Zoë" is refused too,
    # before any I/O, with the same error as "€" (exit 6, the header named).
    server = serve()
    with pytest.raises(ProviderUnavailable) as info:
        make().session.call(
            Request("POST", server.url("/"), headers={"X-Name": "Zoë"}, json={}),
            sends_message=sends_message,
        )
    assert info.value.exit_code is ExitCode.UNAVAILABLE
    assert info.value.code == "invalid_request"
    assert "X-Name" in info.value.message
    assert "Zo" not in info.value.message
    assert server.connections == 0


@pytest.mark.parametrize("name", ["X-Tökén", "X:Key", "", " X-Key", "\tX-Key"])
def test_header_name_http_client_cannot_write_is_refused(
    serve: Callable[..., Server], make: Callable[..., Client], name: str
) -> None:
    server = serve()
    c = make()
    with pytest.raises(ProviderUnavailable) as info:
        c.session.call(Request("GET", server.url("/"), headers={name: "s3cr3t"}))
    assert info.value.code == "invalid_request"
    assert "s3cr3t" not in info.value.message
    assert server.connections == 0


# --------------------------------------------------------------------------- -v trace


def test_trace_of_an_exchange_has_no_secret(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    token = "s3cr3t-t0k3n-value"
    server = serve(lambda seen: Reply(body=json.dumps({"echo": token}).encode()))
    c = make()
    c.session.add_secret(token)
    url = server.url("/v1/send")
    response = c.session.call(
        Request(
            "POST",
            url,
            headers={"Authorization": f"Bearer {token}"},
            json={"note": token, "to": "+61400000100"},
        ),
        sends_message=True,
    )
    assert response.status_code == 200
    trace = "\n".join(c.trace)
    assert f"> POST {url}" in c.trace
    assert any(line.startswith("< HTTP 200 (") for line in c.trace)
    assert "> Authorization: Bearer ***" in c.trace
    assert "+61400000100" in trace
    assert token not in trace
    # Redaction is for the trace only: the server got the real token.
    [seen] = server.requests
    assert seen.header("authorization") == f"Bearer {token}"


def test_non_ascii_header_through_an_injected_transport_is_refused_and_not_shown() -> None:
    """An injected transport (tests) gets the same header check as the real path: a
    token with é is refused before any I/O, naming the header, never its value."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with (
        HttpSession(
            tokens=TokenCache(None).for_key("k"),
            redactor=Redactor(),
            transport=httpx.MockTransport(handler),
        ) as session,
        pytest.raises(ProviderUnavailable) as info,
    ):
        session.call(
            Request("GET", "http://api.example.test/x", headers={"Authorization": "Bearer sécret"})
        )
    assert info.value.code == "invalid_request"
    assert "Authorization" in info.value.message
    assert "sécret" not in info.value.message and "\\xe9" not in info.value.message
    assert seen == []


# --------------------------------------------------------------------------- deadlines, limits


def _forever(piece: bytes) -> Iterator[bytes]:
    while True:
        yield piece


def _drip(head: bytes, then: bytes = b"a") -> Iterator[bytes]:
    yield from (head[i : i + 1] for i in range(len(head)))
    yield from _forever(then)


_DRIPPING = ("headers", "body", "endless-1xx")


@pytest.mark.parametrize("kind", _DRIPPING)
@pytest.mark.parametrize(
    ("sends_message", "error"), [(True, OutcomeUnknown), (False, ProviderUnavailable)]
)
def test_a_reply_that_never_finishes_ends_by_the_deadline(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    kind: str,
    sends_message: bool,
    error: type[SmscliError],
) -> None:
    """--timeout bounds the whole exchange, not each read: a reply that trickles in (each
    read well within the timeout) or never gets past its 1xx lines still ends on time."""

    def handler(seen: Seen) -> Reply:
        if kind == "body":
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n"
            return Reply(stream=_drip(head), drip=0.05)
        if kind == "headers":
            return Reply(stream=_drip(b"HTTP/1.1 200 OK\r\nX-Slow: "), drip=0.05)
        # (every 10 ms: a flood of them ends sooner, by size: see the next test)
        return Reply(stream=_forever(b"HTTP/1.1 100 Continue\r\n\r\n"), drip=0.01)

    server = serve(handler)
    c = make(timeout=0.6, retries=2)
    started = time.monotonic()
    with pytest.raises(error) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=sends_message)
    elapsed = time.monotonic() - started
    assert 0.55 <= elapsed < 1.2, elapsed
    assert type(info.value) is error
    assert info.value.code == "timeout"
    assert "no reply within 0.6s" in info.value.message
    assert len(server.requests) == 1  # never retried
    assert c.delays == []


@pytest.mark.parametrize(
    ("sends_message", "error"), [(True, OutcomeUnknown), (False, ProviderUnavailable)]
)
def test_a_flood_of_1xx_lines_ends_by_size_long_before_the_deadline(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    sends_message: bool,
    error: type[SmscliError],
) -> None:
    """Endless "100 Continue" as fast as the socket takes them: the exchange may receive
    http_transport.MAX_RECEIVED bytes in all, then the reply is unreadable."""
    flood = _forever(b"HTTP/1.1 100 Continue\r\n\r\n" * 256)
    server = serve(lambda seen: Reply(stream=flood))
    c = make(timeout=30)
    started = time.monotonic()
    with pytest.raises(error) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=sends_message)
    assert time.monotonic() - started < 10
    assert type(info.value) is error
    assert info.value.code == "unreadable_reply"
    assert "KiB received" in info.value.message


def test_cancel_ends_an_exchange_stuck_in_another_thread(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    """HttpSession.cancel() (a first Ctrl-C in a bulk run) stops a send thread's read
    within a slice, long before its timeout, as "interrupted" (outcome unknown)."""
    server = serve(lambda seen: Reply(stream=_drip(b"HTTP/1.1 200 OK\r\nX-Slow: "), drip=0.05))
    c = make(timeout=30)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    wait_for(lambda: len(server.requests) == 1)
    time.sleep(0.2)
    started = time.monotonic()
    c.session.cancel(grace=0.0)
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 0.6
    [error] = errors
    assert isinstance(error, OutcomeUnknown)
    assert error.code == "interrupted"
    assert "may have been processed" in error.message


# An interrupted connect or handshake leaves the socket that socket.create_connection or
# ssl's wrap_socket made inside httpcore to the garbage collector (a ResourceWarning): the
# command is ending anyway. The test collects it before it ends, under these filters.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("phase", ["connect", "tls-handshake"])
@pytest.mark.parametrize("sends_message", [True, False])
def test_a_signal_ends_a_stuck_connect_or_handshake_as_not_sent(
    make: Callable[..., Client], phase: str, sends_message: bool
) -> None:
    """A connect that hangs (a full accept queue) or a TLS handshake the server never
    answers, in the main thread, is ended by the first Ctrl-C's handler calling cancel()
    (as the bulk Runner's does), not at the deadline: nothing was sent."""
    c = make(timeout=20)
    where = blackhole() if phase == "connect" else silent_server()
    scheme = "http" if phase == "connect" else "https"
    previous = signal.signal(signal.SIGINT, lambda signum, frame: c.session.cancel(grace=0.0))
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    seen: list[tuple[type[BaseException], int, str, str]] = []
    try:
        with where as port:
            started = time.monotonic()
            timer.start()
            try:
                c.session.call(
                    Request("POST", f"{scheme}://127.0.0.1:{port}/send", json={}),
                    sends_message=sends_message,
                )
            except ProviderUnavailable as error:
                seen.append((type(error), error.exit_code, error.code, error.message))
            elapsed = time.monotonic() - started
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
        gc.collect()
    assert elapsed < 1.5
    [(kind, exit_code, code, message)] = seen
    assert (kind, exit_code, code) == (ProviderUnavailable, 6, "interrupted")
    assert "nothing was sent" in message
    assert c.delays == []  # a stopped connect is not retried


def test_a_connect_that_hangs_is_not_retried_past_the_timeout(make: Callable[..., Client]) -> None:
    """--timeout bounds the wait for one request: a connect that times out is not tried
    again (a refusal still is: test_connection_refused_is_retried_then_unavailable)."""
    c = make(timeout=0.4, retries=2)
    with blackhole() as port:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable) as info:
            c.session.call(
                Request("POST", f"http://127.0.0.1:{port}/send", json={}), sends_message=True
            )
        elapsed = time.monotonic() - started
    assert 0.35 < elapsed < 0.8
    assert c.delays == []
    assert info.value.code == "unreachable"
    assert "within 0.4s" in info.value.message
    assert "nothing was sent" in (info.value.hint or "")


def test_a_request_never_written_by_the_deadline_is_not_sent(
    serve: Callable[..., Server], make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connect used the whole deadline (the clock jumps past it once the connection
    is made): the request's bytes never reach the socket, so it is "not sent" (6), not
    "may have been processed" (7)."""
    import smscli.http_transport as transport

    skew = [0.0]

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return time.monotonic() + skew[0]

    original = transport._Stream.__init__

    def connected(self: transport._Stream, stream: object) -> None:
        original(self, stream)  # type: ignore[arg-type]
        skew[0] = 5.0  # the connect took the whole --timeout

    monkeypatch.setattr(transport, "time", Clock)
    monkeypatch.setattr(transport._Stream, "__init__", connected)
    server = serve()
    c = make(timeout=2, retries=2)
    with pytest.raises(ProviderUnavailable) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    assert type(info.value) is ProviderUnavailable
    assert info.value.exit_code == 6
    assert "before the request was sent" in info.value.message
    assert c.delays == []
    time.sleep(0.05)
    assert server.requests == []


def test_a_reply_arriving_within_the_cancel_grace_is_kept(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    """A first Ctrl-C leaves the replies already on their way time to arrive (and be
    recorded as what they are), and only then gives up on the ones still missing."""
    server = serve(lambda seen: Reply(delay=0.4, body=b'{"id": "m-1"}'))
    c = make(timeout=30)
    timer = threading.Timer(0.1, c.session.cancel, kwargs={"grace": 1.5})
    timer.start()
    try:
        response = c.session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    finally:
        timer.join()
    assert response.json() == {"id": "m-1"}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param([], b"x" * (2 << 20), id="2MiB"),
        pytest.param([("Content-Length", str(10 << 20))], b"x" * (1 << 20) + b"y", id="announced"),
        pytest.param(
            [("Content-Encoding", "gzip")], gzip.compress(b"\0" * (8 << 20)), id="gzip-bomb"
        ),
        pytest.param(
            [("Content-Encoding", "deflate")], zlib.compress(b"{" * (3 << 20)), id="deflate-bomb"
        ),
    ],
)
@pytest.mark.parametrize(
    ("sends_message", "error"), [(True, OutcomeUnknown), (False, ProviderUnavailable)]
)
def test_a_reply_over_one_mib_is_unreadable(
    serve: Callable[..., Server],
    make: Callable[..., Client],
    headers: list[tuple[str, str]],
    body: bytes,
    sends_message: bool,
    error: type[SmscliError],
) -> None:
    server = serve(lambda seen: Reply(headers=headers, body=body, close=True))
    c = make()
    with pytest.raises(error) as info:
        c.session.call(Request("POST", server.url("/send"), json={}), sends_message=sends_message)
    assert type(info.value) is error
    assert info.value.code == "unreadable_reply"
    assert "1024 KiB" in info.value.message or "1 MiB" in info.value.message
    assert len(server.requests) == 1


def test_a_reply_of_exactly_one_mib_is_read(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    body = b"x" * (1 << 20)
    server = serve(
        lambda seen: Reply(headers=[("Content-Encoding", "gzip")], body=gzip.compress(body))
    )
    assert make().session.call(Request("GET", server.url("/"))).content == body


def test_a_gzip_reply_cut_short_is_unreadable(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    whole = gzip.compress(b'{"id": "m-1"}' * 50)
    server = serve(lambda seen: Reply(headers=[("Content-Encoding", "gzip")], body=whole[:-12]))
    with pytest.raises(OutcomeUnknown) as info:
        make().session.call(Request("POST", server.url("/send"), json={}), sends_message=True)
    assert info.value.code == "unreadable_reply"
    assert "cut short" in info.value.message


def test_a_fragment_never_goes_onto_the_wire(
    serve: Callable[..., Server], make: Callable[..., Client]
) -> None:
    server = serve()
    make().session.call(Request("GET", server.url("/v1/x#frag"), params={"a": "1"}))
    [seen] = server.requests
    assert "frag" not in seen.target and "#" not in seen.target
    assert seen.target.startswith("/v1/x")


def test_a_plain_http_run_builds_no_tls_context(
    serve: Callable[..., Server], make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the CA bundle costs ~45 ms of start-up: only an https request pays it."""
    built: list[object] = []
    real = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: built.append(1) or real())
    server = serve()
    c = make()
    assert c.get(server.url("/")) == 200
    assert built == []
    with pytest.raises(ProviderUnavailable):  # (a plain-HTTP server: the handshake fails)
        c.get(server.url("/", "https"))
    assert built == [1]


def test_a_dripping_proxy_is_bound_by_the_deadline_too(
    serve: Callable[..., Server], make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = serve(lambda seen: Reply(stream=_drip(b"HTTP/1.1 200 OK\r\nX-Slow: "), drip=0.05))
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    c = make(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown) as info:
        c.session.call(
            Request("POST", f"http://127.0.0.1:{free_port()}/send", json={}), sends_message=True
        )
    assert time.monotonic() - started < 1.1
    assert info.value.code == "timeout"
    assert len(proxy.requests) == 1


@pytest.mark.parametrize(
    ("variable", "scheme"),
    [("HTTP_PROXY", "http"), ("https_proxy", "https"), ("ALL_PROXY", "http")],
)
@pytest.mark.parametrize("sends_message", [True, False])
def test_a_dead_proxy_is_named_with_its_variable_and_without_credentials(
    make: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    scheme: str,
    sends_message: bool,
) -> None:
    port = free_port()
    monkeypatch.setenv(variable, f"http://proxyuser:pr0xy-pw@127.0.0.1:{port}")
    c = make(retries=1)
    with pytest.raises(ProviderUnavailable) as info:
        c.session.call(
            Request("POST", f"{scheme}://api.example.test/send", json={}),
            sends_message=sends_message,
        )
    message = info.value.message
    assert message.startswith(f"cannot reach the proxy 127.0.0.1:{port} (from {variable}): ")
    assert "refused" in message.lower()
    assert "api.example.test" not in message
    assert "nothing was sent" in (info.value.hint or "")
    assert info.value.exit_code == 6
    assert len(c.delays) == 1  # refused at once: retried like any refused connect
    shown = message + (info.value.hint or "") + "\n".join(c.trace)
    assert "pr0xy-pw" not in shown
    assert "proxyuser" not in shown


def test_a_proxy_that_never_accepts_is_named_and_not_retried(
    make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make(timeout=0.4, retries=2)
    with blackhole() as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://proxyuser:pr0xy-pw@127.0.0.1:{port}")
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable) as info:
            c.session.call(Request("POST", "http://api.example.test/send", json={}))
        elapsed = time.monotonic() - started
    assert elapsed < 0.8
    assert info.value.message == (
        f"cannot reach the proxy 127.0.0.1:{port} (from HTTP_PROXY) within 0.4s (timed out)"
    )
    assert c.delays == []


@pytest.mark.parametrize("variable", ["ALL_PROXY", "HTTPS_PROXY", "all_proxy"])
def test_a_socks_proxy_without_socksio_is_a_config_error(
    make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, f"socks5://user:s3cr3t@127.0.0.1:{free_port()}")
    c = make()
    with pytest.raises(ConfigError) as info:
        c.session.call(
            Request("POST", "https://api.example.test/send", json={}), sends_message=True
        )
    assert info.value.exit_code == 3
    assert info.value.code == "proxy_socks_missing"
    assert "pip install socksio" in (info.value.hint or "")
    assert "s3cr3t" not in info.value.message
    assert c.delays == []


def test_a_proxy_scheme_httpx_cannot_use_is_a_config_error(
    make: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", f"socks4://127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError) as info:
        make().get("http://api.example.test/")
    assert info.value.code == "proxy_invalid"
    assert info.value.exit_code == 3


@pytest.mark.parametrize(
    "value",
    ["Bearer abc\r\nX-Evil: 1", "Bearer abc\n", "Bearer\0abc", " Bearer abc", "Bearer abc "],
)
@pytest.mark.parametrize("sends_message", [True, False])
def test_a_header_value_h11_refuses_is_not_sent_and_not_shown(
    serve: Callable[..., Server], make: Callable[..., Client], value: str, sends_message: bool
) -> None:
    server = serve()
    c = make()
    with pytest.raises(ProviderUnavailable) as info:
        c.session.call(
            Request("POST", server.url("/"), headers={"Authorization": value}, json={}),
            sends_message=sends_message,
        )
    assert type(info.value) is ProviderUnavailable  # exit 6 either way: nothing was sent
    assert info.value.code == "invalid_request"
    assert "Authorization" in info.value.message
    assert "abc" not in info.value.message
    assert server.requests == []


# --------------------------------------------------------------------------- the client side

_FORBIDDEN_IMPORT = re.compile(
    r"^\s*(?:import\s+(?:http\.client|ssl|socket)\b|from\s+(?:http\.client|ssl|socket|http)\s+import\b)",
    re.M,
)


def test_no_client_module_imports_http_client_ssl_or_socket() -> None:
    """One HTTP path: the client side talks to the network only through httpx and
    httpcore (the servers, the sandbox's and `smscli listen`'s, may use the standard
    library)."""
    package = Path(smscli.http_client.__file__).parent
    servers = {"sandbox", "listen"}
    modules = [p for p in package.rglob("*.py") if not servers & set(p.relative_to(package).parts)]
    assert len(modules) > 20
    offenders = [
        f"{p.relative_to(package)}: {m.group(0).strip()}"
        for p in modules
        for m in [_FORBIDDEN_IMPORT.search(p.read_text())]
        if m is not None
    ]
    assert offenders == []
    # The pattern itself finds what it must.
    assert _FORBIDDEN_IMPORT.search("def f():\n    import ssl\n")
    assert _FORBIDDEN_IMPORT.search("from http import client\n")
    assert _FORBIDDEN_IMPORT.search("import http.client\n")
    assert not _FORBIDDEN_IMPORT.search("import httpx\n")


# --------------------------------------------------------------------------- unreadable replies


def _mock_session() -> HttpSession:
    return HttpSession(
        tokens=TokenCache(None).for_key("k"),
        redactor=Redactor(),
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=[1])),
    )


@pytest.mark.parametrize(
    "error", [TypeError("x"), KeyError("id"), RecursionError(), OverflowError(), IndexError()]
)
def test_a_parser_crash_after_the_hand_over_is_outcome_unknown(error: Exception) -> None:
    with (
        _mock_session() as session,
        pytest.raises(OutcomeUnknown) as info,
        session.conversation("Acme"),
    ):
        session.call(Request("POST", "http://api.example.test/login"))
        session.call(Request("POST", "http://api.example.test/send"), sends_message=True)
        raise error
    assert info.value.code == "unreadable_reply"
    assert "unreadable reply from Acme" in info.value.message
    assert type(error).__name__ in info.value.message


def test_a_parser_crash_before_the_hand_over_is_unavailable() -> None:
    with _mock_session() as session:
        with pytest.raises(ProviderUnavailable) as info, session.conversation("Acme"):
            session.call(Request("POST", "http://api.example.test/login"))
            raise AttributeError("'list' object has no attribute 'get'")
        assert type(info.value) is ProviderUnavailable
        assert info.value.code == "unreadable_reply"
        # A new conversation (the next target) starts again from "nothing handed over".
        session.call(Request("POST", "http://api.example.test/send"), sends_message=True)
        with pytest.raises(ProviderUnavailable), session.conversation("Acme"):
            raise ValueError("bad")


def test_errors_that_are_not_parse_errors_pass_through_the_guard() -> None:
    with _mock_session() as session:
        with pytest.raises(ConfigError), session.conversation():
            raise ConfigError("config")
        with pytest.raises(KeyboardInterrupt), session.conversation():
            raise KeyboardInterrupt


def test_dates_out_of_range_are_no_date_not_a_crash() -> None:
    from smscli.providers.base import iso_from_epoch, iso_from_text

    assert iso_from_epoch(10**30) is None
    assert iso_from_epoch(-(10**20)) is None
    assert iso_from_epoch(float("nan")) is None
    assert iso_from_epoch(1700000000) == "2023-11-14T22:13:20+00:00"
    assert iso_from_text("9999-12-31T23:59:59-23:59") == "9999-12-31T23:59:59-23:59"
    assert iso_from_text("2024-01-02T03:04:05Z") == "2024-01-02T03:04:05+00:00"
