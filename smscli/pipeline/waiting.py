"""Asking providers about sent messages: THE polling loop, for `send --wait` and `status`.

One round asks about every message still open; with a deadline, rounds repeat with a
growing pause (1 s, ×1.5, at most 15 s: polite while nothing changes) until every message
has a final status or the deadline passes. Without one (`status` without --wait), one
round. A send's just-accepted messages are never final yet, so `send --wait` pauses first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smscli.models import SendResult, Status, StatusReport

if TYPE_CHECKING:
    from smscli.pipeline import Runtime

DEFAULT_WAIT = 300.0  # seconds, for a bare --wait
FIRST_PAUSE = 1.0
PAUSE_GROWTH = 1.5
LONGEST_PAUSE = 15.0


def wait_seconds(wait: str) -> float:
    """A --wait value ("default" for a bare --wait) in seconds."""
    from smscli.timeparse import parse_duration

    return DEFAULT_WAIT if wait == "default" else parse_duration(wait, "--wait")


@dataclass(slots=True, eq=False)
class Watched:
    """A message being asked about: what ``provider.status`` needs (a history row, or a
    fresh RESULT as one) and the RESULT that shows what was found."""

    record: Mapping[str, Any]
    result: SendResult


def poll(
    watched: Sequence[Watched],
    ask: Callable[[Watched], StatusReport],
    runtime: Runtime,
    *,
    deadline: float | None,
    pause_first: bool = False,
    on_report: Callable[[Watched, StatusReport], None] = lambda w, report: None,
    steady: float | None = None,
) -> None:
    """Ask about every message in ``watched`` until each is final or ``deadline`` (a
    ``runtime.clock()`` time) passes; with no deadline, ask once. Each answer goes onto its
    RESULT (``apply_report``), then to ``on_report`` (which records it). An error from
    ``ask`` ends the loop (it is raised)."""
    todo = list(watched)
    interval = FIRST_PAUSE

    def pause() -> bool:
        nonlocal interval
        if deadline is None or runtime.clock() >= deadline:
            return False
        runtime.sleep(min(interval, max(0.0, deadline - runtime.clock())))
        if steady is None:
            interval = min(interval * PAUSE_GROWTH, LONGEST_PAUSE)
        return True

    if pause_first and todo and not pause():
        return
    while todo:
        for item in list(todo):
            report = ask(item)
            apply_report(item.result, report)
            on_report(item, report)
            if deadline is None or report.status.is_final:
                todo.remove(item)
        if not todo or not pause():
            return


def apply_report(result: SendResult, report: StatusReport) -> None:
    """What a status lookup found, onto the RESULT shown to the user."""
    # An "unknown" answer does not undo an acceptance the history already knows about.
    if report.status is not Status.UNKNOWN or not result.status.is_success:
        result.status = report.status
    if report.provider_status:
        result.details["provider_status"] = report.provider_status
    if report.date:
        result.details["status_date"] = report.date
    error = delivery_error(result.provider, report)
    if error is not None:
        result.error = error


def delivery_error(provider: str, report: StatusReport) -> dict[str, Any] | None:
    """The RESULT ``error`` of a message that will not be delivered (failed, expired,
    rejected), in one shape for every provider (issue 9: two providers gave one, in their
    own shapes, and two none): ``{"code": status, "message": "<Provider> reports <word>
    (<detail>)", "provider_code", "exit_code": 8}``. A report's own ``error`` may add
    ``detail`` (emnify's GSM MAP error) and ``provider_code`` (Fone Dynamics' ErrorCode)."""
    if not report.status.is_final or report.status is Status.DELIVERED:
        return None
    from smscli.catalog import REGISTRY
    from smscli.errors import ExitCode

    info = REGISTRY.get(provider)
    own = report.error or {}
    detail = own.get("detail")
    word = report.provider_status or report.status.value
    return {
        "code": report.status.value,
        "message": f"{info.label if info else provider} reports {word}"
        + (f" ({detail})" if detail else ""),
        "provider_code": own.get("provider_code"),
        "exit_code": int(ExitCode.DELIVERY_FAILED),
    }


def as_record(result: SendResult) -> dict[str, Any]:
    """A fresh RESULT in the shape of a history row, for ``provider.status``."""
    data = result.to_json()
    data["details"] = dict(result.details)
    return data
