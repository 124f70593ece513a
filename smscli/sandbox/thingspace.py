"""Emulator of Verizon ThingSpace Connectivity Management (SMS), mounted at ``/thingspace``.

Follows ``reference/providers-thingspace-emnify.md`` §1 and seed 002:

- ``POST /api/ts/v1/oauth2/token``: HTTP Basic key:secret, form ``grant_type=client_credentials``
  → ``{"access_token", "token_type", "expires_in", "scope"}``. While a token lives, the same
  app key gets the same token back ("any further token requests during that hour will return
  the same token"). OAuth2 errors are ``{"error", "error_description"}``.
- ``POST /api/m2m/v1/session/login`` (Bearer) ``{"username", "password"}`` → ``{"sessionToken"}``;
  the session dies after ``token_ttl`` seconds without use. Five refused logins in a row lock
  the user, as the real platform does.
- ``POST /api/m2m/v1/session/logout`` (Bearer + VZ-M2M-Token) → ``{"sessionToken"}``.
- ``POST /api/m2m/v1/sms`` (Bearer + VZ-M2M-Token, JSON) → ``{"requestId"}``.
- ``GET /api/m2m/v1/sms/{accountName}/history[?next=<token>]`` (Bearer + VZ-M2M-Token): the
  account's queue of the devices' replies (mobile-originated SMS), a page at a time; see
  ``ThingSpaceEmulator._history``.

Gateway checks come first, in the WSO2 fault shape: no bearer → 401 ``900902``, an unknown or
expired bearer → 401 ``900901``, an unknown path → 400 ``900906``. Every 401 carries the
``WWW-Authenticate`` challenge RFC 7235 §3.1 requires (wording UNCONFIRMED for ThingSpace, see
``BASIC_CHALLENGE`` and ``BEARER_CHALLENGE``). The M2M service answers
``{"errorCode": "<Service>.<CODE>", "errorMessage"}`` with HTTP 400. Documented codes are used
where the docs name one (``INPUT_INVALID.RequestUndefined``, ``DeserializationFailed``,
``REQUEST_FAILED.UnexpectedError``, ``INPUT_INVALID.CustomField.InvalidName``); the session,
device-not-found, login and rejection codes are UNCONFIRMED and made up in the same pattern.
The HTTP status for a wrong Content-Type (400 here) is UNCONFIRMED too.

Magic targets (``sandbox.base.MAGIC``) are read from every device id, group name, service plan
and custom-field value of a request; the first one found decides the whole request, as the
request is one unit. ``0419`` expires the presented session only when it has been used before
(a session issued a moment ago cannot have idled out), so the client's one re-login and retry
succeeds. ``/_sandbox/messages`` shows each device's message moving accepted → sent →
delivered/failed/expired.

Callbacks (issue 11): ``POST``/``GET /api/m2m/v1/callbacks/{accountName}`` and ``DELETE
…/{accountName}/name/{serviceName}`` register listeners; the sandbox then pushes to them
(``ThingSpaceEmulator.pushes``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs, quote

import httpx

from smscli.sandbox.base import (
    MAGIC,
    REFUSED_SECRET,
    Emulator,
    Stored,
    failure_for,
    json_response,
    magic,
)
from smscli.sandbox.pushes import Push, json_push, valid_url

TOKEN_PATH: Final = "/api/ts/v1/oauth2/token"
M2M: Final = "/api/m2m/v1"
_HISTORY: Final = re.compile(r"/api/m2m/v1/sms/([^/]+)/history/?")
_CALLBACKS: Final = re.compile(r"/api/m2m/v1/callbacks/([^/]+)/?")
_CALLBACK: Final = re.compile(r"/api/m2m/v1/callbacks/([^/]+)/name/([^/]+)/?")
# The callback services a listener can be registered for (the SDK's CallbackServiceName
# enum and the Register_Callback_Listener page). The sandbox pushes only the two that carry
# SMS: SMSDeliveryConfirmation (delivered or not) and EnhancedConnectivityService (handed to
# the device; the devices' replies).
SERVICE_NAMES: Final = (
    "CarrierService",
    "DeviceProfileService",
    "DeviceService",
    "DeviceUsage",
    "DiagnosticsService",
    "EnhancedConnectivityService",
    "ExternalProvisioningChanges",
    "PromoExpiration",
    "SMSDeliveryConfirmation",
    "SubscriptionNotificationService",
    "Usage",
)
DELIVERY_SERVICE: Final = "SMSDeliveryConfirmation"
CONNECTIVITY_SERVICE: Final = "EnhancedConnectivityService"
# Delivery outcome → the documented "confirmation" words (Rejected, "the device already has
# 100 pending messages in queue", never happens in the sandbox).
_CONFIRMATION: Final = {"delivered": "Delivered", "failed": "Undelivered", "expired": "Expired"}
# How the callbacks write a device id's kind (the docs' examples: "Iccid", "Mdn", …).
_CALLBACK_KIND: Final = {"mdn": "Mdn", "meid": "Meid", "esn": "Esn", "eid": "Eid"}
# Replies per history page. The docs say "Each GET /sms request returns up to 100 SMS
# messages" (Get_SMS_Messages; the SDK's SMSMessagesQueryResult: "An array of up to 100");
# the sandbox returns at most 5, which is "up to 100" too, so that a client's paging and
# acknowledging can be tried with a handful of replies.
HISTORY_PAGE_SIZE: Final = 5
# History pages handed out and not yet acknowledged that the sandbox remembers (oldest
# forgotten first: acknowledging a forgotten page is a no-op, so its replies come again).
MAX_OPEN_PAGES: Final = 64
# The queue of a reply to a send without accountName (the seed page calls accountName
# optional): the account name of ThingSpace's own API simulator (api-console page,
# reference providers-thingspace-emnify.md §1.1).
DEFAULT_ACCOUNT: Final = "TestAccount-1"
# The challenges on 401s (RFC 7235 §3.1: a 401 "MUST send a WWW-Authenticate header field").
# ThingSpace's own wording is UNCONFIRMED. The token endpoint takes the client's key and
# secret by HTTP Basic, so it challenges Basic (RFC 6749 §5.2: invalid_client "MUST" answer
# 401 with "the WWW-Authenticate response header field matching the authentication scheme used
# by the client"); WSO2's token endpoint answers `Basic realm=<its host>` (wso2/product-is
# issue 9653). The M2M gateway's challenge is WSO2 API Manager's for a bad bearer
# (wso2/api-manager issues 41 and 2095), RFC 6750 §3's form.
BASIC_CHALLENGE: Final = 'Basic realm="thingspace.verizon.com"'
BEARER_CHALLENGE: Final = (
    'Bearer realm="WSO2 API Manager", error="invalid_token", '
    'error_description="The provided token is invalid"'
)
BEARER_MISSING_CHALLENGE: Final = 'Bearer realm="WSO2 API Manager"'
LOCK_AFTER: Final = 5  # "lock a contact record after 5 consecutive failed log in attempts"
MAX_DEVICES: Final = 10_000
_TIME_TO_LIVE: Final = re.compile(r"[A-Za-z0-9]{3,32}")
DATA_ENCODINGS: Final = ("7-bit", "8-bit-ASCII", "8-bit-UTF-8", "8-bit-DATA")
CUSTOM_FIELD_KEYS: Final = tuple(f"CustomField{n}" for n in range(1, 6))

# What a well-formed id of each kind looks like (SPEC §2 target rules, without separators).
_ID_FORMS: Final[dict[str, re.Pattern[str]]] = {
    "iccid": re.compile(r"\d{18,22}"),
    "imei": re.compile(r"\d{14,16}"),
    "meid": re.compile(r"[0-9A-Fa-f]{14}"),
    "mdn": re.compile(r"\d{10}"),
    "msisdn": re.compile(r"\d{7,15}"),
    "esn": re.compile(r"[0-9A-Fa-f]{8}|\d{11}"),
    "eid": re.compile(r"\d{32}"),
}
_HEX: Final = re.compile(r"(?:[0-9A-Fa-f]{2})*")


class _Reply(Exception):
    """An error reply, raised from deep in the validation."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _fault(
    status: int, code: str, message: str, description: str, challenge: str | None = None
) -> _Reply:
    return _Reply(
        json_response(
            status,
            {"fault": {"code": code, "message": message, "description": description}},
            {"WWW-Authenticate": challenge} if challenge else None,
        )
    )


def _error(code: str, message: str, status: int = 400) -> _Reply:
    return _Reply(json_response(status, {"errorCode": code, "errorMessage": message}))


def _oauth_error(status: int, error: str, description: str) -> _Reply:
    headers = {"WWW-Authenticate": BASIC_CHALLENGE} if status == 401 else None
    return _Reply(
        json_response(status, {"error": error, "error_description": description}, headers)
    )


def _unexpected(message: str) -> _Reply:
    return _error("UnifiedWebService.REQUEST_FAILED.UnexpectedError", message)


@dataclass
class _Session:
    expires: float
    uses: int = 0


class ThingSpaceEmulator(Emulator):
    slug = "thingspace"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bearers: dict[str, float] = {}  # access token → expiry
        self.bearer_of: dict[str, str] = {}  # app key → its current access token
        self.sessions: dict[str, _Session] = {}
        self.failed_logins: dict[str, int] = {}
        # The devices' replies not yet acknowledged: reply id → account name, in the order
        # they arrived (each reply is in self.store; one that left it leaves the queue too).
        self.inbox: dict[str, str] = {}
        # History pages handed out: token → (account name, the reply ids on that page).
        self.pages: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._page_counter = 0
        # Registered callback listeners: (account name, service name) → url, username,
        # password.
        self.callbacks: dict[tuple[str, str], dict[str, str]] = {}

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {
            TOKEN_PATH: self._token,
            f"{M2M}/session/login": self._login,
            f"{M2M}/session/logout": self._logout,
            f"{M2M}/sms": self._sms,
        }
        route = routes.get(path.rstrip("/"))
        methods: tuple[str, ...] = ("POST",)
        history = _HISTORY.fullmatch(path)
        callbacks = _CALLBACKS.fullmatch(path)
        callback = _CALLBACK.fullmatch(path)
        if history is not None:
            account = history.group(1)
            route, methods = (lambda r: self._history(r, account)), ("GET",)
        elif callbacks is not None:
            route, methods = (lambda r: self._callbacks(r, callbacks.group(1))), ("POST", "GET")
        elif callback is not None:
            route, methods = (lambda r: self._deregister(r, *callback.groups())), ("DELETE",)
        try:
            if route is None or request.method not in methods:
                raise _fault(
                    400,
                    "900906",
                    "No matching resource found in the API for the given request",
                    "Access failure for API: /m2m/v1, version: v1. Check the API documentation "
                    "and add a proper REST resource path to the invocation URL",
                )
            return route(request)
        except _Reply as reply:
            return reply.response

    # -- OAuth2 -----------------------------------------------------------------------
    def _token(self, request: httpx.Request) -> httpx.Response:
        client_id, client_secret = _basic(request)
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("application/x-www-form-urlencoded"):
            raise _oauth_error(400, "invalid_request", "Unsupported Content-Type")
        form = parse_qs(request.content.decode("utf-8", "replace"))
        grant = form.get("grant_type", [""])[0]
        if not grant:
            raise _oauth_error(400, "invalid_request", "Missing grant_type parameter value")
        if grant != "client_credentials":
            raise _oauth_error(400, "unsupported_grant_type", "Unsupported grant_type value")
        if client_secret == REFUSED_SECRET:
            self.count_login("oauth2/token", client_id, refused=True)
            raise _oauth_error(401, "invalid_client", "Client Authentication failed.")
        now = self.clock()
        with self.lock:
            token = self.bearer_of.get(client_id)
            if token is None or self.bearers.get(token, 0.0) <= now:
                token = secrets.token_urlsafe(24)
                self.bearers[token] = now + self.token_ttl
                self.bearer_of[client_id] = token
            expires_in = max(1, int(self.bearers[token] - now))
        self.count_login("oauth2/token", client_id)
        return json_response(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": "default",
            },
        )

    # -- session ----------------------------------------------------------------------
    def _login(self, request: httpx.Request) -> httpx.Response:
        self._bearer(request)
        body = _json_object(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise _unexpected("username and password are required strings")
        if not username or not password:
            raise _unexpected("username and password cannot be blank")
        with self.lock:
            if self.failed_logins.get(username, 0) >= LOCK_AFTER:
                self.count_login("session/login", username, refused=True)
                raise _error(
                    "UnifiedWebService.REQUEST_FAILED.ContactLocked",
                    "The contact record is locked after 5 failed log in attempts; "
                    "contact Verizon support",
                )
            if password == REFUSED_SECRET:
                self.failed_logins[username] = self.failed_logins.get(username, 0) + 1
                self.count_login("session/login", username, refused=True)
                raise _error(
                    "UnifiedWebService.REQUEST_FAILED.LoginFailed",
                    "Invalid user name or password",
                )
            self.failed_logins.pop(username, None)
            token = str(uuid.uuid4())
            self.sessions[token] = _Session(expires=self.clock() + self.token_ttl)
        self.count_login("session/login", username)
        return json_response(200, {"sessionToken": token})

    def _logout(self, request: httpx.Request) -> httpx.Response:
        self._bearer(request)
        token, _ = self._session(request)
        with self.lock:
            self.sessions.pop(token, None)
        return json_response(200, {"sessionToken": token})

    # -- send -------------------------------------------------------------------------
    def _sms(self, request: httpx.Request) -> httpx.Response:
        self._bearer(request)
        token, session = self._session(request)
        body = _json_object(request)
        targets = _validate_sms(body)
        suffix = _first_magic(targets)
        if suffix == "0419" and session.uses > 0:
            with self.lock:
                self.sessions.pop(token, None)
            raise _session_expired()
        self._touch(session)
        if suffix == "0401":
            raise _invalid_bearer()
        if suffix == "0400":
            raise _error(
                "SMSService.REQUEST_FAILED.MessageRejected",
                "The SMS message was rejected for the requested devices",
            )
        if suffix == "0404":
            unknown = next(t for t in targets if t.endswith("0404"))
            raise _error(
                "DeviceService.REQUEST_FAILED.DeviceNotFound", f"Device {unknown} not found"
            )
        failure = failure_for(suffix) if suffix == "0429" else None  # before the message is taken
        if failure is not None:
            return failure
        request_id = str(uuid.uuid4())
        self._store(request_id, body)
        reply = json_response(200, {"requestId": request_id})
        # 0500, 0408 slow, 0444 dropped: after the message was taken
        return failure_for(suffix, reply) or reply

    def _store(self, request_id: str, body: Mapping[str, Any]) -> None:
        now = self.clock()
        common = {
            "requestId": request_id,
            "accountName": body.get("accountName"),
            "dataEncoding": body.get("dataEncoding", "7-bit"),
            "timeToLive": body.get("timeToLive"),
        }
        devices = body.get("deviceIds") or []
        for n, device in enumerate(devices, start=1):
            kind, value = str(device["kind"]).lower(), str(device["id"])
            self.remember(
                Stored(
                    id=f"{request_id}/{n}",
                    provider=self.slug,
                    target=f"{kind}:{value}",
                    text=str(body["smsMessage"]),
                    created=now,
                    outcome=self.outcome_for(value),
                    fields={**common, "deviceId": {"kind": kind, "id": value}},
                )
            )
        if not devices:
            chosen = {k: body[k] for k in ("groupName", "servicePlan", "customFields") if k in body}
            self.remember(
                Stored(
                    id=f"{request_id}/1",
                    provider=self.slug,
                    target=_selection_label(chosen),
                    text=str(body["smsMessage"]),
                    created=now,
                    outcome=self.outcome_for(_selection_label(chosen)),
                    fields={**common, **chosen},
                )
            )

    # -- the devices' replies: the SMS history queue ---------------------------------
    def received(self, reply: Stored) -> None:
        """Queue a device's reply for its account's ``GET /sms/{accountName}/history``.

        A reply to a group/service-plan/custom-field send is not queued: the sandbox stores
        such a send once, without its devices, and a history entry needs the device's id.
        """
        if not isinstance(reply.fields.get("deviceId"), dict):
            return
        account = reply.fields.get("accountName") or DEFAULT_ACCOUNT
        with self.lock:
            self.inbox[reply.id] = str(account)
            if len(self.inbox) > self.max_messages:
                # Bounded like the store: forget replies the store dropped, then the oldest.
                self.inbox = {k: a for k, a in self.inbox.items() if k in self.store}
                while len(self.inbox) > self.max_messages:
                    del self.inbox[next(iter(self.inbox))]

    def _history(self, request: httpx.Request, account: str) -> httpx.Response:
        """``GET /api/m2m/v1/sms/{accountName}/history[?next=<token>]``.

        As documented (Get_SMS_Messages page; ``sdks-io/verizon-apis-python-sdk``
        ``doc/controllers/sms.md`` and the models ``SMSMessagesQueryResult``, ``SMSMessage``,
        ``DeviceId``): ``{"messages": [{"deviceIds": [{"id", "kind"}], "message",
        "timestamp"}], "hasMoreData"}``; HTTP 202 with ``Location:
        /sms/{aname}/history?next={token}`` while more replies wait, else 200. Replies "remain
        in the queue until your application explicitly acknowledges that they were received
        by sending another request that contains the Token value from the response": asking
        with ``?next=<token>`` removes the page that token came with, then answers the next
        page; a request without it gets the unacknowledged replies again.

        UNCONFIRMED, and chosen so that every page can be acknowledged: the last page (200)
        carries a ``Location`` with a token too when it holds replies (the docs show the
        header only with 202, and without it the last page could never leave the queue); a
        token that was already used or is forgotten acknowledges nothing (so a retried
        request is harmless); a token that is not a whole number (the SDK types ``next`` as
        an integer) is refused with 400.
        """
        self._bearer(request)
        _, session = self._session(request)
        self._touch(session)
        token = request.url.params.get("next")
        if token is not None and not token.strip().isdecimal():
            raise _error(
                "UnifiedWebService.INPUT_INVALID.next",
                "next must be the token of the Location header of a previous response",
            )
        with self.lock:
            if token is not None:
                self._acknowledge(account, str(int(token)))
            queued: list[Stored] = []
            for reply_id, owner in list(self.inbox.items()):
                if owner != account:
                    continue
                stored = self.store.get(reply_id)
                if stored is None:
                    del self.inbox[reply_id]  # dropped from the bounded store
                    continue
                queued.append(stored)
                if len(queued) > HISTORY_PAGE_SIZE:
                    break
            page, more = queued[:HISTORY_PAGE_SIZE], len(queued) > HISTORY_PAGE_SIZE
            headers: dict[str, str] = {}
            if page:
                self._page_counter += 1
                new_token = str(self._page_counter)
                self.pages[new_token] = (account, tuple(m.id for m in page))
                while len(self.pages) > MAX_OPEN_PAGES:
                    del self.pages[next(iter(self.pages))]
                headers["Location"] = f"/sms/{quote(account, safe='')}/history?next={new_token}"
        body = {"messages": [_history_entry(m) for m in page], "hasMoreData": more}
        return json_response(202 if more else 200, body, headers)

    def _acknowledge(self, account: str, token: str) -> None:
        """Remove the replies of the page ``token`` came with (called with the lock held)."""
        owner, reply_ids = self.pages.get(token, ("", ()))
        if owner != account:
            return  # unknown, used, forgotten, or another account's page: nothing to remove
        del self.pages[token]
        for reply_id in reply_ids:
            self.inbox.pop(reply_id, None)

    # -- callbacks: registration (providers-thingspace-emnify.md §1.4) --------------------
    def _callbacks(self, request: httpx.Request, account: str) -> httpx.Response:
        """``POST /callbacks/{accountName}`` ``{"name", "url", "username"?, "password"?}``
        → ``{"accountName", "serviceName"}``; ``GET`` → the listeners registered by REST,
        ``[{"accountName", "serviceName", "url", "username", "password"}]`` (documented:
        the password comes back). A second registration of a service replaces the first
        (UNCONFIRMED: the docs do not say), and so do the error codes below (made up in the
        documented pattern)."""
        self._bearer(request)
        _, session = self._session(request)
        self._touch(session)
        if request.method == "GET":
            with self.lock:
                listed = [
                    {"accountName": a, "serviceName": n, **entry}
                    for (a, n), entry in self.callbacks.items()
                    if a == account
                ]
            return json_response(200, listed)
        body = _json_object(request)
        name, url = body.get("name"), body.get("url")
        if not isinstance(name, str) or not name:
            raise _unexpected("name (the callback service name) is required")
        if name not in SERVICE_NAMES:
            raise _error(
                "UnifiedWebService.INPUT_INVALID.ServiceName",
                f"unknown callback service {name!r}; one of {', '.join(SERVICE_NAMES)}",
            )
        if not isinstance(url, str) or not url:
            raise _unexpected("url is required")
        if valid_url(url) is None:
            raise _unexpected("url must be an http or https URL")
        entry: dict[str, str] = {"url": url}
        for key in ("username", "password"):
            value = body.get(key)
            if value is not None and not isinstance(value, str):
                raise _unexpected(f"{key} must be a string")
            if value:
                entry[key] = value
        # The documented port rule (80, 443, 9001-9006, 50551-50559, 28200-28220) is not
        # enforced: the sandbox pushes to any port, so a test can listen anywhere.
        with self.lock:
            self.callbacks[(account, name)] = entry
        return json_response(200, {"accountName": account, "serviceName": name})

    def _deregister(self, request: httpx.Request, account: str, name: str) -> httpx.Response:
        """``DELETE /callbacks/{accountName}/name/{serviceName}`` → ``{"accountName",
        "serviceName"}``; one not registered is refused (code UNCONFIRMED)."""
        self._bearer(request)
        _, session = self._session(request)
        self._touch(session)
        with self.lock:
            removed = self.callbacks.pop((account, name), None)
        if removed is None:
            raise _error(
                "UnifiedWebService.REQUEST_FAILED.CallbackNotFound",
                f"no {name} callback is registered for account {account}",
            )
        return json_response(200, {"accountName": account, "serviceName": name})

    # -- callbacks: the pushes ------------------------------------------------------------
    def pushes(self, event: str, message: Stored) -> list[Push]:
        """SMSDeliveryConfirmation when a device's message is final, EnhancedConnectivity-
        Service when it was handed to the device ("sent") and for each reply (the REST shape
        of an MO callback is UNCONFIRMED: the sandbox sends a history entry, see
        ``_history_entry``, plus the credentials). Messages sent to a group, service plan
        or custom field are stored without their devices, so they push nothing."""
        device = message.fields.get("deviceId")
        if not isinstance(device, dict):
            return []
        account = str(message.fields.get("accountName") or DEFAULT_ACCOUNT)
        service = DELIVERY_SERVICE if event == "final" else CONNECTIVITY_SERVICE
        with self.lock:
            entry = self.callbacks.get((account, service))
        if entry is None:
            return []
        credentials: dict[str, Any] = {k: entry[k] for k in ("username", "password") if k in entry}
        kind = _CALLBACK_KIND.get(device["kind"], device["kind"].capitalize())
        device_ids = [{"id": device["id"], "kind": kind}]
        data: dict[str, Any]
        if event == "mo":
            data = {**credentials, **_history_entry(message)}
        elif event == "sent":
            data = {
                **credentials,
                "requestId": message.fields.get("requestId"),
                "deviceIds": device_ids,
                "comment": "SendSmsMessage,Performed action on device.",
                "status": "Success",
                "callbackCount": 1,
                "maxCallbackThreshold": 4,
            }
        else:
            outcome = message.stage(self.clock())
            data = {
                **credentials,
                "requestId": message.fields.get("requestId"),
                "deviceIds": device_ids,
                "deviceResponse": {
                    "smsDeliveryResponse": {
                        "confirmation": _CONFIRMATION.get(outcome, "Undelivered")
                    }
                },
            }
        return [json_push(self.slug, f"{service}:{event}", entry["url"], data)]

    # -- auth checks ------------------------------------------------------------------
    def _bearer(self, request: httpx.Request) -> str:
        header = str(request.headers.get("authorization", ""))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _fault(
                401,
                "900902",
                "Missing Credentials",
                "Required OAuth credentials not provided. Make sure your API invocation call "
                'has a header: "Authorization: Bearer ACCESS_TOKEN"',
                BEARER_MISSING_CHALLENGE,
            )
        with self.lock:
            expires = self.bearers.get(token.strip())
        if expires is None or expires <= self.clock():
            raise _invalid_bearer()
        return token.strip()

    def _session(self, request: httpx.Request) -> tuple[str, _Session]:
        token = request.headers.get("vz-m2m-token", "").strip()
        if not token:
            raise _error(
                "UnifiedWebService.INPUT_INVALID.SessionToken.Missing",
                "The VZ-M2M-Token header is required",
            )
        with self.lock:
            session = self.sessions.get(token)
            if session is None or session.expires <= self.clock():
                self.sessions.pop(token, None)
                raise _session_expired()
        return token, session

    def _touch(self, session: _Session) -> None:
        with self.lock:
            session.uses += 1
            session.expires = self.clock() + self.token_ttl


def _history_entry(reply: Stored) -> dict[str, Any]:
    """One ``SMSMessage`` of the history: the device that sent it, its text, and when the
    platform received it, as the docs' example writes it ("2016-01-01T12:29:49-08:00")."""
    device = reply.fields["deviceId"]
    received = datetime.fromtimestamp(reply.created, UTC).isoformat(timespec="seconds")
    return {
        "deviceIds": [{"id": device["id"], "kind": device["kind"]}],
        "message": reply.text,
        "timestamp": received,
    }


def _selection_label(chosen: Mapping[str, Any]) -> str:
    parts = [f"{k}={chosen[k]}" for k in ("groupName", "servicePlan") if k in chosen]
    parts += [f"{f['key']}={f['value']}" for f in chosen.get("customFields") or []]
    return "selection:" + ";".join(parts)


def _invalid_bearer() -> _Reply:
    """The API gateway's answer to a missing, unknown or expired OAuth2 bearer."""
    return _fault(
        401,
        "900901",
        "Invalid Credentials",
        "Access failure for API: /m2m/v1, version: v1. Make sure you have given the "
        "correct access token",
        BEARER_CHALLENGE,
    )


def _session_expired() -> _Reply:
    """A dead VZ-M2M session. UNCONFIRMED, made up: the code and HTTP 400 (reference §1.5:
    "the exact code for an expired or invalid VZ-M2M-Token" is unknown); the message is the
    wording other Verizon APIs use. smscli's client therefore reads the wording, not this
    code, and also takes the plausible alternatives (``providers.thingspace.is_session_error``)."""
    return _error(
        "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired", "The Session has expired."
    )


def _basic(request: httpx.Request) -> tuple[str, str]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise _fault(
            401,
            "900902",
            "Missing Credentials",
            "Required OAuth credentials not provided. Make sure your API invocation call has "
            'a header: "Authorization: Basic ACCESS_TOKEN"',
            BASIC_CHALLENGE,
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _oauth_error(401, "invalid_client", "Client Authentication failed.") from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon or not client_id or not client_secret:
        raise _oauth_error(401, "invalid_client", "Client Authentication failed.")
    return client_id, client_secret


def _json_object(request: httpx.Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("application/json"):
        raise _error(
            "UnifiedWebService.DeserializationFailed", "Content-Type must be application/json"
        )
    if not request.content.strip():
        raise _error("UnifiedWebService.INPUT_INVALID.RequestUndefined", "Request cannot be blank")
    try:
        body = json.loads(request.content)
    except ValueError:
        raise _error(
            "UnifiedWebService.DeserializationFailed", "The request body is not valid JSON"
        ) from None
    if not isinstance(body, dict):
        raise _error(
            "UnifiedWebService.DeserializationFailed", "The request body must be a JSON object"
        )
    return body


def _validate_sms(body: Mapping[str, Any]) -> list[str]:
    """Check a send body as the docs describe it; return every target-like value."""
    devices = body.get("deviceIds")
    chosen = [k for k in ("groupName", "servicePlan", "customFields") if body.get(k) is not None]
    if devices is not None and chosen:
        raise _unexpected(f"deviceIds cannot be combined with {', '.join(chosen)}")
    if devices is None and not chosen:
        raise _unexpected("deviceIds, or groupName, servicePlan or customFields, is required")
    for name in ("accountName", "groupName", "servicePlan"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise _unexpected(f"{name} must be a non-empty string")
    # timeToLive's format is UNCONFIRMED; the sandbox holds it to the only constraint an SDK
    # declared for it (3-32 letters and digits), which an ISO 8601 duration meets.
    ttl = body.get("timeToLive")
    if ttl is not None and (not isinstance(ttl, str) or not _TIME_TO_LIVE.fullmatch(ttl)):
        raise _unexpected("timeToLive must be 3-32 letters and digits")
    values = _validate_devices(devices) if devices is not None else []
    values += [str(body[k]) for k in ("groupName", "servicePlan") if k in chosen]
    if "customFields" in chosen:
        values += _validate_custom_fields(body["customFields"])
    _validate_message(body)
    return values


def _validate_devices(devices: Any) -> list[str]:
    if not isinstance(devices, list) or not devices:
        raise _unexpected("deviceIds must be a non-empty array")
    if len(devices) > MAX_DEVICES:
        raise _unexpected(f"at most {MAX_DEVICES} deviceIds per request")
    values: list[str] = []
    for device in devices:
        if not isinstance(device, dict):
            raise _unexpected("each deviceIds item must be an object with kind and id")
        kind, value = device.get("kind"), device.get("id")
        if not isinstance(kind, str) or not isinstance(value, str):
            raise _unexpected("deviceIds kind and id are required strings")
        # Whether the server takes other casings than the documented lower case is
        # UNCONFIRMED; the sandbox accepts any, as callbacks use "Iccid".
        form = _ID_FORMS.get(kind.lower())
        if form is None:
            raise _unexpected(f"invalid device identifier kind {kind!r}")
        if not form.fullmatch(value):
            raise _unexpected(f"invalid {kind.lower()} {value!r}")
        values.append(value)
    return values


def _validate_custom_fields(fields: Any) -> list[str]:
    if not isinstance(fields, list) or not fields:
        raise _unexpected("customFields must be a non-empty array")
    values: list[str] = []
    for field in fields:
        key = field.get("key") if isinstance(field, dict) else None
        value = field.get("value") if isinstance(field, dict) else None
        if key not in CUSTOM_FIELD_KEYS:
            raise _error(
                "DeviceService.INPUT_INVALID.CustomField.InvalidName",
                f"Invalid custom field name {key!r}; valid names are CustomField1 to CustomField5",
            )
        if not isinstance(value, str) or not value:
            raise _unexpected(f"customFields {key} needs a string value")
        values.append(value)
    return values


def _validate_message(body: Mapping[str, Any]) -> None:
    encoding = body.get("dataEncoding", "7-bit")
    if encoding not in DATA_ENCODINGS:
        raise _unexpected(f"dataEncoding must be one of {', '.join(DATA_ENCODINGS)}")
    text = body.get("smsMessage")
    if not isinstance(text, str) or not text:
        raise _unexpected("smsMessage is required")
    # "limited to 160 characters in 7-bit format, or 140 characters in 8-bit format"; what
    # the server does past that is UNCONFIRMED, so the sandbox refuses.
    if encoding == "7-bit" and len(text) > 160:
        raise _unexpected("smsMessage is limited to 160 characters in 7-bit format")
    if encoding == "8-bit-ASCII" and (not text.isascii() or len(text) > 140):
        raise _unexpected("smsMessage is limited to 140 ASCII characters in 8-bit-ASCII format")
    if encoding == "8-bit-UTF-8" and len(text.encode("utf-8")) > 140:
        raise _unexpected("smsMessage is limited to 140 bytes in 8-bit-UTF-8 format")
    # The representation of 8-bit-DATA is UNCONFIRMED; the sandbox expects hex (smscli's).
    if encoding == "8-bit-DATA" and (not _HEX.fullmatch(text) or len(text) > 280):
        raise _unexpected("smsMessage must be at most 140 bytes of hex in 8-bit-DATA format")


def _first_magic(values: list[str]) -> str | None:
    for value in values:
        suffix = magic(value)
        if suffix in MAGIC and suffix not in ("0410", "0411"):
            return suffix
    return None
