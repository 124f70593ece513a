"""smscli.sandbox.telit: the TR50 emulator is as strict as the docs, and its magic targets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from smscli.sandbox.base import MAGIC
from smscli.sandbox.server import Sandbox
from smscli.sandbox.telit import ERR_NOT_FOUND, ERR_PARAMETER, ERR_SESSION, TelitEmulator

URL = "http://sandbox.test/telit/api"
PASSWORD = "S3cr3t-P4ss!<&>"


class Client:
    """Raw TR50 requests against an in-process sandbox with an injected clock."""

    def __init__(self) -> None:
        self.t = [1000.0]
        self.sandbox = Sandbox(clock=lambda: self.t[0])
        self.http = httpx.Client(transport=self.sandbox.transport(), timeout=30)

    def post(self, body: Any, **kw: Any) -> httpx.Response:
        return self.http.post(URL, json=body, **kw)

    def tr50(self, body: Any) -> dict[str, Any]:
        response = self.post(body)
        assert response.status_code == 200
        data: dict[str, Any] = response.json()
        return data

    def login(self, **params: str) -> str:
        params = params or {"username": "ops@example.com", "password": PASSWORD}
        reply = self.tr50({"auth": {"command": "api.authenticate", "params": params}})
        assert reply["auth"]["success"] is True, reply
        session_id: str = reply["auth"]["params"]["sessionId"]
        return session_id

    def command(self, session_id: str, command: str, params: Any = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"command": command}
        if params is not None:
            entry["params"] = params
        return self.tr50({"auth": {"sessionId": session_id}, "1": entry})

    def send(self, session_id: str, **params: Any) -> dict[str, Any]:
        params = {"thingKey": "dev-1", "message": "hi", "coding": "SEVEN_BIT", **params}
        return self.command(session_id, "sms.send", params)


@pytest.fixture
def client() -> Iterator[Client]:
    c = Client()
    yield c
    c.http.close()


def failed(entry: dict[str, Any], code: int | None = None) -> bool:
    ok = entry.get("success") is False and isinstance(entry.get("errorMessages"), list)
    return ok and (code is None or entry.get("errorCodes") == [code])


# --------------------------------------------------------------------------- login


def test_user_and_application_logins(client: Client) -> None:
    user = client.login()
    app = client.login(appId="a", appToken="t", thingKey="k")
    assert user != app
    assert client.send(user)["1"]["success"] is True
    assert client.send(app)["1"]["success"] is True


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"username": "u@example.com", "password": "refused"}, id="user-refused"),
        pytest.param({"appId": "a", "appToken": "refused", "thingKey": "k"}, id="app-refused"),
        pytest.param({"username": "u@example.com"}, id="no-password"),
        pytest.param({"appId": "a", "appToken": "t"}, id="no-thing-key"),
        pytest.param({"username": "u", "password": 5}, id="password-not-a-string"),
        pytest.param({"username": "", "password": "p"}, id="empty-username"),
    ],
)
def test_login_refusals(client: Client, params: dict[str, Any]) -> None:
    reply = client.tr50({"auth": {"command": "api.authenticate", "params": params}})
    assert failed(reply["auth"])
    assert "sessionId" not in json.dumps(reply)


def test_login_without_params(client: Client) -> None:
    assert failed(client.tr50({"auth": {"command": "api.authenticate"}})["auth"], ERR_PARAMETER)


def test_login_and_command_in_one_request(client: Client) -> None:
    reply = client.tr50(
        {
            "auth": {"command": "api.authenticate", "params": {"username": "u", "password": "p"}},
            "cmd": {"command": "diag.ping"},
        }
    )
    assert reply["auth"]["success"] is True
    assert reply["cmd"] == {"success": True}


# --------------------------------------------------------------------------- envelope


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="no-auth"),
        pytest.param({"sessionId": "not-a-session"}, id="unknown-session"),
        pytest.param({"sessionId": 42}, id="session-not-a-string"),
    ],
)
def test_commands_need_a_valid_session(client: Client, auth: Any) -> None:
    body: dict[str, Any] = {"1": {"command": "diag.ping"}}
    if auth is not None:
        body["auth"] = auth
    reply = client.tr50(body)
    assert failed(reply, ERR_SESSION)  # a top-level failure: the whole request was refused


def test_session_expires_after_the_ttl(client: Client) -> None:
    session_id = client.login()
    client.t[0] += client.sandbox.token_ttl - 1
    assert client.command(session_id, "diag.ping")["1"]["success"] is True
    client.t[0] += 2  # not sliding: the lifetime counts from the login
    reply = client.command(session_id, "diag.ping")
    assert failed(reply, ERR_SESSION)
    assert "session" in reply["errorMessages"][0].lower()


def test_expired_sessions_are_forgotten_at_the_next_login(client: Client) -> None:
    emulator = client.sandbox.emulator("telit")
    assert isinstance(emulator, TelitEmulator)
    for _ in range(3):
        client.login()
    client.t[0] += client.sandbox.token_ttl
    live = client.login()
    assert list(emulator.sessions) == [live]


def test_session_end_invalidates_the_session(client: Client) -> None:
    session_id = client.login()
    assert client.command(session_id, "session.end") == {"1": {"success": True}}
    assert failed(client.command(session_id, "diag.ping"), ERR_SESSION)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"auth=x", "application/x-www-form-urlencoded", id="form"),
        pytest.param(b"<auth/>", "application/xml", id="xml"),
        pytest.param(b"{not json", "application/json", id="invalid-json"),
        pytest.param(b"[]", "application/json", id="json-list"),
        pytest.param(b"", "application/json", id="empty"),
    ],
)
def test_unreadable_requests_fail_at_the_top_level(
    client: Client, content: bytes, content_type: str
) -> None:
    response = client.http.post(URL, content=content, headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert failed(response.json())


def test_a_request_without_content_type_is_read_as_json(client: Client) -> None:
    # Telit's Python sample posts without a content type [T3].
    body = {"auth": {"command": "api.authenticate", "params": {"username": "u", "password": "p"}}}
    response = client.http.post(URL, content=json.dumps(body).encode())
    assert response.json()["auth"]["success"] is True


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text"),
        pytest.param("application/x-www-form-urlencoded", id="curl-d"),
        pytest.param("application/json;charset=utf-8", id="axios"),
    ],
)
def test_a_json_body_is_read_whatever_its_content_type(client: Client, content_type: str) -> None:
    session_id = client.login()
    body = {"auth": {"sessionId": session_id}, "1": {"command": "diag.ping"}}
    response = client.http.post(
        URL, content=json.dumps(body).encode(), headers={"Content-Type": content_type}
    )
    assert response.json() == {"1": {"success": True}}


def test_the_session_in_a_header(client: Client) -> None:
    # Wind River's TR50 takes a sessionId header instead of the auth block [WR1].
    session_id = client.login()
    ping = {"1": {"command": "diag.ping"}}
    assert client.post(ping, headers={"sessionId": session_id}).json() == {"1": {"success": True}}
    assert failed(client.post(ping, headers={"sessionId": "nope"}).json(), ERR_SESSION)
    # The body's auth block wins over the header.
    body = {"auth": {"sessionId": "nope"}, **ping}
    assert failed(client.post(body, headers={"sessionId": session_id}).json(), ERR_SESSION)


def test_numbered_commands_in_one_post(client: Client) -> None:
    reply = client.tr50(
        {
            "auth": {"command": "api.authenticate", "params": {"username": "u", "password": "p"}},
            "1": {
                "command": "sms.send",
                "params": {"msisdn": "15550001", "message": "one", "coding": "SEVEN_BIT"},
            },
            "2": {
                "command": "sms.send",
                "params": {"msisdn": "15550400", "message": "two", "coding": "SEVEN_BIT"},
            },
            "3": {"command": "session.info"},
        }
    )
    assert list(reply) == ["auth", "1", "2", "3"]
    assert reply["1"]["success"] is True
    assert failed(reply["2"])  # …0400 is refused; the commands around it still ran
    assert reply["3"]["params"]["id"] == reply["auth"]["params"]["sessionId"]
    assert [m["text"] for m in client.sandbox.messages()] == ["one"]
    session_id = reply["auth"]["params"]["sessionId"]
    both = client.tr50(
        {
            "auth": {"sessionId": session_id},
            "1": {"command": "sms.status", "params": {"id": reply["1"]["params"]["id"]}},
            "2": {"command": "diag.ping"},
        }
    )
    assert both["1"]["params"]["status"] == "accepted" and both["2"] == {"success": True}


def test_wrong_method_and_path(client: Client) -> None:
    assert client.http.get(URL).status_code == 405
    assert client.http.post(URL.replace("/api", "/rest"), json={}).status_code == 404


def test_unknown_command(client: Client) -> None:
    session_id = client.login()
    assert failed(client.command(session_id, "sms.teleport")["1"])
    assert failed(client.tr50({"auth": {"sessionId": session_id}, "1": "sms.send"})["1"])


# --------------------------------------------------------------------------- sms.send


def test_send_reply_has_the_documented_params(client: Client) -> None:
    session_id = client.login()
    params = {"msisdn": "5615043452", "message": "x", "coding": "SEVEN_BIT", "smsc": "att"}
    reply = client.command(session_id, "sms.send", params)
    assert reply["1"]["success"] is True
    result = reply["1"]["params"]
    assert set(result) == {"dateSent", "uuid", "preferredSmsc", "id"}
    assert result["preferredSmsc"] == "att"
    assert datetime.fromisoformat(result["dateSent"]).utcoffset() is not None
    assert len(result["id"]) == len(result["uuid"]) == 24


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"thingKey": "d", "message": "x"}, id="no-coding"),
        pytest.param({"thingKey": "d", "message": "x", "coding": "seven_bit"}, id="coding-case"),
        pytest.param({"thingKey": "d", "message": "x", "coding": "GSM"}, id="unknown-coding"),
        pytest.param({"message": "x", "coding": "SEVEN_BIT"}, id="no-identifier"),
        pytest.param({"iccid": "1", "imei": "2", "coding": "SEVEN_BIT"}, id="two-identifiers"),
        pytest.param({"thingKey": "", "coding": "SEVEN_BIT"}, id="empty-identifier"),
        pytest.param({"thingKey": 5, "coding": "SEVEN_BIT"}, id="identifier-not-a-string"),
        pytest.param({"thingKey": "d", "coding": "EIGHT_BIT", "message": "zz"}, id="8bit-not-hex"),
        pytest.param({"thingKey": "d", "coding": "EIGHT_BIT", "message": "abc"}, id="8bit-odd"),
        pytest.param(
            {"thingKey": "d", "coding": "SEVEN_BIT", "validity": "1200"}, id="validity-str"
        ),
        pytest.param(
            {"thingKey": "d", "coding": "SEVEN_BIT", "validity": True}, id="validity-bool"
        ),
        pytest.param({"thingKey": "d", "coding": "SEVEN_BIT", "validity": -1}, id="validity-neg"),
        pytest.param({"thingKey": "d", "coding": "SEVEN_BIT", "trim": "false"}, id="trim-string"),
        pytest.param({"thingKey": "d", "coding": "SEVEN_BIT", "from": 800}, id="from-number"),
        pytest.param({"thingKey": "d", "coding": "SEVEN_BIT", "smsc": ["att"]}, id="smsc-list"),
        pytest.param({"thingKey": "d", "coding": "SEVEN_BIT", "text": "x"}, id="unknown-param"),
    ],
)
def test_send_validation(client: Client, params: dict[str, Any]) -> None:
    session_id = client.login()
    reply = client.command(session_id, "sms.send", params)
    assert failed(reply["1"], ERR_PARAMETER), reply
    assert client.sandbox.messages() == []


def test_send_params_must_be_an_object(client: Client) -> None:
    session_id = client.login()
    assert failed(client.command(session_id, "sms.send", ["thingKey"])["1"], ERR_PARAMETER)
    assert failed(client.command(session_id, "sms.send")["1"], ERR_PARAMETER)


def test_every_identifier_is_accepted(client: Client) -> None:
    session_id = client.login()
    for name in ("thingKey", "esn", "iccid", "imei", "imsi", "meid", "msisdn"):
        reply = client.command(session_id, "sms.send", {name: "12345678", "coding": "UCS2"})
        assert reply["1"]["success"] is True, name
    assert [m["target"].split(":")[0] for m in client.sandbox.messages()] == [
        "thingKey",
        "esn",
        "iccid",
        "imei",
        "imsi",
        "meid",
        "msisdn",
    ]


def test_messages_listing_has_no_credentials(client: Client) -> None:
    session_id = client.login(username="ops@example.com", password=PASSWORD)
    client.send(
        session_id,
        coding="EIGHT_BIT",
        message="0102ff",
        trim=False,
        validity=1200,
        **{"from": "ACME"},
    )
    listing = client.http.get("http://sandbox.test/_sandbox/messages").json()["messages"]
    (stored,) = listing
    assert stored["provider"] == "telit"
    assert stored["target"] == "thingKey:dev-1"
    assert stored["text"] == "0102ff"
    assert stored["status"] == "accepted"
    assert stored["fields"]["coding"] == "EIGHT_BIT"
    assert (stored["fields"]["trim"], stored["fields"]["validity"]) == (False, 1200)
    dumped = json.dumps(listing)
    assert PASSWORD not in dumped and json.dumps(PASSWORD)[1:-1] not in dumped
    assert "ops@example.com" not in dumped and session_id not in dumped


# --------------------------------------------------------------------------- magic


def test_magic_rejected_0400(client: Client) -> None:
    reply = client.send(client.login(), thingKey="dev-0400")
    assert failed(reply["1"])
    assert client.sandbox.messages() == []


def test_magic_unknown_target_0404(client: Client) -> None:
    params = {"iccid": "8988303000000000404", "coding": "SEVEN_BIT", "message": "x"}
    reply = client.command(client.login(), "sms.send", params)
    assert failed(reply["1"], ERR_NOT_FOUND)
    assert "not found" in reply["1"]["errorMessages"][0]


def test_magic_auth_refused_0401_every_time(client: Client) -> None:
    for _ in range(2):
        reply = client.send(client.login(), thingKey="dev-0401")
        assert failed(reply)
        assert "Authorization failed" in reply["errorMessages"][0]


def test_magic_session_expiry_0419(client: Client) -> None:
    session_id = client.login()
    # A session that has never been used is fresh: it does not expire.
    assert client.send(session_id, thingKey="dev-0419")["1"]["success"] is True
    used = client.login()
    assert client.send(used)["1"]["success"] is True
    reply = client.send(used, thingKey="dev-0419")
    assert failed(reply, ERR_SESSION)
    assert failed(client.command(used, "diag.ping"), ERR_SESSION)  # it is gone
    retry = client.send(client.login(), thingKey="dev-0419")
    assert retry["1"]["success"] is True


def test_magic_rate_limited_0429(client: Client) -> None:
    response = client.post(
        {
            "auth": {"sessionId": client.login()},
            "1": {"command": "sms.send", "params": {"msisdn": "15550100429", "coding": "UCS2"}},
        }
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0"
    assert client.sandbox.messages() == []


def test_magic_server_error_0500(client: Client) -> None:
    body = {"thingKey": "dev-0500", "coding": "SEVEN_BIT"}
    response = client.post(
        {"auth": {"sessionId": client.login()}, "1": {"command": "sms.send", "params": body}}
    )
    assert response.status_code == 500
    assert "text/html" in response.headers["content-type"]


def test_magic_dropped_0444(client: Client) -> None:
    body = {"thingKey": "dev-0444", "coding": "SEVEN_BIT"}
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(
            {"auth": {"sessionId": client.login()}, "1": {"command": "sms.send", "params": body}}
        )


def test_magic_slow_0408_still_stores_the_message(client: Client) -> None:
    body = {"thingKey": "dev-0408", "coding": "SEVEN_BIT", "message": "late"}
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            {"auth": {"sessionId": client.login()}, "1": {"command": "sms.send", "params": body}}
        )
    assert [m["text"] for m in client.sandbox.messages()] == ["late"]


EXPECTED_MAGIC = {
    "0400": "command-failure",
    "0401": "request-failure",
    "0404": "command-failure",
    "0408": "ReadTimeout",
    "0410": "accepted",
    "0411": "accepted",
    "0419": "request-failure",
    "0429": "HTTP 429",
    "0444": "RemoteProtocolError",
    "0500": "HTTP 500",
}


def test_magic_table_is_covered() -> None:
    assert set(EXPECTED_MAGIC) == set(MAGIC)


@pytest.mark.parametrize(("suffix", "expected"), sorted(EXPECTED_MAGIC.items()))
def test_every_magic_suffix(client: Client, suffix: str, expected: str) -> None:
    session_id = client.login()
    client.send(session_id)  # the session is in use, so a 0419 expires it
    body = {
        "auth": {"sessionId": session_id},
        "1": {"command": "sms.send", "params": {"thingKey": f"d{suffix}", "coding": "UCS2"}},
    }
    try:
        response = client.post(body)
    except httpx.TransportError as exc:
        assert type(exc).__name__ == expected
        return
    if response.status_code != 200:
        assert f"HTTP {response.status_code}" == expected
        return
    reply = response.json()
    if reply.get("success") is False:
        assert expected == "request-failure"
    elif reply["1"]["success"] is False:
        assert expected == "command-failure"
    else:
        assert expected == "accepted"


# --------------------------------------------------------------------------- sms.status


@pytest.mark.parametrize(
    ("target", "final"),
    [
        pytest.param("dev-1", "delivered", id="delivered"),
        pytest.param("dev-0410", "failed", id="0410"),
        pytest.param("dev-0411", "expired", id="0411"),
    ],
)
def test_delivery_progression(client: Client, target: str, final: str) -> None:
    session_id = client.login()
    sent = client.send(session_id, thingKey=target)["1"]["params"]
    seen = []
    for step in (0.0, 1.5, 3.0):
        client.t[0] = 1000.0 + step
        status = client.command(session_id, "sms.status", {"id": sent["id"]})["1"]["params"]
        seen.append((status["status"], status["statusRaw"]))
    assert seen == [("accepted", "ACCEPTED"), ("sent", "SENT"), (final, final.upper())]
    by_uuid = client.command(session_id, "sms.status", {"uuid": sent["uuid"]})["1"]["params"]
    assert by_uuid["id"] == sent["id"]
    assert by_uuid["preferredSmsc"] == sent["preferredSmsc"]
    assert by_uuid["dateSent"] == sent["dateSent"]
    # "text" is "Additional status information" [T7], as in the docs' example.
    words = {
        "delivered": "The message was delivered",
        "failed": "The message could not be delivered",
        "expired": "The message expired before it was delivered",
    }
    assert by_uuid["text"] == words[final]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({}, ERR_PARAMETER, id="neither-id-nor-uuid"),
        pytest.param({"id": 5}, ERR_PARAMETER, id="id-not-a-string"),
        pytest.param({"id": "nope"}, ERR_NOT_FOUND, id="unknown-id"),
        pytest.param({"uuid": "nope"}, ERR_NOT_FOUND, id="unknown-uuid"),
    ],
)
def test_status_errors(client: Client, params: dict[str, Any], code: int) -> None:
    session_id = client.login()
    client.send(session_id)
    assert failed(client.command(session_id, "sms.status", params)["1"], code)


# --------------------------------------------------------------------------- session.info


def test_session_info_of_a_user_session(client: Client) -> None:
    session_id = client.login()
    client.t[0] += 30
    info = client.command(session_id, "session.info")["1"]
    assert info["success"] is True
    params = info["params"]
    # The fields of the docs' example [T5] and those the Node lib reads [T4].
    assert params["id"] == session_id
    assert params["userName"] == params["whoAmI"] == "ops@example.com"
    assert len(params["userId"]) == len(params["orgId"]) == 24
    assert params["orgKey"] and params["serverId"] and len(params["ref"]) == 64
    for flag in ("hasSuperAdmin", "hasSuperOps", "hasOrgAdmin"):
        assert isinstance(params[flag], bool)
    assert params["ttl"] == client.sandbox.token_ttl
    assert params["startTime"].endswith("Z") and params["lastAccessed"].endswith("Z")
    started = datetime.fromisoformat(params["startTime"])
    accessed = datetime.fromisoformat(params["lastAccessed"])
    assert (accessed - started).total_seconds() == 30
    assert "appId" not in params and PASSWORD not in json.dumps(params)


def test_session_info_of_an_application_session(client: Client) -> None:
    session_id = client.login(appId="app-1", appToken="tok-secret", thingKey="thing-1")
    params = client.command(session_id, "session.info")["1"]["params"]
    assert params["appId"] == params["whoAmI"] == "app-1"
    assert params["thingKey"] == "thing-1"
    assert params["tokenId"] and "userName" not in params
    assert "tok-secret" not in json.dumps(params)


def test_session_info_needs_a_live_session(client: Client) -> None:
    session_id = client.login()
    client.t[0] += client.sandbox.token_ttl
    assert failed(client.command(session_id, "session.info"), ERR_SESSION)
    session_id = client.login()
    reply = client.tr50(
        {
            "auth": {"sessionId": session_id},
            "1": {"command": "session.end"},
            "2": {"command": "session.info"},
        }
    )
    assert reply["1"] == {"success": True}
    assert failed(reply["2"], ERR_SESSION)


# --------------------------------------------------------------------------- sms.history

REPLY_AFTER = 3.0  # delivered after 2 s, answered a second later


def history(client: Client, session_id: str, **params: Any) -> dict[str, Any]:
    reply = client.command(session_id, "sms.history", params)["1"]
    assert reply["success"] is True, reply
    result: dict[str, Any] = reply["params"]
    return result


@pytest.fixture
def traffic(client: Client) -> str:
    """Three messages to two devices, two of them questions the devices answer."""
    session_id = client.login()
    for msisdn, text in (("15550001", "status?"), ("15550002", "reboot"), ("15550001", "again?")):
        params = {"msisdn": msisdn, "message": text, "coding": "SEVEN_BIT"}
        assert client.command(session_id, "sms.send", params)["1"]["success"] is True
        client.t[0] += 10
    client.t[0] += 50
    return session_id


def test_history_has_the_sent_messages_and_the_replies(client: Client, traffic: str) -> None:
    page = history(client, traffic)
    assert page["count"] == 5
    assert [(r["direction"], r["message"]) for r in page["result"]] == [
        ("mo", "ACK: again?"),
        ("mt", "again?"),
        ("mt", "reboot"),
        ("mo", "ACK: status?"),
        ("mt", "status?"),
    ]
    reply, question = page["result"][0], page["result"][1]
    assert reply["msisdn"] == question["msisdn"] == "15550001"
    assert reply["id"] != question["id"] and reply["uuid"] != question["uuid"]
    assert (reply["status"], reply["statusRaw"]) == ("received", "RECEIVED")
    assert (question["status"], question["statusRaw"]) == ("delivered", "DELIVERED")
    sent_at = datetime.fromisoformat(question["dateSent"])
    assert (datetime.fromisoformat(reply["dateSent"]) - sent_at).total_seconds() == REPLY_AFTER
    assert set(question) == {
        "id",
        "uuid",
        "direction",
        "msisdn",
        "message",
        "coding",
        "status",
        "statusRaw",
        "preferredSmsc",
        "dateSent",
    }
    # A reply is an SMS record of its own: sms.status finds it by its id and by its uuid.
    for key in ("id", "uuid"):
        status = client.command(traffic, "sms.status", {key: reply[key]})["1"]["params"]
        assert status["status"] == "received" and status["id"] == reply["id"]


def test_history_filters(client: Client, traffic: str) -> None:
    def texts(**params: Any) -> list[str]:
        return [r["message"] for r in history(client, traffic, **params)["result"]]

    assert texts(direction="mo") == ["ACK: again?", "ACK: status?"]
    assert texts(direction="MT", sort="dateSent") == ["status?", "reboot", "again?"]
    assert texts(msisdn="15550002") == ["reboot"]
    assert texts(thingKey="15550002") == []
    assert texts(msisdn="15550001", direction="mo", records=1) == ["ACK: again?"]
    assert texts(records=3, sort="dateSent") == ["reboot", "again?", "ACK: again?"]
    assert texts(offset=1, limit=2) == ["again?", "reboot"]
    assert texts(content="again") == ["ACK: again?", "again?"]
    assert texts(tags="career1") == []  # no sandbox connection has tags
    first = history(client, traffic, sort="dateSent")["result"][0]
    assert texts(ids=[first["id"], "nope"]) == ["status?"]
    # Now is 1080; the messages were sent at 1000, 1010 and 1020, the replies came 3 s later.
    assert texts(last="65s") == ["ACK: again?", "again?"]
    assert texts(last="1m") == ["ACK: again?", "again?"]  # from 1020 on, inclusive
    assert texts(last="50s") == []
    assert texts(last="24h", direction="mt") == ["again?", "reboot", "status?"]
    window = {"start": "1970-01-01T00:16:43Z", "end": "1970-01-01T00:16:50+00:00"}
    assert texts(**window) == ["reboot", "ACK: status?"]
    assert texts(start="1970-01-01T00:16:50") == texts(start="1970-01-01T00:16:50Z")


def test_history_count_is_the_whole_match_not_the_page(client: Client, traffic: str) -> None:
    page = history(client, traffic, direction="mt", offset=1, limit=1)
    assert page["count"] == 3 and len(page["result"]) == 1
    assert history(client, traffic, offset=10) == {"count": 5, "result": []}


def test_history_of_a_new_session_is_empty(client: Client) -> None:
    assert history(client, client.login()) == {"count": 0, "result": []}


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"msisdn": "1", "iccid": "2"}, id="two-identifiers"),
        pytest.param({"msisdn": 15550001}, id="identifier-not-a-string"),
        pytest.param({"direction": "both"}, id="direction"),
        pytest.param({"sort": "id"}, id="sort"),
        pytest.param({"last": "yesterday"}, id="last"),
        pytest.param({"last": 24}, id="last-not-a-string"),
        pytest.param({"start": "last week"}, id="start"),
        pytest.param({"end": 5}, id="end-not-a-string"),
        pytest.param({"records": 0}, id="records"),
        pytest.param({"limit": "10"}, id="limit-not-an-int"),
        pytest.param({"offset": -1}, id="offset"),
        pytest.param({"ids": "abc"}, id="ids-not-a-list"),
        pytest.param({"content": 5}, id="content"),
        pytest.param({"tags": 5}, id="tags"),
        pytest.param({"page": 2}, id="unknown"),
    ],
)
def test_history_refusals(client: Client, params: dict[str, Any]) -> None:
    session_id = client.login()
    assert failed(client.command(session_id, "sms.history", params)["1"], ERR_PARAMETER)


def test_history_needs_a_session(client: Client) -> None:
    assert failed(client.tr50({"1": {"command": "sms.history"}}), ERR_SESSION)
