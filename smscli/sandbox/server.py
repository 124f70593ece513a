"""Every registered provider's emulator behind one router, served over real HTTP or as an
httpx transport.

``Sandbox.handle(httpx.Request) -> httpx.Response`` is the whole server; ``serve()`` puts it
on a loopback port (``smscli sandbox``, ``--sandbox``, the end-to-end tests) and
``transport()`` plugs it straight into an httpx client (the conversation tests).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from smscli.catalog import REGISTRY
from smscli.sandbox.base import MAX_MESSAGES, Drop, Emulator, Slow, json_response
from smscli.sandbox.pushes import Pusher

# Connections the kernel queues before the server accepts them. http.server's default, 5,
# made a client at --concurrency 64 see refused or dropped connections (issue 10).
LISTEN_BACKLOG = 1024


def mounts() -> tuple[str, ...]:
    """The emulators' mount points: one ``/<slug>`` per registered provider (each
    declaration names its emulator class; it is imported on first use)."""
    return tuple(REGISTRY)


class Sandbox:
    """Routes ``/<slug>/...`` to that provider's emulator; ``/_sandbox/messages`` lists all
    messages received, ``/_sandbox/logins`` counts the logins, ``/_sandbox/pushes`` the
    callbacks pushed, ``/_sandbox/push/<slug>`` stands in for a portal's push settings.

    Callbacks are pushed only between ``start()`` and ``close()`` (``SandboxServer`` calls
    them): then a background thread settles every emulator each ``TICK`` seconds, so the
    pushes come on time also when nobody asks the sandbox anything."""

    TICK = 0.1

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        token_ttl: float = 300.0,
        *,
        spec_strict: bool = False,
        max_messages: int = MAX_MESSAGES,
    ) -> None:
        self.clock = clock
        self.token_ttl = token_ttl
        self.spec_strict = spec_strict
        self.max_messages = max_messages
        self._emulators: dict[str, Emulator] = {}
        self._lock = threading.Lock()
        self.pusher: Pusher | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self, push_transport: httpx.BaseTransport | None = None) -> None:
        """Push callbacks from now on (``push_transport``: tests without sockets)."""
        with self._lock:
            if self.pusher is not None:
                return
            self.pusher = Pusher(self.clock, transport=push_transport)
            for emulator in self._emulators.values():
                emulator.pusher = self.pusher
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="sandbox-tick", daemon=True)
            self._ticker.start()

    def close(self) -> None:
        """Stop pushing (the background threads end)."""
        with self._lock:
            pusher, ticker, self.pusher = self.pusher, self._ticker, None
            self._ticker = None
            for emulator in self._emulators.values():
                emulator.pusher = None
        self._stop.set()
        if ticker is not None:
            ticker.join(1.0)
        if pusher is not None:
            pusher.close()

    def _tick(self) -> None:
        while not self._stop.wait(self.TICK):
            with self._lock:
                emulators = list(self._emulators.values())
            for emulator in emulators:
                try:
                    emulator.settle()
                except Exception:  # never let the ticker die; the next request settles too
                    continue

    def emulator(self, slug: str) -> Emulator:
        with self._lock:
            if slug not in self._emulators:
                cls = REGISTRY[slug].emulator()
                self._emulators[slug] = cls(
                    clock=self.clock,
                    token_ttl=self.token_ttl,
                    spec_strict=self.spec_strict,
                    max_messages=self.max_messages,
                )
                self._emulators[slug].pusher = self.pusher
            return self._emulators[slug]

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        first, _, rest = path.lstrip("/").partition("/")
        if first == "_sandbox" and rest.rstrip("/") == "messages":
            return json_response(200, {"messages": self.messages()})
        if first == "_sandbox" and rest.rstrip("/") == "logins":
            return json_response(200, {"logins": self.logins()})
        if first == "_sandbox" and rest.rstrip("/") == "pushes":
            pusher = self.pusher
            return json_response(200, {"pushes": pusher.log() if pusher else []})
        if first == "_sandbox" and rest.startswith("push/"):
            slug = rest.removeprefix("push/").strip("/")
            if slug in REGISTRY:
                return self.emulator(slug).portal_request(request)
        if first in REGISTRY:
            emulator = self.emulator(first)
            emulator.settle()  # the devices' replies due by now
            return emulator.handle(request, "/" + rest)
        return json_response(
            404,
            {
                "message": f"no emulator at /{first}; mounts: "
                + ", ".join(f"/{s}" for s in mounts())
            },
        )

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            emulators = list(self._emulators.values())
        for emulator in emulators:
            emulator.settle()
        out = [m for e in emulators for m in e.messages()]
        return sorted(out, key=lambda m: m["created"])

    def logins(self) -> list[dict[str, Any]]:
        """Every token or session the emulators issued, counted per provider, login step
        and account (``Emulator.count_login``)."""
        with self._lock:
            emulators = list(self._emulators.values())
        return [row for e in emulators for row in e.login_counts()]

    def transport(self) -> httpx.MockTransport:
        """The sandbox as an in-process transport (no socket): dropped connections and slow
        replies become the httpx errors a real socket would give."""

        def handler(request: httpx.Request) -> httpx.Response:
            request.read()
            try:
                return self.handle(request)
            except Drop:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                ) from None
            except Slow as slow:
                timeout = request.extensions.get("timeout", {}).get("read")
                if timeout is None or slow.seconds > timeout:
                    raise httpx.ReadTimeout("timed out", request=request) from None
                return slow.response

        return httpx.MockTransport(handler)


class _Handler(BaseHTTPRequestHandler):
    sandbox: Sandbox
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "127.0.0.1"
        request = httpx.Request(
            self.command,
            f"http://{host}{self.path}",
            headers=list(self.headers.items()),
            content=body,
        )
        try:
            response = self.sandbox.handle(request)
        except Drop:
            self.close_connection = True
            return
        except Slow as slow:
            time.sleep(slow.seconds)
            response = slow.response
        except Exception as exc:  # an emulator bug must not look like a provider reply
            response = json_response(500, {"sandbox_error": f"{type(exc).__name__}: {exc}"})
        content = response.read()
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG


class SandboxServer:
    """A running sandbox on a loopback port (a background thread until ``close()``)."""

    # How often the background thread looks for close(): shutdown() waits for that look,
    # and socketserver's default (0.5 s) was a half-second pause at the end of every
    # `--sandbox` command. Twenty idle wake-ups a second cost nothing measurable.
    POLL_INTERVAL = 0.05

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"sandbox": sandbox})
        self.httpd = _Server((host, port), handler)
        self.httpd.daemon_threads = True
        self.sandbox = sandbox
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        self.sandbox.start()
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(self.POLL_INTERVAL,), daemon=True
        )
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (``smscli sandbox``); the pushes stop
        with it."""
        self.sandbox.start()
        try:
            self.httpd.serve_forever()
        finally:
            self.sandbox.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.sandbox.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def dump(sandbox: Sandbox) -> str:
    return json.dumps({"messages": sandbox.messages()}, indent=2)
