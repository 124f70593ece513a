"""What every emulator shares: message store, delivery over time, magic targets, replies.

Magic targets are the same for every provider: a target whose value ends with one of the
suffixes below (``+61400000400``, ``iccid:8988303000000000400``, ``endpoint:10400``,
``name:dev-0400``) produces that failure; everything else well-formed is accepted.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

# suffix → what happens (README "Sandbox" documents this table; a test keeps them equal)
MAGIC: Final[dict[str, str]] = {
    "0400": "rejected: the provider refuses the message (its documented error shape)",
    "0401": "credentials refused for this request (HTTP 401 or the API's auth error)",
    "0404": "unknown target",
    "0408": "slow reply: the answer comes after the client's timeout (outcome unknown)",
    "0410": "accepted, then delivery failed",
    "0411": "accepted, then expired",
    "0419": "the session/token expires just before this send (one re-login, one retry)",
    "0429": "rate limited (HTTP 429, Retry-After: 0)",
    "0444": "connection dropped without a reply, after the message was taken (outcome unknown)",
    "0500": "HTTP 500 from the server, after the message was taken (outcome unknown)",
}
# A secret with this value is refused at login, so the refusal path can be tried too.
REFUSED_SECRET: Final = "refused"
DELIVERY_STEP_SECONDS: Final = 1.0  # accepted → sent after one step, final after two
# Every device answers each delivered message whose text ends in REPLY_TRIGGER with
# "ACK: <that text>" (a mobile-originated SMS), REPLY_DELAY_SECONDS after the delivery.
REPLY_TRIGGER: Final = "?"
REPLY_PREFIX: Final = "ACK: "
REPLY_DELAY_SECONDS: Final = 1.0
# The store is bounded: past this many messages the oldest final (delivered, failed,
# expired) ones are dropped first (`smscli sandbox --max-messages`).
MAX_MESSAGES: Final = 10_000
_FINAL: Final = frozenset({"delivered", "failed", "expired"})
# How far into the store (oldest first) trimming looks for a final message before it drops
# the oldest message whatever its state (a burst of sends all younger than two seconds).
_TRIM_SCAN: Final = 256
SLOW_SECONDS: Final = 35.0  # past the default 30 s timeout


def magic(value: str) -> str | None:
    """The magic suffix a target value ends with, if any."""
    for suffix in MAGIC:
        if value.endswith(suffix):
            return suffix
    return None


class Drop(Exception):
    """Close the connection without replying."""


class Slow(Exception):
    """Reply only after ``seconds`` (past the client's timeout)."""

    def __init__(self, seconds: float, response: httpx.Response) -> None:
        super().__init__(seconds)
        self.seconds = seconds
        self.response = response


@dataclass
class Stored:
    """A message an emulator accepted."""

    id: str
    provider: str
    target: str
    text: str
    created: float
    outcome: str = "delivered"  # delivered | failed | expired
    fields: dict[str, Any] = field(default_factory=dict)
    direction: str = "mt"  # mt: sent to the device; mo: the device's reply
    reply_to: str | None = None  # mo: the id of the message it answers

    @property
    def mo(self) -> bool:
        return self.direction == "mo"

    def stage(self, now: float) -> str:
        """accepted → sent → (delivered | failed | expired) as time passes. A reply (mo)
        is received, so final, from the moment it exists."""
        if self.mo:
            return self.outcome
        elapsed = now - self.created
        if elapsed < DELIVERY_STEP_SECONDS:
            return "accepted"
        if elapsed < 2 * DELIVERY_STEP_SECONDS:
            return "sent"
        return self.outcome


class Emulator:
    """Base of the five emulators: ``handle(request, path)`` with ``path`` after the mount."""

    slug: str = ""

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
        # Answer exactly as the published spec says where recorded production differs
        # (`smscli sandbox --spec-strict`); each emulator documents its differences.
        self.spec_strict = spec_strict
        self.max_messages = max(1, max_messages)
        self.lock = threading.Lock()
        self.store: dict[str, Stored] = {}
        self.counter = 0
        self._due: list[tuple[float, str]] = []  # (when the device replies, the message's id)
        # (login step, account) → [tokens or sessions issued, logins refused];
        # ``GET /_sandbox/logins`` shows it (the tests count the logins a token cache saves).
        self.logins: dict[tuple[str, str], list[int]] = {}
        self._logins_lock = threading.Lock()  # its own: count_login is called under self.lock

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        raise NotImplementedError

    def next_id(self, prefix: str = "") -> str:
        with self.lock:
            self.counter += 1
            return f"{prefix}{self.counter}"

    def remember(self, msg: Stored) -> Stored:
        """Keep ``msg``; a delivered message ending in ``?`` schedules the device's reply."""
        with self.lock:
            self.store[msg.id] = msg
            if not msg.mo and msg.outcome == "delivered" and msg.text.endswith(REPLY_TRIGGER):
                due = msg.created + 2 * DELIVERY_STEP_SECONDS + REPLY_DELAY_SECONDS
                heapq.heappush(self._due, (due, msg.id))
            self._trim()
        return msg

    def _trim(self) -> None:
        """Drop messages past ``max_messages``: the oldest final one first (called with
        ``self.lock`` held)."""
        if len(self.store) <= self.max_messages:
            return
        now = self.clock()
        while len(self.store) > self.max_messages:
            victim = next(iter(self.store))
            for index, (key, stored) in enumerate(self.store.items()):
                if index >= _TRIM_SCAN:
                    break
                if stored.stage(now) in _FINAL:
                    victim = key
                    break
            del self.store[victim]

    def settle(self) -> list[Stored]:
        """The devices' replies that are due by now, stored (as ``direction="mo"``) and
        returned. The server calls this before each request, so a reply appears in the
        listings as soon as its time has come."""
        now = self.clock()
        answered: list[Stored] = []
        with self.lock:
            while self._due and self._due[0][0] <= now:
                due, mt_id = heapq.heappop(self._due)
                original = self.store.get(mt_id)
                if original is not None:
                    answered.append(original)
        replies = []
        for original in answered:
            due = original.created + 2 * DELIVERY_STEP_SECONDS + REPLY_DELAY_SECONDS
            reply = Stored(
                id=self.reply_id(original),
                provider=original.provider,
                target=original.target,
                text=REPLY_PREFIX + original.text,
                created=due,
                fields=dict(original.fields),
                direction="mo",
                reply_to=original.id,
            )
            replies.append(self.remember(reply))
            self.received(reply)
        return replies

    def reply_id(self, original: Stored) -> str:
        """The id of the device's reply to ``original`` (an emulator gives it its API's
        id format)."""
        return self.next_id()

    def received(self, reply: Stored) -> None:
        """A device's reply arrived (an emulator queues it where its API delivers replies)."""

    def count_login(self, step: str, account: str, *, refused: bool = False) -> None:
        """A login step issued a token or session to ``account`` (a user name or app id, or
        ``secret_digest()`` of the secret when the API identifies a caller by nothing else),
        or refused it (``refused``)."""
        with self._logins_lock:
            counts = self.logins.setdefault((step, account), [0, 0])
            counts[1 if refused else 0] += 1

    def login_counts(self) -> list[dict[str, Any]]:
        with self._logins_lock:
            return [
                {
                    "provider": self.slug,
                    "step": step,
                    "account": account,
                    "issued": issued,
                    "refused": refused,
                }
                for (step, account), (issued, refused) in sorted(self.logins.items())
            ]

    def outcome_for(self, target_value: str) -> str:
        suffix = magic(target_value)
        return {"0410": "failed", "0411": "expired"}.get(suffix or "", "delivered")

    def messages(self) -> list[dict[str, Any]]:
        now = self.clock()
        with self.lock:
            return [
                {
                    "provider": m.provider,
                    "id": m.id,
                    "target": m.target,
                    "text": m.text,
                    "status": m.stage(now),
                    "created": m.created,
                    "fields": m.fields,
                    "direction": m.direction,
                    "reply_to": m.reply_to,
                }
                for m in self.store.values()
            ]


def secret_digest(secret: str) -> str:
    """How ``/_sandbox/logins`` names a caller known only by a secret: never the secret."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def text_response(status: int, text: str, content_type: str = "text/plain") -> httpx.Response:
    return httpx.Response(status, content=text.encode(), headers={"Content-Type": content_type})


def html_error_page(status: int) -> httpx.Response:
    """What a load balancer in front of an API answers when the server behind it fails."""
    page = (
        f"<!DOCTYPE html><html><head><title>{status} Internal Server Error</title></head>"
        f"<body><h1>{status}</h1><p>The server encountered an error.</p></body></html>"
    )
    return text_response(status, page, "text/html; charset=utf-8")


def failure_for(suffix: str | None, normal: httpx.Response | None = None) -> httpx.Response | None:
    """The transport-level failures every emulator produces the same way (429, 500, slow,
    dropped). Provider-shaped failures (rejected, unknown target, 401) are the emulator's."""
    if suffix == "0429":
        return json_response(429, {"message": "Too Many Requests"}, {"Retry-After": "0"})
    if suffix == "0500":
        return html_error_page(500)
    if suffix == "0444":
        raise Drop()
    if suffix == "0408":
        raise Slow(SLOW_SECONDS, normal or json_response(200, {}))
    return None
