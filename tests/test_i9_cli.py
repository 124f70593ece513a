"""Issue 9, the command line: --skip-invalid and invalid targets, usage errors for bad option
values, -q failures, error prefixes, stdin used twice, Ctrl-C feedback, --sandbox at exit,
help polish. Through the public command line (in-process, and the installed script)."""

from __future__ import annotations

import time

from tests.conftest import Cli, base_url

GOOD = "+61488023555"


# -- --sandbox adds no delay at exit ---------------------------------------------------------
def test_sandbox_adds_no_half_second_at_exit(cli: Cli) -> None:
    args = ["send", "--provider", "fonedynamics", "-t", GOOD, "hi", "-q"]

    def best_of(extra: list[str]) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            res = cli(*args, *extra)
            times.append(time.perf_counter() - started)
            assert res.exit_code == 0, res.output
        return min(times)

    plain = best_of(["--base-url", base_url("fonedynamics"), "--account-sid", "A", "--token",
                     "T", "--property-sid", "P"])  # fmt: skip
    with_sandbox = best_of(["--sandbox"])
    assert with_sandbox - plain < 0.25, (plain, with_sandbox)
