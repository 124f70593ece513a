"""What every emulator shares (issue 10): devices that answer, a bounded store, a listen
backlog that takes a burst of connections, and the --spec-strict switch."""

from __future__ import annotations

import inspect
import socket
from collections.abc import Iterator

import httpx
import pytest

from smscli.sandbox.base import (
    DELIVERY_STEP_SECONDS,
    MAX_MESSAGES,
    REPLY_DELAY_SECONDS,
    Stored,
)
from smscli.sandbox.server import LISTEN_BACKLOG, Sandbox, SandboxServer

T0 = 1_800_000_000.0
REPLY_AFTER = 2 * DELIVERY_STEP_SECONDS + REPLY_DELAY_SECONDS


class Clocked:
    def __init__(self, **kwargs: object) -> None:
        self.now = [T0]
        self.sandbox = Sandbox(clock=lambda: self.now[0], **kwargs)  # type: ignore[arg-type]
        self.client = httpx.Client(
            transport=self.sandbox.transport(), base_url="http://sandbox.test/emnify"
        )

    def send(self, endpoint: str, text: str) -> httpx.Response:
        token = self.client.post(
            "/api/v1/authenticate", json={"application_token": "core-test"}
        ).json()["auth_token"]
        return self.client.post(
            f"/api/v1/endpoint/{endpoint}/sms",
            headers={"Authorization": f"Bearer {token}"},
            json={"source_address": "12345", "payload": text},
        )

    def messages(self) -> list[dict[str, object]]:
        data = self.client.get("http://sandbox.test/_sandbox/messages").json()
        return list(data["messages"])


@pytest.fixture
def clocked() -> Iterator[Clocked]:
    c = Clocked()
    yield c
    c.client.close()


def test_a_device_answers_a_question_about_a_second_after_delivery(clocked: Clocked) -> None:
    assert clocked.send("1001", "status?").status_code == 201
    assert clocked.send("1002", "reboot").status_code == 201  # no question: no answer
    clocked.now[0] = T0 + REPLY_AFTER - 0.01
    assert [m["direction"] for m in clocked.messages()] == ["mt", "mt"]
    clocked.now[0] = T0 + REPLY_AFTER
    messages = clocked.messages()
    assert [(m["direction"], m["text"]) for m in messages] == [
        ("mt", "status?"),
        ("mt", "reboot"),
        ("mo", "ACK: status?"),
    ]
    question, _, reply = messages
    assert reply["reply_to"] == question["id"] and reply["target"] == question["target"]
    assert reply["status"] == "delivered"
    clocked.now[0] = T0 + 60  # answered once, however often the sandbox is asked
    assert len(clocked.messages()) == 3


def test_a_message_that_was_not_delivered_gets_no_answer(clocked: Clocked) -> None:
    assert clocked.send("10410", "status?").status_code == 201  # …0410: delivery fails
    assert clocked.send("10411", "status?").status_code == 201  # …0411: expires
    clocked.now[0] = T0 + 60
    assert [m["direction"] for m in clocked.messages()] == ["mt", "mt"]


def stored(i: int, created: float, outcome: str = "delivered") -> Stored:
    return Stored(
        id=str(i), provider="emnify", target="1", text=f"m{i}", created=created, outcome=outcome
    )


def test_the_store_is_bounded_and_drops_the_oldest_final_message_first() -> None:
    now = [T0]
    emulator = Sandbox(clock=lambda: now[0], max_messages=3).emulator("emnify")
    emulator.remember(stored(1, T0 - 10))  # final (delivered) by now
    emulator.remember(stored(2, T0))  # still on its way
    emulator.remember(stored(3, T0 - 10, outcome="failed"))  # final
    emulator.remember(stored(4, T0))  # over the limit: the oldest final one goes
    assert list(emulator.store) == ["2", "3", "4"]
    emulator.remember(stored(5, T0))
    assert list(emulator.store) == ["2", "4", "5"]
    emulator.remember(stored(6, T0))  # nothing final left: the oldest goes
    assert list(emulator.store) == ["4", "5", "6"]


def test_the_store_stays_bounded_under_many_sends() -> None:
    c = Clocked(max_messages=50)
    try:
        for i in range(120):
            assert c.send(f"2{i:03d}", f"message {i}").status_code == 201
        messages = c.messages()
        assert len(messages) == 50
        assert messages[-1]["text"] == "message 119"
    finally:
        c.client.close()


def test_smscli_sandbox_keeps_the_documented_bound_by_default() -> None:
    # The command spells the default as a literal (it must not import the sandbox to show
    # its help); this keeps the two equal.
    from smscli.commands.admin import sandbox

    assert inspect.signature(sandbox).parameters["max_messages"].default == MAX_MESSAGES


def test_a_burst_of_connections_waits_in_the_listen_backlog() -> None:
    """Connections made while the server is busy wait in the kernel's queue: none is
    refused or left hanging. (With http.server's default backlog of 5, most of these 200
    connects time out.)"""
    with SandboxServer(Sandbox()) as server:
        host, port = server.httpd.server_address[:2]
        assert server.httpd.request_queue_size == LISTEN_BACKLOG >= 128
    # A server that accepts nothing: only the backlog holds the connections.
    idle = SandboxServer(Sandbox())
    try:
        host, port = idle.httpd.server_address[:2]
        sockets = []
        try:
            for _ in range(200):
                s = socket.create_connection((str(host), int(port)), timeout=2)
                sockets.append(s)
        finally:
            for s in sockets:
                s.close()
        assert len(sockets) == 200
    finally:
        idle.httpd.server_close()


def test_spec_strict_reaches_every_emulator() -> None:
    sandbox = Sandbox(spec_strict=True)
    from smscli.catalog import REGISTRY

    assert all(sandbox.emulator(slug).spec_strict for slug in REGISTRY)
    assert not Sandbox().emulator("emnify").spec_strict
