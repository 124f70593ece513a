"""`smscli inbox` (issue 11): pull the devices' replies (mobile-originated SMS) from the
provider into the history, and print them.

    run ─► provider        -p / --provider (credentials as `status` takes them); a provider
                           without a pull API (CSL: push only) is exit 4
        ─► senders         --from TARGET, else (emnify, which lists SMS per endpoint only)
                           the targets of the provider's recent sends in the history
        ─► pull            page by page: each page stored (committed) BEFORE the next is
                           asked for (ThingSpace: asking for the next page acknowledges one)
        ─► print           the stored replies matching --since/--from (newest -n), new ones
                           marked; --follow: then every new one as it comes, until Ctrl-C

``pull`` is shared with ``send --await-reply``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smscli import config as config_mod
from smscli.errors import ConfigError, ExitCode, InputError, UsageError
from smscli.models import Reply, Target, same_device
from smscli.pipeline.sessions import hide_secrets, open_history, open_session, with_timeout

if TYPE_CHECKING:
    from smscli.catalog import ProviderInfo
    from smscli.history import History
    from smscli.http_client import HttpSession
    from smscli.models import SendResult
    from smscli.output import Output as Reporter
    from smscli.pipeline import Runtime
    from smscli.pipeline.prepare import Prepared
    from smscli.providers.base import Provider

DEFAULT_AWAIT = 120.0  # seconds, for a bare --await-reply
AWAIT_FIRST_PAUSE = 3.0  # a device needs a few seconds to answer
AWAIT_LONGEST_PAUSE = 15.0
DEFAULT_INTERVAL = 10.0  # seconds between --follow polls
MIN_INTERVAL = 5.0  # polite: never more often than this
MAX_INTERVAL = 3600.0
# emnify without --from: the endpoints of the sends of the last RECENT_DAYS (at most
# MAX_SENDERS of them, the most recent first).
RECENT_DAYS = 7
MAX_SENDERS = 50


@dataclass(frozen=True)
class InboxQuery:
    since: str | None = None  # 2h, 3d or ISO 8601
    sender: str | None = None  # --from TARGET
    limit: int = 20
    follow: bool = False
    interval: float = DEFAULT_INTERVAL
    timeout: float | None = None
    verbose: bool = False
    config: str | None = None
    credentials: Mapping[str, str | None] = field(default_factory=dict)
    profile: str | None = None
    provider: str | None = None
    history_url: str | None = None  # the Python API's history_url= (over the config's)
    base_url: str | None = None
    history: bool = True  # False: the Python API's Client(history=False)


def refuse_without_pull(info: ProviderInfo) -> None:
    """A provider with no API to pull replies: exit 4, pointing at `listen`."""
    if not info.features.inbox:
        raise InputError(
            f"{info.label} has no API to pull device replies: it pushes them to a web "
            "address you configure (SMS Post Services)",
            hint="receive them with `smscli listen`; `smscli inbox` then lists what it stored",
            code="inbox_unsupported",
        )


def since_epoch(value: str) -> float:
    """``--since``: 2h or 3d ago, or an ISO 8601 time, as Unix seconds."""
    from smscli.commands.log import _since

    return datetime.fromisoformat(_since(value)).timestamp()


@dataclass
class _Prepared:
    info: ProviderInfo
    provider: Provider
    settings: Any
    history: History
    sender: Target | None
    since: float | None


def _prepare(query: InboxQuery, out: Any) -> _Prepared:
    """Checks, the provider and the history (its caller closes it)."""
    since = since_epoch(query.since) if query.since else None
    cfg = config_mod.load(config_mod.config_path(query.config))
    choice = config_mod.choose(cfg, query.profile, query.provider)
    info = choice.info
    if not info.features.inbox_pushed:  # (CSL: inbox lists what `smscli listen` stored)
        refuse_without_pull(info)
    sender: Target | None = None
    if query.sender is not None:
        from smscli.targets import parse_target

        sender, _ = parse_target(query.sender, info.target_kinds)
    settings = config_mod.resolve_settings(choice, query.credentials, base_url=query.base_url)
    settings = with_timeout(settings, query.timeout)
    hide_secrets(settings, out)
    from smscli.providers import load

    provider = load(info)(settings)
    if query.history:
        history = open_history(cfg, redactor=out.redactor, url=query.history_url)
    else:
        from smscli.history import History

        history = History(None, redactor=out.redactor)
    try:
        check_history(history, info)
    except BaseException:
        history.close()
        raise
    return _Prepared(info, provider, settings, history, sender, since)


def collect(query: InboxQuery, runtime: Runtime, out: Any) -> list[dict[str, Any]]:
    """One pull, and the replies `inbox` shows (each with ``new``): the Python API's
    ``Client.inbox()``."""
    prep = _prepare(query, out)
    try:
        with open_session(prep.settings, runtime, out, query.verbose) as session:
            senders = senders_for(prep.info, prep.history, prep.sender)
            fresh = pull(prep.provider, session, prep.history, prep.since, senders)
        rows = listed(prep.history, fresh, prep.info.slug, prep.sender, prep.since, query.limit)
    finally:
        prep.history.close()
    new_ids = {r.reply_id for r, is_new in fresh if is_new}
    return [r | {"new": r["id"] in new_ids} for r in rows]


def run(query: InboxQuery, runtime: Runtime, out: Reporter) -> ExitCode:
    if not (MIN_INTERVAL <= query.interval <= MAX_INTERVAL):
        raise UsageError(
            f"--interval must be between {MIN_INTERVAL:.0f} and {MAX_INTERVAL:.0f} seconds, "
            f"not {query.interval:g}",
            hint="providers rate-limit their APIs: poll politely",
            code="invalid_option",
        )
    if query.follow and out.mode == "json":
        raise UsageError("--follow prints replies as they come: use --jsonl, not --json")
    prep = _prepare(query, out)
    info, provider, history = prep.info, prep.provider, prep.history
    sender, since, settings = prep.sender, prep.since, prep.settings
    try:
        with open_session(settings, runtime, out, query.verbose) as session:
            shown: set[str] = set()
            fresh = pull(provider, session, history, since, senders_for(info, history, sender))
            rows = listed(history, fresh, info.slug, sender, since, query.limit)
            new_ids = {r.reply_id for r, is_new in fresh if is_new}
            pushed = not info.features.inbox
            if pushed:
                out.note(f"{info.label} pushes replies: these are the ones `smscli listen` stored")
            if out.mode == "json":
                out.json({"replies": [r | {"new": r["id"] in new_ids} for r in rows],
                          "new": len(new_ids)})  # fmt: skip
                return ExitCode.OK
            _print(out, rows, new_ids)
            shown.update(r["id"] for r in rows)
            if not query.follow:
                return ExitCode.OK
            out.note(f"following {info.label}'s replies every {query.interval:g} s (Ctrl-C ends)")
            try:
                while True:
                    runtime.sleep(query.interval)
                    senders = senders_for(info, history, sender)
                    got = pull(provider, session, history, since, senders)
                    news = [as_row(r) for r, is_new in got if is_new and _wanted(r, sender, since)]
                    if pushed:  # what `smscli listen` stored meanwhile
                        news = listed(history, [], info.slug, sender, since, query.limit)
                    news = [r for r in news if r["id"] not in shown]
                    _print(out, news, {r["id"] for r in news}, header=False)
                    shown.update(r["id"] for r in news)
            except KeyboardInterrupt:
                return ExitCode.OK  # --follow ends with Ctrl-C: that is its normal end
    finally:
        history.close()


def check_history(history: History, info: ProviderInfo) -> None:
    """Replies are stored before the provider is told they were read; a queue (ThingSpace)
    is never read without somewhere to keep what it hands over."""
    if history.enabled:
        history.require_writable()
    elif info.features.inbox_queue:
        raise ConfigError(
            f"{info.label} removes a reply from its queue once it has been read, and the "
            "history is turned off: the replies would be lost",
            hint="turn the history on (history = true) to read the queue",
            code="no_history",
        )


def senders_for(info: ProviderInfo, history: History, sender: Target | None) -> list[Target]:
    """The devices to ask about: --from, else for a provider that lists SMS per device
    (emnify) the targets of its recent sends; else none (the whole account)."""
    if sender is not None:
        return [sender]
    if not info.features.inbox_per_device:
        return []
    since = (datetime.now(UTC) - timedelta(days=RECENT_DAYS)).isoformat(timespec="seconds")
    rows = history.query(provider=info.slug, since=since, limit=10_000)
    targets: list[Target] = []
    for row in reversed(rows):  # the most recent first
        kind, _, value = str(row["target"]).partition(":")
        target = Target(kind, value)
        if value and kind in info.target_kinds and target not in targets:
            targets.append(target)
        if len(targets) >= MAX_SENDERS:
            break
    if not targets:
        raise UsageError(
            f"{info.label} lists replies per device: give --from TARGET (no sends of the "
            f"last {RECENT_DAYS} days in the history to take the devices from)",
            code="target_needed",
        )
    return targets


def pull(
    provider: Provider,
    session: HttpSession,
    history: History,
    since: float | None,
    senders: Sequence[Target],
) -> list[tuple[Reply, bool]]:
    """Every reply the provider hands over, each page stored (one committed transaction)
    before the next page is asked for; with whether it was new to the history (with the
    history off: every reply counts as new)."""
    got: list[tuple[Reply, bool]] = []
    if not provider.info.features.inbox:
        return got  # replies come only by push (CSL): `smscli listen` stores them
    with session.conversation(provider.label):
        pages = provider.inbox(session, since, senders)
        for page in pages:  # (the generator asks for the next page only on the next turn)
            scrub = session.redactor
            replies = [
                r._replace(text=scrub.text(r.text), details=scrub.data(dict(r.details)))
                for r in page
            ]
            flags = history.add_replies(replies) if history.enabled else [True] * len(replies)
            got.extend(zip(replies, flags, strict=True))
    return got


def _wanted(reply: Reply, sender: Target | None, since: float | None) -> bool:
    if sender is not None and not same_device(reply.sender, str(sender)):
        return False
    if since is not None and reply.date is not None:
        return datetime.fromisoformat(reply.date).timestamp() >= since
    return True


def as_row(reply: Reply, history_id: int | None = None) -> dict[str, Any]:
    return {"history_id": history_id} | reply.as_dict()


def listed(
    history: History,
    fresh: list[tuple[Reply, bool]],
    slug: str,
    sender: Target | None,
    since: float | None,
    limit: int,
) -> list[dict[str, Any]]:
    """What `inbox` prints: the history's replies of this provider matching the filters
    (the newest ``limit``, oldest first); with the history off, what was just pulled."""
    if not history.enabled:
        rows = [as_row(r) for r, _ in fresh if _wanted(r, sender, since)]
        return rows[-limit:]
    when = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds") if since else None
    stored = history.replies(
        provider=slug, sender=str(sender) if sender else None, since=when, limit=limit
    )
    return [
        {"history_id": r["id"], "provider": r["provider"], "profile": r["profile"],
         "id": r["reply_id"], "from": r["sender"], "text": r["text"], "date": r["date"],
         "details": r["details"]}
        for r in stored
    ]  # fmt: skip


def _print(
    out: Reporter, rows: list[dict[str, Any]], new_ids: set[str], *, header: bool = True
) -> None:
    if out.mode == "jsonl":
        for row in rows:
            out.json(row | {"new": row["id"] in new_ids})
        return
    if out.mode == "quiet":
        for row in rows:
            out.print(str(row["text"]))
        return
    if not rows:
        if header:
            out.note("no replies")
        return
    out.table(
        ["#", "date", "from", "text", "new"],
        (
            [
                r["history_id"] or "",
                r["date"] or "",
                r["from"],
                r["text"],
                "new" if r["id"] in new_ids else "",
            ]
            for r in rows
        ),
        whole=(2,),
    )


# -- send --await-reply ----------------------------------------------------------------------


def await_seconds(value: str) -> float:
    """An --await-reply value ("default" for a bare --await-reply) in seconds."""
    from smscli.timeparse import parse_duration

    return DEFAULT_AWAIT if value == "default" else parse_duration(value, "--await-reply")


def _devices(result: SendResult) -> list[str]:
    """What a target's reply comes from: the target, and for emnify the endpoint it was
    resolved to (a reply names the endpoint, a send may have named the ICCID)."""
    endpoint = result.details.get("endpoint_id")
    return [result.target] + ([f"endpoint:{endpoint}"] if endpoint else [])


def await_replies(
    prep: Prepared,
    session: HttpSession,
    results: Sequence[SendResult],
    runtime: Runtime,
    started: float,
    out: Any,
) -> None:
    """--await-reply: poll the provider's replies (politely: 3 s, then ×1.5, at most 15 s
    apart) until every accepted target has answered or the time is up. A target's reply is
    its device's first reply dated at or after the send (provider dates are to the second,
    so from the second the send started in); it lands on the RESULT as ``reply`` (``{}``
    when none came). Every reply pulled is stored in the history, as `inbox` does."""
    assert prep.await_reply is not None
    waiting = [r for r in results if r.status.is_success]
    for r in waiting:
        r.reply = {}
    deadline = runtime.clock() + prep.await_reply
    floor = datetime.fromtimestamp(int(started), UTC).isoformat(timespec="seconds")
    # Provider dates are to the second: a reply to an earlier message may carry the second
    # this send started in. Those the history holds already (pulled before this send's
    # device could answer) are not this send's reply.
    known = {
        row["reply_id"]
        for r in waiting
        for device in _devices(r)
        for row in prep.history.replies(
            provider=prep.info.slug, sender=device, since=floor, limit=1000
        )
    }
    pause = AWAIT_FIRST_PAUSE
    while waiting:
        left = deadline - runtime.clock()
        if left <= 0:
            return
        runtime.sleep(min(pause, left))
        pause = min(pause * 1.5, AWAIT_LONGEST_PAUSE)
        senders: list[Target] = []
        for r in waiting:
            kind, _, value = _devices(r)[-1].partition(":")  # (emnify: its endpoint, resolved)
            if Target(kind, value) not in senders:
                senders.append(Target(kind, value))
        got = [
            reply for reply, _ in pull(prep.provider, session, prep.history, started - 1, senders)
        ]
        for result in list(waiting):
            found = _first_reply(result, got, prep.history, prep.info.slug, floor, known)
            if found is not None:
                result.reply = found
                waiting.remove(result)
                if getattr(out, "mode", None) == "jsonl":  # (the Python API has no mode)
                    out.json({"target": result.target, "reply": found})


def _first_reply(
    result: SendResult,
    got: Sequence[Reply],
    history: History,
    slug: str,
    floor: str,
    known: set[str],
) -> dict[str, Any] | None:
    devices = _devices(result)
    candidates = [
        {"text": r.text, "date": r.date, "id": r.reply_id, "from": r.sender}
        for r in got
        if (r.date or floor) >= floor and any(same_device(r.sender, d) for d in devices)
    ]
    # Another run (`inbox`) may have taken a ThingSpace reply off the queue: the history has it.
    for device in devices:
        for row in history.replies(provider=slug, sender=device, since=floor, limit=10):
            candidates.append(
                {
                    "text": row["text"],
                    "date": row["date"],
                    "id": row["reply_id"],
                    "from": row["sender"],
                }
            )
    candidates = [c for c in candidates if c["id"] not in known]
    if not candidates:
        return None
    return min(candidates, key=lambda c: c["date"] or floor)
