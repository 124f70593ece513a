"""The one flow every sending command uses, and `status`: split by job.

::

    commands / smscli.api
      └─ run_send(SendOptions, Runtime, Reporter)          this module: the inputs, the entry
           ├─ prepare.py   config → provider → message check, targets, option support,
           │               limits; every local check, no I/O yet (exit 3/4)
           ├─ sending.py   --dry-run, or: history row written → provider.send() → history
           │               row updated; then --wait; RESULTs reported
           │   ├─ runner.py    the send threads (or one job inline), rate limit, Ctrl-C,
           │   │               the history in rounds, what is in flight bounded
           │   └─ earlier.py   what earlier runs did: --resume and --idempotency-key
           ├─ waiting.py   THE polling loop (send --wait and status --wait)
           └─ exits.py     one exit code for a run (SPEC §5)
      └─ run_status(StatusQuery, Runtime, Reporter)  status.py: history → provider → history
    sessions.py   the two things a run opens: the HTTP session and the history

Everything the pipeline shows goes through a ``smscli.report.Reporter``: the terminal's
renderer (``smscli.output.Output``) or the Python API's collector.

This module stays small: every command imports it (for ``Runtime``), so it holds only the
inputs and imports the rest when a run starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from smscli.models import EMPTY

if TYPE_CHECKING:
    from smscli.errors import ExitCode
    from smscli.pipeline.reconcile import ReconcileQuery
    from smscli.pipeline.status import StatusQuery
    from smscli.report import Reporter

DEFAULT_CONCURRENCY = 4


class Runtime(NamedTuple):
    """What a command gets from outside: tests inject a transport and a clock here."""

    transport: Any = None  # httpx.BaseTransport; None = the network
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


class SendOptions(NamedTuple):
    """Everything a sending command was told, before any of it is checked. (Both records
    are NamedTuples, not dataclasses: every send builds them at import, and a 35-field
    dataclass costs ~1.5 ms of start-up to generate.)"""

    provider: str | None = None
    profile: str | None = None
    config: str | None = None
    to: Sequence[str] = ()
    to_file: str | None = None
    text: str | None = None
    file: str | None = None
    hex: bool = False
    base64: bool = False
    encoding: str = "auto"
    smart: bool = False
    max_segments: int | None = None
    sender: str | None = None
    validity: str | None = None
    at: str | None = None
    ref: str | None = None
    idempotency_key: str | None = None
    dedupe_window: str | None = None
    dedupe_key: str | None = None
    force: bool = False
    wait: str | None = None
    await_reply: str | None = None  # "default" for a bare --await-reply
    dry_run: bool = False
    timeout: float | None = None
    verbose: bool = False
    history: bool = True
    yes: bool = False
    template: bool = False
    skip_invalid: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = None
    resume: str | None = None
    sandbox: bool = False
    base_url: str | None = None
    credentials: Mapping[str, str | None] = EMPTY
    extra: Mapping[str, Any] = EMPTY
    history_url: str | None = None  # the Python API's history_url= (over the config's)


def run_send(opts: SendOptions, runtime: Runtime, out: Reporter) -> ExitCode:
    """`smscli send`, `smscli <provider>` and ``smscli.send()``: see ``sending.run``."""
    from smscli.pipeline.sending import run

    return run(opts, runtime, out)


def run_cancel(query: StatusQuery, runtime: Runtime, out: Reporter) -> ExitCode:
    """`smscli cancel` (pipeline/cancel.py)."""
    from smscli.pipeline.cancel import run

    return run(query, runtime, out)


def run_reconcile(query: ReconcileQuery, runtime: Runtime, out: Reporter) -> ExitCode:
    """`smscli reconcile` (pipeline/reconcile.py)."""
    from smscli.output import Output
    from smscli.pipeline.reconcile import run

    assert isinstance(out, Output)
    return run(query, runtime, out)


def run_status(query: StatusQuery, runtime: Runtime, out: Reporter) -> ExitCode:
    """`smscli status` and ``smscli.status()``: see ``status.run``."""
    from smscli.pipeline.status import run

    return run(query, runtime, out)
