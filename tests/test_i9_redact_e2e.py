"""Issue 9, "Secrets echoed back by a provider": a provider that answers 400 quoting the
request (its body and headers) must not put a secret on stdout, stderr, the -v trace, the
--json output or the history (`smscli log`, `smscli log --json`), while the rest of its
error stays readable.

Every provider, through the CLI (in-process, real HTTP on 127.0.0.1), against a small server
that either echoes every request (``login``: the credentials a login carries) or lets the
sandbox emulators answer the logins and echoes the request that hands the message over
(``send``: the secret or the run-time token that request carries). The echo comes in the
provider's own error shape (its parser quotes the message) or as plain text (quoted, and
cut short, as an unreadable reply).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

import httpx
import pytest
from typer.testing import CliRunner

from smscli.cli import app
from smscli.pipeline import Runtime
from smscli.sandbox.server import Sandbox
from tests.test_faults_e2e import is_hand_over

# Changes under every encoding smscli sends it in: JSON (" and \), XML (& < >), URL (+ / ").
SECRET = 'Ech0-"S3c\\r&<et>+/pw'
TARGETS = {
    "telit": "imei:490154203237518",
    "csl": "iccid:8988303000006734768",
    "thingspace": "mdn:5555550100",
    "emnify": "endpoint:1001",
    "fonedynamics": "+61488023555",
}
CREDENTIALS = {
    "telit": {"username": "ops@example.com", "password": SECRET},
    "csl": {"username": "api", "password": SECRET, "api_id": "123456"},
    "thingspace": {
        "client_id": "key",
        "client_secret": SECRET,
        "username": "uws",
        "password": SECRET,
        "account_name": "0000123456-00001",
    },
    "emnify": {"application_token": SECRET},
    "fonedynamics": {"account_sid": "AC1", "token": SECRET, "property_sid": "PR1"},
}
MARKER = "echo-check"
QUIET_HEADERS = {"host", "accept", "accept-encoding", "content-length", "connection"}


@dataclass
class Echo:
    """``/<shape>/<stage>/<slug>/...`` on 127.0.0.1: shape ``native`` (the provider's error
    format) or ``text``; stage ``login`` (every request echoed) or ``send`` (the sandbox
    answers all but the hand-over)."""

    sandbox: Sandbox = field(default_factory=Sandbox)
    requests: list[tuple[dict[str, str], str]] = field(default_factory=list)
    port: int = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                shape, stage, rest = self.path.lstrip("/").split("/", 2)
                headers = dict(self.headers.items())
                echo.requests.append((headers, raw.decode()))
                if stage == "send" and not is_hand_over(self.command, "/" + rest, raw):
                    reply = echo.sandbox.handle(
                        httpx.Request(
                            self.command, f"http://sandbox/{rest}", headers=headers, content=raw
                        )
                    )
                    self._answer(reply.status_code, reply.headers, reply.content)
                    return
                slug = rest.split("/", 1)[0]
                self._answer(400, *_echo(shape, slug, headers, raw.decode()))

            do_GET = do_PUT = do_POST

            def _answer(self, status: int, headers: Any, body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _echo(
    shape: str, slug: str, headers: dict[str, str], body: str
) -> tuple[dict[str, str], bytes]:
    """A 400 that quotes the request: its credential headers first, then its body."""
    quoted = "; ".join(f"{k}: {v}" for k, v in headers.items() if k.lower() not in QUIET_HEADERS)
    text = f"{MARKER} rejected the request with {quoted}; body {body}"
    if shape == "text":
        return {"Content-Type": "text/plain"}, text.encode()
    if slug == "csl":
        xml = (
            "<send_sms_response><api_outcome>failure</api_outcome>"
            f"<error_code>ECHO_REJECTED</error_code><error_description>{escape(text)}"
            "</error_description></send_sms_response>"
        )
        return {"Content-Type": "application/xml"}, xml.encode()
    error = {
        "error_code": 400,  # emnify
        "error_token": "echo_rejected",
        "message": text,
        "errorCodes": ["ECHO_REJECTED"],  # Telit TR50 (top level)
        "errorMessages": [text],
        "errorCode": "ECHO_REJECTED",  # ThingSpace
        "errorMessage": text,
        "ResponseStatus": {"ErrorCode": "ECHO_REJECTED", "Message": text},  # Fone Dynamics
    }
    return {"Content-Type": "application/json"}, json.dumps(error).encode()


@pytest.fixture(scope="module")
def echo() -> Iterator[Echo]:
    server_state = Echo()
    server = ThreadingHTTPServer(("127.0.0.1", 0), server_state.handler())
    server_state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_state
    server.shutdown()
    server.server_close()


def smscli(*args: str) -> tuple[int, str, str]:
    """`smscli ARGS` in-process, on the real network stack (the server is on loopback)."""
    res = CliRunner().invoke(app, list(args), obj=Runtime())
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def flags(slug: str) -> list[str]:
    out: list[str] = []
    for key, value in CREDENTIALS[slug].items():
        out += ["--" + key.replace("_", "-"), value]
    return out


def secret_forms(requests: list[tuple[dict[str, str], str]]) -> set[str]:
    """Every secret the requests carried (configured ones, the Basic credentials, bearer
    and session tokens), in every encoding a reply could quote it in."""
    values = {SECRET}
    for headers, body in requests:
        for name, value in headers.items():
            if name.lower() in ("authorization", "vz-m2m-token"):
                credential = value.split(" ", 1)[-1]
                values.add(credential)
                if value.startswith("Basic "):
                    values.add(base64.b64decode(credential).decode())
        if body.startswith("{"):
            session = json.loads(body).get("auth", {}).get("sessionId")  # Telit
            if session:
                values.add(session)
    forms: set[str] = set()
    for value in values:
        escaped = json.dumps(value)[1:-1]
        forms |= {value, escaped, json.dumps(escaped)[1:-1], escape(value)}
        forms |= {quote(value, safe=""), quote_plus(value, safe="")}
    return forms


def leaked(forms: set[str], text: str) -> list[str]:
    """The forms (or their first 8 characters: a secret cut short) found in ``text``."""
    return sorted(f for f in forms if f in text or f[:8] in text)


CASES = [("login", slug) for slug in ("telit", "thingspace", "emnify")] + [
    ("send", slug) for slug in TARGETS
]


@pytest.mark.parametrize("shape", ["native", "text"])
@pytest.mark.parametrize(("stage", "slug"), CASES, ids=[f"{s}-{p}" for s, p in CASES])
def test_an_echoed_request_shows_no_secret(echo: Echo, stage: str, slug: str, shape: str) -> None:
    url = f"http://127.0.0.1:{echo.port}/{shape}/{stage}/{slug}"
    seen = len(echo.requests)
    args = [slug, "--base-url", url, *flags(slug), "-t", TARGETS[slug], "hello"]
    code_json, stdout_json, trace = smscli(*args, "-v", "--json")
    code_human, stdout_human, stderr_human = smscli(*args)
    _, log_human, log_err = smscli("log")
    _, log_json, _ = smscli("log", "--json")
    assert code_json == code_human == 5, (stdout_json, trace)
    sent = echo.requests[seen:]
    forms = secret_forms(sent)
    carried = " ".join(body + " " + " ".join(headers.values()) for headers, body in sent)
    assert any(f in carried for f in forms)  # the echo had a secret to quote
    outputs = {
        "--json stdout": stdout_json,
        "-v trace": trace,
        "stdout": stdout_human,
        "stderr": stderr_human,
        "log": log_human + log_err,
        "log --json": log_json,
    }
    for name, text in outputs.items():
        assert not leaked(forms, text), f"{name}: {leaked(forms, text)}\n{text}"
    # The provider's own words stay readable: the echo, its non-secret parts, its code.
    error = json.loads(stdout_json)["error"]
    assert MARKER in error["message"]
    assert MARKER in stderr_human
    assert "rejected the request with" in trace
    stored = json.loads(log_json)["entries"][0]["error"]["message"]
    assert MARKER in stored
    if shape == "native":
        assert "User-Agent: smscli/" in stored
        assert "echo_rejected" in f"{error['message']} {error['provider_code']}".lower()
    if slug == "fonedynamics" or (slug == "thingspace" and stage == "login"):
        # The Basic credentials smscli sent were echoed: shown as such, masked.
        assert "Authorization: Basic ***" in stderr_human
