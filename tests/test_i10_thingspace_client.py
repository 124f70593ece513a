"""Verizon's own generated Python SDK (`sdksio-verizon-apis-sdk`, a test-only dependency)
against a real `smscli sandbox` process: OAuth token, session login, send (with timeToLive),
the SMS history queue (the devices' replies, acknowledged with `next`), session logout.

The SDK has no base-URL option: `verizon.configuration.Configuration.get_base_uri` reads
`self.environments[self.environment][server]`, a class-level table of Verizon's hosts, so a
configuration instance gets its own table pointing each server the calls use (`THINGSPACE`
for `/m2m/v1/...`, `OAUTH_SERVER` for `/oauth2/token`) at the sandbox.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from verizon.configuration import Configuration, Environment, Server
from verizon.exceptions.connectivity_management_result_exception import (
    ConnectivityManagementResultException,
)
from verizon.http.auth.thingspace_oauth import ThingspaceOauthCredentials
from verizon.http.auth.vz_m2m_token import VZM2mTokenCredentials
from verizon.models.device_id import DeviceId
from verizon.models.log_in_request import LogInRequest
from verizon.models.sms_send_request import SMSSendRequest
from verizon.verizon_client import VerizonClient

REPLY_WAIT_SECONDS = 6.0  # a device answers ~3 s after the send


def client(base_url: str, session_token: str | None = None) -> Any:
    config = Configuration(
        timeout=10,
        thingspace_oauth_credentials=ThingspaceOauthCredentials("app-key", "app-secret"),
        vz_m2m_token_credentials=VZM2mTokenCredentials(session_token) if session_token else None,
    )
    root = f"{base_url}/thingspace/api"
    config.environments = {
        Environment.PRODUCTION: {
            Server.THINGSPACE: root,
            Server.OAUTH_SERVER: f"{root}/ts/v1",
            Server.M2M: f"{root}/m2m",
        }
    }
    return VerizonClient(config=config)


def account_name() -> str:
    """An account of this test's own: the sandbox process is shared by the whole run."""
    return f"{secrets.randbelow(10**10):010d}-00001"


def device(n: int) -> Any:
    return DeviceId(id=f"8914800000080013{n:04d}", kind="iccid")


def log_in(base_url: str) -> tuple[Any, str]:
    login = client(base_url).session_management.start_connectivity_management_session(
        LogInRequest(username="uws-user", password="uws-pass")
    )
    assert login.status_code == 200
    token = login.body.session_token
    assert token
    return client(base_url, token), token


def next_token(response: Any, account: str) -> int:
    """The `next` of the Location header (`/sms/{aname}/history?next={token}`); the SDK
    types `next` as an integer."""
    location = {k.lower(): v for k, v in response.headers.items()}["location"]
    prefix = f"/sms/{account}/history?next="
    assert location.startswith(prefix), location
    return int(location.removeprefix(prefix))


def wait_for_history(sms: Any, account: str, count: int) -> Any:
    """Poll the history until ``count`` replies are queued (bounded)."""
    deadline = time.monotonic() + REPLY_WAIT_SECONDS
    while True:
        response = sms.list_devices_sms_messages(account)
        queued = len(response.body.messages or [])
        if queued >= min(count, 5) or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


def test_token_login_send_history_acknowledge_logout(sandbox_process: str) -> None:
    account = account_name()
    api, session_token = log_in(sandbox_process)

    sent = api.sms.send_sms_to_device(
        SMSSendRequest(
            account_name=account,
            sms_message="Status?",
            device_ids=[device(1)],
            time_to_live="PT2H",
        )
    )
    assert sent.status_code == 200
    assert sent.body.request_id

    page = wait_for_history(api.sms, account, 1)
    assert page.status_code == 200
    assert page.body.has_more_data is False
    [reply] = page.body.messages
    assert reply.message == "ACK: Status?"
    assert [(d.kind, d.id) for d in reply.device_ids] == [("iccid", device(1).id)]
    assert reply.timestamp

    # Not acknowledged yet: asked again, the same reply comes back.
    again = api.sms.list_devices_sms_messages(account)
    assert [m.message for m in again.body.messages] == ["ACK: Status?"]

    # `next` acknowledges the page it came with: the queue is then empty.
    acknowledged = api.sms.list_devices_sms_messages(account, next=next_token(again, account))
    assert acknowledged.status_code == 200
    assert acknowledged.body.messages == []
    assert api.sms.list_devices_sms_messages(account).body.messages == []

    logout = api.session_management.end_connectivity_management_session()
    assert logout.status_code == 200
    assert logout.body.session_token == session_token
    with pytest.raises(ConnectivityManagementResultException) as refused:
        api.sms.list_devices_sms_messages(account)
    assert refused.value.response_code == 400
    assert "Session" in refused.value.error_code


def test_history_pages_with_202_and_next(sandbox_process: str) -> None:
    account = account_name()
    api, _ = log_in(sandbox_process)
    devices = [device(n) for n in range(1, 8)]
    sent = api.sms.send_sms_to_device(
        SMSSendRequest(account_name=account, sms_message="Ping?", device_ids=devices)
    )
    assert sent.status_code == 200

    first = wait_for_history(api.sms, account, len(devices))
    assert first.status_code == 202
    assert first.body.has_more_data is True
    assert len(first.body.messages) == 5
    second = api.sms.list_devices_sms_messages(account, next=next_token(first, account))
    assert second.status_code == 200
    assert second.body.has_more_data is False
    assert len(second.body.messages) == 2
    senders = sorted(
        d.id for page in (first, second) for m in page.body.messages for d in m.device_ids
    )
    assert senders == sorted(d.id for d in devices)
    done = api.sms.list_devices_sms_messages(account, next=next_token(second, account))
    assert done.body.messages == []
    api.session_management.end_connectivity_management_session()
