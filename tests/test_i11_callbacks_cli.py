"""Issue 11: `smscli callbacks register|list|delete` through the installed command against a
real `smscli sandbox` process, with a loopback receiver standing in for `smscli listen`:
what it registers makes the sandbox push the contract's callbacks there (ThingSpace with its
username/password, emnify with a JWT signed with the callback_secret). The providers that
register nothing by API say where instead (exit 4); exit codes; no secret ever shown."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.callback_receiver import Receiver, receiver
from tests.conftest import SCRIPT, Cli, free_port, write_config
from tests.test_i11_sandbox_pushes import unique_digits, verify_hs256

__all__ = ["receiver"]  # the fixture, used by name


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip


def profile(home: Path, slug: str, base: str, **fields: str) -> None:
    lines = ['default_profile = "p"', "[profiles.p]", f'provider = "{slug}"',
             f'base_url = "{base}/{slug}"']  # fmt: skip
    lines += [f'{k} = "{v}"' for k, v in fields.items()]
    write_config(home, "\n".join(lines) + "\n")


def no_secret(done: subprocess.CompletedProcess[str], *values: str) -> None:
    for value in values:
        assert value not in done.stdout and value not in done.stderr
    assert "Traceback" not in done.stderr


def test_emnify_register_list_delete_and_the_pushes(
    sandbox_process: str, receiver: Receiver, isolated: Path
) -> None:
    secret = "cb-" + secrets.token_hex(8)
    profile(isolated, "emnify", sandbox_process, application_token="t", callback_secret=secret)
    done = run("callbacks", "register", "--url", f"{receiver.url}/emnify", "--json", "-v")
    assert done.returncode == 0, done.stderr
    no_secret(done, secret)
    registered = json.loads(done.stdout)
    kinds = {c["kind"]: c for c in registered["callbacks"]}
    assert kinds["api_callback"]["url"] == f"{receiver.url}/emnify"
    assert kinds["api_secret"]["id"]
    assert "--service-profile" in registered["hint"]
    callback_id, secret_id = kinds["api_callback"]["id"], kinds["api_secret"]["id"]
    try:
        listed = run("callbacks", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        no_secret(listed, secret)
        ids = {(c["kind"], c["id"]) for c in json.loads(listed.stdout)["callbacks"]}
        assert {("api_callback", callback_id), ("api_secret", secret_id)} <= ids
        human = run("callbacks", "list")
        assert human.returncode == 0 and f"api_callback {callback_id}" in human.stdout

        endpoint = unique_digits(5) + "1"
        sent = run("send", "-t", f"endpoint:{endpoint}", "--json", "status?")
        assert sent.returncode == 0, sent.stderr
        got = receiver.wait_for(lambda r: r.json()["endpoint"]["id"] == int(endpoint), count=2)
        assert {r.method for r in got} == {"POST", "PATCH"}
        for request in got:
            verify_hs256(request.headers["authorization"].removeprefix("Bearer "), secret)
    finally:
        gone = run("callbacks", "delete", callback_id)
        assert gone.returncode == 0, gone.stderr
        assert gone.stdout.strip() == f"deleted api_callback {callback_id}"
        assert run("callbacks", "delete", f"api_secret:{secret_id}").returncode == 0
    again = run("callbacks", "delete", "--json", callback_id)
    assert again.returncode == 4
    assert json.loads(again.stdout)["error"]["code"] == "unknown_callback"
    bad = run("callbacks", "delete", "nope")
    assert bad.returncode == 4 and bad.stderr.startswith("error: not an emnify callback id")


def test_thingspace_register_list_delete_and_the_pushes(
    sandbox_process: str, receiver: Receiver, isolated: Path
) -> None:
    secret = "ts-" + secrets.token_hex(8)
    account = f"{secrets.randbelow(10**10):010d}-00001"
    profile(isolated, "thingspace", sandbox_process, client_id="k", client_secret="s",
            username="u", password="p", account_name=account,
            callback_secret=secret)  # fmt: skip
    done = run("callbacks", "register", "--url", f"{receiver.url}/thingspace")
    assert done.returncode == 0, done.stderr
    no_secret(done, secret)
    assert done.stdout.splitlines() == [
        f"registered SMSDeliveryConfirmation (account {account}) → {receiver.url}/thingspace",
        f"registered EnhancedConnectivityService (account {account}) → {receiver.url}/thingspace",
    ]
    # The receiver's port is none of the documented ones: warned, registered anyway.
    assert "warning: ThingSpace sends callbacks only to ports 80, 443" in done.stderr
    listed = run("callbacks", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    no_secret(listed, secret)
    items = json.loads(listed.stdout)["callbacks"]
    assert sorted(c["service"] for c in items) == [
        "EnhancedConnectivityService",
        "SMSDeliveryConfirmation",
    ]
    assert all(c["username"] == "smscli" and "password" not in c for c in items)

    iccid = "8914800000" + unique_digits(10)
    sent = run("send", "-t", f"iccid:{iccid}", "--json", "status?")
    assert sent.returncode == 0, sent.stderr
    request_id = json.loads(sent.stdout)["results"][0]["request_id"]
    got = receiver.wait_for(lambda r: r.json()["deviceIds"][0]["id"] == iccid, count=3)
    assert all(r.json()["username"] == "smscli" and r.json()["password"] == secret for r in got)
    receipt = next(r.json() for r in got if "deviceResponse" in r.json())
    assert receipt["requestId"] == request_id
    assert receipt["deviceResponse"]["smsDeliveryResponse"]["confirmation"] == "Delivered"
    assert any(r.json().get("message") == "ACK: status?" for r in got)

    one = run("callbacks", "delete", "SMSDeliveryConfirmation", "-q")
    assert one.returncode == 0 and one.stdout.strip() == "SMSDeliveryConfirmation"
    assert run("callbacks", "delete", "EnhancedConnectivityService").returncode == 0
    assert json.loads(run("callbacks", "list", "--json").stdout)["callbacks"] == []
    refused = run("callbacks", "delete", "SMSDeliveryConfirmation")
    assert refused.returncode == 5
    assert refused.stderr.startswith("error: ThingSpace refused the removal")


def test_thingspace_one_service_and_its_checks(
    sandbox_process: str, receiver: Receiver, isolated: Path
) -> None:
    account = f"{secrets.randbelow(10**10):010d}-00001"
    fields = {"client_id": "k", "client_secret": "s", "username": "u", "password": "p"}
    profile(isolated, "thingspace", sandbox_process, **fields)
    url = f"{receiver.url}/thingspace"
    missing = run("callbacks", "register", "--url", url)
    assert missing.returncode == 3 and "account_name" in missing.stderr
    done = run("callbacks", "register", "--url", url, "--account-name", account,
               "--service", "smsdeliveryconfirmation", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    [item] = json.loads(done.stdout)["callbacks"]
    assert item["service"] == "SMSDeliveryConfirmation" and item["account_name"] == account
    bogus = run("callbacks", "register", "--url", url, "--account-name", account,
                "--service", "DeviceUsage")  # fmt: skip
    assert bogus.returncode == 2 and "--service must be" in bogus.stderr
    run("callbacks", "delete", "SMSDeliveryConfirmation", "--account-name", account)


@pytest.mark.parametrize(
    ("slug", "where"),
    [
        ("csl", "SMS Post Services"),
        ("telit", "smscli listen --telit-template"),
        ("fonedynamics", "--receipt-webhook"),
    ],
)
def test_providers_that_register_nothing_by_api_say_where(slug: str, where: str) -> None:
    for action in (["register", "--url", "https://h.example/x"], ["list"], ["delete", "1"]):
        done = run("callbacks", *action, "--provider", slug)
        assert done.returncode == 4, done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith("error: ") and where in line
    as_json = run("callbacks", "list", "--provider", slug, "--json")
    assert json.loads(as_json.stdout)["error"]["code"] == "callbacks_unsupported"


def test_usage_and_reachability(isolated: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    profile(isolated, "emnify", base, application_token="t")
    for args, message in (
        (["--url", "ftp://x"], "--url must be an http or https URL"),
        (["--url", "http://h/x", "--service", "SMSDeliveryConfirmation"], "--service is not"),
    ):
        done = run("callbacks", "register", *args)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
    unreachable = run("callbacks", "list", "--json")
    assert unreachable.returncode == 6
    assert json.loads(unreachable.stdout)["error"]["exit_code"] == 6
    no_profile = run("callbacks", "list", "--config", str(isolated / "none.toml"))
    assert no_profile.returncode == 3


def test_emnify_service_profile_in_process(cli: Cli, isolated: Path) -> None:
    """--service-profile attaches the new callback and secret (in-process sandbox)."""
    secret = "sp-" + secrets.token_hex(6)
    base = "http://sandbox.test"
    profile(isolated, "emnify", base, application_token="t", callback_secret=secret)
    done = cli("callbacks", "register", "--url", "https://hooks.example/emnify",
               "--service-profile", "1", "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert secret not in done.output
    data: dict[str, Any] = done.json()
    assert "hint" not in data
    assert {c["service_profile"] for c in data["callbacks"]} == {"1"}
    emulator: Any = cli.sandbox.emulator("emnify")
    assert emulator._push_target() == ("https://hooks.example/emnify", secret)
    assert "PATCH /emnify/api/v1/service_profile/1" in cli.recorder.paths()
    unknown = cli("callbacks", "register", "--url", "https://h.example/", "--service-profile",
                  "x1")  # fmt: skip
    assert unknown.exit_code == 4, unknown.output


def test_a_callback_secret_given_by_reference_is_registered(cli: Cli, isolated: Path) -> None:
    """callback_secret = {env = …}: a send never resolves it (listen_only), registering does."""
    account = "0000123456-00001"
    write_config(isolated, "\n".join([
        'default_profile = "p"', "[profiles.p]", 'provider = "thingspace"',
        'base_url = "http://sandbox.test/thingspace"', 'client_id = "k"', 'client_secret = "s"',
        'username = "u"', 'password = "p"', f'account_name = "{account}"',
        'callback_secret = { env = "MY_CALLBACK_PW" }', 'callback_username = "hooks"',
    ]) + "\n")  # fmt: skip
    done = cli("callbacks", "register", "--url", "https://h.example/thingspace", "--json",
               MY_CALLBACK_PW="pw-from-env")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "pw-from-env" not in done.output
    emulator: Any = cli.sandbox.emulator("thingspace")
    registered = emulator.callbacks[(account, "SMSDeliveryConfirmation")]
    assert registered == {
        "url": "https://h.example/thingspace",
        "username": "hooks",
        "password": "pw-from-env",
    }


def test_the_callback_secret_flag_is_registered_and_never_shown(cli: Cli) -> None:
    done = cli("callbacks", "register", "--provider", "emnify", "--application-token", "t",
               "--base-url", "http://sandbox.test/emnify", "--callback-secret", "flag-secret",
               "--url", "https://h.example/emnify", "-v")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "flag-secret" not in done.output  # the -v trace of the POST included
    emulator: Any = cli.sandbox.emulator("emnify")
    assert [s["secret"] for s in emulator.api_secrets.values()] == ["flag-secret"]


def test_a_password_in_the_urls_user_info_is_never_shown(cli: Cli) -> None:
    """`--url https://hook:PW@h.example/emnify`: the listener's basic-auth password is
    registered as given and masked in everything printed (-v and --json too)."""
    url = "https://hook:Url-Pass-7731@h.example/emnify"
    for extra in (["-v"], ["--json"]):
        done = cli("callbacks", "register", "--provider", "emnify", "--application-token",
                   "t", "--base-url", "http://sandbox.test/emnify", "--url", url, *extra)  # fmt: skip
        assert done.exit_code == 0, done.output
        assert "Url-Pass-7731" not in done.output, extra
    emulator: Any = cli.sandbox.emulator("emnify")
    assert url in [c["url"] for c in emulator.api_callbacks.values()]
