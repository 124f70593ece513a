"""Emulator of the CSL SIM Insight XML API (``send_sms``, ``query_sms_mt_details``).

Follows ``reference/providers-telit-csl-fonedynamics.md`` §2 (seed 001): one endpoint, ``POST
/`` with ``Content-Type: application/xml``, the root element names the command, credentials
and ``api_id`` ride in every request (there is no session, so no token ever expires). Every
refusal is the documented failure shape in an HTTP 200 body::

    <send_sms_response api_id="123456">
      <api_outcome>failure</api_outcome>
      <error_description>invalid content: …</error_description>
    </send_sms_response>

The value ``failure`` and the name ``error_description`` are UNCONFIRMED (the docs say only
"api outcome indicating failure" and "an error description"); so are the status words other
than ``pending`` and ``delivered``: this emulator reports ``pending`` → ``sent`` →
``delivered`` / ``failed`` / ``expired``.

The devices' replies (``sandbox.base``: "ACK: <text>" to a delivered message ending in ``?``)
are kept as ``direction="mo"`` but no API call lists them: ``query_sms_mt_details`` lists only
MT messages, and CSL delivers MO only by push (SMS Post Services, ``post_sms``), with no pull
call (after-the-send.md §1.4), so the sandbox invents none. ``GET /_sandbox/messages`` shows
them.

Magic ICCIDs (suffixes of ``sandbox.base.MAGIC``): 0400 "rejected by operator", 0401
"invalid authentication credentials", 0404 "unknown iccid", 0410/0411 delivery failed/expired,
0429/0500/0408/0444 the shared transport failures. 0419 is accepted like any other ICCID:
CSL has no session that could expire. A password of ``refused`` fails authentication.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final
from xml.parsers.expat import ExpatError

import httpx
import xmltodict

from smscli.encoding import septets
from smscli.sandbox.base import (
    DELIVERY_STEP_SECONDS,
    REFUSED_SECRET,
    Emulator,
    Stored,
    failure_for,
    magic,
)
from smscli.sandbox.pushes import Push

_SEND_ELEMENTS: Final = frozenset(
    {"authentication", "iccid", "message_text", "data_coding", "origin", "sms_uid"}
)
_QUERY_ELEMENTS: Final = frozenset({"authentication", "iccid", "lastx"})
_ICCID = re.compile(r"\d{18,22}")
_SMS_UID = re.compile(r"[A-Za-z0-9]{1,12}")
_STATUS_WORDS: Final = {
    "accepted": "pending",
    "sent": "sent",
    "delivered": "delivered",
    "failed": "failed",
    "expired": "expired",
}
AUTH_FAILED: Final = "invalid authentication credentials"


class Refusal(Exception):
    """A request the API refuses: answered with api_outcome failure and this description."""


def _xml(status: int, root: str, content: dict[str, Any]) -> httpx.Response:
    body = xmltodict.unparse({root: content}, pretty=True, indent="  ")
    return httpx.Response(
        status, content=body.encode("utf-8"), headers={"Content-Type": "application/xml"}
    )


def _outcome(
    root: str, api_id: str | None, description: str | None = None, status: int = 200
) -> httpx.Response:
    content: dict[str, Any] = {"@api_id": api_id} if api_id else {}
    content["api_outcome"] = "success" if description is None else "failure"
    if description is not None:
        content["error_description"] = description
    return _xml(status, root, content)


def _csl_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%d/%m/%Y %H:%M:%S")


def _field(content: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A simple element's text; a missing, repeated or structured element is refused."""
    value = content.get(name)
    if isinstance(value, list):
        raise Refusal(f"invalid parameter: {name} given more than once")
    if isinstance(value, dict):
        raise Refusal(f"invalid parameter: {name} must be text")
    if value is None or value == "":
        if required:
            raise Refusal(f"missing parameter: {name}")
        return None
    return str(value)


def _check_elements(content: dict[str, Any], allowed: frozenset[str]) -> None:
    for name in content:
        if not name.startswith(("@", "#")) and name not in allowed:
            raise Refusal(f"invalid parameter: unknown element {name}")


def _check_auth(content: dict[str, Any]) -> None:
    auth = content.get("authentication")
    if not isinstance(auth, dict):
        raise Refusal("missing authentication")
    username = _field(auth, "username")
    password = _field(auth, "password")
    if username is None or password is None:
        raise Refusal("missing authentication: username and password are required")
    if password == REFUSED_SECRET:
        raise Refusal(AUTH_FAILED)


def _check_iccid(content: dict[str, Any]) -> str:
    iccid = (_field(content, "iccid", required=True) or "").strip()
    if not _ICCID.fullmatch(iccid):
        raise Refusal(f"invalid identifier: iccid {iccid!r}")
    suffix = magic(iccid)
    if suffix == "0401":
        raise Refusal(AUTH_FAILED)
    if suffix == "0404":
        raise Refusal(f"unknown identifier: iccid {iccid} is not on this account")
    return iccid


def _check_text(text: str, coding: str) -> None:
    if coding not in ("default", "binary"):
        raise Refusal(f"invalid parameter: data_coding {coding!r} (default or binary)")
    if coding == "default":
        length = sum(septets(ch) or 1 for ch in text)
        if length > 160:
            raise Refusal(f"invalid content: message_text is {length} characters (max 160)")
        return
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refusal("invalid content: binary message_text must be base64") from None
    # Checked before the 160-character rule, which any payload over 120 bytes also breaks,
    # so that the reply names the real problem.
    if len(data) > 120:
        raise Refusal(f"invalid content: binary payload is {len(data)} bytes (max 120)")
    if len(text) > 160:
        raise Refusal(f"invalid content: message_text is {len(text)} characters (max 160)")


# SMS Post Services' requests (after-the-send.md §1.4): the User-Agent CSL's pushes carry.
POST_USER_AGENT: Final = "CSL SIM Insight/1.0.0"


def msisdn_of(iccid: str) -> str:
    """The MSISDN of an emulated SIM (a UK mobile number derived from the ICCID)."""
    return "447" + iccid[-9:].rjust(9, "0")


class CslEmulator(Emulator):
    """The SIM Insight XML endpoint, mounted at ``/csl``."""

    slug = "csl"
    portal_push = True  # SMS Post Services are set up by CSL: `PUT /_sandbox/push/csl`

    def pushes(self, event: str, message: Stored) -> list[Push]:
        """SMS Post Services (issue 11) to the URL of ``PUT /_sandbox/push/csl``, POST
        text/xml with the passphrase inside: ``post_sms`` for a device's reply (documented)
        and ``post_delivery_receipt`` for a final status (its ``status`` and ``timestamp``
        elements are UNCONFIRMED). ``api_did`` is a new delivery id per push; timestamps
        are dd/mm/yyyy hh:mm:ss in UTC (UNCONFIRMED)."""
        if event == "sent":
            return []
        with self.lock:
            portal = dict(self.portal) if self.portal else None
        if portal is None:
            return []
        iccid = str(message.fields.get("iccid") or message.target)
        content: dict[str, Any] = {
            "@version": "1",
            "@api_did": self.next_id("did-"),
            "passphrase": portal["secret"],
            "iccid": iccid,
            "msisdn": msisdn_of(iccid),
        }
        if event == "mo":
            root = "post_sms"
            content["timestamp"] = _csl_time(message.created)
            content["message_text"] = message.text
        else:
            root = "post_delivery_receipt"
            if message.fields.get("sms_uid"):
                content["sms_uid"] = message.fields["sms_uid"]
            content["status"] = _STATUS_WORDS.get(message.stage(self.clock()), "failed")
            content["timestamp"] = _csl_time(message.created + 2 * DELIVERY_STEP_SECONDS)
        body = xmltodict.unparse({root: content}, pretty=False).encode("utf-8")
        headers = {"Content-Type": "text/xml; charset=utf-8", "User-Agent": POST_USER_AGENT}
        return [Push(self.slug, root, portal["url"], "POST", body, headers)]

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        if path not in ("", "/"):
            return _outcome("api_response", None, f"no resource at {path}", status=404)
        if request.method != "POST":
            return _outcome("api_response", None, "requests must be POSTed", status=405)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/xml":
            return _outcome("api_response", None, f"invalid content type {ctype or 'none'!r}")
        try:
            document = xmltodict.parse(request.content, strip_whitespace=False)
        except (ExpatError, ValueError):
            return _outcome("api_response", None, "invalid request: malformed XML")
        root, content = next(iter(document.items()))
        content = content if isinstance(content, dict) else {}
        commands: dict[str, Callable[[dict[str, Any], str], httpx.Response]] = {
            "send_sms": self._send_sms,
            "query_sms_mt_details": self._query_sms_mt_details,
        }
        api_id = content.get("@api_id")
        reply_root = f"{root}_response"
        try:
            if root not in commands:
                raise Refusal(f"invalid request: unknown command {root}")
            if content.get("@version") != "1":
                raise Refusal("invalid request: version must be 1")
            if not api_id:
                raise Refusal("invalid request: missing api_id")
            _check_auth(content)
            return commands[root](content, api_id)
        except Refusal as refusal:
            return _outcome(reply_root, api_id, str(refusal))

    def _send_sms(self, content: dict[str, Any], api_id: str) -> httpx.Response:
        _check_elements(content, _SEND_ELEMENTS)
        iccid = _check_iccid(content)
        text = _field(content, "message_text", required=True) or ""
        coding = _field(content, "data_coding") or "default"
        _check_text(text, coding)
        sms_uid = _field(content, "sms_uid")
        if sms_uid is not None and not _SMS_UID.fullmatch(sms_uid):
            raise Refusal("invalid parameter: sms_uid must be at most 12 alphanumeric characters")
        suffix = magic(iccid)
        if suffix == "0400":
            raise Refusal("rejected by operator")
        if suffix == "0429":  # refused before the message was taken (0500: after, below)
            return failure_for(suffix) or _outcome("send_sms_response", api_id)
        self.remember(
            Stored(
                id=self.next_id("csl-"),
                provider=self.slug,
                target=iccid,
                text=text,
                created=self.clock(),
                outcome=self.outcome_for(iccid),
                fields={
                    "iccid": iccid,
                    "data_coding": coding,
                    "origin": _field(content, "origin"),
                    "sms_uid": sms_uid,
                },
            )
        )
        reply = _outcome("send_sms_response", api_id)
        # A 500, a slow or a dropped reply after the message was taken: exactly the unknown
        # outcome.
        return failure_for(suffix, reply) or reply

    def _query_sms_mt_details(self, content: dict[str, Any], api_id: str) -> httpx.Response:
        _check_elements(content, _QUERY_ELEMENTS)
        iccid = _check_iccid(content)
        lastx_text = (_field(content, "lastx") or "1").strip()
        if not lastx_text.isdigit() or not 1 <= int(lastx_text) <= 20:
            raise Refusal(f"invalid parameter: lastx {lastx_text!r} (1-20)")
        now = self.clock()
        with self.lock:
            # SMS-MT only: a device's reply (MO) is not in this list.
            mine = [m for m in self.store.values() if m.target == iccid and not m.mo]
        newest = list(reversed(mine))[: int(lastx_text)]
        sms: list[dict[str, Any]] | None = [self._sms(m, now) for m in newest] or None
        return _xml(
            200,
            "query_sms_mt_details_response",
            {"@api_id": api_id, "api_outcome": "success", "sms": sms},
        )

    def reply_id(self, original: Stored) -> str:
        return self.next_id("csl-mo-")

    def received(self, reply: Stored) -> None:
        """A reply carries none of the sent message's client fields (its ``sms_uid`` above
        all: nothing may find the reply by the question's handle)."""
        with self.lock:
            reply.fields = {"iccid": reply.target}

    def _sms(self, message: Stored, now: float) -> dict[str, Any]:
        stage = message.stage(now)
        delivered = message.created + 2 * DELIVERY_STEP_SECONDS
        entry: dict[str, Any] = {"sent_timestamp": _csl_time(message.created)}
        if message.fields.get("sms_uid"):
            entry["sms_uid"] = message.fields["sms_uid"]
        entry["status"] = _STATUS_WORDS.get(stage, stage)
        entry["delivered_timestamp"] = _csl_time(delivered) if stage == "delivered" else ""
        entry["origin"] = "api"
        entry["message_text"] = message.text
        return entry
