"""smscli.history: the journal, written before a send and updated after (SPEC §6). Every test
that is not about the SQLite file runs against both stores (the `store` fixture: SQLite and
PostgreSQL, one behaviour)."""

from __future__ import annotations

import dataclasses
import hashlib
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smscli.errors import ExitCode, UsageError
from smscli.history import History, default_path, row_to_result, stored_body
from smscli.models import SendResult, Status


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


@pytest.fixture
def history(store: Callable[..., History]) -> Iterator[History]:
    h = store()
    yield h
    h.close()


def _start(h: History, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "provider": "emnify",
        "profile": "fleet",
        "base_url": "https://cdn.emnify.net",
        "target": "endpoint:1234",
        "text": "hello",
        "segments": 1,
        "encoding": "gsm7",
        "reference": "ref-1",
    }
    fields.update(overrides)
    row_id = h.start(**fields)
    assert isinstance(row_id, int)
    return row_id


def _result(**overrides: Any) -> SendResult:
    fields: dict[str, Any] = {
        "provider": "emnify",
        "profile": "fleet",
        "target": "endpoint:1234",
        "status": Status.ACCEPTED,
    }
    fields.update(overrides)
    return SendResult(**fields)


def _raw_rows(store: Callable[..., History]) -> list[dict[str, Any]]:
    """The table as another process sees it (its own connection, the rows as stored)."""
    h = store()
    try:
        return [dict(r) for r in h._db().execute("SELECT * FROM sends ORDER BY id").fetchall()]
    finally:
        h.close()


# --------------------------------------------------------------------------- start / finish


def test_default_path_follows_smscli_data_dir(isolated: Path) -> None:
    assert default_path() == isolated / "data" / "history.sqlite3"


def test_start_writes_an_unknown_row_before_anything_else(
    history: History, store: Callable[..., History]
) -> None:
    row_id = _start(history, batch="b1", idempotency_key="k1")
    rows = _raw_rows(store)
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == row_id
    assert row["status"] == "unknown"
    assert row["provider"] == "emnify"
    assert row["profile"] == "fleet"
    assert row["base_url"] == "https://cdn.emnify.net"
    assert row["target"] == "endpoint:1234"
    assert row["reference"] == "ref-1"
    assert row["batch"] == "b1"
    assert row["idempotency_key"] == "k1"
    assert row["body"] == "hello"
    assert row["message_id"] is None
    assert row["created_at"] == row["updated_at"]


def test_start_returns_increasing_ids(history: History) -> None:
    first, second = _start(history), _start(history)
    assert second > first


def test_finish_records_the_result_and_json_round_trips(history: History) -> None:
    row_id = _start(history)
    result = _result(
        message_id="m-1",
        request_id="req-1",
        uuid="uuid-1",
        date="2026-03-01T10:00:00+00:00",
        segments=2,
        encoding="ucs2",
        parts=["part-a", "part-b"],
        error={"code": "x", "nested": [1, "ü", None]},
        details={"from": "ACME", "n": 2},
    )
    history.finish(row_id, result)
    row = history.find(f"#{row_id}")
    assert row is not None
    assert row["status"] == "accepted"
    assert row["message_id"] == "m-1"
    assert row["request_id"] == "req-1"
    assert row["uuid"] == "uuid-1"
    assert row["date"] == "2026-03-01T10:00:00+00:00"
    assert row["segments"] == 2
    assert row["encoding"] == "ucs2"
    assert row["parts"] == ["part-a", "part-b"]
    assert row["error"] == {"code": "x", "nested": [1, "ü", None]}
    assert row["details"] == {"from": "ACME", "n": 2}
    assert row["reference"] == "ref-1"  # kept from start(): the result had none
    assert row_to_result(row) == dataclasses.replace(result, reference="ref-1")


def test_finish_without_extras_stores_nulls(
    history: History, store: Callable[..., History]
) -> None:
    row_id = _start(history)
    history.finish(row_id, _result(status=Status.FAILED, reference="ref-2"))
    raw = _raw_rows(store)[0]
    assert raw["status"] == "failed"
    assert raw["parts"] is None
    assert raw["error"] is None
    assert raw["details"] is None
    assert raw["reference"] == "ref-2"
    row = history.last()
    assert row is not None
    assert row["details"] == {}


def test_finish_with_no_row_id_changes_nothing(
    history: History, store: Callable[..., History]
) -> None:
    _start(history)
    history.finish(None, _result(message_id="m"))
    assert _raw_rows(store)[0]["status"] == "unknown"


def test_set_status_keeps_details_when_none_given(history: History) -> None:
    row_id = _start(history)
    history.finish(row_id, _result(details={"a": 1}))
    history.set_status(row_id, Status.DELIVERED, None)
    row = history.find(f"#{row_id}")
    assert row is not None
    assert row["status"] == "delivered"
    assert row["details"] == {"a": 1}
    history.set_status(row_id, Status.FAILED, {"b": 2})
    row = history.find(f"#{row_id}")
    assert row is not None
    assert (row["status"], row["details"]) == ("failed", {"b": 2})


# --------------------------------------------------------------------------- find / last


@pytest.fixture
def filled(history: History) -> History:
    """Row 1: message m-1, uuid u-1, request r-1, parts p-1/p-2. Row 2: message id "1"."""
    first = _start(history)
    history.finish(
        first, _result(message_id="m-1", uuid="u-1", request_id="r-1", parts=["p-1", "p-2"])
    )
    second = _start(history, provider="emnify", target="endpoint:99")
    history.finish(second, _result(message_id="1", target="endpoint:99"))
    return history


@pytest.mark.parametrize(
    ("ident", "row_id"),
    [
        ("m-1", 1),
        ("u-1", 1),
        ("r-1", 1),
        ("p-2", 1),
        ("#1", 1),
        ("#2", 2),
        ("1", 2),  # a provider id first: row 2's message id is "1"
        ("2", 2),  # no provider id "2": history id 2
    ],
    ids=[
        "message-id",
        "uuid",
        "request-id",
        "part-id",
        "hash-1",
        "hash-2",
        "digits-provider-id-first",
        "digits-history-id",
    ],
)
def test_find(filled: History, ident: str, row_id: int) -> None:
    row = filled.find(ident)
    assert row is not None
    assert row["id"] == row_id


@pytest.mark.parametrize(
    "ident", ["nope", "#99", "99", "p-"], ids=["id", "hash", "digits", "prefix"]
)
def test_find_nothing(filled: History, ident: str) -> None:
    assert filled.find(ident) is None


def test_find_prefers_the_newest_row(history: History) -> None:
    for _ in range(2):
        history.finish(_start(history), _result(message_id="dup"))
    row = history.find("dup")
    assert row is not None
    assert row["id"] == 2


@pytest.mark.parametrize(
    ("part", "ident"),
    [("abcd", "ab_d"), ("abcd", "a%"), ("abcd", "ABCD")],
    ids=["underscore-wildcard", "percent-wildcard", "other-case"],
)
def test_find_part_id_matches_exactly(history: History, part: str, ident: str) -> None:
    history.finish(_start(history), _result(message_id="m-1", parts=[part]))
    assert history.find(ident) is None


def test_last(history: History) -> None:
    assert history.last() is None
    _start(history, target="endpoint:1")
    _start(history, target="endpoint:2")
    row = history.last()
    assert row is not None
    assert row["target"] == "endpoint:2"


# --------------------------------------------------------------------------- by_key / query


def test_by_key_matches_key_and_target(history: History) -> None:
    first = _start(history, idempotency_key="k", target="endpoint:1")
    _start(history, idempotency_key="k", target="endpoint:2")
    _start(history, idempotency_key="other", target="endpoint:1")
    row = history.by_key("k", "endpoint:1")
    assert row is not None
    assert row["id"] == first
    assert history.by_key("k", "endpoint:3") is None
    assert history.by_key("missing", "endpoint:1") is None


def test_by_key_newest_attempt_wins(history: History) -> None:
    first = _start(history, idempotency_key="k")
    history.finish(first, _result(status=Status.FAILED))
    second = _start(history, idempotency_key="k")
    row = history.by_key("k", "endpoint:1234")
    assert row is not None
    assert (row["id"], row["status"]) == (second, "unknown")


@pytest.fixture
def journal(history: History) -> History:
    rows = [
        ("emnify", "endpoint:100", Status.ACCEPTED, "b1"),
        ("csl", "iccid:8988303000000000100", Status.FAILED, "b1"),
        ("emnify", "endpoint:200", Status.DELIVERED, None),
        ("fonedynamics", "msisdn:+61400000100", Status.ACCEPTED, "b2"),
        ("emnify", "endpoint:300", Status.UNKNOWN, None),
    ]
    for provider, target, status, batch in rows:
        row_id = _start(history, provider=provider, target=target, batch=batch)
        if status is not Status.UNKNOWN:
            history.finish(row_id, _result(provider=provider, target=target, status=status))
    return history


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


@pytest.mark.parametrize(
    ("kwargs", "ids"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"target": "100"}, [1, 2, 4]),
        ({"target": "endpoint:"}, [1, 3, 5]),
        ({"provider": "emnify"}, [1, 3, 5]),
        ({"status": ["accepted"]}, [1, 4]),
        ({"status": ["failed", "unknown"]}, [2, 5]),
        ({"batch": "b1"}, [1, 2]),
        ({"provider": "emnify", "status": ["accepted", "delivered"]}, [1, 3]),
        ({"limit": 2}, [4, 5]),
        ({"limit": 2, "provider": "emnify"}, [3, 5]),
        ({"provider": "telit"}, []),
    ],
    ids=[
        "all",
        "target-substring",
        "target-kind",
        "provider",
        "status-one",
        "status-list",
        "batch",
        "provider-and-status",
        "limit-newest-ascending",
        "limit-after-filter",
        "no-match",
    ],
)
def test_query(journal: History, kwargs: dict[str, Any], ids: list[int]) -> None:
    assert _ids(journal.query(**kwargs)) == ids


# --------------------------------------------------------------------------- disabled history


def test_disabled_history_records_nothing(isolated: Path) -> None:
    h = History(None)
    assert h.enabled is False
    assert (
        h.start(
            provider="emnify",
            profile=None,
            base_url="x",
            target="endpoint:1",
            text="t",
            segments=1,
            encoding="gsm7",
            reference=None,
        )
        is None
    )
    h.finish(1, _result())
    h.set_status(1, Status.DELIVERED, None)
    assert h.find("1") is None
    assert h.last() is None
    assert h.query() == []
    assert not (isolated / "data").exists()
    h.close()


def test_disabled_history_refuses_idempotency_keys() -> None:
    with pytest.raises(UsageError) as info:
        History(None).by_key("k", "endpoint:1")
    assert info.value.exit_code is ExitCode.USAGE
    assert info.value.code == "history_disabled"


# --------------------------------------------------------------------------- bodies, files


def test_stored_body_modes() -> None:
    assert stored_body("héllo", "full") == "héllo"
    assert stored_body("héllo", "hash") == (
        "sha256:" + hashlib.sha256("héllo".encode()).hexdigest()
    )
    assert stored_body("héllo", "none") is None


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("full", "secret plan"),
        ("hash", "sha256:" + hashlib.sha256(b"secret plan").hexdigest()),
        ("none", None),
    ],
    ids=["full", "hash", "none"],
)
def test_history_body_mode(store: Callable[..., History], mode: str, expected: str | None) -> None:
    h = store(body_mode=mode)
    try:
        _start(h, text="secret plan")
    finally:
        h.close()
    assert _raw_rows(store)[0]["body"] == expected


def test_db_file_is_private(db_path: Path) -> None:
    history = History(db_path)
    _start(history)
    history.close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


def test_reopened_history_sees_earlier_rows(store: Callable[..., History]) -> None:
    first = store()
    try:
        _start(first, target="endpoint:7")
    finally:
        first.close()
    second = store()
    try:
        row = second.last()
    finally:
        second.close()
    assert row is not None
    assert row["target"] == "endpoint:7"


# --------------------------------------------------------------------------- row_to_result


def test_row_to_result_unknown_status_string(history: History) -> None:
    _start(history)
    row = history.last()
    assert row is not None
    row["status"] = "teleported"
    assert row_to_result(row).status is Status.UNKNOWN


def test_row_to_result_of_a_fresh_row(history: History) -> None:
    _start(history)
    row = history.last()
    assert row is not None
    result = row_to_result(row)
    assert result.status is Status.UNKNOWN
    assert result.reference == "ref-1"
    assert result.message_id is None
    assert result.details == {}
    assert result.to_json()["target"] == "endpoint:1234"


# --------------------------------------------------------------------------- idempotency claims


def _claim(h: History, key: str = "K", target: str = "endpoint:1", claim: bool = True) -> Any:
    from smscli.history import Attempt

    attempt = Attempt("emnify", None, "http://x", target, "hi", 1, "gsm7", None, "b1", key, claim)
    [got] = h.record(started=[attempt])
    return got


@pytest.mark.parametrize("status", ["unknown", "accepted", "delivered"])
def test_a_held_idempotency_key_is_not_claimed_twice(
    store: Callable[..., History], status: str
) -> None:
    from smscli.history import Taken

    first, second = store(), store()  # two processes, one history
    try:
        row_id = _claim(first)
        assert isinstance(row_id, int)
        if status != "unknown":
            first.finish(row_id, _result(status=Status(status)))
        taken = _claim(second)
        assert isinstance(taken, Taken)
        assert taken.row["id"] == row_id and taken.row["status"] == status
        assert len(_raw_rows(store)) == 1  # nothing written for the loser
        assert isinstance(_claim(second, target="endpoint:2"), int)  # another target
        assert isinstance(_claim(second, key="K2"), int)  # another key
        assert isinstance(_claim(second, claim=False), int)  # --force
    finally:
        first.close()
        second.close()


def test_a_refused_send_holds_no_key(store: Callable[..., History]) -> None:
    h = store()
    try:
        row_id = _claim(h)
        h.finish(row_id, _result(status=Status.REJECTED))
        assert isinstance(_claim(h), int)  # sending again is what the user asks for
    finally:
        h.close()


def test_a_claim_racing_an_uncommitted_claim_loses(store: Callable[..., History]) -> None:
    """Another process's claim is inserted but not committed yet when this one claims:
    this one waits (SQLite: for the write lock; PostgreSQL: on the unique index
    ``sends_claim``, its check having seen nothing), then finds that row: Taken, nothing
    written. On PostgreSQL this is the unique constraint at work, not the check."""
    import threading
    import time

    from smscli.history import _INSERT, Attempt, Taken

    first, second = store(), store()
    attempt = Attempt("emnify", None, "http://x", "endpoint:1", "hi", 1, "gsm7", None, "b1",
                      "K", True)  # fmt: skip
    got: list[Any] = []
    try:
        first.open()
        second.open()
        db = first._db()
        with db.transaction():
            row_id = db.insert(_INSERT, attempt.values("full"))
            racer = threading.Thread(target=lambda: got.append(second.record(started=[attempt])))
            racer.start()
            time.sleep(0.5)
            assert racer.is_alive()  # waiting for the first transaction
        racer.join(30)
        [taken] = got[0]
        assert isinstance(taken, Taken) and taken.row["id"] == row_id
        assert len(_raw_rows(store)) == 1
    finally:
        first.close()
        second.close()


def test_receipts_and_rows_for_on_both_stores(history: History) -> None:
    """`smscli listen`'s two history calls (issue 11) behave alike on both stores."""
    row_id = _start(history)
    history.finish(row_id, _result(message_id="m-9", parts=["p-1", "p-2"]))
    assert [r["id"] for r in history.rows_for("p-2", "emnify")] == [row_id]
    assert [r["id"] for r in history.rows_for("m-9", "emnify")] == [row_id]
    assert history.rows_for("m-9", "telit") == []
    assert history.apply_receipt(row_id, Status.DELIVERED, provider_status="X", date=None,
                                 part="p-1")  # fmt: skip
    row = history.find(f"#{row_id}")
    assert row is not None and row["status"] == "accepted"  # one part of two
    assert history.apply_receipt(row_id, Status.DELIVERED, provider_status="X", date="d",
                                 part="p-2")  # fmt: skip
    row = history.find(f"#{row_id}")
    assert row is not None and row["status"] == "delivered"
    assert not history.apply_receipt(row_id, Status.SENT, provider_status=None, date=None)
