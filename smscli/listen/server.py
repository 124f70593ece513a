"""`smscli listen`: the HTTP server, and what happens to each event.

request ─► route        /<provider> or /<provider>/<profile>; else 404
        ─► body         Content-Length up to 1 MiB (413 beyond, 411 without a length)
        ─► parse        events.parse: 405 / 403 (route off) / 401 (bad credentials) /
                        400 (unreadable); any of these: one stderr line, nothing recorded
        ─► record       receipts onto their `sends` row (never backwards), replies into
                        `replies` (once per provider + id); one lock: in order
        ─► print        one JSON line per event on stdout
        ─► --exec       NEW events onto a queue; one worker runs the command per event
                        (event JSON on stdin, 30 s, killed after); never the HTTP answer
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from smscli.listen.events import MAX_BODY, Event, Incoming, Problem, Route, parse
from smscli.models import same_device

if TYPE_CHECKING:
    from smscli.history import History
    from smscli.redaction import Redactor

EXEC_TIMEOUT: Final = 30.0  # seconds an --exec command may run per event (killed after)
EXEC_DRAIN: Final = 10.0  # seconds a stopping listen waits for --exec events still queued
LISTEN_BACKLOG: Final = 128
# Seconds a connection may sit idle or stall mid-request (headers, a body shorter than its
# Content-Length, an idle keep-alive) before listen closes it: a stalled client never
# holds a thread for good. Nothing it sent is recorded.
REQUEST_TIMEOUT: Final = 30.0


def _put(stream: Any, line: str) -> None:
    stream.write(line)
    stream.flush()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Listener:
    """What the HTTP handler threads share: the routes, the history, stdout, --exec."""

    routes: Mapping[str, Sequence[Route]]  # provider slug → its profiles' routes
    history: History
    redactor: Redactor
    execute: Sequence[str] = ()
    write: Callable[[str], None] = lambda line: _put(sys.stdout, line)
    warn: Callable[[str], None] = lambda line: _put(sys.stderr, line)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # record + print + enqueue: one event after another
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        if self.execute:
            self._worker = threading.Thread(target=self._run_exec, daemon=True)
            self._worker.start()

    # -- one request -----------------------------------------------------------------------
    def handle(self, incoming: Incoming) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON answer for a request (recording what it carries)."""
        parts = [p for p in incoming.path.split("/") if p]
        slug = parts[0] if parts else ""
        if slug not in self.routes or len(parts) > 2:
            return self._refuse(incoming, Problem(404, "no such route"))
        routes = list(self.routes[slug])
        if len(parts) == 2:
            routes = [r for r in routes if r.profile == parts[1]]
            if not routes:
                return self._refuse(incoming, Problem(404, f"no {slug} profile {parts[1]!r}"))
        try:
            route, events = parse(slug, incoming, routes)
        except Problem as problem:
            return self._refuse(incoming, problem)
        with self._lock:
            shown = [self._record(route, event) for event in events]
        return 200, {"ok": True, "events": len(shown)}

    def _refuse(self, incoming: Incoming, problem: Problem) -> tuple[int, dict[str, Any]]:
        # The path only: a ?token= never reaches stderr.
        self.warn(
            self.redactor.text(
                f"listen: {problem.status} {incoming.method} {incoming.path}: {problem.reason}"
            )
            + "\n"
        )
        return problem.status, {"error": problem.reason}

    def _record(self, route: Route, event: Event) -> dict[str, Any]:
        """Record one event, print it, queue it for --exec when it is new."""
        row: dict[str, Any] | None = None
        stored = False
        matched: bool | None = None
        if event.kind == "reply" and event.reply is not None:
            # (A reply without a readable date of its own: when it came.)
            event.date = event.date or event.reply.date or _now()
            reply = event.reply._replace(
                text=self.redactor.text(event.reply.text),
                details=self.redactor.data(dict(event.reply.details)),
                date=event.date,
            )
            [stored] = self.history.add_replies([reply])
        else:
            row = self._row_of(route, event)
            matched = row is not None
            if row is not None and event.kind == "receipt" and event.status is not None:
                # (A receipt without a date of its own, ThingSpace's: when it came.)
                event.date = event.date or _now()
                stored = self.history.apply_receipt(
                    row["id"], event.status, provider_status=event.provider_status,
                    date=event.date, part=event.message_id,
                )  # fmt: skip
        shown = {
            "event": event.kind,
            "provider": event.provider,
            "profile": route.profile,
            "message_id": event.message_id,
            "request_id": event.request_id,
            "reply_id": event.reply.reply_id if event.reply is not None else None,
            "history_id": row["id"] if row is not None else None,
            "target": row["target"] if row is not None else event.target,
            "status": event.status.value if event.status is not None else None,
            "provider_status": event.provider_status,
            "text": event.reply.text if event.reply is not None else None,
            "date": event.date,
            "received_at": _now(),
            "matched": matched,
            "stored": stored,
        }
        if event.details:
            shown["details"] = event.details
        line = json.dumps(self.redactor.data(shown), ensure_ascii=False)
        self.write(line + "\n")
        if stored and self._worker is not None:
            self._queue.put(line)
        return shown

    def _row_of(self, route: Route, event: Event) -> dict[str, Any] | None:
        """The history row a receipt is about: of the provider, named by its id, the
        route's profile's first; among a request's rows (ThingSpace: one per device) the
        device's (a request of one row: that row)."""
        ident = event.ident
        if not ident:
            return None
        rows = self.history.rows_for(ident, event.provider)
        if event.target is not None and len(rows) > 1:
            mine = [r for r in rows if _is_device(r, event.target)]
            if mine or event.request_id:
                rows = mine
        ours = [r for r in rows if r.get("profile") == route.profile]
        chosen = ours or rows
        return chosen[0] if chosen else None

    # -- --exec ------------------------------------------------------------------------------
    def _run_exec(self) -> None:
        while True:
            line = self._queue.get()
            try:
                if line is None:
                    return
                self._exec_one(line)
            finally:
                self._queue.task_done()

    def _exec_one(self, line: str) -> None:
        command = list(self.execute)
        try:
            done = subprocess.run(
                command,
                input=(line + "\n").encode("utf-8"),
                stdout=sys.stderr,  # stdout stays the events' JSON lines
                stderr=sys.stderr,
                timeout=EXEC_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self.warn(f"warning: --exec {command[0]} ran past {EXEC_TIMEOUT:g} s: killed\n")
            return
        except OSError as exc:
            self.warn(f"warning: --exec {command[0]} could not run: {exc.strerror or exc}\n")
            return
        if done.returncode != 0:
            self.warn(f"warning: --exec {command[0]} exited {done.returncode}\n")

    def drain(self, timeout: float = EXEC_DRAIN) -> int:
        """Stop the --exec worker once the events queued are done (at most ``timeout``);
        returns how many were left undone."""
        if self._worker is None:
            return 0
        self._queue.put(None)
        self._worker.join(timeout)
        return self._queue.qsize() if self._worker.is_alive() else 0


def _is_device(row: Mapping[str, Any], target: str) -> bool:
    """Whether a history row was sent to this device (emnify: or to the endpoint its send
    was resolved to)."""
    if same_device(str(row["target"]), target):
        return True
    endpoint = (row.get("details") or {}).get("endpoint_id")
    return bool(endpoint) and same_device(f"endpoint:{endpoint}", target)


class _Handler(BaseHTTPRequestHandler):
    listener: Listener
    protocol_version = "HTTP/1.1"
    server_version = "smscli-listen"
    sys_version = ""
    disable_nagle_algorithm = True

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        incoming_path = split.path
        if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
            self._answer(411, {"error": "send the body with a Content-Length"}, close=True)
            self.listener.warn(f"listen: 411 {self.command} {incoming_path}: no Content-Length\n")
            return
        raw = self.headers.get("Content-Length") or "0"
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            self.listener.warn(f"listen: 400 {self.command} {incoming_path}: bad Content-Length\n")
            self._answer(400, {"error": "bad Content-Length"}, close=True)
            return
        if length > MAX_BODY:
            self.listener.warn(
                f"listen: 413 {self.command} {incoming_path}: a body of {length} bytes "
                f"(at most {MAX_BODY})\n"
            )
            self._answer(413, {"error": f"the body is larger than {MAX_BODY} bytes"}, close=True)
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client closed the connection early: never recorded
            self.listener.warn(
                f"listen: 400 {self.command} {incoming_path}: the body ended after "
                f"{len(body)} of {length} bytes\n"
            )
            self._answer(400, {"error": "the body is shorter than its Content-Length"},
                         close=True)  # fmt: skip
            return
        incoming = Incoming(
            method=self.command,
            path=incoming_path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            try:
                status, answer = self.listener.handle(incoming)
            except Exception:  # once more: a history connection that broke is reopened
                status, answer = self.listener.handle(incoming)  # (recording is idempotent)
        except Exception as exc:  # the history failing, a bug: 500, the provider retries
            self.listener.warn(
                self.listener.redactor.text(
                    f"listen: 500 {self.command} {incoming_path}: {type(exc).__name__}: {exc}"
                )
                + "\n"
            )
            status, answer = 500, {"error": "smscli listen could not record this"}
        self._answer(status, answer)

    def _answer(self, status: int, answer: Mapping[str, Any], *, close: bool = False) -> None:
        content = json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the events are on stdout, the problems on stderr."""


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


def make_server(
    listener: Listener, host: str, port: int, *, request_timeout: float = REQUEST_TIMEOUT
) -> ThreadingHTTPServer:
    """The server bound to host:port (OSError when it cannot be). ``request_timeout``: the
    socket timeout of each connection (StreamRequestHandler.timeout)."""
    handler = type("Handler", (_Handler,), {"listener": listener, "timeout": request_timeout})
    if ":" in host:  # an IPv6 address (--host ::1)
        import socket

        server_class = type("Server6", (_Server,), {"address_family": socket.AF_INET6})
        return server_class((host.strip("[]"), port), handler)  # type: ignore[no-any-return]
    return _Server((host, port), handler)
