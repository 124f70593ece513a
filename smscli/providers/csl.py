"""CSL SIM Insight XML API (api.m2miportal.com): ``send_sms`` and ``query_sms_mt_details``.

One module on purpose (~660 lines): the XML API's whole vocabulary, the local checks,
the send and status builders and their reply parsers with the error mapping they share;
the ``Csl`` class at the end only sequences them.

- Docs: https://docs.m2miportal.com/jWxc-send-sms (seed 001), query-sms-mt-details,
  authentication, how-requests-work; researched in
  ``reference/providers-telit-csl-fonedynamics.md`` §2 (and the open questions in §4).
- Endpoint: ``POST <base_url>/`` (default ``https://api.m2miportal.com/``); the root element
  names the command, there is no per-command path.
- Headers: ``Content-Type: application/xml``, ``Accept: application/xml``.
- Auth: no session. ``<authentication><username/><password/></authentication>`` and the
  root attributes ``version="1" api_id="…"`` travel inside every request, so the password is
  in the body: the redactor masks ``<password>`` structurally and by value.
- Body: one XML document per message, built and read with xmltodict (imported inside the
  functions that need it, so `--help` and `check` never load it).
- Success: ``<send_sms_response api_id="…"><api_outcome>success</api_outcome></…>``.
- Errors: "api outcome indicating failure" plus "an error description", usually in an HTTP
  200 body. The failure value, the description element's name, any error codes and the HTTP
  statuses are UNCONFIRMED, and the docs were recovered from a lower-cased dump with ``_``
  stripped, so every element name is UNCONFIRMED too: replies are read by normalised names
  (any case, ``_``/``-``/no separator, namespace prefixes dropped), and anything but a
  case-insensitive ``success`` in ``api_outcome`` is a refusal that quotes every other
  element's text and every attribute (the request's echoed ``api_id``/``version`` aside).
  ``<error_description>`` is the sandbox's guess (UNCONFIRMED), so nothing depends on it:
  the description may sit in any element (``<error_message>``, ``<reason>``,
  ``<error><code/><description/></error>``), in an attribute (``<api_outcome
  description="…">``, ``<error code="…" message="…"/>``), in ``api_outcome``'s own text
  ("failure: …"), or be missing ("no error description"). Authentication failures and
  unknown SIMs are recognised by their words wherever they are.

Where the fields come from (shared options of every sending command, then ours):
``--to iccid:…`` → ``<iccid>``; TEXT → ``<message_text>``; ``--hex``/``--base64`` (binary)
→ base64 ``<message_text>`` with ``<data_coding>binary</data_coding>``; ``--from`` →
``<origin>``; ``--ref`` → ``<sms_uid>`` (12 random alphanumerics when absent, returned as
RESULT.reference so `smscli status` can find the message); ``--api-id``, ``--username``,
``--password`` → profile fields; ``--data-coding default|binary`` (this subcommand) →
``Message.extra["data_coding"]``.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any, Final

from smscli.catalog.csl import INFO
from smscli.errors import (
    InputError,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
)
from smscli.models import (
    Encoding,
    Message,
    Reconciled,
    Request,
    Response,
    SendLookup,
    SendResult,
    Settings,
    Status,
    StatusReport,
    Target,
)
from smscli.providers.base import (
    WRONG_PATH_STATUSES,
    Provider,
    Session,
    iso_from_text,
    login_refused,
    raise_for_transport_status,
    snippet,
    wrong_path,
)

LABEL: Final = INFO.label

# Element and attribute names as we write them. Reconstructed from a dump that lost "_" and
# case (UNCONFIRMED): one place to change them if the real API spells them otherwise.
SEND_SMS: Final = "send_sms"
QUERY_SMS_MT_DETAILS: Final = "query_sms_mt_details"
API_VERSION: Final = "1"
ATTR_VERSION: Final = "@version"
ATTR_API_ID: Final = "@api_id"
AUTHENTICATION: Final = "authentication"
USERNAME: Final = "username"
PASSWORD: Final = "password"
ICCID: Final = "iccid"
MESSAGE_TEXT: Final = "message_text"
DATA_CODING: Final = "data_coding"
ORIGIN: Final = "origin"
SMS_UID: Final = "sms_uid"
LASTX: Final = "lastx"

DATA_CODINGS: Final = ("default", "binary")
MAX_BINARY_OCTETS: Final = 120
SMS_UID_LENGTH: Final = 12
MAX_LASTX: Final = 20  # query_sms_mt_details returns at most the last 20 messages
NOT_FOUND: Final = f"not found in the last {MAX_LASTX} messages"

_SMS_UID = re.compile(r"[A-Za-z0-9]{1,12}")
# Lower case and digits only: the docs' examples look like that, and a match that compares
# case-insensitively (we do, lettercase being UNCONFIRMED) can then never confuse two ids.
_UID_ALPHABET: Final = string.ascii_lowercase + string.digits
# XML 1.0 cannot carry these at all, not even as character references (GSM's form feed is
# one of them).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_AUTH_WORDS = re.compile(r"authenticat|credential|password|username|login", re.IGNORECASE)
_UNKNOWN_TARGET_WORDS = re.compile(
    r"\b(unknown|not found|invalid)\b.*\b(iccid|sim|msisdn)\b|"
    r"\b(iccid|sim|msisdn)\b.*\b(unknown|not found)\b",
    re.IGNORECASE,
)
# Names we never quote from a reply: an API that echoes the request must not leak the password.
_NEVER_QUOTED: Final = frozenset({"authentication", "username", "password", "passphrase"})
# Attributes that echo the request (``api_id``, ``version``; ``api_did`` on pushes) or declare
# namespaces: never an error description.
_ECHOED_ATTRIBUTES: Final = frozenset({"apiid", "apidid", "version", "xmlns"})


@dataclass(frozen=True, slots=True)
class Credentials:
    """What authenticates every CSL request (there is no session)."""

    username: str
    password: str
    api_id: str


@dataclass(frozen=True, slots=True)
class Payload:
    """``<message_text>`` and ``<data_coding>`` as they go on the wire."""

    message_text: str
    data_coding: str


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """A ``send_sms_response`` whose ``api_outcome`` was success."""

    outcome: str
    api_id: str | None


@dataclass(frozen=True, slots=True)
class SmsRecord:
    """One ``<sms>`` of a ``query_sms_mt_details_response``."""

    sms_uid: str | None
    status: str | None
    sent_timestamp: str | None
    delivered_timestamp: str | None
    origin: str | None
    message_text: str | None


# --------------------------------------------------------------------------- local checks


def validate_sms_uid(value: str) -> str:
    """``--ref`` as an ``sms_uid``: 1-12 ASCII letters and digits (the docs' rule)."""
    if not _SMS_UID.fullmatch(value):
        raise InputError(
            f"csl sms_uid (--ref) must be 1-{SMS_UID_LENGTH} letters and digits, got {value!r}",
            hint="leave --ref out and smscli generates one",
            code="invalid_reference",
        )
    return value


def new_sms_uid() -> str:
    """A fresh client ``sms_uid``: the only handle `query_sms_mt_details` offers to find a
    message again, so smscli always sends one."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(SMS_UID_LENGTH))


def origin_for(sender: str | None) -> str | None:
    """``--from`` as ``<origin>``: a custom origination *number* (Manx Telecom SIMs only).

    The docs' example is international digits without "+" (447890123456), so a leading "+"
    and separators are dropped; an alphanumeric sender cannot be an origination number.
    """
    if sender is None or not sender.strip():
        return None
    digits = re.sub(r"[\s().-]", "", sender.strip()).removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        raise InputError(
            f"csl origin (--from) must be a phone number, got {sender!r}",
            hint="CSL takes a custom origination number (Manx Telecom SIMs only)",
            code="invalid_sender",
        )
    return digits


def payload_for(message: Message) -> Payload:
    """What goes into ``<message_text>`` and ``<data_coding>``.

    Binary data (``--hex``/``--base64``) is sent base64-encoded with ``binary``.
    ``--data-coding`` overrides that choice: ``binary`` with text means the text already is
    the base64 payload (the docs' own form, ``AAH//oB/``); ``default`` with binary data sends
    the base64 as plain text, for devices that decode it themselves on SIMs without binary SMS.
    """
    forced = message.extra.get("data_coding")
    binary = message.encoding is Encoding.BINARY
    coding = str(forced).lower() if forced else ("binary" if binary else "default")
    if coding not in DATA_CODINGS:
        raise InputError(
            f"csl data_coding must be one of {', '.join(DATA_CODINGS)}, got {forced!r}",
            code="invalid_option",
        )
    if binary:
        data = message.check.data
        text = base64.b64encode(data if data is not None else bytes.fromhex(message.text))
        payload = Payload(text.decode("ascii"), coding)
    else:
        payload = Payload(message.text, coding)
    if coding == "binary":
        _check_binary_text(payload.message_text)
    _check_xml_text(payload.message_text)
    return payload


def _check_binary_text(text: str) -> None:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(
            "csl data_coding binary needs base64 text",
            hint="give the bytes with --hex or --base64, or drop --data-coding binary",
            code="invalid_base64",
        ) from None
    if len(data) > MAX_BINARY_OCTETS:
        raise InputError(
            f"{len(data)} octets of binary data; csl takes at most {MAX_BINARY_OCTETS}",
            code="message_too_long",
        )


def _check_xml_text(text: str) -> None:
    bad = _XML_ILLEGAL.search(text)
    if bad:
        raise InputError(
            f"character U+{ord(bad.group()):04X} at {bad.start()} cannot be sent in CSL's "
            "XML request",
            hint="remove control characters such as form feed",
            code="invalid_text",
        )


# --------------------------------------------------------------------------- requests


def _envelope(
    base_url: str, root: str, creds: Credentials, body: Mapping[str, str | None]
) -> Request:
    import xmltodict

    document: dict[str, Any] = {
        ATTR_VERSION: API_VERSION,
        ATTR_API_ID: creds.api_id,
        AUTHENTICATION: {USERNAME: creds.username, PASSWORD: creds.password},
    }
    document.update({name: value for name, value in body.items() if value is not None})
    xml = xmltodict.unparse({root: document}, pretty=True, indent="  ")
    return Request(
        method="POST",
        # The docs post to the bare host: the command is the root element, not a path.
        url=base_url.rstrip("/") + "/",
        headers={"Content-Type": "application/xml", "Accept": "application/xml"},
        # XML parsers turn a raw CR into LF; a character reference keeps GSM's CR intact.
        content=xml.replace("\r", "&#13;"),
    )


def send_request(
    base_url: str,
    creds: Credentials,
    *,
    iccid: str,
    payload: Payload,
    origin: str | None = None,
    sms_uid: str | None = None,
) -> Request:
    """``send_sms`` for one SIM, elements in the docs' order."""
    return _envelope(
        base_url,
        SEND_SMS,
        creds,
        {
            ICCID: iccid,
            MESSAGE_TEXT: payload.message_text,
            DATA_CODING: payload.data_coding,
            ORIGIN: origin,
            SMS_UID: sms_uid,
        },
    )


def status_request(
    base_url: str, creds: Credentials, *, iccid: str | None, lastx: int = MAX_LASTX
) -> Request:
    """``query_sms_mt_details``: the last ``lastx`` (1-20) MT messages of one SIM."""
    lastx = max(1, min(MAX_LASTX, lastx))
    return _envelope(base_url, QUERY_SMS_MT_DETAILS, creds, {ICCID: iccid, LASTX: str(lastx)})


# --------------------------------------------------------------------------- replies


def _norm(name: str) -> str:
    """An element name compared leniently: ``API-Outcome``, ``api_outcome``, ``ns:apiOutcome``
    are one name (UNCONFIRMED spelling and case)."""
    return re.sub(r"[^a-z0-9]", "", name.lstrip("@").rsplit(":", 1)[-1].lower())


def _read_xml(response: Response) -> tuple[str, dict[str, Any]] | None:
    """The root element's normalised name and its content; None when unreadable."""
    if not response.content.strip():
        return None
    from xml.parsers.expat import ExpatError

    import xmltodict

    try:
        document = xmltodict.parse(response.content, disable_entities=True)
    except (ExpatError, ValueError, TypeError):
        return None
    if not isinstance(document, dict) or len(document) != 1:
        return None
    root, content = next(iter(document.items()))
    return _norm(root), content if isinstance(content, dict) else {}


def _elements(content: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(normalised name, value) of each child element, repeated elements one by one."""
    for _name, key, value in _named_elements(content):
        yield key, value


def _named_elements(content: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(name as written without namespace, normalised name, value) of each child element."""
    for name, value in content.items():
        if name.startswith(("@", "#")):
            continue
        for item in value if isinstance(value, list) else [value]:
            yield name.rsplit(":", 1)[-1], _norm(name), item


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        inner = value.get("#text")
        return inner.strip() if isinstance(inner, str) else ""
    return ""


def _first(content: Mapping[str, Any], name: str) -> str | None:
    for key, value in _elements(content):
        if key == name:
            return _text(value)
    return None


def _attribute(content: Mapping[str, Any], name: str) -> str | None:
    for key, value in content.items():
        if key.startswith("@") and _norm(key) == name and isinstance(value, str):
            return value
    return None


def _quoted(content: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every attribute's and element's text except api_outcome's own, the request's echoes
    and credentials, depth first, for messages (where the error description is, is
    UNCONFIRMED)."""
    yield from _quoted_attributes(content, prefix)
    for name, key, value in _named_elements(content):
        if key in _NEVER_QUOTED:
            continue
        if key == "apioutcome":  # its text is the outcome; its attributes may explain it
            if isinstance(value, dict):
                yield from _quoted_attributes(value, prefix + name + ".")
            continue
        text = _text(value)
        if text:
            yield prefix + name, text
        if isinstance(value, dict):
            yield from _quoted(value, prefix + name + ".")


def _quoted_attributes(content: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for key, value in content.items():
        if not key.startswith("@") or not isinstance(value, str) or not value.strip():
            continue
        name = key[1:].rsplit(":", 1)[-1]
        norm = _norm(name)
        if key.startswith("@xmlns") or norm in _ECHOED_ATTRIBUTES or norm in _NEVER_QUOTED:
            continue
        yield prefix + name, value.strip()


def _one_line(text: str, secret_values: Sequence[str]) -> str:
    for secret in secret_values:
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())


def _refusal(
    content: Mapping[str, Any], outcome: str | None, what: str, secret_values: Sequence[str]
) -> ProviderRefused:
    """The error for a reply whose api_outcome is not success (or that holds only errors)."""
    quoted = list(_quoted(content))
    detail = "; ".join(f"{name}: {text}" for name, text in quoted) or "no error description"
    detail = _one_line(detail, secret_values)
    codes = [text for name, text in quoted if "code" in _norm(name.rsplit(".", 1)[-1])]
    provider_code = codes[0] if codes else (outcome or None)
    shown = f"api_outcome {outcome!r}" if outcome is not None else "no api_outcome"
    said = f"{outcome or ''} {detail}"  # "failure: invalid credentials" says it in the outcome
    if _AUTH_WORDS.search(said):
        return login_refused(LABEL, f"{detail} ({shown})", provider_code)
    code = "unknown_target" if _UNKNOWN_TARGET_WORDS.search(said) else None
    return ProviderRefused(
        f"{LABEL} refused {what} ({shown}): {detail}", code=code, provider_code=provider_code
    )


def _has_error_element(root: str, content: Mapping[str, Any]) -> bool:
    """An element or root attribute named like an error (``<error_description>``,
    ``<response error="…">``): which names the API uses is UNCONFIRMED."""
    return (
        "error" in root
        or any("error" in key for key, _ in _elements(content))
        or any(k.startswith("@") and "error" in _norm(k) for k in content)
    )


def _checked(
    response: Response, *, what: str, sends_message: bool, secret_values: Sequence[str]
) -> tuple[str, dict[str, Any]]:
    """The reply's content when api_outcome is success; the right error otherwise."""
    raise_for_transport_status(response, label=LABEL, sends_message=sends_message)
    parsed = _read_xml(response)
    if parsed is not None:
        root, content = parsed
        # An empty <api_outcome/> says nothing either way: as if there were none (after a
        # send, the message may have gone out: unknown, not refused; issue 9).
        outcome = _first(content, "apioutcome") or None
        if outcome is not None and outcome.lower() == "success":
            return root, content
        # An error-named element with no api_outcome is UNCONFIRMED but unambiguous.
        if outcome is not None or _has_error_element(root, content):
            raise _refusal(content, outcome, what, secret_values)
    raise _unreadable(response, what, sends_message)


def _unreadable(response: Response, what: str, sends_message: bool) -> Exception:
    code = response.status_code
    detail = f"HTTP {code} with {snippet(response)}"
    if code in (401, 403):
        return login_refused(LABEL, detail, str(code))
    if 400 <= code < 500:
        return ProviderRefused(f"{LABEL} refused {what}: {detail}", provider_code=str(code))
    parsed = _read_xml(response)
    empty = parsed is not None and _first(parsed[1], "apioutcome") == ""
    detail = f"HTTP {code} with an empty api_outcome" if empty else f"{detail} and no api_outcome"
    if sends_message:
        return OutcomeUnknown(
            f"{LABEL} answered {detail}; the message may have been sent",
            hint="check `smscli status --last` or `smscli log` before re-running",
            code="unreadable_reply",
        )
    return ProviderUnavailable(f"{LABEL} answered {detail}", code="unreadable_reply")


def parse_send(response: Response, *, secret_values: Sequence[str] = ()) -> SendOutcome:
    """A ``send_sms_response``: success, or the refusal it describes (even in HTTP 200)."""
    _root, content = _checked(
        response, what="the message", sends_message=True, secret_values=secret_values
    )
    return SendOutcome(
        outcome=_first(content, "apioutcome") or "success",
        api_id=_attribute(content, "apiid"),
    )


def parse_status_list(response: Response, *, secret_values: Sequence[str] = ()) -> list[SmsRecord]:
    """The ``<sms>`` entries of a ``query_sms_mt_details_response``, newest first.

    "No messages" is a single empty ``<sms>``, which gives an empty list.
    """
    _root, content = _checked(
        response, what="the status query", sends_message=False, secret_values=secret_values
    )
    records = []
    for key, value in _elements(content):
        if key == "sms" and isinstance(value, dict):
            record = _sms_record(value)
            if any(astuple(record)):
                records.append(record)
    return records


def _sms_record(sms: Mapping[str, Any]) -> SmsRecord:
    def get(name: str) -> str | None:
        return _first(sms, name) or None

    return SmsRecord(
        sms_uid=get("smsuid"),
        status=get("status"),
        sent_timestamp=get("senttimestamp"),
        delivered_timestamp=get("deliveredtimestamp"),
        origin=get("origin"),
        message_text=get("messagetext"),
    )


# Status words: only "pending" and "delivered" are documented; the rest are UNCONFIRMED
# guesses at what an SMS log says, compared without case or separators.
_STATUSES: Final[dict[str, Status]] = {
    "accepted": Status.ACCEPTED,
    "submitted": Status.ACCEPTED,
    "received": Status.ACCEPTED,
    "pending": Status.QUEUED,  # the docs: undelivered messages are queued and retried ≥72 h
    "queued": Status.QUEUED,
    "retrying": Status.QUEUED,
    "buffered": Status.QUEUED,
    "sent": Status.SENT,
    "delivering": Status.SENT,
    "delivered": Status.DELIVERED,
    "failed": Status.FAILED,
    "failure": Status.FAILED,
    "undelivered": Status.FAILED,
    "undeliverable": Status.FAILED,
    "error": Status.FAILED,
    "expired": Status.EXPIRED,
    "rejected": Status.REJECTED,
    "rejectedbyoperator": Status.REJECTED,
    "cancelled": Status.REJECTED,
    "canceled": Status.REJECTED,
}


def map_status(word: str | None) -> Status:
    key = _norm(word or "")
    if key in _STATUSES:
        return _STATUSES[key]
    if key.startswith("rejected"):
        return Status.REJECTED
    return Status.UNKNOWN


def iso_from_csl(value: str | None) -> str | None:
    """``09/10/2014 20:08:04`` (UTC, day first) → ISO 8601 with offset."""
    if not value:
        return None
    try:
        parsed = datetime.strptime(value.strip(), "%d/%m/%Y %H:%M:%S")
    except ValueError:
        return iso_from_text(value)
    return parsed.replace(tzinfo=UTC).isoformat()


def parse_status(
    response: Response, sms_uid: str, *, secret_values: Sequence[str] = ()
) -> StatusReport:
    """The status of the message sent with ``sms_uid``, from the last 20 of its SIM."""
    wanted = sms_uid.lower()
    for record in parse_status_list(response, secret_values=secret_values):
        if record.sms_uid is not None and record.sms_uid.lower() == wanted:
            return _report(record)
    return StatusReport(Status.UNKNOWN, provider_status=NOT_FOUND)


def _report(record: SmsRecord) -> StatusReport:
    sent = iso_from_csl(record.sent_timestamp)
    delivered = iso_from_csl(record.delivered_timestamp)
    details = {
        "sms_uid": record.sms_uid,
        "sent_timestamp": sent,
        "delivered_timestamp": delivered,
        "origin": record.origin,
    }
    return StatusReport(
        status=map_status(record.status),
        provider_status=record.status,
        date=delivered or sent,
        details={k: v for k, v in details.items() if v is not None},
    )


def http_date(value: str | None) -> str | None:
    """The reply's Date header as ISO 8601: the only acceptance time CSL gives."""
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).astimezone(UTC).isoformat()
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- the provider


class Csl(Provider):
    """CSL SIM Insight: one authenticated XML request per message, no session."""

    info = INFO
    callbacks_elsewhere = (
        "CSL sets up its SMS Post Services (post_sms, post_delivery_receipt) for you: give "
        "them the URL of `smscli listen` (…/csl) and the profile's callback_secret as the "
        "passphrase, through the SIM Insight portal or CSL support"
    )

    @property
    def credentials(self) -> Credentials:
        return Credentials(
            username=self.settings.require("username"),
            password=self.settings.require("password"),
            api_id=self.settings.require("api_id"),
        )

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # target → the sms_uid its send used, so that every RESULT built for it carries the
        # handle `status` needs, including the pipeline's RESULT for an unknown outcome.
        self._sent_uids: dict[str, str] = {}

    def check_message(self, message: Message, targets: Sequence[Target]) -> None:
        if message.reference is not None:
            validate_sms_uid(message.reference)
        origin_for(message.sender)
        payload_for(message)

    def _request(self, message: Message, target: Target, sms_uid: str) -> Request:
        return send_request(
            self.base_url,
            self.credentials,
            iccid=target.value,
            payload=payload_for(message),
            origin=origin_for(message.sender),
            sms_uid=sms_uid,
        )

    @staticmethod
    def _sms_uid(message: Message) -> str:
        if message.reference is not None:
            return validate_sms_uid(message.reference)
        return new_sms_uid()

    def dry_run(self, message: Message, targets: Sequence[Target]) -> list[Request]:
        # Without --ref each run draws a fresh sms_uid, exactly as send() would.
        return [self._request(message, t, self._sms_uid(message)) for t in targets]

    def send(
        self, session: Session, message: Message, targets: Sequence[Target]
    ) -> list[SendResult]:
        results = []
        for target in targets:
            sms_uid = self._sms_uid(message)
            self._sent_uids[str(target)] = sms_uid
            request = self._request(message, target, sms_uid)
            response = session.call(request, sends_message=True)
            outcome = parse_send(response, secret_values=self.settings.secret_values())
            details = {
                "api_outcome": outcome.outcome,
                "data_coding": payload_for(message).data_coding,
            }
            date = http_date(response.header("date"))
            results.append(
                self.result(target, Status.ACCEPTED, message, date=date, details=details)
            )
        return results

    def result(self, target: Target, status: Status, message: Message, **kw: Any) -> SendResult:
        result = super().result(target, status, message, **kw)
        # Generated or given, the sms_uid is the message's only handle for `status`.
        result.reference = self._sent_uids.get(str(target), result.reference)
        return result

    def reconcile(self, session: Session, lookup: SendLookup) -> Reconciled:
        """``query_sms_mt_details`` of the SIM (its last 20 MT messages), by the ``sms_uid``
        smscli generated: listed → accepted; absent from a list of fewer than 20 (the SIM's
        whole log) → not-sent; absent from a full list → cannot tell."""
        record = lookup.record
        sms_uid = str(record.get("reference") or "")
        if not sms_uid:
            return Reconciled(Status.UNKNOWN, reason="no sms_uid was recorded")
        iccid = str(record.get("target") or "").removeprefix("iccid:")
        request = status_request(self.base_url, self.credentials, iccid=iccid)
        listed = parse_status_list(
            session.call(request), secret_values=self.settings.secret_values()
        )
        if any((r.sms_uid or "").lower() == sms_uid.lower() for r in listed):
            return Reconciled(
                Status.ACCEPTED, reason="query_sms_mt_details lists its sms_uid",
                details={"sms_uid": sms_uid},
            )  # fmt: skip
        if len(listed) < MAX_LASTX:
            return Reconciled(Status.NOT_SENT, reason=f"not among the SIM's {len(listed)} messages")
        return Reconciled(
            Status.UNKNOWN, reason=f"not among the SIM's last {MAX_LASTX} messages: cannot tell"
        )

    def status(self, session: Session, record: Mapping[str, Any]) -> StatusReport:
        sms_uid = record.get("reference")
        if not sms_uid:
            return StatusReport(Status.UNKNOWN, provider_status="no sms_uid was recorded")
        iccid = str(record.get("target") or "").removeprefix("iccid:")
        if not iccid:
            raise InputError(
                "CSL looks a message up among its SIM's messages: no iccid is known",
                code="no_target",
            )
        request = status_request(self.base_url, self.credentials, iccid=iccid)
        response = session.call(request)
        return parse_status(response, str(sms_uid), secret_values=self.settings.secret_values())

    def login(self, session: Session) -> None:
        """CSL has no login: ask for one message of no SIM. The API checks credentials
        before anything else ("the request will not be processed"), so an authentication
        failure means bad credentials and any other failure *in the API's own XML* means
        they were accepted. A reply that is not its XML (an HTML 404 page) is no answer of
        the API at all: the base_url is wrong, not "login ok"."""
        request = status_request(self.base_url, self.credentials, iccid=None, lastx=1)
        response = session.call(request)
        if response.status_code in WRONG_PATH_STATUSES:
            # The API has one address and no paths (the root element is the command).
            raise wrong_path(INFO, response, "a status query")
        parsed = _read_xml(response)
        # The API's XML: a *_response root, or an api_outcome or error element (names are
        # UNCONFIRMED, so any of them will do).
        if parsed is None or not (
            "response" in parsed[0]
            or _first(parsed[1], "apioutcome") is not None
            or _has_error_element(*parsed)
        ):
            raise ProviderUnavailable(
                f"{LABEL} answered a status query with HTTP {response.status_code} and "
                f"{snippet(response)}, not the API's XML reply",
                hint=f"check base_url (default {INFO.default_base_url})",
                code="unexpected_reply",
            )
        try:
            parse_status_list(response, secret_values=self.settings.secret_values())
        except ProviderRefused as exc:
            if exc.code == "auth_failed":
                raise
            if not any(_quoted(parsed[1])):
                # A failure that gives no reason at all (whether CSL ever does is UNCONFIRMED)
                # cannot tell refused credentials from the SIM this probe leaves out: say so
                # rather than report the credentials as accepted.
                raise ProviderRefused(
                    f"{LABEL} refused the credential check without giving a reason, so "
                    f"whether it accepted the credentials is unknown ({exc.message})",
                    hint="send a message to a SIM you know to check them",
                    code="login_unverified",
                    provider_code=exc.provider_code,
                ) from None
