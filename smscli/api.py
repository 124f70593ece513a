"""The Python API: the same pipeline as the command line, for job systems and scripts.

::

    from smscli import send

    report = send("reboot", to="iccid:8988303000006734768", profile="fleet")
    for r in report.results:
        print(r.target, r.status, r.message_id)

``send()`` runs exactly what ``smscli send`` runs (config → local checks → history row →
provider → history update → optional wait) through ``pipeline.run_send``, reporting to a
``Collector`` instead of the terminal's renderer: RESULTs come back as the same
``SendResult`` objects the CLI prints, warnings in ``SendReport.warnings``, notes in
``SendReport.notes``, and nothing is written to stdout or stderr.

Errors: a problem that stops the whole run (config, credentials, a bad message or target, a
single send the provider refused, an unknown outcome...) is raised as the pipeline's
``SmscliError`` subclass, with ``.exit_code``, ``.code``, ``.message`` and ``.hint``. With
several targets, a failure of one target is not raised: it is a RESULT with ``error`` set,
and ``SendReport.exit_code`` is 9 (some accepted) as with the CLI.

``import smscli`` does not import this module; ``smscli.send`` etc. load it on first use.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smscli.errors import ExitCode, UsageError
from smscli.models import SendResult
from smscli.redaction import Redactor

if TYPE_CHECKING:
    import httpx

    from smscli.catalog import ProviderInfo
    from smscli.history import History
    from smscli.models import Request
    from smscli.pipeline import Runtime
    from smscli.report import CheckLine

__all__ = ["Client", "ReconcileReport", "SendReport", "send", "status"]


@dataclass(frozen=True)
class ReconcileReport:
    """What ``Client.reconcile()`` did: each ``unknown`` row's before → after, as
    ``smscli reconcile --json`` prints them (``history_id``, ``provider``, ``target``,
    ``batch``, ``before``, ``after``: ``accepted``/``not-sent``/``unknown``, ``message_id``,
    ``reason``, ``details``), the summary (total, accepted, not_sent, unknown) and the CLI's
    exit code (0 every row settled, 7 some still unknown)."""

    rows: list[dict[str, Any]]
    summary: dict[str, int]
    exit_code: ExitCode
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every row was settled (none is still unknown)."""
        return self.exit_code == ExitCode.OK


Wait = str | float | bool | None
"""``"90s"``/``"10m"``/``"2h"``, or seconds; ``True`` waits the CLI's default (300 s)."""


@dataclass(frozen=True)
class SendReport:
    """What one ``send()`` did: the RESULTs, the summary and the CLI's exit code for it."""

    results: list[SendResult]
    summary: dict[str, int]  # total, accepted, failed, skipped (SPEC §4)
    batch: str | None  # pass to ``send(..., resume=batch)`` to re-run the targets not sent
    exit_code: ExitCode  # what `smscli send` would have exited with (SPEC §5)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # hints, --smart replacements
    # ``lock=NAME`` was held by another run: who holds it ({"name", "host", "user", "pid",
    # "since"}); nothing was sent (no RESULTs, exit code 0, as `smscli --lock`).
    lock: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Every message accepted (or delivered, with ``wait``)."""
        return self.exit_code == ExitCode.OK

    @property
    def failed(self) -> list[SendResult]:
        """The RESULTs with an error or a status other than accepted/queued/sent/delivered."""
        return [r for r in self.results if r.error is not None or not r.status.is_success]


class Collector:
    """The Python API's ``Reporter``: it keeps what the pipeline reports and prints nothing.

    Not an ``Output``: it implements the events of ``smscli.report.Reporter`` and nothing
    else, so no method added to the renderer can print from a library call.
    """

    def __init__(self, on_result: Callable[[SendResult], None] | None = None) -> None:
        self.redactor = Redactor()
        self.on_result = on_result
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.results_seen: list[SendResult] | None = None
        self.summary: dict[str, int] = {}
        self.batch: str | None = None
        self._lock = threading.Lock()

    def warning(self, message: str) -> None:
        with self._lock:
            self.warnings.append(self.redactor.text(message))

    def note(self, message: str) -> None:
        with self._lock:
            self.notes.append(self.redactor.text(message))

    def trace(self, line: str) -> None:
        pass  # the API has no --verbose: an HTTP trace is never asked for

    def wants_results(self, total: int) -> bool:
        return True  # SendReport.results holds every RESULT

    def result(self, result: SendResult) -> None:
        if self.on_result is not None:
            self.on_result(result)

    def results(
        self, results: Sequence[SendResult], summary: dict[str, int], batch: str | None
    ) -> None:
        self.results_seen = list(results)
        self.summary = dict(summary)
        self.batch = batch

    statuses = results

    def progress_start(self, total: int) -> None:
        pass

    def progress_advance(self, done: int) -> None:
        pass

    def progress_stop(self) -> None:
        pass

    def dry_run_requests(self, requests: Sequence[Request]) -> None:
        pass  # the API has no dry run

    def checks(self, lines: Sequence[CheckLine], hint: str | None) -> None:
        pass  # the API has no doctor


def _wait_arg(wait: str | float | None, name: str = "wait") -> str | None:
    """The API's ``wait`` (or ``await_reply``) as the pipeline's ``--wait`` value."""
    if wait is None or wait is False:
        return None
    if wait is True:
        return "default"
    if isinstance(wait, str):
        return wait
    if isinstance(wait, int | float):
        # Plain seconds; a non-positive or non-finite value fails parse_duration (exit 2).
        return f"{float(wait):.3f}"
    raise UsageError(f"{name} must be a duration string or seconds, not {type(wait).__name__}")


class Client:
    """Shared settings for many sends: a profile (or a provider + credentials), a config
    file, a base URL, a timeout. Cheap to create; safe to share between threads (every call
    builds its own session and history connection).

    ``transport`` (an ``httpx.BaseTransport``), ``clock`` and ``sleep`` are for tests: the
    in-process sandbox and a fake clock, as the CLI's own tests use them.
    """

    def __init__(
        self,
        *,
        profile: str | None = None,
        provider: str | None = None,
        credentials: Mapping[str, str] | None = None,
        config: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        history: bool = True,
        history_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.profile = profile
        self.provider = provider
        self.credentials: dict[str, str] = dict(credentials or {})
        self.config = config
        self.base_url = base_url
        self.timeout = timeout
        self.history = history
        # A PostgreSQL history shared by several hosts or workers (over SMSCLI_HISTORY_URL
        # and the config's history_url); its password in the URL or history_password.
        self.history_url = history_url
        self.transport = transport
        self.clock = clock
        self.sleep = sleep

    def __repr__(self) -> str:  # never the credentials
        who = f"profile={self.profile!r}" if self.profile else f"provider={self.provider!r}"
        return f"Client({who}, base_url={self.base_url!r})"

    def _runtime(self) -> Runtime:
        from smscli.pipeline import Runtime

        runtime = Runtime(transport=self.transport)
        if self.clock is not None:
            runtime = runtime._replace(clock=self.clock)
        if self.sleep is not None:
            runtime = runtime._replace(sleep=self.sleep)
        return runtime

    def _history(self) -> History:
        """This client's history, not opened yet (where ``lock=`` lives)."""
        from smscli import config as config_mod
        from smscli.history import History
        from smscli.pipeline.sessions import open_history

        if not self.history:
            return History(None)
        cfg = config_mod.load(config_mod.config_path(self.config))
        return open_history(cfg, url=self.history_url)

    def _provider_info(self) -> ProviderInfo:
        """The provider this client's profile/provider resolves to (as `send` would)."""
        from smscli import config as config_mod

        cfg = config_mod.load(config_mod.config_path(self.config))
        return config_mod.choose(cfg, self.profile, self.provider).info

    def _checked_credentials(self, info: ProviderInfo) -> dict[str, str | None]:
        known = [f.name for f in info.fields]
        for name, value in self.credentials.items():
            if name not in known:
                raise UsageError(
                    f"unknown credential {name!r} for {info.slug}; known: {', '.join(known)}",
                    code="unknown_credential",
                )
            if not isinstance(value, str):
                raise UsageError(f"credential {name!r} must be a string", code="bad_credential")
        return dict(self.credentials)

    def send(
        self,
        text: str | bytes,
        *,
        to: str | Sequence[str],
        sender: str | None = None,
        encoding: str = "auto",
        smart: bool = False,
        max_segments: int | None = None,
        validity: str | None = None,
        at: str | None = None,
        ref: str | None = None,
        idempotency_key: str | None = None,
        dedupe_window: str | float | None = None,
        dedupe_key: str | None = None,
        lock: str | None = None,
        lock_strict: bool = False,
        force: bool = False,
        wait: Wait = None,
        await_reply: Wait = None,
        timeout: float | None = None,
        extra: Mapping[str, Any] | None = None,
        concurrency: int = 4,
        rate: float | None = None,
        resume: str | None = None,
        on_result: Callable[[SendResult], None] | None = None,
    ) -> SendReport:
        """Send ``text`` to every target in ``to``; see :func:`smscli.api.send`.

        ``await_reply`` (``"30s"``, seconds, or ``True`` for the CLI's default 2 minutes):
        after acceptance, wait for each target's first reply; it is on the RESULT as
        ``reply`` (``{"text", "date", "id", "from"}``, or ``{}`` when none came in time:
        then ``exit_code`` is 10)."""
        from smscli.pipeline import SendOptions, run_send

        targets = [to] if isinstance(to, str) else list(to)
        if not all(isinstance(t, str) for t in targets):
            raise UsageError("to must be a target string or a sequence of them", code="bad_target")
        if isinstance(text, bytes | bytearray):
            body, is_hex = bytes(text).hex(), True  # binary data: the --hex path
        elif isinstance(text, str):
            if text == "-":
                raise UsageError(
                    "the Python API never reads stdin; pass the message text itself",
                    code="stdin_text",
                )
            body, is_hex = text, False
        else:
            raise UsageError(f"text must be str or bytes, not {type(text).__name__}")
        if max_segments is not None and max_segments < 1:
            raise UsageError(f"max_segments must be at least 1, not {max_segments!r}")
        if not 1 <= concurrency <= 64:
            raise UsageError(f"concurrency must be 1-64, not {concurrency!r}")
        if rate is not None and rate < 0:
            raise UsageError(f"rate must be 0 (no limit) or more, not {rate!r}")
        if timeout is not None and not timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")

        credentials: dict[str, str | None] = {}
        message_extra: dict[str, Any] = {}
        if self.credentials or extra:
            info = self._provider_info()
            credentials = self._checked_credentials(info)
            if extra:
                message_extra = _provider_extra(info, extra)

        if isinstance(dedupe_window, bool):
            raise UsageError("dedupe_window must be a duration string or seconds, not a bool")
        opts = SendOptions(
            provider=self.provider,
            profile=self.profile,
            config=self.config,
            to=targets,
            text=body,
            hex=is_hex,
            encoding=encoding,
            smart=smart,
            max_segments=max_segments,
            sender=sender,
            validity=validity,
            at=at,
            ref=ref,
            idempotency_key=idempotency_key,
            dedupe_window=_wait_arg(dedupe_window, "dedupe_window"),
            dedupe_key=dedupe_key,
            force=force,
            wait=_wait_arg(wait),
            await_reply=_wait_arg(await_reply, "await_reply"),
            timeout=timeout if timeout is not None else self.timeout,
            history=self.history,
            yes=True,  # the caller asked for these targets: there is no one to prompt
            concurrency=concurrency,
            rate=rate,
            resume=resume,
            base_url=self.base_url,
            credentials=credentials,
            extra=message_extra,
            history_url=self.history_url,
        )
        out = Collector(on_result)
        if lock is None:
            if lock_strict:
                raise UsageError("lock_strict needs lock=NAME")
            return _report(out, run_send(opts, self._runtime(), out))
        return _locked(
            lock, lock_strict, out, self._history, lambda: run_send(opts, self._runtime(), out)
        )

    def inbox(
        self,
        *,
        since: str | None = None,
        sender: str | None = None,
        limit: int = 20,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """The devices' replies, as ``smscli inbox --json``: pulled from the provider into
        the history, then the history's replies of this provider matching ``since``
        (``"2h"``, ``"3d"`` or ISO 8601) and ``sender`` (``--from``: a target; emnify asks
        the endpoints of the last 7 days' sends without it), the newest ``limit``, oldest
        first. Each is ``{"history_id", "provider", "profile", "id", "from", "text",
        "date", "details", "new"}``. CSL has no pull API: ``InputError`` (exit 4)."""
        from smscli.pipeline.inbox import InboxQuery, collect

        if not isinstance(limit, int) or limit < 1:
            raise UsageError(f"limit must be at least 1, not {limit!r}")
        if timeout is not None and not timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
        credentials: dict[str, str | None] = {}
        if self.credentials:
            credentials = self._checked_credentials(self._provider_info())
        query = InboxQuery(
            since=since,
            sender=sender,
            limit=limit,
            timeout=timeout if timeout is not None else self.timeout,
            config=self.config,
            credentials=credentials,
            profile=self.profile,
            provider=self.provider,
            base_url=self.base_url,
            history=self.history,
            history_url=self.history_url,
        )
        return collect(query, self._runtime(), Collector())

    def status(
        self,
        ident: str | None = None,
        *,
        last: bool = False,
        wait: Wait = None,
        timeout: float | None = None,
    ) -> SendResult:
        """Ask the provider what happened to a message from the local history.

        ``ident`` is a message id, uuid or request id, or ``"#N"`` for history row N; or
        ``last=True``. With ``wait``, poll until a final status or the timeout. The returned
        RESULT's ``status`` says what was found (``delivered``, ``failed``, ``sent``...); its
        ``details["history_id"]`` is the history row.

        The message's provider settings come from this client's ``credentials``, then env
        vars, then the profile the message was sent with.
        """
        out = self._status(ident, last=last, batch=None, wait=wait, timeout=timeout)[1]
        assert out.results_seen, "run_status reports exactly one RESULT"
        return out.results_seen[0]

    def batch_status(
        self, batch: str, *, wait: Wait = None, timeout: float | None = None
    ) -> SendReport:
        """The status of every message of a batch (``SendReport.batch``), as
        ``smscli status --batch``: the report's ``exit_code`` is 0, or with ``wait`` what
        ``--wait`` exits with (0 all delivered, 9 some not, 8 failed, 10 timed out)."""
        code, out = self._status(None, last=False, batch=batch, wait=wait, timeout=timeout)
        return _report(out, code)

    def reconcile(
        self,
        which: str | None = None,
        *,
        last: bool = False,
        timeout: float | None = None,
    ) -> ReconcileReport:
        """Settle sends whose outcome is ``unknown``, as ``smscli reconcile``: ``which`` is a
        batch id or any id of one message (``"#N"``: history row N), or ``last=True`` (the
        most recent run's batch). Each row is looked up on its provider and recorded as
        ``accepted`` (with the provider's id) or ``not-sent``, or stays ``unknown``;
        ``send(..., resume=batch)`` then resends only the not-sent ones."""
        from smscli.pipeline.reconcile import ReconcileQuery, settle, summary_of

        if timeout is not None and not timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
        out = Collector()
        query = ReconcileQuery(
            which=which,
            last=last,
            timeout=timeout if timeout is not None else self.timeout,
            config=self.config,
            credentials=dict(self.credentials or {}),
            history_url=self.history_url,
        )
        code, settled = settle(query, self._runtime(), out)
        return ReconcileReport(
            rows=[s.to_json() for s in settled],
            summary=summary_of(settled),
            exit_code=code,
            notes=list(out.notes),
        )

    def _status(
        self,
        ident: str | None,
        *,
        last: bool,
        batch: str | None,
        wait: Wait,
        timeout: float | None,
    ) -> tuple[ExitCode, Collector]:
        from smscli.pipeline import run_status
        from smscli.pipeline.status import StatusQuery

        if timeout is not None and not timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
        out = Collector()
        query = StatusQuery(
            ident=ident,
            last=last,
            batch=batch,
            wait=_wait_arg(wait),
            timeout=timeout if timeout is not None else self.timeout,
            config=self.config,
            credentials=dict(self.credentials or {}),
            history_url=self.history_url,
        )
        return ExitCode(run_status(query, self._runtime(), out)), out


def _locked(
    name: str,
    strict: bool,
    out: Collector,
    history: Callable[[], History],
    run: Callable[[], int],
) -> SendReport:
    """``lock=NAME``: the run, holding the lock; or, when another run holds it, nothing
    sent: a report with ``lock`` set (exit code 0), or ``LockHeld`` (exit 11) if strict.
    The lock lives where the history is kept (``locks.lock_for``)."""
    from smscli.errors import LockHeld
    from smscli.locks import check_name, lock_for

    lock = lock_for(history)
    holder = lock.acquire(check_name(name))
    if holder is None:
        try:
            return _report(out, run())
        finally:
            lock.release()
    if strict:
        raise LockHeld(f"lock {holder.describe()}")
    out.note(f"skipped: {holder.describe()}")
    return dataclasses.replace(_report(out, ExitCode.OK), lock=holder.to_json())


def _report(out: Collector, code: int) -> SendReport:
    return SendReport(
        results=out.results_seen or [],
        summary=out.summary or {"total": 0, "accepted": 0, "failed": 0, "skipped": 0},
        batch=out.batch,
        exit_code=ExitCode(code),
        warnings=out.warnings,
        notes=out.notes,
    )


def _provider_extra(info: ProviderInfo, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The provider's own options, named as its subcommand's flags (``delivery_receipt``,
    ``receipt_webhook``, ``group``, ``custom_field``, ``dcs``, ``smsc``...), checked and
    mapped to ``Message.extra`` by the provider's declaration, as the CLI's are."""
    known = [o.name for o in info.options]
    unknown = [k for k in extra if k not in known]
    if unknown:
        raise UsageError(
            f"{info.slug} has no option {', '.join(map(repr, unknown))}; "
            f"its own options: {', '.join(known) or 'none'}",
            code="unknown_option",
        )
    return info.extra_from(extra)


def send(
    text: str | bytes,
    *,
    to: str | Sequence[str],
    profile: str | None = None,
    provider: str | None = None,
    sender: str | None = None,
    encoding: str = "auto",
    smart: bool = False,
    max_segments: int | None = None,
    validity: str | None = None,
    at: str | None = None,
    ref: str | None = None,
    idempotency_key: str | None = None,
    dedupe_window: str | float | None = None,
    dedupe_key: str | None = None,
    lock: str | None = None,
    lock_strict: bool = False,
    force: bool = False,
    wait: Wait = None,
    await_reply: Wait = None,
    timeout: float | None = None,
    base_url: str | None = None,
    credentials: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    history: bool = True,
    history_url: str | None = None,
    concurrency: int = 4,
    rate: float | None = None,
    resume: str | None = None,
    config: str | None = None,
    on_result: Callable[[SendResult], None] | None = None,
) -> SendReport:
    """Send an SMS through the same pipeline as ``smscli send``; print nothing.

    Arguments mirror the command-line options (SPEC §2): ``to`` is one target or several
    (``KIND:VALUE`` or a phone number); ``profile`` (else ``SMSCLI_PROFILE``, else the
    config's ``default_profile``) or ``provider`` with ``credentials`` (field name → value,
    e.g. ``{"application_token": ...}``; env vars ``SMSCLI_<PROVIDER>_<FIELD>`` work too);
    ``text`` as ``bytes`` sends binary data; ``wait`` polls for delivery (``"30s"``, seconds,
    or ``True`` for the default 5 minutes); ``await_reply`` waits for each target's first
    reply (``"30s"``, seconds, or ``True`` for 2 minutes; ``SendResult.reply``); ``extra``
    holds the provider's own options named like its subcommand's flags
    (``{"delivery_receipt": False}``, ``{"group": "fleet"}``); ``on_result`` is called
    with each RESULT once it is in the history (from the calling thread); ``history_url``
    (``"postgresql://…"``) records in a PostgreSQL history shared by several hosts, where
    ``idempotency_key`` holds across all of them (README "Running on several hosts").

    For job systems that may run a task twice (Celery, RQ, cron on several hosts):
    ``idempotency_key`` sends at most once per key and target (``--idempotency-key``: a
    retry of the task gets the first run's RESULT); ``dedupe_window`` (``"30m"`` or
    seconds) with ``dedupe_key`` (``--dedupe-key``, default
    ``"{provider}:{to}:{text_hash}"``) does not send the same text to the same target again
    within the window (the RESULT is ``deduped``, not a failure); ``lock`` (``--lock NAME``)
    runs the send only when no other run holds NAME (else nothing is sent and
    ``SendReport.lock`` says who holds it; ``lock_strict=True`` raises ``LockHeld``, exit 11).

    Returns a :class:`SendReport`. Raises ``smscli.errors.SmscliError`` (its subclass tells
    what failed; ``.exit_code`` is the CLI's) when the run stops as a whole; per-target
    failures of a multi-target run are RESULTs with ``error`` set instead.
    """
    client = Client(
        profile=profile,
        provider=provider,
        credentials=credentials,
        config=config,
        base_url=base_url,
        history=history,
        history_url=history_url,
    )
    return client.send(
        text,
        to=to,
        sender=sender,
        encoding=encoding,
        smart=smart,
        max_segments=max_segments,
        validity=validity,
        at=at,
        ref=ref,
        idempotency_key=idempotency_key,
        dedupe_window=dedupe_window,
        dedupe_key=dedupe_key,
        lock=lock,
        lock_strict=lock_strict,
        force=force,
        wait=wait,
        await_reply=await_reply,
        timeout=timeout,
        extra=extra,
        concurrency=concurrency,
        rate=rate,
        resume=resume,
        on_result=on_result,
    )


def status(
    ident: str | None = None,
    *,
    last: bool = False,
    wait: Wait = None,
    timeout: float | None = None,
    config: str | None = None,
) -> SendResult:
    """The delivery status of a sent message, as ``smscli status``; see :meth:`Client.status`."""
    return Client(config=config).status(ident, last=last, wait=wait, timeout=timeout)


if TYPE_CHECKING:
    from smscli.report import Reporter

    def _reports(out: Collector) -> Reporter:
        """mypy: the collector implements every event of the reporting interface."""
        return out
