"""`smscli callbacks register|list|delete` (issue 11): register the URL of a webhook
receiver (`smscli listen`) with the providers that take callback listeners by API.

    run ─► provider      -p / --provider (credentials as `status` takes them); a provider
                         without ``features.callbacks`` (CSL, Telit, Fone Dynamics): exit 4
                         with where its pushes are set up instead (``callbacks_elsewhere``)
        ─► the call      provider.register_callback / list_callbacks / delete_callback
        ─► print         one line per registration (or --json: {"callbacks": [...]})

Nothing is recorded in the history. No secret is ever shown: the profile's secrets (its
``callback_secret`` among them) are masked in everything printed, and the providers' own
listings are read without their secret fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smscli import config as config_mod
from smscli.errors import ExitCode, UsageError
from smscli.pipeline.sessions import hide_secrets, open_session, with_timeout

if TYPE_CHECKING:
    from smscli.models import Settings
    from smscli.output import Output
    from smscli.pipeline import Runtime

ACTIONS = ("register", "list", "delete")


@dataclass(frozen=True)
class CallbacksQuery:
    action: str  # register | list | delete
    url: str | None = None  # register
    ident: str | None = None  # delete: a service name (ThingSpace) or an id (emnify)
    service: str | None = None  # register, ThingSpace: one service instead of both
    service_profile: str | None = None  # register, emnify: attach to this service profile
    profile: str | None = None
    provider: str | None = None
    base_url: str | None = None
    timeout: float | None = None
    verbose: bool = False
    config: str | None = None
    credentials: Mapping[str, str | None] = field(default_factory=dict)


def run(query: CallbacksQuery, runtime: Runtime, out: Output) -> ExitCode:
    from smscli.providers import load
    from smscli.sandbox.pushes import valid_url

    if query.url:  # a password in the URL's user info (https://u:PW@host/…) is a secret
        from urllib.parse import urlsplit

        with suppress(ValueError):
            if password := urlsplit(query.url).password:
                out.redactor.add(password)
    cfg = config_mod.load(config_mod.config_path(query.config))
    choice = config_mod.choose(cfg, query.profile, query.provider)
    info = choice.info
    provider_class = load(info)
    if not info.features.callbacks:  # before any credential is needed
        raise provider_class.callbacks_unsupported()
    if query.action == "register" and valid_url(query.url) is None:
        raise UsageError(
            f"--url must be an http or https URL, not {query.url!r}",
            hint="the address of `smscli listen` as the provider reaches it, "
            "e.g. https://hooks.example.com/emnify",
            code="invalid_option",
        )
    options = {"service": query.service, "service_profile": query.service_profile}
    for name, value in options.items():
        if value is not None and name not in provider_class.callback_options:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} is not an option of {info.label}'s callbacks")
    settings = config_mod.resolve_settings(choice, query.credentials, base_url=query.base_url)
    settings = _with_callback_fields(choice, settings)
    settings = with_timeout(settings, query.timeout)
    hide_secrets(settings, out)
    provider = provider_class(settings)
    if query.action == "register":
        assert query.url is not None
        for warning in provider.callback_warnings(query.url):
            out.warning(warning)
    with (
        open_session(settings, runtime, out, query.verbose) as session,
        session.conversation(provider.label),
    ):
        if query.action == "register":
            assert query.url is not None
            items = provider.register_callback(session, query.url, options)
        elif query.action == "list":
            items = provider.list_callbacks(session)
        else:
            assert query.ident is not None
            items = provider.delete_callback(session, query.ident)
    hint = provider.callback_hint(items) if query.action == "register" else None
    _print(out, query.action, items, hint)
    return ExitCode.OK


def _with_callback_fields(choice: config_mod.ProfileChoice, settings: Settings) -> Settings:
    """The profile's callback fields resolved too: a send never resolves their secret
    references (``listen_only``: they live where `smscli listen` runs), but registering
    a listener sends them (ThingSpace's password, emnify's api_secret)."""
    values = dict(settings.values)
    where = f"profile {choice.name!r}" if choice.name else choice.info.slug
    for f in choice.info.fields:
        reference = choice.body.get(f.name)
        if f.listen_only and f.name not in values and isinstance(reference, dict):
            resolved = config_mod.resolve_value(reference, f"{where}.{f.name}")
            if resolved:
                values[f.name] = resolved
    return settings._replace(values=values)


def _print(out: Output, action: str, items: list[dict[str, Any]], hint: str | None) -> None:
    if out.mode == "json":
        data: dict[str, Any] = {"callbacks": items}
        if hint:
            data["hint"] = hint
        out.json(data)
        return
    if out.mode == "quiet":
        for item in items:
            out.print(str(item.get("service") or _ident(item)))
        return
    if action == "list":
        if not items:
            out.note("no callbacks registered")
            return
        columns = ["service / id", "url", "details"]
        out.table(columns, [[_name(i), i.get("url") or "", _details(i)] for i in items])
        return
    verb = "registered" if action == "register" else "deleted"
    for item in items:
        url = item.get("url")
        out.print(f"{verb} {_name(item)}" + (f" → {url}" if url and action == "register" else ""))
    if hint:
        out.note(f"hint: {hint}")


def _ident(item: Mapping[str, Any]) -> str:
    kind, ident = item.get("kind"), item.get("id")
    return f"{kind}:{ident}" if kind == "api_secret" else str(ident)


def _name(item: Mapping[str, Any]) -> str:
    if item.get("service"):
        return f"{item['service']} (account {item.get('account_name')})"
    return f"{item.get('kind')} {item.get('id')}"


def _details(item: Mapping[str, Any]) -> str:
    parts = []
    for key in ("username", "purpose", "service_profile"):
        if item.get(key):
            parts.append(f"{key} {item[key]}")
    return ", ".join(parts)
