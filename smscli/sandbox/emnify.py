"""Emulator of the emnify REST API, mounted at ``/emnify`` (SPEC §8).

One module on purpose (~750 lines): the emulator mirrors the whole API it stands in
for (auth, endpoint lookup with paging, send validation, status, cancel, the devices'
replies), and each validation rule reads best next to the handler that applies it.

Shapes follow reference/providers-thingspace-emnify.md §2 and seed 003:

  POST /api/v1/authenticate            {"application_token"} → 200 {"auth_token": <JWT>}
  GET  /api/v1/endpoint?q=&page=&per_page=   a JSON list, with X-Total-Count/-Pages headers
  GET  /api/v1/endpoint/{id}           one endpoint
  POST /api/v1/endpoint/{id}/sms       201, empty body, Location: …/endpoint/{id}/sms/{sms_id}
  GET  /api/v1/endpoint/{id}/sms       the endpoint's SMS, sent (MT) and received (MO)
  GET  /api/v1/endpoint/{id}/sms/{sms_id}    one SMS; status id 1 → 2 (3 when it will
                                       fail or expire) → 4 delivered | 5 failed | 6 expired
  DELETE /api/v1/endpoint/{id}/sms/{sms_id}  cancels an SMS not yet delivered: 200, empty
                                       body; its status becomes 7 CANCELED

Endpoint objects carry what the vendor SDK's pydantic models require (emnify-sdk 0.5.3,
``emnify/modules/api/models.py`` class ``Endpoint``: ``name``, ``service_profile {id}``,
``tariff_profile {id}``, ``status {id}``; ``Sim1``: ``sim.id``), shaped like the recorded
endpoints (``emnify/emnify-sdk-python:tests/fixtures/cassettes/send_sms_to_device.yaml``,
``test_update_device.yaml``): ``created``, ``last_updated``, ``imei``, ``imei_lock``,
``ip_address_space {id}`` as well. The SDK's calls that reach these paths (its
``emnify/modules/device/api_call_manager.py``: ``GetAllDevicesApiCall`` ``/v1/endpoint``,
``RetrieveDevice`` ``/v1/endpoint/{endpoint_id}``, ``GetAllSmsFromDevice`` and
``SendSmsToDevice`` ``/v1/endpoint/{endpoint_id}/sms``) parse; its SIM and operator
managers call ``/v1/sim`` and ``/v1/operator``, which are not emulated.

SMS objects: numbers that production was recorded sending as strings (``dcs``, ``pid``,
``retry_count``, ``endpoint_id``: cassette ``get_all_device_sms.yaml``) are strings; with
``spec_strict`` they are the spec's integers and the endpoint is the spec's ``endpoint
{id, name}`` object (OpenAPI mirror ``api-evangelist/emnify:openapi/_original/
emnify-api-openapi.yml``, schema ``ApiV1EndpointEndpointIdSmsGetResponsesContentApplication
JsonSchemaItems``). A device's reply (``direction == "mo"``) is listed with ``sms_type {"id":
2, "description": "MO"}`` (the id is UNCONFIRMED: only ``MT`` = 1 is documented, so clients
should key on the description), ``source_address`` the device's MSISDN, ``dest_address``
the address it answered, status 4 DELIVERED.

Cancel: the docs say "Cancel SMS that is buffered for endpoint and not yet delivered" and
answer 200 with an empty body (OpenAPI mirror); the sandbox cancels any MT SMS whose
delivery is not final yet (statuses 1-3; whether emnify cancels one in status 1 or 2 is
UNCONFIRMED) and refuses a final one, or a received one, with ``409 {"error_code": 1406,
"error_token": "NotAllowed"}`` (resource errors "mostly return 409"; the code is
UNCONFIRMED). A canceled message gets no reply from the device.

``spec_strict`` (``smscli sandbox --spec-strict``): ``POST …/sms`` answers ``201 {}``
(``application/json``) with no ``Location`` (the spec's "Empty response body" schema),
``DELETE …/sms/{id}`` answers ``200 {}``, and SMS objects use the spec's types as above.

Auth: any application token except ``refused`` gets a JWT whose ``exp`` is ``token_ttl``
seconds away; the refusal is a 401 with an empty body, and from the third refusal in a row
the body says ``TooManyRequests`` (good tokens are not blocked, unlike the real lock-out).
Calls need ``Authorization: Bearer <JWT>``: a missing, malformed or unknown token gets the
API gateway's ``401 {"message"}`` with ``x-amzn-ErrorType``; a lapsed one gets
``401 {"error_code": 1103, "error_token": "TokenExpired"}``.

Endpoints: every numeric id exists (ids 1001-1003 are listed when no filter is given).
``q=name:X`` finds an endpoint named exactly X and also one named ``X-spare``, because the
real filter may match by prefix (UNCONFIRMED) and clients must re-check. ``q=iccid:`` takes
19 digits and ``q=iccid_with_luhn:`` 20 (the other length finds nothing, as on emnify). The
endpoint id of a name or ICCID is a stable hash ending in ``0001``, or in the value's magic
suffix, so ``name:dev-0400`` resolves to an endpoint that refuses the message. Names starting
with ``dup`` match two endpoints (ids ``…0001`` and ``…0002``); names and ICCIDs ending in
``0404`` match none.

Magic endpoint ids (sandbox.base.MAGIC) on ``POST …/sms``: 0400 → 409 ``NotAllowed``
(SMS not enabled for the endpoint; the real code is UNCONFIRMED), 0401 → 401 from the
gateway, 0404 → 404 ``InvalidReference``, 0419 → the presented JWT is revoked and a 401
``TokenExpired`` comes back, unless that JWT is fresh from a login (its first request: a
client cannot tell a fresh token's refusal from a broken login, so it would give up),
0410/0411 → accepted then failed/expired, 0429 (before the message is taken) and
0500/0408/0444 (after it was stored) → sandbox.base.failure_for.

Validation follows the docs: JSON only (415 otherwise, 400 for a body that is not JSON),
``payload`` required, ``source_address`` a string of at most 21 (11 when alphanumeric,
and type 208 required for letters), ``source_address_type`` ``{"id": 145|161|208}``,
``dest_address`` a string, ``udh`` even-length hex, ``dcs`` 0-255 (a JSON integer or a
string of digits: production sends it back as a string, so clients echo either),
``expiry_date`` an ISO 8601 date-time; field errors are 422 ``InputValidationFailed`` with
the nested ``Required``/``InvalidFormat`` errors. The payload limit is per part and follows
the dcs's alphabet (3GPP TS 23.038): 160 GSM-7 septets, 70 UCS-2 units or 140 octets (153,
67 and 134 with a udh); what emnify does with longer text is UNCONFIRMED, and refusing it
catches a client that forgot to split.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs

import httpx

from smscli.encoding import septets, utf16_units
from smscli.sandbox.base import (
    REFUSED_SECRET,
    Emulator,
    Stored,
    failure_for,
    json_response,
    magic,
    secret_digest,
)
from smscli.sandbox.pushes import Push, hs256_jwt, json_push, valid_url

_ENDPOINT: Final = re.compile(r"^/api/v1/endpoint/([^/]+)/?$")
_ENDPOINT_SMS: Final = re.compile(r"^/api/v1/endpoint/([^/]+)/sms/?$")
_ONE_SMS: Final = re.compile(r"^/api/v1/endpoint/([^/]+)/sms/([^/]+)/?$")
_CALLBACKS: Final = re.compile(r"^/api/v1/(api_callback|api_secret)/?$")
_ONE_CALLBACK: Final = re.compile(r"^/api/v1/(api_callback|api_secret)/([^/]+)/?$")
_SERVICE_PROFILE: Final = re.compile(r"^/api/v1/service_profile/([^/]+)/?$")
# The organisation of every emulated endpoint (as the login's JWT claims it).
_ORGANISATION: Final = {"id": 1, "name": "smscli sandbox"}
# The claims of a callback's JWT (UNCONFIRMED: emnify documents only that the token is
# signed with the api_secret); valid for this many seconds.
CALLBACK_ISSUER: Final = "emnify-sandbox"
CALLBACK_JWT_SECONDS: Final = 300
_QUERY_FIELDS: Final = frozenset(
    {
        "status",
        "service_profile",
        "tariff_profile",
        "id",
        "name",
        "created",
        "last_updated",
        "tags",
        "ip_address",
        "imei",
        "iccid",
        "iccid_with_luhn",
        "eid",
        "sim_status",
    }
)
_HEX: Final = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
_DIGITS: Final = re.compile(r"^[0-9]+$")
_LETTER: Final = re.compile(r"[A-Za-z]")
_LISTED: Final = ("1001", "1002", "1003")
_SOURCE_TYPES: Final = {145: "International", 161: "National", 208: "Alphanumeric"}
# stage → (status id, description); ids 1-3 and 5 descriptions follow 3rd-party code.
_STATUS: Final[dict[str, tuple[int, str]]] = {
    "accepted": (1, "DELIVERY ATTEMPT PENDING"),
    "sent": (2, "IN PROGRESS"),
    "buffered": (3, "BUFFERED"),
    "delivered": (4, "DELIVERED"),
    "failed": (5, "FAILED"),
    "expired": (6, "EXPIRED"),
    "canceled": (7, "CANCELED"),  # recorded (cassette get_all_device_sms.yaml)
}
_FINAL_STAGES: Final = frozenset({"delivered", "failed", "expired", "canceled"})
_MT_TYPE: Final = {"id": 1, "description": "MT"}  # the SDK's example (api/models.py)
# Only "MT" = 1 is documented with its id; the MO id is UNCONFIRMED (key on the description).
_MO_TYPE: Final = {"id": 2, "description": "MO"}
# Recorded endpoints carry both profiles (the SDK's Endpoint model requires them); one
# policy for every emulated endpoint.
_PROFILE_ID: Final = 1
_PROFILE: Final = {"id": _PROFILE_ID, "name": "Default Policy"}
_CREATED: Final = "2024-01-01T00:00:00.000+0000"


@dataclass
class _Sms(Stored):
    """An MT SMS the emulator took; ``canceled_at`` once ``DELETE …/sms/{id}`` canceled it."""

    canceled_at: float | None = field(default=None)

    def stage(self, now: float) -> str:
        if self.canceled_at is not None and now >= self.canceled_at:
            return "canceled"
        return super().stage(now)


@dataclass
class _Token:
    expires_at: float
    uses: int = 0


def _error(
    status: int, code: int, token: str, message: str, errors: list[dict[str, Any]] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"error_code": code, "error_token": token, "message": message}
    if errors:
        body["errors"] = errors
    return json_response(status, body)


def _gateway(status: int, message: str, kind: str) -> httpx.Response:
    """What AWS API Gateway answers before the request reaches emnify's application."""
    return json_response(status, {"message": message}, {"x-amzn-ErrorType": kind})


def _invalid(*errors: tuple[int, str, str]) -> httpx.Response:
    nested = [{"error_code": c, "error_token": t, "message": m} for c, t, m in errors]
    return _error(422, 1400, "InputValidationFailed", "Input validation failed", nested)


def _stamp(epoch: float) -> str:
    # Recorded production timestamps: milliseconds and an offset without a colon.
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def _stable_id(key: str, suffix: str | None, second: bool = False) -> str:
    base = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 90_000 + 10_000
    return f"{base}{suffix or ('0002' if second else '0001')}"


class EmnifyEmulator(Emulator):
    slug = "emnify"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens: dict[str, _Token] = {}
        self.failed_logins = 0
        self.names: dict[str, str] = {}  # endpoint id → name given to it by a lookup
        # Callbacks (issue 11): api_callback and api_secret resources by id, and what a
        # service profile was given (``PATCH /service_profile/{id}``).
        self.api_callbacks: dict[int, dict[str, Any]] = {}
        self.api_secrets: dict[int, dict[str, Any]] = {}
        self.profile_links: dict[int, dict[str, int | None]] = {}
        self._resource_ids = 0

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        if path.rstrip("/") == "/api/v1/authenticate" and request.method == "POST":
            return self._authenticate(request)
        route = self._route(request.method, path)
        if route is None:
            return _gateway(
                403, "Missing Authentication Token", "MissingAuthenticationTokenException"
            )
        refusal = self._authorize(request)
        if isinstance(refusal, httpx.Response):
            return refusal
        name, args = route
        if name == "lookup":
            return self._lookup(request)
        if name.startswith("cb_"):
            return self._callback_route(request, name, args)
        endpoint_id = args[0]
        if name == "sms_post":
            return self._send(request, path, refusal, endpoint_id)
        if not _DIGITS.match(endpoint_id):
            return _bad_id(endpoint_id)
        if name == "endpoint":
            return self._endpoint_reply(endpoint_id)
        if name == "sms_list":
            return json_response(200, self._sms_list(endpoint_id))
        if name == "sms_delete":
            return self._cancel(endpoint_id, args[1])
        return self._sms_reply(endpoint_id, args[1])

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, tuple[str, ...]] | None:
        if method == "GET" and path.rstrip("/") == "/api/v1/endpoint":
            return "lookup", ()
        if (match := _CALLBACKS.match(path)) and method in ("POST", "GET"):
            return f"cb_{method.lower()}", match.groups()
        if (match := _ONE_CALLBACK.match(path)) and method in ("GET", "DELETE"):
            return f"cb_{method.lower()}_one", match.groups()
        if (match := _SERVICE_PROFILE.match(path)) and method == "PATCH":
            return "cb_profile", match.groups()
        if match := _ONE_SMS.match(path):
            kind = {"GET": "sms_get", "DELETE": "sms_delete"}.get(method)
            return (kind, match.groups()) if kind else None
        if match := _ENDPOINT_SMS.match(path):
            kind = {"POST": "sms_post", "GET": "sms_list"}.get(method)
            return (kind, match.groups()) if kind else None
        if (match := _ENDPOINT.match(path)) and method == "GET":
            return "endpoint", match.groups()
        return None

    # -- callbacks: registration ---------------------------------------------------------
    def _callback_route(
        self, request: httpx.Request, name: str, args: tuple[str, ...]
    ) -> httpx.Response:
        """The documented paths (after-the-send.md §1.1) with UNCONFIRMED bodies:

        ``POST /api_callback`` ``{"url", "purpose"?}`` → 201 ``{"id", "url", "purpose"}``;
        ``POST /api_secret`` ``{"secret", "purpose"?}`` → 201 ``{"id", "purpose"}`` (a
        secret is never returned again); ``GET`` lists either, ``GET``/``DELETE …/{id}``
        one (``DELETE``: 204); ``PATCH /service_profile/{id}`` ``{"api_callback": {"id"} |
        null, "api_secret": {"id"} | null}`` → 204. Every emulated endpoint has service
        profile 1: the callback and secret given to it are the ones pushes use; until one is
        given, the most recently created of each (the sandbox's simplification: real emnify
        pushes only for service profiles that have them)."""
        if name == "cb_profile":
            return self._link_profile(request, args[0])
        kind = args[0]
        table = self.api_callbacks if kind == "api_callback" else self.api_secrets
        if name == "cb_get":
            with self.lock:
                return json_response(200, [_shown(kind, item) for item in table.values()])
        if name == "cb_post":
            return self._create(request, kind, table)
        ident = args[1]
        if not _DIGITS.match(ident):
            return _bad_id(ident)
        with self.lock:
            item = table.get(int(ident))
            if item is not None and name == "cb_delete_one":
                del table[int(ident)]
        if item is None:
            return _error(404, 1201, "NotFound", f"{kind} with id {ident} not found")
        if name == "cb_delete_one":
            return httpx.Response(204)
        return json_response(200, _shown(kind, item))

    def _create(
        self, request: httpx.Request, kind: str, table: dict[int, dict[str, Any]]
    ) -> httpx.Response:
        body = _json_body(request)
        if isinstance(body, httpx.Response):
            return body
        key = "url" if kind == "api_callback" else "secret"
        value = body.get(key)
        if value is None:
            return _invalid((1402, "Required", f"{key} is required"))
        if not isinstance(value, str) or not value:
            return _invalid((1403, "InvalidFormat", f"{key} must be a non-empty string"))
        if key == "url" and valid_url(value) is None:
            return _invalid((1403, "InvalidFormat", "url must be an http or https URL"))
        purpose = body.get("purpose")
        if purpose is not None and not isinstance(purpose, str):
            return _invalid((1403, "InvalidFormat", "purpose must be a string"))
        with self.lock:
            self._resource_ids += 1
            ident = self._resource_ids
            item = {"id": ident, key: value, "purpose": purpose, "created": _stamp(self.clock())}
            table[ident] = item
        prefix = request.url.path.removesuffix("/")
        return json_response(201, _shown(kind, item), {"Location": f"{prefix}/{item['id']}"})

    def _link_profile(self, request: httpx.Request, profile_id: str) -> httpx.Response:
        if not _DIGITS.match(profile_id):
            return _bad_id(profile_id)
        body = _json_body(request)
        if isinstance(body, httpx.Response):
            return body
        links: dict[str, int | None] = {}
        for kind, table in (("api_callback", self.api_callbacks), ("api_secret", self.api_secrets)):
            if kind not in body:
                continue
            ref = body[kind]
            if ref is None:  # "can be emptied by setting the id to null"
                links[kind] = None
                continue
            ident = ref.get("id") if isinstance(ref, dict) else None
            if isinstance(ident, str) and ident.isdigit():
                ident = int(ident)
            if ident is None and isinstance(ref, dict):
                links[kind] = None
                continue
            if not isinstance(ident, int) or isinstance(ident, bool):
                return _invalid((1403, "InvalidFormat", f'{kind} must be {{"id": N}} or null'))
            with self.lock:
                known = ident in table
            if not known:
                return _error(404, 1401, "InvalidReference", f"{kind} with Id '{ident}' not found.")
            links[kind] = ident
        with self.lock:
            self.profile_links.setdefault(int(profile_id), {}).update(links)
        return httpx.Response(204)

    def _push_target(self) -> tuple[str, str | None] | None:
        """The callback URL and api_secret that apply to every endpoint (service profile 1's,
        else the most recently created ones), or None without a callback."""
        with self.lock:
            links = self.profile_links.get(_PROFILE_ID, {})
            if "api_callback" in links:
                callback_id = links["api_callback"]
            else:
                callback_id = max(self.api_callbacks, default=None)
            if "api_secret" in links:
                secret_id = links["api_secret"]
            else:
                secret_id = max(self.api_secrets, default=None)
            callback = self.api_callbacks.get(callback_id) if callback_id is not None else None
            secret = self.api_secrets.get(secret_id) if secret_id is not None else None
        if callback is None:
            return None
        return str(callback["url"]), (str(secret["secret"]) if secret else None)

    # -- callbacks: the pushes ----------------------------------------------------------
    def pushes(self, event: str, message: Stored) -> list[Push]:
        """A device's reply: POST of the documented MO shape (the old sms-callback page; we
        add ``sms_type``); a final MT status: PATCH of the SMS object ``GET …/sms/{id}``
        answers, with ``endpoint {id, name}`` (UNCONFIRMED: the receipt's shape is not
        documented). ``Authorization: Bearer <HS256 JWT signed with the api_secret>`` when a
        secret applies (the claims are UNCONFIRMED: ``iss``, ``iat``, ``exp``)."""
        if event == "sent":
            return []
        target = self._push_target()
        if target is None:
            return []
        url, secret = target
        endpoint_id = str(message.fields.get("endpoint_id", ""))
        if not _DIGITS.match(endpoint_id):
            return []
        endpoint = {"id": int(endpoint_id), "name": self._name(endpoint_id)}
        data: dict[str, Any]
        if event == "mo":
            sms = self._sms(message)
            data = {
                "id": int(message.id),
                "endpoint": endpoint,
                "organisation": dict(_ORGANISATION),
                "source_address": sms["source_address"],
                "dest_address": sms.get("dest_address", ""),
                "payload": message.text,
                "dcs": int(message.fields.get("dcs", 0) or 0),
                "pid": 0,
                "submit_date": sms["submit_date"],
                "sms_type": dict(_MO_TYPE),
            }
            method = "POST"
        else:
            data = self._sms(message)
            data.setdefault("endpoint", endpoint)
            method = "PATCH"
        headers = {}
        if secret:
            now = int(self.clock())
            claims = {"iss": CALLBACK_ISSUER, "iat": now, "exp": now + CALLBACK_JWT_SECONDS}
            headers["Authorization"] = f"Bearer {hs256_jwt(secret, claims)}"
        kind = "mo" if event == "mo" else "receipt"
        return [json_push(self.slug, kind, url, data, method, headers)]

    # -- auth ---------------------------------------------------------------------------
    def _authenticate(self, request: httpx.Request) -> httpx.Response:
        body = _json_body(request)
        if isinstance(body, httpx.Response):
            return body
        token = body.get("application_token")
        if token is None:
            return _invalid((1402, "Required", "application_token is required"))
        if not isinstance(token, str) or not token:
            return _invalid((1403, "InvalidFormat", "application_token must be a string"))
        if token == REFUSED_SECRET:
            self.count_login("authenticate", secret_digest(token), refused=True)
            with self.lock:
                self.failed_logins += 1
                locked = self.failed_logins >= 3
            if locked:
                return _error(401, 1105, "TooManyRequests", "Too many failed login attempts")
            return httpx.Response(401, content=b"")  # most /authenticate 401s have no body
        with self.lock:
            self.failed_logins = 0
        self.count_login("authenticate", secret_digest(token))
        return json_response(200, {"auth_token": self._issue()})

    def _issue(self) -> str:
        now = self.clock()
        expires = now + self.token_ttl
        claims = {
            "aud": "/api/v1/authenticate",
            "esc.app": 1,
            "esc.org": 1,
            "esc.orgName": "smscli sandbox",
            "iss": "smscli-sandbox",
            "iat": int(now),
            "exp": int(expires),
            "jti": secrets.token_hex(8),
        }
        header = _b64(json.dumps({"alg": "HS512", "typ": "JWT"}).encode())
        token = f"{header}.{_b64(json.dumps(claims).encode())}.{secrets.token_urlsafe(32)}"
        with self.lock:
            self.tokens[token] = _Token(expires_at=expires)
        return token

    def _authorize(self, request: httpx.Request) -> _Token | httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _gateway(401, "Unauthorized", "UnauthorizedException")
        token = token.strip()
        if token.count(".") != 2:
            # Recorded: this message with x-amzn-ErrorType AccessDeniedException (cassettes).
            return _gateway(
                401, "token contains an invalid number of segments", "AccessDeniedException"
            )
        with self.lock:
            record = self.tokens.get(token)
            if record is None:
                return _gateway(401, "Unauthorized", "UnauthorizedException")
            if record.expires_at <= self.clock():
                del self.tokens[token]
                return _error(401, 1103, "TokenExpired", "Token expired")
            record.uses += 1
            return record

    def _revoke(self, record: _Token) -> None:
        with self.lock:
            for token, known in list(self.tokens.items()):
                if known is record:
                    del self.tokens[token]

    # -- endpoints ----------------------------------------------------------------------
    def _lookup(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode(), keep_blank_values=True)
        paging = _paging(query)
        if isinstance(paging, httpx.Response):
            return paging
        page, per_page = paging
        criteria = _criteria((query.get("q") or [""])[0])
        if isinstance(criteria, httpx.Response):
            return criteria
        found = self._find(criteria) if criteria else [self._endpoint(i) for i in _LISTED]
        if "status" in criteria:  # every emulated endpoint is Enabled (0)
            found = [e for e in found if str(e["status"]["id"]) == criteria["status"]]
        chunk = found[(page - 1) * per_page : page * per_page]
        pages = max(1, -(-len(found) // per_page))
        return json_response(
            200,
            chunk,
            {
                "X-Count-Per-Page": str(per_page),
                "X-Current-Page": str(page),
                "X-Total-Count": str(len(found)),
                "X-Total-Pages": str(pages),
            },
        )

    def _find(self, criteria: dict[str, str]) -> list[dict[str, Any]]:
        if "id" in criteria:
            return [self._endpoint(criteria["id"])] if _DIGITS.match(criteria["id"]) else []
        if "name" in criteria:
            return self._by_name(criteria["name"])
        iccid = criteria.get("iccid")
        if iccid is not None:
            return self._by_iccid(iccid) if len(iccid) == 19 else []
        with_luhn = criteria.get("iccid_with_luhn")
        if with_luhn is not None:
            return self._by_iccid(with_luhn[:19]) if len(with_luhn) == 20 else []
        return [self._endpoint(i) for i in _LISTED]

    def _by_name(self, name: str) -> list[dict[str, Any]]:
        suffix = magic(name)
        if suffix == "0404" or not name:
            return []
        ids = [_stable_id("name:" + name, suffix)]
        if name.lower().startswith("dup"):
            ids.append(_stable_id("name:" + name, suffix, second=True))
        spare = name + "-spare"
        found = [(i, name) for i in ids] + [(_stable_id("name:" + spare, None), spare)]
        with self.lock:
            self.names.update(found)
        return [self._endpoint(i) for i, _ in found]

    def _by_iccid(self, iccid: str) -> list[dict[str, Any]]:
        suffix = magic(iccid)
        if suffix == "0404" or not _DIGITS.match(iccid):
            return []
        return [self._endpoint(_stable_id("iccid:" + iccid, suffix), iccid)]

    def _endpoint(self, endpoint_id: str, iccid: str | None = None) -> dict[str, Any]:
        """One endpoint object, keys in the recorded order (see the module docstring)."""
        return {
            "id": int(endpoint_id),
            "name": self._name(endpoint_id),
            "tags": None,
            "created": _CREATED,
            "last_updated": _CREATED,
            "status": {"id": 0, "description": "Enabled"},
            "service_profile": dict(_PROFILE),
            "tariff_profile": dict(_PROFILE),
            "sim": _sim(endpoint_id, iccid),
            "imei": None,
            "ip_address": "10.176.0.1",
            "ip_address_space": {"id": 1},
            "imei_lock": False,
        }

    def _name(self, endpoint_id: str) -> str:
        with self.lock:
            return self.names.get(endpoint_id, f"endpoint-{endpoint_id}")

    def _endpoint_reply(self, endpoint_id: str) -> httpx.Response:
        if magic(endpoint_id) == "0404":
            return _not_found(endpoint_id)
        return json_response(200, self._endpoint(endpoint_id))

    # -- SMS ------------------------------------------------------------------------------
    def _send(
        self, request: httpx.Request, path: str, token: _Token, endpoint_id: str
    ) -> httpx.Response:
        suffix = magic(endpoint_id)
        if suffix == "0401":
            return _gateway(401, "Unauthorized", "UnauthorizedException")
        if suffix == "0419" and token.uses > 1:
            self._revoke(token)
            return _error(401, 1103, "TokenExpired", "Token expired")
        if not _DIGITS.match(endpoint_id):
            return _bad_id(endpoint_id)
        # 0429 is refused before the message is taken; 0500, 0408 and 0444 fail after it
        # was (as a real provider may): the outcome a client sees is unknown, and the message
        # is there for `smscli reconcile` to find.
        failure = failure_for(suffix) if suffix == "0429" else None
        if failure is not None:
            return failure
        if suffix == "0404":
            return _not_found(endpoint_id)
        body = _json_body(request)
        if isinstance(body, httpx.Response):
            return body
        problem = _validate_sms(body)
        if problem is not None:
            return problem
        if suffix == "0400":
            return _error(409, 1406, "NotAllowed", f"SMS is not enabled for endpoint {endpoint_id}")
        stored = self._store(endpoint_id, body)
        if self.spec_strict:
            # The spec: "201 Resource Created", an application/json "Empty response body"
            # schema ({}), and no Location header (recorded production sends one).
            created = json_response(201, {})
        else:
            prefix = request.url.path[: len(request.url.path) - len(path)]
            origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
            created = httpx.Response(
                201,
                content=b"",
                headers={
                    "Content-Type": "text/html; charset=UTF-8",
                    "Location": f"{origin}{prefix}/api/v1/endpoint/{endpoint_id}/sms/{stored.id}",
                },
            )
        return failure_for(suffix, created) or created

    def _store(self, endpoint_id: str, body: dict[str, Any]) -> Stored:
        # Only the documented message fields: nothing of the request's credentials.
        kept = ("source_address", "source_address_type", "dest_address", "udh", "expiry_date")
        fields: dict[str, Any] = {key: body[key] for key in kept if key in body}
        if "dcs" in body:
            fields["dcs"] = _dcs(body["dcs"])  # validated: an int, however it was sent
        fields["endpoint_id"] = endpoint_id
        return self.remember(
            _Sms(
                id=self.next_id(),
                provider=self.slug,
                target=f"endpoint:{endpoint_id}",
                text=body["payload"],
                created=self.clock(),
                outcome=self.outcome_for(endpoint_id),
                fields=fields,
            )
        )

    def _sms_reply(self, endpoint_id: str, sms_id: str) -> httpx.Response:
        with self.lock:
            stored = self.store.get(sms_id)
        if stored is None or stored.fields.get("endpoint_id") != endpoint_id:
            return _error(404, 1201, "NotFound", f"SMS with id {sms_id} not found")
        return json_response(200, self._sms(stored))

    def _sms_list(self, endpoint_id: str) -> list[dict[str, Any]]:
        with self.lock:
            mine = [m for m in self.store.values() if m.fields.get("endpoint_id") == endpoint_id]
        return [self._sms(m) for m in sorted(mine, key=lambda m: -int(m.id))]

    def _cancel(self, endpoint_id: str, sms_id: str) -> httpx.Response:
        """``DELETE …/sms/{sms_id}``: an MT SMS not yet delivered becomes CANCELED (7)."""
        now = self.clock()
        with self.lock:
            stored = self.store.get(sms_id)
            if stored is None or stored.fields.get("endpoint_id") != endpoint_id:
                return _error(404, 1201, "NotFound", f"SMS with id {sms_id} not found")
            stage = stored.stage(now)
            if not isinstance(stored, _Sms) or stage in _FINAL_STAGES:
                what = "was received" if stored.mo else f"is {_STATUS[stage][1]}"
                return _error(
                    409, 1406, "NotAllowed", f"SMS with id {sms_id} {what}: it cannot be canceled"
                )
            stored.canceled_at = now
            # A canceled message is never delivered, so the device will not answer it.
            self._due = [due for due in self._due if due[1] != sms_id]
            heapq.heapify(self._due)
        if self.spec_strict:
            return json_response(200, {})  # the spec's "Empty response body" schema
        # The docs' "Empty response body", sent as the recorded 201 of a send is: no bytes
        # (what production answers here is UNCONFIRMED).
        return httpx.Response(
            200, content=b"", headers={"Content-Type": "text/html; charset=UTF-8"}
        )

    def reply_id(self, original: Stored) -> str:
        """A device's reply gets a numeric SMS id from the same sequence as sent ones (emnify's
        ids are integers; the list is ordered newest id first)."""
        return self.next_id()

    def _sms(self, stored: Stored) -> dict[str, Any]:
        """One SMS object; the numbers production sends as strings are strings unless
        ``spec_strict`` (see the module docstring)."""
        now = self.clock()
        stage = stored.stage(now)
        if stage == "sent" and stored.outcome != "delivered":
            stage = "buffered"  # the device is away: emnify keeps retrying
        status_id, description = _STATUS[stage]
        fields = stored.fields
        endpoint_id = fields["endpoint_id"]
        sim = _sim(endpoint_id)
        canceled_at = getattr(stored, "canceled_at", None)
        if stored.mo:
            done: str | None = _stamp(stored.created)
        elif stage == "canceled" and canceled_at is not None:
            done = _stamp(canceled_at)
        else:
            done = _stamp(stored.created + 2) if stage in _FINAL_STAGES else None
        source_type = (fields.get("source_address_type") or {}).get("id", 161)
        source = fields.get("source_address", "")
        if stored.mo:  # the device's reply: from its own number, to the address it answered
            source_type, source = 145, sim["msisdn"]

        def number(value: int) -> int | str:
            return value if self.spec_strict else str(value)

        sms: dict[str, Any] = {
            "id": int(stored.id),
            "submit_date": _stamp(stored.created),
            "delivery_date": done if stage == "delivered" else None,
            "final_date": done,
            "expiry_date": fields.get("expiry_date") or _stamp(stored.created + 86_400),
            "retry_date": None,
            "last_delivery_attempt": done,
            "retry_count": number(1 if stage in ("buffered", "failed", "expired") else 0),
            # string|null in the spec; no failed SMS was recorded
            "gsm_map_error": "27" if stage == "failed" else None,
            "dcs": number(fields.get("dcs", 0)),
            "pid": number(0),
            "source_address": source,
        }
        if stored.mo:
            sms["dest_address"] = fields.get("source_address") or fields.get("dest_address", "")
        if self.spec_strict:
            sms["endpoint"] = {"id": int(endpoint_id), "name": self._name(endpoint_id)}
        else:
            sms["endpoint_id"] = endpoint_id
        sms |= {
            "sim_id": str(sim["id"]),
            "iccid": sim["iccid"],
            "msisdn": sim["msisdn"],
            "imsi": sim["imsi"],
            "udh": "" if stored.mo else fields.get("udh", ""),
            "payload": stored.text,
            "status": {"id": status_id, "description": description},
            "sms_type": dict(_MO_TYPE if stored.mo else _MT_TYPE),
            "source_address_type": {
                "id": source_type,
                "description": _SOURCE_TYPES.get(source_type, ""),
            },
        }
        return sms


def _shown(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """An api_callback as it is, an api_secret without its secret."""
    return {k: v for k, v in item.items() if not (kind == "api_secret" and k == "secret")}


def _sim(endpoint_id: str, iccid: str | None = None) -> dict[str, Any]:
    """The SIM of an emulated endpoint (numbers derived from its id)."""
    if iccid is None:
        iccid = ("8988303" + endpoint_id.zfill(12))[-19:]
    return {
        "id": int(endpoint_id),
        "iccid": iccid,
        "iccid_with_luhn": iccid + _luhn_digit(iccid),
        "imsi": "901430" + endpoint_id.zfill(9)[-9:],
        "msisdn": "4236" + endpoint_id.zfill(11)[-11:],
        "status": {"id": 1, "description": "Activated"},
    }


# --------------------------------------------------------------------------- validation


def _json_body(request: httpx.Request) -> dict[str, Any] | httpx.Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return _error(
            415, 1000, "BadRequest", f"Unsupported content type {ctype or 'none'!r}; use JSON"
        )
    try:
        body = json.loads(request.content)
    except ValueError:
        return _error(400, 1000, "BadRequest", "Cannot parse request body as JSON")
    if not isinstance(body, dict):
        return _error(400, 1000, "BadRequest", "Request body must be a JSON object")
    return body


def _validate_sms(body: dict[str, Any]) -> httpx.Response | None:
    problems: list[tuple[int, str, str]] = []
    payload = body.get("payload")
    if payload is None:
        problems.append((1402, "Required", "payload is required"))
    elif not isinstance(payload, str) or not payload:
        problems.append((1403, "InvalidFormat", "payload must be a non-empty string"))
    for key in ("source_address", "dest_address", "udh", "expiry_date"):
        if key in body and not isinstance(body[key], str):
            problems.append((1403, "InvalidFormat", f"{key} must be a string"))
    problems += _source_problems(body)
    udh = body.get("udh")
    if isinstance(udh, str) and udh and not _HEX.match(udh):
        problems.append((1403, "InvalidFormat", "udh must be hexadecimal octets"))
    dcs = _dcs(body.get("dcs", 0))
    if dcs is None:
        problems.append((1403, "InvalidFormat", "dcs must be an integer 0-255"))
    expiry = body.get("expiry_date")
    if isinstance(expiry, str) and not _is_datetime(expiry):
        problems.append((1403, "InvalidFormat", "expiry_date must be an ISO 8601 date-time"))
    if not problems and isinstance(payload, str):
        problems += _length_problems(payload, dcs or 0, bool(udh))
    return _invalid(*problems) if problems else None


def _dcs(value: Any) -> int | None:
    """``dcs`` 0-255 as a JSON integer or a string of ASCII digits (production's SMS objects
    carry it as a string, so a client may send back what it read); None when it is neither."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
        return None
    return value


def _source_problems(body: dict[str, Any]) -> list[tuple[int, str, str]]:
    problems: list[tuple[int, str, str]] = []
    kind: Any = None
    if "source_address_type" in body:
        raw = body["source_address_type"]
        kind = raw.get("id") if isinstance(raw, dict) else None
        if kind not in _SOURCE_TYPES or isinstance(kind, bool):
            problems.append(
                (1403, "InvalidFormat", 'source_address_type must be {"id": 145|161|208}')
            )
    address = body.get("source_address")
    if not isinstance(address, str) or not address:
        return problems
    if len(address) > 21:
        problems.append((1403, "InvalidFormat", "source_address has at most 21 characters"))
    if _LETTER.search(address) and kind != 208:
        problems.append(
            (1402, "Required", "source_address_type 208 is required for alphanumeric senders")
        )
    if kind == 208 and len(address) > 11:
        problems.append(
            (1403, "InvalidFormat", "alphanumeric source_address has at most 11 characters")
        )
    return problems


def _length_problems(payload: str, dcs: int, has_udh: bool) -> list[tuple[int, str, str]]:
    # The dcs's alphabet (3GPP TS 23.038): bits 3-2 in groups 0-7, group 0xE UCS-2, 0xF bit 2.
    group, bits = dcs >> 4, (dcs >> 2) & 3
    if (group <= 7 and bits == 2) or group == 0xE:
        units, limit, unit = utf16_units(payload), 67 if has_udh else 70, "UCS-2 characters"
    elif (group <= 7 and bits == 1) or (group == 0xF and dcs & 4):
        units, limit, unit = len(payload.encode()), 134 if has_udh else 140, "octets"
    else:
        # A character outside GSM-7 counts as one septet: the API's own count is unknown.
        units = sum(septets(ch) or 1 for ch in payload)
        limit, unit = (153 if has_udh else 160), "characters"
    if units <= limit:
        return []
    return [(1403, "InvalidFormat", f"payload holds at most {limit} {unit}; use udh to split")]


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _criteria(q: str) -> dict[str, str] | httpx.Response:
    criteria: dict[str, str] = {}
    for item in filter(None, q.split(",")):
        field, colon, value = item.partition(":")
        if not colon or field not in _QUERY_FIELDS:
            return _error(422, 1301, "InvalidQueryCriteria", f"Invalid query criteria: {item}")
        criteria[field] = value
    return criteria


def _paging(query: dict[str, list[str]]) -> tuple[int, int] | httpx.Response:
    values = []
    for name, default, high in (("page", 1, 1_000_000), ("per_page", 1000, 1000)):
        raw = (query.get(name) or [str(default)])[0]
        if not _DIGITS.match(raw):
            return _error(400, 1000, "BadRequest", f"Cannot parse parameter {name} as Integer")
        if not 1 <= int(raw) <= high:
            return _error(422, 1301, "InvalidQueryCriteria", f"{name} must be 1-{high}")
        values.append(int(raw))
    return values[0], values[1]


def _bad_id(value: str) -> httpx.Response:
    return _error(400, 1000, "BadRequest", f"Cannot parse parameter id as Long: {value}")


def _not_found(endpoint_id: str) -> httpx.Response:
    # Recorded: a missing endpoint is 404 with code 1401, not 1201.
    return _error(404, 1401, "InvalidReference", f"Endpoint with Id '{endpoint_id}' not found.")
