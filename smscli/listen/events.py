"""`smscli listen` (issue 11): what the providers push, read into events, and who may push.

Pure: no sockets, no history. ``parse(slug, incoming, routes)`` authenticates a callback
against the routes (profiles) of its provider and reads it into ``Event``s; anything wrong
is a ``Problem`` with the HTTP status to answer (the caller records nothing then).

The shapes are those of /work/shared (the issue 11 webhook contract, README "listen").
Several are UNCONFIRMED (said where they are read): keys are compared case-insensitively,
numbers may come as strings, and the plausible variants are read too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs

from smscli.models import Reply, Status, content_id

MAX_BODY: Final = 1024 * 1024  # bytes of a request body read at most (413 beyond)
JWT_LEEWAY: Final = 30.0  # seconds an emnify JWT's exp may lie behind our clock


class Problem(Exception):
    """A callback that is not recorded: the HTTP status to answer and why (one stderr line;
    the reason never quotes a secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Route:
    """A profile `listen` serves: its provider, name and the callback credentials."""

    slug: str
    profile: str
    secret: str | None  # callback_secret; None: the route is off (403)
    username: str | None = None  # ThingSpace callback_username

    @property
    def on(self) -> bool:
        return bool(self.secret)


@dataclass(frozen=True)
class Incoming:
    """An HTTP request as `listen` read it (headers with lower-case names)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Event:
    """One thing a provider told: a delivery ``receipt`` of a message smscli sent, a
    ``reply`` (a mobile-originated SMS), or ``sent`` (handed to the device, informational)."""

    kind: str  # receipt | reply | sent
    provider: str
    message_id: str | None = None  # the provider's id of the message (a part id for emnify)
    request_id: str | None = None  # ThingSpace's requestId
    target: str | None = None  # the device, as a target ("iccid:…")
    status: Status | None = None
    provider_status: str | None = None
    date: str | None = None
    reply: Reply | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ident(self) -> str | None:
        return self.request_id or self.message_id


# -- lenient reading -----------------------------------------------------------------------


def folded(value: Any) -> Any:
    """A JSON value with every object key lower-cased (keys are compared so)."""
    if isinstance(value, dict):
        return {str(k).lower(): folded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [folded(v) for v in value]
    return value


def text_of(value: Any) -> str | None:
    """A scalar as text (a number too); None for nothing, a structure, or an unfilled
    template variable (``$(event.uuid)``)."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
    if not text or (text.startswith("$(") and text.endswith(")")):
        return None
    return text


def date_of(value: Any) -> str | None:
    """A date as ISO 8601 UTC: Unix seconds (or milliseconds), or a date string."""
    from smscli.providers.base import iso_from_epoch, iso_from_text

    if isinstance(value, int | float) and not isinstance(value, bool):
        return iso_from_epoch(value / 1000 if value > 1e11 else value)
    text = text_of(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return checked_date(iso_from_text(text))
    return date_of(number)


def checked_date(value: str | None) -> str | None:
    """A date only if it is one: a provider's date that cannot be read (``nonsense``,
    ``2026-13-45``) is None, and the caller dates the event when it came (listen does):
    a string kept as the provider wrote it would sort and compare (`--since`) wrongly."""
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def arrival_stamp() -> str:
    """Now, as the date of an event that carries none of its own (to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_object(incoming: Incoming) -> dict[str, Any]:
    """The body as a JSON object (keys folded); 400 when it is not one."""
    try:
        data = json.loads(incoming.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise Problem(400, "the body is not a JSON object")
    result: dict[str, Any] = folded(data)
    return result


def form_or_json(incoming: Incoming) -> dict[str, Any]:
    """A body of JSON or of form fields (``a=1&b=2``), keys folded; empty: {}."""
    body = incoming.body.strip()
    if not body:
        return {}
    if body.startswith(b"{"):
        return json_object(incoming)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "the body is neither JSON nor form fields") from None
    return {k.lower(): v[0] for k, v in fields.items() if v}


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a secret."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _one(routes: Sequence[Route], match: Callable[[Route], bool], what: str) -> Route:
    """The route whose credentials the callback carries (each route is tried: two
    profiles of one provider each have their own secret); 401 when none."""
    for route in routes:
        if route.secret and match(route):
            return route
    raise Problem(401, what)


# -- emnify's JWT ------------------------------------------------------------------------------


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(token: str, secret: str, now: float | None = None) -> dict[str, Any]:
    """The claims of an HS256 JWT signed with ``secret``; Problem(401) for a malformed
    token, another algorithm (``none`` too), a wrong signature, or an ``exp`` in the past
    (``JWT_LEEWAY`` allowed). emnify's claims are UNCONFIRMED: only ``exp`` is checked,
    when present."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Problem(401, "the bearer token is not a JWT")
    try:
        header = json.loads(_b64url(parts[0]))
        signature = _b64url(parts[2])
        claims = json.loads(_b64url(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise Problem(401, "the bearer token is not a readable JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Problem(401, "the bearer token is not a readable JWT")
    alg = header.get("alg")
    if alg != "HS256":
        raise Problem(401, f"the JWT is signed with {str(alg)[:20]!r}, not HS256")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise Problem(401, "the JWT's signature does not match the callback_secret")
    exp = claims.get("exp")
    clock = time.time() if now is None else now
    if isinstance(exp, int | float) and not isinstance(exp, bool) and clock > exp + JWT_LEEWAY:
        raise Problem(401, "the JWT has expired")
    return claims


def make_jwt(claims: Mapping[str, Any], secret: str, alg: str = "HS256") -> str:
    """An HS256 JWT (the tests', and what the sandbox's pushes carry)."""

    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    head = enc(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = enc(json.dumps(dict(claims)).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(signature)}"


# -- the providers ---------------------------------------------------------------------------

# What each provider's route answers to (405 otherwise).
METHODS: Final[dict[str, tuple[str, ...]]] = {
    "thingspace": ("POST",),
    "emnify": ("POST", "PATCH"),
    "fonedynamics": ("GET", "POST"),
    "csl": ("POST",),
    "telit": ("POST",),
}

THINGSPACE_CONFIRMATIONS: Final[dict[str, Status]] = {
    "delivered": Status.DELIVERED,
    "undelivered": Status.FAILED,
    "expired": Status.EXPIRED,
    "rejected": Status.REJECTED,
}


def _devices(data: Mapping[str, Any]) -> list[str]:
    """ThingSpace's ``deviceIds`` as targets (``kind:id``, the kind lower-cased)."""
    found = []
    for item in data.get("deviceids") or []:
        if isinstance(item, dict) and text_of(item.get("id")):
            kind = (text_of(item.get("kind")) or "device").lower()
            found.append(f"{kind}:{text_of(item.get('id'))}")
    return found


def _confirmation(data: Mapping[str, Any]) -> str | None:
    response = data.get("deviceresponse")
    if not isinstance(response, dict):
        return None
    inner = response.get("smsdeliveryresponse")
    if isinstance(inner, dict) and text_of(inner.get("confirmation")):
        return text_of(inner.get("confirmation"))
    return text_of(response.get("confirmation"))  # (a flatter variant, read too)


def thingspace(incoming: Incoming, routes: Sequence[Route]) -> tuple[Route, list[Event]]:
    """SMSDeliveryConfirmation (a receipt per device), EnhancedConnectivityService per device
    (``sent``; its ``status`` is "Success"), or an MO message (REST shape UNCONFIRMED: the
    shape of a ``…/sms/{account}/history`` message plus the credentials). The ``username``
    and ``password`` in the body (documented: plain text) are the profile's
    callback_username and callback_secret."""
    from smscli.catalog.thingspace import CALLBACK_USERNAME

    data = json_object(incoming)
    user, password = text_of(data.get("username")), text_of(data.get("password"))
    route = _one(
        routes,
        lambda r: (
            same_secret(user, r.username or CALLBACK_USERNAME)
            and same_secret(password, r.secret or "")
        ),
        "the callback's username/password are not a profile's callback_username/callback_secret"
        if user or password
        else "the callback carries no username/password",
    )
    devices = _devices(data)
    targets: list[str | None] = [*devices] or [None]
    request_id = text_of(data.get("requestid"))
    confirmation = _confirmation(data)
    if confirmation is not None:
        if request_id is None:
            raise Problem(400, "an SMSDeliveryConfirmation without a requestId")
        status = THINGSPACE_CONFIRMATIONS.get(confirmation.lower(), Status.UNKNOWN)
        return route, [
            Event("receipt", "thingspace", request_id=request_id, target=device, status=status,
                  provider_status=confirmation, date=date_of(data.get("timestamp")))
            for device in targets
        ]  # fmt: skip
    message = data.get("message")
    if isinstance(message, str):
        sender = devices[0] if devices else "device:"
        stamp = text_of(data.get("timestamp"))
        date = date_of(stamp)
        if date is None:  # none, or unreadable: dated (and keyed) by when it came, so a
            stamp = date = arrival_stamp()  # second "OK" from the device is not dropped
        reply = Reply(
            provider="thingspace",
            reply_id=content_id(sender, stamp, message),  # as `inbox` keys the same reply
            sender=sender,
            text=message,
            date=date,
            profile=route.profile,
        )
        return route, [Event("reply", "thingspace", target=sender, date=reply.date, reply=reply)]
    word = text_of(data.get("status"))
    if word is not None or text_of(data.get("comment")):
        if request_id is None:
            raise Problem(400, "a callback without a requestId")
        return route, [
            Event("sent", "thingspace", request_id=request_id, target=device,
                  provider_status=word, details={"comment": text_of(data.get("comment"))})
            for device in targets
        ]  # fmt: skip
    raise Problem(
        400, "not a ThingSpace callback smscli knows (no confirmation, message or status)"
    )


def emnify(incoming: Incoming, routes: Sequence[Route]) -> tuple[Route, list[Event]]:
    """``Authorization: Bearer <JWT HS256 signed with the api_secret>`` (documented), the
    api_secret being the profile's callback_secret. An MO SMS comes as POST (documented,
    old page), a delivery receipt as PATCH with the object ``GET …/sms/{id}`` returns
    (UNCONFIRMED); a POST whose ``sms_type`` says MT is read as a receipt too."""
    from smscli.providers import emnify as api

    auth = incoming.headers.get("authorization", "")
    scheme, _, token = auth.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "no Authorization: Bearer JWT")
    errors: list[Problem] = []

    def signed(route: Route) -> bool:
        try:
            verify_jwt(token.strip(), route.secret or "")
        except Problem as problem:
            errors.append(problem)
            return False
        return True

    try:
        route = _one(routes, signed, "")
    except Problem:
        worst = next((e for e in errors if "signature" not in e.reason), None)
        raise (worst or errors[0] if errors else Problem(401, "no route")) from None
    data = json_object(incoming)
    sms_id = text_of(data.get("id"))
    if sms_id is None:
        raise Problem(400, "an emnify callback without the SMS id")
    endpoint = data.get("endpoint")
    endpoint_id = text_of(endpoint.get("id")) if isinstance(endpoint, dict) else None
    endpoint_id = endpoint_id or text_of(data.get("endpoint_id"))
    target = f"endpoint:{endpoint_id}" if endpoint_id else None
    kind = data.get("sms_type")
    mt = isinstance(kind, dict) and (
        (text_of(kind.get("description")) or "").upper() == "MT" or text_of(kind.get("id")) == "1"
    )
    if incoming.method == "PATCH" or (mt and "status" in data):
        report = api._report(data)
        return route, [
            Event("receipt", "emnify", message_id=sms_id, target=target, status=report.status,
                  provider_status=report.provider_status, date=report.date)
        ]  # fmt: skip
    source = text_of(data.get("source_address"))
    reply = Reply(
        provider="emnify", reply_id=sms_id, sender=target or "endpoint:",
        text=text_of(data.get("payload")) or "", date=date_of(data.get("submit_date")),
        profile=route.profile, details={"source_address": source} if source else {},
    )  # fmt: skip
    return route, [Event("reply", "emnify", target=reply.sender, date=reply.date, reply=reply)]


def _token(incoming: Incoming, routes: Sequence[Route]) -> Route:
    """Fone Dynamics and Telit sign nothing (none documented): the URL carries
    ``?token=<callback_secret>``."""
    token = incoming.param("token")
    return _one(
        routes,
        lambda r: same_secret(token, r.secret or ""),
        "the URL's ?token= is not a profile's callback_secret"
        if token
        else "no ?token= in the URL",
    )


def fonedynamics(incoming: Incoming, routes: Sequence[Route]) -> tuple[Route, list[Event]]:
    """The Message resource (UNCONFIRMED: what ``GET /v2/Messages/{MessageSid}`` returns,
    bare or as ``{"Message": …}``): POST with a JSON (or form) body, GET with the fields as
    query parameters. Direction Receive: a reply (id: its MessageSid, as `inbox`); else a
    receipt (Delivered, Failed; an ErrorCode naming EXPIRED: expired)."""
    from smscli.providers.fonedynamics import STATUSES

    route = _token(incoming, routes)
    data: dict[str, Any] = {
        k.lower(): v[0] for k, v in incoming.query.items() if v and k.lower() != "token"
    }
    data.update(form_or_json(incoming))
    if isinstance(data.get("message"), dict):
        data = data["message"]
    sid = text_of(data.get("messagesid"))
    if sid is None:
        raise Problem(400, "a Fone Dynamics callback without a MessageSid")
    direction = (text_of(data.get("direction")) or "").lower()
    word = text_of(data.get("status"))
    if direction in ("receive", "received", "inbound") or (word or "").lower() == "received":
        sender = f"msisdn:{text_of(data.get('from')) or ''}"
        reply = Reply(
            provider="fonedynamics", reply_id=sid, sender=sender,
            text=text_of(data.get("text")) or "",
            date=date_of(data.get("received") or data.get("receivedtimestamp")
                         or data.get("created") or data.get("createdtimestamp")),
            profile=route.profile,
            details={"to": text_of(data.get("to"))} if text_of(data.get("to")) else {},
        )  # fmt: skip
        return route, [Event("reply", "fonedynamics", target=sender, date=reply.date, reply=reply)]
    status = STATUSES.get((word or "").lower(), Status.UNKNOWN)
    error_code = text_of(data.get("errorcode"))
    if status is Status.FAILED and "EXPIRED" in (error_code or "").upper():
        status = Status.EXPIRED
    when = None
    for key in ("deliveredtimestamp", "delivered", "submittedtimestamp", "submitted", "created"):
        when = when or date_of(data.get(key))
    to = text_of(data.get("to"))
    return route, [
        Event("receipt", "fonedynamics", message_id=sid, target=f"msisdn:{to}" if to else None,
              status=status, provider_status=word, date=when,
              details={"error_code": error_code} if error_code else {})
    ]  # fmt: skip


def _xml_fields(incoming: Incoming) -> tuple[str, dict[str, str]]:
    """CSL's XML body: its root element's name and its children's texts (names folded as
    the CSL client folds them: case, "_" and "-" aside) plus the root's attributes. A
    DOCTYPE (entities) is refused. A form field holding the XML is read too (UNCONFIRMED)."""
    import xml.etree.ElementTree as ET

    from smscli.providers.csl import _norm

    body = incoming.body.strip()
    if body[:1] != b"<":
        try:
            values = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            values = {}
        body = next(
            (v[0].strip().encode() for v in values.values() if v and v[0].strip()[:1] == "<"),
            body,
        )
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise Problem(400, "an XML body with a DOCTYPE is not read")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise Problem(400, "the body is not well-formed XML") from None
    fields = {_norm(k): v for k, v in root.attrib.items()}
    for child in root:
        fields[_norm(str(child.tag))] = (child.text or "").strip()
    return _norm(str(root.tag)), fields


def csl(incoming: Incoming, routes: Sequence[Route]) -> tuple[Route, list[Event]]:
    """SMS Post Services: ``<post_sms>`` (a reply; id: its ``api_did``, the delivery id)
    and ``<post_delivery_receipt>`` (``sms_uid`` of the message; ``status`` and
    ``timestamp`` UNCONFIRMED); the ``<passphrase>`` in the body is the profile's
    callback_secret. Timestamps are dd/mm/yyyy hh:mm:ss, taken as UTC (UNCONFIRMED)."""
    from smscli.providers.csl import iso_from_csl, map_status

    root, fields = _xml_fields(incoming)
    passphrase = fields.get("passphrase")
    route = _one(
        routes,
        lambda r: same_secret(passphrase, r.secret or ""),
        "the <passphrase> is not a profile's callback_secret"
        if passphrase
        else "no <passphrase> in the body",
    )
    iccid = fields.get("iccid") or ""
    stamp = fields.get("timestamp")
    when = checked_date(iso_from_csl(stamp))
    if root in ("postsms", "sms"):
        text = fields.get("messagetext") or fields.get("message") or ""
        if when is None:  # (as ThingSpace's: dated and keyed by when it came)
            stamp = when = arrival_stamp()
        reply = Reply(
            provider="csl", reply_id=fields.get("apidid") or content_id(iccid, stamp, text),
            sender=f"iccid:{iccid}", text=text, date=when, profile=route.profile,
            details={"msisdn": fields["msisdn"]} if fields.get("msisdn") else {},
        )  # fmt: skip
        return route, [Event("reply", "csl", target=reply.sender, date=reply.date, reply=reply)]
    if root in ("postdeliveryreceipt", "deliveryreceipt"):
        sms_uid = fields.get("smsuid")
        if not sms_uid:
            raise Problem(400, "a post_delivery_receipt without an sms_uid")
        word = fields.get("status")
        return route, [
            Event("receipt", "csl", message_id=sms_uid, target=f"iccid:{iccid}" if iccid else None,
                  status=map_status(word), provider_status=word, date=when)
        ]  # fmt: skip
    raise Problem(400, f"not a CSL post service smscli knows: <{root}>")


TELIT_TEMPLATE: Final = (
    '{"smscli":"telit-push/1","uuid":"$(event.uuid)","type":"$(event.type)",'
    '"status":"$(event.status)","from":"$(event.from)","to":"$(event.to)",'
    '"body":"$(event.body)","ts":"$(event.ts)","iccid":"$(event.conn.iccid)",'
    '"msisdn":"$(event.conn.msisdn)"}'
)


def telit(incoming: Incoming, routes: Sequence[Route]) -> tuple[Route, list[Event]]:
    """smscli's template for a ``sms.activity`` trigger's ``http.client`` action
    (``TELIT_TEMPLATE``; Telit's body is whatever the user templates). Whether Telit escapes
    the variables inside JSON is UNCONFIRMED: a body that is not JSON is a 400. ``type``
    "mo": a reply (id: the uuid); else the status of the message whose id or uuid it is
    (Telit's sms.status words, mapped as `status` maps them)."""
    from smscli.providers.telit import _STATUS_WORDS

    route = _token(incoming, routes)
    data = json_object(incoming)
    uuid = text_of(data.get("uuid")) or text_of(data.get("id"))
    if uuid is None:
        raise Problem(400, "a Telit push without a uuid")
    kind = (text_of(data.get("type")) or "").lower()
    iccid, msisdn = text_of(data.get("iccid")), text_of(data.get("msisdn"))
    date = date_of(data.get("ts"))
    if kind == "mo":
        sender = (
            f"iccid:{iccid}" if iccid
            else f"msisdn:{msisdn or text_of(data.get('from')) or ''}"
        )  # fmt: skip
        reply = Reply(
            provider="telit", reply_id=uuid, sender=sender, text=text_of(data.get("body")) or "",
            date=date, profile=route.profile,
        )  # fmt: skip
        return route, [Event("reply", "telit", target=sender, date=date, reply=reply)]
    word = text_of(data.get("status"))
    status = _STATUS_WORDS.get((word or "").lower(), Status.UNKNOWN)
    target = f"iccid:{iccid}" if iccid else (f"msisdn:{msisdn}" if msisdn else None)
    return route, [
        Event("receipt", "telit", message_id=uuid, target=target, status=status,
              provider_status=word, date=date)
    ]  # fmt: skip


PARSERS: Final[dict[str, Callable[[Incoming, Sequence[Route]], tuple[Route, list[Event]]]]] = {
    "thingspace": thingspace,
    "emnify": emnify,
    "fonedynamics": fonedynamics,
    "csl": csl,
    "telit": telit,
}


def parse(slug: str, incoming: Incoming, routes: Sequence[Route]) -> tuple[Route, list[Event]]:
    """The events of a callback to ``/<slug>`` and the route (profile) it authenticated as;
    Problem: 405 a method the provider does not use, 403 no route of it is on, 401 the
    credentials match none, 400 a body that cannot be read."""
    if incoming.method not in METHODS[slug]:
        raise Problem(405, f"{incoming.method} is not how {slug} calls back "
                           f"({', '.join(METHODS[slug])})")  # fmt: skip
    live = [r for r in routes if r.on]
    if not live:
        names = ", ".join(r.profile for r in routes) or "none"
        raise Problem(403, f"the /{slug} route is off: no callback_secret in its profiles "
                           f"({names})")  # fmt: skip
    route, events = PARSERS[slug](incoming, live)
    for event in events:
        event.date = checked_date(event.date)  # (unreadable: listen dates it when it came)
        reply = event.reply
        if reply is not None:
            _kind, _, device = reply.sender.partition(":")
            if not device.strip() or "$(" in device:  # (a Telit variable left unfilled)
                raise Problem(400, f"a {slug} reply without the device it came from")
    return route, events
