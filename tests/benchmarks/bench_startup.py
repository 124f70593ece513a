"""Start-up benchmark (SPEC §9): whole-process medians against `python -c "import typer"`.

    python tests/benchmarks/bench_startup.py [--runs N] [--strict]

Prints each command's median wall time and its ratio to the baseline, with the SPEC limit
(§9): `smscli --version` ≤ 0.5×, `smscli --help`, `smscli send --help` and a provider's
`--help` ≤ 1.5×, `smscli check "hello"` ≤ 1.3×, `smscli send --dry-run` ≤ 1.8×, a real
single send to a local sandbox ≤ 2.5×. ``--strict`` exits 1 when a ratio is over its limit.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SMSCLI, SandboxProcess, isolated_env

FD = ["--account-sid", "AC1", "--token", "bench-token", "--property-sid", "PR1"]


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed


def medians(commands: list[list[str]], runs: int, env: dict[str, str]) -> list[float]:
    """Each command's median over ``runs`` rounds. A round runs every command once, in turn,
    so a slow spell of a shared machine slows the baseline and the commands alike instead of
    landing on one of them (the ratios are what the SPEC limits)."""
    for argv in commands:
        run_once(argv, env)  # warm-up: byte-code caches, the sandbox's first connection
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for i, argv in enumerate(commands):
            times[i].append(run_once(argv, env))
    return [statistics.median(t) for t in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="smscli-bench-"))
    env = isolated_env(home)
    sandbox = SandboxProcess(env)
    try:
        base = f"{sandbox.url}/fonedynamics"
        cases = [
            ("smscli --version", [SMSCLI, "--version"], 0.5),
            ("smscli --help", [SMSCLI, "--help"], 1.5),
            ("smscli send --help", [SMSCLI, "send", "--help"], 1.5),
            ("smscli emnify --help", [SMSCLI, "emnify", "--help"], 1.5),
            ('smscli check "hello"', [SMSCLI, "check", "hello"], 1.3),
            (
                "smscli send --dry-run",
                [SMSCLI, "send", "--provider", "fonedynamics", *FD, "-t", "+61488023555",
                 "hello", "--dry-run"],
                1.8,
            ),
            (
                "a real send to the sandbox",
                [SMSCLI, "fonedynamics", "--base-url", base, *FD, "-t", "+61488023555", "hello"],
                2.5,
            ),
        ]  # fmt: skip
        baseline, *times = medians(
            [[sys.executable, "-c", "import typer"], *(argv for _, argv, _ in cases)],
            args.runs,
            env,
        )
        print(
            f"baseline  python -c 'import typer'  {baseline * 1000:7.1f} ms  (median of {args.runs},"
            " commands interleaved)"
        )
        over = False
        for (name, _argv, limit), median in zip(cases, times, strict=True):
            ratio = median / baseline
            verdict = "ok" if ratio <= limit else "OVER"
            over |= ratio > limit
            print(f"{name:30s}  {median * 1000:7.1f} ms  {ratio:4.2f}x  (limit {limit}x) {verdict}")
    finally:
        sandbox.close()
        shutil.rmtree(home, ignore_errors=True)
    return 1 if over and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
