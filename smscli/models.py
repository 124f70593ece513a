"""Value objects shared by every layer. Pure: no I/O, no httpx, no rich.

The immutable ones are ``typing.NamedTuple``s, not frozen dataclasses: every command
imports this module, and a frozen, slotted dataclass costs ~0.5-1 ms to build at import
(generated code is exec'd), a NamedTuple a fifth of that (issue 8's start-up budget).
Copies are made with ``._replace()``; mypy keeps them typed and read-only. Only
``SendResult``, which the pipeline fills in as answers arrive, is a (mutable) dataclass.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from smscli.errors import ConfigError

# The default of every mapping field: shared, so it must be read-only.
EMPTY: Mapping[str, Any] = MappingProxyType({})


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"
    BINARY = "binary"


class Status(StrEnum):
    """A message's state, in the words of RESULT.status (SPEC §4)."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    # Canceled by `smscli cancel` (or on the provider) before delivery: final, undelivered.
    CANCELED = "canceled"
    # An ``unknown`` send that `smscli reconcile` found the provider never got: --resume
    # sends it again, an idempotency key is free again. Not final: nothing went out.
    NOT_SENT = "not-sent"
    # Not sent: the target failed a local check and --skip-invalid left it out. Only a
    # RESULT says it; the history never holds a skipped row (nothing was attempted).
    SKIPPED = "skipped"
    # Not sent: the dedupe window (--dedupe-window) found the same key sent within it. The
    # history keeps the row (``details.deduped_of`` points at the earlier send); not a
    # failure (exit 0), not final, never sent again by --resume within the window.
    DEDUPED = "deduped"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_success(self) -> bool:
        """The provider took the message (what exit 0 means without --wait)."""
        return self in (Status.ACCEPTED, Status.QUEUED, Status.SENT, Status.DELIVERED)


FINAL_STATUSES = frozenset(
    {Status.DELIVERED, Status.FAILED, Status.EXPIRED, Status.REJECTED, Status.CANCELED}
)


class Target(NamedTuple):
    """A parsed, validated destination: ``kind`` is one of targets.KINDS."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Reply(NamedTuple):
    """A device's reply (a mobile-originated SMS) as smscli stores and prints it.

    ``reply_id`` is the provider's id of the reply where its API gives one (emnify's SMS id,
    Telit's record id, Fone Dynamics' MessageSid); ThingSpace's history gives none, so it is
    ``sha256:`` + a hash of the device, the timestamp and the text. The history stores a reply
    once per (provider, reply_id)."""

    provider: str
    reply_id: str
    sender: str  # the device as a target ("endpoint:1001", "msisdn:15551234567")
    text: str
    date: str | None = None  # ISO 8601 UTC, when the provider received it
    profile: str | None = None
    details: Mapping[str, Any] = EMPTY

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider, "profile": self.profile, "id": self.reply_id,
            "from": self.sender, "text": self.text, "date": self.date,
            "details": dict(self.details),
        }  # fmt: skip


def content_id(*parts: str | None) -> str:
    """A reply id from its content, for an API that gives its replies none (ThingSpace)."""
    import hashlib

    joined = "\x1f".join(p or "" for p in parts)
    return "sha256:" + hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def same_device(sender: str, target: str) -> bool:
    """Whether a reply's sender is this target: same kind, same value, an E.164 "+" (which
    some APIs drop) and the case of hex ids aside."""
    a_kind, _, a_value = sender.partition(":")
    b_kind, _, b_value = target.partition(":")
    if a_kind != b_kind:
        return False
    return a_value.lstrip("+").lower() == b_value.lstrip("+").lower()


class NonGsmChar(NamedTuple):
    char: str
    codepoint: str  # "U+2019"
    positions: tuple[int, ...]
    lookalike: str | None


class Replacement(NamedTuple):
    char: str
    codepoint: str
    replacement: str
    positions: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "char": self.char,
            "codepoint": self.codepoint,
            "replacement": self.replacement,
            "positions": list(self.positions),
        }


class MessageCheck(NamedTuple):
    """What encoding.analyze() found: the numbers SPEC §3 asks `check` to print."""

    text: str  # the text that would be sent (after --smart replacements)
    encoding: Encoding
    characters: int
    units: int  # septets (GSM-7), UTF-16 code units (UCS-2) or octets (binary)
    segments: int
    single_limit: int
    part_limit: int
    parts: tuple[str, ...]  # text parts; hex strings for binary
    non_gsm: tuple[NonGsmChar, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    data: bytes | None = None  # the octets, for binary messages
    smart_segments: int | None = None  # segments if --smart were used (None: no saving)
    # Segments of the text with every look-alike replaced, when that makes it GSM-7 (None:
    # nothing to replace, or a character without a look-alike keeps it UCS-2).
    replaced_segments: int | None = None
    # --smart was asked for, but its replacements would cost segments: the text is unchanged.
    skipped: tuple[Replacement, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding.value,
            "characters": self.characters,
            "units": self.units,
            "segments": self.segments,
            "single_limit": self.single_limit,
            "part_limit": self.part_limit,
            "parts": list(self.parts),
            "non_gsm": [
                {
                    "char": c.char,
                    "codepoint": c.codepoint,
                    "positions": list(c.positions),
                    "lookalike": c.lookalike,
                }
                for c in self.non_gsm
            ],
            "replacements": [r.to_json() for r in self.replacements],
        }


class Message(NamedTuple):
    """One message to send, already checked. Provider-specific options sit in ``extra``."""

    check: MessageCheck
    sender: str | None = None
    validity_seconds: int | None = None
    at: datetime | None = None
    reference: str | None = None
    extra: Mapping[str, Any] = EMPTY

    @property
    def text(self) -> str:
        return self.check.text

    @property
    def encoding(self) -> Encoding:
        return self.check.encoding


@dataclass(slots=True)
class SendResult:
    """RESULT of SPEC §4. Fields a provider does not return stay None."""

    provider: str
    profile: str | None
    target: str
    status: Status
    message_id: str | None = None
    request_id: str | None = None
    uuid: str | None = None
    reference: str | None = None
    date: str | None = None  # ISO 8601 with offset
    segments: int | None = None
    encoding: str | None = None
    parts: list[str] | None = None
    error: dict[str, Any] | None = None
    # Provider-specific extras worth showing (Telit preferredSmsc, Fone Dynamics' actual From).
    details: dict[str, Any] = field(default_factory=dict)
    # --await-reply: the target's first reply ({"text", "date", "id", "from"}), or {} when
    # none came in time (shown as null); None: not asked for (no "reply" key).
    reply: dict[str, Any] | None = None

    @property
    def printed_id(self) -> str | None:
        """The one id ``-q`` prints and ``log`` shows (``status`` finds a message by it)."""
        return printed_id(self.message_id, self.request_id, self.uuid, self.reference)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "profile": self.profile,
            "target": self.target,
            "status": self.status.value,
            "message_id": self.message_id,
            "request_id": self.request_id,
            "uuid": self.uuid,
            "reference": self.reference,
            "date": self.date,
            "segments": self.segments,
            "encoding": self.encoding,
            "parts": self.parts,
            "error": self.error,
            "details": self.details,
        } | ({"reply": self.reply or None} if self.reply is not None else {})


def printed_id(
    message_id: str | None, request_id: str | None, uuid: str | None, reference: str | None
) -> str | None:
    """A message's id as smscli prints it alone: the provider's message id, else its
    request id or uuid, else the client reference (CSL's ``sms_uid``, which is how CSL
    finds a message again)."""
    return message_id or request_id or uuid or reference or None


class Request(NamedTuple):
    """An HTTP request as a provider builds it; http_client turns it into bytes on the wire.

    Providers build these instead of httpx objects so that they (and --dry-run) never import
    httpx. Exactly one of ``json``, ``form`` and ``content`` is set for a body.
    """

    method: str
    url: str
    headers: Mapping[str, str] = EMPTY
    params: Mapping[str, str] = EMPTY
    json: Any = None
    form: Mapping[str, str] | None = None
    content: str | None = None

    def body_text(self) -> str | None:
        if self.json is not None:
            return json.dumps(self.json, ensure_ascii=False)
        if self.form is not None:
            from urllib.parse import urlencode

            return urlencode(self.form)
        return self.content

    def full_url(self) -> str:
        if not self.params:
            return self.url
        from urllib.parse import urlencode

        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}{urlencode(self.params)}"


class Response(NamedTuple):
    """An HTTP response as parsers see it; ``headers`` keys are lower case."""

    status_code: int
    headers: Mapping[str, str] = EMPTY
    content: bytes = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.content)


class StatusReport(NamedTuple):
    """What a provider's status lookup found for one message."""

    status: Status
    provider_status: str | None = None  # the provider's own word, e.g. "Submitted"
    date: str | None = None
    error: dict[str, Any] | None = None
    details: Mapping[str, Any] = EMPTY


class Reconciled(NamedTuple):
    """What a provider's lookup of an ``unknown`` send found (``smscli reconcile``):
    ``accepted`` (with the provider's id), ``not-sent`` (its list for the window is complete
    and the message is not in it), or still ``unknown`` (``reason`` says why)."""

    status: Status
    message_id: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = EMPTY


class SendLookup(NamedTuple):
    """A history row as ``Provider.reconcile`` reads it: ``text`` is the message as sent
    (None when the history keeps only a hash, or nothing), ``start``/``end`` the window
    (Unix seconds) in which the provider must have taken it, if it did."""

    record: Mapping[str, Any]
    text: str | None
    start: float
    end: float


class Settings(NamedTuple):
    """A resolved profile: every field with flag > env > config precedence applied."""

    slug: str
    profile: str | None
    base_url: str
    values: Mapping[str, str]
    secret_names: frozenset[str] = frozenset()
    from_flags: frozenset[str] = frozenset()  # fields given on the command line
    sender: str | None = None
    timeout: float = 30.0
    max_segments: int | None = None
    smart: bool = False
    rate: float | None = None
    sandbox: bool = False

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise ConfigError(f"{self.slug}: {name} is not set", code="credential_missing")
        return value

    def secret_values(self) -> list[str]:
        return [v for k, v in self.values.items() if k in self.secret_names and v]

    @property
    def cache_key(self) -> str:
        """Token-cache key: the profile, and who logs in where with which credentials, so
        that accounts never mix and a rotated or revoked secret is never answered by a
        session the old one opened. Only a digest is stored, never a secret."""
        import hashlib

        identity = "|".join(f"{k}={v}" for k, v in sorted(self.values.items()))
        digest = hashlib.sha256(f"{self.base_url}|{identity}".encode()).hexdigest()[:16]
        return f"{self.profile or '-'}:{self.slug}:{digest}"
