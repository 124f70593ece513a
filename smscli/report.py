"""The reporting interface between the pipeline and whoever shows (or keeps) what it did.

The pipeline (``smscli.pipeline``), the bulk ``Runner``, ``status`` and ``doctor`` tell a
``Reporter`` what happened — a RESULT, a warning, a note, progress, the requests a dry run
would make — and never decide how it looks. Two implementations:

- ``smscli.output.Output`` renders the events for a terminal or a pipe (table, ``--json``,
  ``--jsonl``, ``-q``);
- ``smscli.api.Collector`` keeps them for the Python API and prints nothing.

The Python API is not a silenced renderer: a method added to ``Output`` is not an event, and
the collector does not inherit it, so it cannot print from a library call. An event added
here is a type error (mypy) in every implementation until each one handles it.

Every method is called from the thread that runs the pipeline (the bulk ``Runner`` prints
from its main thread only), except ``trace``, which an HTTP session calls from its send
threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from smscli.models import Request, SendResult
    from smscli.redaction import Redactor


class CheckLine(NamedTuple):
    """One line of `smscli doctor`: what was checked, ok/FAIL/warn, and what was found."""

    check: str
    result: str  # "ok", "FAIL" or "warn"
    detail: str


class Reporter(Protocol):
    """What the pipeline reports. ``redactor`` hides this run's secrets in everything shown
    (the pipeline adds each secret it resolves; HTTP traces go through it too)."""

    redactor: Redactor

    # -- words for the user ------------------------------------------------------------------
    def warning(self, message: str) -> None:
        """Something the user should fix or know (a duplicate target, a loose config file)."""

    def note(self, message: str) -> None:
        """A hint or progress note (a --smart replacement, "interrupted: re-run with …")."""

    def trace(self, line: str) -> None:
        """One line of the --verbose HTTP trace (already redacted structurally)."""

    # -- the results of a send or a status query ---------------------------------------------
    def wants_results(self, total: int) -> bool:
        """Whether ``results`` should get every RESULT of a run of ``total`` targets, or
        only the summary (a terminal shows a summary past a few dozen; a pipe streams)."""

    def result(self, result: SendResult) -> None:
        """One RESULT, as soon as it is recorded in the history (bulk runs stream these)."""

    def results(
        self, results: Sequence[SendResult], summary: dict[str, int], batch: str | None
    ) -> None:
        """The end of a send: the RESULTs kept (see ``wants_results``) and the summary
        (total, accepted, failed, skipped), with the batch id for ``--resume``."""

    def statuses(
        self, results: Sequence[SendResult], summary: dict[str, int], batch: str | None
    ) -> None:
        """The end of `status`: what the providers said about earlier sends."""

    def progress_start(self, total: int) -> None:
        """A run of ``total`` targets begins (a terminal may draw a bar)."""

    def progress_advance(self, done: int) -> None:
        """``done`` more targets have a RESULT."""

    def progress_stop(self) -> None:
        """The run is over (or stopped): take the bar away. Safe to call without a start."""

    # -- runs that send nothing ---------------------------------------------------------------
    def dry_run_requests(self, requests: Sequence[Request]) -> None:
        """--dry-run: the exact requests a send would make (secrets still to be redacted)."""

    def checks(self, lines: Sequence[CheckLine], hint: str | None) -> None:
        """`smscli doctor`: every check made, and the hint of the one that failed."""


def stdout_failure(exc: OSError) -> str:
    """Why stdout could not be written, in words (the reader of a pipe left, a full disk)."""
    if isinstance(exc, BrokenPipeError):
        return "stdout was closed (the reading end of the pipe went away)"
    return f"cannot write to stdout: {exc.strerror or exc}"
