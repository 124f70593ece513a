"""`smscli cancel ID`: cancel a message the provider holds and has not delivered yet
(emnify's ``DELETE …/endpoint/{id}/sms/{sms_id}``).

    run ─► which_records (status.py)  the ID as `status` takes it: any id smscli printed,
                                      #N; with --provider/-p, an id the history lacks
        ─► the provider's ``features.cancel`` (catalog): "not supported by X", exit 4
        ─► provider.cancel            200 → canceled (recorded); 409 → exit 5; 404 → exit 4
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smscli import config as config_mod
from smscli.errors import ExitCode, InputError, UsageError
from smscli.models import Status
from smscli.pipeline.exits import summary_of
from smscli.pipeline.sessions import open_history, open_session
from smscli.pipeline.status import (
    StatusQuery,
    ask_about,
    settings_for_query,
    which_records,
)

if TYPE_CHECKING:
    from smscli.pipeline import Runtime
    from smscli.report import Reporter


def run(query: StatusQuery, runtime: Runtime, out: Reporter) -> ExitCode:
    from smscli.catalog import get_info
    from smscli.history import row_to_result

    if query.ident is None:
        raise UsageError("give the id of the message to cancel")
    cfg = config_mod.load(config_mod.config_path(query.config))
    choice = None
    if query.profile is not None or query.provider is not None:
        choice = config_mod.choose(cfg, query.profile, query.provider)
    if choice is not None and not choice.info.features.cancel:
        raise _unsupported(choice.info.label)  # before the history, before any I/O
    history = open_history(cfg, redactor=out.redactor, url=query.history_url)
    try:
        [record] = which_records(query, history, out, choice, command="cancel")
        info = get_info(record["provider"])
        if not info.features.cancel:
            raise _unsupported(info.label)
        settings = settings_for_query(query, record, cfg, choice, out)
        from smscli.providers import load

        provider = load(info)(settings)
        with open_session(settings, runtime, out, query.verbose) as session:
            report = ask_about(provider, session, record, "cancel")
        result = row_to_result(record)
        result.status = Status.CANCELED
        result.date = report.date or result.date
        result.details.update(report.details)
        if record["id"] is not None:
            result.details["history_id"] = record["id"]
            if history.writable:
                history.set_status(record["id"], Status.CANCELED, result.details)
            elif history.enabled:
                out.warning(
                    f"the history at {history.where} {history.read_only}: "
                    "the cancel is not recorded"
                )
        else:
            result.details["history"] = "none (canceled by id)"
    finally:
        history.close()
    out.statuses([result], summary_of([result], delivery=True), None)
    return ExitCode.OK


def _unsupported(label: str) -> InputError:
    return InputError(
        f"cancel is not supported by {label}: its API cannot cancel a message once accepted",
        code="cancel_unsupported",
    )
