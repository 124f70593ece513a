"""`smscli status` (SPEC §7): which messages (the history, or the provider alone), with
which settings, ask their provider (the polling loop of ``waiting``), record and report
what it said.

    run ─► which_records   an id / #N / --last / --batch → history rows; with --provider
                           or -p, an id the history does not hold is asked of the provider
        ─► settings_for_record   -p / --provider, else the profile it was sent with, or
                                 its provider + env
        ─► ask             one round, or with --wait until final; each answer recorded
        ─► statuses event  and the exit code (0, or with --wait what --wait exits with)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smscli import config as config_mod
from smscli.errors import ConfigError, ExitCode, InputError, ProviderUnavailable, UsageError
from smscli.models import SendResult, Settings, Status, StatusReport
from smscli.pipeline.exits import exit_code_of, summary_of
from smscli.pipeline.sessions import hide_secrets, open_history, open_session, with_timeout
from smscli.pipeline.waiting import Watched, poll, wait_seconds

if TYPE_CHECKING:
    from smscli.history import History
    from smscli.http_client import HttpSession
    from smscli.pipeline import Runtime
    from smscli.providers.base import Provider
    from smscli.report import Reporter


@dataclass(frozen=True)
class StatusQuery:
    """What `status` was asked: exactly one of ``ident``, ``last`` and ``batch``."""

    ident: str | None = None  # message id, uuid, request id, or "#N" (history row N)
    last: bool = False
    batch: str | None = None
    wait: str | None = None  # --wait value ("default" for a bare --wait)
    timeout: float | None = None
    verbose: bool = False
    config: str | None = None
    credentials: Mapping[str, str | None] = field(default_factory=dict)
    profile: str | None = None  # -p: its credentials (and provider)
    provider: str | None = None  # --provider: credentials from flags/env
    target: str | None = None  # -t: where a message the history does not hold was sent
    history_url: str | None = None  # the Python API's history_url= (over the config's)


def run(query: StatusQuery, runtime: Runtime, out: Reporter) -> ExitCode:
    """Look messages up in the history (or, with --provider/-p, ask the provider about an
    id it does not hold), ask their provider, record and report it."""
    if query.wait is not None:
        wait_seconds(query.wait)  # a malformed --wait is a usage error, before anything else
    cfg = config_mod.load(config_mod.config_path(query.config))
    choice = None
    if query.profile is not None or query.provider is not None:
        choice = config_mod.choose(cfg, query.profile, query.provider)
    history = open_history(cfg, redactor=out.redactor, url=query.history_url)
    try:
        records = which_records(query, history, out, choice)
        settings = settings_for_query(query, records[0], cfg, choice, out)
        from smscli.catalog import get_info
        from smscli.providers import load

        provider = load(get_info(records[0]["provider"]))(settings)
        results = ask(query, records, provider, settings, history, runtime, out)
    finally:
        history.close()
    out.statuses(results, summary_of(results, delivery=True), query.batch)
    return exit_code_of(results, waited=True) if query.wait is not None else ExitCode.OK


def which_records(
    query: StatusQuery,
    history: History,
    out: Reporter,
    choice: config_mod.ProfileChoice | None = None,
    command: str = "status",
) -> list[dict[str, Any]]:
    """The history rows `status` asks about (exit 3 without a history, 4 when not found).
    ``choice`` (-p/--provider): only that provider's rows; an id the history does not hold
    becomes a row of its own (``id`` None: asked of the provider, not recorded).
    ``command``: the command the hints name (`cancel` takes the ID the same way)."""
    if sum((query.ident is not None, query.last, query.batch is not None)) != 1:
        raise UsageError("give a message id (or #N), --last, or --batch BATCH")
    if query.target is not None and query.ident is None:
        raise UsageError("-t/--to goes with a message id (for a message the history lacks)")
    slug = choice.info.slug if choice is not None else None
    direct = query.ident is not None and slug is not None and not query.ident.startswith("#")
    if not history.enabled:
        if direct:
            return [unrecorded(query, choice)]
        raise ConfigError(
            "`status` needs the history, and it is turned off",
            hint=f"to ask a provider about a message id: smscli {command} --provider SLUG ID "
            "(or -p PROFILE), with its credentials",
            code="no_history",
        )
    if query.batch is not None:
        records = history.query(batch=query.batch, limit=1_000_000)
        if not records:
            raise InputError(f"no batch {query.batch!r} in the history", code="not_found")
        if slug is not None and records[0]["provider"] != slug:
            raise InputError(
                f"batch {query.batch} was sent with {records[0]['provider']}, not {slug}",
                code="provider_mismatch",
            )
        return records
    record = history.last(slug) if query.last else history.find(query.ident or "", slug)
    if record is None:
        if direct:
            return [unrecorded(query, choice)]
        what = (
            "no sends in the history yet"
            if query.last
            else f"no message {query.ident!r} in the history"
            + (f" for {slug}" if slug is not None else "")
        )
        hint = "`smscli log` lists what was sent"
        if not query.last and slug is None:
            hint += f"; to ask a provider directly: smscli {command} --provider SLUG ID"
        raise InputError(what, hint=hint, code="not_found")
    if record["status"] == Status.UNKNOWN.value and not record["message_id"]:
        out.warning(
            f"history #{record['id']}: the send's outcome is unknown and the provider "
            "returned no id; asking anyway"
        )
    return [record]


def unrecorded(query: StatusQuery, choice: config_mod.ProfileChoice | None) -> dict[str, Any]:
    """A message the history does not hold (sent by another host, another tool, or with
    the history off), as the row a provider's status lookup reads: the id given is its
    message id, request id and client reference (CSL looks a message up by its sms_uid),
    sent to ``-t`` (emnify needs the endpoint, CSL the SIM)."""
    from smscli.targets import parse_target

    assert choice is not None and query.ident is not None
    target = ""
    if query.target is not None:
        parsed, _ = parse_target(query.target, choice.info.target_kinds)
        target = str(parsed)
    ident = query.ident
    return {
        "id": None, "created_at": None, "updated_at": None, "batch": None,
        "provider": choice.info.slug, "profile": choice.name, "base_url": None,
        "target": target, "status": Status.UNKNOWN.value, "message_id": ident,
        "request_id": ident, "uuid": None, "reference": ident, "date": None,
        "segments": None, "encoding": None, "parts": None, "error": None, "details": {},
        "idempotency_key": None, "body": None,
    }  # fmt: skip


def settings_for_query(
    query: StatusQuery,
    record: Mapping[str, Any],
    cfg: config_mod.Config,
    choice: config_mod.ProfileChoice | None,
    out: Reporter,
) -> Settings:
    """The settings to ask about ``record`` with: -p/--provider's, else its own (secrets
    masked in the output, --timeout applied)."""
    if choice is not None and (choice.name is not None or record["id"] is None):
        settings = config_mod.resolve_settings(choice, query.credentials)
    elif choice is not None:  # --provider, and the history's row says where it went
        settings = config_mod.resolve_settings(
            choice,
            query.credentials,
            base_url=record.get("base_url"),
            sandbox=sent_to_a_temporary_sandbox(record),
        )
    else:
        settings = settings_for_record(record, cfg, query.credentials)
    settings = with_timeout(settings, query.timeout)
    hide_secrets(settings, out)
    return settings


def settings_for_record(
    record: Mapping[str, Any], cfg: config_mod.Config, credentials: Mapping[str, str | None]
) -> Settings:
    """Settings to query a message from the history: its profile, or its provider + env."""
    profile = record.get("profile")
    if profile and profile in cfg.profiles:
        choice = config_mod.choose(cfg, profile, None)
    else:
        choice = config_mod.choose(cfg, None, record["provider"])
    base_url = record.get("base_url") if not profile else None
    # A --sandbox emulator accepted any credentials; do not ask for real ones to reach it.
    sandbox = sent_to_a_temporary_sandbox(record)
    return config_mod.resolve_settings(choice, credentials, base_url=base_url, sandbox=sandbox)


def sent_to_a_temporary_sandbox(record: Mapping[str, Any]) -> bool:
    url = str(record.get("base_url") or "")
    return record.get("profile") is None and url.startswith(
        ("http://127.0.0.1:", "http://localhost:")
    )


def ask(
    query: StatusQuery,
    records: list[dict[str, Any]],
    provider: Provider,
    settings: Settings,
    history: History,
    runtime: Runtime,
    out: Reporter,
) -> list[SendResult]:
    """Every record as a RESULT, updated with what its provider says now (each answer
    recorded in the history)."""
    from smscli.history import row_to_result

    # A message the history lacks is shown by the id asked about (the provider's lookup
    # reads it as its message id, request id or reference, whichever it uses).
    results = [
        row_to_result(r if r["id"] is not None else r | {"request_id": None, "reference": None})
        for r in records
    ]
    for record, result in zip(records, results, strict=True):
        if record["id"] is not None:
            result.details["history_id"] = record["id"]
        else:
            result.details["history"] = "none (asked the provider by id)"
    # A single message is always asked about (an unknown outcome too: the provider may know
    # it); in a batch, only those the provider took and that are not final yet. A refused
    # or failed send has nothing to look up: its recorded status is the answer.
    todo = [
        Watched(record, result)
        for record, result in zip(records, results, strict=True)
        if (result.status.is_success and not result.status.is_final)
        or (query.batch is None and result.status is Status.UNKNOWN)
    ]
    deadline = None if query.wait is None else runtime.clock() + wait_seconds(query.wait)

    recorded = [r["id"] for r in records if r["id"] is not None]
    if recorded and history.enabled and not history.writable:
        out.warning(
            f"the history at {history.where} {history.read_only}: what the provider says "
            "now is shown, not recorded"
        )

    def save(item: Watched, report: StatusReport) -> None:
        if item.record["id"] is not None and history.writable:
            history.set_status(item.record["id"], item.result.status, item.result.details)

    if provider.info.features.receipts_by_callback:
        # Delivery comes only by callback (ThingSpace): the receipt `smscli listen`
        # recorded is the answer; --wait looks at the history every second. A batch shows
        # each row as it stands; one message without a receipt is exit 4.
        from smscli.pipeline.receipts import HISTORY_POLL, recorded_report

        by_history = deadline is not None or query.batch is not None

        poll(
            todo,
            lambda item: recorded_report(provider.info, history, item.record, waiting=by_history),
            runtime,
            deadline=deadline,
            steady=HISTORY_POLL,
        )
        return results
    with open_session(settings, runtime, out, query.verbose) as session:
        poll(
            todo,
            lambda item: ask_about(provider, session, item.record, "status"),
            runtime,
            deadline=deadline,
            on_report=save,
        )
    return results


# A provider's status lookup that needs the message's target (emnify: the endpoint; CSL:
# the SIM) says so with one of these codes.
NEEDS_TARGET = ("no_endpoint", "no_target")


def ask_about(
    provider: Provider, session: HttpSession, record: Mapping[str, Any], command: str
) -> StatusReport:
    """``provider.status`` (or ``.cancel``, for `smscli cancel`) of a history row, its
    report scrubbed; a lookup that needs the target the user did not give (an id the
    history lacks) is a usage error, and a `--sandbox` run's gone emulator says so."""
    call = provider.cancel if command == "cancel" else provider.status
    what = "cancels a message" if command == "cancel" else "looks a message up"
    try:
        with session.conversation(provider.label):
            return session.redactor.report(call(session, record))
    except InputError as err:
        if record["id"] is None and not record["target"] and err.code in NEEDS_TARGET:
            raise UsageError(
                f"{provider.label} {what} by where it was sent: give -t/--to TARGET with the id",
                code="target_needed",
            ) from None
        raise
    except ProviderUnavailable:
        gone = sandbox_gone(record, command)
        if gone is not None:
            raise gone from None
        raise


def sandbox_gone(record: Mapping[str, Any], command: str) -> ProviderUnavailable | None:
    """Why a provider cannot be reached for a message a ``--sandbox`` run sent: its emulator
    lived only for that command (``None`` for any other message)."""
    if not sent_to_a_temporary_sandbox(record):
        return None
    return ProviderUnavailable(
        f"history #{record['id']} was sent to a --sandbox emulator that ran "
        "only for that command; there is nothing to ask any more",
        hint=f"to try {command}, run `smscli sandbox` and point a profile at it",
        code="sandbox_gone",
    )
