"""A sixth provider is one declaration, one API class and one emulator: nothing else edited.

The toy provider below is written entirely in this test (as a third party would write its
own module) and registered through the same registry as the five built-ins. It then has a
subcommand with its own option and its `--help`, a `smscli providers` row, config checks of
its fields, the Python API's ``extra=`` check, a sandbox mount, and a real send through its
emulator (README "Adding a provider").
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from smscli import catalog
from smscli.api import Client
from smscli.catalog import CredentialField, Features, Limits, ProviderInfo, ProviderOption
from smscli.errors import ExitCode, UsageError
from smscli.models import Message, Request, SendResult, Status, Target
from smscli.providers.base import Provider, Session, expect_dict, json_body
from smscli.sandbox.base import Emulator, Stored, json_response
from tests.conftest import Cli, base_url

# --------------------------------------------------------------------- the provider module


def shout_level(value: Any) -> int:
    level = int(value)
    if not 1 <= level <= 3:
        raise UsageError(f"--volume {value}: use 1, 2 or 3", code="invalid_option")
    return level


class Toy(Provider):
    """A JSON API: POST /messages {"to", "text", "volume"} with a bearer key."""

    def _request(self, message: Message, target: Target) -> Request:
        body = {"to": target.value, "text": message.text, **message.extra}
        headers = {"Authorization": "Bearer " + self.settings.require("api_key")}
        return Request("POST", f"{self.base_url}/messages", headers=headers, json=body)

    def dry_run(self, message: Message, targets: Sequence[Target]) -> list[Request]:
        return [self._request(message, t) for t in targets]

    def send(
        self, session: Session, message: Message, targets: Sequence[Target]
    ) -> list[SendResult]:
        results = []
        for target in targets:
            response = session.call(self._request(message, target), sends_message=True)
            sent = expect_dict(json_body(response))
            results.append(
                self.result(target, Status.ACCEPTED, message, message_id=str(sent["id"]))
            )
        return results


TOY = ProviderInfo(
    slug="toy",
    label="Toy SMS",
    docs_url="https://toy.invalid/docs",
    default_base_url="https://api.toy.invalid",
    fields=(CredentialField("api_key", "toy API key", secret=True),),
    target_kinds=("msisdn",),
    limits=Limits(max_segments=1, notes="one segment"),
    features=Features(),
    help="Send an SMS through the toy API.\n\nExample: smscli toy -t +61488023555 Hi",
    options=(
        ProviderOption("volume", "--volume", "How loud (1-3).", metavar="N", convert=shout_level),
    ),
    provider=lambda: Toy,
    emulator=lambda: ToyEmulator,
)
Toy.info = TOY

# --------------------------------------------------------------------- the emulator module


class ToyEmulator(Emulator):
    slug = "toy"

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer k-123":
            return json_response(401, {"error": "bad key"})
        if (request.method, path) != ("POST", "/messages"):
            return json_response(404, {"error": "no such endpoint"})
        body = json.loads(request.content)
        msg = Stored(self.next_id("T"), "toy", body["to"], body["text"], self.clock(), fields=body)
        self.remember(msg)
        return json_response(201, {"id": msg.id})


# --------------------------------------------------------------------------------- the tests


@pytest.fixture(autouse=True)
def toy_registered() -> Iterator[None]:
    """Registered the way a third party would (the built-ins go through the same call)."""
    catalog.register(TOY)
    yield
    del catalog.REGISTRY["toy"]


def test_a_name_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already taken: toy"):
        catalog.register(TOY)
    clash = TOY._replace(slug="toy2", aliases=("verizon",))
    with pytest.raises(ValueError, match="verizon"):
        catalog.register(clash)


TOY_ARGS = ("--api-key", "k-123", "--base-url", base_url("toy"), "-t", "+61488023555")


def test_it_gets_a_subcommand_with_its_own_option_and_help(offline_cli: Cli) -> None:
    root = offline_cli("--help")
    assert "toy" in root.stdout and "Send an SMS through the toy API." in root.stdout
    text = offline_cli("toy", "--help").stdout
    for flag in ("--volume", "--api-key", "--to", "--dry-run"):
        assert flag in text


def test_smscli_providers_lists_it(offline_cli: Cli) -> None:
    rows = offline_cli("providers", "--json").json()["providers"]
    assert rows[-1]["slug"] == "toy"
    assert rows[-1]["fields"] == ["api_key*"]


def test_a_send_through_its_emulator(cli: Cli) -> None:
    res = cli("toy", *TOY_ARGS, "--volume", "2", "--json", "Hello toy")
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    assert result["provider"] == "toy" and result["status"] == "accepted"
    [stored] = cli.sandbox.messages()
    assert stored["provider"] == "toy" and stored["text"] == "Hello toy"
    assert stored["fields"]["volume"] == 2
    assert cli.recorder.paths() == ["POST /toy/messages"]


def test_send_with_provider_and_sandbox_works_too(cli: Cli) -> None:
    res = cli("send", "--provider", "toy", "--sandbox", "--api-key", "k-123",
              "-t", "+61488023555", "--no-history", "--json", "Hi")  # fmt: skip
    assert res.exit_code == 0, res.output


def test_its_option_is_checked_like_any_other(offline_cli: Cli) -> None:
    res = offline_cli("toy", *TOY_ARGS, "--volume", "9", "Hi")
    assert res.exit_code == ExitCode.USAGE
    assert "--volume 9" in res.output


def test_shared_options_it_cannot_honour_are_refused(offline_cli: Cli) -> None:
    res = offline_cli("toy", *TOY_ARGS, "--from", "Acme", "Hi")
    assert res.exit_code == ExitCode.INVALID
    assert "fonedynamics" in res.output  # names the providers that support --from


def test_config_validates_its_fields(offline_cli: Cli) -> None:
    res = offline_cli("toy", "--base-url", base_url("toy"), "-t", "+61488023555", "Hi")
    assert res.exit_code == ExitCode.CONFIG
    assert "api_key" in res.output or "--api-key" in res.output


def test_the_python_api_accepts_its_extra_and_refuses_others() -> None:
    from smscli.sandbox.server import Sandbox

    sandbox = Sandbox()
    client = Client(
        provider="toy",
        base_url=base_url("toy"),
        credentials={"api_key": "k-123"},
        transport=sandbox.transport(),
        history=False,
    )
    report = client.send("Hi", to="+61488023555", extra={"volume": "3"})
    assert report.ok, report
    assert sandbox.messages()[0]["fields"]["volume"] == 3
    with pytest.raises(UsageError, match="toy has no option 'dcs'"):
        client.send("Hi", to="+61488023555", extra={"dcs": 8})
