"""The sandbox's callbacks: what the emulators PUSH to the URLs registered with them
(issue 11; the webhook contract `smscli listen` accepts).

An emulator hands ``Push`` objects to the sandbox's one ``Pusher``: a queue and a few daemon
threads that make the HTTP calls, so that no API reply ever waits for a push. Each push gets
a 2 s timeout and three attempts in all (a connection error or a 5xx is tried again after
0.5 s, then 1 s); any other answer, or an error of another kind, is final. A push that cannot
even be made (a malformed URL) is recorded as an error: the sandbox never fails on it.
``GET /_sandbox/pushes`` lists every attempt (the last ``MAX_LOG``, newest last), with the
URL's ``token=`` query value masked. The pushes stop with the sandbox (``close()``).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

TIMEOUT_SECONDS: Final = 2.0
BACKOFF_SECONDS: Final = (0.5, 1.0)  # before the 2nd and the 3rd attempt
MAX_LOG: Final = 1000
MAX_QUEUE: Final = 10_000  # pushes waiting; past it a push is dropped (and recorded)
WORKERS: Final = 4
_TOKEN: Final = re.compile(r"(?i)([?&]token=)[^&#]*")


@dataclass(frozen=True)
class Push:
    """One callback: where, how, what (``kind`` names it in the log)."""

    provider: str
    kind: str
    url: str
    method: str = "POST"
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


def masked(url: str) -> str:
    """``url`` with the value of its ``token=`` query parameter hidden."""
    return _TOKEN.sub(r"\1***", url)


def valid_url(value: Any) -> str | None:
    """``value`` when it is an http(s) URL with a host (what a registration accepts)."""
    if not isinstance(value, str) or not value or value != value.strip():
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a port that is no number)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


def with_query(url: str, params: Mapping[str, Any]) -> str:
    """``url`` with ``params`` added to its query string (the ones it has are kept)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    pairs += [(k, _query_value(v)) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def json_push(provider: str, kind: str, url: str, data: Any, method: str = "POST",
              headers: Mapping[str, str] | None = None) -> Push:  # fmt: skip
    """A push whose body is ``data`` as JSON (GET: its top-level fields as query params)."""
    if method.upper() == "GET":
        fields = data if isinstance(data, dict) else {}
        return Push(provider, kind, with_query(url, fields), "GET", b"", dict(headers or {}))
    return Push(
        provider,
        kind,
        url,
        method.upper(),
        json.dumps(data, ensure_ascii=False).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def hs256_jwt(secret: str, claims: Mapping[str, Any]) -> str:
    """A JWT signed with HMAC-SHA256 (stdlib only): what emnify's callbacks carry when the
    service profile has an api_secret."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


class Pusher:
    """Delivers pushes on background threads; ``log()`` is what ``/_sandbox/pushes`` shows."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        transport: httpx.BaseTransport | None = None,
        workers: int = WORKERS,
    ) -> None:
        self.clock = clock
        self._transport = transport
        self._workers = workers
        self._queue: queue.Queue[Push | None] = queue.Queue(MAX_QUEUE)
        self._log: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_LOG)
        self._log_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()

    def submit(self, push: Push) -> None:
        """Queue ``push`` (never blocks); the first one starts the threads."""
        if self._stop.is_set():
            return
        self._start()
        try:
            self._queue.put_nowait(push)
        except queue.Full:
            self._record(push, 0, None, f"dropped: more than {MAX_QUEUE} pushes waiting")

    def failed(self, provider: str, kind: str, error: str) -> None:
        """A push that could not even be built (recorded, never raised)."""
        self._record(Push(provider, kind, ""), 0, None, error)

    def log(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self._log)

    def close(self, wait: float = 1.0) -> None:
        """Stop: pushes still queued are dropped; a push under way ends within its
        timeout (the threads are daemons: nothing waits for them past ``wait``)."""
        self._stop.set()
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start(self) -> None:
        with self._start_lock:
            if self._threads:
                return
            for n in range(self._workers):
                thread = threading.Thread(target=self._work, name=f"sandbox-push-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        client = httpx.Client(
            timeout=TIMEOUT_SECONDS,
            trust_env=False,  # a proxy from the environment must not take loopback pushes
            follow_redirects=False,
            transport=self._transport,
        )
        with client:
            while not self._stop.is_set():
                push = self._queue.get()
                if push is None:
                    return
                self._deliver(client, push)

    def _deliver(self, client: httpx.Client, push: Push) -> None:
        for attempt in range(1, len(BACKOFF_SECONDS) + 2):
            retry = False
            try:
                response = client.request(
                    push.method, push.url, content=push.content, headers=dict(push.headers)
                )
                response.close()
                self._record(push, attempt, response.status_code, None)
                retry = response.status_code >= 500
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self._record(push, attempt, None, f"{type(exc).__name__}: {exc}")
                retry = True
            except Exception as exc:  # a bad URL, a read timeout: recorded, never raised
                self._record(push, attempt, None, f"{type(exc).__name__}: {exc}")
            if not retry or attempt > len(BACKOFF_SECONDS):
                return
            if self._stop.wait(BACKOFF_SECONDS[attempt - 1]):
                return

    def _record(self, push: Push, attempt: int, status: int | None, error: str | None) -> None:
        entry = {
            "provider": push.provider,
            "kind": push.kind,
            "method": push.method,
            "url": masked(push.url),
            "attempt": attempt,
            "status": status,
            "error": masked(error) if error else None,
            "time": self.clock(),
        }
        with self._log_lock:
            self._log.append(entry)
