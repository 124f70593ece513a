"""Emulator of the Telit IoT Portal TR50 HTTP API (``POST /telit/api``).

Follows reference/providers-telit-csl-fonedynamics.md §1 and seed 000: one JSON object per
request whose keys are command ids; ``auth`` holds either ``api.authenticate`` (user or
application credentials) or ``{"sessionId": …}``; every reply is HTTP 200 with the result under
the same key (``{"success": true, "params": {…}}``) or a failure
(``{"success": false, "errorCodes": […], "errorMessages": […]}``). Failures of the whole request
(unreadable body, missing or expired session) come at the top level, as Telit's Python sample
expects them [T3].

Sandbox choices where the docs are silent (UNCONFIRMED for the real API):
- the numeric error codes below (only -90041 for MFA is documented; -90008 is what Wind
  River's agent treats as "not found");
- a session lives ``token_ttl`` seconds from its login (not sliding);
- unknown ``sms.send`` parameters, more than one identifier, a non-JSON content type and
  ``message`` that is not hex under ``EIGHT_BIT`` are refused;
- ``sms.status`` reports ``status`` accepted/sent/delivered/failed/expired and ``statusRaw``
  in upper case.

Magic targets (suffix of the identifier value, sandbox.base.MAGIC): 0400 → command error
"rejected"; 0401 → top-level "Authorization failed" on every attempt; 0404 → command error
"Connection not found"; 0419 → the presented session expires just before the send if it has
already been used (the client logs in once more and its retry goes through); 0429, 0500,
0444, 0408 → sandbox.base.failure_for (a slow reply still stores the message); 0410/0411 →
accepted, then failed/expired.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from smscli.sandbox.base import (
    REFUSED_SECRET,
    Emulator,
    Stored,
    failure_for,
    json_response,
    magic,
)

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
    commands: int = 0  # commands run with it: a 0419 only expires a session already in use


@dataclass
class _Context:
    session_id: str | None = None
    slow: bool = False


def failure(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errorCodes": [code], "errorMessages": [message]}


class TelitEmulator(Emulator):
    """TR50 over HTTP: api.authenticate, sms.send, sms.status, session.end, diag.ping."""

    slug = "telit"

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
        if context.slow:
            failure_for("0408", response)
        return response

    # -- envelope -----------------------------------------------------------------------
    def _run(self, request: httpx.Request, context: _Context) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "")
        if ctype and "json" not in ctype.lower():
            raise _RequestFailed(ERR_BAD_REQUEST, f"Unsupported content type {ctype!r}")
        try:
            body = json.loads(request.content or b"")
        except ValueError:
            raise _RequestFailed(ERR_BAD_REQUEST, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _RequestFailed(ERR_BAD_REQUEST, "Request body must be a JSON object")
        reply: dict[str, Any] = {}
        auth = body.get("auth")
        if isinstance(auth, dict) and "command" in auth:
            reply["auth"] = self._authenticate(auth)
            if not reply["auth"]["success"]:
                return reply
            context.session_id = reply["auth"]["params"]["sessionId"]
        else:
            context.session_id = self._session_from(auth)
        for cmd_id, entry in body.items():
            if cmd_id != "auth":
                reply[cmd_id] = self._command(entry, context)
        return reply

    def _session_from(self, auth: Any) -> str:
        if not isinstance(auth, dict) or not isinstance(auth.get("sessionId"), str):
            raise _RequestFailed(ERR_SESSION, "Authentication required: no sessionId")
        session_id: str = auth["sessionId"]
        with self.lock:
            session = self.sessions.get(session_id)
            if session is not None and self.clock() >= session.created + self.token_ttl:
                del self.sessions[session_id]
                session = None
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
        with self.lock:
            self.sessions[session_id] = _Session(created=self.clock())
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
        if suffix in ("0429", "0500", "0444"):
            response = failure_for(suffix)
            if response is not None:
                raise _Override(response)
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
        stage = stored.stage(self.clock())
        return {
            "id": stored.id,
            "uuid": stored.fields.get("uuid"),
            "status": stage,
            "statusRaw": stage.upper(),
            "text": stored.text,
            "preferredSmsc": stored.fields.get("preferredSmsc"),
            "dateSent": _iso(stored.created),
        }

    def _session_end(self, params: dict[str, Any], context: _Context) -> dict[str, Any]:
        with self.lock:
            self.sessions.pop(context.session_id or "", None)
        return {}


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


def _matches(stored: Stored, params: Mapping[str, Any]) -> bool:
    return ("id" not in params or stored.id == params["id"]) and (
        "uuid" not in params or stored.fields.get("uuid") == params["uuid"]
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")
