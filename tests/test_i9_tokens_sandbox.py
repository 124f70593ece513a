"""The sandbox counts the logins it answers (``GET /_sandbox/logins``), so that tests can
check how many logins the token cache saved and that no refused login is repeated (issue 9):
one row per provider, login step and account, with the tokens or sessions issued and the
logins refused; no secret is shown."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from smscli.sandbox.server import Sandbox

SECRET = "Sandbox-Secret-42"


def _client() -> httpx.Client:
    return httpx.Client(transport=Sandbox().transport(), base_url="http://sandbox.test")


def _logins(client: httpx.Client) -> list[dict[str, Any]]:
    reply = client.get("/_sandbox/logins")
    assert reply.status_code == 200
    rows = reply.json()["logins"]
    assert isinstance(rows, list)
    return rows


def row(provider: str, step: str, account: str, issued: int, refused: int = 0) -> dict[str, Any]:
    return {
        "provider": provider,
        "step": step,
        "account": account,
        "issued": issued,
        "refused": refused,
    }


def test_no_logins_yet() -> None:
    with _client() as client:
        assert _logins(client) == []


def test_thingspace_counts_each_step_per_account() -> None:
    with _client() as client:
        for _ in range(2):
            token = client.post(
                "/thingspace/api/ts/v1/oauth2/token",
                auth=("app-key", SECRET),
                data={"grant_type": "client_credentials"},
            ).json()["access_token"]
        for user in ("alice", "alice", "bob"):
            reply = client.post(
                "/thingspace/api/m2m/v1/session/login",
                headers={"Authorization": f"Bearer {token}"},
                json={"username": user, "password": SECRET},
            )
            assert reply.status_code == 200
        refused = client.post(
            "/thingspace/api/m2m/v1/session/login",
            headers={"Authorization": f"Bearer {token}"},
            json={"username": "carol", "password": "refused"},
        )
        assert refused.status_code == 400
        bad_key = client.post(
            "/thingspace/api/ts/v1/oauth2/token",
            auth=("other-key", "refused"),
            data={"grant_type": "client_credentials"},
        )
        assert bad_key.status_code == 401
        rows = _logins(client)
    assert rows == [
        row("thingspace", "oauth2/token", "app-key", 2),
        row("thingspace", "oauth2/token", "other-key", 0, 1),
        row("thingspace", "session/login", "alice", 2),
        row("thingspace", "session/login", "bob", 1),
        row("thingspace", "session/login", "carol", 0, 1),
    ]


def test_telit_counts_user_and_app_logins() -> None:
    with _client() as client:
        for params in (
            {"username": "ops@example.com", "password": SECRET},
            {"appId": "app-1", "appToken": SECRET, "thingKey": "thing"},
            {"username": "ops@example.com", "password": "refused"},
        ):
            client.post(
                "/telit/api", json={"auth": {"command": "api.authenticate", "params": params}}
            )
        rows = _logins(client)
    assert rows == [
        row("telit", "api.authenticate", "app-1", 1),
        row("telit", "api.authenticate", "ops@example.com", 1, 1),
    ]


def test_emnify_names_the_caller_by_a_digest_never_the_token() -> None:
    with _client() as client:
        for token in (SECRET, SECRET, "refused"):
            client.post("/emnify/api/v1/authenticate", json={"application_token": token})
        reply = client.get("/_sandbox/logins")
    digest = "sha256:" + hashlib.sha256(SECRET.encode()).hexdigest()[:12]
    refused = "sha256:" + hashlib.sha256(b"refused").hexdigest()[:12]
    assert reply.json()["logins"] == [
        row("emnify", "authenticate", digest, 2),
        row("emnify", "authenticate", refused, 0, 1),
    ]
    assert SECRET not in reply.text
