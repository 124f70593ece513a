"""What earlier runs did, asked of the history before a target is sent (SPEC §6):
``--resume BATCH`` skips what the batch already got accepted, ``--idempotency-key KEY``
never sends twice under one key. Runs in the Runner's main thread, before the job's rows
are written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smscli.errors import ExitCode, InputError, OutcomeUnknown, UsageError
from smscli.models import Message, SendResult, Status, Target

if TYPE_CHECKING:
    from smscli.pipeline import SendOptions
    from smscli.pipeline.prepare import Prepared
    from smscli.report import Reporter

SKIP = "skip"  # accepted in the batch being resumed: neither sent nor reported again


def check_resumable(prep: Prepared, batch: str) -> None:
    """--resume BATCH: the batch exists and was sent with this provider and profile."""
    if not prep.history.enabled:
        raise UsageError(
            "--resume needs the history; it is turned off (--no-history or history = false)",
            code="history_disabled",
        )
    rows = prep.history.query(batch=batch, limit=1)
    if not rows:
        raise InputError(f"no batch {batch!r} in the history", code="unknown_batch")
    row = rows[0]
    if row["provider"] != prep.info.slug or row["profile"] != prep.settings.profile:
        was = row["provider"] + (f" (profile {row['profile']})" if row["profile"] else "")
        raise InputError(
            f"batch {batch} was sent with {was}; resume it with the same command",
            code="resume_mismatch",
        )


def previous(
    prep: Prepared, opts: SendOptions, batch: str, target: Target, out: Reporter
) -> SendResult | str | None:
    """What an earlier run already did for this target: a RESULT to report again, ``SKIP``,
    or None (send it)."""
    if opts.resume is not None:
        row = prep.history.in_batch(batch, str(target))
        if row is not None:
            if Status(row["status"]).is_success:
                return SKIP
            if row["status"] == Status.CANCELED.value and not opts.force:
                # `smscli cancel` stopped it on purpose: not sent again without --force.
                # (A `not-sent` row, which `smscli reconcile` found never went out, is sent
                # again like a failed one.)
                out.note(f"{target}: canceled (history #{row['id']}); not sent again (--force)")
                return SKIP
            if row["status"] == Status.UNKNOWN.value and not opts.force:
                return prep.provider.result(
                    target,
                    Status.UNKNOWN,
                    placeholder_message(row),
                    error={
                        "code": "resume_unknown",
                        "message": f"history #{row['id']}: outcome unknown; not sent again "
                        f"(`smscli reconcile {batch}` finds out, or --force)",
                        "exit_code": int(ExitCode.UNKNOWN),
                    },
                )
    try:
        earlier = _idempotent(prep, opts, target)
    except OutcomeUnknown as err:
        if prep.plan.total == 1 and not prep.plan.invalid:
            raise  # one target: the error is the answer
        # Many targets: this one is reported (as --resume does), the others go on.
        return prep.provider.result(
            target,
            Status.UNKNOWN,
            placeholder_message({}),
            error={"code": err.code, "message": err.message, "exit_code": int(err.exit_code)},
        )
    if earlier is not None:
        out.note(
            f"{target}: already "
            + ("canceled" if earlier.status is Status.CANCELED else "accepted")
            + f" under --idempotency-key {opts.idempotency_key!r}; "
            "not sent again (the earlier result is shown)"
        )
    return earlier


# How long a run that lost an idempotency claim waits for the winner's outcome, at most:
# the winner's request is bounded by its --timeout (default 30 s) too.
CLAIM_WAIT = 30.0


def claimed_elsewhere(
    prep: Prepared,
    opts: SendOptions,
    target: Target,
    row: dict[str, Any],
    out: Reporter,
    *,
    single: bool,
) -> SendResult:
    """Another run (an overlapping cron job, another process) wrote its row under the same
    idempotency key and target between this run's check and its own row, so it sends and
    this run does not. Wait (bounded) for its outcome and report that: accepted is this
    target's RESULT too; still unknown is exit 7 (with one target: the error)."""
    from smscli.history import row_to_result

    key = opts.idempotency_key
    row = _settled(prep, row)
    if row["status"] != Status.UNKNOWN.value:
        out.note(
            f"{target}: sent by another run under --idempotency-key {key!r} "
            f"(history #{row['id']}); not sent again (its result is shown)"
        )
        return row_to_result(row)
    err = OutcomeUnknown(
        f"{target}: another run is sending under idempotency key {key!r} "
        f"(history #{row['id']}); its outcome is not known yet",
        hint=f"check `smscli status #{row['id']}` before sending again",
        code="idempotency_in_progress",
    )
    if single:
        raise err
    return prep.provider.result(
        target,
        Status.UNKNOWN,
        placeholder_message(row),
        error={"code": err.code, "message": err.message, "exit_code": int(err.exit_code)},
    )


def _settled(prep: Prepared, row: dict[str, Any]) -> dict[str, Any]:
    """The row once it is no longer ``unknown``, or as it is after waiting a bounded time
    for another run's request to be answered. Only a row that was never answered (no
    ``error`` nor message id recorded: its request is on its way, or its run died) and was
    written moments ago is waited for: an ``unknown`` that a run recorded (a timeout, a
    5xx), one read so from a status smscli does not know, or an old row will not change by
    waiting."""
    import time
    from datetime import UTC, datetime

    if row.get("error") is not None or row.get("message_id"):
        return row
    wait = min(CLAIM_WAIT, prep.settings.timeout + 5.0)
    try:
        age = (datetime.now(UTC) - datetime.fromisoformat(str(row["created_at"]))).total_seconds()
    except (KeyError, TypeError, ValueError):
        return row
    deadline = time.monotonic() + max(0.0, wait - age)
    while row["status"] == Status.UNKNOWN.value and time.monotonic() < deadline:
        time.sleep(0.05)
        row = prep.history.find(f"#{row['id']}") or row
    return row


def placeholder_message(row: dict[str, Any]) -> Message:
    """The message of a RESULT that reports a history row, not a send."""
    from smscli.encoding import analyze

    return Message(check=analyze(""), reference=row.get("reference"))


def _idempotent(prep: Prepared, opts: SendOptions, target: Target) -> SendResult | None:
    if opts.idempotency_key is None:
        return None
    from smscli.history import row_to_result

    row = prep.history.by_key(opts.idempotency_key, str(target))
    if row is None:
        return None
    if row["status"] == Status.UNKNOWN.value and not opts.force:
        row = _settled(prep, row)  # another run's request on its way: wait for its answer
    status = row["status"]
    if status == Status.UNKNOWN.value and not opts.force:
        raise OutcomeUnknown(
            f"{target}: an earlier send under idempotency key {opts.idempotency_key!r} has an "
            "unknown outcome (history #{})".format(row["id"]),
            hint="check `smscli status #{}`; --force sends anyway".format(row["id"]),
            code="idempotency_unknown",
        )
    if Status(status).is_success:
        return row_to_result(row)
    if status == Status.CANCELED.value and not opts.force:
        # Stopped on purpose (`smscli cancel`): the key's message is not sent again; the
        # canceled row is the answer (exit 8, as for a message that will not be delivered).
        from smscli.models import StatusReport
        from smscli.pipeline.waiting import delivery_error

        result = row_to_result(row)
        result.error = delivery_error(result.provider, StatusReport(Status.CANCELED))
        return result
    return None  # refused, failed or not-sent before: sending again is what the user wants
