"""Emulator of the Telit IoT Portal TR50 HTTP API (``POST /telit/api``).

Follows reference/providers-telit-csl-fonedynamics.md §1 and seed 000: one JSON object per
request whose keys are command ids (several commands may share one POST, "1", "2", … [WR2],
each answered under its own key); ``auth`` holds either ``api.authenticate`` (user or
application credentials) or ``{"sessionId": …}``; every reply is HTTP 200 with the result under
the same key (``{"success": true, "params": {…}}``) or a failure
(``{"success": false, "errorCodes": […], "errorMessages": […]}``). Failures of the whole request
(unreadable body, missing or expired session) come at the top level, as Telit's Python sample
expects them [T3].

Commands: ``api.authenticate`` (in ``auth``), ``sms.send`` [T1], ``sms.status`` [T7],
``sms.history`` (after-the-send.md §1.2), ``session.info`` [T5], ``session.end`` [T6],
``diag.ping`` [T3].

Sandbox choices where the docs are silent (UNCONFIRMED for the real API):
- the numeric error codes below (only -90041 for MFA is documented; -90008 is what Wind
  River's agent treats as "not found"), -90004 and its text for a missing or expired session
  included (smscli's client does not depend on either: it also takes other codes and words);
- a session lives ``token_ttl`` seconds from its login (not sliding), and ``session.info``
  reports that lifetime as its ``ttl``;
- the body is read as JSON whatever its ``Content-Type`` (Telit's Python sample sends none
  [T3], the Node lib ``application/json`` [T4], ``curl -d`` a form type); a body that is not
  a JSON object is refused at the top level;
- a ``sessionId`` HTTP header stands in for a missing ``auth`` block, as on Wind River's TR50
  platform [WR1];
- unknown ``sms.send``/``sms.history`` parameters, more than one identifier and ``message``
  that is not hex under ``EIGHT_BIT`` are refused;
- ``sms.status`` reports ``status`` accepted/sent/delivered/failed/expired (received for a
  device's reply) and ``statusRaw`` in upper case; its ``text`` is a status description (the
  docs' example: "The message was delivered");
- ``sms.history``'s reply shape, see ``TelitEmulator._sms_history``.

Magic targets (suffix of the identifier value, sandbox.base.MAGIC): 0400 → command error
"rejected"; 0401 → top-level "Authorization failed" on every attempt; 0404 → command error
"Connection not found"; 0419 → the presented session expires just before the send if it has
already been used (the client logs in once more and its retry goes through); 0429, 0500,
0444, 0408 → sandbox.base.failure_for (0429 before the message is taken; 0500, 0444 and a
slow reply after it was stored); 0410/0411 →
accepted, then failed/expired.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from smscli.listen.events import TELIT_TEMPLATE
from smscli.sandbox.base import (
    REFUSED_SECRET,
    Emulator,
    Stored,
    failure_for,
    json_response,
    magic,
)
from smscli.sandbox.pushes import Push, with_query

ERR_BAD_REQUEST: Final = -90001
ERR_SESSION: Final = -90004
ERR_AUTH_FAILED: Final = -90006
ERR_NOT_FOUND: Final = -90008  # Wind River's agent reads -90008 as "not found" [WR4]
ERR_PARAMETER: Final = -90010
ERR_UNKNOWN_COMMAND: Final = -90011
ERR_REJECTED: Final = -90020
ERR_NOT_AUTHORIZED: Final = -90030

SESSION_MESSAGE: Final = "Session is invalid or has expired; authenticate again"
IDENTIFIERS: Final = ("thingKey", "esn", "iccid", "imei", "imsi", "meid", "msisdn")
SEND_PARAMS: Final = frozenset(
    {*IDENTIFIERS, "smsc", "message", "trim", "coding", "from", "validity"}
)
CODINGS: Final = frozenset({"SEVEN_BIT", "EIGHT_BIT", "UCS2"})
_HEX: Final = frozenset(string.hexdigits)
# sms.history's parameters as after-the-send.md §1.2 shows them; "ids" and "content" are the
# names that page's prose suggests ("an array of ids", "Content of a text message"): the
# copy was cut off before their examples, so both names are UNCONFIRMED.
HISTORY_PARAMS: Final = frozenset(
    {
        *IDENTIFIERS,
        "start",
        "end",
        "last",
        "records",
        "offset",
        "limit",
        "sort",
        "direction",
        "tags",
        "ids",
        "content",
    }
)
DIRECTIONS: Final = frozenset({"mo", "mt"})  # "mo" is documented; "mt" is UNCONFIRMED
# "last" is a count and a unit ("24h" in the docs); the units besides h are UNCONFIRMED.
_LAST: Final = re.compile(r"\s*(\d+)\s*([smhdw])\s*", re.IGNORECASE)
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# What session.info says about the organisation and server (the sandbox has one of each).
ORG_ID: Final = "5a4d5c0e1b2c3d4e5f607182"
ORG_KEY: Final = "SANDBOX"
SERVER_ID: Final = "smscli-sandbox"
# The body of a Push SMS is whatever the user templates: the sandbox renders smscli's
# template (``TELIT_TEMPLATE``, which `smscli listen --telit-template` prints) exactly,
# JSON-escaping each variable (whether Telit escapes them is UNCONFIRMED).
_VARIABLE: Final = re.compile(r"\$\(([a-z.]+)\)")


def render_template(template: str, variables: Mapping[str, str]) -> str:
    """``$(event.x)`` → its value, JSON-escaped (a missing one is empty)."""
    return _VARIABLE.sub(lambda m: json.dumps(variables.get(m.group(1), ""))[1:-1], template)


# sms.status "text" is "Additional status information" [T7]; only the delivered wording is
# the docs' own example, the others are the sandbox's.
_STATUS_TEXT: Final = {
    "accepted": "The message was accepted",
    "sent": "The message was sent to the SMSC",
    "delivered": "The message was delivered",
    "failed": "The message could not be delivered",
    "expired": "The message expired before it was delivered",
    "received": "The message was received from the device",
}


class _RequestFailed(Exception):
    """The whole request fails: a top-level TR50 error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _CommandFailed(Exception):
    """One command fails: its entry carries the error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Override(Exception):
    """A transport-level failure replaces the whole reply (429, 500)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class _Session:
    created: float
    last_accessed: float
    # Who logged in, as session.info shows it (user or application fields; never a secret).
    caller: dict[str, str] = field(default_factory=dict)
    commands: int = 0  # commands run with it: a 0419 only expires a session already in use


@dataclass
class _Context:
    session_id: str | None = None
    slow: bool = False
    after: str | None = None  # 0500/0444: fail after the command took the message


def failure(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errorCodes": [code], "errorMessages": [message]}


class TelitEmulator(Emulator):
    """TR50 over HTTP: api.authenticate, sms.send, sms.status, sms.history, session.info,
    session.end, diag.ping."""

    slug = "telit"
    portal_push = True  # Push SMS triggers are made in the portal: `PUT /_sandbox/push/telit`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: dict[str, _Session] = {}

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        if path.rstrip("/") != "/api":
            return json_response(404, {"success": False, "errorMessages": ["Not Found"]})
        if request.method != "POST":
            return json_response(405, {"success": False, "errorMessages": ["Method Not Allowed"]})
        context = _Context()
        try:
            reply = self._run(request, context)
        except _RequestFailed as exc:
            return json_response(200, failure(exc.code, exc.message))
        except _Override as exc:
            return exc.response
        response = json_response(200, reply)
        if context.after is not None:
            return failure_for(context.after, response) or response
        if context.slow:
            failure_for("0408", response)
        return response

    # -- envelope -----------------------------------------------------------------------
    def _run(self, request: httpx.Request, context: _Context) -> dict[str, Any]:
        # Any Content-Type, or none (Telit's Python sample sends none [T3]): the body decides.
        try:
            body = json.loads(request.content or b"")
        except ValueError:
            raise _RequestFailed(ERR_BAD_REQUEST, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _RequestFailed(ERR_BAD_REQUEST, "Request body must be a JSON object")
        reply: dict[str, Any] = {}
        auth = body.get("auth")
        if auth is None and request.headers.get("sessionId"):
            # Wind River's TR50 takes the session in a header instead [WR1][WR4] (UNCONFIRMED
            # for Telit, so taken only when the body has no auth block).
            auth = {"sessionId": request.headers["sessionId"]}
        if isinstance(auth, dict) and "command" in auth:
            reply["auth"] = self._authenticate(auth)
            if not reply["auth"]["success"]:
                return reply
            context.session_id = reply["auth"]["params"]["sessionId"]
        else:
            context.session_id = self._session_from(auth)
        # Several commands in one POST run in the body's order, each answered under its own
        # id [WR2]; one command's failure does not stop the others.
        for cmd_id, entry in body.items():
            if cmd_id != "auth":
                reply[cmd_id] = self._command(entry, context)
        return reply

    def _session_from(self, auth: Any) -> str:
        if not isinstance(auth, dict) or not isinstance(auth.get("sessionId"), str):
            raise _RequestFailed(ERR_SESSION, "Authentication required: no sessionId")
        session_id: str = auth["sessionId"]
        now = self.clock()
        with self.lock:
            session = self.sessions.get(session_id)
            if session is not None and now >= session.created + self.token_ttl:
                del self.sessions[session_id]
                session = None
            if session is not None:
                session.last_accessed = now
        if session is None:
            raise _RequestFailed(ERR_SESSION, SESSION_MESSAGE)
        return session_id

    def _authenticate(self, auth: Mapping[str, Any]) -> dict[str, Any]:
        if auth.get("command") != "api.authenticate":
            return failure(ERR_UNKNOWN_COMMAND, f"Unknown auth command {auth.get('command')!r}")
        params = auth.get("params")
        if not isinstance(params, dict):
            return failure(ERR_PARAMETER, "params is required")
        user = ("username", "password")
        app = ("appId", "appToken", "thingKey")
        keys = next((ks for ks in (user, app) if all(k in params for k in ks)), None)
        if keys is None:
            return failure(ERR_PARAMETER, "username and password, or appId, appToken and thingKey")
        if not all(isinstance(params[k], str) and params[k] for k in keys):
            return failure(ERR_PARAMETER, f"{', '.join(keys)} must be non-empty strings")
        secret = params["password" if keys is user else "appToken"]
        account = params["username" if keys is user else "appId"]
        if secret == REFUSED_SECRET:
            self.count_login("api.authenticate", account, refused=True)
            return failure(ERR_AUTH_FAILED, "Authentication failed")
        session_id = secrets.token_hex(12)
        if keys is user:
            caller = {
                "userId": _object_id("user", account),
                "userName": account,
                "whoAmI": account,
            }
        else:
            # tokenId is "the current applicationToken" [T5]: the sandbox names it by a
            # digest and never echoes the token itself.
            caller = {
                "appId": account,
                "appName": account,
                "tokenId": _object_id("token", secret),
                "tokenName": "sandbox",
                "thingKey": params["thingKey"],
                "whoAmI": account,
            }
        now = self.clock()
        with self.lock:
            # Sessions past their lifetime are forgotten here, so that a long-running sandbox
            # keeps only the live ones (a burst of logins within one lifetime at most).
            for stale in [k for k, v in self.sessions.items() if now >= v.created + self.token_ttl]:
                del self.sessions[stale]
            self.sessions[session_id] = _Session(created=now, last_accessed=now, caller=caller)
        self.count_login("api.authenticate", account)
        return {"success": True, "params": {"sessionId": session_id}}

    # -- commands -----------------------------------------------------------------------
    def _command(self, entry: Any, context: _Context) -> dict[str, Any]:
        if not isinstance(entry, dict) or not isinstance(entry.get("command"), str):
            return failure(ERR_BAD_REQUEST, 'Each command needs a "command" string')
        params = entry.get("params", {})
        if not isinstance(params, dict):
            return failure(ERR_PARAMETER, "params must be an object")
        handlers: dict[str, Callable[[dict[str, Any], _Context], dict[str, Any]]] = {
            "sms.send": self._sms_send,
            "sms.status": self._sms_status,
            "sms.history": self._sms_history,
            "session.info": self._session_info,
            "session.end": self._session_end,
            "diag.ping": lambda _params, _context: {},
        }
        handler = handlers.get(entry["command"])
        if handler is None:
            return failure(ERR_UNKNOWN_COMMAND, f"Unknown command {entry['command']!r}")
        try:
            result = handler(params, context)
        except _CommandFailed as exc:
            return failure(exc.code, exc.message)
        self._used(context.session_id)
        return {"success": True, "params": result} if result else {"success": True}

    def _used(self, session_id: str | None) -> None:
        with self.lock:
            session = self.sessions.get(session_id or "")
            if session is not None:
                session.commands += 1

    def _sms_send(self, params: dict[str, Any], context: _Context) -> dict[str, Any]:
        name, value = _validate_send(params)
        self._magic(value, context)
        now = self.clock()
        preferred = params.get("smsc") or "sandbox-smsc"
        uuid = secrets.token_hex(12)
        fields: dict[str, Any] = {
            k: params[k] for k in ("coding", "trim", "from", "validity", "smsc") if k in params
        }
        stored = self.remember(
            Stored(
                id=secrets.token_hex(12),
                provider=self.slug,
                target=f"{name}:{value}",
                text=params.get("message", ""),
                created=now,
                outcome=self.outcome_for(value),
                fields={**fields, "uuid": uuid, "preferredSmsc": preferred},
            )
        )
        return {
            "dateSent": _iso(now),
            "uuid": uuid,
            "preferredSmsc": preferred,
            "id": stored.id,
        }

    def _magic(self, value: str, context: _Context) -> None:
        suffix = magic(value)
        if suffix == "0429":  # refused before the message is taken
            response = failure_for(suffix)
            if response is not None:
                raise _Override(response)
        if suffix in ("0500", "0444"):  # after it was taken (as a real provider may)
            context.after = suffix
        if suffix == "0408":
            context.slow = True
        elif suffix == "0400":
            raise _CommandFailed(ERR_REJECTED, "Message rejected by the SMS engine")
        elif suffix == "0401":
            raise _RequestFailed(ERR_NOT_AUTHORIZED, "Authorization failed for this request")
        elif suffix == "0404":
            raise _CommandFailed(ERR_NOT_FOUND, "Connection not found")
        elif suffix == "0419":
            self._expire_if_used(context.session_id)

    def _expire_if_used(self, session_id: str | None) -> None:
        with self.lock:
            session = self.sessions.get(session_id or "")
            if session is None or session.commands == 0:
                return
            del self.sessions[session_id or ""]
        raise _RequestFailed(ERR_SESSION, SESSION_MESSAGE)

    def _sms_status(self, params: dict[str, Any], context: _Context) -> dict[str, Any]:
        keys = [k for k in ("id", "uuid") if k in params]
        if not keys:
            raise _CommandFailed(ERR_PARAMETER, "One of id or uuid is required")
        if not all(isinstance(params[k], str) for k in keys):
            raise _CommandFailed(ERR_PARAMETER, "id and uuid must be strings")
        with self.lock:
            found = [m for m in self.store.values() if _matches(m, params)]
        if not found:
            raise _CommandFailed(ERR_NOT_FOUND, "SMS not found")
        stored = found[0]
        status = _status(stored, self.clock())
        # The documented params [T7] (statusRaw, status, text, preferredSmsc, dateSent),
        # plus the record's id and uuid.
        return {
            "id": stored.id,
            "uuid": stored.fields.get("uuid"),
            "status": status,
            "statusRaw": status.upper(),
            "text": _STATUS_TEXT.get(status, status),
            "preferredSmsc": stored.fields.get("preferredSmsc"),
            "dateSent": _iso(stored.created),
        }

    def _sms_history(self, params: dict[str, Any], context: _Context) -> dict[str, Any]:
        """The SMS records sent to (``mt``) and received from (``mo``) connections.

        Parameters as documented (after-the-send.md §1.2): one identifier or none (the whole
        organisation), ``start``/``end`` (ISO 8601), ``last`` ("24h"), ``records`` (the newest
        N), ``offset``/``limit``, ``sort`` (``dateSent`` or ``-dateSent``; newest first when
        absent), ``direction`` (``mo``/``mt``; both when absent), ``tags`` (no sandbox
        connection has tags, so a tag matches nothing), ``ids`` and ``content`` (a substring of
        the text).

        The reply shape is UNCONFIRMED (the docs' copy was cut off before it): the list is
        wrapped like the documented ``session.list`` and ``sms.template.list`` replies
        (``{"count": total matching, "result": [...]}``) and each record carries
        ``sms.send``'s and ``sms.status``'s documented fields (``id``, ``uuid``, ``message``,
        ``coding``, ``status``, ``statusRaw``, ``preferredSmsc``, ``dateSent``) plus
        ``direction`` and the connection's identifier (``{"msisdn": …}``, ``{"thingKey": …}``).
        """
        query = _validate_history(params, self.clock())
        now = self.clock()
        with self.lock:
            matching = [m for m in self.store.values() if query.matches(m)]
        # Newest first; among equal times, the one stored later first.
        order = sorted(range(len(matching)), key=lambda i: (matching[i].created, i), reverse=True)
        newest_first = [matching[i] for i in order]
        if query.records is not None:
            newest_first = newest_first[: query.records]
        ordered = newest_first if query.descending else list(reversed(newest_first))
        page = ordered[query.offset :]
        if query.limit is not None:
            page = page[: query.limit]
        return {"count": len(ordered), "result": [_history_record(m, now) for m in page]}

    def _session_info(self, params: dict[str, Any], context: _Context) -> dict[str, Any]:
        """The current session as the docs' example shows it [T5]: ``id``, ``ref``,
        ``serverId``, ``orgId``, ``orgKey``, the caller (``userId``/``userName`` for a user
        session; ``appId``/``appName``/``tokenId``/``tokenName``/``thingKey`` for an
        application session), ``whoAmI``, the ``has*`` flags the Node lib reads [T4], ``ttl``,
        ``startTime``, ``lastAccessed``. ``connInfo`` has no ``remoteAddr`` and there is no
        ``ipAddress``: the sandbox does not see the caller's address. The values are the
        sandbox's (one org, the caller an org admin, so no ``perms``/``roleKeys``)."""
        session_id = context.session_id or ""
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:  # ended by an earlier command of the same request
                raise _CommandFailed(ERR_SESSION, SESSION_MESSAGE)
            caller = dict(session.caller)
            created, last_accessed = session.created, session.last_accessed
        return {
            "id": session_id,
            "ref": hashlib.sha256(session_id.encode()).hexdigest(),
            "serverId": SERVER_ID,
            "orgId": ORG_ID,
            "orgKey": ORG_KEY,
            **caller,
            "hasSuperAdmin": False,
            "hasSuperOps": False,
            "hasOrgAdmin": True,
            "connInfo": {"protocol": "HTTP"},
            "ttl": int(self.token_ttl),
            "locale": "en_US",
            "allowSubOrgAccess": None,
            "startTime": _iso_z(created),
            "lastAccessed": _iso_z(last_accessed),
            "allAgreementsSigned": True,
            "initial": False,
        }

    def _session_end(self, params: dict[str, Any], context: _Context) -> dict[str, Any]:
        with self.lock:
            self.sessions.pop(context.session_id or "", None)
        return {}

    # -- Push SMS (issue 11) ------------------------------------------------------------
    def pushes(self, event: str, message: Stored) -> list[Push]:
        """A ``sms.activity`` trigger's ``http.client`` action, as the portal would run it
        with smscli's template (``TELIT_TEMPLATE``) to the URL of ``PUT
        /_sandbox/push/telit`` (its secret added as ``?token=``): a device's reply (type
        ``mo``, status ``received``) and an MT message's final status. UNCONFIRMED, the
        sandbox's choice: ``$(event.uuid)`` is the SMS record's ``id`` (sms.history's, which
        `smscli inbox` keys a reply by), ``$(event.ts)`` the record's date."""
        if event == "sent":
            return []
        with self.lock:
            portal = dict(self.portal) if self.portal else None
        if portal is None:
            return []
        kind, _, value = message.target.partition(":")
        variables = {
            "event.uuid": message.id,
            "event.type": "mo" if message.mo else "mt",
            "event.status": _status(message, self.clock()),
            "event.from": value if message.mo else str(message.fields.get("from") or ""),
            "event.to": "" if message.mo else value,
            "event.body": message.text,
            "event.ts": _iso(message.created),
            "event.conn.iccid": value if kind == "iccid" else "",
            "event.conn.msisdn": value if kind == "msisdn" else "",
        }
        url = portal["url"]
        if portal["secret"] and "token=" not in url:
            url = with_query(url, {"token": portal["secret"]})
        body = render_template(TELIT_TEMPLATE, variables).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        return [Push(self.slug, "mo" if message.mo else "status", url, "POST", body, headers)]

    # -- the devices' replies -----------------------------------------------------------
    def reply_id(self, original: Stored) -> str:
        return secrets.token_hex(12)  # an SMS record id like sms.send's

    def received(self, reply: Stored) -> None:
        """A reply is its own SMS record: its own uuid, the coding its text needs (the
        "ACK: " prefix is not hex), none of the sent message's options."""
        with self.lock:
            original = reply.fields
            reply.fields = {
                "uuid": secrets.token_hex(12),
                "preferredSmsc": original.get("preferredSmsc"),
                "coding": "UCS2" if original.get("coding") == "UCS2" else "SEVEN_BIT",
            }


def _validate_send(params: Mapping[str, Any]) -> tuple[str, str]:
    """Check sms.send params as the docs describe them; the identifier (name, value)."""
    unknown = sorted(set(params) - SEND_PARAMS)
    if unknown:
        raise _CommandFailed(ERR_PARAMETER, f"Unknown parameter(s): {', '.join(unknown)}")
    given = [k for k in IDENTIFIERS if k in params]
    if not given:
        raise _CommandFailed(ERR_PARAMETER, f"One of {', '.join(IDENTIFIERS)} is required")
    if len(given) > 1:
        raise _CommandFailed(ERR_PARAMETER, f"Only one identifier may be given: {', '.join(given)}")
    name = given[0]
    for key, kind in ((name, str), ("message", str), ("smsc", str), ("from", str), ("trim", bool)):
        if key in params and not isinstance(params[key], kind):
            raise _CommandFailed(ERR_PARAMETER, f"{key} must be a {kind.__name__}")
    if not params[name]:
        raise _CommandFailed(ERR_PARAMETER, f"{name} must not be empty")
    validity = params.get("validity")
    if validity is not None and (type(validity) is not int or validity < 0):
        raise _CommandFailed(ERR_PARAMETER, "validity must be a non-negative integer")
    coding = params.get("coding")
    if coding is None:
        raise _CommandFailed(ERR_PARAMETER, "coding is required")
    if coding not in CODINGS:
        raise _CommandFailed(ERR_PARAMETER, f"coding must be one of {', '.join(sorted(CODINGS))}")
    message = params.get("message", "")
    if coding == "EIGHT_BIT" and (len(message) % 2 or not set(message) <= _HEX):
        raise _CommandFailed(ERR_PARAMETER, "EIGHT_BIT messages must be hexadecimal")
    return name, str(params[name])


@dataclass(frozen=True)
class _HistoryQuery:
    """sms.history's filters, checked."""

    target: str | None = None
    start: float | None = None
    end: float | None = None
    since: float | None = None  # from "last"
    records: int | None = None
    offset: int = 0
    limit: int | None = None
    descending: bool = True
    direction: str | None = None
    tagged: bool = False
    ids: frozenset[str] | None = None
    content: str | None = None

    def matches(self, m: Stored) -> bool:
        return not (
            m.provider != "telit"
            or self.tagged
            or (self.target is not None and m.target != self.target)
            or (self.start is not None and m.created < self.start)
            or (self.end is not None and m.created > self.end)
            or (self.since is not None and m.created < self.since)
            or (self.direction is not None and m.direction != self.direction)
            or (self.ids is not None and m.id not in self.ids)
            or (self.content is not None and self.content not in m.text)
        )


def _validate_history(params: Mapping[str, Any], now: float) -> _HistoryQuery:
    unknown = sorted(set(params) - HISTORY_PARAMS)
    if unknown:
        raise _CommandFailed(ERR_PARAMETER, f"Unknown parameter(s): {', '.join(unknown)}")
    given = [k for k in IDENTIFIERS if k in params]
    if len(given) > 1:
        raise _CommandFailed(ERR_PARAMETER, f"Only one identifier may be given: {', '.join(given)}")
    target = None
    if given:
        value = params[given[0]]
        if not isinstance(value, str) or not value:
            raise _CommandFailed(ERR_PARAMETER, f"{given[0]} must be a non-empty string")
        target = f"{given[0]}:{value}"
    counts: dict[str, int | None] = {}
    for key, least in (("records", 1), ("offset", 0), ("limit", 1)):
        value = params.get(key)
        if value is not None and (type(value) is not int or value < least):
            raise _CommandFailed(ERR_PARAMETER, f"{key} must be an integer of at least {least}")
        counts[key] = value
    sort = params.get("sort", "-dateSent")
    if sort not in ("dateSent", "+dateSent", "-dateSent"):
        raise _CommandFailed(ERR_PARAMETER, "sort must be dateSent or -dateSent")
    direction = params.get("direction")
    if direction is not None:
        if not isinstance(direction, str) or direction.lower() not in DIRECTIONS:
            raise _CommandFailed(ERR_PARAMETER, "direction must be mo or mt")
        direction = direction.lower()
    ids = params.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise _CommandFailed(ERR_PARAMETER, "ids must be an array of strings")
    content = params.get("content")
    if content is not None and not isinstance(content, str):
        raise _CommandFailed(ERR_PARAMETER, "content must be a string")
    tags = params.get("tags")
    if tags is not None and not (
        isinstance(tags, str) or (isinstance(tags, list) and all(isinstance(t, str) for t in tags))
    ):
        raise _CommandFailed(ERR_PARAMETER, "tags must be a string or an array of strings")
    return _HistoryQuery(
        target=target,
        start=_history_time(params, "start"),
        end=_history_time(params, "end"),
        since=_history_since(params.get("last"), now),
        records=counts["records"],
        offset=counts["offset"] or 0,
        limit=counts["limit"],
        descending=sort == "-dateSent",
        direction=direction,
        tagged=bool(tags),
        ids=frozenset(ids) if ids is not None else None,
        content=content,
    )


def _history_time(params: Mapping[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        raise _CommandFailed(ERR_PARAMETER, f"{key} must be an ISO 8601 date and time")
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _history_since(last: Any, now: float) -> float | None:
    if last is None:
        return None
    match = _LAST.fullmatch(last) if isinstance(last, str) else None
    if match is None:
        raise _CommandFailed(ERR_PARAMETER, 'last must be a period such as "24h" or "7d"')
    return now - int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def _status(stored: Stored, now: float) -> str:
    """sms.status's word: the delivery stage, "received" for a device's reply."""
    return "received" if stored.mo else stored.stage(now)


def _history_record(stored: Stored, now: float) -> dict[str, Any]:
    name, _, value = stored.target.partition(":")
    status = _status(stored, now)
    return {
        "id": stored.id,
        "uuid": stored.fields.get("uuid"),
        "direction": stored.direction,
        name: value,
        "message": stored.text,
        "coding": stored.fields.get("coding"),
        "status": status,
        "statusRaw": status.upper(),
        "preferredSmsc": stored.fields.get("preferredSmsc"),
        "dateSent": _iso(stored.created),
    }


def _object_id(kind: str, value: str) -> str:
    """A stable 24-hex-digit id (the docs' ids look like MongoDB ObjectIds)."""
    return hashlib.sha256(f"{kind}:{value}".encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _matches(stored: Stored, params: Mapping[str, Any]) -> bool:
    return ("id" not in params or stored.id == params["id"]) and (
        "uuid" not in params or stored.fields.get("uuid") == params["uuid"]
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")


def _iso_z(epoch: float) -> str:
    """``2024-02-29T16:56:05.465Z``, as session.info's example writes its times [T5]."""
    return _iso(epoch).replace("+00:00", "Z")
