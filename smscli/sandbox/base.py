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
from typing import TYPE_CHECKING, Any, Final

import httpx

if TYPE_CHECKING:
    from smscli.sandbox.pushes import Push, Pusher

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
    """Base of the five emulators: ``handle(request, path)`` with ``path`` after the mount.

    Callbacks (``smscli.sandbox.pushes``): while the sandbox serves (``Sandbox.start``), each
    message's moments (``"sent"`` one step after it was taken, ``"final"`` two steps after,
    and ``"mo"`` for a device's reply) are turned into pushes by the emulator's
    ``pushes(event, message)``, in ``settle()``, here and only here."""

    slug: str = ""
    # The push URL is set in the provider's portal (CSL's SMS Post Services, a Telit
    # trigger): ``PUT /_sandbox/push/<slug>`` stands in for that form (``portal_request``).
    portal_push: bool = False

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
        # Pushes (set by Sandbox.start): the moments of each message, when they are due.
        self.pusher: Pusher | None = None
        self._events: list[tuple[float, int, str, str]] = []  # (when, seq, event, message id)
        self._event_seq = 0
        self.portal: dict[str, str] | None = None  # {"url", "secret"} from the portal stand-in

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
            if self.pusher is not None and not msg.mo:
                for event, steps in (("sent", 1), ("final", 2)):
                    self._event_seq += 1
                    when = msg.created + steps * DELIVERY_STEP_SECONDS
                    heapq.heappush(self._events, (when, self._event_seq, event, msg.id))
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
        returned. The server calls this before each request (and, while it serves, a
        background thread every ``Sandbox.TICK`` seconds), so a reply appears in the
        listings as soon as its time has come; the pushes of the moments due go out."""
        now = self.clock()
        answered: list[Stored] = []
        moments: list[tuple[str, Stored]] = []
        with self.lock:
            while self._due and self._due[0][0] <= now:
                due, mt_id = heapq.heappop(self._due)
                original = self.store.get(mt_id)
                if original is not None:
                    answered.append(original)
            while self._events and self._events[0][0] <= now:
                _, _, event, msg_id = heapq.heappop(self._events)
                stored = self.store.get(msg_id)
                if stored is not None:
                    moments.append((event, stored))
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
        pusher = self.pusher
        if pusher is not None:
            for event, stored in [*moments, *(("mo", r) for r in replies)]:
                self._push(pusher, event, stored)
        return replies

    def _push(self, pusher: Pusher, event: str, message: Stored) -> None:
        try:
            pushes = self.pushes(event, message)
        except Exception as exc:  # a builder's bug must not stop the sandbox
            pusher.failed(self.slug, event, f"{type(exc).__name__}: {exc}")
            return
        for push in pushes:
            pusher.submit(push)

    def pushes(self, event: str, message: Stored) -> list[Push]:
        """The callbacks of a message's moment (``"sent"``, ``"final"``, ``"mo"``) to what
        is registered; an emulator whose provider pushes builds its payloads here."""
        return []

    def portal_request(self, request: httpx.Request) -> httpx.Response:
        """``/_sandbox/push/<slug>``: ``PUT {"url", "secret"}`` sets the push URL a portal
        would hold (the secret: CSL's passphrase, Telit's ``token``), ``GET`` shows it
        (never the secret), ``DELETE`` removes it."""
        from smscli.sandbox.pushes import masked, valid_url

        if not self.portal_push:
            return json_response(
                404, {"message": f"{self.slug} registers its callbacks through its API"}
            )
        if request.method == "DELETE":
            with self.lock:
                removed, self.portal = self.portal is not None, None
            return json_response(200, {"provider": self.slug, "deleted": removed})
        if request.method == "PUT":
            try:
                body = json.loads(request.content or b"null")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return json_response(400, {"message": 'the body must be {"url", "secret"}'})
            url, secret = valid_url(body.get("url")), body.get("secret")
            if url is None:
                return json_response(400, {"message": "url must be an http(s) URL"})
            if secret is not None and not isinstance(secret, str):
                return json_response(400, {"message": "secret must be a string"})
            with self.lock:
                self.portal = {"url": url, "secret": secret or ""}
        elif request.method != "GET":
            return json_response(405, {"message": "PUT, GET or DELETE"})
        with self.lock:
            portal = dict(self.portal) if self.portal else None
        shown = {"url": masked(portal["url"]), "secret": bool(portal["secret"])} if portal else None
        return json_response(200, {"provider": self.slug, "push": shown})

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
