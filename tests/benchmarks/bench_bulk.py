"""Bulk-sending benchmark (SPEC §9): throughput and memory of many targets.

    python tests/benchmarks/bench_bulk.py [--targets 10000] [--memory-targets 100000]
                                          [--concurrency N] [--strict]

Starts `smscli sandbox` as a separate process on a free loopback port, writes N emnify
targets (ordinary endpoint ids: none ends in a magic suffix) and runs

    smscli emnify --base-url <sandbox>/emnify --application-token … --to-file F --yes
                  --rate 0 [--concurrency N] (-q --no-history | --jsonl) TEXT

twice: once lean (-q: message ids only, no history), and once as the issue's "done when"
asks, with every RESULT streamed as --jsonl and recorded in the history; that run is then
checked: N RESULT lines, all accepted, and N accepted rows of its batch in the history.
Messages per second are printed against the target (≥ 700/s, issue 8). Then it sends to a
100,000-line --to-file (lean, like the first run) and compares the two lean runs' peak RSS
(each child's own ru_maxrss, from wait4): "flat" means roughly equal; the slope in bytes per
extra target is printed too. Last, ThingSpace with 200,000 targets (-q, with the history):
its requests carry up to 10,000 devices each, and smscli keeps one such request in flight
at a time, so its peak RSS must stay under 60 MB (issue 8; it was 93 MB with four). Each run gets a fresh sandbox, so the sandbox's growing message
store does not slow the next one. About 1.5 minutes on a 2-core machine (the 100,000-target
send is most of it). --concurrency defaults to smscli's own default.

Not collected by pytest (no test_ functions; the file name does not match test_*.py).
``--strict`` exits 1 when the throughput is below the target, a RESULT or history row is
missing, or the memory is not flat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import SMSCLI, SandboxProcess, isolated_env

TARGET_RATE = 700.0  # messages per second (issue 8 restates SPEC §9 for the httpx path)
FLAT = 1.25  # the larger file may use at most this factor of the smaller one's peak RSS
THINGSPACE_RSS_MB = 60.0  # issue 8: 200,000 ThingSpace targets, batches in flight bounded
EMNIFY = ["emnify", "--application-token", "bench-token"]
THINGSPACE = ["thingspace", "--client-id", "key", "--client-secret", "bench-secret"]
THINGSPACE += ["--username", "uws", "--password", "bench-secret"]
THINGSPACE += ["--account-name", "0000123456-00001"]


@dataclass
class Measured:
    label: str
    targets: int
    wall: float
    cpu: float  # the smscli process's user + system seconds
    max_rss_kb: int
    sent: int

    @property
    def rate(self) -> float:
        return self.sent / self.wall if self.wall else 0.0


def write_targets(path: Path, count: int, kind: str = "endpoint") -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("# benchmark targets: ordinary ids (value ends in 7: no magic suffix)\n")
        for n in range(1, count + 1):
            # mdn: 10 digits (ThingSpace); endpoint: an emnify endpoint id
            fh.write(f"mdn:5{n:08d}7\n" if kind == "mdn" else f"endpoint:{n}7\n")


def send(
    label: str,
    sandbox: SandboxProcess,
    path: Path,
    count: int,
    env: dict[str, str],
    *,
    concurrency: int | None,
    lean: bool,
    provider: list[str] = EMNIFY,
    history: bool = False,
) -> Measured:
    """``lean``: -q (message ids), with the history only when ``history``; otherwise
    --jsonl with the history, every RESULT and row checked."""
    argv = [
        SMSCLI,
        provider[0],
        "--base-url",
        f"{sandbox.url}/{provider[0]}",
        *provider[1:],
        "--to-file",
        str(path),
        "--yes",
        "--rate",
        "0",
        *(["--concurrency", str(concurrency)] if concurrency else []),
        *((["-q"] if history else ["-q", "--no-history"]) if lean else ["--jsonl"]),
        f"bench {label}",
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        # wait4: this child's own resource usage (RUSAGE_CHILDREN would be the maximum over
        # every child so far, the sandbox included once it has exited).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        if lean:
            sent = sum(1 for line in out if line.strip())
        else:  # every RESULT is a JSON line, and accepted
            # Streamed, not kept: ru_maxrss of a child that was vfork()ed counts this
            # process's own peak RSS (Linux records the old mm's high-water mark at exec),
            # so a benchmark that grew would make every later child look bigger.
            sent = sum(
                1 for line in out if line.strip() and json.loads(line)["status"] == "accepted"
            )
            check_history(env, label, count)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-800:]
            raise SystemExit(f"{label}: smscli exited with {proc.returncode}:\n{tail}")
    if sent != count:
        raise SystemExit(f"{label}: {sent} message ids printed for {count} targets")
    return Measured(label, count, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, sent)


def check_history(env: dict[str, str], label: str, count: int) -> None:
    """The run's batch has ``count`` rows, all accepted (a fresh data dir per run)."""
    db = Path(env["SMSCLI_DATA_DIR"]) / "history.sqlite3"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM sends GROUP BY status").fetchall()
    if dict(rows) != {"accepted": count}:
        raise SystemExit(f"{label}: history has {dict(rows)}, expected {count} accepted rows")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000, help="throughput run size")
    parser.add_argument(
        "--memory-targets",
        type=int,
        default=100_000,
        help="--to-file size compared with --targets for memory (0 skips it)",
    )
    parser.add_argument(
        "--thingspace-targets",
        type=int,
        default=200_000,
        help="ThingSpace run size for the in-flight memory bound (0 skips it)",
    )
    parser.add_argument("--concurrency", type=int, default=None, help="default: smscli's")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if args.memory_targets and args.memory_targets <= args.targets:
        parser.error("--memory-targets must be larger than --targets (or 0 to skip it)")

    home = Path(tempfile.mkdtemp(prefix="smscli-bench-bulk-"))
    env = isolated_env(home)
    rows: list[Measured] = []
    began = time.perf_counter()
    try:
        path = home / f"targets-{args.targets}.txt"
        write_targets(path, args.targets)
        for label, lean in (("-q --no-history", True), ("--jsonl + history", False)):
            sandbox = SandboxProcess(env)
            run_env = env | {"SMSCLI_DATA_DIR": str(home / f"data-{len(rows)}")}
            try:
                rows.append(
                    send(
                        label,
                        sandbox,
                        path,
                        args.targets,
                        run_env,
                        concurrency=args.concurrency,
                        lean=lean,
                    )
                )
            finally:
                sandbox.close()
        for size in [args.memory_targets] if args.memory_targets else []:
            path = home / f"targets-{size}.txt"
            write_targets(path, size)
            sandbox = SandboxProcess(env)
            try:
                rows.append(
                    send(
                        "-q --no-history",
                        sandbox,
                        path,
                        size,
                        env,
                        concurrency=args.concurrency,
                        lean=True,
                    )
                )
            finally:
                sandbox.close()
                path.unlink()
        thingspace: Measured | None = None
        if args.thingspace_targets:
            size = args.thingspace_targets
            path = home / f"thingspace-{size}.txt"
            write_targets(path, size, kind="mdn")
            sandbox = SandboxProcess(env)
            run_env = env | {"SMSCLI_DATA_DIR": str(home / "data-thingspace")}
            try:
                thingspace = send(
                    "thingspace -q + history",
                    sandbox,
                    path,
                    size,
                    run_env,
                    concurrency=args.concurrency,
                    lean=True,
                    provider=THINGSPACE,
                    history=True,
                )
            finally:
                sandbox.close()
                path.unlink()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    cpus = os.cpu_count() or 0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"smscli bulk benchmark (SPEC §9): emnify -> `smscli sandbox` process, --rate 0, "
        f"--concurrency {args.concurrency or 'default'}, {cpus} CPU(s), load average {load}"
    )
    header = (
        f"{'run':24s} {'targets':>8s} {'wall s':>8s} {'msg/s':>8s} {'CPU s':>7s} {'peak RSS':>9s}"
    )
    print(header)
    print("-" * len(header))
    for m in [*rows, *([thingspace] if thingspace else [])]:
        print(
            f"{m.label:24s} {m.targets:8d} {m.wall:8.2f} {m.rate:8.0f} {m.cpu:7.2f} "
            f"{m.max_rss_kb / 1024:7.1f} MB"
        )
    print()
    missed = False
    for m in rows[:2]:
        ok = m.rate >= TARGET_RATE
        missed |= not ok
        verdict = "ok" if ok else "BELOW TARGET"
        print(
            f"throughput {m.label:22s} {m.rate:6.0f} msg/s  (target >= {TARGET_RATE:.0f}) {verdict}"
        )
    if len(rows) == 3:
        small, large = rows[0], rows[2]
        ratio = large.max_rss_kb / small.max_rss_kb
        slope = (large.max_rss_kb - small.max_rss_kb) * 1024 / (large.targets - small.targets)
        flat = ratio <= FLAT
        missed |= not flat
        print(
            f"memory     {small.targets} -> {large.targets} targets: "
            f"{small.max_rss_kb / 1024:.1f} MB -> {large.max_rss_kb / 1024:.1f} MB peak RSS "
            f"({ratio:.2f}x, {slope:.0f} bytes per extra target; flat = <= {FLAT}x) "
            f"{'flat' if flat else 'NOT FLAT'}"
        )
    if thingspace is not None:
        peak = thingspace.max_rss_kb / 1024
        ok = peak <= THINGSPACE_RSS_MB
        missed |= not ok
        print(
            f"thingspace {thingspace.targets} targets (10,000 per request): {peak:.1f} MB peak "
            f"RSS (limit {THINGSPACE_RSS_MB:.0f} MB) {'ok' if ok else 'OVER'}"
        )
    print(f"total benchmark time {time.perf_counter() - began:.0f} s")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
