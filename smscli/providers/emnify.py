"""emnify REST API: send an SMS to an endpoint, find endpoints, read an SMS's status.

One module on purpose (~920 lines): the API's whole vocabulary, the login, endpoint
lookup, send and status request builders each next to its reply parser, with the error
mapping they all share; the ``Emnify`` class at the end only sequences them.

Docs: https://docs.emnify.com/developers/api/endpoint/endpoint-sms-by-id-post (seed 003).
Facts and their sources: reference/providers-thingspace-emnify.md §2 (auth 2.2, send 2.3,
status 2.4, lookups 2.5, errors 2.6, limits 2.7), checklist §3, open questions §4.

Endpoint  ``<base_url>/api/v1/…`` (default https://cdn.emnify.net).
Auth      ``POST /api/v1/authenticate {"application_token"}`` → 200 ``{"auth_token": JWT}``.
          The JWT is cached until its ``exp`` claim and sent as ``Authorization: Bearer``.
          Any 401 on a later call means the token lapsed: one fresh login and one retry
          (the vendor SDK does the same). A refused login is never retried: three failures
          lock the account for 5 minutes.
Targets   ``endpoint:ID`` as is; ``iccid:`` (19 digits → ``q=iccid:``, 20 →
          ``q=iccid_with_luhn:``) and ``name:`` through ``GET /api/v1/endpoint?q=…``, then
          re-checked here for exactly one exact match (the API's match semantics are
          UNCONFIRMED). A lookup is not a send.
Send      ``POST /api/v1/endpoint/{id}/sms`` with JSON ``{payload, source_address,
          source_address_type {"id"}, dest_address, udh, dcs, expiry_date}`` → 201 with an
          empty body; the SMS id is the last path segment of ``Location``. Longer messages
          are split here into UDH parts (``050003RRTTPP``), one POST per part. A 201 is an
          acceptance even without ``Location`` (the docs show ``201 {}`` and no header):
          its id is then looked up in ``GET /api/v1/endpoint/{id}/sms`` (the one SMS with
          that payload and udh submitted within ``ID_LOOKUP_WINDOW`` of the reply), and
          stays unknown when that finds none or several.
Status    ``GET /api/v1/endpoint/{id}/sms/{sms_id}`` → ``{"status": {"id", "description"}}``.
Errors    ``{error_code, error_token, message[, errors]}`` from the application, ``{message}``
          (with an ``x-amzn-ErrorType`` header, read case-insensitively: ``AccessDenied``
          is ``AccessDeniedException``) from the API gateway, or an empty body.
          Numbers may arrive as strings.
Received  ``GET …/sms`` lists MO SMS too: ``sms_type`` "MO" (its id is UNCONFIRMED).

Command line → request fields (``Message.extra`` keys in quotes):
  TEXT                        → payload (+ udh when it needs several parts)
  --from                      → source_address; source_address_type from its shape:
                                "+digits" 145, digits 161, letters 208
  --source-type 145|161|208   → source_address_type, overriding that choice ("source_type")
  --dest-address ID           → dest_address, the P2A callback identifier ("dest_address")
  --encoding / --dcs N        → dcs: 0 for GSM-7, 8 for UCS-2, or N ("dcs")
  --validity DURATION         → expiry_date (now + DURATION, ISO 8601 UTC)
  --to endpoint:|iccid:|name: → the endpoint id in the path
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from smscli.catalog.emnify import INFO
from smscli.encoding import udh_parts
from smscli.errors import (
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

R = TypeVar("R")

LABEL: Final = "emnify"
API: Final = "/api/v1"
TOKEN_NAME: Final = "auth_token"
# When the JWT's exp claim cannot be read. Application-token JWTs were seen to live 7 days and
# user-credential ones 240 minutes; one hour is shorter than both, and a 401 still brings a
# fresh login, so guessing short costs at most one extra login.
FALLBACK_TOKEN_TTL: Final = 3600.0
# Pages of 1000 (the API's default per_page) read while looking for an exact match.
MAX_LOOKUP_PAGES: Final = 5
# A 201 without Location: an SMS of the endpoint's list is ours when it has our payload and
# udh and was submitted this close (seconds) to the reply's Date (clocks may differ a bit).
ID_LOOKUP_WINDOW: Final = 120.0

INTERNATIONAL: Final = 145
NATIONAL: Final = 161
ALPHANUMERIC: Final = 208
SOURCE_TYPES: Final[dict[int, str]] = {
    INTERNATIONAL: "international",
    NATIONAL: "national",
    ALPHANUMERIC: "alphanumeric",
}
MAX_ALPHANUMERIC: Final = 11
MAX_SOURCE_ADDRESS: Final = 21
DCS_GSM7: Final = 0
DCS_UCS2: Final = 8
MAX_OCTETS: Final = 140  # one part of 8-bit data

# Status ids are documented; key on them, not on the descriptions (§2.4).
STATUS_BY_ID: Final[dict[int, Status]] = {
    1: Status.ACCEPTED,  # "Delivery attempt pending": emnify holds it, no attempt yet
    2: Status.SENT,  # "In progress": being handed to the network
    3: Status.QUEUED,  # "Buffered": the device was unreachable; emnify retries until expiry
    4: Status.DELIVERED,
    5: Status.FAILED,
    6: Status.EXPIRED,
    7: Status.CANCELED,  # DELETE …/sms/{id} (`smscli cancel`): final, undelivered
}
# Descriptions of ids 1, 2, 3 and 5 are UNCONFIRMED (3rd-party code); used only when a status
# object carries no readable id, compared case-insensitively.
STATUS_ID_BY_WORD: Final[dict[str, int]] = {
    "delivery attempt pending": 1,
    "pending": 1,
    "in progress": 2,
    "buffered": 3,
    "delivered": 4,
    "failed": 5,
    "expired": 6,
    "canceled": 7,
    "cancelled": 7,
}
# How far each non-final state has come, to report the least advanced part of a message.
_PROGRESS: Final[dict[Status, int]] = {
    Status.UNKNOWN: 0,
    Status.ACCEPTED: 1,
    Status.QUEUED: 2,
    Status.SENT: 3,
    Status.DELIVERED: 4,
}
# The API gateway's error types (x-amzn-ErrorType) by their lower-case name without the
# "Exception" suffix. Recorded: "AccessDeniedException" (a malformed JWT, 401); the sandbox
# used to say "AccessDenied". Both spellings, in any case, read as the recorded name.
GATEWAY_ERROR_TYPES: Final[dict[str, str]] = {
    "accessdenied": "AccessDeniedException",
    "missingauthenticationtoken": "MissingAuthenticationTokenException",
    "unauthorized": "UnauthorizedException",
}
# What the gateway answers a path it has no route for. AWS API Gateway's documented
# behaviour, not seen in emnify's recordings, and produced by the sandbox: UNCONFIRMED for
# emnify, so a 404/405 (WRONG_PATH_STATUSES) or this message in the body count the same.
MISSING_ROUTE_MESSAGE: Final = "missing authentication token"
_NUMBER_SEPARATORS: Final = re.compile(r"[\s.()-]")
_DIGITS: Final = re.compile(r"[0-9]+")


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error reply in any of the three observed shapes (§2.6)."""

    status: int
    code: str | None  # error_code, else error_token, else the gateway's x-amzn-ErrorType
    token: str | None  # error_token ("InvalidReference", "TooManyRequests", …)
    message: str | None
    body: str  # what the body was, for replies without a message ("an empty body")

    def describe(self) -> str:
        if not self.message:
            return f"HTTP {self.status} with {self.body}"
        tags = " ".join(t for t in dict.fromkeys((self.code, self.token)) if t)
        return f"{self.message} ({tags + ', ' if tags else ''}HTTP {self.status})"


def api_error(response: Response) -> ApiError:
    """Read an error reply: ``{error_code, error_token, message, errors}``, ``{message}`` or
    nothing at all (an empty body, an HTML page)."""
    body = json_body(response)
    data = expect_dict(body[0] if isinstance(body, list) and body else body)
    code = _text(data.get("error_code"))
    token = _text(data.get("error_token"))
    message = _text(data.get("message")) or _text(data.get("Message"))
    nested = [_text(e.get("message")) for e in data.get("errors") or [] if isinstance(e, dict)]
    details = "; ".join(n for n in nested[:3] if n)
    if message and details:
        message = f"{message}: {details}"
    if code is None and token is None:
        token = gateway_error_type(response.header("x-amzn-errortype"))
    return ApiError(
        status=response.status_code,
        code=code or token,
        token=token,
        message=_one_line(message) if message else None,
        body=_describe_body(response),
    )


def gateway_error_type(header: str | None) -> str | None:
    """The API gateway's ``x-amzn-ErrorType`` (``Name`` or ``Name:detail``), the known ones
    under their recorded name whatever their case or ``Exception`` suffix."""
    name = (header or "").split(":", 1)[0].strip()
    if not name:
        return None
    key = name.lower().removesuffix("exception")
    return GATEWAY_ERROR_TYPES.get(key, name)


def _missing_route(status: int, error: ApiError) -> bool:
    """A reply to a path the API has no route for (see MISSING_ROUTE_MESSAGE)."""
    if status in WRONG_PATH_STATUSES:
        return True
    if error.token == GATEWAY_ERROR_TYPES["missingauthenticationtoken"]:
        return True
    return (error.message or "").lower() == MISSING_ROUTE_MESSAGE


def _refused(what: str, response: Response) -> ProviderRefused:
    error = api_error(response)
    return ProviderRefused(
        f"{LABEL} refused {what}: {error.describe()}",
        provider_code=error.code,
        code="unknown_target" if response.status_code == 404 else "provider_rejected",
    )


def _unreadable(what: str, response: Response) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{LABEL} answered {what} with HTTP {response.status_code} and a reply smscli cannot "
        f"read ({_describe_body(response)}); nothing was sent",
        code="unreadable_reply",
    )


def _check_reply(response: Response, what: str, *, sends_message: bool = False) -> bool:
    """Common status handling; True for a 2xx. A 401 means the token lapsed."""
    code = response.status_code
    if 200 <= code < 300:
        return True
    if code == 401:
        raise SessionExpired(what)
    raise_for_transport_status(response, label=LABEL, sends_message=sends_message)
    if code < 400:  # a redirect or an informational reply: not an answer to the call
        if sends_message:
            raise OutcomeUnknown(
                f"{LABEL} answered {what} with HTTP {code}; the message may have been sent",
                hint="check `smscli status --last` before re-running",
                code="unreadable_reply",
            )
        raise _unreadable(what, response)
    return False


# --------------------------------------------------------------------------- login


def login_request(base_url: str, application_token: str) -> Request:
    return Request(
        "POST",
        f"{base_url}{API}/authenticate",
        headers={"Accept": "application/json", "Content-Type": "application/json"},
        json={"application_token": application_token},
    )


def parse_login(response: Response) -> str:
    """The ``auth_token`` of a 200 reply; a 401 (mostly with an empty body) is a refusal."""
    code = response.status_code
    if 200 <= code < 300:
        token = expect_dict(json_body(response)).get("auth_token")
        if isinstance(token, str) and token.strip():
            return token.strip()
        raise _unreadable("the login", response)
    raise_for_transport_status(response, label=LABEL, sends_message=False)
    if code < 400:
        raise _unreadable("the login", response)
    error = api_error(response)
    # API Gateway answers a path it has no route for with 403 "Missing Authentication
    # Token" (MissingAuthenticationTokenException), whatever the credentials (UNCONFIRMED
    # for emnify: see MISSING_ROUTE_MESSAGE).
    if _missing_route(code, error):
        raise wrong_path(INFO, response, "the login")
    if error.token and error.token.lower() == "toomanyrequests":
        raise LoginRefused(
            f"{LABEL} refused the login: too many failed logins: {error.describe()}",
            hint="emnify blocks logins for 5 minutes after 3 failures; check the token first",
            provider_code=error.code,
        )
    raise login_refused(LABEL, error.describe(), error.code)


def token_expiry(token: str, now: float) -> float:
    """When the JWT lapses: its ``exp`` claim, read without verifying the signature (we only
    need to know how long to cache it). Unreadable: ``now + FALLBACK_TOKEN_TTL``."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        exp = float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return now + FALLBACK_TOKEN_TTL
    return exp if math.isfinite(exp) else now + FALLBACK_TOKEN_TTL


def _bearer(token: str) -> dict[str, str]:
    return {"Accept": "application/json", "Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- lookup


def lookup_query(target: Target) -> str:
    """The ``q`` filter for an iccid: or name: target (§2.5, with the ICCID length trap)."""
    if target.kind == "name":
        if "," in target.value:
            # q takes "field:criteria[,field:criteria]": a comma would start a new criterion.
            raise InputError(
                f"name:{target.value}: emnify's endpoint filter cannot express a name with ','",
                hint="send to endpoint:ID instead",
                code="invalid_target",
            )
        return f"name:{target.value}"
    if target.kind == "iccid":
        if len(target.value) == 19:
            return f"iccid:{target.value}"
        if len(target.value) == 20:
            return f"iccid_with_luhn:{target.value}"
        raise InputError(
            f"iccid:{target.value} has {len(target.value)} digits; emnify looks ICCIDs up by "
            "19 digits (without the Luhn digit) or 20 (with it)",
            code="invalid_target",
        )
    raise InputError(f"{target} cannot be looked up on emnify", code="unsupported_target")


def lookup_request(base_url: str, token: str, target: Target, page: int = 1) -> Request:
    params = {"q": lookup_query(target)}
    if page > 1:
        params["page"] = str(page)
    return Request("GET", f"{base_url}{API}/endpoint", headers=_bearer(token), params=params)


@dataclass(frozen=True, slots=True)
class LookupPage:
    """The endpoints of one page that match the target exactly, and the next page if any."""

    ids: tuple[str, ...]
    next_page: int | None = None


def parse_lookup(response: Response, target: Target) -> LookupPage:
    what = f"the lookup of {target}"
    if not _check_reply(response, what):
        raise _refused(what, response)
    body = json_body(response)
    if isinstance(body, dict) and ("error_code" in body or "error_token" in body):
        raise _refused(what, response)
    # A single object where a list was expected is taken as a list of one.
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else None
    if items is None:
        raise _unreadable(what, response)
    ids = tuple(
        eid for item in items if (eid := _endpoint_id(item)) and _matches(expect_dict(item), target)
    )
    return LookupPage(ids, _next_page(response))


def _endpoint_id(item: Any) -> str | None:
    return _id_text(expect_dict(item).get("id"))


def _matches(item: Mapping[str, Any], target: Target) -> bool:
    """Exact match: the API may match names and ICCIDs by prefix or substring (UNCONFIRMED)."""
    if target.kind == "name":
        return _text(item.get("name")) == target.value
    sim = expect_dict(item.get("sim"))
    stored = {_text(sim.get("iccid")), _text(sim.get("iccid_with_luhn")), _text(item.get("iccid"))}
    wanted = target.value
    for iccid in stored:
        if iccid is None:
            continue
        # emnify's iccid is 19 digits and iccid_with_luhn 20: compare the 19 shared digits when
        # the lengths differ, exactly otherwise.
        if iccid == wanted or (len(iccid) != len(wanted) and iccid[:19] == wanted[:19]):
            return True
    return False


def _next_page(response: Response) -> int | None:
    current = _int(response.header("x-current-page"))
    total = _int(response.header("x-total-pages"))
    if current is None or total is None or current >= total:
        return None
    return current + 1


def pick_endpoint(target: Target, ids: Sequence[str]) -> str:
    """The one endpoint a lookup found; none or several is a refusal (exit 5)."""
    unique = list(dict.fromkeys(ids))
    if len(unique) == 1:
        return unique[0]
    what = f"named {target.value!r}" if target.kind == "name" else f"with iccid {target.value}"
    if not unique:
        raise ProviderRefused(
            f"{LABEL}: no endpoint {what}",
            hint="check the spelling in the emnify portal, or send to endpoint:ID",
            code="unknown_target",
        )
    raise ProviderRefused(
        f"{LABEL}: {len(unique)} endpoints {what}: ids {', '.join(unique)}",
        hint="send to one of them with --to endpoint:ID",
        code="ambiguous_target",
    )


# --------------------------------------------------------------------------- send


@dataclass(frozen=True, slots=True)
class SmsFields:
    """Everything of a send request except one part's payload and udh."""

    dcs: int
    source_address: str | None = None
    source_address_type: int | None = None
    dest_address: str | None = None
    expiry_date: str | None = None


def source_address(sender: str | None, forced_type: int | None) -> tuple[str | None, int | None]:
    """``source_address`` and its type from ``--from`` (and ``--source-type``).

    "+digits" is international (145), digits national (161), anything else alphanumeric
    (208, at most 11 characters). For numeric types the digits go without "+" and separators:
    the type already says "international", as SMPP's source_addr does (emnify's expected
    spelling is UNCONFIRMED; the docs' example is "12345689").
    """
    if forced_type is not None and forced_type not in SOURCE_TYPES:
        raise InputError(
            f"--source-type {forced_type}: use 145 (international), 161 (national) or 208 "
            "(alphanumeric)",
            code="invalid_option",
        )
    if not sender or not sender.strip():
        if forced_type is not None:
            raise InputError("--source-type needs a sender (--from)", code="invalid_option")
        return None, None
    value = sender.strip()
    compact = _NUMBER_SEPARATORS.sub("", value)
    digits = compact.removeprefix("+")
    numeric = _DIGITS.fullmatch(digits) is not None
    kind = forced_type or (
        (INTERNATIONAL if compact.startswith("+") else NATIONAL) if numeric else ALPHANUMERIC
    )
    if kind != ALPHANUMERIC:
        if not numeric:
            raise InputError(
                f"sender {value!r} is not a number; source type {kind} "
                f"({SOURCE_TYPES[kind]}) needs digits",
                hint="drop --source-type, or use --source-type 208 for a name",
                code="invalid_sender",
            )
        value = digits
    elif len(value) > MAX_ALPHANUMERIC:
        raise InputError(
            f"alphanumeric sender {value!r} has {len(value)} characters; at most "
            f"{MAX_ALPHANUMERIC}",
            code="invalid_sender",
        )
    if len(value) > MAX_SOURCE_ADDRESS:
        raise InputError(
            f"sender {value!r} is longer than emnify's {MAX_SOURCE_ADDRESS} characters",
            code="invalid_sender",
        )
    return value, kind


def dcs_alphabet(dcs: int) -> Encoding | None:
    """The character set a data coding scheme announces (3GPP TS 23.038 §4); None for the
    reserved groups. 8-bit data reads as BINARY."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding, with or without automatic deletion
        return {0: Encoding.GSM7, 1: Encoding.BINARY, 2: Encoding.UCS2}.get((dcs >> 2) & 0x3)
    if group in (0xC, 0xD):  # message waiting indication: GSM-7
        return Encoding.GSM7
    if group == 0xE:
        return Encoding.UCS2
    if group == 0xF:  # data coding / message class
        return Encoding.BINARY if dcs & 0x4 else Encoding.GSM7
    return None


def message_dcs(message: Message) -> int:
    """``dcs``: the encoding's own, or ``--dcs N`` when its alphabet matches how the text was
    split (a UCS-2 dcs on GSM-7 parts would make each part too long, and vice versa)."""
    natural = DCS_UCS2 if message.encoding is Encoding.UCS2 else DCS_GSM7
    forced = _int(message.extra.get("dcs"))
    if forced is None:
        return natural
    if not 0 <= forced <= 255:
        raise InputError(f"--dcs {forced}: a data coding scheme is 0-255", code="invalid_option")
    alphabet = dcs_alphabet(forced)
    octets = len(message.text.encode("utf-8"))
    if alphabet is Encoding.BINARY and (message.check.segments > 1 or octets > MAX_OCTETS):
        # The payload goes as UTF-8 text: 8-bit parts would be cut by octets, not by the
        # characters the text was split by, so only a single part is safe.
        raise InputError(
            f"--dcs {forced} announces 8-bit data: one part of at most {MAX_OCTETS} octets, "
            f"and this text is {octets} octets in {message.check.segments} part(s)",
            code="invalid_option",
        )
    if alphabet in (Encoding.GSM7, Encoding.UCS2) and alphabet is not message.encoding:
        raise InputError(
            f"--dcs {forced} announces {alphabet} but the text is {message.encoding}",
            hint=f"add --encoding {alphabet}, or drop --dcs (it would be {natural})",
            code="invalid_option",
        )
    return forced


def expiry_date(now: float, validity_seconds: int | None) -> str | None:
    if validity_seconds is None:
        return None
    moment = datetime.fromtimestamp(now + validity_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sms_fields(message: Message, now: float) -> SmsFields:
    address, kind = source_address(message.sender, _int(message.extra.get("source_type")))
    dest = message.extra.get("dest_address")
    return SmsFields(
        dcs=message_dcs(message),
        source_address=address,
        source_address_type=kind,
        dest_address=str(dest) if dest else None,
        expiry_date=expiry_date(now, message.validity_seconds),
    )


def send_request(
    base_url: str, token: str, endpoint_id: str, fields: SmsFields, payload: str, udh: str = ""
) -> Request:
    body: dict[str, Any] = {"payload": payload}
    if fields.source_address is not None:
        body["source_address"] = fields.source_address
    if fields.source_address_type is not None:
        body["source_address_type"] = {"id": fields.source_address_type}
    if fields.dest_address is not None:
        body["dest_address"] = fields.dest_address
    if udh:
        body["udh"] = udh
    body["dcs"] = fields.dcs
    if fields.expiry_date is not None:
        body["expiry_date"] = fields.expiry_date
    return Request(
        "POST",
        f"{base_url}{API}/endpoint/{endpoint_id}/sms",
        headers={**_bearer(token), "Content-Type": "application/json"},
        json=body,
    )


@dataclass(frozen=True, slots=True)
class Accepted:
    """One part the API took: its SMS id (None: the 201 had no Location), and what the
    reply's headers said."""

    sms_id: str | None
    date: str | None = None
    request_id: str | None = None
    from_list: bool = False  # the id came from the SMS list, not from Location


def parse_send(response: Response) -> Accepted:
    """201 with an empty body: the id is the last path segment of ``Location``. The body is
    never parsed (the seed shows ``{}``, recorded traffic shows nothing). The documented
    201 without a usable ``Location`` still took the message: accepted, its id unknown
    (None) here. Another 2xx without one is no answer smscli knows: outcome unknown."""
    if not _check_reply(response, "the message", sends_message=True):
        raise _refused("the message", response)
    sms_id = _location_id(response.header("location"))
    if sms_id is None and response.status_code != 201:
        raise OutcomeUnknown(
            f"{LABEL} answered the message with HTTP {response.status_code} and no Location "
            f"({_describe_body(response)}); the message may have been sent",
            hint="check the endpoint's SMS list in the emnify portal before re-running",
            code="unreadable_reply",
        )
    return Accepted(
        sms_id,
        date=_http_date(response.header("date")),
        # emnify sits behind AWS API Gateway (x-amzn-ErrorType is recorded); its request id
        # header is UNCONFIRMED, so it is shown only when present.
        request_id=response.header("x-amzn-requestid") or response.header("x-request-id"),
    )


def sms_list_request(base_url: str, token: str, endpoint_id: str) -> Request:
    return Request("GET", f"{base_url}{API}/endpoint/{endpoint_id}/sms", _bearer(token))


def find_sent(response: Response, payload: str, udh: str, around: float) -> str | None:
    """The id of the one MT SMS in an endpoint's list with this payload and udh, submitted
    within ``ID_LOOKUP_WINDOW`` seconds of ``around``; None when there is none, several,
    or the reply cannot be read (the id then stays unknown: nothing is raised)."""
    if not 200 <= response.status_code < 300:
        return None
    body = json_body(response)
    found: set[str] = set()
    for item in body if isinstance(body, list) else []:
        sms = expect_dict(item)
        if is_received(sms):
            continue
        if _text(sms.get("payload")) != payload.strip() or (_text(sms.get("udh")) or "") != udh:
            continue
        submitted = _epoch(sms.get("submit_date"))
        if submitted is None or abs(submitted - around) > ID_LOOKUP_WINDOW:
            continue
        if (sms_id := _id_text(sms.get("id"))) is not None:
            found.add(sms_id)
    return found.pop() if len(found) == 1 else None


def is_received(sms: Mapping[str, Any]) -> bool:
    """An MO SMS (the device's): ``sms_type`` says "MO". Only MT = 1 is documented by id,
    the MO id is UNCONFIRMED, so the description decides, and without one any id but 1."""
    kind = expect_dict(sms.get("sms_type"))
    word = _text(kind.get("description"))
    if word is not None:
        return word.upper() == "MO"
    return _int(kind.get("id")) not in (None, 1)


def parse_replies(
    response: Response, endpoint_id: str, since: float | None, profile: str | None
) -> list[Reply]:
    """The MO entries of an endpoint's SMS list (``sms_type`` "MO", see ``is_received``),
    submitted at or after ``since``, oldest first. The list has no documented query
    parameters (no date or direction filter), so the filtering is done here. The reply's id
    is emnify's SMS id (numeric; its MO ``sms_type`` id is UNCONFIRMED, not its SMS id)."""
    if not _check_reply(response, "the endpoint's SMS list"):
        raise _refused("the endpoint's SMS list", response)
    body = json_body(response)
    if not isinstance(body, list):
        raise _unreadable("the endpoint's SMS list", response)
    found: list[tuple[float, Reply]] = []
    for item in body:
        sms = expect_dict(item)
        if not is_received(sms):
            continue
        sms_id = _id_text(sms.get("id"))
        submitted = _epoch(sms.get("submit_date"))
        if sms_id is None or (since is not None and (submitted or 0) < since):
            continue
        source = _text(sms.get("source_address"))  # a number in the old callback docs
        reply = Reply(
            provider=INFO.slug, reply_id=sms_id, sender=f"endpoint:{endpoint_id}",
            text=_text(sms.get("payload")) or "", date=iso_from_text(sms.get("submit_date")),
            profile=profile, details={"source_address": source} if source else {},
        )  # fmt: skip
        found.append((submitted or 0, reply))
    return [r for _, r in sorted(found, key=lambda pair: pair[0])]


def _epoch(value: Any) -> float | None:
    text = iso_from_text(value)
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def _location_id(location: str | None) -> str | None:
    if not location:
        return None
    segment = urlsplit(location.strip()).path.rstrip("/").rsplit("/", 1)[-1]
    return segment if segment and segment.lower() != "sms" else None


# --------------------------------------------------------------------------- status


def status_request(base_url: str, token: str, endpoint_id: str, sms_id: str) -> Request:
    return Request("GET", f"{base_url}{API}/endpoint/{endpoint_id}/sms/{sms_id}", _bearer(token))


def parse_status(response: Response) -> StatusReport:
    what = "the status lookup"
    if not _check_reply(response, what):
        error = api_error(response)
        raise ProviderRefused(
            f"{LABEL} refused {what}: {error.describe()}",
            provider_code=error.code,
            code="unknown_message" if response.status_code == 404 else "provider_rejected",
        )
    body = json_body(response)
    if isinstance(body, list):
        body = body[0] if body else None
    if not isinstance(body, dict):
        raise _unreadable(what, response)
    if "error_code" in body or "error_token" in body:
        raise _refused(what, response)
    return _report(body)


def _report(sms: Mapping[str, Any]) -> StatusReport:
    raw = sms.get("status")
    obj = expect_dict(raw)
    status_id = _int(obj.get("id")) if obj else _int(raw)
    word = _text(obj.get("description")) if obj else None
    if word is None and status_id is None and isinstance(raw, str):
        word = raw.strip()
    if status_id is None and word is not None:
        status_id = STATUS_ID_BY_WORD.get(word.lower())
    status = Status.UNKNOWN if status_id is None else STATUS_BY_ID.get(status_id, Status.UNKNOWN)
    provider_status = word or (str(status_id) if status_id is not None else None)
    when = _status_date(sms, status)
    error = None
    map_error = _map_error(sms.get("gsm_map_error"))
    if status in (Status.FAILED, Status.EXPIRED, Status.REJECTED) and map_error:
        # What emnify adds to the status (pipeline.waiting.delivery_error gives the shape).
        error = {"detail": f"GSM MAP error {map_error}", "provider_code": map_error}
    endpoint = expect_dict(sms.get("endpoint"))
    details = {
        "sms_id": _id_text(sms.get("id")),
        "endpoint_id": _id_text(sms.get("endpoint_id")) or _id_text(endpoint.get("id")),
        "submit_date": iso_from_text(sms.get("submit_date")),
        "delivery_date": iso_from_text(sms.get("delivery_date")),
        "expiry_date": iso_from_text(sms.get("expiry_date")),
        "retry_count": _int(sms.get("retry_count")),
        "gsm_map_error": map_error,
    }
    return StatusReport(
        status=status,
        provider_status=provider_status,
        date=when,
        error=error,
        details={k: v for k, v in details.items() if v is not None},
    )


def _status_date(sms: Mapping[str, Any], status: Status) -> str | None:
    keys: tuple[str, ...]
    if status is Status.DELIVERED:
        keys = ("delivery_date", "final_date", "submit_date")
    elif status.is_final:
        keys = ("final_date", "last_delivery_attempt", "submit_date")
    else:
        keys = ("last_delivery_attempt", "submit_date")
    for key in keys:
        if when := iso_from_text(sms.get(key)):
            return when
    return None


def _map_error(value: Any) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("description")) or _text(value.get("id"))
    return _text(value)


def combine(reports: Mapping[str, StatusReport]) -> StatusReport:
    """One status for a message sent in parts: a final failure of any part wins, then the
    least advanced part; delivered only when every part is."""
    items = list(reports.values())
    if len(items) == 1:
        return items[0]
    failed = [r for r in items if r.status.is_final and r.status is not Status.DELIVERED]
    worst = failed[0] if failed else min(items, key=lambda r: _PROGRESS.get(r.status, 0))
    parts = {sms_id: r.provider_status or r.status.value for sms_id, r in reports.items()}
    when = worst.date
    if worst.status is Status.DELIVERED:  # delivered when its last part was
        when = max((r.date for r in items if r.date), default=None)
    return StatusReport(
        status=worst.status,
        provider_status=worst.provider_status,
        date=when,
        error=worst.error,
        details={**worst.details, "parts": parts},
    )


# --------------------------------------------------------------------------- helpers


def _text(value: Any) -> str | None:
    """A string or a number as text (numbers arrive as strings and vice versa)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _id_text(value: Any) -> str | None:
    number = _int(value)
    return str(number) if number is not None else _text(value)


def _http_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC).isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "…"


def _describe_body(response: Response) -> str:
    body = json_body(response)
    if isinstance(body, dict):
        # Key names only: a body we cannot read may still hold a token.
        return "JSON with keys " + ", ".join(sorted(str(k) for k in body)[:8]) if body else "{}"
    if isinstance(body, list):
        return f"a JSON list of {len(body)}"
    return snippet(response)


def new_reference() -> int:
    """The concatenation reference of one message (tests replace it)."""
    return random.randrange(256)


# --------------------------------------------------------------------------- reconcile


def parse_sms_list(response: Response) -> tuple[list[dict[str, Any]], bool]:
    """An endpoint's SMS list, and whether it is the whole list: a reply with paging headers
    (``X-Total-Count`` larger than the page, ``X-Total-Pages`` > 1; the sandbox sends none
    for this list, whether emnify pages it is UNCONFIRMED) is not."""
    if not _check_reply(response, "the SMS list"):
        raise _refused("the SMS list", response)
    body = json_body(response)
    if not isinstance(body, list):
        raise _unreadable("the SMS list", response)
    items = [expect_dict(item) for item in body]
    total = _int(response.header("x-total-count"))
    pages = _int(response.header("x-total-pages"))
    complete = (total is None or total <= len(items)) and (pages is None or pages <= 1)
    return items, complete


def find_unknown_send(
    items: list[dict[str, Any]], complete: bool, text: str, start: float, end: float
) -> Reconciled:
    """The MT SMS with this payload submitted in [start, end]: one → accepted with its id;
    none in a complete list → not-sent; otherwise still unknown."""
    found: list[str] = []
    for sms in items:
        if is_received(sms) or _text(sms.get("payload")) != text.strip():
            continue
        submitted = _epoch(sms.get("submit_date"))
        if submitted is None or not start <= submitted <= end:
            continue
        found.append(_id_text(sms.get("id")) or "")
    if len(found) == 1 and found[0]:
        return Reconciled(Status.ACCEPTED, found[0], reason="found in the endpoint's SMS list")
    if found:
        return Reconciled(
            Status.UNKNOWN, reason=f"{len(found)} SMS with this text in the window: cannot tell"
        )
    if not complete:
        return Reconciled(Status.UNKNOWN, reason="the endpoint's SMS list is paged: cannot tell")
    return Reconciled(Status.NOT_SENT, reason="not in the endpoint's SMS list")


# --------------------------------------------------------------------------- cancel


def cancel_request(base_url: str, token: str, endpoint_id: str, sms_id: str) -> Request:
    return Request("DELETE", f"{base_url}{API}/endpoint/{endpoint_id}/sms/{sms_id}", _bearer(token))


def parse_cancel(response: Response, sms_id: str) -> StatusReport:
    """``DELETE …/sms/{id}``: any 2xx (the docs: 200 with an empty body; ``--spec-strict``
    and perhaps production: ``{}``) is canceled. 409 is what emnify answers for a message it
    will not cancel any more (delivered, failed, expired, already canceled; the error code
    1406 NotAllowed is UNCONFIRMED, so any 409 reads so): exit 5. 404: no such SMS (exit 4)."""
    what = f"the cancel of SMS {sms_id}"
    if _check_reply(response, what):
        return StatusReport(
            status=Status.CANCELED, provider_status="CANCELED", details={"sms_id": sms_id}
        )
    error = api_error(response)
    if response.status_code == 404:
        raise InputError(
            f"{LABEL} has no SMS {sms_id} for this endpoint ({error.describe()})",
            code="unknown_message",
            provider_code=error.code,
        )
    if response.status_code == 409:
        raise ProviderRefused(
            f"{LABEL} did not cancel SMS {sms_id}: it is no longer buffered (delivered, "
            f"failed, expired or canceled already) ({error.describe()})",
            hint="`smscli status ID` shows what became of it",
            code="not_cancelable",
            provider_code=error.code,
        )
    raise _refused(what, response)


# --------------------------------------------------------------------------- callbacks

# after-the-send.md §1.1: the resources exist at these paths; their bodies are UNCONFIRMED
# (``{"url", "purpose"}``, ``{"secret", "purpose"}`` → ``{"id", …}``, or an id in Location).
CALLBACK_KINDS: Final = ("api_callback", "api_secret")
CALLBACK_PURPOSE: Final = "smscli"


def create_request(base_url: str, token: str, kind: str, body: Mapping[str, Any]) -> Request:
    headers = {**_bearer(token), "Content-Type": "application/json"}
    return Request("POST", f"{base_url}{API}/{kind}", headers, json=dict(body))


def resource_list_request(base_url: str, token: str, kind: str) -> Request:
    return Request("GET", f"{base_url}{API}/{kind}", _bearer(token))


def resource_delete_request(base_url: str, token: str, kind: str, ident: str) -> Request:
    return Request("DELETE", f"{base_url}{API}/{kind}/{ident}", _bearer(token))


def service_profile_request(
    base_url: str, token: str, profile_id: str, links: Mapping[str, Any]
) -> Request:
    """``PATCH /api/v1/service_profile/{id}`` ``{"api_callback": {"id"}, "api_secret":
    {"id"}}`` (the field names: the service profile schema; the body UNCONFIRMED)."""
    headers = {**_bearer(token), "Content-Type": "application/json"}
    return Request(
        "PATCH", f"{base_url}{API}/service_profile/{profile_id}", headers, json=dict(links)
    )


def parse_resource(response: Response, what: str) -> Any:
    """A 2xx reply's JSON (None when empty); a refusal: 404 exit 4, 422 and the rest exit 5,
    a path the API lacks exit 3."""
    if _check_reply(response, what):
        body = json_body(response)
        if body is None and response.header("location"):
            return {"id": _location_id(response.header("location"))}
        return body
    error = api_error(response)
    if _missing_route(response.status_code, error) and response.status_code != 404:
        raise wrong_path(INFO, response, what)
    if response.status_code == 404:
        raise InputError(
            f"{LABEL} has no {what} ({error.describe()})",
            code="unknown_callback",
            provider_code=error.code,
        )
    raise _refused(what, response)


def shown_resource(kind: str, item: Any) -> dict[str, Any]:
    """An api_callback or api_secret as smscli shows it: never a secret value."""
    data = expect_dict(item)
    return {
        "provider": INFO.slug,
        "kind": kind,
        "id": _id_text(data.get("id")),
        "url": _text(data.get("url")) if kind == "api_callback" else None,
        "purpose": _text(data.get("purpose")),
    }


def callback_ident(ident: str) -> tuple[str, str]:
    """``ID`` (an api_callback), ``api_callback:ID`` or ``api_secret:ID``."""
    kind, colon, value = ident.partition(":")
    if not colon:
        kind, value = "api_callback", ident
    if kind not in CALLBACK_KINDS or not _DIGITS.fullmatch(value):
        raise InputError(
            f"not an emnify callback id: {ident!r}",
            hint="give ID (an api_callback) or api_secret:ID, as `smscli callbacks list` shows",
            code="invalid_id",
        )
    return kind, value


# --------------------------------------------------------------------------- provider


class Emnify(Provider):
    info = INFO

    def request_count(self, message: Message, targets: Sequence[Target]) -> int:
        # One POST per UDH part, plus a lookup for targets named by ICCID or name: the
        # 2,000-requests-per-5-minutes limit counts requests, not messages.
        return sum(message.check.segments + (t.kind != "endpoint") for t in targets)

    def check_message(self, message: Message, targets: Sequence[Target]) -> None:
        for target in targets:
            if target.kind != "endpoint":
                lookup_query(target)
        sms_fields(message, 0.0)
        if message.check.segments > 1:
            udh_parts(message.check, 0)  # more than 255 parts cannot be numbered

    def dry_run(self, message: Message, targets: Sequence[Target]) -> list[Request]:
        token = "***"  # obtained at run time
        fields = sms_fields(message, time.time())
        parts = udh_parts(message.check, new_reference())
        secret = self.settings.get("application_token") or "***"
        requests = [login_request(self.base_url, secret)]
        for target in targets:
            endpoint_id = target.value
            if target.kind != "endpoint":
                requests.append(lookup_request(self.base_url, token, target))
                endpoint_id = "{endpoint_id}"
            requests += [
                send_request(self.base_url, token, endpoint_id, fields, payload, udh)
                for udh, payload in parts
            ]
        return requests

    def send(
        self, session: Session, message: Message, targets: Sequence[Target]
    ) -> list[SendResult]:
        return [self._send_one(session, message, target) for target in targets]

    def _send_one(self, session: Session, message: Message, target: Target) -> SendResult:
        endpoint_id = self.resolve(session, target)
        fields = sms_fields(message, session.now())
        parts = udh_parts(message.check, new_reference())
        accepted: list[Accepted] = []
        for number, (udh, payload) in enumerate(parts, start=1):
            try:
                accepted.append(self._post(session, endpoint_id, fields, payload, udh))
            except SmscliError as exc:
                if not accepted:
                    raise  # nothing went out: the error says it all
                return self._incomplete(target, message, endpoint_id, accepted, number, exc)
        first = accepted[0]
        details: dict[str, Any] = {"endpoint_id": endpoint_id, "dcs": fields.dcs}
        if len(parts) > 1:
            details["udh"] = [udh for udh, _ in parts]
        if any(a.sms_id is None for a in accepted):
            details["sms_id"] = "unknown: the 201 had no Location, and the SMS list showed no match"
        elif any(a.from_list for a in accepted):
            details["sms_id"] = "from the endpoint's SMS list (the 201 had no Location)"
        if fields.source_address_type is not None:
            details["source_address_type"] = fields.source_address_type
        if fields.expiry_date is not None:
            details["expiry_date"] = fields.expiry_date
        return self.result(
            target,
            Status.ACCEPTED,
            message,
            message_id=first.sms_id,
            request_id=first.request_id,
            # The Date header of the 201; without one, when the reply came (our clock).
            date=first.date or iso_from_epoch(session.now()),
            parts=[a.sms_id for a in accepted if a.sms_id is not None],
            details=details,
        )

    def _incomplete(
        self,
        target: Target,
        message: Message,
        endpoint_id: str,
        accepted: list[Accepted],
        number: int,
        exc: SmscliError,
    ) -> SendResult:
        """Part ``number`` failed after earlier parts went out.

        The device holds a fragment now, so this is no longer "not sent": the RESULT is
        ``failed`` with the error and the ids that went out (exit 5 for the run), so the
        user can see what reached the device. A reply that may have been processed stays
        OutcomeUnknown (exit 7), with those ids in its message.
        """
        total = len(message.check.parts)
        ids = [a.sms_id or "unknown" for a in accepted]
        where = f"part {number} of {total} to {target}"
        if isinstance(exc, OutcomeUnknown):
            raise OutcomeUnknown(
                f"{where}: {exc.message}; parts already accepted: ids {', '.join(ids)}",
                hint=exc.hint,
                code=exc.code,
                provider_code=exc.provider_code,
            ) from exc
        return self.result(
            target,
            Status.FAILED,
            message,
            message_id=ids[0],
            date=accepted[0].date,
            parts=ids,
            error={
                "code": exc.code,
                "message": f"{where}: {exc.message}; the device got only parts 1-{number - 1}",
                "hint": exc.hint,
                "exit_code": int(exc.exit_code),
                "provider_code": exc.provider_code,
            },
            details={"endpoint_id": endpoint_id, "parts_sent": f"{number - 1} of {total}"},
        )

    def _post(
        self, session: Session, endpoint_id: str, fields: SmsFields, payload: str, udh: str
    ) -> Accepted:
        def attempt(token: str) -> Accepted:
            request = send_request(self.base_url, token, endpoint_id, fields, payload, udh)
            return parse_send(session.call(request, sends_message=True))

        accepted = self._authed(session, attempt)
        if accepted.sms_id is not None:
            return accepted
        return self._id_from_list(session, endpoint_id, payload, udh, accepted)

    def _id_from_list(
        self, session: Session, endpoint_id: str, payload: str, udh: str, accepted: Accepted
    ) -> Accepted:
        """The id of a part whose 201 had no Location, from the endpoint's SMS list; the
        message was taken either way, so a failed lookup leaves the id unknown."""
        around = _epoch(accepted.date) or session.now()

        def attempt(token: str) -> str | None:
            request = sms_list_request(self.base_url, token, endpoint_id)
            return find_sent(session.call(request), payload, udh, around)

        try:
            sms_id = self._authed(session, attempt)
        except SmscliError:
            return accepted
        if sms_id is None:
            return accepted
        return Accepted(sms_id, accepted.date, accepted.request_id, from_list=True)

    def resolve(self, session: Session, target: Target) -> str:
        """The endpoint id of a target (an iccid: or name: costs one lookup per page)."""
        if target.kind == "endpoint":
            return target.value
        ids: list[str] = []
        page: int | None = 1
        # Past MAX_LOOKUP_PAGES the filter is too loose to be worth reading further: decide
        # on what was found.
        for _ in range(MAX_LOOKUP_PAGES):
            if page is None or len(set(ids)) > 1:
                break
            found = self._lookup(session, target, page)
            ids += found.ids
            page = found.next_page
        return pick_endpoint(target, ids)

    def _lookup(self, session: Session, target: Target, page: int) -> LookupPage:
        def attempt(token: str) -> LookupPage:
            request = lookup_request(self.base_url, token, target, page)
            return parse_lookup(session.call(request), target)

        return self._authed(session, attempt)

    def status(self, session: Session, record: Mapping[str, Any]) -> StatusReport:
        sms_ids, endpoint_id = self._located(session, record)
        reports = {sms_id: self._status_one(session, endpoint_id, sms_id) for sms_id in sms_ids}
        return combine(reports)

    def _located(self, session: Session, record: Mapping[str, Any]) -> tuple[list[str], str]:
        """A history row's SMS ids (one per part) and its endpoint id."""
        parts = record.get("parts")
        sms_ids = [str(p) for p in parts if p] if isinstance(parts, list) else []
        sms_ids = sms_ids or [str(record.get("message_id") or "")]
        if not sms_ids[0]:
            raise InputError("this message has no emnify SMS id to look up", code="no_message_id")
        endpoint_id = _id_text(expect_dict(record.get("details")).get("endpoint_id"))
        if endpoint_id is None:
            kind, _, value = str(record.get("target") or "").partition(":")
            if not value:
                raise InputError(
                    "this message's history row names no emnify endpoint", code="no_endpoint"
                )
            endpoint_id = self.resolve(session, Target(kind, value))
        return sms_ids, endpoint_id

    def reconcile(self, session: Session, lookup: SendLookup) -> Reconciled:
        """Look an unknown send up in its endpoint's SMS list (MT entries, by payload and
        submit time). A message in parts is not matched (each part is its own SMS)."""
        record = lookup.record
        if lookup.text is None:
            return Reconciled(Status.UNKNOWN, reason="the history keeps no text to match")
        if (record.get("segments") or 1) > 1:
            return Reconciled(Status.UNKNOWN, reason="a message in parts: cannot tell")
        endpoint_id = _id_text(expect_dict(record.get("details")).get("endpoint_id"))
        if endpoint_id is None:
            kind, _, value = str(record.get("target") or "").partition(":")
            endpoint_id = self.resolve(session, Target(kind, value))

        def attempt(token: str) -> tuple[list[dict[str, Any]], bool]:
            request = sms_list_request(self.base_url, token, endpoint_id)
            return parse_sms_list(session.call(request))

        items, complete = self._authed(session, attempt)
        found = find_unknown_send(items, complete, lookup.text, lookup.start, lookup.end)
        return found._replace(details={"endpoint_id": endpoint_id})

    def cancel(self, session: Session, record: Mapping[str, Any]) -> StatusReport:
        """Cancel every part of a buffered message (``DELETE …/sms/{id}``)."""
        sms_ids, endpoint_id = self._located(session, record)

        def one(sms_id: str) -> StatusReport:
            def attempt(token: str) -> StatusReport:
                request = cancel_request(self.base_url, token, endpoint_id, sms_id)
                return parse_cancel(session.call(request), sms_id)

            return self._authed(session, attempt)

        reports = {sms_id: one(sms_id) for sms_id in sms_ids}
        first = next(iter(reports.values()))
        details: dict[str, Any] = {"endpoint_id": endpoint_id, "canceled": list(reports)}
        return first._replace(details=details, date=iso_from_epoch(session.now()))

    def _status_one(self, session: Session, endpoint_id: str, sms_id: str) -> StatusReport:
        def attempt(token: str) -> StatusReport:
            request = status_request(self.base_url, token, endpoint_id, sms_id)
            return parse_status(session.call(request))

        return self._authed(session, attempt)

    def inbox(
        self, session: Session, since: float | None, senders: Sequence[Target]
    ) -> Iterator[list[Reply]]:
        """One page per endpoint: its SMS list, MO entries only (emnify has no
        organisation-wide SMS list, so the endpoints must be named)."""
        for target in senders:
            endpoint_id = self.resolve(session, target)

            def attempt(token: str, endpoint_id: str = endpoint_id) -> list[Reply]:
                request = sms_list_request(self.base_url, token, endpoint_id)
                return parse_replies(
                    session.call(request), endpoint_id, since, self.settings.profile
                )

            yield self._authed(session, attempt)

    # -- callbacks ------------------------------------------------------------------------
    callback_options = frozenset({"service_profile"})

    def callback_hint(self, registered: Sequence[Mapping[str, Any]]) -> str | None:
        if any(item.get("service_profile") for item in registered):
            return None
        return (
            "emnify pushes only for endpoints whose service profile has the callback (and "
            "secret): attach them with --service-profile ID, or in the emnify portal"
        )

    def register_callback(
        self, session: Session, url: str, options: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """An api_callback for ``url``; an api_secret with the profile's callback_secret
        (the callbacks then carry a JWT signed with it); with ``service_profile``, both
        attached to that service profile (emnify pushes only for service profiles that have
        them)."""

        profile_id = options.get("service_profile")
        if profile_id is not None and not _DIGITS.fullmatch(str(profile_id)):
            raise InputError(
                f"not an emnify service profile id: {profile_id!r} (a number)",
                code="invalid_id",
            )

        def create(kind: str, body: dict[str, Any]) -> dict[str, Any]:
            def attempt(token: str) -> Any:
                request = create_request(self.base_url, token, kind, body)
                return parse_resource(session.call(request), f"the new {kind}")

            shown = shown_resource(kind, self._authed(session, attempt))
            if kind == "api_callback":
                shown["url"] = shown["url"] or url
            return shown

        done = [create("api_callback", {"url": url, "purpose": CALLBACK_PURPOSE})]
        secret = self.settings.get("callback_secret")
        if secret:
            done.append(create("api_secret", {"secret": secret, "purpose": CALLBACK_PURPOSE}))
        if profile_id:
            links = {f["kind"]: {"id": _int(f["id"]) or f["id"]} for f in done if f["id"]}

            def attach(token: str) -> Any:
                request = service_profile_request(self.base_url, token, str(profile_id), links)
                return parse_resource(session.call(request), f"service profile {profile_id}")

            self._authed(session, attach)
            for item in done:
                item["service_profile"] = str(profile_id)
        return done

    def list_callbacks(self, session: Session) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for kind in CALLBACK_KINDS:

            def attempt(token: str, kind: str = kind) -> Any:
                request = resource_list_request(self.base_url, token, kind)
                return parse_resource(session.call(request), f"the {kind} list")

            items = self._authed(session, attempt)
            found += [shown_resource(kind, i) for i in (items if isinstance(items, list) else [])]
        return found

    def delete_callback(self, session: Session, ident: str) -> list[dict[str, Any]]:
        kind, value = callback_ident(ident)

        def attempt(token: str) -> Any:
            request = resource_delete_request(self.base_url, token, kind, value)
            return parse_resource(session.call(request), f"{kind} {value}")

        self._authed(session, attempt)
        return [{"provider": INFO.slug, "kind": kind, "id": value}]

    def login(self, session: Session) -> None:
        self._login(session)

    def logout(self, session: Session) -> None:
        # emnify has no logout for application-token JWTs: forgetting the token is all.
        session.tokens.clear()

    def _authed(self, session: Session, attempt: Callable[[str], R]) -> R:
        refused: list[str] = []  # what a 401 answered, for the error (SessionExpired's text)

        def noted(token: str) -> R:
            try:
                return attempt(token)
            except SessionExpired as exc:
                refused.append(str(exc))
                raise

        try:
            return with_reauth(
                session, TOKEN_NAME, lambda: self._login(session), noted, label=self.label
            )
        except ProviderRefused as exc:
            if exc.code != "session_refused":
                raise
            # A token from a login that just succeeded, refused for this call: the provider's
            # name, what it refused and what to check (issue 9: it said only "the provider").
            what = refused[-1] if refused else "the request"
            raise ProviderRefused(
                f"{LABEL} refused {what} (HTTP 401) with the auth token it had just issued: "
                "the application token logs in but is not accepted for this call",
                hint="check the application token's permissions in the emnify portal; smscli "
                "logged in once more and does not retry again",
                code="session_refused",
            ) from None

    def _login(self, session: Session) -> str:
        request = login_request(self.base_url, self.settings.require("application_token"))
        token = parse_login(session.call(request))
        session.add_secret(token)
        session.tokens.set(TOKEN_NAME, token, expires_at=token_expiry(token, session.now()))
        return token
