"""`smscli reconcile [BATCH|--last|ID]`: settle ``unknown`` sends by asking the provider.

run ─► rows       a batch (BATCH, or --last: the most recent run's batch) or one row (ID)
                  → its ``unknown`` rows
    ─► lookup     per row: its text (the history's body), its window (created_at −
                  MARGIN … updated_at + MARGIN); a provider without ``features.reconcile``
                  cannot tell (no request)
    ─► provider.reconcile   accepted (with its id) | not-sent | unknown (reason)
    ─► history    accepted / not-sent recorded; `--resume` then resends only not-sent
    ─► output     before → after per row; exit 0 when every row was settled, else 7
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smscli import config as config_mod
from smscli.errors import (
    ConfigError,
    ExitCode,
    InputError,
    LoginRefused,
    SmscliError,
    UsageError,
)
from smscli.models import Reconciled, SendLookup, Status
from smscli.pipeline.sessions import hide_secrets, open_history, open_session, with_timeout
from smscli.pipeline.status import settings_for_record

if TYPE_CHECKING:
    from smscli.history import History
    from smscli.output import Output
    from smscli.pipeline import Runtime
    from smscli.report import Reporter

# Seconds around a row's own times in which the provider's record of the message must fall
# (clocks of smscli's host and the provider's may differ a little).
MARGIN = 120.0


@dataclass(frozen=True)
class ReconcileQuery:
    which: str | None = None  # a batch id, or any id `status` takes
    last: bool = False  # the most recent run's batch
    timeout: float | None = None
    verbose: bool = False
    config: str | None = None
    credentials: Mapping[str, str | None] = field(default_factory=dict)
    history_url: str | None = None  # the Python API's history_url= (over the config's)


@dataclass
class Settled:
    """One row's reconcile: before → after."""

    record: dict[str, Any]
    found: Reconciled

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "history_id": r["id"], "provider": r["provider"], "target": r["target"],
            "batch": r["batch"], "before": r["status"], "after": self.found.status.value,
            "message_id": self.found.message_id or r["message_id"], "reason": self.found.reason,
            "details": dict(self.found.details),
        }  # fmt: skip


def run(query: ReconcileQuery, runtime: Runtime, out: Output) -> ExitCode:
    code, settled = settle(query, runtime, out)
    report(settled, out)
    return code


def settle(
    query: ReconcileQuery, runtime: Runtime, out: Reporter
) -> tuple[ExitCode, list[Settled]]:
    """Reconcile the rows the query names; the exit code (0 all settled, 7 some unknown)
    and each row's before → after (the CLI prints them, the Python API returns them)."""
    cfg = config_mod.load(config_mod.config_path(query.config))
    history = open_history(cfg, redactor=out.redactor, url=query.history_url)
    try:
        rows = which_rows(query, history)
        todo = [r for r in rows if r["status"] == Status.UNKNOWN.value]
        if todo and not history.writable:  # (a newer smscli's schema, a read-only file)
            out.warning(
                f"the history at {history.where} {history.read_only or 'is not writable'}: "
                "what the provider says is shown, not recorded (the rows stay unknown)"
            )
        settled = reconcile_rows(todo, cfg, query, runtime, out, history) if todo else []
    finally:
        history.close()
    if not todo:
        out.note(_nothing_to_do(rows))
    left = sum(1 for s in settled if s.found.status is Status.UNKNOWN)
    return (ExitCode.UNKNOWN if left else ExitCode.OK), settled


def _nothing_to_do(rows: list[dict[str, Any]]) -> str:
    """The note when none of the chosen rows is unknown."""
    if len(rows) == 1:
        return f"#{rows[0]['id']} is {rows[0]['status']}, not unknown: nothing to reconcile"
    return f"none of the {len(rows)} sends is unknown: nothing to reconcile"


def summary_of(settled: list[Settled]) -> dict[str, int]:
    counts = {"total": len(settled), "accepted": 0, "not_sent": 0, "unknown": 0}
    for s in settled:
        counts[s.found.status.value.replace("-", "_")] += 1
    return counts


def which_rows(query: ReconcileQuery, history: History) -> list[dict[str, Any]]:
    if (query.which is not None) == query.last:
        raise UsageError("give a batch id, a message id (or #N), or --last")
    if not history.enabled:
        raise ConfigError("`reconcile` needs the history, and it is turned off", code="no_history")
    if query.last:
        last = history.last()
        if last is None:
            raise InputError("no sends in the history yet", code="not_found")
        return history.query(batch=last["batch"], limit=1_000_000) if last["batch"] else [last]
    assert query.which is not None
    rows = history.query(batch=query.which, limit=1_000_000)
    if rows:
        return rows
    row = history.find(query.which)
    if row is None:
        raise InputError(
            f"no batch or message {query.which!r} in the history",
            hint="`smscli log --status unknown` lists what may or may not have gone out",
            code="not_found",
        )
    return [row]


def reconcile_rows(
    rows: list[dict[str, Any]],
    cfg: config_mod.Config,
    query: ReconcileQuery,
    runtime: Runtime,
    out: Reporter,
    history: History,
) -> list[Settled]:
    from smscli.catalog import get_info
    from smscli.providers import load

    settled: list[Settled] = []
    groups: dict[tuple[str, str | None, str | None], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["provider"], row["profile"], row["base_url"]), []).append(row)
    for group in groups.values():
        info = get_info(group[0]["provider"])
        if not info.features.reconcile:
            why = f"{info.label} offers no lookup of a sent message: cannot tell"
            settled += [Settled(r, Reconciled(Status.UNKNOWN, reason=why)) for r in group]
            continue
        settings = settings_for_record(group[0], cfg, query.credentials)
        settings = with_timeout(settings, query.timeout)
        hide_secrets(settings, out)
        provider = load(info)(settings)
        with open_session(settings, runtime, out, query.verbose) as session:
            for row in group:
                lookup = lookup_of(row, runtime.clock())
                try:
                    with session.conversation(provider.label):
                        found = provider.reconcile(session, lookup)
                except (ConfigError, LoginRefused, UsageError):
                    raise  # the same for every row: the run's error
                except SmscliError as err:
                    found = Reconciled(Status.UNKNOWN, reason=f"lookup failed: {err.message}")
                found = found._replace(details=session.redactor.data(dict(found.details)))
                settled.append(Settled(row, found))
                if found.status is not Status.UNKNOWN and history.writable:
                    details = dict(row["details"] or {})
                    details["reconciled"] = found.reason or found.status.value
                    history.reconciled(row["id"], found.status, found.message_id, details)
    return settled


def lookup_of(row: Mapping[str, Any], now: float) -> SendLookup:
    """A row's text (when the history keeps it whole) and the window it was sent in."""
    body = row.get("body")
    text = None if body is None or _is_hash(str(body)) else str(body)
    start = _epoch(row.get("created_at"), now) - MARGIN
    end = min(_epoch(row.get("updated_at"), now) + MARGIN, now + 1)
    return SendLookup(row, text, start, end)


def _is_hash(body: str) -> bool:
    digest = body.removeprefix("sha256:")
    return (
        body.startswith("sha256:")
        and len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
    )


def _epoch(value: Any, default: float) -> float:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return default


def report(settled: list[Settled], out: Output) -> None:
    counts = summary_of(settled)
    if out.mode == "json":
        out.json({"reconciled": [s.to_json() for s in settled], "summary": counts})
        return
    if out.mode == "quiet":
        for s in settled:
            out.print(f"#{s.record['id']} {s.found.status.value}")
        return
    if not settled:
        return  # (the note on stderr says why: nothing was unknown)
    columns = ["#", "provider", "target", "before", "after", "message id", "reason"]
    out.table(columns, [_cells(s) for s in settled], status_column=4)
    out.print(
        f"{counts['total']} unknown: {counts['accepted']} accepted, {counts['not_sent']} "
        f"not sent, {counts['unknown']} still unknown"
    )


def _cells(s: Settled) -> list[Any]:
    r = s.record
    found = s.found
    shown_id = found.message_id or r["message_id"] or r["reference"] or ""
    return [r["id"], r["provider"], r["target"], r["status"], found.status.value, shown_id,
            found.reason or ""]  # fmt: skip
