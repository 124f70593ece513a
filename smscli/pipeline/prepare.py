"""Preparing a send: every local check, in the order a user fixes things; no network I/O.

config → profile → provider → message (encoding, limits, sender, --at, --validity) → every
target (kinds, duplicates, --template rows) → a ``Plan`` that can build the jobs again.
Every target and every (rendered) message is checked before the first request: a bad one
stops the run with exit 3/4 and nothing sent, unless --skip-invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from smscli import config as config_mod
from smscli.catalog import ProviderInfo, limit_problems, supporting
from smscli.errors import ConfigError, InputError, SmscliError, UsageError
from smscli.message import build_check, read_body, require_utf8, shown, smart_skipped
from smscli.models import Message, MessageCheck, SendResult, Settings, Target
from smscli.pipeline.sessions import open_history, with_timeout
from smscli.pipeline.waiting import wait_seconds
from smscli.timeparse import DURATION_HINT, parse_duration, parse_when

if TYPE_CHECKING:
    from smscli.bulk import DistinctTargets, Job, Plan, RowSource
    from smscli.history import History
    from smscli.pipeline import Runtime, SendOptions
    from smscli.providers.base import Provider
    from smscli.report import Reporter


@dataclass
class Prepared:
    """A checked send, ready to run: nothing has gone out yet."""

    info: ProviderInfo
    settings: Settings
    provider: Provider
    plan: Plan
    history: History
    wait: float | None  # --wait, in seconds
    source: RowSource
    await_reply: float | None = None  # --await-reply, in seconds
    dedupe: Dedupe | None = None  # the dedupe window in force, if any


# -- the message ---------------------------------------------------------------------------
def check_sender(sender: str, info: ProviderInfo | None = None) -> str:
    """``sender`` under ``info``'s own rule (catalog ``sender_rule``; without a provider,
    the generic one: an E.164 number, a short code, or 1–11 of A-Za-z0-9 and space with a
    letter); its canonical form. InputError (exit 4) when it cannot be a sender."""
    from smscli.catalog import generic_sender

    value, _warnings = info.check_sender(sender) if info is not None else generic_sender(sender)
    return value


def resolve_sender(
    opts: SendOptions, info: ProviderInfo, settings_sender: str | None
) -> tuple[str | None, list[str]]:
    """The sender to send from (--from, else the profile's), in the provider's canonical
    form, and warnings (a dropped trunk prefix); None when there is none to send."""
    sender = opts.sender if opts.sender is not None else settings_sender
    if opts.sender is not None and not info.features.sender:
        raise unsupported(info, "--from", "sender")
    if sender is None or not info.features.sender:
        return None, []  # a profile default sender does not apply to this provider
    return info.check_sender(sender)


def unsupported(info: ProviderInfo, option: str, feature: str) -> InputError:
    """An option this provider cannot honour: exit 4, naming the providers that can."""
    others = [s for s in supporting(feature) if s != info.slug]
    return InputError(
        f"{info.slug} cannot honour {option}; providers that can: {', '.join(others) or 'none'}",
        code="unsupported_option",
    )


class OptionValues(NamedTuple):
    """--at, --validity and --wait, read."""

    at: datetime | None = None
    validity: int | None = None  # seconds
    wait: float | None = None  # seconds


def parse_values(opts: SendOptions, now: datetime) -> OptionValues:
    """The option values the command line alone can reject: one that cannot be read is a
    usage error (exit 2), before the message, the targets or the provider's support for
    the option are checked. Whether the provider honours a well-formed one is a message
    check (exit 4), later."""
    at = parse_when(opts.at, now) if opts.at is not None else None
    validity = None
    if opts.validity is not None:
        seconds = parse_duration(opts.validity, "--validity")
        if seconds < 1:  # every provider counts validity in whole seconds or more
            raise UsageError(
                f"invalid --validity {opts.validity!r}: less than a second",
                hint=DURATION_HINT,
                code="invalid_duration",
            )
        validity = int(seconds)
    wait = wait_seconds(opts.wait) if opts.wait is not None else None
    return OptionValues(at, validity, wait)


def build_message(
    opts: SendOptions,
    info: ProviderInfo,
    sender: str | None,
    check: MessageCheck,
    values: OptionValues,
) -> Message:
    """The checked text with the options that go with it, each one the provider honours
    (``sender``: from ``resolve_sender``)."""
    if values.at is not None and not info.features.at:
        raise unsupported(info, "--at", "at")
    if values.validity is not None and not info.features.validity:
        raise unsupported(info, "--validity", "validity")
    if check.encoding.value == "binary" and not info.features.binary:
        raise unsupported(info, "binary data (--hex/--base64/--encoding binary)", "binary")
    return Message(
        check=check,
        sender=sender,
        validity_seconds=values.validity,
        at=values.at,
        reference=opts.ref,
        extra=dict(opts.extra),
    )


class MessageMaker:
    """Builds the checked ``Message`` for a text: the same rules for the one TEXT and for
    every row of a --template."""

    def __init__(
        self,
        opts: SendOptions,
        choice: config_mod.ProfileChoice,
        values: OptionValues,
        warn: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.opts = opts
        self.info = choice.info
        self.max_segments = opts.max_segments or config_mod.common(choice, "max_segments")
        self.profile_sender = config_mod.common(choice, "sender")
        self.smart = opts.smart or config_mod.common(choice, "smart") is True
        self.values = values
        self.warn = warn
        self._sender: tuple[str | None] | None = None  # checked once, on first use

    @property
    def sender(self) -> str | None:
        """The sender in the provider's form, checked (and its warnings given) once."""
        if self._sender is None:
            value, warnings = resolve_sender(self.opts, self.info, self.profile_sender)
            for w in warnings:
                self.warn(w)
            self._sender = (value,)
        return self._sender[0]

    def __call__(self, text: str) -> Message:
        opts = self.opts
        check = build_check(
            text,
            encoding=opts.encoding,
            hex_input=opts.hex,
            base64_input=opts.base64,
            smart=self.smart,
        )
        if check.units == 0:
            raise InputError("the message is empty; nothing to send", code="empty_message")
        problems = limit_problems(check, self.info, self.max_segments)
        if problems:
            raise problems[0]
        return build_message(opts, self.info, self.sender, check, self.values)


# -- the dedupe window ---------------------------------------------------------------------
DEFAULT_DEDUPE_KEY = "{provider}:{to}:{text_hash}"
# The placeholders of --dedupe-key that are not --to-file columns (they win over a column
# of the same name: {to} is the normalised target, not the file's cell).
DEDUPE_FIELDS = ("to", "text_hash", "provider", "profile")


class Dedupe(NamedTuple):
    """The dedupe window in force: --dedupe-window (or the profile's ``dedupe_window``) in
    seconds, and the --dedupe-key template."""

    window: float
    key: str = DEFAULT_DEDUPE_KEY
    source: str = "--dedupe-window"  # where the window came from, for messages

    def render(
        self,
        target: Target,
        message: Message,
        provider: str,
        profile: str | None,
        row: Mapping[str, str] | None = None,
    ) -> str:
        """This target's key: the template with its row's cells and the fixed fields."""
        import hashlib

        values = dict(row or {})
        values.update(
            to=str(target),
            text_hash=hashlib.sha256(message.text.encode("utf-8")).hexdigest(),
            provider=provider,
            profile=profile or "",
        )
        return self.key.format_map(values)

    def since(self, now: datetime) -> str:
        """The window's start as ``created_at`` stores times (ISO 8601 UTC, seconds)."""
        from datetime import timedelta

        return (now - timedelta(seconds=self.window)).isoformat(timespec="seconds")

    @property
    def same_text(self) -> bool:
        """Whether the key is "this text to this target" (the default's meaning)."""
        return "{to}" in self.key and "{text_hash}" in self.key


def dedupe_of(
    opts: SendOptions, choice: config_mod.ProfileChoice, source: RowSource
) -> Dedupe | None:
    """The dedupe window in force (--dedupe-window, else the profile's ``dedupe_window``),
    or None. A --dedupe-key whose {column} the --to-file has not is an input error (exit 4,
    as for --template); a bad window or key, or a key without a window, a usage error."""
    from smscli.bulk import template_fields
    from smscli.timeparse import parse_duration

    raw, where = opts.dedupe_window, "--dedupe-window"
    if raw is None:
        raw, where = config_mod.common(choice, "dedupe_window"), "dedupe_window"
    if raw is None:
        if opts.dedupe_key is not None:
            raise UsageError(
                "--dedupe-key needs a dedupe window: --dedupe-window DURATION (or "
                "dedupe_window in the profile)",
                code="dedupe_key_without_window",
            )
        return None
    window = parse_duration(raw, where)
    key = opts.dedupe_key if opts.dedupe_key is not None else DEFAULT_DEDUPE_KEY
    try:
        fields = template_fields(key)
    except InputError as err:
        raise UsageError(
            err.message.replace("--template", "--dedupe-key", 1), code="bad_dedupe_key"
        ) from None
    import string

    styled = [f"{{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}"
              for _, name, spec, conv in string.Formatter().parse(key)
              if name is not None and (spec or conv)]  # fmt: skip
    if styled:  # ({to:x} raised ValueError at render time: an internal error, exit 1)
        raise UsageError(
            f"--dedupe-key {key!r}: a placeholder takes no format spec or conversion "
            f"({', '.join(styled)})",
            hint="write plain placeholders, e.g. --dedupe-key '{to}:{text_hash}'",
            code="bad_dedupe_key",
        )
    if not fields:
        raise UsageError(
            f"--dedupe-key {key!r} has no placeholder: every send would share one key",
            hint="e.g. --dedupe-key '{to}:{text_hash}' or a --to-file column: '{group}'",
            code="bad_dedupe_key",
        )
    columns = [f for f in fields if f not in DEDUPE_FIELDS]
    if columns:
        have = source.columns() if opts.to_file is not None else None
        missing = [c for c in columns if c not in (have or [])]
        if missing:
            names = ", ".join("{" + m + "}" for m in missing)
            known = ", ".join("{" + f + "}" for f in DEDUPE_FIELDS)
            raise InputError(
                f"--dedupe-key uses {names}, but "
                + (
                    f"the targets have only these columns: {', '.join(have)}"
                    if have
                    else "there is no --to-file CSV with such a column"
                ),
                hint=f"the placeholders are {known} and the columns of a --to-file CSV",
                code="dedupe_key_column_missing",
            )
    return Dedupe(window, key, where)


# -- the targets ---------------------------------------------------------------------------
Row = tuple[int, str, Target | None, Message | None, SmscliError | None, str | None]
# Invalid targets listed one by one in the error that refuses a run; the rest are counted.
LISTED_PROBLEMS = 100


class _AboutTheMessage(Exception):
    """A provider check failed for a reason that is not the target's: it stops the run as
    it is (no "target N (…)" prefix, never skipped target by target)."""

    def __init__(self, error: InputError) -> None:
        super().__init__(error.message)
        self.error = error


class CheckedRows:
    """Every row of --to/--to-file, checked: its target and its message (rendered, with
    --template). Read twice: the first pass reports problems and finds duplicates; the
    second (which builds the jobs) skips the duplicates the first found, by row number, so
    memory grows with duplicates, not targets."""

    def __init__(
        self,
        opts: SendOptions,
        source: RowSource,
        provider: Provider,
        make_message: MessageMaker,
        base_message: Message | None,
        body: str,
        out: Reporter,
        dedupe: Dedupe | None = None,
    ) -> None:
        self.dedupe = dedupe
        self.opts = opts
        self.source = source
        self.provider = provider
        self.make_message = make_message
        self.base_message = base_message
        self.body = body
        self.out = out
        self.duplicates: set[int] = set()

    def __call__(self, report: bool) -> Iterator[Row]:
        """(row, raw, target, message, error, dedupe key) for every row, duplicates
        dropped (the key only when a dedupe window is in force, on the second pass)."""
        from smscli.bulk import DistinctTargets

        seen = DistinctTargets() if report else None
        try:
            yield from self._rows(report, seen)
        except _AboutTheMessage as about:
            raise about.error from None
        finally:
            if seen is not None:
                seen.close()

    def _rows(self, report: bool, seen: DistinctTargets | None) -> Iterator[Row]:
        from smscli.bulk import render
        from smscli.targets import parse_target

        kinds = self.make_message.info.target_kinds
        for n, row in enumerate(self.source.rows(), 1):
            if n in self.duplicates:
                continue
            raw = row["to"]
            try:
                target, warnings = parse_target(raw, kinds)
                if seen is not None and not seen.add(str(target)):
                    self.duplicates.add(n)
                    self.out.warning(f"target {n}: duplicate {target}; sent once")
                    continue
                message = (
                    self.make_message(render(self.body, row))
                    if self.opts.template
                    else self.base_message
                )
                assert message is not None
                self._check(message, target)
            except InputError as err:
                err.message = f"target {n} ({raw}): {err.message}"
                yield n, raw, None, None, err, None
                continue
            if report:
                for w in warnings:
                    self.out.warning(f"target {n}: {w}")
            key = None
            if self.dedupe is not None and not report:
                settings = self.provider.settings
                key = self.dedupe.render(target, message, settings.slug, settings.profile, row)
            yield n, raw, target, message, None, key

    def _check(self, message: Message, target: Target) -> None:
        """The provider's checks of this message to this target. One that fails the same
        way with no target at all is about the message (a --at too far ahead, a bad --ref):
        raised as ``_AboutTheMessage``, not as this target's problem."""
        try:
            self.provider.check_message(message, [target])
        except InputError as err:
            try:
                self.provider.check_message(message, [])
            except InputError as again:
                if (again.code, again.message) == (err.code, err.message):
                    raise _AboutTheMessage(err) from None
            raise


def _check_template(body: str, source: RowSource) -> None:
    from smscli.bulk import template_fields

    fields = template_fields(body)
    columns = source.columns() or ["to"]
    missing = [f for f in fields if f not in columns]
    if missing:
        raise InputError(
            f"--template uses {', '.join('{' + m + '}' for m in missing)}, but the targets "
            f"have only these columns: {', '.join(columns)}",
            code="template_column_missing",
        )


def _require_utf8(opts: SendOptions) -> None:
    """The text values that are sent or stored, from the Python API (the command line checks
    every argument before it runs: commands/root.py)."""
    values = [
        ("--ref", opts.ref),
        ("--idempotency-key", opts.idempotency_key),
        ("--from", opts.sender),
        *(("--to", value) for value in opts.to),
    ]
    for option, value in values:
        if value is not None:
            require_utf8(value, f"the value of {option}")


_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _check_no_placeholders(body: str, source: RowSource, to_file: str) -> None:
    """TEXT with ``{name}`` where ``name`` is a column of the --to-file CSV, but no
    --template: the user meant a template, and would send the braces to everyone."""
    columns = {c.strip().lower() for c in source.columns() or ()}
    used = [m for m in _PLACEHOLDER.findall(body) if m.strip().lower() in columns]
    if used:
        name = used[0]
        raise InputError(
            f"the message has {{{name}}}, a column of --to-file {shown(to_file)}, but "
            "--template is not given: it would be sent as it is",
            hint=f"add --template to fill it in from each row (then {{{{{name}}}}} is a "
            f"literal {{{name}}})",
            code="template_not_given",
        )


# -- the plan ------------------------------------------------------------------------------
def prepare(opts: SendOptions, runtime: Runtime, out: Reporter, cfg: config_mod.Config) -> Prepared:
    """Every local check, in the order a user fixes things; no network I/O."""
    from smscli.bulk import RowSource
    from smscli.providers import load

    _require_utf8(opts)
    _check_stdin(opts)
    values = parse_values(opts, datetime.fromtimestamp(runtime.clock(), UTC))
    choice = config_mod.choose(cfg, opts.profile, opts.provider)
    if choice.picked_by:  # --provider without -p: say which profile it uses
        out.note(
            f"using profile {choice.name!r} for {choice.info.slug} ({choice.picked_by}); "
            "-p NAME picks another"
        )
    info = choice.info
    body = read_body(opts.text, opts.file)
    make_message = MessageMaker(opts, choice, values, warn=out.warning)
    source = RowSource(opts.to, opts.to_file)
    try:
        base_message: Message | None = None
        if opts.template:
            _check_template(body, source)
        else:
            if opts.to_file is not None:
                _check_no_placeholders(body, source, opts.to_file)
            base_message = make_message(body)
            for r in base_message.check.replacements:
                out.note(f"--smart: replaced {r.char!r} ({r.codepoint}) with {r.replacement!r}")
            if base_message.check.skipped:
                out.warning(smart_skipped(base_message.check))
        by_callback = info.features.receipts_by_callback  # (read from the history)
        if values.wait is not None and not (info.features.status or by_callback):
            raise unsupported(info, "--wait (delivery status)", "status")
        await_reply = None
        if opts.await_reply is not None:
            from smscli.pipeline.inbox import await_seconds, refuse_without_pull

            await_reply = await_seconds(opts.await_reply)
            refuse_without_pull(info)
        settings = config_mod.resolve_settings(
            choice, opts.credentials, base_url=opts.base_url, sandbox=opts.sandbox
        )
        settings = with_timeout(settings, opts.timeout)
        dedupe = dedupe_of(opts, choice, source)
        provider = load(info)(settings)
        rows = CheckedRows(opts, source, provider, make_message, base_message, body, out, dedupe)
        plan = _plan(opts, info, settings, provider, rows, base_message, dedupe)
        history = open_history(cfg, opts, redactor=out.redactor)
        if dedupe is not None and not history.enabled:
            error = UsageError if dedupe.source == "--dedupe-window" else ConfigError
            raise error(
                f"{dedupe.source} needs the history; it is turned off (--no-history or "
                "history = false)",
                code="history_disabled",
            )
    except BaseException:
        source.close()  # a spooled stdin; once prepared, the run closes it
        raise
    if await_reply is not None:
        from smscli.pipeline.inbox import check_history

        try:
            check_history(history, info)  # (ThingSpace's queue: not without a history)
        except BaseException:
            source.close()
            history.close()
            raise
    if values.wait is not None and info.features.receipts_by_callback and not history.enabled:
        source.close()
        raise ConfigError(
            f"{info.label} reports delivery only by callback: --wait reads the receipt "
            "`smscli listen` records in the history, and the history is turned off",
            hint="turn the history on (history = true), or send without --wait",
            code="no_history",
        )
    return Prepared(
        info, settings, provider, plan, history, values.wait, source, await_reply, dedupe
    )


def _check_stdin(opts: SendOptions) -> None:
    """Stdin can be read once: for the targets (--to-file -) or the message, not both."""
    if opts.to_file != "-" or opts.file is not None:
        return
    if opts.text == "-":
        raise UsageError(
            "stdin cannot be both the targets (--to-file -) and the message text (-)",
            hint="give the message as TEXT or --file PATH, or the targets as --to-file PATH",
            code="stdin_twice",
        )
    if opts.text is None:
        raise UsageError(
            "--to-file - reads the targets from stdin: give the message as TEXT or --file",
            hint="e.g. cut -d, -f1 list.csv | smscli send -p fleet --to-file - 'Hello'",
            code="stdin_twice",
        )


def _plan(
    opts: SendOptions,
    info: ProviderInfo,
    settings: Settings,
    provider: Provider,
    rows: CheckedRows,
    base_message: Message | None,
    dedupe: Dedupe | None = None,
) -> Plan:
    """The first pass over the rows (count, report, refuse), and how to build the jobs."""
    from smscli.bulk import Job, Plan

    plan = Plan(total=0)
    invalid_rows: set[int] = set()
    problems: list[SmscliError] = []  # the first LISTED_PROBLEMS, to refuse the run with
    for n, raw, _target, _message, err, _key in rows(report=True):
        if err is not None:
            if opts.skip_invalid:
                plan.invalid.append(_invalid(info.slug, settings.profile, raw, err))
            if len(problems) < LISTED_PROBLEMS:
                problems.append(err)
            invalid_rows.add(n)
        else:
            plan.total += 1
    if invalid_rows and (not opts.skip_invalid or plan.total == 0):
        # Nothing is sent: every invalid target is reported at once. (With --skip-invalid
        # too when no valid target is left: there is nothing to send.)
        raise invalid_targets(problems, len(invalid_rows), plan.total, opts.skip_invalid)
    if plan.total == 0:
        implicit = provider.implicit_targets(base_message) if base_message else []
        if not implicit and opts.to_file is not None:
            raise InputError(f"--to-file {opts.to_file} has no targets", code="no_targets")
        if not implicit:
            raise UsageError("no target: give --to TARGET (or --to-file PATH)")
        assert base_message is not None
        provider.check_message(base_message, implicit)
        plan.total = 1
        plan.requests = 1
        keys = None
        if dedupe is not None:
            keys = {
                t: dedupe.render(t, base_message, settings.slug, settings.profile) for t in implicit
            }
        plan.build = lambda: iter([Job(implicit, base_message, 1, keys)])
        return plan
    size = info.limits.max_targets_per_request if not opts.template else 1
    plan.requests = -(-plan.total // size)  # jobs, at most: one per `size` targets

    def build() -> Iterator[Job]:
        """The second pass: the same rows, checked again; one the first pass found
        valid and this one does not means the --to-file changed in between."""
        group: list[Target] = []
        keys: dict[Target, str] | None = {} if dedupe is not None else None
        sent = 0
        for n, raw, target, message, err, key in rows(report=False):
            if err is not None or target is None or message is None:
                if n in invalid_rows:
                    continue  # --skip-invalid reported it already
                raise InputError(
                    f"target {n} ({raw}) was valid when checked and is not now: "
                    f"--to-file {opts.to_file} changed while smscli was reading it",
                    code="file_changed",
                )
            sent += 1
            if sent > plan.total:
                raise InputError(
                    f"--to-file {opts.to_file} has more targets than when it was checked",
                    code="file_changed",
                )
            if size == 1:
                yield Job([target], message, n, {target: key} if key is not None else None)
                continue
            group.append(target)
            if keys is not None and key is not None:
                keys[target] = key
            if len(group) >= size:
                yield Job(group, message, n, keys)
                group = []
                keys = {} if dedupe is not None else None
        if group:
            assert base_message is not None
            yield Job(group, base_message, 0, keys)

    plan.build = build
    return plan


def invalid_targets(
    problems: list[SmscliError], invalid: int, valid: int, skip_invalid: bool
) -> SmscliError:
    """The error that refuses a run with invalid targets: the target's own when there is
    one, else one error listing each (the first ``LISTED_PROBLEMS``) under a count."""
    if invalid == 1:
        return problems[0]
    hints = {p.hint for p in problems}
    shared = hints.pop() if len(hints) == 1 else None
    if valid and not skip_invalid:
        also = f"--skip-invalid sends to the {valid} valid target(s) and reports these"
        shared = f"{shared}; {also}" if shared else also
    return InputError(
        f"{invalid} of {invalid + valid} targets are invalid; nothing was sent",
        hint=shared,
        code="invalid_targets",
        problems=[p.message for p in problems],
        problems_omitted=invalid - len(problems),
    )


def _invalid(provider: str, profile: str | None, raw: str, err: SmscliError) -> SendResult:
    from smscli.bulk import invalid_result

    return invalid_result(provider, profile, raw, err)
