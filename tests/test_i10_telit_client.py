"""Issue 10: Telit's sample TR50 clients against a real `smscli sandbox` process.

Telit's clients are not on a registry, so these tests make the requests they make, with raw
httpx over loopback (reference/providers-telit-csl-fonedynamics.md §1.8):

- the Python sample (deviceWISE/sample_tr50_python, ``TR50/TR50http.py`` [T3]) posts with
  httplib2 and **no Content-Type**; it checks a cached session with ``diag.ping`` and logs in
  again when that fails; ``execute(cmd, params)`` sends ``{"auth": {"sessionId"}, "data":
  {"command", "params"}}`` and reads ``response["data"]``; ``post()`` may carry several
  commands at once; its worker class calls ``session.info``;
- the Node lib (telit/devicewise-nodejs, ``src/lib/utilities.js`` [T4]) posts with axios
  (``Content-Type: application/json;charset=utf-8``): one command as ``{auth: {sessionId},
  cmd}`` and answers ``data.cmd``, or a map of commands ("1", "2", …) merged into the body;
  its ``permission()`` reads ``session.info``'s ``hasSuperAdmin``/``hasSuperOps``/
  ``hasOrgAdmin``, its logger ``orgKey``, ``whoAmI``, ``id`` and ``serverId``.

Then what a fleet operator's script does next: ``sms.history`` with ``"direction": "mo"`` to
read the device's reply (every device answers a question with "ACK: <text>").
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

NODE_HEADERS = {"Content-Type": "application/json;charset=utf-8", "Accept": "application/json"}


class PythonSample:
    """The requests of TR50http.py: JSON text posted without a Content-Type header."""

    def __init__(self, base_url: str, session_id: str = "") -> None:
        self.endpoint = base_url + "/telit/api"
        self.session_id = session_id
        self.http = httpx.Client(timeout=10)

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(self.endpoint, content=json.dumps(body).encode())
        assert response.status_code == 200  # the sample treats anything else as a failure
        assert "content-type" not in {k.lower() for k in response.request.headers}
        reply: dict[str, Any] = response.json()
        return reply

    def app_auth(self, app_id: str, app_token: str, thing_key: str) -> bool:
        params = {"appId": app_id, "appToken": app_token, "thingKey": thing_key}
        reply = self.post({"auth": {"command": "api.authenticate", "params": params}})
        if reply.get("success") is False or not reply["auth"]["success"]:
            return False
        self.session_id = reply["auth"]["params"]["sessionId"]
        return True

    def execute(self, command: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"command": command}
        if params:
            data["params"] = params
        return self.post({"auth": {"sessionId": self.session_id}, "data": data})


class NodeLib:
    """The requests of devicewise-nodejs' ``request(url, sessionId, cmd)``."""

    def __init__(self, base_url: str, session_id: str) -> None:
        self.url = base_url + "/telit/api"
        self.session_id = session_id

    def request(self, cmd: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {"auth": {"sessionId": self.session_id}}
        multi = "command" not in cmd
        if multi:
            data.update(cmd)
        else:
            data["cmd"] = cmd
        response = httpx.post(self.url, content=json.dumps(data).encode(), headers=NODE_HEADERS)
        reply: dict[str, Any] = response.json()
        # data.cmd for one command when there is one, else the whole reply (a top-level error)
        return reply["cmd"] if not multi and "cmd" in reply else reply


def permission(session_info: dict[str, Any], level: str) -> bool:
    """devicewise-nodejs' permission(): the has* flags of a session.info reply."""
    params = session_info["params"]
    if level == "super":
        return bool(params["hasSuperAdmin"] or params["hasSuperOps"])
    return bool(params["hasOrgAdmin"] or params["hasSuperAdmin"] or params["hasSuperOps"])


def msisdn() -> str:
    """A number no other test of the shared sandbox process uses."""
    return "1555" + "".join(secrets.choice("123456789") for _ in range(7))


@pytest.fixture
def python_sample(sandbox_process: str) -> Iterator[PythonSample]:
    sample = PythonSample(sandbox_process, session_id="stale-cached-session")
    # The sample's start-up: a diag.ping with the cached session; log in when it fails.
    ping = sample.execute("diag.ping")
    assert ping.get("success") is False and ping["errorMessages"]
    assert sample.app_auth("sample-app", "sample-token", "sample-thing")
    assert sample.execute("diag.ping")["data"] == {"success": True}
    yield sample
    sample.http.close()


def test_python_sample_sends_and_reads_the_status(python_sample: PythonSample) -> None:
    number = msisdn()
    params = {"msisdn": number, "message": "Hello from the sample", "coding": "SEVEN_BIT"}
    sent = python_sample.execute("sms.send", params)["data"]
    assert sent["success"] is True
    assert set(sent["params"]) >= {"id", "uuid", "dateSent", "preferredSmsc"}
    status = python_sample.execute("sms.status", {"id": sent["params"]["id"]})["data"]
    assert status["success"] is True
    assert status["params"]["status"] in ("accepted", "sent", "delivered")
    assert status["params"]["statusRaw"] == status["params"]["status"].upper()


def test_python_sample_session_info(python_sample: PythonSample) -> None:
    info = python_sample.execute("session.info")["data"]
    assert info["success"] is True
    params = info["params"]
    assert params["id"] == python_sample.session_id
    assert params["appId"] == "sample-app" and params["thingKey"] == "sample-thing"
    assert isinstance(params["ttl"], int) and params["ttl"] > 0
    assert "sample-token" not in json.dumps(info)


def test_python_sample_several_commands_in_one_post(python_sample: PythonSample) -> None:
    number = msisdn()
    reply = python_sample.post(
        {
            "auth": {"sessionId": python_sample.session_id},
            "1": {
                "command": "sms.send",
                "params": {"msisdn": number, "message": "first", "coding": "SEVEN_BIT"},
            },
            "2": {
                "command": "sms.send",
                "params": {"msisdn": number, "message": "second", "coding": "SEVEN_BIT"},
            },
            "3": {"command": "session.info"},
        }
    )
    assert set(reply) == {"1", "2", "3"}
    assert reply["1"]["success"] is True and reply["2"]["success"] is True
    assert reply["1"]["params"]["id"] != reply["2"]["params"]["id"]
    assert reply["3"]["params"]["id"] == python_sample.session_id
    listed = python_sample.execute("sms.history", {"msisdn": number, "sort": "dateSent"})["data"]
    assert [r["message"] for r in listed["params"]["result"]] == ["first", "second"]


def test_python_sample_logs_in_and_sends_in_one_post(sandbox_process: str) -> None:
    sample = PythonSample(sandbox_process)
    with sample.http:
        reply = sample.post(
            {
                "auth": {
                    "command": "api.authenticate",
                    "params": {"username": "sample@example.com", "password": "pw-1"},
                },
                "1": {
                    "command": "sms.send",
                    "params": {"msisdn": msisdn(), "message": "hi", "coding": "SEVEN_BIT"},
                },
                "2": {"command": "session.info"},
            }
        )
    assert reply["auth"]["success"] is True
    assert reply["1"]["success"] is True
    assert reply["2"]["params"]["userName"] == "sample@example.com"
    assert reply["2"]["params"]["id"] == reply["auth"]["params"]["sessionId"]


def test_node_lib_one_command_several_commands_and_permission(sandbox_process: str) -> None:
    login = httpx.post(
        sandbox_process + "/telit/api",
        content=json.dumps(
            {
                "auth": {
                    "command": "api.authenticate",
                    "params": {"username": "node@example.com", "password": "pw-2"},
                }
            }
        ).encode(),
        headers=NODE_HEADERS,
    ).json()
    lib = NodeLib(sandbox_process, login["auth"]["params"]["sessionId"])
    info = lib.request({"command": "session.info"})
    assert info["success"] is True
    for key in ("orgKey", "whoAmI", "id", "serverId"):  # what its logger reads
        assert info["params"][key]
    assert info["params"]["whoAmI"] == "node@example.com"
    assert permission(info, "orgadmin") is True and permission(info, "super") is False
    number = msisdn()
    both = lib.request(
        {
            "1": {
                "command": "sms.send",
                "params": {"msisdn": number, "message": "one", "coding": "SEVEN_BIT"},
            },
            "2": {"command": "sms.history", "params": {"msisdn": number}},
        }
    )
    assert both["1"]["success"] is True
    assert both["2"]["params"]["count"] == 1  # the send of "1" ran before "2"
    assert both["2"]["params"]["result"][0]["id"] == both["1"]["params"]["id"]
    assert lib.request({"command": "session.end"}) == {"success": True}
    ended = lib.request({"command": "diag.ping"})
    assert ended["success"] is False and ended["errorMessages"]


def test_a_question_gets_its_reply_in_the_mo_history(python_sample: PythonSample) -> None:
    number = msisdn()
    params = {"msisdn": number, "message": "status?", "coding": "SEVEN_BIT"}
    sent = python_sample.execute("sms.send", params)["data"]["params"]
    history: dict[str, Any] = {}
    deadline = time.monotonic() + 10  # the device answers about 3 s after the send
    while time.monotonic() < deadline:
        query = {"msisdn": number, "direction": "mo", "last": "1h", "sort": "-dateSent"}
        history = python_sample.execute("sms.history", query)["data"]["params"]
        if history["count"]:
            break
        time.sleep(0.25)
    [reply] = history["result"]
    assert reply["message"] == "ACK: status?" and reply["direction"] == "mo"
    assert reply["msisdn"] == number and reply["id"] != sent["id"]
    status = python_sample.execute("sms.status", {"id": reply["id"]})["data"]["params"]
    assert status["status"] == "received"
    sent_only = python_sample.execute("sms.history", {"msisdn": number, "direction": "mt"})
    assert [r["id"] for r in sent_only["data"]["params"]["result"]] == [sent["id"]]
