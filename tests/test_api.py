"""The Python API (`smscli.send`, `smscli.status`, `smscli.Client`): the CLI's pipeline,
against the in-process sandbox on a fake clock and once over real HTTP; prints nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import smscli
from smscli.api import Client, SendReport, send, status
from smscli.errors import (
    ConfigError,
    ExitCode,
    InputError,
    OutcomeUnknown,
    ProviderRefused,
    SmscliError,
    UsageError,
)
from smscli.models import SendResult, Status
from smscli.sandbox.server import Sandbox
from tests.conftest import RESULT_KEYS, Recorder, base_url, write_config

FD_CREDS = {"account_sid": "AC123", "token": "Tok3n-S3cr3t!", "property_sid": "PR456"}
PHONE = "+61488023555"
REFUSED = "+61488000400"  # sandbox magic suffix 0400: the provider refuses it


class Env:
    """The in-process sandbox behind an httpx.MockTransport, on a fake clock."""

    def __init__(self) -> None:
        self.now = [time.time()]
        self.sandbox = Sandbox(clock=lambda: self.now[0])
        inner = self.sandbox.transport()
        self.recorder = Recorder(inner.handle_request)
        self.transport = httpx.MockTransport(self.recorder)

    def sleep(self, seconds: float) -> None:
        self.now[0] += seconds

    def client(self, slug: str = "fonedynamics", **kwargs: object) -> Client:
        settings: dict[str, object] = {
            "provider": slug,
            "base_url": base_url(slug),
            "credentials": FD_CREDS if slug == "fonedynamics" else None,
        }
        settings.update(kwargs)
        return Client(
            transport=self.transport,
            clock=lambda: self.now[0],
            sleep=self.sleep,
            **settings,  # type: ignore[arg-type]
        )


@pytest.fixture
def env() -> Env:
    return Env()


def test_a_single_send_returns_accepted_results_with_message_ids(env: Env) -> None:
    report = env.client().send("Hello", to=PHONE, ref="r-1", sender="MyShop")
    assert isinstance(report, SendReport)
    assert report.ok and report.exit_code is ExitCode.OK
    [result] = report.results
    assert isinstance(result, SendResult)
    assert result.status is Status.ACCEPTED
    assert result.message_id and result.message_id.startswith("M")
    assert result.target == f"msisdn:{PHONE}"
    assert result.reference == "r-1"
    assert result.provider == "fonedynamics"
    assert report.summary == {"total": 1, "accepted": 1, "failed": 0, "skipped": 0}
    assert report.batch
    assert report.failed == []
    [req] = env.recorder.requests
    assert req.url.path == "/fonedynamics/v2/Properties/PR456/Messages"
    assert json.loads(req.content)["Text"] == "Hello"


def test_results_are_the_cli_result_objects(env: Env) -> None:
    [result] = env.client().send("Hello", to=PHONE).results
    data = result.to_json()
    assert set(data) >= RESULT_KEYS
    assert data["status"] == "accepted"
    assert data["encoding"] == "gsm7" and data["segments"] == 1
    json.dumps(data)  # plain JSON, as `--json` prints it


def test_several_targets_with_one_refused_exit_9_and_the_failure_is_a_result(env: Env) -> None:
    report = env.client().send("Hi", to=[PHONE, REFUSED, "+61488023556"], concurrency=1)
    assert report.exit_code is ExitCode.PARTIAL
    assert not report.ok
    assert report.summary["total"] == 3
    assert report.summary["accepted"] == 2 and report.summary["failed"] == 1
    by_target = {r.target: r for r in report.results}
    bad = by_target[f"msisdn:{REFUSED}"]
    assert bad.status is Status.REJECTED
    assert bad.error is not None and bad.error["exit_code"] == ExitCode.REFUSED
    assert report.failed == [bad]
    assert by_target[f"msisdn:{PHONE}"].status is Status.ACCEPTED


def test_a_single_refused_send_raises_the_pipeline_error(env: Env) -> None:
    with pytest.raises(ProviderRefused) as exc:
        env.client().send("Hi", to=REFUSED)
    assert exc.value.exit_code == ExitCode.REFUSED


def test_missing_credentials_raise_config_error_naming_every_field(env: Env) -> None:
    with pytest.raises(ConfigError) as exc:
        env.client(credentials=None).send("Hi", to=PHONE)
    err = exc.value
    assert err.exit_code == ExitCode.CONFIG
    assert int(err.exit_code) == 3
    assert err.code == "credential_missing"
    for name in ("account_sid", "token", "property_sid"):
        assert name in err.message
    assert "SMSCLI_FONEDYNAMICS_TOKEN" in err.message
    assert env.recorder.requests == []


def test_no_profile_and_no_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as exc:
        send("Hi", to=PHONE)
    assert exc.value.code == "no_profile"
    assert exc.value.exit_code == 3


def test_credentials_from_a_profile_and_env(
    env: Env, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        isolated,
        f'default_profile = "shop"\n[profiles.shop]\nprovider = "fonedynamics"\n'
        f'base_url = "{base_url("fonedynamics")}"\naccount_sid = "AC9"\nproperty_sid = "PR9"\n'
        'token = {env = "FD_TOKEN"}\n',
    )
    monkeypatch.setenv("FD_TOKEN", "from-env")
    client = Client(transport=env.transport, clock=lambda: env.now[0], sleep=env.sleep)
    report = client.send("Hi", to=PHONE)
    assert report.ok
    assert report.results[0].profile == "shop"
    [req] = env.recorder.requests
    assert req.url.path == "/fonedynamics/v2/Properties/PR9/Messages"


def test_a_bad_target_raises_input_error_before_any_request(env: Env) -> None:
    with pytest.raises(InputError) as exc:
        env.client().send("Hi", to=[PHONE, "iccid:8988303000006734768"])
    assert exc.value.exit_code == ExitCode.INVALID
    assert int(exc.value.exit_code) == 4
    assert "target 2" in exc.value.message
    assert env.recorder.requests == []


def test_local_message_checks_raise_input_error(env: Env) -> None:
    with pytest.raises(InputError):
        env.client().send("", to=PHONE)
    with pytest.raises(InputError) as exc:
        env.client().send("x" * 400, to=PHONE, max_segments=1)
    assert exc.value.exit_code == 4
    with pytest.raises(InputError) as exc:
        env.client("emnify").send("Hi", to="endpoint:1001", at="+1h")
    assert exc.value.code == "unsupported_option"
    assert env.recorder.requests == []


def test_idempotency_key_reuse_returns_the_same_message_without_a_request(env: Env) -> None:
    client = env.client()
    first = client.send("Hi", to=PHONE, idempotency_key="order-42")
    assert len(env.recorder.requests) == 1
    second = client.send("Hi", to=PHONE, idempotency_key="order-42")
    assert len(env.recorder.requests) == 1
    assert second.ok
    assert second.results[0].message_id == first.results[0].message_id


def test_idempotency_key_with_an_unknown_outcome_raises_unless_forced(env: Env) -> None:
    client = env.client()
    slow = "+61488000444"  # dropped connection: outcome unknown
    with pytest.raises(OutcomeUnknown):
        client.send("Hi", to=slow, idempotency_key="k")
    with pytest.raises(OutcomeUnknown) as exc:
        client.send("Hi", to=slow, idempotency_key="k")
    assert exc.value.code == "idempotency_unknown"
    assert exc.value.exit_code == 7


def test_wait_returns_delivered(env: Env) -> None:
    start, real_start = env.now[0], time.monotonic()
    report = env.client().send("Hi", to=PHONE, wait="30s")
    assert report.exit_code is ExitCode.OK
    [result] = report.results
    assert result.status is Status.DELIVERED
    assert 2 <= env.now[0] - start <= 30  # the fake clock moved...
    assert time.monotonic() - real_start < 2  # ...not real time


def test_wait_in_seconds_and_a_failed_delivery_exit_8(env: Env) -> None:
    report = env.client().send("Hi", to="+61488000410", wait=30)
    assert report.exit_code is ExitCode.DELIVERY_FAILED
    assert report.results[0].status is Status.FAILED
    assert not report.ok


def test_bad_arguments_are_usage_errors(env: Env) -> None:
    client = env.client()
    with pytest.raises(UsageError):
        client.send("Hi", to=PHONE, concurrency=0)
    with pytest.raises(UsageError):
        client.send("Hi", to=PHONE, timeout=0)
    with pytest.raises(UsageError):
        client.send("-", to=PHONE)  # the API never reads stdin
    with pytest.raises(UsageError, match="unknown credential 'tokn'"):
        env.client(credentials={**FD_CREDS, "tokn": "x"}).send("Hi", to=PHONE)
    with pytest.raises(UsageError):  # a malformed value is a usage error (issue 9)
        client.send("Hi", to=PHONE, wait=-1)
    assert env.recorder.requests == []


def test_extra_uses_the_provider_options_of_the_cli(env: Env) -> None:
    client = env.client()
    client.send("Hi", to=PHONE, extra={"delivery_receipt": False})
    body = json.loads(env.recorder.requests[-1].content)
    assert body["DeliveryReceipt"] is False
    with pytest.raises(UsageError, match="no option 'dcs'"):
        client.send("Hi", to=PHONE, extra={"dcs": 8})
    with pytest.raises(UsageError):
        client.send("Hi", to=PHONE, extra={"receipt_method": "PUT"})


def test_bytes_are_sent_as_binary_data(env: Env) -> None:
    client = env.client("telit", credentials={"app_id": "a", "app_token": "t", "thing_key": "k"})
    report = client.send(b"\x01\x02\xff", to="imei:490154203237518")
    assert report.ok
    assert report.results[0].encoding == "binary"


def test_warnings_are_collected_not_printed(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    report = env.client().send("Hi", to=[PHONE, PHONE])
    assert report.ok
    assert any("duplicate" in w for w in report.warnings)
    assert len(report.results) == 1
    smart = env.client().send("It’s on", to=PHONE, smart=True)
    assert any("--smart" in n for n in smart.notes)
    assert smart.results[0].encoding == "gsm7"
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_nothing_is_printed_on_success_or_failure(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = env.client()
    with pytest.raises(SmscliError):
        env.client(credentials=None).send("Hi", to=PHONE)
    sent = client.send("Hi", to=PHONE, wait="10s").results[0]
    client.send("Hi", to=[PHONE, REFUSED])
    with pytest.raises(SmscliError):
        client.send("Hi", to="nonsense")
    fd_env(monkeypatch)
    assert sent.message_id
    client.status(sent.message_id)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_secrets_never_appear_in_warnings_or_results(env: Env) -> None:
    secret = FD_CREDS["token"]
    report = env.client().send("Hi", to=[PHONE, REFUSED])
    text = json.dumps([r.to_json() for r in report.results]) + " ".join(report.warnings)
    assert secret not in text
    assert secret not in repr(env.client())


def test_on_result_sees_each_result_as_it_completes(env: Env) -> None:
    seen: list[SendResult] = []
    report = env.client().send("Hi", to=[PHONE, "+61488023556"], on_result=seen.append)
    assert sorted(r.target for r in seen) == sorted(r.target for r in report.results)


def fd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sent without a profile: `status` finds the provider's credentials in env vars."""
    for name, value in FD_CREDS.items():
        monkeypatch.setenv(f"SMSCLI_FONEDYNAMICS_{name.upper()}", value)


def test_status_of_the_last_send_and_of_an_id(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    client = env.client()
    sent = client.send("Hi", to=PHONE).results[0]
    assert sent.message_id
    fd_env(monkeypatch)
    env.sleep(5)
    result = client.status(last=True)
    assert isinstance(result, SendResult)
    assert result.status is Status.DELIVERED
    assert result.message_id == sent.message_id
    assert result.details["history_id"] == 1
    again = client.status(sent.message_id)
    assert again.status is Status.DELIVERED


def test_status_wait_polls_until_final(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    client = env.client()
    client.send("Hi", to="+61488000410")  # magic 0410: accepted, then delivery fails
    fd_env(monkeypatch)
    result = client.status(last=True, wait="1m")
    assert result.status is Status.FAILED


def test_batch_status_waits_for_every_message_of_a_send(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = env.client()
    sent = client.send("Hi", to=[PHONE, "+61488000410"])
    assert sent.ok and sent.batch
    fd_env(monkeypatch)
    report = client.batch_status(sent.batch, wait="1m")
    assert isinstance(report, SendReport)
    assert report.exit_code is ExitCode.PARTIAL
    statuses = {r.target: r.status for r in report.results}
    assert statuses == {f"msisdn:{PHONE}": Status.DELIVERED, "msisdn:+61488000410": Status.FAILED}
    assert report.batch == sent.batch


def test_status_errors_are_raised() -> None:
    with pytest.raises(InputError) as exc:
        status(last=True)
    assert exc.value.code == "not_found"
    with pytest.raises(UsageError):
        status()


def test_history_off_records_nothing(env: Env, isolated: Path) -> None:
    env.client(history=False).send("Hi", to=PHONE)
    assert not (isolated / "data" / "history.sqlite3").exists()


def test_module_level_send_over_real_http(sandbox_process: str) -> None:
    report = send(
        "Hello over HTTP",
        to="endpoint:1001",
        provider="emnify",
        base_url=f"{sandbox_process}/emnify",
        credentials={"application_token": "any-token"},
    )
    assert report.ok
    [result] = report.results
    assert result.status is Status.ACCEPTED
    assert result.message_id
    received = httpx.get(f"{sandbox_process}/_sandbox/messages").json()["messages"]
    assert any(m["text"] == "Hello over HTTP" for m in received)


def test_lazy_attributes_of_the_package() -> None:
    assert smscli.send is send
    assert smscli.status is status
    assert smscli.Client is Client
    assert smscli.SendReport is SendReport
    assert {"send", "status", "Client", "SendReport", "__version__"} <= set(smscli.__all__)
    with pytest.raises(AttributeError):
        _ = smscli.nothing_here


def test_import_smscli_and_cli_start_up_do_not_load_the_api() -> None:
    code = (
        "import sys\n"
        "import smscli.cli\n"
        "assert 'smscli.api' not in sys.modules, 'cli imported smscli.api'\n"
        "import smscli\n"
        "assert 'smscli.api' not in sys.modules, 'import smscli loaded the api'\n"
        "from smscli import send, Client\n"
        "assert 'smscli.api' in sys.modules\n"
        "assert send.__module__ == 'smscli.api'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_ctrl_c_during_a_send_returns_exit_130_and_resume_sends_the_rest(env: Env) -> None:
    import os
    import signal

    targets = [f"+614880236{n:02d}" for n in range(20)]
    seen: list[str] = []

    def interrupt_at_the_third(result: SendResult) -> None:
        seen.append(result.target.removeprefix("msisdn:"))
        if len(seen) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    client = env.client()
    report = client.send(
        "hello", to=targets, rate=0, concurrency=2, on_result=interrupt_at_the_third
    )
    assert report.exit_code is ExitCode.INTERRUPTED
    assert report.batch
    assert 3 <= report.summary["accepted"] < len(targets)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    sent = {m["target"] for m in env.sandbox.messages()}
    assert sent == set(seen)  # whatever went out was reported

    rest = client.send("hello", to=targets, rate=0, resume=report.batch)
    assert rest.exit_code is ExitCode.OK
    assert {r.target.removeprefix("msisdn:") for r in rest.results} == set(targets) - sent
    assert sorted(m["target"] for m in env.sandbox.messages()) == sorted(targets)
