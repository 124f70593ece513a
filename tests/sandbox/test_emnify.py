"""smscli.sandbox.emnify: the emulator is as strict as the emnify docs, and its magic works."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emnify.modules.device.models import Device, ListSms, RetrieveDevice

from smscli.encoding import analyze
from smscli.http_client import HttpSession
from smscli.models import Message, Status, Target
from smscli.providers.base import Settings
from smscli.providers.emnify import Emnify
from smscli.redaction import Redactor
from smscli.sandbox.base import DELIVERY_STEP_SECONDS, REPLY_DELAY_SECONDS
from smscli.sandbox.server import Sandbox, SandboxServer
from smscli.tokens import TokenCache

APP_TOKEN = "sandbox-app-token-XYZ"
T0 = 1_800_000_000.0
REPLY_AFTER = 2 * DELIVERY_STEP_SECONDS + REPLY_DELAY_SECONDS  # a device answers a question


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
        pytest.param({"payload": "x", "dcs": "eight"}, ["InvalidFormat"], id="dcs-word"),
        pytest.param({"payload": "x", "dcs": "-1"}, ["InvalidFormat"], id="dcs-string-negative"),
        pytest.param({"payload": "x", "dcs": "256"}, ["InvalidFormat"], id="dcs-string-256"),
        pytest.param({"payload": "x", "dcs": "٨"}, ["InvalidFormat"], id="dcs-non-ascii-digit"),
        pytest.param({"payload": "x", "dcs": None}, ["InvalidFormat"], id="dcs-null"),
        pytest.param({"payload": "я" * 71, "dcs": "8"}, ["InvalidFormat"], id="ucs2-71-dcs-string"),
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
    ],
)
def test_magic_refusals(api: Api, endpoint: str, status: int, body: dict[str, Any] | None) -> None:
    response = api.sms(endpoint, {"payload": "x"})
    assert response.status_code == status
    if body is not None:
        assert body.items() <= response.json().items()
    assert api.sandbox.messages() == []


def test_magic_0500_fails_after_the_message_was_taken(api: Api) -> None:
    # As a real provider may: the client sees a 500 (outcome unknown), the message is there
    # for `smscli reconcile` to find.
    response = api.sms("10500", {"payload": "x"})
    assert response.status_code == 500
    assert [m["text"] for m in api.sandbox.messages()] == ["x"]


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


# --------------------------------------------------------------------------- issue 10
# The vendor SDK's models (emnify-sdk, a test-only dependency) must parse what the sandbox
# answers: emnify/modules/device/models.py Device, RetrieveDevice, ListSms.


def strict_api() -> Api:
    a = Api()
    a.sandbox = Sandbox(clock=lambda: a.now[0], spec_strict=True)
    a.client = httpx.Client(transport=a.sandbox.transport(), base_url="http://sandbox.test/emnify")
    return a


@pytest.fixture
def strict() -> Iterator[Api]:
    a = strict_api()
    yield a
    a.client.close()


def sms_path(response: httpx.Response) -> str:
    return response.headers["location"].removeprefix("http://sandbox.test/emnify")


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="all"),
        pytest.param({"q": "name:tracker"}, id="by-name"),
        pytest.param({"q": "iccid:8988303000006734768"}, id="by-iccid"),
        pytest.param({"q": "status:0"}, id="by-status"),
    ],
)
def test_endpoints_carry_the_fields_the_sdk_requires(api: Api, params: dict[str, str]) -> None:
    listed = api.get("/api/v1/endpoint", **params).json()
    assert listed
    for item in listed:
        # Required by the SDK's Endpoint model; recorded production returns them too.
        assert {"id", "name"} <= item["service_profile"].keys()
        assert {"id", "name"} <= item["tariff_profile"].keys()
        assert item["status"]["id"] == 0 and isinstance(item["sim"]["id"], int)
        Device(**item)
        one = api.get(f"/api/v1/endpoint/{item['id']}").json()
        assert RetrieveDevice(**one).service_profile.id == item["service_profile"]["id"]


def test_endpoint_filter_by_status(api: Api) -> None:
    assert [e["id"] for e in api.get("/api/v1/endpoint", q="status:0").json()] == [
        1001,
        1002,
        1003,
    ]
    assert api.get("/api/v1/endpoint", q="status:1").json() == []
    both = api.get("/api/v1/endpoint", q="status:0,name:tracker").json()
    assert [e["name"] for e in both] == ["tracker", "tracker-spare"]
    assert api.get("/api/v1/endpoint", q="status:2,name:tracker").json() == []


@pytest.mark.parametrize("dcs", [8, "8"], ids=["int", "string"])
def test_dcs_is_taken_as_an_integer_or_a_string_of_digits(api: Api, dcs: int | str) -> None:
    assert api.sms("1001", {"payload": "я" * 70, "dcs": dcs}).status_code == 201
    [stored] = api.sandbox.messages()
    assert stored["fields"]["dcs"] == 8  # one type in the store, whatever was sent


def test_what_the_sandbox_answers_can_be_sent_back(api: Api) -> None:
    path = sms_path(api.sms("1001", {"payload": "x", "dcs": 0}))
    sms = api.get(path).json()
    assert api.sms("1001", {"payload": "again", "dcs": sms["dcs"]}).status_code == 201


def test_sms_numbers_are_strings_as_production_sends_them(api: Api) -> None:
    path = sms_path(api.sms("1001", {"payload": "x", "dcs": 8}))
    sms = api.get(path).json()
    # Recorded (cassette get_all_device_sms.yaml): dcs, pid, retry_count and endpoint_id
    # arrive as strings.
    assert (sms["dcs"], sms["pid"], sms["retry_count"], sms["endpoint_id"]) == (
        "8",
        "0",
        "0",
        "1001",
    )
    assert "endpoint" not in sms
    assert sms["sms_type"] == {"id": 1, "description": "MT"}
    parsed = ListSms(**sms)
    assert (parsed.dcs, parsed.pid, parsed.retry_count) == (8, 0, "0")


def test_spec_strict_sms_numbers_are_the_specs_integers(strict: Api) -> None:
    strict.sms("10410", {"payload": "x", "dcs": "8"})
    strict.now[0] += DELIVERY_STEP_SECONDS * 1.5  # buffered: one retry so far
    [sms] = strict.get("/api/v1/endpoint/10410/sms").json()
    assert (sms["dcs"], sms["pid"], sms["retry_count"]) == (8, 0, 1)
    assert sms["endpoint"] == {"id": 10410, "name": "endpoint-10410"}
    assert "endpoint_id" not in sms
    assert ListSms(**sms).endpoint == {"id": 10410, "name": "endpoint-10410"}


def test_a_failed_sms_carries_gsm_map_error_as_the_spec_types_it(api: Api) -> None:
    path = sms_path(api.sms("10410", {"payload": "x"}))
    api.now[0] += 3 * DELIVERY_STEP_SECONDS
    sms = api.get(path).json()
    assert sms["status"] == {"id": 5, "description": "FAILED"}
    assert sms["gsm_map_error"] == "27"  # string|null in the spec; no failure was recorded


# -- cancel (DELETE …/sms/{sms_id})


def delete(api: Api, path: str, token: str | None = None) -> httpx.Response:
    return api.client.delete(path, headers={"Authorization": f"Bearer {token or api.jwt()}"})


def test_cancel_a_message_not_yet_delivered(api: Api) -> None:
    path = sms_path(api.sms("1001", {"payload": "reboot?"}))
    api.now[0] += DELIVERY_STEP_SECONDS / 2
    response = delete(api, path)
    # The spec: 200 with an "Empty response body" (what production sends is UNCONFIRMED).
    assert (response.status_code, response.content) == (200, b"")
    api.now[0] += 10  # well past delivery and the device's answer
    sms = api.get(path).json()
    assert sms["status"] == {"id": 7, "description": "CANCELED"}
    assert sms["final_date"] == sms["last_delivery_attempt"] is not None
    assert sms["delivery_date"] is None
    listed = api.get("/api/v1/endpoint/1001/sms").json()
    assert [s["status"]["id"] for s in listed] == [7]  # a canceled message gets no answer
    [stored] = api.sandbox.messages()
    assert stored["status"] == "canceled"


def test_cancel_a_buffered_message_stops_its_expiry(api: Api) -> None:
    path = sms_path(api.sms("10411", {"payload": "x"}))
    api.now[0] += DELIVERY_STEP_SECONDS * 1.5
    assert api.get(path).json()["status"]["id"] == 3  # buffered
    assert delete(api, path).status_code == 200
    api.now[0] += 10
    assert api.get(path).json()["status"]["id"] == 7


@pytest.mark.parametrize(
    ("endpoint", "state"),
    [("1001", "DELIVERED"), ("10410", "FAILED"), ("10411", "EXPIRED")],
)
def test_a_final_message_cannot_be_canceled(api: Api, endpoint: str, state: str) -> None:
    path = sms_path(api.sms(endpoint, {"payload": "x"}))
    api.now[0] += 2 * DELIVERY_STEP_SECONDS
    response = delete(api, path)
    assert response.status_code == 409
    assert response.json()["error_code"] == 1406
    assert response.json()["error_token"] == "NotAllowed"
    assert state in response.json()["message"]
    assert api.get(path).json()["status"]["description"] == state


def test_a_message_is_canceled_once(api: Api) -> None:
    path = sms_path(api.sms("1001", {"payload": "x"}))
    assert delete(api, path).status_code == 200
    again = delete(api, path)
    assert again.status_code == 409
    assert "CANCELED" in again.json()["message"]


def test_cancel_an_unknown_message_or_another_endpoints(api: Api) -> None:
    sms_id = sms_path(api.sms("1001", {"payload": "x"})).rsplit("/", 1)[1]
    for path in ("/api/v1/endpoint/1001/sms/999", f"/api/v1/endpoint/1002/sms/{sms_id}"):
        response = delete(api, path)
        assert response.status_code == 404
        assert response.json()["error_token"] == "NotFound"
    assert delete(api, f"/api/v1/endpoint/abc/sms/{sms_id}").status_code == 400
    assert delete(api, "/api/v1/endpoint/1001/sms/1", "a.b.c").status_code == 401


def test_a_devices_reply_cannot_be_canceled(api: Api) -> None:
    api.sms("1001", {"payload": "status?"})
    api.now[0] += REPLY_AFTER
    [reply, _] = api.get("/api/v1/endpoint/1001/sms").json()
    response = delete(api, f"/api/v1/endpoint/1001/sms/{reply['id']}")
    assert response.status_code == 409
    assert "received" in response.json()["message"]


def test_spec_strict_cancel_answers_an_empty_object(strict: Api) -> None:
    strict.sms("1001", {"payload": "x"})
    [sms] = strict.get("/api/v1/endpoint/1001/sms").json()
    response = delete(strict, f"/api/v1/endpoint/1001/sms/{sms['id']}")
    assert response.status_code == 200
    assert response.json() == {}


# -- the gateway's error type


def test_a_malformed_jwt_gets_the_recorded_gateway_error_type(api: Api) -> None:
    response = api.get("/api/v1/endpoint/1001/sms", "not-a-jwt")
    assert response.status_code == 401
    assert response.json() == {"message": "token contains an invalid number of segments"}
    assert response.headers["x-amzn-errortype"] == "AccessDeniedException"


# -- the devices' replies in GET …/sms


def test_the_sms_list_shows_the_devices_reply(api: Api) -> None:
    question = api.sms("1001", {"payload": "status?", "source_address": "12345689"})
    question_id = int(sms_path(question).rsplit("/", 1)[1])
    api.sms("1001", {"payload": "reboot"})  # no question mark: no answer
    api.now[0] += REPLY_AFTER - 0.01
    assert len(api.get("/api/v1/endpoint/1001/sms").json()) == 2
    api.now[0] += 0.01
    listed = api.get("/api/v1/endpoint/1001/sms").json()
    assert [s["payload"] for s in listed] == ["ACK: status?", "reboot", "status?"]  # newest first
    reply = listed[0]
    assert isinstance(reply["id"], int) and reply["id"] > question_id
    assert reply["sms_type"] == {"id": 2, "description": "MO"}
    assert reply["source_address"] == "423600000001001"  # the endpoint's MSISDN
    assert reply["msisdn"] == reply["source_address"]
    assert reply["dest_address"] == "12345689"  # the address it answered
    assert reply["status"] == {"id": 4, "description": "DELIVERED"}
    assert reply["submit_date"] == reply["delivery_date"] is not None
    assert reply["source_address_type"]["id"] == 145
    assert all(s["sms_type"]["description"] == "MT" for s in listed[1:])
    assert api.get(f"/api/v1/endpoint/1001/sms/{reply['id']}").json() == reply
    assert ListSms(**reply).sms_type == {"id": 2, "description": "MO"}
    [dumped] = [m for m in api.sandbox.messages() if m["direction"] == "mo"]
    assert dumped["id"] == str(reply["id"]) and dumped["reply_to"] == str(question_id)


def test_the_reply_to_a_part_has_no_udh(api: Api) -> None:
    api.sms("1001", {"payload": "part two?", "udh": "050003CC0202", "dcs": 0})
    api.now[0] += REPLY_AFTER
    reply = api.get("/api/v1/endpoint/1001/sms").json()[0]
    assert (reply["payload"], reply["udh"]) == ("ACK: part two?", "")


# -- --spec-strict: 201 {} and no Location


def test_spec_strict_send_answers_201_with_an_empty_object_and_no_location(strict: Api) -> None:
    response = strict.sms("1001", {"payload": "hello"})
    assert response.status_code == 201
    assert response.json() == {}
    assert response.headers["content-type"] == "application/json"
    assert "location" not in response.headers
    [stored] = strict.sandbox.messages()
    assert stored["text"] == "hello"


def test_smscli_copes_with_spec_strict_sends() -> None:
    """smscli's own client: a 201 without Location is accepted, its id read from the list."""
    now = [T0]
    sandbox = Sandbox(clock=lambda: now[0], spec_strict=True)
    provider = Emnify(
        Settings(
            slug="emnify",
            profile=None,
            base_url="http://sandbox.test/emnify",
            values={"application_token": APP_TOKEN},
        )
    )
    with HttpSession(
        tokens=TokenCache(None).for_key("k"),
        redactor=Redactor(),
        transport=sandbox.transport(),
        clock=lambda: now[0],
    ) as session:
        [result] = provider.send(
            session, Message(check=analyze("hi?")), [Target("endpoint", "1001")]
        )
        assert result.status is Status.ACCEPTED
        [stored] = sandbox.messages()
        assert result.message_id == stored["id"]
        assert "SMS list" in result.details["sms_id"]
        now[0] += REPLY_AFTER  # the device's reply is in the list now: still the MT's id
        record = {
            "message_id": result.message_id,
            "details": result.details,
            "target": "endpoint:1001",
        }
        report = provider.status(session, record)
    assert report.status is Status.DELIVERED
    assert report.details["endpoint_id"] == "1001"
