"""The provider contract, and helpers every provider shares.

A provider module holds one API's vocabulary: pure request builders and response parsers
(tested without HTTP), plus short ``send``/``status`` conversations over an injected
``Session``. Providers never import Typer, rich or httpx: they build ``models.Request`` and
read ``models.Response``; ``http_client`` does the I/O.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TypeVar

from smscli.catalog import ProviderInfo
from smscli.errors import (
    ConfigError,
    InputError,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    SessionExpired,
)
from smscli.models import (
    Message,
    Reconciled,
    Reply,
    Request,
    Response,
    SendLookup,
    SendResult,
    Settings,
    Status,
    StatusReport,
    Target,
)

R = TypeVar("R")


class TokenStore(Protocol):
    """The token cache as one profile sees it (tokens.py implements it)."""

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str, *, expires_at: float | None) -> None: ...

    def delete(self, name: str) -> None: ...

    def clear(self) -> None: ...

    def flush(self) -> None:
        """Write what the cache kept back (the session calls it when it closes)."""

    def login_lock(self) -> AbstractContextManager[None]:
        """Held around a login: one at a time per profile, across threads and processes
        (bounded wait). On entry the cache is read again: ``get`` then shows a token that
        another process got while this one waited, and no login is needed."""
        ...

    def note_refused(self, error: Mapping[str, str | None]) -> None:
        """A login with these credentials was just refused (``fresh_login``): its
        ``message``, ``hint`` and ``provider_code``, scrubbed of the run's secrets."""

    def refusal(self) -> dict[str, Any] | None:
        """A login with these credentials refused moments ago: ``ago`` (seconds) and the
        ``message``, ``hint`` and ``provider_code`` noted; else None."""
        ...


class Session(Protocol):
    """What a provider's conversation may use: HTTP calls, its token cache, the clock."""

    tokens: TokenStore

    def call(self, request: Request, *, sends_message: bool = False) -> Response:
        """Send one request. ``sends_message=True`` marks the request that hands a message
        over: it is never retried once it may have reached the server."""
        ...

    def add_secret(self, value: str) -> None:
        """Register a value (a token obtained at run time) to redact from every output."""
        ...

    def now(self) -> float: ...


class Provider:
    """Base class of the five providers: ``info`` (from providers.catalog) plus the API."""

    info: ClassVar[ProviderInfo]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")

    @property
    def slug(self) -> str:
        return self.info.slug

    @property
    def label(self) -> str:
        return self.info.label

    # -- local checks -------------------------------------------------------------------
    def check_message(self, message: Message, targets: Sequence[Target]) -> None:
        """Provider-specific checks before any I/O; raise InputError (exit 4).

        Called once per target (``[target]``). A check of the message alone should not
        depend on the targets: one that fails the same way for ``targets=[]`` is reported
        as the message's problem (no "target N (…)" prefix; --skip-invalid does not skip
        every target for it), so make such checks before those that need a target."""

    def implicit_targets(self, message: Message) -> list[Target]:
        """Targets implied by provider options when --to is absent (ThingSpace --group)."""
        return []

    def request_count(self, message: Message, targets: Sequence[Target]) -> int:
        """How many HTTP requests send() makes for these targets (what --rate counts)."""
        return 1 if self.info.limits.max_targets_per_request > 1 else len(targets)

    # -- the conversation ---------------------------------------------------------------
    def dry_run(self, message: Message, targets: Sequence[Target]) -> list[Request]:
        """The requests send() would make, built by the same builders (tokens are ***)."""
        raise NotImplementedError

    def send(
        self, session: Session, message: Message, targets: Sequence[Target]
    ) -> list[SendResult]:
        raise NotImplementedError

    def status(self, session: Session, record: Mapping[str, Any]) -> StatusReport:
        """Delivery status of a message from the history (a row of history.py)."""
        raise ProviderRefused(
            f"{self.label} does not report delivery status through its API",
            code="status_unsupported",
        )

    def cancel(self, session: Session, record: Mapping[str, Any]) -> StatusReport:
        """Cancel a message not delivered yet (``info.features.cancel``): its new status."""
        raise InputError(f"cancel is not supported by {self.label}", code="cancel_unsupported")

    def reconcile(self, session: Session, lookup: SendLookup) -> Reconciled:
        """Find a send whose outcome is unknown (``info.features.reconcile``)."""
        return Reconciled(
            Status.UNKNOWN, reason=f"{self.label} offers no way to look up a send: cannot tell"
        )

    def inbox(
        self, session: Session, since: float | None, senders: Sequence[Target]
    ) -> Iterator[list[Reply]]:
        """The devices' replies (MO SMS) received since ``since`` (Unix seconds; None: as far
        back as the API goes), from ``senders`` (empty: every device the API reports on; an
        API that lists per device, emnify, is always given some), one page at a time.

        A generator: the request for the next page is made only when the caller asks for
        it, after it stored the page it got. ThingSpace's queue counts on that: asking for
        the next page acknowledges (removes) the previous one. Providers with
        ``features.inbox`` implement it."""
        raise ProviderRefused(
            f"{self.label} has no API to pull device replies", code="inbox_unsupported"
        )

    # -- callbacks (`smscli callbacks`, issue 11; ``info.features.callbacks``) --------------
    # Where a provider that registers no callbacks by API has them set up (exit 4 says so).
    callbacks_elsewhere: ClassVar[str] = "its callbacks are not registered through its API"
    # The options of `smscli callbacks register` the provider takes (``--service``, …).
    callback_options: ClassVar[frozenset[str]] = frozenset()

    def callback_warnings(self, url: str) -> list[str]:
        """What the provider will not like about a listener URL (it is registered anyway)."""
        return []

    def register_callback(
        self, session: Session, url: str, options: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Register ``url`` as the listener of the provider's callbacks; what was registered
        (never a secret). ``options``: ``service`` (ThingSpace), ``service_profile``
        (emnify)."""
        raise self.callbacks_unsupported()

    def list_callbacks(self, session: Session) -> list[dict[str, Any]]:
        """The listeners (and secrets' ids) registered, never a secret value."""
        raise self.callbacks_unsupported()

    def delete_callback(self, session: Session, ident: str) -> list[dict[str, Any]]:
        """Remove a registration (a service name, an id); what was removed."""
        raise self.callbacks_unsupported()

    def callback_hint(self, registered: Sequence[Mapping[str, Any]]) -> str | None:
        """What is left to do after a registration, if anything."""
        return None

    @classmethod
    def callbacks_unsupported(cls) -> InputError:
        return InputError(
            f"{cls.info.label} registers no callbacks through its API: {cls.callbacks_elsewhere}",
            code="callbacks_unsupported",
        )

    def login(self, session: Session) -> None:
        """Perform a real login (doctor); providers without one do a cheap authenticated call."""

    def logout(self, session: Session) -> None:
        """Forget cached tokens (and end the session where the API has a logout)."""
        session.tokens.clear()

    # -- helpers ------------------------------------------------------------------------
    def result(self, target: Target, status: Status, message: Message, **kw: Any) -> SendResult:
        kw.setdefault("reference", message.reference)
        kw.setdefault("segments", message.check.segments)
        kw.setdefault("encoding", message.encoding.value)
        return SendResult(
            provider=self.slug,
            profile=self.settings.profile,
            target=str(target),
            status=status,
            **kw,
        )


def with_reauth(
    session: Session,
    token_name: str,
    login: Callable[[], str],
    attempt: Callable[[str], R],
    *,
    label: str,
) -> R:
    """Use the cached token, or log in; on SessionExpired log in once more and retry once.

    A refused login (LoginRefused) is never retried: Telit, ThingSpace and emnify lock
    accounts after a few failures. With many send threads, or many smscli processes of one
    profile, one logs in and the others use the token it got (``session.auth_lock``, then
    the cache's ``login_lock``).
    """
    cached = session.tokens.get(token_name)
    if cached is not None:
        token, fresh = cached, False
    else:
        token, fresh = _login_once(session, token_name, login, None, label)
    session.add_secret(token)
    try:
        return attempt(token)
    except SessionExpired:
        if fresh:
            _forget(session, token_name, token)
            raise ProviderRefused(
                "the provider refused a session it had just issued", code="session_refused"
            ) from None
    token, fresh = _login_once(session, token_name, login, token, label)
    session.add_secret(token)
    try:
        return attempt(token)
    except SessionExpired:
        _forget(session, token_name, token)
        raise ProviderRefused(
            "the provider refused a fresh session twice", code="session_refused"
        ) from None


def _login_once(
    session: Session, token_name: str, login: Callable[[], str], failed: str | None, label: str
) -> tuple[str, bool]:
    """A token other than ``failed``: one that another thread or process got meanwhile
    (False), or a fresh login's (True)."""
    lock = getattr(session, "auth_lock", None)
    with lock if lock is not None else contextlib.nullcontext():
        current = session.tokens.get(token_name)
        if current is not None and current != failed:
            return current, False  # another thread logged in while this one waited
        with session.tokens.login_lock():
            current = session.tokens.get(token_name)  # the cache as it is now
            if current is not None and current != failed:
                return current, False  # another process logged in while this one waited
            if current is not None:
                session.tokens.delete(token_name)
            return fresh_login(session, label, login), True


def fresh_login(session: Session, label: str, login: Callable[[], R]) -> R:
    """Log in (call it holding ``session.tokens.login_lock()``), unless a login with these
    very credentials was refused moments ago, by another smscli run that this one waited
    for, say: that refusal is answered again, not tried again (accounts lock after a few
    failures). A refusal here is noted for the runs waiting on this one."""
    earlier = session.tokens.refusal()
    if earlier is not None:
        message = earlier["message"] or f"{label} refused the login"
        raise LoginRefused(
            f"{message} (refused {max(1, round(earlier['ago']))} s ago; not trying these "
            "credentials again so soon)",
            hint=earlier["hint"] or _REFUSED_HINT,
            provider_code=earlier["provider_code"],
        )
    try:
        return login()
    except LoginRefused as err:
        redactor = getattr(session, "redactor", None)  # HttpSession's: the run's secrets
        if redactor is not None:
            redactor.error(err)  # (what leaves the conversation is scrubbed anyway)
        shown = {"message": err.message, "hint": err.hint, "provider_code": err.provider_code}
        session.tokens.note_refused(shown if redactor is not None else {})
        raise


def _forget(session: Session, token_name: str, token: str) -> None:
    if session.tokens.get(token_name) == token:
        session.tokens.delete(token_name)


def json_body(response: Response) -> Any:
    """Parse a JSON body; None when it is empty or not JSON (an HTML error page, say)."""
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def snippet(response: Response, limit: int = 120) -> str:
    """A short, single-line description of an unreadable body (for error messages)."""
    ctype = response.header("content-type") or ""
    text = " ".join(response.text.split())
    if "html" in ctype.lower() or text.lower().startswith(("<!doctype html", "<html")):
        import re

        title = re.search(r"<title>(.*?)</title>", response.text, re.I | re.S)
        return f"an HTML page{': ' + title.group(1).strip() if title else ''}"
    if not text:
        return "an empty body"
    return text[:limit] + ("…" if len(text) > limit else "")


def raise_for_transport_status(response: Response, *, label: str, sends_message: bool) -> None:
    """Generic HTTP status meaning, for statuses a provider's parser did not claim.

    429 means not processed (safe to re-run); a 5xx or an unreadable reply after a send may
    have been processed, so the outcome is unknown.
    """
    code = response.status_code
    if code == 429:
        raise ProviderUnavailable(
            f"{label} is rate limiting requests (HTTP 429)",
            hint="wait and re-run; nothing was sent",
            code="rate_limited",
        )
    if code >= 500:
        detail = snippet(response)
        if sends_message:
            raise OutcomeUnknown(
                f"{label} answered HTTP {code} ({detail}); the message may have been sent",
                hint="check `smscli status --last` or `smscli log` before re-running",
                code="server_error",
            )
        raise ProviderUnavailable(
            f"{label} answered HTTP {code} ({detail}); nothing was sent", code="server_error"
        )


# Every date smscli prints from a provider is ISO 8601 in UTC to the second
# ("2021-09-17T14:24:08+00:00"), whatever precision and offset the provider used: Telit's
# "2021-09-17T10:24:08.12-04:00" reads like every other provider's date (issue 9).


def iso_from_epoch(seconds: float | int | str | None) -> str | None:
    """Unix seconds (UTC) → ISO 8601 in UTC, to the second; None stays None."""
    if seconds in (None, "", 0, "0"):
        return None
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return None  # not a number, or out of datetime's range (a huge or negative value)


def iso_from_text(value: Any) -> str | None:
    """A provider's date string → ISO 8601 in UTC, to the second (naive dates are taken as
    UTC); a date that cannot be read is kept as the provider wrote it."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return value  # keep what the provider said rather than lose it
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)  # (year 9999 with a negative offset is past the max)
    except OverflowError:
        return value
    return parsed.isoformat(timespec="seconds")


def expect_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


WRONG_PATH_STATUSES = (404, 405)  # no such resource, or not for this method: a wrong URL


def wrong_path(info: ProviderInfo, response: Response, what: str) -> ConfigError:
    """A reply that says there is no such API at the URL (HTTP 404/405, or the gateway's own
    "no route" answer): the base_url's path is wrong; the credentials were never checked,
    so the error must not blame them (issue 9). Exit 3: nothing was sent."""
    return ConfigError(
        f"{info.label} answered {what} with HTTP {response.status_code} ({snippet(response)}): "
        "there is no such API at that address, so the base_url's path looks wrong (the "
        "credentials were not checked)",
        hint=f"base_url is scheme + host + optional path prefix, without the API's own paths "
        f"(default {info.default_base_url})",
        code="wrong_base_url",
    )


_REFUSED_HINT = "check the credentials; smscli never retries a failed login (accounts lock)"


def login_refused(label: str, detail: str, provider_code: str | None = None) -> LoginRefused:
    return LoginRefused(
        f"{label} refused the login: {detail}",
        hint=_REFUSED_HINT,
        provider_code=provider_code,
    )
