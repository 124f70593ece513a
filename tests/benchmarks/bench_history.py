"""The cost of the PostgreSQL history store against SQLite (issue 12), on loopback.

    python tests/benchmarks/bench_history.py [--sends 200] [--runs 3]

1. End to end: one `smscli emnify --to-file F --rate 0 -q` run of N targets against a
   `smscli sandbox` process, with the SQLite history and with a PostgreSQL history
   (SMSCLI_HISTORY_URL); then N single sends, each its own process, under an idempotency key
   (the cron/Celery case: connect, claim, send, record). Median of --runs runs each.
2. The history alone: N ``start`` + ``finish`` pairs (two transactions per send, as a
   single send writes them), and N claimed starts, through ``History`` in-process.

The PostgreSQL server: ``SMSCLI_TEST_POSTGRES_URL``, else one started for the run
(tests/pg_server.py). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import SMSCLI, SandboxProcess, isolated_env

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from smscli.history import Attempt, History  # noqa: E402
from smscli.models import SendResult, Status  # noqa: E402
from tests import pg_server  # noqa: E402

EMNIFY = ["emnify", "--application-token", "bench-token"]


def fresh_schema(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    joiner = "&" if "?" in server else "?"
    return f"{server}{joiner}options=-csearch_path%3D{name}"


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def bulk(sandbox: str, env: dict[str, str], targets: Path) -> None:
    done = subprocess.run([SMSCLI, *EMNIFY, "--base-url", f"{sandbox}/emnify", "--to-file",
                           str(targets), "--yes", "--rate", "0", "-q", "bench"],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"bulk send failed ({done.returncode}): {done.stderr[-500:]}")


def singles(sandbox: str, env: dict[str, str], count: int, tag: str) -> None:
    for n in range(count):
        done = subprocess.run([SMSCLI, *EMNIFY, "--base-url", f"{sandbox}/emnify", "-t",
                               f"endpoint:{1000 + n}", "--idempotency-key", f"{tag}-{n}", "-q",
                               "bench"], env=env, capture_output=True, text=True,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"send failed ({done.returncode}): {done.stderr[-500:]}")


def history_alone(make: Callable[[], History], count: int, claim: bool) -> float:
    h = make()
    h.open()
    result = SendResult(provider="emnify", profile=None, target="endpoint:1",
                        status=Status.ACCEPTED, message_id="m")  # fmt: skip
    key = f"k{time.monotonic_ns()}"

    def run() -> None:
        for n in range(count):
            attempt = Attempt("emnify", None, "http://x", f"endpoint:{n}", "bench", 1, "gsm7",
                              None, "b", f"{key}-{n}" if claim else None, claim)  # fmt: skip
            [row_id] = h.record(started=[attempt])
            assert isinstance(row_id, int)
            h.finish(row_id, result)

    try:
        return timed(run)
    finally:
        h.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.sends
    server = os.environ.get("SMSCLI_TEST_POSTGRES_URL")
    started_dir = None
    if not server:
        started_dir = pg_server.temp_dir()
        server = pg_server.start(started_dir)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            targets = home / "targets.txt"
            targets.write_text("".join(f"endpoint:{1000 + i}\n" for i in range(n)))
            sandbox = SandboxProcess(isolated_env(home))
            try:
                figures: dict[str, list[float]] = {}
                for run in range(args.runs):
                    sqlite_env = isolated_env(home / f"sqlite{run}")
                    pg_env = isolated_env(home / f"pg{run}")
                    pg_env["SMSCLI_HISTORY_URL"] = fresh_schema(server, f"bench{run}")
                    for name, env in (("sqlite", sqlite_env), ("postgresql", pg_env)):
                        figures.setdefault(f"bulk {name}", []).append(
                            timed(lambda env=env: bulk(sandbox.url, env, targets))
                        )
                        count = max(1, n // 10)
                        tag = f"r{run}"
                        figures.setdefault(f"single {name}", []).append(
                            timed(lambda env=env, c=count, t=tag: singles(sandbox.url, env, c, t))
                            / count
                        )
                    for claim in (False, True):
                        what = "claimed " if claim else ""
                        path = home / f"alone{run}{claim}" / "h.sqlite3"
                        url = fresh_schema(server, f"alone{run}{int(claim)}")
                        figures.setdefault(f"record {what}sqlite", []).append(
                            history_alone(lambda p=path: History(p), n, claim) / n
                        )
                        figures.setdefault(f"record {what}postgresql", []).append(
                            history_alone(lambda u=url: History(None, url=u), n, claim) / n
                        )
            finally:
                sandbox.close()
    finally:
        if started_dir is not None:
            pg_server.stop(started_dir)
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"{n} targets in one run (--rate 0, -q), median of {args.runs}:")
    for name in ("sqlite", "postgresql"):
        total = med[f"bulk {name}"]
        print(f"  {name:10} {total:6.2f} s  {total / n * 1000:6.2f} ms/send  {n / total:6.0f}/s")
    print(f"one send per process, with --idempotency-key ({max(1, n // 10)} sends):")
    for name in ("sqlite", "postgresql"):
        print(f"  {name:10} {med[f'single {name}'] * 1000:6.1f} ms/send")
    print(f"the history alone: start + finish per send ({n} sends, two transactions each):")
    for what in ("", "claimed "):
        for name in ("sqlite", "postgresql"):
            print(f"  {what + name:20} {med[f'record {what}{name}'] * 1000:6.3f} ms/send")
    return 0


if __name__ == "__main__":
    sys.exit(main())
