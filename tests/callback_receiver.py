"""A loopback HTTP receiver that records every request: it stands in for `smscli listen`
in the tests of the sandbox's pushes and of `smscli callbacks` (issue 11)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str  # http://127.0.0.1:PORT
    requests: list[Received] = field(default_factory=list)
    status: int = 200  # what it answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(
        self, match: Callable[[Received], bool], timeout: float = 20.0, count: int = 1
    ) -> list[Received]:
        """The requests ``match`` accepts, once there are ``count`` (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [r for r in self.requests if _safe(match, r)]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, (
                    f"{len(found)} of {count} pushes arrived in {timeout} s; got: "
                    + "; ".join(f"{r.method} {r.path} {r.body[:200]!r}" for r in self.requests)
                )
                return found
            time.sleep(0.05)


def _safe(match: Callable[[Received], bool], request: Received) -> bool:
    try:
        return bool(match(request))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, for one test."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            got = Received(
                self.command,
                parts.path,
                query,
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            with box[0].lock:
                box[0].requests.append(got)
            self.send_response(box[0].status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _record

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
