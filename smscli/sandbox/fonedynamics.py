"""Fone Dynamics REST v2 emulator (mounted at /fonedynamics).

Implements what seed 004, the errors page and reference/providers-telit-csl-fonedynamics.md §3
document: HTTP Basic on every request (a 401 carries a ``WWW-Authenticate: Basic`` challenge,
which Fone Dynamics' Java client waits for before it sends credentials),
``POST /v2/Properties/{PropertySid}/Messages`` with its field rules (E.164 To, sender ID
rules, Schedule window, POST|GET methods, lease-only fields), the ``{"Message": …}`` reply,
``GET /v2/Messages/{MessageSid}`` with Status moving Processing → Submitted → Delivered
(or Failed), the search ``GET /v2/Properties/{PropertySid}/Messages`` (the devices' replies
are its ``Direction=Receive`` messages), the batch send
``POST /v2/Properties/{PropertySid}/BatchMessages``, and
``{"ResponseStatus": {ErrorCode, Message, Errors}}`` errors. Unknown body fields are refused
(stricter than the docs say, so that a client typo cannot pass silently).

The official clients are secondary sources for shapes the docs leave out:
fonedynamics/fonedynamics-csharp @ 4514c93 ``src/FoneDynamics/Rest/V2/Messaging/``
(MessageResource.cs: the resource's fields and the batch call; BatchMessageRequest.cs:
``{"Messages": [...]}``; BatchMessageResource.cs: the batch reply is a list whose failed
entries have no MessageSid and carry ErrorCode and ``Message``, the error text) and
fonedynamics/fonedynamics-java @ 7161c75 (HttpClient.java: Apache HttpClient with a
credentials provider, so no Authorization header before a 401 challenge; StringEntity bodies
in ISO-8859-1; WebhookMethod.java: Gson writes the enum as ``Post``/``Get``).

``--spec-strict`` changes nothing here: no production recording of this API differs from its
published docs (none is known).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl

import httpx

from smscli.sandbox.base import (
    REFUSED_SECRET,
    Emulator,
    Stored,
    failure_for,
    json_response,
    magic,
)
from smscli.sandbox.pushes import Push, json_push, valid_url

_E164 = re.compile(r"\+[1-9]\d{6,14}")  # used with fullmatch: no trailing newline slips by
_ALNUM = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_MESSAGES_PATH = re.compile(r"^/v2/Properties/([^/]+)/Messages/?$")  # POST send, GET search
_BATCH_PATH = re.compile(r"^/v2/Properties/([^/]+)/BatchMessages/?$")
_GET_PATH = re.compile(r"^/v2/Messages/([^/]+)/?$")
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_FIELDS = {
    "From": str,
    "To": str,
    "Text": str,
    "Schedule": int,
    "DeliveryReceipt": bool,
    "DeliveryReceiptWebhookUri": str,
    "DeliveryReceiptWebhookMethod": str,
    "ExternalId": str,
    "ForwardToSms": str,
    "ForwardFromSms": str,
    "ForwardToEmail": str,
    "ForwardFromEmail": str,
    "WebhookUri": str,
    "WebhookMethod": str,
}
_LEASE_ONLY = ("ForwardToSms", "ForwardFromSms", "ForwardToEmail", "ForwardFromEmail",
               "WebhookUri", "WebhookMethod")  # fmt: skip
_STAGE_WORD = {
    "accepted": "Processing",
    "sent": "Submitted",
    "delivered": "Delivered",
    "failed": "Failed",
    "expired": "Failed",
}
# The search's filters (find-sms docs, after-the-send.md §1.5): the values are matched
# case-insensitively (UNCONFIRMED: the docs write them capitalised, as here).
_STATUS_WORDS = ("Processing", "Submitted", "Delivered", "Failed", "Received")
_DIRECTIONS = ("Transmit", "Receive")
_SEARCH_PARAMS = ("Date_From", "Date_To", "Status", "Direction", "Results_Count", "Results_Skip")
DEFAULT_RESULTS_COUNT = 200  # documented default page size
# Media types read as JSON: the documented one, and ServiceStack's other JSON type (the
# API's errors are ServiceStack's ResponseStatus shape; whether it takes text/json is
# UNCONFIRMED).
_JSON_TYPES = ("application/json", "text/json")
LEASED_NUMBER = "+61400555000"
# Every 401 for missing or refused credentials carries this challenge: Fone Dynamics' Java
# client (Apache HttpClient with a credentials provider) sends its credentials only after a
# 401 that asks for Basic. The realm's value is UNCONFIRMED (no recording of the real header;
# the Java client accepts any realm for the host).
REALM = "api.fonedynamics.com"
CHALLENGE = f'Basic realm="{REALM}"'


def error(
    status: int,
    code: str,
    message: str,
    fields: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = {
        "ResponseStatus": {
            "ErrorCode": code,
            "Message": message,
            "Errors": [{"FieldName": f} for f in fields],
        }
    }
    return json_response(status, body, headers)


def unauthorized() -> httpx.Response:
    """Missing or refused credentials: 401 with the Basic challenge."""
    return error(
        401,
        "UNAUTHORIZED",
        "Invalid or missing credentials.",
        headers={"WWW-Authenticate": CHALLENGE},
    )


class Problem(Exception):
    """A request (or one message of a batch) the API refuses: status, ErrorCode, text and
    the fields named in ``Errors``."""

    def __init__(self, status: int, code: str, message: str, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def response(self) -> httpx.Response:
        return error(self.status, self.code, self.message, self.fields)


class FoneDynamicsEmulator(Emulator):
    slug = "fonedynamics"

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        account = self._account(request)
        if account is None:
            return unauthorized()
        messages = _MESSAGES_PATH.match(path)
        if messages and request.method == "POST":
            return self._send(request, account, messages.group(1))
        if messages and request.method == "GET":
            return self._search(request, account, messages.group(1))
        batch = _BATCH_PATH.match(path)
        if batch and request.method == "POST":
            return self._batch(request, account, batch.group(1))
        get = _GET_PATH.match(path)
        if get and request.method == "GET":
            return self._get(account, get.group(1))
        if messages or batch or get:
            return error(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here.")
        # A path with no route is no API resource: the framework's plain 404 page (what the
        # real API sends there is UNCONFIRMED; ServiceStack, whose ResponseStatus shape the
        # API's errors have, answers "Handler for Request not found"), never a ResponseStatus
        # error, so that `doctor` can tell a wrong base_url from an unknown message.
        return httpx.Response(
            404,
            content=f"Handler for Request not found (404):\n  Request.PathInfo: {path}\n".encode(),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )

    def _account(self, request: httpx.Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            sid, sep, token = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not sep or not sid or not token or token == REFUSED_SECRET:
            return None
        return sid

    def reply_id(self, original: Stored) -> str:
        """A device's reply gets a MessageSid like any other message."""
        return _message_sid()

    def pushes(self, event: str, message: Stored) -> list[Push]:
        """Per message (issue 11): the final status to the send's
        ``DeliveryReceiptWebhookUri`` (unless ``DeliveryReceipt`` was false), a device's
        reply to the ``WebhookUri`` of the message it answers, each with its
        ``…Method`` (POST, the default: the Message resource as JSON; GET: its top-level
        fields as query parameters). The payload is UNCONFIRMED (no docs page shows it):
        the resource ``GET /v2/Messages/{MessageSid}`` answers."""
        if event == "sent":
            return []
        fields = message.fields
        if event == "mo":
            uri, method = fields.get("WebhookUri"), fields.get("WebhookMethod")
        else:
            uri, method = (
                fields.get("DeliveryReceiptWebhookUri"),
                fields.get("DeliveryReceiptWebhookMethod"),
            )
            if fields.get("DeliveryReceipt") is False:
                return []
        url = valid_url(uri)
        if url is None:
            return []
        resource = self._resource(message, full=True)
        kind = "reply" if event == "mo" else "receipt"
        return [json_push(self.slug, kind, url, resource, str(method or "POST").upper())]

    # ------------------------------------------------------------------ sending

    def _send(self, request: httpx.Request, account: str, property_sid: str) -> httpx.Response:
        try:
            body = _json_object(request)
            _validate(body, self.clock())
        except Problem as problem:
            return problem.response()
        to = body["To"]
        suffix = magic(to)
        if suffix == "0429":  # refused before the message was taken (0500: after, below)
            return failure_for(suffix) or error(500, "ERROR", "unreachable")
        if suffix == "0401":
            return unauthorized()
        try:
            _refuse_target(to)
        except Problem as problem:
            return problem.response()
        msg = self._take(body, account, property_sid)
        reply = json_response(200, {"Message": self._resource(msg, full=False)})
        # Dropped and slow replies happen after the message was taken (outcome unknown).
        return failure_for(suffix, reply) or reply

    def _take(self, body: dict[str, Any], account: str, property_sid: str) -> Stored:
        to = body["To"]
        return self.remember(
            Stored(
                id=_message_sid(),
                provider=self.slug,
                target=to,
                text=body["Text"],
                created=self.clock(),
                outcome=self.outcome_for(to),
                fields={k: v for k, v in body.items() if k not in ("To", "Text")}
                | {"AccountSid": account, "PropertySid": property_sid},
            )
        )

    def _batch(self, request: httpx.Request, account: str, property_sid: str) -> httpx.Response:
        """``{"Messages": [...]}``: each message validated and taken as a single send is; the
        reply is a list with one entry per message, in order (the C# client's
        ``List<BatchMessageResource>``): the sent message's resource, or for a refused one
        ErrorCode and Message (the error text) and no MessageSid. The docs' own reply shape
        is UNCONFIRMED. Magic targets that refuse a whole request (``…0401``, ``…0429``,
        ``…0500``) refuse the whole batch before any message is taken; a dropped or slow
        reply (``…0444``, ``…0408``) loses the whole reply after every message was taken."""
        try:
            body = _json_object(request)
            unknown = sorted(set(body) - {"Messages"})
            if unknown:
                raise Problem(400, "INVALID_PARAMETER", f"Unknown field(s): {', '.join(unknown)}.",
                              tuple(unknown))  # fmt: skip
            items = body.get("Messages")
            if items is None or items == []:
                # An empty batch refused like a missing one: UNCONFIRMED.
                raise Problem(400, "PARAMETER_REQUIRED", "Messages is required.", ("Messages",))
            if not isinstance(items, list):
                raise Problem(400, "INVALID_PARAMETER", "Messages must be a list.", ("Messages",))
        except Problem as problem:
            return problem.response()
        now = self.clock()
        checked: list[dict[str, Any] | Problem] = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise Problem(400, "INVALID_PARAMETER", "Each message must be an object.")
                _validate(item, now)
                checked.append(item)
            except Problem as problem:
                checked.append(problem)
        suffixes = {magic(c["To"]) for c in checked if isinstance(c, dict)}
        if "0401" in suffixes:
            return unauthorized()
        if "0429" in suffixes:  # refused before any message was taken (0500: after, below)
            return failure_for("0429") or error(500, "ERROR", "unreachable")
        entries: list[dict[str, Any]] = []
        for item, entry in zip(items, checked, strict=True):
            if isinstance(entry, dict):
                try:
                    _refuse_target(entry["To"])
                    msg = self._take(entry, account, property_sid)
                    entries.append(self._resource(msg, full=False))
                    continue
                except Problem as problem:
                    entry = problem
            entries.append(_failed_entry(item, entry))
        reply = json_response(200, entries)
        for suffix in ("0500", "0444", "0408"):
            if suffix in suffixes:
                return failure_for(suffix, reply) or reply
        return reply

    # ------------------------------------------------------------------ reading

    def _resource(self, msg: Stored, *, full: bool) -> dict[str, Any]:
        sender = msg.fields.get("From") or LEASED_NUMBER
        data: dict[str, Any] = {
            "MessageSid": msg.id,
            "AccountSid": msg.fields["AccountSid"],
            "PropertySid": msg.fields["PropertySid"],
            # A device's reply comes from the device to whoever sent the message it answers
            # (a leased number, an E.164 sender, or the alphanumeric sender ID as given,
            # although a real phone cannot answer one).
            "From": msg.target if msg.mo else sender,
            "To": sender if msg.mo else msg.target,
            "Text": msg.text,
        }
        if not full:
            return data
        created = int(msg.created)
        if msg.mo:
            data.update(
                {
                    "Direction": "Receive",
                    "Status": "Received",
                    "DeliveryReceipt": False,
                    "NumSegments": 1,
                    "Created": created,
                    "Scheduled": None,
                    "Submitted": None,
                    "Delivered": None,
                    "Received": created,
                    "ErrorCode": None,
                    "ExternalId": None,
                }
            )
            return data
        stage = msg.stage(self.clock())
        data.update(
            {
                "Direction": "Transmit",
                "Status": _STAGE_WORD[stage],
                "DeliveryReceipt": msg.fields.get("DeliveryReceipt", True),
                "NumSegments": 1,
                "Created": created,
                "Scheduled": msg.fields.get("Schedule"),
                "Submitted": created + 1 if stage != "accepted" else None,
                "Delivered": created + 2 if stage == "delivered" else None,
                "Received": None,
                "ErrorCode": {"failed": "UNDELIVERABLE", "expired": "EXPIRED"}.get(stage),
                "ExternalId": msg.fields.get("ExternalId"),
            }
        )
        return data

    def _get(self, account: str, sid: str) -> httpx.Response:
        with self.lock:
            msg = self.store.get(sid)
        if msg is None or msg.fields.get("AccountSid") != account:
            # The sandbox's own answer: the ErrorCode (and whether the real API answers an
            # unknown MessageSid with 404 at all) is UNCONFIRMED; smscli's `doctor` accepts
            # the plausible alternatives (providers/fonedynamics.py, FoneDynamics.login).
            return error(404, "MESSAGE_NOT_FOUND", f"Message {sid} was not found.")
        return json_response(200, {"Message": self._resource(msg, full=True)})

    def _search(self, request: httpx.Request, account: str, property_sid: str) -> httpx.Response:
        """Messages sent and received on the property (find-sms docs; after-the-send.md §1.5),
        filtered by ``Date_From`` (inclusive) and ``Date_To`` (exclusive), both Unix seconds
        UTC, and optional ``Status`` and ``Direction``, paged by ``Results_Count`` (default
        200) and ``Results_Skip``. The parameters come as the query string (as a public client
        sends them; the docs show them as JSON, so a JSON object body on the GET is read too,
        the query string winning). Dates are compared with each message's Created (a reply's
        is when it was received). Oldest first. UNCONFIRMED: the reply's wrapper key
        (``{"Messages": [...]}``), the order, and that both dates are required (the docs list
        them under "Resource Parameters", as seed 004 lists the required To and Text)."""
        try:
            params = self._search_params(request)
            date_from = _integer(params, "Date_From", required=True)
            date_to = _integer(params, "Date_To", required=True)
            count = _integer(params, "Results_Count", minimum=0)
            skip = _integer(params, "Results_Skip", minimum=0) or 0
            status = _word(params, "Status", _STATUS_WORDS)
            direction = _word(params, "Direction", _DIRECTIONS)
        except Problem as problem:
            return problem.response()
        assert date_from is not None and date_to is not None
        limit = DEFAULT_RESULTS_COUNT if count is None else count
        with self.lock:
            candidates = [
                m
                for m in self.store.values()
                if m.fields.get("AccountSid") == account
                and m.fields.get("PropertySid") == property_sid
                and date_from <= m.created < date_to
            ]
        found = []
        for msg in sorted(candidates, key=lambda m: m.created):  # stable: ties keep store order
            resource = self._resource(msg, full=True)
            if direction is not None and resource["Direction"] != direction:
                continue
            if status is not None and resource["Status"] != status:
                continue
            found.append(resource)
        return json_response(200, {"Messages": found[skip : skip + limit]})

    def _search_params(self, request: httpx.Request) -> dict[str, str]:
        params: dict[str, str] = {}
        if request.content.strip():
            try:
                body = _json_object(request)
            except Problem:
                body = {}  # a GET's body that is no JSON object is ignored
            for key, value in body.items():
                if key in _SEARCH_PARAMS and value is not None:
                    params[key] = value if isinstance(value, str) else json.dumps(value)
        query = parse_qsl(request.url.query.decode("ascii", "replace"), keep_blank_values=True)
        # Parameter names matched case-insensitively, as ServiceStack binds them (UNCONFIRMED).
        names = {name.lower(): name for name in _SEARCH_PARAMS}
        for key, value in query:
            name = names.get(key.lower())
            if name is not None:
                params[name] = value
        return params


def _message_sid() -> str:
    """``M`` and 31 more characters, 32 in all, as the Java README's example
    ``MGTBUEHNLFOOHNSIOCSAQRRUKLMEZSLE``."""
    return "M" + secrets.token_hex(16).upper()[:31]


_NOT_JSON: Any = object()


def _json_object(request: httpx.Request) -> dict[str, Any]:
    """The request's JSON object body. Content-Type must say JSON; a request without one
    (or with an empty one, as the Java client sends on a GET) is read as JSON when its body
    is a JSON object, the documented format (UNCONFIRMED: what the real API does without a
    Content-Type). The bytes are read as UTF-8, a byte that is not UTF-8 becoming U+FFFD as
    .NET's decoder makes it (UNCONFIRMED): Fone Dynamics' Java client encodes its JSON in
    ISO-8859-1 (Apache StringEntity's default), so a "é" arrives as one byte."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media and media not in _JSON_TYPES:
        raise Problem(400, "INVALID_CONTENT_TYPE", "Content-Type must be application/json.")
    text = request.content.decode("utf-8", "replace").removeprefix("\ufeff")
    try:
        body = json.loads(text)
    except ValueError:
        body = _NOT_JSON
    if not isinstance(body, dict):
        if not media:
            raise Problem(400, "INVALID_CONTENT_TYPE", "Content-Type must be application/json.")
        if body is _NOT_JSON:
            raise Problem(400, "INVALID_JSON", "The request body is not valid JSON.")
        raise Problem(400, "INVALID_JSON", "The request body must be a JSON object.")
    return body


def _integer(
    params: dict[str, str], name: str, *, required: bool = False, minimum: int | None = None
) -> int | None:
    value = params.get(name, "").strip()
    if not value:
        if required:
            raise Problem(400, "PARAMETER_REQUIRED", f"{name} is required.", (name,))
        return None
    if not _INTEGER.fullmatch(value) or (minimum is not None and int(value) < minimum):
        what = "Unix seconds" if name.startswith("Date") else "a whole number of 0 or more"
        raise Problem(400, "INVALID_PARAMETER", f"{name} must be {what}.", (name,))
    return int(value)


def _word(params: dict[str, str], name: str, words: tuple[str, ...]) -> str | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    for word in words:
        if value.lower() == word.lower():
            return word
    raise Problem(400, "INVALID_PARAMETER", f"{name} must be one of {', '.join(words)}.", (name,))


def _refuse_target(to: str) -> None:
    """The magic targets the API refuses after validating the message."""
    suffix = magic(to)
    if suffix == "0400":
        raise Problem(400, "COUNTRY_UNAVAILABLE", "SMS to this destination is not enabled.")
    if suffix == "0404":
        raise Problem(400, "ADDRESS_NOT_FOUND", "The recipient number does not exist.", ("To",))


def _failed_entry(item: Any, problem: Problem) -> dict[str, Any]:
    """A batch entry that was not sent: no MessageSid; ErrorCode and Message (the error
    text), per the C# client's BatchMessageResource; the message's own To, From and Text
    when they were strings, so the entry can be matched (UNCONFIRMED)."""
    entry: dict[str, Any] = {}
    if isinstance(item, dict):
        entry = {k: item[k] for k in ("From", "To", "Text") if isinstance(item.get(k), str)}
    return entry | {"ErrorCode": problem.code, "Message": problem.message}


def _validate(body: dict[str, Any], now: float) -> None:
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise Problem(
            400, "INVALID_PARAMETER", f"Unknown field(s): {', '.join(unknown)}.", tuple(unknown)
        )
    for name in ("To", "Text"):
        if not body.get(name):
            raise Problem(400, "PARAMETER_REQUIRED", f"{name} is required.", (name,))
    for name, kind in _FIELDS.items():
        value = body.get(name)
        if value is not None and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        ):
            raise Problem(400, "INVALID_PARAMETER", f"{name} must be a {kind.__name__}.", (name,))
    if not _E164.fullmatch(body["To"]):
        raise Problem(
            400, "INVALID_PARAMETER", "To must be an E164 number with a + prefix.", ("To",)
        )
    sender = body.get("From") or ""
    if sender and not (_E164.fullmatch(sender) or _ALNUM.fullmatch(sender)):
        raise Problem(400, "INVALID_PARAMETER", "From is not a valid sender ID.", ("From",))
    if sender and any(body.get(k) is not None for k in _LEASE_ONLY):
        raise Problem(
            400, "CONFLICTING_PARAMETERS", "Forwarding options need a leased sender (blank From)."
        )
    for name in ("DeliveryReceiptWebhookMethod", "WebhookMethod"):
        # POST or GET in any case: the official clients send the enum's name, "Post"/"Get"
        # (Gson and Newtonsoft's StringEnumConverter), which the API must take (UNCONFIRMED:
        # the docs write POST and GET).
        value = body.get(name)
        if value is not None and value.upper() not in ("POST", "GET"):
            raise Problem(400, "INVALID_PARAMETER", f"{name} must be POST or GET.", (name,))
    schedule = body.get("Schedule")
    if schedule is not None:
        if schedule > now + 14 * 86400:
            raise Problem(
                400, "INVALID_PARAMETER", "Schedule is more than 14 days ahead.", ("Schedule",)
            )
        if schedule < now - 3600:
            raise Problem(400, "INVALID_PARAMETER", "Schedule is in the past.", ("Schedule",))
