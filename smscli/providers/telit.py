"""Telit IoT Portal / deviceWISE Cloud: TR50 JSON over HTTP, command ``sms.send``.

One module on purpose (~600 lines): the TR50 vocabulary, credentials, command builders
and the reply parsers (errors sit at two levels of one reply) read best together; the
``Telit`` class at the end only sequences them.

- Docs: https://docs.devicewise.com/Content/Products/IoT_Portal_API_Reference_Guide/APIs/SMS/sms.send.htm
  (seed 000), ``sms.status``, ``session.end`` and the authentication page of the same guide;
  researched facts in reference/providers-telit-csl-fonedynamics.md §1 and §4 ([T1]–[T15]).
- Endpoint: ``POST <base_url>/api`` (default ``https://api.devicewise.com/api``), one JSON
  object per request: every key except ``auth`` is a command id chosen by the client, and the
  reply answers under the same keys [T3][WR2]. We use ``"auth"`` for the login and ``"1"`` for
  the one command of a request, as the docs' examples do.
- Auth: ``{"auth": {"command": "api.authenticate", "params": {"username", "password"}}}`` or
  ``{"appId", "appToken", "thingKey"}`` → ``auth.params.sessionId``; every later request
  carries ``{"auth": {"sessionId": …}}``. The sessionId is cached for ``SESSION_TTL`` (the
  ``ttl`` that ``session.info`` shows [T5]); whether it slides with use is UNCONFIRMED, so we
  treat it as fixed from the login, which at worst logs in earlier than needed. A session
  error leads to one re-login and one retry; a refused login is final (accounts lock [T2]).
  How Telit says "session expired" is UNCONFIRMED: the code -90004 (the sandbox's invention)
  or session/authentication words in the message both count (``SESSION_CODES``).
- Body: ``sms.send`` params = one identifier (``thingKey``/``esn``/``iccid``/``imei``/``imsi``/
  ``meid``/``msisdn``), ``message``, ``coding`` (``SEVEN_BIT``/``EIGHT_BIT`` with hex/``UCS2``),
  ``trim``, ``from``, ``validity`` (integer seconds), ``smsc`` (external SMS).
- Replies: ``{"1": {"success": true, "params": {"id", "uuid", "preferredSmsc", "dateSent"}}}``.
  Errors come inside an HTTP 200 body, per command (``{"1": {"success": false, "errorCodes":
  [-22], "errorMessages": ["…"]}}``) or at the top level of the reply ([T3]; when the latter
  happens is UNCONFIRMED), so both levels are checked.

Where the command line sets each field (the shared options are added by the command factory):
identifier ← ``--to KIND:VALUE`` (``thing`` → ``thingKey``, the other kinds keep their name),
``message`` ← TEXT, ``coding`` ← ``--encoding``/``--hex``/``--base64`` (the message check),
``from`` ← ``--from``, ``validity`` ← ``--validity``, ``trim`` ← ``--trim/--no-trim``
(``Message.extra["trim"]``), ``smsc`` ← the profile field ``smsc`` (``--smsc``,
``SMSCLI_TELIT_SMSC`` or the profile), sent for msisdn targets only.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from smscli.catalog.telit import INFO
from smscli.errors import (
    ConfigError,
    InputError,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    SessionExpired,
    SmscliError,
)
from smscli.models import (
    Encoding,
    Message,
    MessageCheck,
    Reconciled,
    Reply,
    Request,
    Response,
    SendLookup,
    SendResult,
    Status,
    StatusReport,
    Target,
)
from smscli.providers.base import (
    WRONG_PATH_STATUSES,
    Provider,
    Session,
    expect_dict,
    iso_from_epoch,
    iso_from_text,
    json_body,
    login_refused,
    raise_for_transport_status,
    snippet,
    with_reauth,
    wrong_path,
)

T = TypeVar("T")

LABEL: Final = "Telit"
API_PATH: Final = "/api"
AUTH_ID: Final = "auth"
COMMAND_ID: Final = "1"
TOKEN_NAME: Final = "sessionId"
SESSION_TTL: Final = 86_400.0  # session.info example "ttl": 86400 [T5]
MFA_REQUIRED: Final = "-90041"  # the password was right, a TOTP is also needed [T2]
PLACEHOLDER: Final = "***"  # where a sessionId obtained at run time goes in --dry-run

# Target kind → sms.send identifier parameter [T1].
IDENTIFIERS: Final[Mapping[str, str]] = {
    "thing": "thingKey",
    "esn": "esn",
    "iccid": "iccid",
    "imei": "imei",
    "imsi": "imsi",
    "meid": "meid",
    "msisdn": "msisdn",
}
CODINGS: Final[Mapping[Encoding, str]] = {
    Encoding.GSM7: "SEVEN_BIT",
    Encoding.UCS2: "UCS2",
    Encoding.BINARY: "EIGHT_BIT",
}

# The error code(s) and text for an invalid or expired session are UNCONFIRMED [§1.3.6]; the
# reference suggests re-authenticating on any failure, which would re-send every refused
# message. We recognise a session error by either of two signs and bound the cost: a freshly
# issued session that is refused again is a final refusal (see Telit._authed).
# - The code -90004: what smscli's sandbox answers ("Session is invalid or has expired;
#   authenticate again"), an invention of the sandbox, not a documented Telit code
#   (UNCONFIRMED). Telit's own codes are negative numbers in the -90000s (-90041 [T2]).
# - The words of the message, leniently and case-insensitively: "session" in any form
#   ("Invalid session", "SESSION EXPIRED", "Unknown sessionId"), not (or no longer)
#   authenticated or logged in, an expired or invalid token or authorisation.
SESSION_CODES: Final = frozenset({"-90004"})
_SESSION_WORDS: Final = re.compile(
    r"session|not\s+authenticated|unauthenticated|authenticat\w*\s+required|"
    r"(must|please)\s+(re-?)?(authenticate|log\s*in)|re-?authenticate|"
    r"not\s+logged\s+in|log\s*in\s+(is\s+)?required|unauthori[sz]ed|"
    r"authori[sz]ation\s+(failed|required|expired)|invalid\s+token|"
    r"token\s+(is\s+|has\s+)?(expired|invalid|revoked)|expired\s+token",
    re.IGNORECASE,
)
_NOT_FOUND: Final = re.compile(r"not\s+found|does\s+not\s+exist|no\s+such", re.IGNORECASE)

# sms.status values: only "delivered"/"DELIVERED" is documented [T7]; the rest of the list is
# UNCONFIRMED, so common SMS-engine words are mapped too, compared case-insensitively.
_STATUS_WORDS: Final[Mapping[str, Status]] = {
    "accepted": Status.ACCEPTED,
    "new": Status.ACCEPTED,
    "received": Status.ACCEPTED,
    "pending": Status.QUEUED,
    "queued": Status.QUEUED,
    "scheduled": Status.QUEUED,
    "buffered": Status.QUEUED,
    "retrying": Status.QUEUED,
    "sent": Status.SENT,
    "submitted": Status.SENT,
    "enroute": Status.SENT,
    "delivered": Status.DELIVERED,
    "failed": Status.FAILED,
    "failure": Status.FAILED,
    "undelivered": Status.FAILED,
    "undeliverable": Status.FAILED,
    "error": Status.FAILED,
    "expired": Status.EXPIRED,
    "rejected": Status.REJECTED,
    "canceled": Status.REJECTED,
    "cancelled": Status.REJECTED,
    "deleted": Status.REJECTED,
}


# -- credentials ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    """One of the two documented api.authenticate parameter sets."""

    params: Mapping[str, str] = field(repr=False)  # holds a password or appToken

    @classmethod
    def user(cls, username: str, password: str) -> Credentials:
        return cls({"username": username, "password": password})

    @classmethod
    def application(cls, app_id: str, app_token: str, thing_key: str) -> Credentials:
        return cls({"appId": app_id, "appToken": app_token, "thingKey": thing_key})


def credentials_from(values: Mapping[str, str]) -> Credentials:
    """The application set when it is complete (Telit's sample prefers it [T3]), else the
    user set; ConfigError naming what is missing when neither is complete."""
    app = [values.get(k) or "" for k in ("app_id", "app_token", "thing_key")]
    if all(app):
        return Credentials.application(*app)
    username, password = values.get("username") or "", values.get("password") or ""
    if username and password:
        return Credentials.user(username, password)
    user_set, app_set = ("username", "password"), ("app_id", "app_token", "thing_key")
    started = app_set if any(values.get(k) for k in app_set) else user_set
    missing = ", ".join(k for k in started if not values.get(k))
    raise ConfigError(
        f"telit needs username and password, or app_id, app_token and thing_key; missing {missing}",
        hint="set them in the profile, as SMSCLI_TELIT_<FIELD> env vars or as flags",
        code="credential_missing",
    )


# -- builders ---------------------------------------------------------------------------


def api_url(base_url: str) -> str:
    return base_url.rstrip("/") + API_PATH


def _post(base_url: str, body: dict[str, Any]) -> Request:
    # The Node lib posts JSON via axios [T4]; the Python sample sets no content type [T3].
    return Request(
        method="POST",
        url=api_url(base_url),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        json=body,
    )


def command_request(
    base_url: str, session_id: str, command: str, params: Mapping[str, Any] | None = None
) -> Request:
    """One TR50 command under id "1", authenticated by ``session_id``."""
    entry: dict[str, Any] = {"command": command}
    if params is not None:  # TR50 leaves out "params" when a command takes none [WR2]
        entry["params"] = dict(params)
    return _post(base_url, {AUTH_ID: {"sessionId": session_id}, COMMAND_ID: entry})


def login_request(base_url: str, credentials: Credentials) -> Request:
    """api.authenticate alone in the auth slot, as Telit's Python sample sends it [T3]."""
    return _post(
        base_url,
        {AUTH_ID: {"command": "api.authenticate", "params": dict(credentials.params)}},
    )


def identifier(target: Target) -> tuple[str, str]:
    """The sms.send parameter naming the connection, and its value."""
    try:
        name = IDENTIFIERS[target.kind]
    except KeyError:
        raise InputError(
            f"telit cannot address a {target.kind} target ({target})",
            hint="kinds: " + ", ".join(IDENTIFIERS),
            code="unsupported_target",
        ) from None
    value = target.value
    if name == "msisdn":
        # The docs' examples are digits only ("808203508039380", "5615043452"); whether "+"
        # is accepted is UNCONFIRMED, so the E.164 "+" is dropped.
        value = value.removeprefix("+")
    return name, value


def coding(check: MessageCheck) -> str:
    return CODINGS[check.encoding]


def message_payload(check: MessageCheck) -> str:
    """Text for SEVEN_BIT and UCS2; hex for EIGHT_BIT ("must be in hexadecimal format").

    UCS2 goes as plain text: the docs only call it "16 bit data" and ask for hex for EIGHT_BIT
    alone (UNCONFIRMED). Hex is lower case, like the docs' example.
    """
    if check.encoding is Encoding.BINARY:
        return check.data.hex() if check.data is not None else check.text.lower()
    return check.text


def send_params(target: Target, message: Message, *, smsc: str | None) -> dict[str, Any]:
    """Every sms.send parameter [T1], in the order of the docs' table."""
    name, value = identifier(target)
    params: dict[str, Any] = {name: value}
    if smsc and target.kind == "msisdn":
        params["smsc"] = smsc
    params["message"] = message_payload(message.check)
    trim = message.extra.get("trim")
    if trim is not None:  # the API default is true; only an explicit choice is sent
        params["trim"] = bool(trim)
    params["coding"] = coding(message.check)
    if message.sender:
        # The catalog's sender rule gives a number as E.164; it goes without "+" as the
        # msisdn identifier does (the docs' example is "8009876543"; "+" is UNCONFIRMED).
        params["from"] = message.sender.removeprefix("+")
    if message.validity_seconds is not None:
        params["validity"] = int(message.validity_seconds)
    return params


def send_request(
    base_url: str, session_id: str, target: Target, message: Message, *, smsc: str | None
) -> Request:
    return command_request(
        base_url, session_id, "sms.send", send_params(target, message, smsc=smsc)
    )


def status_request(
    base_url: str, session_id: str, *, message_id: str | None = None, uuid: str | None = None
) -> Request:
    """sms.status by ``id`` (one SMS record) or, failing that, ``uuid`` [T7]."""
    if message_id:
        params = {"id": message_id}
    elif uuid:
        params = {"uuid": uuid}
    else:
        raise InputError("telit status needs the message id or uuid", code="missing_id")
    return command_request(base_url, session_id, "sms.status", params)


def logout_request(base_url: str, session_id: str) -> Request:
    """session.end without params ends the current session [T6]."""
    return command_request(base_url, session_id, "session.end")


# -- parsers ----------------------------------------------------------------------------


class TelitSessionError(SessionExpired):
    """A reply that says the session is not (or no longer) valid; carries the refusal to
    raise if a session that was just issued is refused the same way."""

    def __init__(self, refusal: ProviderRefused) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class Sent:
    """What sms.send answered."""

    message_id: str | None
    uuid: str | None
    preferred_smsc: str | None
    date: str | None
    params: Mapping[str, Any] = field(default_factory=dict)


def parse_login(response: Response) -> str:
    """The sessionId of an api.authenticate reply; LoginRefused when it says no."""
    if response.status_code in WRONG_PATH_STATUSES:
        # TR50 answers every command, refusals included, in an HTTP 200 [T3]: a 404 or 405
        # comes from something else at that address.
        raise wrong_path(INFO, response, "the login")
    try:
        params = _command_params(response, AUTH_ID, "api.authenticate", sends_message=False)
    except TelitSessionError as exc:
        raise _login_refusal(exc.refusal) from None
    except ProviderRefused as exc:
        raise _login_refusal(exc) from None
    session_id = _text(params.get("sessionId"))
    if not session_id:
        raise ProviderUnavailable(
            f"{LABEL} accepted the login but sent no sessionId; nothing was sent",
            code="bad_reply",
        )
    return session_id


def _login_refusal(exc: ProviderRefused) -> LoginRefused:
    detail = exc.message.split(": ", 1)[-1]
    if exc.provider_code and MFA_REQUIRED in exc.provider_code.split(","):
        return LoginRefused(
            f"{LABEL} refused the login: multi-factor authentication is required ({detail})",
            hint="log in with application credentials (app_id, app_token, thing_key)",
            provider_code=exc.provider_code,
        )
    return login_refused(LABEL, detail, exc.provider_code)


def parse_send(response: Response) -> Sent:
    """The ids and date of an sms.send reply ("success is returned even for a partial
    success" [T1]); ProviderRefused / TelitSessionError / OutcomeUnknown otherwise."""
    params = _command_params(response, COMMAND_ID, "sms.send", sends_message=True)
    return Sent(
        message_id=_text(params.get("id")),
        uuid=_text(params.get("uuid")),
        preferred_smsc=_text(params.get("preferredSmsc")),
        date=_date(params.get("dateSent")),
        params=params,
    )


def parse_status(response: Response) -> StatusReport:
    """sms.status params (``status``, ``statusRaw``, ``dateSent``, ``preferredSmsc`` [T7])."""
    params = _command_params(response, COMMAND_ID, "sms.status", sends_message=False)
    words = [_text(params.get(k)) for k in ("status", "statusRaw")]
    status = next(
        (_STATUS_WORDS[w.lower()] for w in words if w and w.lower() in _STATUS_WORDS),
        Status.UNKNOWN,
    )
    raw, plain = _text(params.get("statusRaw")), _text(params.get("status"))
    details: dict[str, Any] = {
        k: params[k] for k in ("status", "statusRaw", "preferredSmsc", "id", "uuid") if k in params
    }
    return StatusReport(
        status=status,
        provider_status=raw or plain,
        date=_date(params.get("dateSent")),
        details=details,
    )


def match_history(params: Mapping[str, Any], text: str) -> Reconciled:
    """sms.history's reply: ``{"count", "result": [...]}`` (the shape is UNCONFIRMED: the
    docs' copy was cut off; ``records`` or a bare list read too). Complete when ``count``
    is not larger than what came back."""
    items = params.get("result", params.get("records"))
    if not isinstance(items, list):
        return Reconciled(Status.UNKNOWN, reason="sms.history's reply is unreadable")
    count = params.get("count")
    complete = not isinstance(count, int) or count <= len(items)
    found = [expect_dict(i) for i in items]
    found = [i for i in found if i.get("message") == text
             and str(i.get("direction") or "mt").lower() == "mt"]  # fmt: skip
    ids = {str(i.get("id")) for i in found if i.get("id")}
    if len(ids) == 1:
        return Reconciled(Status.ACCEPTED, ids.pop(), reason="found by sms.history",
                          details={"uuid": found[0].get("uuid")})  # fmt: skip
    if found:
        return Reconciled(Status.UNKNOWN, reason=f"{len(found)} matching messages: cannot tell")
    if not complete:
        return Reconciled(Status.UNKNOWN, reason="sms.history is incomplete: cannot tell")
    return Reconciled(Status.NOT_SENT, reason="not in the connection's sms.history")


def parse_logout(response: Response) -> None:
    _command_params(response, COMMAND_ID, "session.end", sends_message=False)


def _command_params(
    response: Response, cmd_id: str, command: str, *, sends_message: bool
) -> dict[str, Any]:
    """The ``params`` of a successful command reply, or the matching exception.

    Failures are looked for at the top level of the reply and in the command's entry.
    """
    raise_for_transport_status(response, label=LABEL, sends_message=sends_message)
    body = json_body(response)
    body = body if isinstance(body, dict) else {}
    if _flag(body.get("success")) is False or (
        body.get("success") is None and cmd_id not in body and _has_errors(body)
    ):
        raise _failure(command, body)
    entry = _entry(body, cmd_id)
    ok = _flag(entry.get("success")) if entry is not None else None
    if entry is not None and (ok is False or (ok is None and _has_errors(entry))):
        raise _failure(command, entry)
    params = entry.get("params") if entry is not None else None
    if ok is True or isinstance(params, dict):
        return dict(params) if isinstance(params, dict) else {}
    # No TR50 answer in the body: what the HTTP status says, then "unreadable".
    if response.status_code == 401:  # whether TR50 ever uses 401 is UNCONFIRMED
        raise TelitSessionError(_http_refusal(response, command))
    if 400 <= response.status_code < 500:
        raise _http_refusal(response, command)
    raise _unreadable(response, command, sends_message)


def _entry(body: dict[str, Any], cmd_id: str) -> dict[str, Any] | None:
    entry = body.get(cmd_id)
    if isinstance(entry, dict):
        return entry
    # Lenient: a server that renames the one command id ("cmd", "data") still answers it.
    others = [v for k, v in body.items() if k != AUTH_ID and isinstance(v, dict)]
    return others[0] if cmd_id != AUTH_ID and len(others) == 1 else None


def _failure(command: str, entry: Mapping[str, Any]) -> ProviderRefused | TelitSessionError:
    # errorCodes/errorMessages are lists [WR2][T14]; the 2012 dialect used singular keys.
    codes = _strings(entry.get("errorCodes", entry.get("errorCode")))
    messages = _strings(entry.get("errorMessages", entry.get("errorMessage")))
    return _session_or_refusal(command, codes, messages)


def _session_or_refusal(
    command: str, codes: Sequence[str], messages: Sequence[str]
) -> ProviderRefused | TelitSessionError:
    text = _one_line("; ".join(messages)) or "no error message"
    shown = f" (error {', '.join(codes)})" if codes else ""
    refusal = ProviderRefused(
        f"{LABEL} refused {command}: {text}{shown}",
        code="unknown_target" if _NOT_FOUND.search(text) else None,
        provider_code=",".join(codes) or None,
    )
    if SESSION_CODES.intersection(codes) or _SESSION_WORDS.search(text):
        return TelitSessionError(refusal)
    return refusal


def _http_refusal(response: Response, command: str) -> ProviderRefused:
    return ProviderRefused(
        f"{LABEL} refused {command}: HTTP {response.status_code} ({snippet(response)})",
        provider_code=str(response.status_code),
    )


def _unreadable(response: Response, command: str, sends_message: bool) -> SmscliError:
    what = f"{LABEL} answered {command} with HTTP {response.status_code} and {snippet(response)}"
    if sends_message:
        return OutcomeUnknown(
            f"{what}; the message may have been sent",
            hint="check `smscli status --last` or `smscli log` before re-running",
            code="unreadable_reply",
        )
    return ProviderUnavailable(f"{what}; nothing was sent", code="unreadable_reply")


def _flag(value: Any) -> bool | None:
    """TR50's ``success`` as a bool; lenient about "true"/"false" strings and 0/1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _has_errors(entry: Mapping[str, Any]) -> bool:
    keys = ("errorCodes", "errorMessages", "errorCode", "errorMessage")
    return any(entry.get(k) not in (None, [], "") for k in keys)


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [_one_line(str(v)) for v in items if v not in (None, "")]


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _date(value: Any) -> str | None:
    """dateSent is ISO 8601 with an offset in the docs; epoch numbers are accepted too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return iso_from_epoch(value / 1000 if value > 1e11 else value)
    if isinstance(value, str) and value.strip().isdigit():
        return _date(int(value.strip()))
    return iso_from_text(value)


# -- replies (sms.history, direction "mo") ----------------------------------------------

HISTORY_PAGE: Final = 500  # records per sms.history call (its documented limit/offset paging)
MAX_HISTORY_PAGES: Final = 100  # a bound: 50 000 replies per run


def history_request(
    base_url: str, session_id: str, *, since: float | None, target: Target | None, offset: int
) -> Request:
    """sms.history of the device replies (``"direction": "mo"``), oldest first, from
    ``since`` (``start``, ISO 8601) and of one connection (its identifier) or the whole
    organisation (after-the-send.md §1.2)."""
    params: dict[str, Any] = {"direction": "mo", "sort": "dateSent", "offset": offset,
                              "limit": HISTORY_PAGE}  # fmt: skip
    if since is not None:
        params["start"] = iso_from_epoch(since)
    if target is not None:
        name, value = identifier(target)
        params[name] = value
    return command_request(base_url, session_id, "sms.history", params)


_KIND_OF: Final[Mapping[str, str]] = {v: k for k, v in IDENTIFIERS.items()}


def parse_history(
    response: Response, since: float | None, profile: str | None
) -> tuple[list[Reply], int]:
    """The replies of one sms.history page, and how many records the page held.

    UNCONFIRMED (the docs' copy was cut off before the reply): the records are read from
    ``params.result`` (as session.list answers), else ``records``/``data``/``list``; each
    record's ``id``, ``message`` (or ``content``/``text``), ``dateSent`` (or
    ``dateReceived``/``date``) and the connection's identifier (``msisdn``, ``iccid``, …).
    Records whose ``direction`` says something other than "mo" are left out."""
    params = _command_params(response, COMMAND_ID, "sms.history", sends_message=False)
    records: Any = next(
        (
            params[k]
            for k in ("result", "records", "data", "list")
            if isinstance(params.get(k), list)
        ),
        [],
    )
    replies: list[Reply] = []
    for item in records:
        if not isinstance(item, dict):
            continue
        direction = _text(item.get("direction"))
        if direction is not None and direction.lower() != "mo":
            continue
        reply_id = _text(item.get("id")) or _text(item.get("uuid"))
        date = _date(item.get("dateSent") or item.get("dateReceived") or item.get("date"))
        if reply_id is None:
            continue
        if since is not None and date is not None and date < (iso_from_epoch(since) or ""):
            continue
        sender = next(
            (f"{kind}:{_text(item[name])}" for name, kind in _KIND_OF.items()
             if _text(item.get(name))),
            "unknown:",
        )  # fmt: skip
        text = _text(item.get("message")) or _text(item.get("content")) or _text(item.get("text"))
        replies.append(
            Reply(
                provider=INFO.slug,
                reply_id=reply_id,
                sender=sender,
                text=text or "",
                date=date,
                profile=profile,
            )
        )
    return replies, len(records)


# -- the provider -----------------------------------------------------------------------


class Telit(Provider):
    """sms.send through the Telit IoT Portal (TR50)."""

    info = INFO
    callbacks_elsewhere = (
        "Push SMS is a trigger made in the Telit portal (event sms.activity, action "
        "http.client POST to URL/telit?token=<callback_secret>); `smscli listen "
        "--telit-template` prints the body to paste"
    )

    def _smsc(self, message: Message) -> str | None:
        return str(self.settings.get("smsc") or "").strip() or None

    def check_message(self, message: Message, targets: Sequence[Target]) -> None:
        # A profile's smsc serves its msisdn targets and is ignored for the others; asked
        # for on the command line, it must not be dropped silently (SPEC §2).
        if "smsc" in self.settings.from_flags and not any(t.kind == "msisdn" for t in targets):
            raise InputError(
                "--smsc is for external SMS to a phone number; no target is an msisdn",
                hint="drop --smsc, or send to msisdn:NUMBER",
                code="option_unsupported",
            )
        if message.validity_seconds is not None and message.validity_seconds <= 0:
            raise InputError("--validity must be at least one second", code="invalid_validity")
        for target in targets:
            identifier(target)

    def dry_run(self, message: Message, targets: Sequence[Target]) -> list[Request]:
        login = login_request(self.base_url, credentials_from(self.settings.values))
        smsc = self._smsc(message)
        sends = [send_request(self.base_url, PLACEHOLDER, t, message, smsc=smsc) for t in targets]
        return [login, *sends]

    def send(
        self, session: Session, message: Message, targets: Sequence[Target]
    ) -> list[SendResult]:
        smsc = self._smsc(message)
        results = []
        for target in targets:

            def attempt(session_id: str, target: Target = target) -> Sent:
                request = send_request(self.base_url, session_id, target, message, smsc=smsc)
                return parse_send(session.call(request, sends_message=True))

            sent = self._authed(session, attempt)
            details = {"preferredSmsc": sent.preferred_smsc} if sent.preferred_smsc else {}
            results.append(
                self.result(
                    target,
                    Status.ACCEPTED,
                    message,
                    message_id=sent.message_id,
                    uuid=sent.uuid,
                    date=sent.date,
                    details=details,
                )
            )
        return results

    def status(self, session: Session, record: Mapping[str, Any]) -> StatusReport:
        details = record.get("details")
        message_id = _text(record.get("message_id"))
        uuid = _text(record.get("uuid"))
        if uuid is None and isinstance(details, dict):
            uuid = _text(details.get("uuid"))
        if not (message_id or uuid):
            raise InputError("this telit message has no id or uuid to look up", code="missing_id")

        def attempt(session_id: str) -> StatusReport:
            request = status_request(self.base_url, session_id, message_id=message_id, uuid=uuid)
            return parse_status(session.call(request))

        return self._authed(session, attempt)

    def reconcile(self, session: Session, lookup: SendLookup) -> Reconciled:
        """``sms.history`` (direction mt) of the target's connection over the row's window,
        filtered by content; the exact text decides."""
        if lookup.text is None:
            return Reconciled(Status.UNKNOWN, reason="the history keeps no text to match")
        kind, _, value = str(lookup.record.get("target") or "").partition(":")
        name, ident = identifier(Target(kind, value))
        params = {
            name: ident,
            "direction": "mt",
            "content": lookup.text,
            "start": iso_from_epoch(lookup.start),
            "end": iso_from_epoch(lookup.end),
        }

        def attempt(session_id: str) -> Reconciled:
            request = command_request(self.base_url, session_id, "sms.history", params)
            response = session.call(request)
            reply = _command_params(response, COMMAND_ID, "sms.history", sends_message=False)
            return match_history(reply, lookup.text or "")

        return self._authed(session, attempt)

    def inbox(
        self, session: Session, since: float | None, senders: Sequence[Target]
    ) -> Iterator[list[Reply]]:
        """sms.history with direction "mo": one connection per call (the API takes one
        identifier), or the whole organisation without senders; paged by offset/limit."""
        which: list[Target | None] = [*senders] or [None]
        for target in which:
            for page in range(MAX_HISTORY_PAGES):

                def attempt(
                    session_id: str, page: int = page, target: Target | None = target
                ) -> tuple[list[Reply], int]:
                    request = history_request(
                        self.base_url, session_id, since=since, target=target,
                        offset=page * HISTORY_PAGE,
                    )  # fmt: skip
                    return parse_history(session.call(request), since, self.settings.profile)

                replies, count = self._authed(session, attempt)
                yield replies
                if count < HISTORY_PAGE:
                    break

    def login(self, session: Session) -> None:
        self._login(session)

    def logout(self, session: Session) -> None:
        session_id = session.tokens.get(TOKEN_NAME)
        if session_id:
            session.add_secret(session_id)
            # Best effort: the cache is cleared whatever the server says.
            with contextlib.suppress(SmscliError, SessionExpired):
                parse_logout(session.call(logout_request(self.base_url, session_id)))
        session.tokens.clear()

    # -- helpers ------------------------------------------------------------------------
    def _login(self, session: Session) -> str:
        request = login_request(self.base_url, credentials_from(self.settings.values))
        session_id = parse_login(session.call(request))
        session.add_secret(session_id)
        session.tokens.set(TOKEN_NAME, session_id, expires_at=session.now() + SESSION_TTL)
        return session_id

    def _authed(self, session: Session, attempt: Callable[[str], T]) -> T:
        """Cached session or a login; a session error → one re-login and one retry.

        A session error on a session this very call just obtained is final, and shows the
        provider's own words (with_reauth alone would say only "refused a fresh session").
        """
        fresh: set[str] = set()

        def login() -> str:
            session_id = self._login(session)
            fresh.add(session_id)
            return session_id

        def guarded(session_id: str) -> T:
            try:
                return attempt(session_id)
            except TelitSessionError as exc:
                if session_id in fresh:
                    raise exc.refusal from None
                raise

        return with_reauth(session, TOKEN_NAME, login, guarded, label=self.label)
