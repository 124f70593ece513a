"""Shared fixtures: an isolated home for every test, and a CLI runner that cannot reach
the network (the default transport fails the test on any request it was not told about)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from smscli.cli import app
from smscli.pipeline import Runtime
from smscli.sandbox.server import Sandbox

SCRIPT = str(Path(sys.executable).with_name("smscli"))
# Read before any test runs (the `isolated` fixture removes every SMSCLI_* variable).
POSTGRES_URL = os.environ.get("SMSCLI_TEST_POSTGRES_URL")
POSTGRES_OFF = os.environ.get("SMSCLI_TEST_POSTGRES", "").lower() == "off"
POSTGRES_OFF_REASON = "the PostgreSQL tests are turned off: SMSCLI_TEST_POSTGRES=off"
# Every RESULT carries these keys (SPEC §4), null when the provider does not say.
RESULT_KEYS = {
    "provider",
    "profile",
    "target",
    "status",
    "message_id",
    "request_id",
    "uuid",
    "reference",
    "date",
    "segments",
    "encoding",
    "parts",
    "error",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config, history and token cache, and no SMSCLI_* from outside."""
    for name in list(os.environ):
        # Proxy variables in any case: with one set, real requests (end-to-end tests)
        # would go to the proxy instead of the sandbox.
        if name.startswith("SMSCLI_") or name.lower() in (
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
        ):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SMSCLI_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("SMSCLI_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("SMSCLI_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return home


def refuse_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected HTTP request: {request.method} {request.url}")


@dataclass
class Recorder:
    """An httpx transport handler that records every request and delegates to ``handler``."""

    handler: Callable[[httpx.Request], httpx.Response] = refuse_network
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Cli:
    """Runs `smscli ARGS` in-process against an in-process sandbox (no sockets)."""

    sandbox: Sandbox
    recorder: Recorder
    clock: list[float]

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        runtime = Runtime(
            transport=httpx.MockTransport(self.recorder),
            clock=lambda: self.clock[0],
            sleep=self.advance,
        )
        runner = CliRunner()
        res = runner.invoke(app, list(args), obj=runtime, input=input, env=env or None)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        return Result(res.exit_code, res.stdout, res.stderr, res.exception)

    def advance(self, seconds: float) -> None:
        self.clock[0] += seconds


@pytest.fixture
def cli() -> Cli:
    """`cli(...)` with the sandbox answering at http://sandbox.test/<slug>, on a fake clock."""
    clock = [time.time()]
    sandbox = Sandbox(clock=lambda: clock[0])

    def handler(request: httpx.Request) -> httpx.Response:
        return sandbox.transport().handle_request(request)

    return Cli(sandbox, Recorder(handler), clock)


@pytest.fixture
def offline_cli() -> Cli:
    """`cli(...)` whose every HTTP request fails the test."""
    clock = [time.time()]
    return Cli(Sandbox(), Recorder(), clock)


def base_url(slug: str) -> str:
    return f"http://sandbox.test/{slug}"


def write_config(home: Path, text: str) -> Path:
    path = home / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 where a TCP connect hangs: a listener whose accept queue is full
    (nobody accepts, a few connects fill it), so the kernel drops every further SYN."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        for _ in range(4):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        time.sleep(0.02)
        with socket.socket() as probe:  # the precondition: a connect really hangs
            probe.settimeout(0.1)
            with pytest.raises(TimeoutError):
                probe.connect(("127.0.0.1", port))
        yield port


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a byte (nor closes)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]  # the kernel completes the connects: never accepted


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `smscli sandbox` process on a free loopback port: its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCLI_")}
    log_path = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [SCRIPT, "sandbox", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/_sandbox/messages", timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None:
                log.close()
                raise RuntimeError(log_path.read_text()) from None
            time.sleep(0.1)
    else:
        proc.kill()
        log.close()
        raise RuntimeError("smscli sandbox did not start: " + log_path.read_text())
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the tests: ``SMSCLI_TEST_POSTGRES_URL`` (`.ci/run` starts one),
    else one started here (tests/pg_server.py) for the session. None can be started: every
    PostgreSQL test FAILS, saying why; only ``SMSCLI_TEST_POSTGRES=off`` skips them."""
    if POSTGRES_OFF:
        pytest.skip(POSTGRES_OFF_REASON)
    if POSTGRES_URL:
        yield POSTGRES_URL
        return
    from tests import pg_server

    directory = pg_server.temp_dir()
    try:
        url = pg_server.start(directory)
    except (pg_server.Unavailable, OSError, KeyError, subprocess.SubprocessError) as exc:
        pg_server.stop(directory)
        pytest.fail(
            f"cannot start a PostgreSQL server for the tests: {exc}. Install the server "
            "(initdb, pg_ctl), or set SMSCLI_TEST_POSTGRES_URL=postgresql://… to one, or "
            "SMSCLI_TEST_POSTGRES=off to skip the PostgreSQL tests",
            pytrace=False,
        )
    try:
        yield url
    finally:
        pg_server.stop(directory)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A history_url of a fresh, empty schema on the test server (its ``search_path`` in
    the URL's options), dropped after the test."""
    import secrets

    import psycopg

    schema = "t_" + secrets.token_hex(6)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{joiner}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


STORES = ["sqlite", "postgres"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Both history stores, one behaviour: a factory of History objects on one fresh
    database (each call: another process's connection to it)."""
    from smscli.history import History

    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return lambda **kw: History(None, url=url, **kw)
    path = tmp_path / "data" / "history.sqlite3"
    return lambda **kw: History(path, **kw)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test fails the run: this suite skips nothing, so a skip means a broken
    environment (a missing tool, an unreachable sandbox) that must not pass as green. The
    one exception: the PostgreSQL tests, turned off on purpose (SMSCLI_TEST_POSTGRES=off)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skips = reporter.stats.get("skipped", []) if reporter is not None else []
    skipped = sum(1 for r in skips if POSTGRES_OFF_REASON not in str(r.longrepr))
    if skipped and exitstatus == 0:
        if reporter is not None:
            reporter.write_line(f"{skipped} test(s) were skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
