"""Verizon ThingSpace Connectivity Management: ``POST /api/m2m/v1/sms``.

One module on purpose (~700 lines): the three steps of the conversation (OAuth token,
M2M session, send) as builder/parser pairs with the error and token-refusal mapping they
share, read best together; the ``ThingSpace`` class near the end only sequences them.

Docs: https://thingspace.verizon.com/resources/documentation/connectivity/API_Reference/Send_SMS_Messages_to_Devices/
Sources: seed ``seeds/002`` (the vendor's send-SMS page) and ``reference/providers-thingspace-
emnify.md`` §1 (auth, body, errors, limits), §3 (client checklist) and §4 (open questions).

Auth (two tokens, both on every M2M call):

1. ``POST <base>/api/ts/v1/oauth2/token`` with ``Authorization: Basic base64(key:secret)`` and
   the form body ``grant_type=client_credentials`` → ``{"access_token", "expires_in", ...}``;
   valid one hour, cached for ``min(expires_in, 3600)``.
2. ``POST <base>/api/m2m/v1/session/login`` with ``Authorization: Bearer <access_token>`` and
   ``{"username", "password"}`` (UWS credentials) → ``{"sessionToken"}``, sent as the
   ``VZ-M2M-Token`` header. It expires after 20 minutes of inactivity, so the cache deadline
   is pushed back by 20 minutes after every successful call.

A refused login is never retried (the platform locks the contact after 5 failures). A refused
token gets one re-login and one retry, and only when the refused token came from the cache:
- HTTP 401 from the gateway (``{"fault": {"code": "900901"}}``, wrong or expired bearer): both
  tokens are dropped and both logins redone. Whether a session survives a new bearer is
  UNCONFIRMED, so it is not trusted to.
- an ``errorCode``/``errorMessage`` that speaks of an expired or invalid session/token: only the
  session is redone. The exact code and HTTP status are UNCONFIRMED (reference §1.5, §4 q1):
  the sandbox's ``UnifiedWebService.REQUEST_FAILED.SessionToken.Expired`` with HTTP 400 is
  made up, so the client reads the wording (``is_session_error``) at any 4xx, as §1.5
  suggests, and takes the other plausible shapes: "UWS verification failure" (the Device
  Location API's wording), "timed out", "not valid", "unknown", and a 401 with any code
  (both tokens redone). An OAuth-worded refusal (``invalid_token``, "access token",
  gateway codes at any status) redoes both tokens, not just the session.

Send body (JSON): either ``deviceIds`` (``[{"kind", "id"}]``, lower-case kinds, ≤10,000) or any
combination of ``groupName``, ``servicePlan`` and ``customFields`` (never both: the seed says
not to), plus ``accountName``, ``dataEncoding``, ``timeToLive`` and ``smsMessage``. Reply 200
``{"requestId"}``; delivery is reported only by callback (``SMSDeliveryConfirmation``), so
there is no status lookup.

``accountName`` is sent when the profile has one, and needed for ``--group``. The sources
disagree (reference §1.3): seed 002 marks it "optional *Recommended … only required if you
are passing groupName and the UWS account … has access to multiple billing accounts", says
"Do not use accountName … if you use [deviceIds]", and its single-device example has none;
the US page and the vendor SDK's ``SMSSendRequest`` call it required. So a configured account
name goes with every request (the US page's rule, harmless where it is optional), a missing
one does not stop a ``deviceIds`` send (the seed's example), and ``--group`` without one is
a config error (exit 3), since a group name may exist in several billing accounts.

``timeToLive`` ← ``--validity``. Verizon's generated SDKs (``sdksio-verizon-apis-sdk`` 2.0.0
on PyPI, ``verizon/models/sms_send_request.py``; the .NET, Java, TypeScript and PHP
siblings say the same) list ``time_to_live`` (``timeToLive``), a string: "A period of time
the message remains valid or an end date for the message. This value would be less than the
5 day default." No model doc gives its format: UNCONFIRMED. smscli sends a period, as an ISO
8601 duration (``PT2H``, ``P3D``, ``PT1M30S``): it is "a period of time", it is exact for
every --validity, and it fits the one constraint an SDK ever declared for the field (the
earlier GIO model: ``^[A-Za-z0-9]{3,32}$``, which no ISO date with ``-``/``:`` would). A
--validity over the 5-day (120 h) default is refused locally (exit 4): it could not extend
it.

Errors: ``{"errorCode": "<Service>.<CODE>", "errorMessage"}`` (HTTP 400), the WSO2 gateway's
``{"fault": {"code", "message", "description"}}`` (400/401), OAuth2 ``{"error",
"error_description"}`` on the token endpoint, an XML ``<am:fault>`` on 403/404, and anything
else (HTML, empty): every shape is read without letting a KeyError escape.

Command line → body: ``--to KIND:VALUE`` → ``deviceIds``; ``--group`` → ``groupName``;
``--service-plan`` → ``servicePlan``; ``--custom-field CustomFieldN=VALUE`` → ``customFields``;
``--account-name`` (profile ``account_name``) → ``accountName``; ``--data-encoding`` →
``dataEncoding`` (default from the message check: GSM-7 → ``7-bit``, UCS-2 → ``8-bit-UTF-8``,
``--hex``/``--base64`` → ``8-bit-DATA``); ``--validity`` → ``timeToLive``; TEXT →
``smsMessage``. ``--from`` and ``--at`` have no field in this API (catalog Features).
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final, NoReturn, TypeVar

from smscli.catalog import smart_helps
from smscli.catalog.thingspace import CALLBACK_USERNAME, INFO
from smscli.errors import (
    ConfigError,
    InputError,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    SessionExpired,
    SmscliError,
    UsageError,
)
from smscli.models import (
    Encoding,
    Message,
    Reply,
    Request,
    Response,
    SendResult,
    Status,
    StatusReport,
    Target,
    content_id,
)
from smscli.providers.base import (
    WRONG_PATH_STATUSES,
    Provider,
    Session,
    expect_dict,
    fresh_login,
    iso_from_text,
    json_body,
    login_refused,
    raise_for_transport_status,
    snippet,
    wrong_path,
)

R = TypeVar("R")

LABEL: Final = "ThingSpace"
TOKEN_PATH: Final = "/api/ts/v1/oauth2/token"
M2M_PATH: Final = "/api/m2m/v1"
OAUTH_TOKEN: Final = "oauth_token"
SESSION_TOKEN: Final = "session_token"
OAUTH_LIFETIME: Final = 3600.0  # "valid for one hour from when it was first issued"
SESSION_IDLE: Final = 1200.0  # "expire after 20 minutes of inactivity"
MASK: Final = "***"  # where a token obtained at run time goes in --dry-run

DEVICE_KINDS: Final = ("iccid", "imei", "meid", "mdn", "msisdn", "esn", "eid")
DATA_ENCODINGS: Final = ("7-bit", "8-bit-ASCII", "8-bit-UTF-8", "8-bit-DATA")
CUSTOM_FIELD_KEYS: Final = tuple(f"CustomField{n}" for n in range(1, 6))
MAX_8BIT_BYTES: Final = 140
# "The Verizon Wireless network attempts to deliver a message for five days (120 hours)"
# (seed 002); timeToLive "would be less than the 5 day default" (the SDK's model doc).
MAX_TIME_TO_LIVE: Final = 5 * 86_400
# Kinds of the one target implicit_targets() stands in for a --group/--service-plan/
# --custom-field selection (not device identifiers, never sent as deviceIds).
SELECTION_KINDS: Final = ("group", "service_plan", "custom_field", "selection")

# Message.extra keys (set by the options declared in smscli.catalog.thingspace).
EXTRA_GROUP: Final = "group_name"
EXTRA_SERVICE_PLAN: Final = "service_plan"
EXTRA_CUSTOM_FIELDS: Final = "custom_fields"  # {"CustomField1": "value", ...}
EXTRA_DATA_ENCODING: Final = "data_encoding"

_GATEWAY_BEARER_CODES: Final = frozenset({"900901", "900902"})


# --------------------------------------------------------------------------- token refusals


class _TokenRefused(SessionExpired):
    """A token was refused before the request was processed (safe to log in and retry)."""

    def __init__(self, detail: str, provider_code: str | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.provider_code = provider_code
        # Set by the conversation: was the refused token from the cache (then one re-login
        # and one retry) or just issued (then final)?
        self.cached = False


class BearerRefused(_TokenRefused):
    """The gateway refused the OAuth bearer token (HTTP 401, fault 900901/900902)."""


class M2MSessionRefused(_TokenRefused):
    """The M2M service refused the VZ-M2M session token (expired or unknown)."""


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error reply in any of the API's shapes."""

    code: str | None
    message: str

    def describe(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


def read_error(response: Response) -> ApiError | None:
    """The error in a reply body: errorCode/errorMessage, fault, OAuth2 error or <am:fault>."""
    data = json_body(response)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # an error list instead of an object: read its first entry
    if isinstance(data, dict):
        return _error_from_dict(data)
    return _am_fault(response.text)


def _error_from_dict(data: Mapping[str, Any]) -> ApiError | None:
    if data.get("errorCode") or data.get("errorMessage"):
        return ApiError(_text(data.get("errorCode")), _text(data.get("errorMessage")) or "error")
    fault = data.get("fault")
    if isinstance(fault, Mapping):
        message = _text(fault.get("message")) or _text(fault.get("description")) or "fault"
        return ApiError(_text(fault.get("code")), message)
    if data.get("error"):
        detail = _text(data.get("error_description")) or _text(data.get("error")) or "error"
        return ApiError(_text(data.get("error")), detail)
    return None


def _am_fault(text: str) -> ApiError | None:
    """The gateway's XML fault (403/404): ``<am:code>…</am:code><am:message>…``."""
    if "fault" not in text:
        return None
    code = re.search(r"<(?:\w+:)?code>([^<]*)<", text)
    message = re.search(r"<(?:\w+:)?message>([^<]*)<", text)
    if not code and not message:
        return None
    return ApiError(
        code.group(1).strip() if code else None,
        message.group(1).strip() if message else "fault",
    )


def _text(value: Any) -> str | None:
    """A field as one line of text; numbers (codes sent as ints) become strings."""
    if value is None or isinstance(value, dict | list):
        return None
    text = " ".join(str(value).split())
    return text or None


# Words saying a token is no longer good. The session-expired code and wording are
# UNCONFIRMED (reference §1.5): "The Session has expired." is what other Verizon APIs say;
# the rest are the plausible variants of it.
_DEAD_WORDS: Final = (
    "expired",
    "invalid",
    "notfound",
    "not found",
    "notvalid",
    "not valid",
    "unknown",
    "timed out",
    "timedout",
    "timeout",
    "inactive",
)
# The Device Location API wraps a dead session as "UWS verification failure (The Session has
# expired.)" (reference §1.5); the wrapper alone is read the same way. UNCONFIRMED.
_UWS_FAILURE: Final = "uws verification failure"
# Words of an OAuth bearer refusal (RFC 6750's ``invalid_token``, WSO2's "access token"),
# and the words that make it the M2M session's instead.
_BEARER_WORDS: Final = ("invalid_token", "access token", "access_token", "bearer", "oauth")
_SESSION_WORDS: Final = ("session", "vz-m2m", "m2m-token", "m2m token")


def _words(error: ApiError) -> str:
    return f"{error.code or ''} {error.message}".lower()


def is_session_error(error: ApiError) -> bool:
    """Does an errorCode/errorMessage say the session token expired or is invalid?

    The exact code is UNCONFIRMED (reference §1.5; the sandbox's
    ``UnifiedWebService.REQUEST_FAILED.SessionToken.Expired`` is made up): other Verizon
    APIs say "The Session has expired.", so match the words, case-insensitively, as §1.5
    suggests, with the plausible variants (``_DEAD_WORDS``, ``_UWS_FAILURE``).
    """
    words = _words(error)
    if _UWS_FAILURE in words:
        return True
    about_session = "session" in words or "token" in words
    return about_session and any(w in words for w in _DEAD_WORDS)


def is_bearer_error(error: ApiError) -> bool:
    """Does the error refuse the OAuth bearer rather than the M2M session? The gateway's
    fault codes (900901/900902) at any status, or OAuth wording that says nothing of the
    session (``{"error": "invalid_token"}``, "access token expired")."""
    if error.code in _GATEWAY_BEARER_CODES:
        return True
    words = _words(error)
    if any(w in words for w in _SESSION_WORDS):
        return False
    return any(w in words for w in _BEARER_WORDS) and any(w in words for w in _DEAD_WORDS)


def _refusal(response: Response, error: ApiError | None, what: str) -> ProviderRefused:
    detail = error.describe() if error else snippet(response)
    return ProviderRefused(
        f"{LABEL} refused {what} (HTTP {response.status_code}): {detail}",
        provider_code=error.code if error else None,
    )


def _token_refusal(response: Response, error: ApiError | None) -> _TokenRefused | None:
    """A refused bearer or session token, or None when the reply is about something else.

    Only a 4xx counts: a 5xx after a send may have been processed, so it is never retried.
    """
    if not 400 <= response.status_code < 500:
        return None
    if error is not None and is_bearer_error(error):
        return BearerRefused(error.describe(), error.code)
    if error is not None and is_session_error(error):
        return M2MSessionRefused(error.describe(), error.code)
    # A 401 with any other code (UNCONFIRMED how the M2M service words a dead session on a
    # 401): both tokens are redone, which covers either one having died.
    if response.status_code == 401:
        detail = error.describe() if error else snippet(response)
        return BearerRefused(detail, error.code if error else None)
    return None


# --------------------------------------------------------------------------- step 1: OAuth


def token_request(base_url: str, client_id: str, client_secret: str) -> Request:
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    return Request(
        "POST",
        f"{base_url}{TOKEN_PATH}",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        form={"grant_type": "client_credentials"},
    )


def parse_token(response: Response, now: float) -> tuple[str, float]:
    """The access token and when to stop using it (at most one hour from now)."""
    data = json_body(response)
    if 200 <= response.status_code < 300:
        token = _text(data.get("access_token")) if isinstance(data, dict) else None
        if token:
            return token, now + _lifetime(data.get("expires_in"), OAUTH_LIFETIME)
        raise _unreadable_login(response, "token")
    _raise_login_failure(response, "the app key and secret (OAuth2 token)")


def _lifetime(value: Any, cap: float) -> float:
    """Seconds from a field that may be an int, a float or a numeric string."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return cap
    return min(seconds, cap) if seconds > 0 else cap


# --------------------------------------------------------------------------- step 2: session


def login_request(base_url: str, bearer: str, username: str, password: str) -> Request:
    return Request(
        "POST",
        f"{base_url}{M2M_PATH}/session/login",
        headers=_json_headers(bearer),
        json={"username": username, "password": password},
    )


def parse_login(response: Response, now: float) -> tuple[str, float]:
    """The VZ-M2M session token and its idle deadline.

    Whether the reply carries an expiry (``expiresIn``) is UNCONFIRMED (§1.2); one is used,
    up to 20 minutes, when present.
    """
    data = json_body(response)
    if 200 <= response.status_code < 300:
        token = _text(data.get("sessionToken")) if isinstance(data, dict) else None
        if token:
            return token, now + _lifetime(data.get("expiresIn"), SESSION_IDLE)
        raise _unreadable_login(response, "session login")
    error = read_error(response)
    if response.status_code == 401 and (error is None or error.code in _GATEWAY_BEARER_CODES):
        # The gateway refused the bearer: the UWS credentials were never checked.
        raise BearerRefused(error.describe() if error else snippet(response), _code(error))
    _raise_login_failure(response, "the UWS user name and password (session login)")


def logout_request(base_url: str, bearer: str, session_token: str) -> Request:
    return Request(
        "POST",
        f"{base_url}{M2M_PATH}/session/logout",
        headers={
            "Authorization": f"Bearer {bearer}",
            "VZ-M2M-Token": session_token,
            "Accept": "application/json",
        },
    )


def _raise_login_failure(response: Response, what: str) -> NoReturn:
    raise_for_transport_status(response, label=LABEL, sends_message=False)
    error = read_error(response)
    # 900906: the WSO2 gateway's "No matching resource found for given API Request".
    if response.status_code in WRONG_PATH_STATUSES or _code(error) == "900906":
        raise wrong_path(INFO, response, f"the login ({what})")
    if 400 <= response.status_code < 500:
        detail = error.describe() if error else f"HTTP {response.status_code}, {snippet(response)}"
        raise login_refused(LABEL, f"{what}: {detail}", _code(error))
    raise ProviderUnavailable(
        f"{LABEL} answered HTTP {response.status_code} to the login ({snippet(response)})",
        code="unexpected_reply",
    )


def _unreadable_login(response: Response, step: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{LABEL} {step} reply cannot be read ({snippet(response)}); nothing was sent",
        code="unexpected_reply",
    )


def _code(error: ApiError | None) -> str | None:
    return error.code if error else None


# --------------------------------------------------------------------------- step 3: send


def data_encoding_for(message: Message) -> str:
    """``--data-encoding`` when given, else what the message check found."""
    forced = message.extra.get(EXTRA_DATA_ENCODING)
    if isinstance(forced, str) and forced:
        return canonical_data_encoding(forced) or forced
    if message.encoding is Encoding.BINARY:
        return "8-bit-DATA"
    if message.encoding is Encoding.UCS2:
        return "8-bit-UTF-8"
    return "7-bit"


def canonical_data_encoding(value: str) -> str | None:
    lowered = value.strip().lower()
    return next((e for e in DATA_ENCODINGS if e.lower() == lowered), None)


def sms_payload(message: Message, data_encoding: str) -> str:
    """``smsMessage``: the text, or for 8-bit-DATA the octets as upper-case hex.

    How binary data goes into the ``smsMessage`` string is UNCONFIRMED (the docs only name
    ``8-bit-DATA``); hex is the unambiguous choice.
    """
    if data_encoding == "8-bit-DATA" and message.check.data is not None:
        return message.check.data.hex().upper()
    return message.text


def device_id(target: Target) -> dict[str, str]:
    # E.164 "+" is dropped: the docs describe MSISDNs as digits only ("decimal, 11 digits");
    # whether the API would also take "+" is UNCONFIRMED. Kinds go in lower case, as the
    # docs' examples do (other casings UNCONFIRMED, reference §1.3).
    value = target.value.lstrip("+") if target.kind == "msisdn" else target.value
    return {"kind": target.kind, "id": value}


def selection(extra: Mapping[str, Any]) -> dict[str, Any]:
    """groupName / servicePlan / customFields from Message.extra (only those given)."""
    body: dict[str, Any] = {}
    group = extra.get(EXTRA_GROUP)
    if group:
        body["groupName"] = str(group)
    plan = extra.get(EXTRA_SERVICE_PLAN)
    if plan:
        body["servicePlan"] = str(plan)
    fields = extra.get(EXTRA_CUSTOM_FIELDS)
    if isinstance(fields, Mapping) and fields:
        body["customFields"] = [{"key": str(k), "value": str(v)} for k, v in fields.items()]
    return body


def time_to_live(seconds: int) -> str:
    """``timeToLive`` for a --validity: an ISO 8601 duration in whole units (``PT90S`` is
    written ``PT1M30S``; format UNCONFIRMED, see the module docstring)."""
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def sms_body(
    message: Message, targets: Sequence[Target], account_name: str | None
) -> dict[str, Any]:
    devices = [device_id(t) for t in targets if t.kind in DEVICE_KINDS]
    encoding = data_encoding_for(message)
    body: dict[str, Any] = {"deviceIds": devices} if devices else {}
    if account_name:
        body["accountName"] = account_name
    if not devices:
        body.update(selection(message.extra))
    body["dataEncoding"] = encoding
    if message.validity_seconds is not None:
        body["timeToLive"] = time_to_live(message.validity_seconds)
    body["smsMessage"] = sms_payload(message, encoding)
    return body


def send_request(
    base_url: str, bearer: str, session_token: str, body: Mapping[str, Any]
) -> Request:
    return Request(
        "POST",
        f"{base_url}{M2M_PATH}/sms",
        headers=_m2m_headers(bearer, session_token),
        json=dict(body),
    )


@dataclass(frozen=True, slots=True)
class Accepted:
    request_id: str
    date: str | None


def parse_send(response: Response) -> Accepted:
    """``{"requestId"}`` on 200; every other reply raises (token refusals as _TokenRefused)."""
    data = json_body(response)
    error = read_error(response)
    if 200 <= response.status_code < 300:
        request_id = _text(data.get("requestId")) if isinstance(data, dict) else None
        if request_id:
            return Accepted(request_id, _http_date(response.header("date")))
        if error is not None:  # not documented for /sms, but an error is an error
            raise _refusal(response, error, "the message")
        raise OutcomeUnknown(
            f"{LABEL} accepted the request but its reply cannot be read ({snippet(response)}); "
            "the message may have been sent",
            hint="check `smscli log` before re-running",
            code="unexpected_reply",
        )
    refused = _token_refusal(response, error)
    if refused is not None:
        raise refused
    raise_for_transport_status(response, label=LABEL, sends_message=True)
    if 400 <= response.status_code < 500:
        raise _refusal(response, error, "the message")
    raise OutcomeUnknown(
        f"{LABEL} answered HTTP {response.status_code} ({snippet(response)}); "
        "the message may have been sent",
        code="unexpected_reply",
    )


def _raise_unless_2xx(response: Response, what: str) -> None:
    """A non-2xx reply to an M2M call that sends nothing (the SMS history, callbacks): a
    refused token, a wrong base_url path, a transport status or the API's refusal."""
    if 200 <= response.status_code < 300:
        return
    error = read_error(response)
    refused = _token_refusal(response, error)
    if refused is not None:
        raise refused
    if response.status_code in WRONG_PATH_STATUSES and error is None:
        raise wrong_path(INFO, response, what)
    raise_for_transport_status(response, label=LABEL, sends_message=False)
    raise _refusal(response, error, what)


def _http_date(value: str | None) -> str | None:
    """The reply's ``Date`` header as ISO 8601: the API returns no date in its body."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _json_headers(bearer: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {bearer}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def _m2m_headers(bearer: str, session_token: str) -> dict[str, str]:
    return {**_json_headers(bearer), "VZ-M2M-Token": session_token}


# --------------------------------------------------------------------------- replies

# The account of the sandbox's sends that name none (smscli.sandbox.thingspace's
# DEFAULT_ACCOUNT; tests/test_i11_inbox.py checks they agree): `--sandbox` without an
# account_name reads its replies there.
SANDBOX_ACCOUNT: Final = "TestAccount-1"
MAX_HISTORY_PAGES: Final = 1000  # a bound on one run (100 replies a page, documented)


def history_request(
    base_url: str, bearer: str, session_token: str, account: str, token: str | None
) -> Request:
    """``GET /api/m2m/v1/sms/{accountName}/history[?next=<token>]``: the account's queue of
    device replies. Asking with ``next`` acknowledges (removes) the page that token came
    with (after-the-send.md §1.3 and Q5: persist first, then fetch the next page)."""
    from urllib.parse import quote

    url = f"{base_url}{M2M_PATH}/sms/{quote(account, safe='')}/history"
    if token is not None:
        url += f"?next={quote(token, safe='')}"
    return Request("GET", url, headers=_m2m_headers(bearer, session_token))


@dataclass(frozen=True, slots=True)
class HistoryPage:
    replies: list[Reply]
    next_token: str | None  # from the Location header: asking with it acknowledges this page
    more: bool  # hasMoreData (HTTP 202)


def parse_history(response: Response, profile: str | None) -> HistoryPage:
    """``{"messages": [{"deviceIds": [{"id", "kind"}], "message", "timestamp"}],
    "hasMoreData"}`` (200, or 202 while more wait) with ``Location: …/history?next=N``.
    The entries carry no id: a reply's id is a hash of its device, timestamp and text
    (so the same reply read twice, say after a crash before the acknowledgement, is
    stored once; two identical texts from one device in the same second are one).
    UNCONFIRMED: a Location on the last page (200) too, which the sandbox sends so that
    the last page can be acknowledged; read when present."""
    _raise_unless_2xx(response, "the SMS history")
    data = json_body(response)
    if not isinstance(data, dict) or not isinstance(data.get("messages", []), list):
        raise ProviderUnavailable(
            f"{LABEL} answered the SMS history with {snippet(response)}", code="unexpected_reply"
        )
    replies = []
    for item in data.get("messages") or []:
        entry = item if isinstance(item, dict) else {}
        devices = entry.get("deviceIds") or []
        device = devices[0] if devices and isinstance(devices[0], dict) else {}
        kind = (_text(device.get("kind")) or "device").lower()
        sender = f"{kind}:{_text(device.get('id')) or ''}"
        text = _text(entry.get("message")) or ""
        stamp = _text(entry.get("timestamp"))
        replies.append(
            Reply(
                provider=INFO.slug,
                reply_id=content_id(sender, stamp, text),
                sender=sender,
                text=text,
                date=iso_from_text(stamp),
                profile=profile,
            )
        )
    token = None
    location = response.header("location")
    if location:
        from urllib.parse import parse_qs, urlsplit

        tokens = parse_qs(urlsplit(location).query).get("next")
        token = tokens[0] if tokens else None
    more = bool(data.get("hasMoreData")) or response.status_code == 202
    return HistoryPage(replies, token, more)


# --------------------------------------------------------------------------- callbacks

# The services `smscli callbacks register` registers (providers-thingspace-emnify.md §1.4):
# delivery confirmations, and "sent to the device" plus the devices' replies.
CALLBACK_SERVICES: Final = ("SMSDeliveryConfirmation", "EnhancedConnectivityService")
# Register_Callback_Listener: "Only ports 80, 443, 9001–9006, 50551–50559 and 28200–28220
# are allowed" (after-the-send.md §1.3).
CALLBACK_PORTS: Final = (
    (80, 80), (443, 443), (9001, 9006), (50551, 50559), (28200, 28220),
)  # fmt: skip


def callback_port_warning(url: str) -> str | None:
    """The documented port rule, as a warning (the sandbox takes any port)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return None
    if any(low <= port <= high for low, high in CALLBACK_PORTS):
        return None
    return (
        f"ThingSpace sends callbacks only to ports 80, 443, 9001-9006, 50551-50559 and "
        f"28200-28220, not {port}: the real platform will not reach this URL"
    )


def _callbacks_url(base_url: str, account: str) -> str:
    from urllib.parse import quote

    return f"{base_url}{M2M_PATH}/callbacks/{quote(account, safe='')}"


def register_callback_request(
    base_url: str, bearer: str, session_token: str, account: str, body: Mapping[str, str]
) -> Request:
    """``POST /api/m2m/v1/callbacks/{accountName}`` ``{"name", "url", "username",
    "password"}`` (the credentials come back in plain text in every callback)."""
    return Request(
        "POST",
        _callbacks_url(base_url, account),
        headers=_m2m_headers(bearer, session_token),
        json=dict(body),
    )


def list_callbacks_request(base_url: str, bearer: str, session_token: str, account: str) -> Request:
    return Request(
        "GET", _callbacks_url(base_url, account), headers=_m2m_headers(bearer, session_token)
    )


def delete_callback_request(
    base_url: str, bearer: str, session_token: str, account: str, service: str
) -> Request:
    from urllib.parse import quote

    url = f"{_callbacks_url(base_url, account)}/name/{quote(service, safe='')}"
    return Request("DELETE", url, headers=_m2m_headers(bearer, session_token))


def parse_callback_reply(response: Response, what: str) -> Any:
    """The JSON of a 2xx reply to a callbacks call; a refusal raises as every M2M call's."""
    _raise_unless_2xx(response, what)
    return json_body(response)


def listed_callbacks(data: Any, account: str) -> list[dict[str, Any]]:
    """``[{"accountName", "serviceName", "url", "username", "password"}]`` without the
    password (the docs say GET returns it; smscli never shows it)."""
    items = data if isinstance(data, list) else []
    return [
        {
            "provider": INFO.slug,
            "account_name": _text(item.get("accountName")) or account,
            "service": _text(item.get("serviceName")),
            "url": _text(item.get("url")),
            "username": _text(item.get("username")),
        }
        for item in items
        if isinstance(item, dict)
    ]


# --------------------------------------------------------------------------- the provider


class ThingSpace(Provider):
    info = INFO

    # -- local checks -------------------------------------------------------------------
    def implicit_targets(self, message: Message) -> list[Target]:
        chosen = selection(message.extra)
        labels: list[tuple[str, str]] = []
        if "groupName" in chosen:
            labels.append(("group", chosen["groupName"]))
        if "servicePlan" in chosen:
            labels.append(("service_plan", chosen["servicePlan"]))
        labels += [
            ("custom_field", f"{f['key']}={f['value']}") for f in chosen.get("customFields", [])
        ]
        if not labels:
            return []
        if len(labels) == 1:
            return [Target(*labels[0])]
        return [Target("selection", ";".join(f"{k}={v}" for k, v in labels))]

    def check_message(self, message: Message, targets: Sequence[Target]) -> None:
        _check_extra(message.extra)
        # The message's own checks first: they fail alike with no target (base.Provider).
        ttl = message.validity_seconds
        if ttl is not None and ttl > MAX_TIME_TO_LIVE:
            raise InputError(
                f"--validity of {ttl} s is longer than ThingSpace's 5-day (120 h) default, "
                "which timeToLive can only shorten",
                hint="give at most --validity 5d (or none: the network tries for 5 days)",
                code="invalid_validity",
            )
        _check_encoding(message, data_encoding_for(message))
        devices = [t for t in targets if t.kind in DEVICE_KINDS]
        others = [t for t in targets if t.kind not in DEVICE_KINDS + SELECTION_KINDS]
        if others:
            raise InputError(
                f"{LABEL} cannot send to {others[0]}; it accepts {', '.join(DEVICE_KINDS)}",
                code="unsupported_target",
            )
        chosen = selection(message.extra)
        if devices and chosen:
            raise InputError(
                f"{LABEL} sends either to devices (--to) or to a selection "
                "(--group/--service-plan/--custom-field), not both",
                hint="the API takes deviceIds or selection criteria in one request, never both",
                code="conflicting_targets",
            )
        if not devices and not chosen:
            raise InputError(
                f"{LABEL} needs devices (--to KIND:ID) or --group/--service-plan/--custom-field",
                code="no_targets",
            )
        if "groupName" in chosen and not self._account_name():
            raise ConfigError(
                f"{self.slug}: --group needs account_name: a device group name may exist in "
                "several billing accounts",
                hint="set account_name in the profile, SMSCLI_THINGSPACE_ACCOUNT_NAME or "
                "--account-name (e.g. 0000123456-00001)",
                code="credential_missing",
            )

    # -- the conversation ---------------------------------------------------------------
    def dry_run(self, message: Message, targets: Sequence[Target]) -> list[Request]:
        s = self.settings
        return [
            token_request(self.base_url, s.require("client_id"), s.require("client_secret")),
            login_request(self.base_url, MASK, s.require("username"), s.require("password")),
            send_request(self.base_url, MASK, MASK, self._body(message, targets)),
        ]

    def send(
        self, session: Session, message: Message, targets: Sequence[Target]
    ) -> list[SendResult]:
        body = self._body(message, targets)

        def attempt(bearer: str, session_token: str) -> Accepted:
            request = send_request(self.base_url, bearer, session_token, body)
            return parse_send(session.call(request, sends_message=True))

        accepted = self._authorized(session, attempt)
        details = {
            key: body[name]
            for key, name in (
                ("data_encoding", "dataEncoding"),
                ("account_name", "accountName"),
                ("time_to_live", "timeToLive"),
            )
            if name in body
        }
        return [
            self.result(
                t,
                Status.ACCEPTED,  # queued on the platform; delivery comes only by callback
                message,
                request_id=accepted.request_id,
                date=accepted.date,
                segments=1,  # never concatenated: 160 septets, or 140 bytes (catalog Measure)
                details=dict(details),
            )
            for t in targets
        ]

    def status(self, session: Session, record: Mapping[str, Any]) -> StatusReport:
        request_id = record.get("request_id")
        which = f"requestId {request_id}" if request_id else "this send has no requestId"
        raise InputError(
            f"{LABEL} reports delivery only by callback (SMSDeliveryConfirmation), not through "
            f"a status lookup; {which}",
            hint="register an SMSDeliveryConfirmation callback listener and match the requestId",
            code="status_unsupported",
        )

    def inbox(
        self, session: Session, since: float | None, senders: Sequence[Target]
    ) -> Iterator[list[Reply]]:
        """The account's reply queue, page by page. The next page is asked for (which
        acknowledges the previous one) only when the caller resumes this generator, i.e.
        after it stored the page: a crash in between loses nothing, the page comes again.
        ``since`` and ``senders`` are applied by the caller (the queue has no filters), and
        every page is acknowledged, also replies the filters leave out (they are stored)."""
        account = self.settings.get("account_name") or (
            SANDBOX_ACCOUNT if self.settings.sandbox else None
        )
        if account is None:
            raise ConfigError(
                f"{LABEL} keeps device replies in a queue per billing account: set the "
                "profile's account_name (or --account-name)",
                code="credential_missing",
            )
        token: str | None = None
        for _ in range(MAX_HISTORY_PAGES):

            def attempt(bearer: str, session_token: str, token: str | None = token) -> HistoryPage:
                request = history_request(self.base_url, bearer, session_token, account, token)
                return parse_history(session.call(request), self.settings.profile)

            page = self._authorized(session, attempt)
            yield page.replies
            if page.next_token is None or (not page.replies and not page.more):
                return
            token = page.next_token

    # -- callbacks ----------------------------------------------------------------------
    callback_options = frozenset({"service"})

    def callback_warnings(self, url: str) -> list[str]:
        warning = callback_port_warning(url)
        return [warning] if warning else []

    def register_callback(
        self, session: Session, url: str, options: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Each service (default both of ``CALLBACK_SERVICES``) with the profile's
        ``callback_username`` (default "smscli") and ``callback_secret`` as the password
        ThingSpace echoes in every callback (`smscli listen` checks them)."""
        account = self._callback_account()
        service = options.get("service")
        if service:
            known = {s.lower(): s for s in CALLBACK_SERVICES}
            if str(service).lower() not in known:
                raise UsageError(
                    f"--service must be {' or '.join(CALLBACK_SERVICES)}, not {service!r}",
                    hint="without --service both are registered",
                    code="invalid_option",
                )
            service = known[str(service).lower()]
        services = (service,) if service else CALLBACK_SERVICES
        username = self.settings.get("callback_username") or CALLBACK_USERNAME
        password = self.settings.get("callback_secret")
        body = {"url": url, "username": username}
        if password:
            body["password"] = password
        done = []
        for name in services:

            def attempt(bearer: str, session_token: str, name: str = name) -> Any:
                request = register_callback_request(
                    self.base_url, bearer, session_token, account, {"name": name, **body}
                )
                return parse_callback_reply(session.call(request), f"the {name} callback")

            reply = expect_dict(self._authorized(session, attempt))
            done.append(
                {
                    "provider": INFO.slug,
                    "account_name": _text(reply.get("accountName")) or account,
                    "service": _text(reply.get("serviceName")) or name,
                    "url": url,
                    "username": username,
                }
            )
        return done

    def list_callbacks(self, session: Session) -> list[dict[str, Any]]:
        account = self._callback_account()

        def attempt(bearer: str, session_token: str) -> Any:
            request = list_callbacks_request(self.base_url, bearer, session_token, account)
            return parse_callback_reply(session.call(request), "the callback list")

        return listed_callbacks(self._authorized(session, attempt), account)

    def delete_callback(self, session: Session, ident: str) -> list[dict[str, Any]]:
        account = self._callback_account()

        def attempt(bearer: str, session_token: str) -> Any:
            request = delete_callback_request(self.base_url, bearer, session_token, account, ident)
            return parse_callback_reply(session.call(request), f"the removal of {ident}")

        reply = expect_dict(self._authorized(session, attempt))
        service = _text(reply.get("serviceName")) or ident
        return [{"provider": INFO.slug, "account_name": account, "service": service}]

    def _callback_account(self) -> str:
        account = self.settings.get("account_name")
        if not account:
            raise ConfigError(
                f"{LABEL} registers callback listeners per billing account: set the "
                "profile's account_name (or --account-name)",
                code="credential_missing",
            )
        return account

    def login(self, session: Session) -> None:
        bearer = self._fetch_bearer(session)
        try:
            self._fetch_session(session, bearer)
        except BearerRefused as refused:
            session.tokens.delete(OAUTH_TOKEN)
            raise _final(refused) from None

    def logout(self, session: Session) -> None:
        bearer = session.tokens.get(OAUTH_TOKEN)
        session_token = session.tokens.get(SESSION_TOKEN)
        session.tokens.clear()
        if bearer is None or session_token is None:
            return
        session.add_secret(bearer)
        session.add_secret(session_token)
        # Best effort: the cached tokens are gone either way. The OAuth token is not revoked:
        # the platform hands the same token to every client of the app key during its hour.
        with contextlib.suppress(SmscliError):
            session.call(logout_request(self.base_url, bearer, session_token))

    # -- helpers ------------------------------------------------------------------------
    def _account_name(self) -> str | None:
        """The profile's account name; with --sandbox, whose emulator needs none, a missing
        one is no error (`--sandbox` fills in what it lacks)."""
        name = self.settings.get("account_name")
        return name or ("sbx" if self.settings.sandbox else None)

    def _body(self, message: Message, targets: Sequence[Target]) -> dict[str, Any]:
        return sms_body(message, targets, self.settings.get("account_name"))

    def _fetch_bearer(self, session: Session) -> str:
        s = self.settings
        request = token_request(self.base_url, s.require("client_id"), s.require("client_secret"))
        token, expires_at = parse_token(session.call(request), session.now())
        session.add_secret(token)
        session.tokens.set(OAUTH_TOKEN, token, expires_at=expires_at)
        return token

    def _fetch_session(self, session: Session, bearer: str) -> str:
        s = self.settings
        request = login_request(self.base_url, bearer, s.require("username"), s.require("password"))
        token, expires_at = parse_login(session.call(request), session.now())
        session.add_secret(token)
        session.tokens.set(SESSION_TOKEN, token, expires_at=expires_at)
        return token

    def _log_in(
        self, session: Session, bearer: str | None, session_token: str | None
    ) -> tuple[str, str]:
        """The two tokens for a call: each the cached one, or a new one."""
        if bearer is None:
            bearer = self._fetch_bearer(session)
        if session_token is None:
            session_token = self._fetch_session(session, bearer)
        return bearer, session_token

    def _authorized(self, session: Session, attempt: Callable[[str, str], R]) -> R:
        """Run ``attempt(bearer, session_token)``; a refused cached token gets one re-login
        and one retry, a refused fresh one is final (it would only be refused again)."""
        try:
            return self._attempt_once(session, attempt)
        except _TokenRefused as refused:
            if not refused.cached:
                raise _final(refused) from None
        try:
            return self._attempt_once(session, attempt)
        except _TokenRefused as refused:
            raise _final(refused) from None

    def _attempt_once(self, session: Session, attempt: Callable[[str, str], R]) -> R:
        tokens = session.tokens
        bearer, session_token = tokens.get(OAUTH_TOKEN), tokens.get(SESSION_TOKEN)
        cached_bearer, cached_session = bearer is not None, session_token is not None
        try:
            if bearer is None or session_token is None:
                # One login per profile at a time, across threads and processes: one that
                # waited finds the tokens the other got (read again under the lock).
                with tokens.login_lock():
                    bearer, session_token = tokens.get(OAUTH_TOKEN), tokens.get(SESSION_TOKEN)
                    cached_bearer, cached_session = bearer is not None, session_token is not None
                    if bearer is None or session_token is None:
                        bearer, session_token = fresh_login(
                            session, LABEL, lambda: self._log_in(session, bearer, session_token)
                        )
            session.add_secret(bearer)
            session.add_secret(session_token)
            result = attempt(bearer, session_token)
        except BearerRefused as refused:
            tokens.delete(OAUTH_TOKEN)
            tokens.delete(SESSION_TOKEN)
            refused.cached = cached_bearer
            raise
        except M2MSessionRefused as refused:
            tokens.delete(SESSION_TOKEN)
            refused.cached = cached_session
            raise
        # The session lives while it is used: push its idle deadline back.
        tokens.set(SESSION_TOKEN, session_token, expires_at=session.now() + SESSION_IDLE)
        return result


def _final(refused: _TokenRefused) -> ProviderRefused:
    if isinstance(refused, BearerRefused):
        return LoginRefused(
            f"{LABEL} refused the access token of the app key: {refused.detail}",
            hint="check client_id/client_secret and the app's API access in the ThingSpace portal",
            provider_code=refused.provider_code,
        )
    return ProviderRefused(
        f"{LABEL} refused a fresh M2M session: {refused.detail}",
        provider_code=refused.provider_code,
        code="session_refused",
    )


def _check_extra(extra: Mapping[str, Any]) -> None:
    fields = extra.get(EXTRA_CUSTOM_FIELDS)
    if fields is not None and not isinstance(fields, Mapping):
        raise InputError("custom fields must be KEY=VALUE pairs", code="invalid_option")
    for key, value in (fields or {}).items():
        if key not in CUSTOM_FIELD_KEYS or not str(value):
            raise InputError(
                f"invalid custom field {key}={value}; keys are {', '.join(CUSTOM_FIELD_KEYS)}",
                code="invalid_option",
            )
    forced = extra.get(EXTRA_DATA_ENCODING)
    if forced is not None and canonical_data_encoding(str(forced)) is None:
        raise InputError(
            f"unknown data encoding {forced!r}; one of {', '.join(DATA_ENCODINGS)}",
            code="invalid_option",
        )


def _check_encoding(message: Message, data_encoding: str) -> None:
    """What the generic limits cannot see: the 8-bit byte limits and encoding mismatches."""
    binary = message.encoding is Encoding.BINARY
    if binary and data_encoding != "8-bit-DATA":
        raise InputError(
            f"binary data (--hex/--base64) is sent as 8-bit-DATA, not {data_encoding}",
            code="encoding_mismatch",
        )
    if data_encoding == "8-bit-DATA" and not binary:
        raise InputError(
            "8-bit-DATA sends binary data: give it with --hex or --base64",
            code="encoding_mismatch",
        )
    text = message.text
    if data_encoding == "7-bit" and message.encoding is not Encoding.GSM7:
        smart = smart_helps(message.check, INFO.limits.max_segments)
        raise InputError(
            "7-bit sends GSM-7 text only; this message is UCS-2",
            hint="use --data-encoding 8-bit-UTF-8" + (", or --smart" if smart else ""),
            code="not_gsm7",
        )
    if data_encoding == "8-bit-ASCII":
        bad = sorted({c for c in text if ord(c) > 127})
        if bad:
            raise InputError(
                f"8-bit-ASCII sends ASCII only; not ASCII: {' '.join(bad[:5])}",
                hint="use --data-encoding 8-bit-UTF-8",
                code="not_ascii",
            )
    if data_encoding in ("8-bit-ASCII", "8-bit-UTF-8"):
        size = len(text.encode("utf-8"))
        if size > MAX_8BIT_BYTES:
            raise InputError(
                f"message is {size} bytes as {data_encoding}; {LABEL} takes at most "
                f"{MAX_8BIT_BYTES} in 8-bit format",
                code="message_too_long",
            )
