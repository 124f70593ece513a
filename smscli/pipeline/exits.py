"""One exit code for a run (SPEC §5), from its RESULTs or, for a large run whose RESULTs
were streamed and not kept, from its counts. Pure functions: no I/O.

A ``skipped`` RESULT (an invalid target left out by --skip-invalid) or a ``deduped`` one (the
dedupe window) is neither accepted nor failed: the exit code is that of the targets that
were sent (README "Decisions: the command line")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smscli.errors import ExitCode
from smscli.models import SendResult, Status

# RESULTs of targets that were not sent on purpose: left out by --skip-invalid, or deduped
# by the dedupe window. Counted as skipped; neither accepted nor failed.
NOT_ATTEMPTED = frozenset({Status.SKIPPED, Status.DEDUPED})


def summary_of(
    results: Sequence[SendResult], *, skipped: int = 0, delivery: bool = False
) -> dict[str, int]:
    """The summary of SPEC §4: total, accepted, failed, skipped; with ``delivery`` (after
    --wait, and for `status`) also how many were delivered (``accepted`` still counts every
    message the provider took, delivered or not yet). ``skipped``: targets skipped without
    a RESULT among ``results`` (those --resume found already accepted); ``skipped``
    RESULTs (--skip-invalid) count there too, never as failed."""
    accepted = sum(1 for r in results if r.status.is_success)
    left_out = sum(1 for r in results if r.status in NOT_ATTEMPTED)
    summary = {"total": len(results) + skipped, "accepted": accepted,
               "failed": len(results) - accepted - left_out,
               "skipped": skipped + left_out}  # fmt: skip
    if delivery:
        summary["delivered"] = sum(1 for r in results if r.status is Status.DELIVERED)
    return summary


def exit_code_from_counts(accepted: int, failure_codes: Mapping[int, int]) -> ExitCode:
    """``failure_codes``: exit code → how many targets failed with it."""
    failed = {code for code, n in failure_codes.items() if n}
    if not failed:
        return ExitCode.OK
    if accepted:
        return ExitCode.PARTIAL
    if len(failed) == 1:
        return ExitCode(failed.pop())
    # Nothing accepted for different reasons: an unknown outcome matters most.
    return ExitCode.UNKNOWN if ExitCode.UNKNOWN in failed else ExitCode.PARTIAL


def exit_code_of(results: Sequence[SendResult], *, waited: bool = False) -> ExitCode:
    """One exit code for a run (SPEC §5); ``waited``: after --wait, delivery decides."""
    results = [r for r in results if r.status not in NOT_ATTEMPTED]
    if not results:
        return ExitCode.OK
    if waited:
        delivered = sum(1 for r in results if r.status is Status.DELIVERED)
        if delivered == len(results):
            return ExitCode.OK
        if not delivered and all(r.status.is_final for r in results):
            return ExitCode.DELIVERY_FAILED
        if not delivered and not any(r.status.is_final for r in results):
            return ExitCode.WAIT_TIMEOUT
        return ExitCode.PARTIAL
    codes: dict[int, int] = {}
    for r in results:
        if not r.status.is_success:
            code = int((r.error or {}).get("exit_code", ExitCode.UNKNOWN))
            codes[code] = codes.get(code, 0) + 1
    return exit_code_from_counts(sum(1 for r in results if r.status.is_success), codes)


def exit_code_of_run(
    results: Sequence[SendResult],
    summary: Mapping[str, int],
    *,
    waited: bool,
    failure_codes: Mapping[int, int] | None,
) -> ExitCode:
    """A send's exit code: from its RESULTs, or from its counts when not all were kept."""
    if failure_codes is not None and len(results) < summary["total"]:
        return exit_code_from_counts(summary["accepted"], failure_codes)
    return exit_code_of(results, waited=waited)
