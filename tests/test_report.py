"""The reporting interface (smscli.report.Reporter) and the Runner's budget: the Python API
collects events instead of silencing the renderer; one target starts no thread; targets in
flight and --concurrency are bounded."""

from __future__ import annotations

import inspect
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from smscli.api import Collector
from smscli.output import Output
from smscli.pipeline import runner
from smscli.pipeline.runner import RateLimiter
from smscli.pipeline.sending import CONCURRENCY_PER_CPU, capped_concurrency
from smscli.report import Reporter
from tests.conftest import Cli, base_url
from tests.test_api import PHONE, REFUSED, Env, fd_env

EM = ["emnify", "--base-url", base_url("emnify"), "--application-token", "T0ken"]


def events() -> set[str]:
    """The names the Reporter protocol declares (its events and the redactor)."""
    return {
        name
        for name, _ in inspect.getmembers(Reporter)
        if not name.startswith("_") and name in Reporter.__dict__
    } | {"redactor"}


def test_reporter_declares_the_events_the_pipeline_needs() -> None:
    assert events() == {
        "redactor",
        "warning",
        "note",
        "trace",
        "wants_results",
        "result",
        "results",
        "statuses",
        "progress_start",
        "progress_advance",
        "progress_stop",
        "dry_run_requests",
        "checks",
    }


@pytest.mark.parametrize("cls", [Output, Collector])
def test_the_renderer_and_the_collector_implement_every_event(cls: type) -> None:
    instance = cls()
    for name in events():
        assert hasattr(instance, name), f"{cls.__name__} lacks {name}"
    for name in events() - {"redactor"}:
        ours = inspect.signature(getattr(cls, name)).parameters
        theirs = inspect.signature(getattr(Reporter, name)).parameters
        assert list(ours)[: len(theirs)] == list(theirs), name


def test_the_api_collector_is_not_a_silenced_renderer() -> None:
    """A method added to Output is not inherited by the collector: it cannot print from a
    library call (the old _Capture(Output) had to blank 14 methods by hand)."""
    assert not issubclass(Collector, Output)
    assert Output not in Collector.__mro__
    renderer_only = {n for n in dir(Output) if not n.startswith("_")} - events()
    assert renderer_only >= {"print", "json", "table", "error", "check_report"}
    assert not renderer_only & set(dir(Collector)) - {"results_seen", "summary", "batch"}


def test_library_calls_never_build_the_renderer_nor_print(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Warnings, notes, --wait, a refused target, an idempotent repeat and `status`: all
    reported to the collector; the renderer is never even created, nothing reaches
    stdout or stderr."""

    def no_renderer(self: Output, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a library call built the terminal renderer")

    env = Env()
    client = env.client()
    monkeypatch.setattr(Output, "__init__", no_renderer)
    duplicate = client.send("Hi", to=[PHONE, PHONE, REFUSED])
    assert any("duplicate" in w for w in duplicate.warnings)
    smart = client.send("It’s on", to=PHONE, smart=True, wait="30s", idempotency_key="k1")
    assert any("--smart" in n for n in smart.notes)
    assert smart.results[0].status.value == "delivered"
    again = client.send("It's on", to=PHONE, idempotency_key="k1")
    assert any("already accepted" in n for n in again.notes)
    fd_env(monkeypatch)
    assert client.status(last=True, wait="10s").status.value == "delivered"
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# -- one target: no thread ---------------------------------------------------------------------
@pytest.fixture
def no_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []

    def start(self: threading.Thread) -> None:
        started.append(self.name)
        raise AssertionError(f"thread {self.name} started for a single target")

    monkeypatch.setattr(threading.Thread, "start", start)
    return started


def test_a_single_target_is_sent_without_a_thread(cli: Cli, no_threads: list[str]) -> None:
    res = cli(*EM, "--to", "endpoint:17", "hi", "--json")
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["status"] == "accepted"
    assert no_threads == []


def test_a_single_api_send_with_wait_starts_no_thread(no_threads: list[str]) -> None:
    report = Env().client().send("Hi", to=PHONE, wait="30s")
    assert report.ok and no_threads == []


def test_many_targets_still_use_send_threads(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    names: list[str] = []
    start = threading.Thread.start

    def spy(self: threading.Thread) -> None:
        names.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", spy)
    targets = [a for n in range(1, 5) for a in ("--to", f"endpoint:{n}7")]
    res = cli(*EM, *targets, "--rate", "0", "hi", "--json")
    assert res.exit_code == 0, res.output
    assert any(n.startswith("smscli-send-") for n in names)


class Harness:
    """A Runner over a real history, sending jobs of ``size`` targets with a fake send."""

    def __init__(self, tmp_path: Path) -> None:
        from smscli.encoding import analyze
        from smscli.history import History
        from smscli.models import Message

        self.path = tmp_path / "history.sqlite3"
        self.history = History(self.path)
        self.message = Message(check=analyze("hi"))
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.send_threads: set[str] = set()

    def send(self, job: Any, targets: list[Any]) -> list[Any]:
        from smscli.models import SendResult, Status

        with self.lock:
            self.in_flight += len(targets)
            self.most = max(self.most, self.in_flight)
            self.send_threads.add(threading.current_thread().name)
        time.sleep(0.01)
        with self.lock:
            self.in_flight -= len(targets)
        return [SendResult("thingspace", None, str(t), Status.ACCEPTED) for t in targets]

    def runner(self, send: Any = None, **kwargs: Any) -> runner.Runner:
        from smscli.history import Attempt

        return runner.Runner(
            send or self.send,
            history=self.history,
            attempt=lambda job, t: Attempt("thingspace", None, "x", str(t), "hi", 1, "gsm7", None),
            limiter=RateLimiter(None),
            on_result=lambda r: None,
            keep_results=False,
            **kwargs,
        )

    def jobs(self, count: int, size: int) -> Any:
        from smscli.bulk import Job
        from smscli.models import Target

        return (
            Job([Target("iccid", f"89{n:04d}{k:014d}") for k in range(size)], self.message, n)
            for n in range(count)
        )

    def statuses(self) -> list[str]:
        db = sqlite3.connect(self.path)
        try:
            return [s for (s,) in db.execute("SELECT status FROM sends")]
        finally:
            db.close()


def test_targets_in_flight_are_bounded_for_batching_apis(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    outcome = h.runner(concurrency=4, max_targets=5).run(h.jobs(12, size=3))
    h.history.close()
    assert outcome.counts["accepted"] == 36
    assert h.most <= 5  # two jobs of 3 never together, though 4 threads could send them


def test_a_job_larger_than_the_bound_still_goes_alone(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    outcome = h.runner(concurrency=4, max_targets=5).run(h.jobs(3, size=8))
    h.history.close()
    assert outcome.counts["accepted"] == 24
    assert h.most == 8


def test_inline_run_sends_from_the_calling_thread(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    outcome = h.runner(concurrency=4, inline=True).run(h.jobs(1, size=1))
    h.history.close()
    assert outcome.counts["accepted"] == 1
    assert h.send_threads == {threading.current_thread().name}


def test_inline_second_ctrl_c_stops_waiting_for_the_request(tmp_path: Path) -> None:
    """As with send threads: the first Ctrl-C lets the request finish, the second stops
    waiting for it; its history row stays `unknown` and the outcome counts it."""
    h = Harness(tmp_path)
    waited: list[float] = []

    def stuck(job: Any, targets: list[Any]) -> list[Any]:
        os.kill(os.getpid(), signal.SIGINT)  # the first: the request goes on
        second = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        second.start()
        started = time.monotonic()
        try:
            time.sleep(5)  # the second Ctrl-C ends this at once
        finally:
            waited.append(time.monotonic() - started)
        raise AssertionError("not reached")

    outcome = h.runner(stuck, concurrency=4, inline=True).run(h.jobs(1, size=1))
    h.history.close()
    assert outcome.interrupted and outcome.abandoned == 1
    assert waited and 0.1 < waited[0] < 2
    assert h.statuses() == ["unknown"]


# -- --concurrency on few CPUs -----------------------------------------------------------------
def test_concurrency_is_capped_per_cpu_and_the_lowering_is_said() -> None:
    out = Collector()
    assert capped_concurrency(64, out, cpus=2) == 2 * CONCURRENCY_PER_CPU
    assert "--concurrency 64 lowered to 8" in out.warnings[0]
    assert capped_concurrency(8, out, cpus=2) == 8
    assert capped_concurrency(4, out, cpus=1) == 4  # the default is never lowered
    assert len(out.warnings) == 1


def test_cli_warns_when_it_lowers_concurrency(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    targets = [a for n in range(1, 4) for a in ("--to", f"endpoint:{n}7")]
    res = cli(*EM, *targets, "--rate", "0", "--concurrency", "32", "hi", "--json")
    assert res.exit_code == 0, res.output
    assert "--concurrency 32 lowered to 4" in res.stderr
