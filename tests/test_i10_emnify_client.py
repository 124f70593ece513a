"""emnify's own Python SDK (``emnify-sdk`` on PyPI, a test-only dependency) against a real
`smscli sandbox` process: sign-in, every send variant, endpoint listing (with filters), one
endpoint, a device's SMS list with the device's reply, and an SMS's status and cancel.

The SDK reads its base URL from ``EMNIFY_SDK_API_ENDPOINT_URL`` when ``emnify.api_manager``
is imported (``MAIN_URL``), and its paths start at ``/v1`` (``emnify/constants.py``), so the
URL is the sandbox's ``/emnify/api``. The SDK has no call for one SMS nor for cancelling one:
those go to the REST paths with the token the SDK signed in with (``client.token``).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import requests
from emnify import EMnify
from emnify import api_manager as sdk_api
from emnify import errors as sdk_errors
from emnify.constants import DeviceSort
from emnify.modules.device.models import Device, FilterDeviceModel, RetrieveDevice, SmsCreateModel

APP_TOKEN = "i10-emnify-sdk-app-token"
# Endpoint ids of this module only (the sandbox process is shared by the session); none ends
# in a magic suffix except where a test wants one.
ENDPOINT = 7_100_001
REPLY_WAIT = 5.0  # a device answers about three seconds after the send
T = TypeVar("T")


@pytest.fixture(scope="module")
def api_url(sandbox_process: str) -> Iterator[str]:
    url = f"{sandbox_process}/emnify/api"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMNIFY_SDK_API_ENDPOINT_URL", url)
        if url != sdk_api.MAIN_URL:
            importlib.reload(sdk_api)  # it reads the variable when imported
        assert url == sdk_api.MAIN_URL
        yield url
    importlib.reload(sdk_api)  # back to what the environment says


@pytest.fixture(autouse=True)
def bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK passes no timeout to requests: give every call one, so a hung socket fails the
    test instead of holding the run."""
    send = requests.Session.request

    def with_timeout(self: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = kwargs.get("timeout") or 10
        return send(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", with_timeout)


@pytest.fixture
def client(api_url: str) -> EMnify:
    return EMnify(app_token=APP_TOKEN)


def sandbox_messages(api_url: str, target: str) -> list[dict[str, Any]]:
    root = api_url.removesuffix("/emnify/api")
    data = httpx.get(f"{root}/_sandbox/messages", timeout=10).json()
    return [m for m in data["messages"] if m["target"] == target]


def poll(until: Callable[[], T | None], seconds: float = REPLY_WAIT) -> T:
    """What ``until`` returns once it returns something, asked every 0.2 s for ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = until()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"nothing after {seconds} s")
        time.sleep(0.2)


def rest(client: EMnify, api_url: str, method: str, path: str) -> httpx.Response:
    """A REST call the SDK has no method for, with the token the SDK signed in with."""
    assert client.token, "the SDK has not signed in yet"
    return httpx.request(
        method, f"{api_url}{path}", headers={"Authorization": f"Bearer {client.token}"}, timeout=10
    )


def sms_of(client: EMnify, endpoint: int, payload: str) -> Any:
    found = [s for s in client.devices.get_device_sms_list(device=endpoint) if s.payload == payload]
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- sign-in


def test_sign_in_happens_on_the_first_call(client: EMnify) -> None:
    assert client.token is None
    devices = list(client.devices.get_devices_list())
    # The SDK calls first, gets the gateway's 401 for its missing token, signs in and retries.
    assert client.token is not None and client.token.count(".") == 2
    assert [d.id for d in devices] == [1001, 1002, 1003]


def test_a_refused_application_token(api_url: str) -> None:
    with pytest.raises(sdk_errors.UnauthorisedException):
        list(EMnify(app_token="refused").devices.get_devices_list())


# --------------------------------------------------------------------------- endpoints


def test_list_endpoints(client: EMnify) -> None:
    devices = list(client.devices.get_devices_list())
    assert all(isinstance(d, Device) for d in devices)
    assert {d.service_profile.id for d in devices} == {1}
    assert {d.tariff_profile.id for d in devices} == {1}
    assert all(d.status.id == 0 and d.sim is not None for d in devices)
    by_name = list(client.devices.get_devices_list(sort_enum=DeviceSort.NAME.value))
    assert sorted(d.id or 0 for d in by_name) == [1001, 1002, 1003]


def test_filter_endpoints(client: EMnify) -> None:
    found = list(
        client.devices.get_devices_list(filter_model=FilterDeviceModel(name="i10-sdk-tracker"))
    )
    # The filter may match by prefix (UNCONFIRMED), so the sandbox adds a near miss.
    assert [d.name for d in found] == ["i10-sdk-tracker", "i10-sdk-tracker-spare"]
    enabled = list(client.devices.get_devices_list(filter_model=FilterDeviceModel(status=0)))
    assert [d.id for d in enabled] == [1001, 1002, 1003]
    disabled = list(client.devices.get_devices_list(filter_model=FilterDeviceModel(status=1)))
    assert disabled == []
    both = FilterDeviceModel(status=0, name="i10-sdk-tracker")
    assert [d.id for d in client.devices.get_devices_list(filter_model=both)] == [
        d.id for d in found
    ]


def test_fetch_one_endpoint(client: EMnify) -> None:
    [tracker, _] = client.devices.get_devices_list(
        filter_model=FilterDeviceModel(name="i10-sdk-fetch")
    )
    assert tracker.id is not None
    one = client.devices.retrieve_device(tracker.id)
    assert isinstance(one, RetrieveDevice)
    assert (one.id, one.name) == (tracker.id, "i10-sdk-fetch")
    assert one.sim is not None and one.sim.iccid is not None and len(one.sim.iccid) == 19
    assert one.service_profile.id == 1 and one.tariff_profile.id == 1


# --------------------------------------------------------------------------- send


def test_every_send_variant(client: EMnify, api_url: str) -> None:
    endpoint = ENDPOINT + 10
    target = f"endpoint:{endpoint}"
    device = client.devices.retrieve_device(endpoint)
    [listed] = [
        d
        for d in client.devices.get_devices_list(filter_model=FilterDeviceModel(name="i10-send"))
        if d.name == "i10-send"
    ]
    expiry = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    variants: list[tuple[Any, SmsCreateModel]] = [
        (endpoint, SmsCreateModel(source_address="12345689", payload="by id")),
        (device, SmsCreateModel(source_address="12345689", payload="by retrieved device")),
        (listed, SmsCreateModel(source_address="12345689", payload="by listed device")),
        (
            endpoint,
            SmsCreateModel(
                source_address="Acme",
                source_address_type={"id": 208},
                payload="alphanumeric sender",
            ),
        ),
        (
            endpoint,
            SmsCreateModel(
                source_address="+491701234567",
                source_address_type={"id": 145},
                payload="international sender, expiry",
                expiry_date=expiry,
            ),
        ),
        (endpoint, SmsCreateModel(source_address="12345", payload="Привет", dcs=8)),
        (endpoint, SmsCreateModel(source_address="12345", payload="part 1 ", udh="050003CC0201")),
        (endpoint, SmsCreateModel(source_address="12345", payload="part 2", udh="050003CC0202")),
    ]
    for device_ref, sms in variants:
        assert client.devices.send_sms(device=device_ref, sms=sms) is True
    listed_target = f"endpoint:{listed.id}"
    got = {m["text"]: m for m in sandbox_messages(api_url, target)}
    got |= {m["text"]: m for m in sandbox_messages(api_url, listed_target)}
    assert set(got) == {sms.payload for _, sms in variants}
    assert got["alphanumeric sender"]["fields"]["source_address_type"] == {"id": 208}
    assert got["international sender, expiry"]["fields"]["expiry_date"] == expiry
    assert got["Привет"]["fields"]["dcs"] == 8
    assert got["part 2"]["fields"]["udh"] == "050003CC0202"


def test_a_refused_send_raises_the_sdks_error(client: EMnify) -> None:
    with pytest.raises(sdk_errors.EMnifyBaseException):  # 409 NotAllowed (magic …0400)
        client.devices.send_sms(
            device=ENDPOINT * 10_000 + 400,
            sms=SmsCreateModel(source_address="12345", payload="x"),
        )
    with pytest.raises(sdk_errors.ValidationErrorException):  # 422 InputValidationFailed
        client.devices.send_sms(
            device=ENDPOINT, sms=SmsCreateModel(source_address="12345", payload="x" * 161)
        )


# --------------------------------------------------------------------------- SMS list, status


def test_a_devices_sms_list_shows_its_reply(client: EMnify) -> None:
    endpoint = ENDPOINT + 20
    question = "i10 sdk: are you there?"
    client.devices.send_sms(
        device=endpoint, sms=SmsCreateModel(source_address="12345689", payload=question)
    )
    sent = sms_of(client, endpoint, question)
    assert sent.sms_type == {"id": 1, "description": "MT"}

    def reply() -> Any:
        for sms in client.devices.get_device_sms_list(device=endpoint):
            if (sms.sms_type or {}).get("description") == "MO":
                return sms
        return None

    answer = poll(reply)
    assert answer.payload == "ACK: " + question
    assert answer.status == {"id": 4, "description": "DELIVERED"}
    assert answer.source_address == answer.msisdn  # from the device's own number
    assert answer.id is not None and sent.id is not None and answer.id > sent.id
    assert answer.submit_date


def test_status_through_the_rest_path_with_the_sdks_token(client: EMnify, api_url: str) -> None:
    endpoint = ENDPOINT + 30
    client.devices.send_sms(
        device=endpoint, sms=SmsCreateModel(source_address="12345", payload="status please")
    )
    sent = sms_of(client, endpoint, "status please")
    path = f"/v1/endpoint/{endpoint}/sms/{sent.id}"

    def delivered() -> dict[str, Any] | None:
        status = rest(client, api_url, "GET", path).json()["status"]
        assert status["id"] in (1, 2, 4), status
        return status if status["id"] == 4 else None

    assert poll(delivered) == {"id": 4, "description": "DELIVERED"}
    assert sms_of(client, endpoint, "status please").status == {"id": 4, "description": "DELIVERED"}


def test_cancel_through_the_rest_path_with_the_sdks_token(client: EMnify, api_url: str) -> None:
    endpoint = ENDPOINT * 10_000 + 411  # magic …0411: buffered, then it would expire
    client.devices.send_sms(
        device=endpoint, sms=SmsCreateModel(source_address="12345", payload="cancel me")
    )
    sent = sms_of(client, endpoint, "cancel me")
    response = rest(client, api_url, "DELETE", f"/v1/endpoint/{endpoint}/sms/{sent.id}")
    assert response.status_code == 200
    assert sms_of(client, endpoint, "cancel me").status == {"id": 7, "description": "CANCELED"}
    again = rest(client, api_url, "DELETE", f"/v1/endpoint/{endpoint}/sms/{sent.id}")
    assert again.status_code == 409
