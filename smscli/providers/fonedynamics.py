"""Fone Dynamics REST v2.

Docs: https://www.fonedynamics.com/docs/rest-api/send-sms/ (seed 004), errors:
https://www.fonedynamics.com/docs/rest-api/errors/, retrieve: helpdesk article 17000105896;
facts and sources in reference/providers-telit-csl-fonedynamics.md §3.

- Send: ``POST {base}/v2/Properties/{PropertySid}/Messages``, JSON body with From, To, Text and
  the optional Schedule, DeliveryReceipt, DeliveryReceiptWebhookUri/Method, ExternalId and the
  leased-sender ForwardToSms/ForwardFromSms/ForwardToEmail/ForwardFromEmail/WebhookUri/
  WebhookMethod. Null fields are left out, as the official C# library does.
- Auth: HTTP Basic, AccountSid:Token, on every request; no session.
- Reply: 200 ``{"Message": {MessageSid, AccountSid, PropertySid, From, To, Text, …}}``; From
  is the actual sender when a leased number was used.
- Errors: 400/401/403/500 with ``{"ResponseStatus": {"ErrorCode", "Message", "Errors": [...]}}``;
  a non-JSON body (an IIS error page) is possible.
- Status: ``GET {base}/v2/Messages/{MessageSid}`` → the full Message resource with Status
  Processing | Submitted | Delivered | Failed | Received and Unix-second dates.

Command line → field: --from → From ("" = leased), --to → To, TEXT → Text, --at → Schedule,
--ref → ExternalId, and the `smscli fonedynamics` options for the rest (declared in
smscli/catalog/fonedynamics.py).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from smscli.catalog.fonedynamics import INFO
from smscli.errors import InputError, OutcomeUnknown, ProviderRefused, ProviderUnavailable
from smscli.models import (
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
    json_body,
    login_refused,
    raise_for_transport_status,
    snippet,
    wrong_path,
)

LABEL = "Fone Dynamics"
SCHEDULE_MAX_AHEAD = timedelta(days=14)
SCHEDULE_MAX_BEHIND = timedelta(hours=1)

# Message.extra key → JSON field (set by `smscli fonedynamics` options).
EXTRA_FIELDS: dict[str, str] = {
    "delivery_receipt": "DeliveryReceipt",
    "receipt_webhook": "DeliveryReceiptWebhookUri",
    "receipt_method": "DeliveryReceiptWebhookMethod",
    "forward_to_sms": "ForwardToSms",
    "forward_from_sms": "ForwardFromSms",
    "forward_to_email": "ForwardToEmail",
    "forward_from_email": "ForwardFromEmail",
    "reply_webhook": "WebhookUri",
    "reply_method": "WebhookMethod",
}
LEASE_ONLY = ("forward_to_sms", "forward_from_sms", "forward_to_email", "forward_from_email",
              "reply_webhook", "reply_method")  # fmt: skip

# Fone Dynamics status word → RESULT status (per the C# library's MessageStatus docs).
STATUSES: dict[str, Status] = {
    "processing": Status.QUEUED,
    "submitted": Status.SENT,
    "delivered": Status.DELIVERED,
    "failed": Status.FAILED,
    "received": Status.DELIVERED,  # an inbound message; cannot be one we sent
}


def _headers(account_sid: str, token: str) -> dict[str, str]:
    pair = base64.b64encode(f"{account_sid}:{token}".encode()).decode()
    return {"Authorization": f"Basic {pair}", "Accept": "application/json"}


def send_body(message: Message, to: str) -> dict[str, Any]:
    """The JSON body of seed 004, with unset optional fields left out."""
    body: dict[str, Any] = {"To": to, "Text": message.text}
    if message.sender is not None:
        body["From"] = message.sender
    if message.at is not None:
        body["Schedule"] = int(message.at.timestamp())
    if message.reference is not None:
        body["ExternalId"] = message.reference
    for key, name in EXTRA_FIELDS.items():
        value = message.extra.get(key)
        if value is not None:
            body[name] = value
    return body


def send_request(
    base_url: str, account_sid: str, token: str, property_sid: str, message: Message, to: str
) -> Request:
    return Request(
        "POST",
        f"{base_url}/v2/Properties/{quote(property_sid, safe='')}/Messages",
        headers=_headers(account_sid, token),
        json=send_body(message, to),
    )


def status_request(base_url: str, account_sid: str, token: str, message_sid: str) -> Request:
    return Request(
        "GET",
        f"{base_url}/v2/Messages/{quote(message_sid, safe='')}",
        headers=_headers(account_sid, token),
    )


def raise_for_error(response: Response, *, sends_message: bool) -> None:
    """The documented error statuses and the ResponseStatus body → our errors."""
    code = response.status_code
    if 200 <= code < 300:
        return
    if code < 400:
        # A redirect (never followed) is no answer to the request, not a refusal: after a
        # send the message may have gone out, as with the other providers (issue 9).
        where = response.header("location")
        detail = f"HTTP {code}" + (f" to {where}" if where else "")
        if sends_message:
            raise OutcomeUnknown(
                f"{LABEL} answered the message with {detail}; the message may have been sent",
                hint="check `smscli status --last` or the Fone Dynamics portal before re-running "
                "(and base_url: smscli follows no redirect)",
                code="unexpected_reply",
            )
        raise ProviderUnavailable(
            f"{LABEL} answered with {detail}; smscli follows no redirect",
            hint="check base_url",
            code="unexpected_reply",
        )
    status = expect_dict(expect_dict(json_body(response)).get("ResponseStatus"))
    provider_code = status.get("ErrorCode") if isinstance(status.get("ErrorCode"), str) else None
    text = status.get("Message") if isinstance(status.get("Message"), str) else None
    errors = status.get("Errors")  # its shape beyond FieldName is UNCONFIRMED
    fields = [
        str(e["FieldName"])
        for e in (errors if isinstance(errors, list) else [])
        if isinstance(e, dict) and isinstance(e.get("FieldName"), str)
    ]
    detail = text or snippet(response)
    if fields:
        detail += f" (fields: {', '.join(fields)})"
    if code == 401:
        raise login_refused(LABEL, f"HTTP 401: {detail}", provider_code)
    raise_for_transport_status(response, label=LABEL, sends_message=sends_message)
    if code == 404:
        raise ProviderRefused(
            f"{LABEL}: not found (HTTP 404): {detail}",
            provider_code=provider_code,
            code="not_found",
        )
    raise ProviderRefused(
        f"{LABEL} refused the request (HTTP {code}): {detail}", provider_code=provider_code
    )


def parse_message(response: Response, *, sends_message: bool) -> dict[str, Any]:
    """The ``Message`` resource of a 2xx reply. Unreadable after a send: the message may
    have gone out (OutcomeUnknown); unreadable after a lookup: nothing was sent."""
    data = json_body(response)
    message = expect_dict(data).get("Message")
    if not isinstance(message, dict) or not isinstance(message.get("MessageSid"), str):
        if not sends_message:
            raise ProviderUnavailable(
                f"{LABEL} answered HTTP {response.status_code} without a Message "
                f"({snippet(response)}); nothing was sent",
                code="unreadable_reply",
            )
        raise OutcomeUnknown(
            f"{LABEL} answered HTTP {response.status_code} without a Message "
            f"({snippet(response)}); the message may have been sent",
            hint="check `smscli log` and the Fone Dynamics portal before sending again",
            code="unreadable_reply",
        )
    return message


def parse_send(response: Response) -> dict[str, Any]:
    raise_for_error(response, sends_message=True)
    return parse_message(response, sends_message=True)


def parse_status(response: Response) -> StatusReport:
    raise_for_error(response, sends_message=False)
    message = parse_message(response, sends_message=False)
    word = str(message.get("Status") or "")
    status = STATUSES.get(word.lower(), Status.UNKNOWN)  # case-insensitive: UNCONFIRMED casing
    error_code = message.get("ErrorCode")
    if status is Status.FAILED and "EXPIRED" in str(error_code or "").upper():
        # Fone Dynamics has no Expired status: a message that ran out of time is Failed with
        # an ErrorCode saying so (the codes are UNCONFIRMED, so any that names EXPIRED).
        # It is `expired`, as every other provider reports it (issue 9).
        status = Status.EXPIRED
    date = (
        iso_from_epoch(message.get("Delivered"))
        or iso_from_epoch(message.get("Submitted"))
        or iso_from_epoch(message.get("Created"))
    )
    return StatusReport(
        status=status,
        provider_status=word or None,
        date=date,
        error={"detail": f"ErrorCode {error_code}", "provider_code": str(error_code)}
        if error_code
        else None,
        details={"segments": message.get("NumSegments")} if message.get("NumSegments") else {},
    )


SEARCH_PAGE = 200  # Results_Count: the documented default page size
SEARCH_PAGES = 10  # pages read at most; past them the list is not known to be complete


def search_request(
    base_url: str,
    account_sid: str,
    token: str,
    property_sid: str,
    start: int,
    end: int,
    skip: int = 0,
) -> Request:
    """Sent messages of the property created in [start, end) (Unix seconds), one page."""
    query = (f"Direction=Transmit&Date_From={start}&Date_To={end}"
             f"&Results_Count={SEARCH_PAGE}&Results_Skip={skip}")  # fmt: skip
    return Request(
        "GET",
        f"{base_url}/v2/Properties/{quote(property_sid, safe='')}/Messages?{query}",
        headers=_headers(account_sid, token),
    )


# Replies are searched in a date window (Date_From/Date_To, Unix seconds, both required by the
# docs' listing): without --since, the last 7 days. Whether the API caps the window is
# UNCONFIRMED.
DEFAULT_INBOX_WINDOW = 7 * 86_400
MAX_INBOX_PAGES = 100  # (SEARCH_PAGE messages each)


def inbox_request(
    base_url: str, account_sid: str, token: str, property_sid: str,
    date_from: int, date_to: int, skip: int,
) -> Request:  # fmt: skip
    """``GET /v2/Properties/{PropertySid}/Messages?Direction=Receive&Date_From=&Date_To=``:
    the property's received messages in the window, paged by Results_Count/Results_Skip."""
    from urllib.parse import urlencode

    query = urlencode({"Direction": "Receive", "Date_From": date_from, "Date_To": date_to,
                       "Results_Count": SEARCH_PAGE, "Results_Skip": skip})  # fmt: skip
    return Request(
        "GET",
        f"{base_url}/v2/Properties/{quote(property_sid, safe='')}/Messages?{query}",
        headers=_headers(account_sid, token),
    )


def parse_search(response: Response) -> list[dict[str, Any]]:
    """``{"Messages": [...]}`` (the wrapper key is UNCONFIRMED: a bare list reads too)."""
    raise_for_error(response, sends_message=False)
    body = json_body(response)
    items = body.get("Messages") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ProviderUnavailable(
            f"{LABEL} answered the message search with a reply smscli cannot read "
            f"({snippet(response)})",
            code="unreadable_reply",
        )
    return [expect_dict(item) for item in items]


def _digits(value: Any) -> str:
    return "".join(c for c in str(value or "") if c.isdigit())


def match_sent(
    items: list[dict[str, Any]],
    complete: bool,
    *,
    text: str | None,
    to: str,
    reference: str | None,
) -> Reconciled:
    """By ExternalId when smscli sent one (``--ref``), else by Text and To."""
    if reference:
        found = [m for m in items if str(m.get("ExternalId") or "") == reference]
    elif text is not None:
        found = [m for m in items
                 if m.get("Text") == text and _digits(m.get("To")) == _digits(to)]  # fmt: skip
    else:
        return Reconciled(Status.UNKNOWN, reason="the history keeps no text to match")
    ids = {str(m.get("MessageSid")) for m in found if m.get("MessageSid")}
    if len(ids) == 1:
        return Reconciled(Status.ACCEPTED, ids.pop(), reason="found by the message search")
    if found:
        return Reconciled(Status.UNKNOWN, reason=f"{len(found)} matching messages: cannot tell")
    if not complete:
        return Reconciled(Status.UNKNOWN, reason="too many messages in the window: cannot tell")
    return Reconciled(Status.NOT_SENT, reason="not in the property's sent messages")


def parse_received(response: Response, profile: str | None) -> tuple[list[Reply], int]:
    """The replies of one search page, and how many messages it held. UNCONFIRMED: the
    wrapper key ``Messages`` (a bare list is read too), and that a reply's date is
    ``Received`` (else ``Created``). A message whose Direction is not Receive is left out."""
    raise_for_error(response, sends_message=False)
    data = json_body(response)
    items = data if isinstance(data, list) else expect_dict(data).get("Messages")
    if not isinstance(items, list):
        raise ProviderUnavailable(
            f"{LABEL} answered the message search with {snippet(response)}",
            code="unreadable_reply",
        )
    replies = []
    for item in items:
        msg = expect_dict(item)
        sid = msg.get("MessageSid")
        if not isinstance(sid, str) or str(msg.get("Direction", "Receive")).lower() != "receive":
            continue
        sender = str(msg.get("From") or "")
        replies.append(
            Reply(
                provider=INFO.slug,
                reply_id=sid,
                sender=f"msisdn:{sender}",
                text=str(msg.get("Text") or ""),
                date=iso_from_epoch(msg.get("Received") or msg.get("Created")),
                profile=profile,
                details={"to": msg["To"]} if msg.get("To") else {},
            )
        )
    return replies, len(items)


class FoneDynamics(Provider):
    info = INFO
    callbacks_elsewhere = (
        "its webhooks are given with each message: send with --receipt-webhook (and, from a "
        "leased number, --reply-webhook) URL/fonedynamics?token=<callback_secret>"
    )

    @property
    def _auth(self) -> tuple[str, str]:
        return self.settings.require("account_sid"), self.settings.require("token")

    def check_message(self, message: Message, targets: Sequence[Target]) -> None:
        if message.at is not None:
            now = datetime.now(message.at.tzinfo)
            if message.at > now + SCHEDULE_MAX_AHEAD:
                raise InputError(
                    f"--at {message.at.isoformat()} is more than 14 days ahead; "
                    "Fone Dynamics schedules at most 14 days in the future",
                    code="invalid_schedule",
                )
            if message.at < now - SCHEDULE_MAX_BEHIND:
                raise InputError(
                    f"--at {message.at.isoformat()} is more than an hour in the past; "
                    "Fone Dynamics refuses that (less than an hour ago sends now)",
                    code="invalid_schedule",
                )
        leased = message.sender in (None, "")
        used = [k for k in LEASE_ONLY if k in message.extra]
        if used and not leased:
            flags = ", ".join("--" + k.replace("_", "-") for k in used)
            raise InputError(
                f"{flags} apply only to a leased sender; drop --from (or give --from '')",
                code="lease_only_option",
            )
        if "receipt_webhook" in message.extra and message.extra.get("delivery_receipt") is False:
            raise InputError(
                "--receipt-webhook needs delivery receipts; drop --no-delivery-receipt",
                code="conflicting_options",
            )

    def _send_request(self, message: Message, target: Target) -> Request:
        sid, token = self._auth
        return send_request(
            self.base_url, sid, token, self.settings.require("property_sid"), message, target.value
        )

    def dry_run(self, message: Message, targets: Sequence[Target]) -> list[Request]:
        return [self._send_request(message, t) for t in targets]

    def send(
        self, session: Session, message: Message, targets: Sequence[Target]
    ) -> list[SendResult]:
        results = []
        for target in targets:
            response = session.call(self._send_request(message, target), sends_message=True)
            sent = parse_send(response)
            results.append(
                self.result(
                    target,
                    Status.ACCEPTED,
                    message,
                    message_id=sent["MessageSid"],
                    date=iso_from_epoch(sent.get("Created"))
                    or _date_header(response.header("date")),
                    reference=sent.get("ExternalId") or message.reference,
                    details={"from": sent.get("From")} if sent.get("From") else {},
                )
            )
        return results

    def status(self, session: Session, record: Mapping[str, Any]) -> StatusReport:
        sid, token = self._auth
        message_sid = record.get("message_id")
        if not message_sid:
            raise InputError(
                "this send has no MessageSid in the history (the reply never arrived)",
                hint="look it up in the Fone Dynamics portal by its text and time",
                code="no_message_id",
            )
        return parse_status(session.call(status_request(self.base_url, sid, token, message_sid)))

    def reconcile(self, session: Session, lookup: SendLookup) -> Reconciled:
        """``GET /v2/Properties/{PropertySid}/Messages`` (Direction=Transmit) over the
        row's window, paged; matched by ExternalId or Text + To."""
        sid, token = self._auth
        prop = self.settings.require("property_sid")
        start, end = int(lookup.start), int(lookup.end) + 1
        items: list[dict[str, Any]] = []
        complete = False
        for page in range(SEARCH_PAGES):
            request = search_request(
                self.base_url, sid, token, prop, start, end, page * SEARCH_PAGE
            )
            found = parse_search(session.call(request))
            items += found
            if len(found) < SEARCH_PAGE:
                complete = True
                break
        record = lookup.record
        to = str(record.get("target") or "").partition(":")[2] or str(record.get("target"))
        reference = str(record.get("reference") or "") or None
        return match_sent(items, complete, text=lookup.text, to=to, reference=reference)

    def inbox(
        self, session: Session, since: float | None, senders: Sequence[Target]
    ) -> Iterator[list[Reply]]:
        """The property's received messages from ``since`` (default: 7 days back) to now;
        ``senders`` are applied by the caller (the search has no From filter)."""
        sid, token = self._auth
        property_sid = self.settings.require("property_sid")
        now = session.now()
        date_from = int(since if since is not None else now - DEFAULT_INBOX_WINDOW)
        date_to = int(now) + 60  # exclusive; a minute ahead covers clocks a little apart
        for page in range(MAX_INBOX_PAGES):
            request = inbox_request(
                self.base_url, sid, token, property_sid, date_from, date_to, page * SEARCH_PAGE
            )
            replies, count = parse_received(session.call(request), self.settings.profile)
            yield replies
            if count < SEARCH_PAGE:
                return

    def login(self, session: Session) -> None:
        """No login step: a GET of a message that cannot exist proves the credentials (401 is
        documented for bad ones), when the API itself answers that the message is unknown.

        UNCONFIRMED how the real API answers an unknown MessageSid: the sandbox's 404 with a
        ``ResponseStatus`` (``MESSAGE_NOT_FOUND``) is its own invention. So these count as
        "unknown message" too: a 400 whose ``ResponseStatus`` names the message (an ErrorCode
        or field naming a MessageSid, or the text quoting the sid: the API may refuse a sid
        of the wrong form), and a 404 in another shape (no body, other JSON) when the same
        API answers a path that has no route differently (one more request, see
        ``_route_answered``). Otherwise a 404 (an HTML page, another server's JSON, the
        framework's "no route" page) means no Fone Dynamics API at that address: a wrong
        base_url path, not "login ok"."""
        sid, token = self._auth
        response = session.call(status_request(self.base_url, sid, token, DOCTOR_PROBE_SID))
        if _says_unknown_message(response, DOCTOR_PROBE_SID):
            return
        if response.status_code == 404 and self._route_answered(session, response):
            return
        if response.status_code in WRONG_PATH_STATUSES:
            raise wrong_path(INFO, response, "a message lookup")
        raise_for_error(response, sends_message=False)
        # A 2xx for a message that cannot exist: only a real Message resource will do.
        parse_message(response, sends_message=False)

    def _route_answered(self, session: Session, lookup: Response) -> bool:
        """Whether the lookup's 404 came from the message route rather than from a server
        with no such route: a path one segment longer, which no API routes, must get a 404
        (or 405) of another kind (status, media type, body shape). A server that answers
        both alike (a wrong base_url) cannot be told from an unknown message: not OK."""
        sid, token = self._auth
        lookup_request = status_request(self.base_url, sid, token, DOCTOR_PROBE_SID)
        answer = session.call(lookup_request._replace(url=f"{lookup_request.url}/{NO_ROUTE}"))
        return answer.status_code in WRONG_PATH_STATUSES and _kind(answer) != _kind(lookup)


# The MessageSid `doctor` looks up (no message has it) and, after a 404 of an unexpected
# shape, the extra path segment that no API routes (FoneDynamics._route_answered).
DOCTOR_PROBE_SID = "MSMSCLIDOCTORCHECK"
NO_ROUTE = "SmscliNoSuchRoute"


def _says_unknown_message(response: Response, sid: str) -> bool:
    """A ``ResponseStatus`` error that means "no such message": any on a 404; on a 400, one
    that names the message (UNCONFIRMED which the real API sends, see FoneDynamics.login)."""
    status = expect_dict(json_body(response)).get("ResponseStatus")
    if not isinstance(status, dict):
        return False
    if response.status_code == 404:
        return True
    if response.status_code != 400:
        return False
    code = str(status.get("ErrorCode") or "").upper()
    text = str(status.get("Message") or "")
    errors = status.get("Errors")
    fields = {
        str(e.get("FieldName", "")).lower()
        for e in (errors if isinstance(errors, list) else [])
        if isinstance(e, dict)
    }
    return (
        "MESSAGE" in code
        or "SID" in code
        or bool(fields & {"messagesid", "sid"})
        or sid in text
        or "messagesid" in text.lower()
    )


def _kind(response: Response) -> tuple[int, str, str]:
    """What kind of answer: status, media type, and the body's shape (empty, the keys of a
    JSON object, other JSON, or text)."""
    media = (response.header("content-type") or "").partition(";")[0].strip().lower()
    if not response.content.strip():
        return response.status_code, media, "empty"
    data = json_body(response)
    if isinstance(data, dict):
        return response.status_code, media, "json:" + ",".join(sorted(data))
    return response.status_code, media, "text" if data is None else "json"


def _date_header(value: str | None) -> str | None:
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError):
        return None
