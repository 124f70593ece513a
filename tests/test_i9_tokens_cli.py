"""A cached token that cannot be sent (issue 9): one with a line break, a character outside
ASCII or surrounding spaces (what the HTTP layer refuses in a header) is dropped and a fresh
login made (exit 0), not an exit 6 on every run until `smscli logout`. Through the command
line, against the in-process sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli, base_url

SECRET = "Cli-S3cret-Value"
FLAGS = {
    "emnify": ["--application-token", SECRET],
    "thingspace": [
        "--client-id",
        "key",
        "--client-secret",
        SECRET,
        "--username",
        "uws",
        "--password",
        SECRET,
        "--account-name",
        "0000123456-00001",
    ],
    "telit": ["--username", "ops@example.com", "--password", SECRET],
}
TARGET = {
    "emnify": "endpoint:1001",
    "thingspace": "mdn:5555550100",
    "telit": "imei:490154203237518",
}
LOGIN_PATH = {
    "emnify": "POST /emnify/api/v1/authenticate",
    "thingspace": "POST /thingspace/api/m2m/v1/session/login",
}
UNSENDABLE = {
    "crlf": "abc\r\nX-Injected: 1",
    "lf": "abc\ndef",
    "latin-1": "tök€n",
    "emoji": "token-🙂",
    "nul": "abc\x00def",
    "spaces": " padded ",
    "empty": "",
}


def send(cli: Cli, slug: str, text: str) -> int:
    res = cli(slug, "--base-url", base_url(slug), *FLAGS[slug], "-t", TARGET[slug], text)
    assert "Traceback" not in res.output
    assert SECRET not in res.output
    return res.exit_code


def tokens_file(home: Path) -> Path:
    return home / "cache" / "tokens.json"


def spoil(home: Path, value: str) -> list[str]:
    """Replace every cached token by ``value``; the names of the tokens spoiled."""
    path = tokens_file(home)
    data = json.loads(path.read_text(encoding="utf-8"))
    names = []
    for entries in data.values():
        for name, entry in entries.items():
            entry["value"] = value
            names.append(name)
    path.write_text(json.dumps(data), encoding="utf-8")
    return names


@pytest.mark.parametrize("slug", ["emnify", "thingspace"])
@pytest.mark.parametrize("bad", list(UNSENDABLE.values()), ids=list(UNSENDABLE))
def test_an_unsendable_cached_token_is_dropped_and_a_fresh_login_made(
    cli: Cli, isolated: Path, slug: str, bad: str
) -> None:
    assert send(cli, slug, "first") == 0
    assert spoil(isolated, bad)
    cli.recorder.requests.clear()

    assert send(cli, slug, "second") == 0
    assert cli.recorder.paths().count(LOGIN_PATH[slug]) == 1
    data = json.loads(tokens_file(isolated).read_text(encoding="utf-8"))
    values = [entry["value"] for entries in data.values() for entry in entries.values()]
    assert values and bad not in values

    cli.recorder.requests.clear()
    assert send(cli, slug, "third") == 0  # the fresh token was cached: no login now
    assert LOGIN_PATH[slug] not in cli.recorder.paths()


def test_a_json_carried_session_id_is_checked_the_same_way(cli: Cli, isolated: Path) -> None:
    """Telit carries its sessionId in the JSON body, where a line break would be escaped and
    refused by the server as an unknown session: dropped before, it costs no refused call."""
    assert send(cli, "telit", "first") == 0
    spoil(isolated, "abc\r\ndef")
    cli.recorder.requests.clear()
    assert send(cli, "telit", "second") == 0
    bodies = [json.loads(r.content) for r in cli.recorder.requests]
    assert [("auth" in b and "command" in b["auth"]) for b in bodies] == [True, False]


@pytest.mark.parametrize("slug", ["emnify", "thingspace", "telit"])
def test_a_refused_login_is_not_tried_again_for_ten_seconds(
    cli: Cli, isolated: Path, slug: str
) -> None:
    """Runs started together (cron jobs) answer a refusal that one of them just got instead
    of trying the same credentials again: accounts lock after a few failures. The refusal is
    remembered per profile and credentials, for ten seconds."""
    flags = [("refused" if value == SECRET else value) for value in FLAGS[slug]]
    argv = [slug, "--base-url", base_url(slug), *flags, "-t", TARGET[slug], "--json", "Hi"]
    logins = {  # the first login step, the one refused here
        "emnify": "POST /emnify/api/v1/authenticate",
        "thingspace": "POST /thingspace/api/ts/v1/oauth2/token",
        "telit": "POST /telit/api",
    }[slug]

    first = cli(*argv)
    assert first.exit_code == 5, first.output
    refused = first.json()["error"]
    assert refused["code"] == "auth_failed"
    assert cli.recorder.paths().count(logins) == 1

    cli.recorder.requests.clear()
    cli.advance(5)
    again = cli(*argv)
    assert again.exit_code == 5, again.output
    error = again.json()["error"]
    assert cli.recorder.paths() == []  # not even a token request
    # The same refusal, as the provider worded it, and why it was not tried again.
    assert error["message"] == (
        f"{refused['message']} (refused 5 s ago; not trying these credentials again so soon)"
    )
    assert (error["code"], error["hint"]) == (refused["code"], refused["hint"])
    assert error["provider_code"] == refused["provider_code"]

    cli.advance(6)  # past the ten seconds: the user may try again
    later = cli(*argv)
    assert later.exit_code == 5, later.output
    assert cli.recorder.paths().count(logins) == 1
    assert "not trying these credentials again" not in later.output


def test_a_remembered_refusal_is_kept_scrubbed_of_the_secrets(cli: Cli, isolated: Path) -> None:
    """The refusal is kept to be shown again: as it was shown, so never with a secret the
    provider's reply quoted."""
    token = "Echoed-App-Token-77"

    def echo(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        message = f"application_token {body['application_token']} is not valid"
        return httpx.Response(
            401, json={"error_code": 1101, "error_token": "Unauthorized", "message": message}
        )

    cli.recorder.handler = echo
    argv = ["emnify", "--base-url", base_url("emnify"), "--application-token", token]
    argv += ["-t", "endpoint:1001", "--json", "Hi"]
    first = cli(*argv)
    again = cli(*argv)
    assert (first.exit_code, again.exit_code) == (5, 5)
    assert len(cli.recorder.requests) == 1
    assert "is not valid" in again.json()["error"]["message"]
    assert token not in first.output + again.output
    assert token not in tokens_file(isolated).read_text(encoding="utf-8")
