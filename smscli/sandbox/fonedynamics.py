"""Fone Dynamics REST v2 emulator (mounted at /fonedynamics).

Implements what seed 004 and the errors page document: HTTP Basic on every request,
``POST /v2/Properties/{PropertySid}/Messages`` with its field rules (E.164 To, sender ID
rules, Schedule window, POST|GET methods, lease-only fields), the ``{"Message": …}`` reply,
``GET /v2/Messages/{MessageSid}`` with Status moving Processing → Submitted → Delivered
(or Failed), and ``{"ResponseStatus": {ErrorCode, Message, Errors}}`` errors. Unknown body
fields are refused (stricter than the docs say, so that a client typo cannot pass silently).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any

import httpx

from smscli.sandbox.base import (
    REFUSED_SECRET,
    Emulator,
    Stored,
    failure_for,
    json_response,
    magic,
)

_E164 = re.compile(r"\+[1-9]\d{6,14}")  # used with fullmatch: no trailing newline slips by
_ALNUM = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_SEND_PATH = re.compile(r"^/v2/Properties/([^/]+)/Messages/?$")
_GET_PATH = re.compile(r"^/v2/Messages/([^/]+)/?$")
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
LEASED_NUMBER = "+61400555000"


def error(status: int, code: str, message: str, fields: tuple[str, ...] = ()) -> httpx.Response:
    body = {
        "ResponseStatus": {
            "ErrorCode": code,
            "Message": message,
            "Errors": [{"FieldName": f} for f in fields],
        }
    }
    return json_response(status, body)


class FoneDynamicsEmulator(Emulator):
    slug = "fonedynamics"

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        account = self._account(request)
        if account is None:
            return error(401, "UNAUTHORIZED", "Invalid or missing credentials.")
        send = _SEND_PATH.match(path)
        if send and request.method == "POST":
            return self._send(request, account, send.group(1))
        get = _GET_PATH.match(path)
        if get and request.method == "GET":
            return self._get(account, get.group(1))
        if send or get:
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

    def _send(self, request: httpx.Request, account: str, property_sid: str) -> httpx.Response:
        if "application/json" not in request.headers.get("content-type", ""):
            return error(400, "INVALID_CONTENT_TYPE", "Content-Type must be application/json.")
        try:
            body = json.loads(request.content)
        except ValueError:
            return error(400, "INVALID_JSON", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return error(400, "INVALID_JSON", "The request body must be a JSON object.")
        problem = _validate(body, self.clock())
        if problem is not None:
            return problem
        to = body["To"]
        suffix = magic(to)
        if suffix in ("0429", "0500"):  # refused before the message was taken
            return failure_for(suffix) or error(500, "ERROR", "unreachable")
        if suffix == "0400":
            return error(400, "COUNTRY_UNAVAILABLE", "SMS to this destination is not enabled.")
        if suffix == "0401":
            return error(401, "UNAUTHORIZED", "Invalid or missing credentials.")
        if suffix == "0404":
            return error(400, "ADDRESS_NOT_FOUND", "The recipient number does not exist.", ("To",))
        msg = self.remember(
            Stored(
                id="M" + secrets.token_hex(16).upper()[:31],
                provider=self.slug,
                target=to,
                text=body["Text"],
                created=self.clock(),
                outcome=self.outcome_for(to),
                fields={k: v for k, v in body.items() if k not in ("To", "Text")}
                | {"AccountSid": account, "PropertySid": property_sid},
            )
        )
        reply = json_response(200, {"Message": self._resource(msg, full=False)})
        # Dropped and slow replies happen after the message was taken (outcome unknown).
        return failure_for(suffix, reply) or reply

    def _resource(self, msg: Stored, *, full: bool) -> dict[str, Any]:
        sender = msg.fields.get("From") or LEASED_NUMBER
        data: dict[str, Any] = {
            "MessageSid": msg.id,
            "AccountSid": msg.fields["AccountSid"],
            "PropertySid": msg.fields["PropertySid"],
            "From": sender,
            "To": msg.target,
            "Text": msg.text,
        }
        if not full:
            return data
        stage = msg.stage(self.clock())
        created = int(msg.created)
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
                "ErrorCode": {"failed": "UNDELIVERABLE", "expired": "EXPIRED"}.get(stage),
                "ExternalId": msg.fields.get("ExternalId"),
            }
        )
        return data

    def _get(self, account: str, sid: str) -> httpx.Response:
        with self.lock:
            msg = self.store.get(sid)
        if msg is None or msg.fields.get("AccountSid") != account:
            return error(404, "MESSAGE_NOT_FOUND", f"Message {sid} was not found.")
        return json_response(200, {"Message": self._resource(msg, full=True)})


def _validate(body: dict[str, Any], now: float) -> httpx.Response | None:
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        return error(
            400, "INVALID_PARAMETER", f"Unknown field(s): {', '.join(unknown)}.", tuple(unknown)
        )
    for name in ("To", "Text"):
        if not body.get(name):
            return error(400, "PARAMETER_REQUIRED", f"{name} is required.", (name,))
    for name, kind in _FIELDS.items():
        value = body.get(name)
        if value is not None and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        ):
            return error(400, "INVALID_PARAMETER", f"{name} must be a {kind.__name__}.", (name,))
    if not _E164.fullmatch(body["To"]):
        return error(
            400, "INVALID_PARAMETER", "To must be an E164 number with a + prefix.", ("To",)
        )
    sender = body.get("From") or ""
    if sender and not (_E164.fullmatch(sender) or _ALNUM.fullmatch(sender)):
        return error(400, "INVALID_PARAMETER", "From is not a valid sender ID.", ("From",))
    if sender and any(body.get(k) is not None for k in _LEASE_ONLY):
        return error(
            400, "CONFLICTING_PARAMETERS", "Forwarding options need a leased sender (blank From)."
        )
    for name in ("DeliveryReceiptWebhookMethod", "WebhookMethod"):
        if body.get(name) not in (None, "POST", "GET"):
            return error(400, "INVALID_PARAMETER", f"{name} must be POST or GET.", (name,))
    schedule = body.get("Schedule")
    if schedule is not None:
        if schedule > now + 14 * 86400:
            return error(
                400, "INVALID_PARAMETER", "Schedule is more than 14 days ahead.", ("Schedule",)
            )
        if schedule < now - 3600:
            return error(400, "INVALID_PARAMETER", "Schedule is in the past.", ("Schedule",))
    return None
