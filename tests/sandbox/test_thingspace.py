"""smscli.sandbox.thingspace: the emulator is as strict as the ThingSpace docs describe."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from smscli.sandbox.base import MAGIC, Stored
from smscli.sandbox.server import Sandbox
from smscli.sandbox.thingspace import ThingSpaceEmulator

ROOT = "http://sandbox.test/thingspace"
ICCID = "89148000000800139708"
ACCOUNT = "0000123456-00001"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Api:
    """Raw HTTP against the emulator, with an injected clock."""

    def __init__(self, token_ttl: float = 300.0, max_messages: int = 10_000) -> None:
        self.t = [1_000_000.0]
        self.sandbox = Sandbox(
            clock=lambda: self.t[0], token_ttl=token_ttl, max_messages=max_messages
        )
        self.client = httpx.Client(transport=self.sandbox.transport(), base_url=ROOT)

    def token(self, key: str = "app-key", secret: str = "app-secret") -> httpx.Response:
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        return self.client.post(
            "/api/ts/v1/oauth2/token",
            headers={"Authorization": f"Basic {basic}", **FORM},
            content="grant_type=client_credentials",
        )

    def bearer(self) -> str:
        token: str = self.token().json()["access_token"]
        return token

    def login(self, bearer: str, password: str = "uws-pass", user: str = "uws") -> httpx.Response:
        return self.client.post(
            "/api/m2m/v1/session/login",
            headers={"Authorization": f"Bearer {bearer}"},
            json={"username": user, "password": password},
        )

    def tokens(self) -> tuple[str, str]:
        bearer = self.bearer()
        return bearer, self.login(bearer).json()["sessionToken"]

    def sms(
        self,
        body: Any,
        tokens: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        bearer, session = tokens or self.tokens()
        all_headers = {
            "Authorization": f"Bearer {bearer}",
            "VZ-M2M-Token": session,
            **(headers or {}),
        }
        if isinstance(body, (bytes, str)):
            return self.client.post("/api/m2m/v1/sms", headers=all_headers, content=body)
        return self.client.post("/api/m2m/v1/sms", headers=all_headers, json=body)

    def history(
        self,
        account: str = ACCOUNT,
        next_token: str | None = None,
        tokens: tuple[str, str] | None = None,
    ) -> httpx.Response:
        bearer, session = tokens or self.tokens()
        return self.client.get(
            f"/api/m2m/v1/sms/{account}/history",
            params={"next": next_token} if next_token is not None else None,
            headers={"Authorization": f"Bearer {bearer}", "VZ-M2M-Token": session},
        )


def send_body(*ids: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"deviceIds": [{"kind": "iccid", "id": i} for i in ids or (ICCID,)]}
    body.update({"accountName": ACCOUNT, "smsMessage": "Can you hear me now?"})
    body.update(fields)
    return body


def magic_iccid(suffix: str) -> str:
    return ICCID[: -len(suffix)] + suffix


def error_code(response: httpx.Response) -> str:
    data = response.json()
    if "fault" in data:
        return str(data["fault"]["code"])
    return str(data.get("errorCode") or data.get("error"))


# --------------------------------------------------------------------------- OAuth2


def test_token_is_standard_oauth2_and_stable_for_its_hour() -> None:
    api = Api()
    first = api.token()
    assert first.status_code == 200
    data = first.json()
    assert set(data) == {"access_token", "token_type", "expires_in", "scope"}
    assert data["expires_in"] == 300
    api.t[0] += 100
    again = api.token().json()
    assert again["access_token"] == data["access_token"]
    assert again["expires_in"] == 200
    api.t[0] += 201
    assert api.token().json()["access_token"] != data["access_token"]


@pytest.mark.parametrize(
    ("headers", "content", "status", "code"),
    [
        pytest.param(FORM, "grant_type=client_credentials", 401, "900902", id="no-basic"),
        pytest.param(
            {"Authorization": "Basic !!!", **FORM},
            "grant_type=client_credentials",
            401,
            "invalid_client",
            id="bad-base64",
        ),
        pytest.param(
            {"Authorization": "Basic a2V5OnNlYw==", "Content-Type": "application/json"},
            '{"grant_type": "client_credentials"}',
            400,
            "invalid_request",
            id="json-body",
        ),
        pytest.param(
            {"Authorization": "Basic a2V5OnNlYw==", **FORM},
            "",
            400,
            "invalid_request",
            id="no-grant",
        ),
        pytest.param(
            {"Authorization": "Basic a2V5OnNlYw==", **FORM},
            "grant_type=password",
            400,
            "unsupported_grant_type",
            id="wrong-grant",
        ),
    ],
)
def test_token_endpoint_strictness(
    headers: dict[str, str], content: str, status: int, code: str
) -> None:
    response = Api().client.post("/api/ts/v1/oauth2/token", headers=headers, content=content)
    assert response.status_code == status
    assert error_code(response) == code


def test_refused_app_secret() -> None:
    response = Api().token(secret="refused")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# --------------------------------------------------------------------------- session


def test_login_returns_a_session_token() -> None:
    api = Api()
    response = api.login(api.bearer())
    assert response.status_code == 200
    assert set(response.json()) == {"sessionToken"}


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("", "900902"),
        ("Bearer", "900902"),
        ("Bearer not-issued", "900901"),
        ("Basic abc", "900902"),
    ],
)
def test_login_needs_a_live_bearer(authorization: str, code: str) -> None:
    response = Api().client.post(
        "/api/m2m/v1/session/login",
        headers={"Authorization": authorization} if authorization else {},
        json={"username": "u", "password": "p"},
    )
    assert response.status_code == 401
    assert error_code(response) == code


def test_expired_bearer_is_refused_by_the_gateway() -> None:
    api = Api()
    bearer = api.bearer()
    api.t[0] += 301
    assert error_code(api.login(bearer)) == "900901"


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        pytest.param(
            "application/json", b"", "UnifiedWebService.INPUT_INVALID.RequestUndefined", id="blank"
        ),
        pytest.param(
            "text/plain",
            b'{"username":"u","password":"p"}',
            "UnifiedWebService.DeserializationFailed",
            id="content-type",
        ),
        pytest.param(
            "application/json",
            b"{not json",
            "UnifiedWebService.DeserializationFailed",
            id="not-json",
        ),
        pytest.param(
            "application/json", b'["u","p"]', "UnifiedWebService.DeserializationFailed", id="array"
        ),
        pytest.param(
            "application/json",
            b'{"username":"u"}',
            "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
            id="no-password",
        ),
        pytest.param(
            "application/json",
            b'{"username":"u","password":5}',
            "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
            id="number-password",
        ),
    ],
)
def test_login_body_strictness(content_type: str, body: bytes, code: str) -> None:
    api = Api()
    response = api.client.post(
        "/api/m2m/v1/session/login",
        headers={"Authorization": f"Bearer {api.bearer()}", "Content-Type": content_type},
        content=body,
    )
    assert response.status_code == 400
    assert error_code(response) == code


def test_refused_password_and_lockout_after_five() -> None:
    api = Api()
    bearer = api.bearer()
    codes = [error_code(api.login(bearer, password="refused")) for _ in range(5)]
    assert set(codes) == {"UnifiedWebService.REQUEST_FAILED.LoginFailed"}
    locked = api.login(bearer, password="good")
    assert error_code(locked) == "UnifiedWebService.REQUEST_FAILED.ContactLocked"
    assert api.login(bearer, password="good", user="someone-else").status_code == 200


def test_a_good_login_resets_the_failure_count() -> None:
    api = Api()
    bearer = api.bearer()
    for _ in range(4):
        api.login(bearer, password="refused")
    assert api.login(bearer).status_code == 200
    for _ in range(4):
        api.login(bearer, password="refused")
    assert api.login(bearer).status_code == 200


def test_logout_invalidates_the_session() -> None:
    api = Api()
    bearer, session = api.tokens()
    response = api.client.post(
        "/api/m2m/v1/session/logout",
        headers={"Authorization": f"Bearer {bearer}", "VZ-M2M-Token": session},
    )
    assert response.json() == {"sessionToken": session}
    assert "Expired" in error_code(api.sms(send_body(), (bearer, session)))


# --------------------------------------------------------------------------- send


def test_send_returns_a_request_id() -> None:
    api = Api()
    response = api.sms(send_body())
    assert response.status_code == 200
    assert set(response.json()) == {"requestId"}


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        pytest.param(
            {"VZ-M2M-Token": ""},
            400,
            "UnifiedWebService.INPUT_INVALID.SessionToken.Missing",
            id="no-session",
        ),
        pytest.param(
            {"VZ-M2M-Token": "not-issued"},
            400,
            "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired",
            id="unknown-session",
        ),
        pytest.param({"Authorization": "Bearer not-issued"}, 401, "900901", id="unknown-bearer"),
        pytest.param({"Authorization": ""}, 401, "900902", id="no-bearer"),
    ],
)
def test_send_token_checks(headers: dict[str, str], status: int, code: str) -> None:
    api = Api()
    response = api.sms(send_body(), headers=headers)
    assert response.status_code == status
    assert error_code(response) == code


def test_session_idles_out_unless_used() -> None:
    api = Api(token_ttl=1000.0)
    _, session = api.tokens()
    for _ in range(3):
        api.t[0] += 600  # 1,800 s in all, never 1,000 s idle; bearers live 1,000 s at most
        assert api.sms(send_body(), (api.bearer(), session)).status_code == 200
    api.t[0] += 1001
    assert "Expired" in error_code(api.sms(send_body(), (api.bearer(), session)))


def test_bearer_lifetime_is_absolute() -> None:
    api = Api(token_ttl=1000.0)
    bearer, session = api.tokens()
    api.t[0] += 600
    assert api.sms(send_body(), (bearer, session)).status_code == 200
    api.t[0] += 401
    assert error_code(api.sms(send_body(), (bearer, session))) == "900901"


BAD_BODIES: list[Any] = [
    pytest.param(
        {"accountName": "a", "smsMessage": "x"},
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="no-devices",
    ),
    pytest.param(
        send_body(smsMessage=None),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="no-message",
    ),
    pytest.param(
        send_body(smsMessage=""),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="empty-message",
    ),
    pytest.param(
        send_body(groupName="fleet"),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="devices-and-group",
    ),
    pytest.param(
        {"deviceIds": [{"kind": "iccid", "id": 89148000000800139708}], "smsMessage": "x"},
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="id-as-number",
    ),
    pytest.param(
        {"deviceIds": [{"kind": "phone", "id": "5551234567"}], "smsMessage": "x"},
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="bad-kind",
    ),
    pytest.param(
        {"deviceIds": [{"kind": "mdn", "id": "555"}], "smsMessage": "x"},
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="bad-mdn",
    ),
    pytest.param(
        {"deviceIds": [], "smsMessage": "x"},
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="empty-devices",
    ),
    pytest.param(
        {"deviceIds": "x", "smsMessage": "x"},
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="devices-not-array",
    ),
    pytest.param(
        {"customFields": [{"key": "Colour", "value": "red"}], "smsMessage": "x"},
        "DeviceService.INPUT_INVALID.CustomField.InvalidName",
        id="bad-custom-field",
    ),
    pytest.param(
        {"groupName": 5, "smsMessage": "x"},
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="group-not-string",
    ),
    pytest.param(
        send_body(dataEncoding="UTF-16"),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="bad-encoding",
    ),
    pytest.param(
        send_body(smsMessage="a" * 161),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="7-bit-161",
    ),
    pytest.param(
        send_body(smsMessage="é" * 71, dataEncoding="8-bit-UTF-8"),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="utf8-142-bytes",
    ),
    pytest.param(
        send_body(smsMessage="café", dataEncoding="8-bit-ASCII"),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="ascii-not-ascii",
    ),
    pytest.param(
        send_body(smsMessage="zz", dataEncoding="8-bit-DATA"),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="data-not-hex",
    ),
    pytest.param(
        send_body(smsMessage="00" * 141, dataEncoding="8-bit-DATA"),
        "UnifiedWebService.REQUEST_FAILED.UnexpectedError",
        id="data-141-bytes",
    ),
    pytest.param([send_body()], "UnifiedWebService.DeserializationFailed", id="array-body"),
]


@pytest.mark.parametrize(("body", "code"), BAD_BODIES)
def test_send_body_strictness(body: Any, code: str) -> None:
    api = Api()
    response = api.sms(body)
    assert response.status_code == 400
    assert error_code(response) == code
    assert api.sandbox.messages() == []


def test_send_needs_json_content_type() -> None:
    api = Api()
    response = api.sms(json.dumps(send_body()), headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert error_code(response) == "UnifiedWebService.DeserializationFailed"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(send_body(), id="iccid"),
        pytest.param(
            {"deviceIds": [{"kind": "Iccid", "id": ICCID}], "smsMessage": "x"},
            id="capitalised-kind",
        ),
        pytest.param({"servicePlan": "plan", "smsMessage": "x"}, id="service-plan-no-account"),
        pytest.param(
            {
                "groupName": "g",
                "customFields": [{"key": "CustomField5", "value": "v"}],
                "smsMessage": "x",
            },
            id="group-and-custom-field",
        ),
        pytest.param(
            send_body(smsMessage="字" * 46, dataEncoding="8-bit-UTF-8"), id="utf8-138-bytes"
        ),
        pytest.param(
            send_body(smsMessage="00" * 140, dataEncoding="8-bit-DATA"), id="data-140-bytes"
        ),
        pytest.param(send_body(smsMessage="a" * 160, dataEncoding="7-bit"), id="7-bit-160"),
        pytest.param(send_body(priority="high"), id="unknown-field-ignored"),
        pytest.param(send_body(timeToLive="PT2H"), id="time-to-live"),
    ],
)
def test_send_accepts(body: dict[str, Any]) -> None:
    assert Api().sms(body).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("POST", "/api/m2m/v1/nope", "900906"),
        ("GET", "/api/m2m/v1/sms", "900906"),
        ("POST", "/", "900906"),
    ],
)
def test_unknown_resources_are_gateway_faults(method: str, path: str, code: str) -> None:
    response = Api().client.request(method, path)
    assert response.status_code == 400
    assert error_code(response) == code


# --------------------------------------------------------------------------- magic targets


@pytest.mark.parametrize(
    ("suffix", "status", "code"),
    [
        ("0400", 400, "SMSService.REQUEST_FAILED.MessageRejected"),
        ("0401", 401, "900901"),
        ("0404", 400, "DeviceService.REQUEST_FAILED.DeviceNotFound"),
        ("0429", 429, "None"),
    ],
)
def test_magic_error_shapes(suffix: str, status: int, code: str) -> None:
    api = Api()
    response = api.sms(send_body(ICCID, magic_iccid(suffix)))
    assert response.status_code == status
    assert error_code(response) == code
    assert api.sandbox.messages() == []


def test_magic_0429_has_retry_after() -> None:
    assert Api().sms(send_body(magic_iccid("0429"))).headers["retry-after"] == "0"


def test_magic_0500_is_an_html_page() -> None:
    response = Api().sms(send_body(magic_iccid("0500")))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("suffix", "error"), [("0408", httpx.ReadTimeout), ("0444", httpx.RemoteProtocolError)]
)
def test_magic_transport_failures_happen_after_the_message_is_taken(
    suffix: str, error: type[Exception]
) -> None:
    api = Api()
    with pytest.raises(error):
        api.sms(send_body(magic_iccid(suffix)))
    assert len(api.sandbox.messages()) == 1


def test_magic_0419_expires_a_used_session_once() -> None:
    api = Api()
    tokens = api.tokens()
    assert api.sms(send_body(magic_iccid("0419")), tokens).status_code == 200  # fresh: sent
    expired = api.sms(send_body(magic_iccid("0419")), tokens)
    assert error_code(expired) == "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired"
    assert "Expired" in error_code(api.sms(send_body(), tokens))  # it is gone for good
    new_session = api.login(tokens[0]).json()["sessionToken"]
    assert api.sms(send_body(magic_iccid("0419")), (tokens[0], new_session)).status_code == 200


def test_magic_suffixes_are_all_handled() -> None:
    handled = {"0400", "0401", "0404", "0408", "0410", "0411", "0419", "0429", "0444", "0500"}
    assert set(MAGIC) == handled


def test_magic_in_a_group_name() -> None:
    response = Api().sms({"groupName": "fleet-0404", "smsMessage": "x"})
    assert error_code(response) == "DeviceService.REQUEST_FAILED.DeviceNotFound"


# --------------------------------------------------------------------------- store


def test_messages_list_what_was_received_without_credentials() -> None:
    api = Api()
    request_id = api.sms(
        send_body(ICCID, magic_iccid("0410"), dataEncoding="7-bit"),
    ).json()["requestId"]
    listing = api.client.get("http://sandbox.test/_sandbox/messages").json()["messages"]
    assert [m["target"] for m in listing] == [f"iccid:{ICCID}", f"iccid:{magic_iccid('0410')}"]
    for item in listing:
        assert item["provider"] == "thingspace"
        assert item["text"] == "Can you hear me now?"
        assert item["fields"]["requestId"] == request_id
        assert item["fields"]["accountName"] == "0000123456-00001"
    dumped = json.dumps(listing).lower()
    for secret in ("uws-pass", "app-secret", "password", "bearer", "sessiontoken"):
        assert secret not in dumped


def test_selection_send_is_stored_once() -> None:
    api = Api()
    api.sms(
        {
            "groupName": "g",
            "customFields": [{"key": "CustomField1", "value": "v"}],
            "smsMessage": "x",
        }
    )
    [stored] = api.sandbox.messages()
    assert stored["target"] == "selection:groupName=g;CustomField1=v"
    assert stored["fields"]["customFields"] == [{"key": "CustomField1", "value": "v"}]


@pytest.mark.parametrize(
    ("suffix", "final"), [("", "delivered"), ("0410", "failed"), ("0411", "expired")]
)
def test_delivery_progression(suffix: str, final: str) -> None:
    api = Api()
    api.sms(send_body(magic_iccid(suffix) if suffix else ICCID))
    stages = []
    for _ in range(4):
        [stored] = api.sandbox.messages()
        stages.append(stored["status"])
        api.t[0] += 0.75
    assert stages == ["accepted", "accepted", "sent", final]


# --------------------------------------------------------------------------- 401 challenges


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        pytest.param(FORM, "grant_type=client_credentials", id="no-basic"),
        pytest.param(
            {"Authorization": "Basic !!!", **FORM}, "grant_type=client_credentials", id="bad-basic"
        ),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"key:refused").decode(), **FORM},
            "grant_type=client_credentials",
            id="refused-secret",
        ),
    ],
)
def test_token_endpoint_401_challenges_basic(headers: dict[str, str], content: str) -> None:
    response = Api().client.post("/api/ts/v1/oauth2/token", headers=headers, content=content)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="thingspace.verizon.com"'


def test_token_endpoint_400_has_no_challenge() -> None:
    response = Api().client.post(
        "/api/ts/v1/oauth2/token",
        headers={"Authorization": "Basic a2V5OnNlYw==", **FORM},
        content="grant_type=password",
    )
    assert response.status_code == 400
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        pytest.param({"Authorization": ""}, 'Bearer realm="WSO2 API Manager"', id="no-bearer"),
        pytest.param(
            {"Authorization": "Bearer not-issued"},
            'Bearer realm="WSO2 API Manager", error="invalid_token", '
            'error_description="The provided token is invalid"',
            id="unknown-bearer",
        ),
    ],
)
def test_gateway_401_challenges_bearer(headers: dict[str, str], challenge: str) -> None:
    response = Api().sms(send_body(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge


def test_m2m_400_has_no_challenge() -> None:
    response = Api().sms(send_body(), headers={"VZ-M2M-Token": "not-issued"})
    assert response.status_code == 400
    assert "www-authenticate" not in response.headers


# --------------------------------------------------------------------------- SMS history


def iccids(count: int) -> list[str]:
    return [f"8914800000080013{n:04d}" for n in range(1, count + 1)]


def ask(api: Api, *ids: str, text: str = "Status?", **fields: Any) -> None:
    """Send ``text`` to ``ids`` and let the devices answer (3 s later)."""
    assert api.sms(send_body(*ids, smsMessage=text, **fields)).status_code == 200
    api.t[0] += 3


def next_token(response: httpx.Response, account: str = ACCOUNT) -> str:
    location = response.headers["location"]
    prefix = f"/sms/{account}/history?next="
    assert location.startswith(prefix), location
    return location.removeprefix(prefix)


def texts(response: httpx.Response) -> list[str]:
    return [m["message"] for m in response.json()["messages"]]


def test_history_of_an_empty_queue() -> None:
    response = Api().history()
    assert response.status_code == 200
    assert response.json() == {"messages": [], "hasMoreData": False}
    assert "location" not in response.headers


def test_history_holds_the_devices_replies_in_the_documented_shape() -> None:
    api = Api()
    assert api.sms(send_body(ICCID, smsMessage="Status?")).status_code == 200
    api.t[0] += 2.9
    assert api.history().json()["messages"] == []  # the device has not answered yet
    api.t[0] += 0.1
    response = api.history()
    assert response.status_code == 200
    data = response.json()
    assert data == {
        "messages": [
            {
                "deviceIds": [{"id": ICCID, "kind": "iccid"}],
                "message": "ACK: Status?",
                "timestamp": "1970-01-12T13:46:43+00:00",  # the send (1,000,000) + 3 s
            }
        ],
        "hasMoreData": False,
    }
    assert next_token(response).isdecimal()


def test_only_messages_ending_in_a_question_mark_and_delivered_are_answered() -> None:
    api = Api()
    ask(api, ICCID, text="reboot")
    ask(api, magic_iccid("0410"), text="Failed?")
    assert api.history().json()["messages"] == []


def test_unacknowledged_replies_come_again() -> None:
    api = Api()
    ask(api, ICCID)
    first, second = api.history(), api.history()
    assert texts(first) == texts(second) == ["ACK: Status?"]
    assert next_token(first) != next_token(second)


def test_next_acknowledges_the_page_it_came_with() -> None:
    api = Api()
    ask(api, ICCID)
    page = api.history()
    after = api.history(next_token=next_token(page))
    assert after.status_code == 200
    assert after.json() == {"messages": [], "hasMoreData": False}
    assert api.history().json()["messages"] == []  # gone for good


def test_more_than_a_page_is_202_with_location_and_next_walks_the_queue() -> None:
    api = Api()
    devices = iccids(12)
    ask(api, *devices)
    first = api.history()
    assert first.status_code == 202
    assert first.json()["hasMoreData"] is True
    assert len(first.json()["messages"]) == 5
    second = api.history(next_token=next_token(first))
    assert second.status_code == 202
    assert len(second.json()["messages"]) == 5
    third = api.history(next_token=next_token(second))
    assert third.status_code == 200
    assert third.json()["hasMoreData"] is False
    assert len(third.json()["messages"]) == 2
    seen = [
        m["deviceIds"][0]["id"] for page in (first, second, third) for m in page.json()["messages"]
    ]
    assert sorted(seen) == devices
    assert api.history(next_token=next_token(third)).json()["messages"] == []


def test_a_page_not_acknowledged_comes_back_after_the_next_one() -> None:
    api = Api()
    ask(api, *iccids(7))
    first = api.history()
    again = api.history()  # the same first page, with a new token
    assert texts(first) == texts(again)
    rest = api.history(next_token=next_token(again))  # acknowledges those five
    assert len(rest.json()["messages"]) == 2
    # The first token names the same five, already gone: it removes nothing more.
    assert len(api.history(next_token=next_token(first)).json()["messages"]) == 2


def test_new_replies_join_the_queue_while_it_is_read() -> None:
    api = Api()
    ask(api, ICCID, text="one?")
    page = api.history()
    ask(api, ICCID, text="two?")
    assert texts(api.history(next_token=next_token(page))) == ["ACK: two?"]


@pytest.mark.parametrize("token", ["999999", "0"])
def test_an_unknown_token_acknowledges_nothing(token: str) -> None:
    api = Api()
    ask(api, ICCID)
    response = api.history(next_token=token)
    assert response.status_code == 200
    assert texts(response) == ["ACK: Status?"]


@pytest.mark.parametrize("token", ["abc", "", "1.5", "-1"])
def test_a_token_that_is_no_integer_is_refused(token: str) -> None:
    response = Api().history(next_token=token)
    assert response.status_code == 400
    assert error_code(response) == "UnifiedWebService.INPUT_INVALID.next"


def test_queues_are_per_account() -> None:
    api = Api()
    ask(api, ICCID, accountName="0000123456-00001")
    ask(api, iccids(1)[0], accountName="0000999999-00001")
    mine = api.history("0000123456-00001")
    assert [m["deviceIds"][0]["id"] for m in mine.json()["messages"]] == [ICCID]
    # Another account's token removes nothing from this account's queue.
    other = api.history("0000999999-00001", next_token=next_token(mine, "0000123456-00001"))
    assert len(other.json()["messages"]) == 1
    assert len(api.history("0000123456-00001").json()["messages"]) == 1


def test_replies_to_a_send_without_account_name_queue_for_the_default_account() -> None:
    api = Api()
    body = send_body(ICCID, smsMessage="Status?")
    del body["accountName"]
    api.sms(body)
    api.t[0] += 3
    assert texts(api.history("TestAccount-1")) == ["ACK: Status?"]


def test_replies_to_a_selection_send_are_not_queued() -> None:
    api = Api()
    api.sms({"groupName": "fleet", "accountName": ACCOUNT, "smsMessage": "Status?"})
    api.t[0] += 3
    assert api.history().json()["messages"] == []
    assert [m["direction"] for m in api.sandbox.messages()] == ["mt", "mo"]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        pytest.param({"Authorization": ""}, 401, "900902", id="no-bearer"),
        pytest.param({"Authorization": "Bearer x"}, 401, "900901", id="unknown-bearer"),
        pytest.param(
            {"VZ-M2M-Token": ""},
            400,
            "UnifiedWebService.INPUT_INVALID.SessionToken.Missing",
            id="no-session",
        ),
    ],
)
def test_history_needs_both_tokens(headers: dict[str, str], status: int, code: str) -> None:
    api = Api()
    bearer, session = api.tokens()
    response = api.client.get(
        f"/api/m2m/v1/sms/{ACCOUNT}/history",
        headers={"Authorization": f"Bearer {bearer}", "VZ-M2M-Token": session, **headers},
    )
    assert response.status_code == status
    assert error_code(response) == code


def test_history_is_get_only() -> None:
    api = Api()
    bearer, session = api.tokens()
    response = api.client.post(
        f"/api/m2m/v1/sms/{ACCOUNT}/history",
        headers={"Authorization": f"Bearer {bearer}", "VZ-M2M-Token": session},
    )
    assert error_code(response) == "900906"


def test_history_keeps_the_session_alive() -> None:
    api = Api(token_ttl=100.0)
    tokens = api.tokens()
    api.t[0] += 90
    assert api.history(tokens=tokens).status_code == 200
    api.t[0] += 90
    assert api.history(tokens=(api.bearer(), tokens[1])).status_code == 200


def test_the_queue_is_bounded_by_the_store() -> None:
    api = Api(max_messages=6)
    ask(api, *iccids(3), text="old?")
    ask(api, *iccids(3), text="new?")
    emulator = api.sandbox.emulator("thingspace")
    assert isinstance(emulator, ThingSpaceEmulator)
    assert len(emulator.store) == 6
    assert set(texts(api.history())) == {"ACK: new?"}  # the old replies left the store
    assert len(emulator.inbox) <= 6


def test_the_queue_never_outgrows_the_store_bound() -> None:
    api = Api(max_messages=4)
    emulator = api.sandbox.emulator("thingspace")
    assert isinstance(emulator, ThingSpaceEmulator)
    for n in range(20):
        emulator.received(
            Stored(
                id=f"r{n}",
                provider="thingspace",
                target=f"iccid:{ICCID}",
                text="ACK: x?",
                created=api.t[0],
                fields={"accountName": ACCOUNT, "deviceId": {"kind": "iccid", "id": ICCID}},
                direction="mo",
            )
        )
        assert len(emulator.inbox) <= 4


def test_open_pages_are_bounded_and_a_forgotten_one_acknowledges_nothing() -> None:
    api = Api()
    ask(api, ICCID)
    tokens = api.tokens()
    first = api.history(tokens=tokens)
    for _ in range(70):
        api.history(tokens=tokens)
    emulator = api.sandbox.emulator("thingspace")
    assert isinstance(emulator, ThingSpaceEmulator)
    assert len(emulator.pages) == 64
    assert texts(api.history(next_token=next_token(first), tokens=tokens)) == ["ACK: Status?"]
