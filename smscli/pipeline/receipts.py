"""Delivery receipts `smscli listen` recorded, read back by `status` and `send --wait` for a
provider that reports delivery only by callback (``Features.receipts_by_callback``:
ThingSpace). Nothing is asked of the provider: the history row is the answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from smscli.errors import InputError
from smscli.models import Status, StatusReport, same_device

if TYPE_CHECKING:
    from smscli.catalog import ProviderInfo
    from smscli.history import History

HISTORY_POLL: Final = 1.0  # seconds between looks at the history while waiting


def row_of(history: History, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record's history row as it is now: by history id, else (a RESULT `send --wait`
    holds) by the provider's id and the target."""
    if not history.enabled:
        return None
    if record.get("id") is not None:
        return history.find(f"#{record['id']}", str(record["provider"]))
    ident = record.get("request_id") or record.get("message_id") or record.get("uuid")
    rows = history.rows_for(str(ident or ""), str(record["provider"]))
    target = str(record.get("target") or "")
    mine = [r for r in rows if same_device(str(r["target"]), target)]
    found = mine or (rows if len(rows) == 1 else [])
    return found[0] if found else None


def recorded_report(
    info: ProviderInfo, history: History, record: Mapping[str, Any], *, waiting: bool
) -> StatusReport:
    """What the history says of the message: the receipt listen recorded; without one,
    its status so far while ``waiting`` (or for a batch's rows), else exit 4 explaining
    where receipts come from."""
    row = row_of(history, record)
    receipt = (row.get("details") or {}).get("receipt") if row is not None else None
    if row is not None and receipt:
        try:
            status = Status(row["status"])
        except ValueError:
            status = Status.UNKNOWN
        return StatusReport(
            status=status,
            provider_status=receipt.get("provider_status"),
            date=receipt.get("date"),
            details={"receipt": "recorded by smscli listen"},
        )
    if waiting:
        current = Status(row["status"]) if row is not None else Status.ACCEPTED
        return StatusReport(status=current if not current.is_final else Status.ACCEPTED)
    ident = record.get("request_id") or record.get("message_id")
    which = f"requestId {ident}" if ident else "this send has no requestId"
    raise InputError(
        f"{info.label} reports delivery only by callback, and the history holds no "
        f"receipt for this message yet ({which})",
        hint="run `smscli listen` where the provider can reach it and register it "
        f"(`smscli callbacks register` for {info.slug}); then `status --wait` or "
        "`send --wait` see the receipt",
        code="status_unsupported",  # (as before listen: no status API, no receipt yet)
    )
