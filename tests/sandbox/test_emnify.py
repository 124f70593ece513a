"""smscli.sandbox.emnify: the emulator is as strict as the emnify docs, and its magic works."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smscli.encoding import analyze
from smscli.http_client import HttpSession
from smscli.models import Message, Status, Target
from smscli.providers.base import Settings
from smscli.providers.emnify import Emnify
from smscli.redaction import Redactor
from smscli.sandbox.base import DELIVERY_STEP_SECONDS
from smscli.sandbox.server import Sandbox, SandboxServer
from smscli.tokens import TokenCache

APP_TOKEN = "sandbox-app-token-XYZ"
T0 = 1_800_000_000.0


class Api:
    """An httpx client on the in-process sandbox, with a clock the test moves."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.now = [T0]
        self.sandbox = Sandbox(clock=lambda: self.now[0], token_ttl=ttl)
        self.client = httpx.Client(
            transport=self.sandbox.transport(), base_url="http://sandbox.test/emnify"
        )

    def login(self, token: str = APP_TOKEN) -> httpx.Response:
        return self.client.post("/api/v1/authenticate", json={"application_token": token})

    def jwt(self) -> str:
        token = self.login().json()["auth_token"]
        assert isinstance(token, str)
        return token

    def sms(self, endpoint: str, body: Any, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.jwt()}", **kw.pop("headers", {})}
        if "content" in kw:
            return self.client.post(
                f"/api/v1/endpoint/{endpoint}/sms", headers=headers, content=kw["content"]
            )
        return self.client.post(f"/api/v1/endpoint/{endpoint}/sms", headers=headers, json=body)

    def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.jwt()}"}
        return self.client.get(path, headers=headers, params=params or None)


@pytest.fixture
def api() -> Iterator[Api]:
    a = Api()
    yield a
    a.client.close()


def claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(data, dict)
    return data


def nested_tokens(response: httpx.Response) -> list[str]:
    return [e["error_token"] for e in response.json().get("errors", [])]


# --------------------------------------------------------------------------- authenticate


def test_authenticate_issues_a_jwt_that_lives_token_ttl(api: Api) -> None:
    response = api.login()
    assert response.status_code == 200
    assert list(response.json()) == ["auth_token"]
    data = claims(response.json()["auth_token"])
    assert data["exp"] == int(T0 + 300)
    assert data["iat"] == int(T0)
    assert api.jwt() != api.jwt()  # random tokens


@pytest.mark.parametrize(
    ("kwargs", "status", "token"),
    [
        pytest.param({"json": {}}, 422, "InputValidationFailed", id="missing-token"),
        pytest.param(
            {"json": {"application_token": 5}},
            422,
            "InputValidationFailed",
            id="token-not-a-string",
        ),
        pytest.param({"data": {"application_token": "x"}}, 415, "BadRequest", id="form-body"),
        pytest.param(
            {"content": b"{oops", "headers": {"Content-Type": "application/json"}},
            400,
            "BadRequest",
            id="not-json",
        ),
        pytest.param({"json": ["application_token"]}, 400, "BadRequest", id="json-list"),
    ],
)
def test_authenticate_validates_the_body(
    api: Api, kwargs: dict[str, Any], status: int, token: str
) -> None:
    response = api.client.post("/api/v1/authenticate", **kwargs)
    assert response.status_code == status
    assert response.json()["error_token"] == token


def test_authenticate_missing_field_is_a_nested_required_error(api: Api) -> None:
    response = api.client.post("/api/v1/authenticate", json={})
    assert response.json()["error_code"] == 1400
    assert nested_tokens(response) == ["Required"]


def test_refused_token_gets_an_empty_401_then_too_many_requests(api: Api) -> None:
    first = api.login("refused")
    assert (first.status_code, first.content) == (401, b"")
    api.login("refused")
    third = api.login("refused")
    assert third.status_code == 401
    assert third.json()["error_token"] == "TooManyRequests"
    assert api.login().status_code == 200  # good tokens are not locked out


# --------------------------------------------------------------------------- bearer tokens


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        pytest.param(None, "Unauthorized", id="missing"),
        pytest.param("Basic abc", "Unauthorized", id="not-bearer"),
        pytest.param("Bearer abc", "token contains an invalid number of segments", id="not-jwt"),
        pytest.param("Bearer a.b.c", "Unauthorized", id="unknown-jwt"),
    ],
)
def test_bad_bearer_gets_the_gateway_shape(
    api: Api, authorization: str | None, message: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = api.client.post("/api/v1/endpoint/1001/sms", json={"payload": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": message}
    assert "x-amzn-errortype" in response.headers


def test_expired_token_gets_token_expired(api: Api) -> None:
    token = api.jwt()
    api.now[0] += 301
    response = api.sms("1001", {"payload": "x"}, token)
    assert response.status_code == 401
    assert response.json()["error_code"] == 1103
    assert response.json()["error_token"] == "TokenExpired"


def test_unknown_route_is_the_gateway_403(api: Api) -> None:
    response = api.client.get("/api/v1/nothing")
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


# --------------------------------------------------------------------------- send SMS


def test_send_answers_201_with_an_empty_body_and_a_location(api: Api) -> None:
    response = api.sms("1001", {"payload": "hello", "source_address": "12345689"})
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["content-type"].startswith("text/html")
    location = response.headers["location"]
    assert location.startswith("http://sandbox.test/emnify/api/v1/endpoint/1001/sms/")
    sms_id = location.rsplit("/", 1)[1]
    assert sms_id.isdigit()


@pytest.mark.parametrize(
    ("body", "nested"),
    [
        pytest.param({}, ["Required"], id="no-payload"),
        pytest.param({"payload": 5}, ["InvalidFormat"], id="payload-number"),
        pytest.param({"payload": ""}, ["InvalidFormat"], id="payload-empty"),
        pytest.param(
            {"payload": "x", "source_address": 12345}, ["InvalidFormat"], id="source-address-number"
        ),
        pytest.param(
            {"payload": "x", "source_address": "Acme"}, ["Required"], id="letters-without-208"
        ),
        pytest.param(
            {"payload": "x", "source_address": "Acme Corp 12", "source_address_type": {"id": 208}},
            ["InvalidFormat"],
            id="alphanumeric-12",
        ),
        pytest.param(
            {"payload": "x", "source_address": "1" * 22}, ["InvalidFormat"], id="source-address-22"
        ),
        pytest.param(
            {"payload": "x", "source_address_type": {"id": 100}},
            ["InvalidFormat"],
            id="source-type-unknown",
        ),
        pytest.param(
            {"payload": "x", "source_address_type": 145},
            ["InvalidFormat"],
            id="source-type-not-object",
        ),
        pytest.param({"payload": "x", "dest_address": 7}, ["InvalidFormat"], id="dest-number"),
        pytest.param({"payload": "x", "udh": "05000"}, ["InvalidFormat"], id="udh-odd"),
        pytest.param({"payload": "x", "udh": "zz"}, ["InvalidFormat"], id="udh-not-hex"),
        pytest.param({"payload": "x", "dcs": "0"}, ["InvalidFormat"], id="dcs-string"),
        pytest.param({"payload": "x", "dcs": 256}, ["InvalidFormat"], id="dcs-256"),
        pytest.param({"payload": "x", "dcs": True}, ["InvalidFormat"], id="dcs-bool"),
        pytest.param(
            {"payload": "x", "expiry_date": "tomorrow"}, ["InvalidFormat"], id="expiry-not-a-date"
        ),
        pytest.param({"payload": "x" * 161}, ["InvalidFormat"], id="gsm7-161"),
        pytest.param(
            {"payload": "x" * 154, "udh": "050003CC0201"}, ["InvalidFormat"], id="gsm7-part-154"
        ),
        pytest.param({"payload": "я" * 71, "dcs": 8}, ["InvalidFormat"], id="ucs2-71"),
        pytest.param(
            {"payload": "я" * 68, "dcs": 8, "udh": "050003CC0201"},
            ["InvalidFormat"],
            id="ucs2-part-68",
        ),
        pytest.param({"payload": "я" * 71, "dcs": 0x18}, ["InvalidFormat"], id="ucs2-class0-71"),
        pytest.param({"payload": "x" * 141, "dcs": 0xF6}, ["InvalidFormat"], id="8bit-141"),
    ],
)
def test_send_validates_like_the_docs(api: Api, body: dict[str, Any], nested: list[str]) -> None:
    response = api.sms("1001", body)
    assert response.status_code == 422
    assert response.json()["error_code"] == 1400
    assert response.json()["error_token"] == "InputValidationFailed"
    assert nested_tokens(response) == nested
    assert api.sandbox.messages() == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"payload": "x" * 160}, id="gsm7-160"),
        pytest.param({"payload": "€" * 80}, id="gsm7-escapes-160"),
        pytest.param({"payload": "x" * 153, "udh": "050003CC0201"}, id="gsm7-part-153"),
        pytest.param({"payload": "я" * 70, "dcs": 8}, id="ucs2-70"),
        pytest.param({"payload": "x" * 140, "dcs": 0xF6}, id="8bit-140"),
        pytest.param({"payload": "x" * 160, "dcs": 0x10}, id="gsm7-flash-160"),
        pytest.param(
            {
                "payload": "x",
                "source_address": "Sender Name",
                "source_address_type": {"id": 208},
                "dest_address": "1234",
                "dcs": 0,
                "expiry_date": "2027-01-01T00:00:00Z",
            },
            id="every-field",
        ),
    ],
)
def test_send_accepts_documented_bodies(api: Api, body: dict[str, Any]) -> None:
    assert api.sms("1001", body).status_code == 201


def test_send_needs_json(api: Api) -> None:
    response = api.sms(
        "1001",
        None,
        content=b"payload=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json()["error_token"] == "BadRequest"


def test_send_to_a_non_numeric_endpoint(api: Api) -> None:
    response = api.sms("abc", {"payload": "x"})
    assert response.status_code == 400
    assert response.json()["message"] == "Cannot parse parameter id as Long: abc"


# --------------------------------------------------------------------------- magic targets


@pytest.mark.parametrize(
    ("endpoint", "status", "body"),
    [
        pytest.param("10400", 409, {"error_token": "NotAllowed"}, id="0400"),
        pytest.param("10401", 401, {"message": "Unauthorized"}, id="0401"),
        pytest.param(
            "10404", 404, {"error_code": 1401, "error_token": "InvalidReference"}, id="0404"
        ),
        pytest.param("10429", 429, {}, id="0429"),
        pytest.param("10500", 500, None, id="0500"),
    ],
)
def test_magic_refusals(api: Api, endpoint: str, status: int, body: dict[str, Any] | None) -> None:
    response = api.sms(endpoint, {"payload": "x"})
    assert response.status_code == status
    if body is not None:
        assert body.items() <= response.json().items()
    assert api.sandbox.messages() == []


def test_magic_0429_says_retry_after(api: Api) -> None:
    assert api.sms("10429", {"payload": "x"}).headers["retry-after"] == "0"


def test_magic_0408_is_slow_and_0444_drops(api: Api) -> None:
    token = api.jwt()
    with pytest.raises(httpx.ReadTimeout):
        api.client.post(
            "/api/v1/endpoint/10408/sms",
            json={"payload": "x"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    with pytest.raises(httpx.RemoteProtocolError):
        api.sms("10444", {"payload": "x"}, token)
    # Both may have been processed: that is the point of "outcome unknown".
    assert [m["target"] for m in api.sandbox.messages()] == ["endpoint:10408", "endpoint:10444"]


def test_magic_0419_revokes_a_used_token_once(api: Api) -> None:
    token = api.jwt()
    assert api.sms("10419", {"payload": "x"}, token).status_code == 201  # fresh: honoured
    expired = api.sms("10419", {"payload": "x"}, token)
    assert expired.status_code == 401
    assert expired.json()["error_token"] == "TokenExpired"
    assert api.sms("1001", {"payload": "x"}, token).status_code == 401  # revoked for good
    fresh = api.jwt()
    assert api.sms("10419", {"payload": "x"}, fresh).status_code == 201


@pytest.mark.parametrize(
    ("endpoint", "stages"),
    [
        pytest.param(
            "1001",
            [(1, "DELIVERY ATTEMPT PENDING"), (2, "IN PROGRESS"), (4, "DELIVERED")],
            id="delivered",
        ),
        pytest.param(
            "10410", [(1, "DELIVERY ATTEMPT PENDING"), (3, "BUFFERED"), (5, "FAILED")], id="0410"
        ),
        pytest.param(
            "10411", [(1, "DELIVERY ATTEMPT PENDING"), (3, "BUFFERED"), (6, "EXPIRED")], id="0411"
        ),
    ],
)
def test_delivery_progresses_over_time(
    api: Api, endpoint: str, stages: list[tuple[int, str]]
) -> None:
    location = api.sms(endpoint, {"payload": "x"}).headers["location"]
    path = location.removeprefix("http://sandbox.test/emnify")
    seen = []
    for _ in stages:
        sms = api.get(path).json()
        seen.append((sms["status"]["id"], sms["status"]["description"]))
        api.now[0] += DELIVERY_STEP_SECONDS
    assert seen == stages
    assert sms["endpoint_id"] == endpoint  # a string, as recorded in production
    assert sms["dcs"] == "0"


def test_sms_of_another_endpoint_is_not_found(api: Api) -> None:
    location = api.sms("1001", {"payload": "x"}).headers["location"]
    sms_id = location.rsplit("/", 1)[1]
    response = api.get(f"/api/v1/endpoint/1002/sms/{sms_id}")
    assert response.status_code == 404
    assert response.json()["error_code"] == 1201


def test_sms_list_of_an_endpoint(api: Api) -> None:
    api.sms("1001", {"payload": "one"})
    api.sms("1001", {"payload": "two"})
    api.sms("1002", {"payload": "other"})
    listed = api.get("/api/v1/endpoint/1001/sms").json()
    assert [s["payload"] for s in listed] == ["two", "one"]  # newest first


# --------------------------------------------------------------------------- lookups


def test_lookup_by_name_returns_near_misses_too(api: Api) -> None:
    response = api.get("/api/v1/endpoint", q="name:tracker")
    names = [e["name"] for e in response.json()]
    assert names == ["tracker", "tracker-spare"]
    assert response.headers["x-total-count"] == "2"
    assert response.headers["x-total-pages"] == "1"
    first = response.json()[0]["id"]
    again = api.get("/api/v1/endpoint", q="name:tracker").json()[0]["id"]
    assert first == again  # deterministic
    assert api.get(f"/api/v1/endpoint/{first}").json()["name"] == "tracker"


def test_lookup_duplicate_names(api: Api) -> None:
    found = api.get("/api/v1/endpoint", q="name:dup-7").json()
    exact = [e["id"] for e in found if e["name"] == "dup-7"]
    assert len(exact) == 2 and len(set(exact)) == 2


@pytest.mark.parametrize(
    "q",
    [
        pytest.param("name:dev-0404", id="name-0404"),
        pytest.param("iccid:8988303000000000404", id="iccid-0404"),
        pytest.param("iccid:89883030000067347689", id="iccid-with-20-digits"),
        pytest.param("iccid_with_luhn:8988303000006734768", id="with-luhn-19-digits"),
    ],
)
def test_lookups_that_find_nothing(api: Api, q: str) -> None:
    response = api.get("/api/v1/endpoint", q=q)
    assert response.status_code == 200
    assert response.json() == []


def test_iccid_forms_find_the_same_endpoint(api: Api) -> None:
    by19 = api.get("/api/v1/endpoint", q="iccid:8988303000006734768").json()
    by20 = api.get("/api/v1/endpoint", q="iccid_with_luhn:89883030000067347689").json()
    assert by19 == by20
    assert by19[0]["sim"]["iccid"] == "8988303000006734768"
    assert by19[0]["sim"]["iccid_with_luhn"] == "89883030000067347689"


def test_magic_suffix_carries_over_to_the_resolved_id(api: Api) -> None:
    [endpoint] = [
        e for e in api.get("/api/v1/endpoint", q="name:dev-0410").json() if e["name"] == "dev-0410"
    ]
    assert str(endpoint["id"]).endswith("0410")


@pytest.mark.parametrize(
    ("params", "status", "token"),
    [
        pytest.param({"q": "colour:red"}, 422, "InvalidQueryCriteria", id="unknown-field"),
        pytest.param({"q": "name"}, 422, "InvalidQueryCriteria", id="no-colon"),
        pytest.param({"q": "name:x", "per_page": "x"}, 400, "BadRequest", id="per-page-text"),
        pytest.param(
            {"q": "name:x", "per_page": "1001"}, 422, "InvalidQueryCriteria", id="per-page-1001"
        ),
    ],
)
def test_lookup_validation(api: Api, params: dict[str, str], status: int, token: str) -> None:
    response = api.get("/api/v1/endpoint", **params)
    assert response.status_code == status
    assert response.json()["error_token"] == token


def test_lookup_paging(api: Api) -> None:
    response = api.get("/api/v1/endpoint", q="name:t", per_page="1", page="2")
    assert [e["name"] for e in response.json()] == ["t-spare"]
    assert response.headers["x-current-page"] == "2"
    assert response.headers["x-total-pages"] == "2"


def test_endpoint_list_without_filter(api: Api) -> None:
    assert [e["id"] for e in api.get("/api/v1/endpoint").json()] == [1001, 1002, 1003]


# --------------------------------------------------------------------------- messages dump


def test_sandbox_messages_list_what_was_received_without_credentials(api: Api) -> None:
    token = api.jwt()
    api.sms(
        "1001",
        {"payload": "hi", "source_address": "Acme", "source_address_type": {"id": 208}},
        token,
    )
    dump = api.client.get("http://sandbox.test/_sandbox/messages").json()
    [stored] = dump["messages"]
    assert stored["provider"] == "emnify"
    assert stored["target"] == "endpoint:1001"
    assert stored["text"] == "hi"
    assert stored["status"] == "accepted"
    assert stored["fields"]["source_address"] == "Acme"
    text = json.dumps(dump)
    assert APP_TOKEN not in text
    assert token not in text
    assert "authorization" not in text.lower()


# --------------------------------------------------------------------------- over a real socket


def test_a_send_over_real_http() -> None:
    with SandboxServer(Sandbox()) as server:
        provider = Emnify(
            Settings(
                slug="emnify",
                profile=None,
                base_url=f"{server.url}/emnify",
                values={"application_token": APP_TOKEN},
            )
        )
        message = Message(check=analyze("x" * 200), sender="+491701234567")
        with HttpSession(
            tokens=TokenCache(None).for_key("k"), redactor=Redactor(), timeout=5
        ) as session:
            [result] = provider.send(session, message, [Target("name", "tracker")])
    assert result.status is Status.ACCEPTED
    assert result.parts is not None and len(result.parts) == 2
    assert result.date is not None and "." not in result.date  # the Date header: no fraction
    stored = server.sandbox.messages()
    assert [m["fields"]["udh"][-4:] for m in stored] == ["0201", "0202"]
    assert stored[0]["fields"]["source_address_type"] == {"id": 145}
