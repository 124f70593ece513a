"""`smscli listen`: the routes from the config, the start banner, serving until stopped."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smscli import config as config_mod
from smscli.errors import ConfigError, ExitCode, UsageError
from smscli.listen.events import METHODS, Route

if TYPE_CHECKING:
    from smscli.output import Output


@dataclass(frozen=True)
class ListenQuery:
    host: str = "127.0.0.1"
    port: int = 8026
    profiles: Sequence[str] = ()  # -p: only these (default: every profile of the config)
    execute: Sequence[str] = ()  # --exec CMD ARG…
    config: str | None = None


def _field(cfg_body: dict[str, Any], slug: str, name: str, where: str) -> str | None:
    """A callback field of a profile: its environment variable, else the profile's value
    (a secret reference is resolved)."""
    env = os.environ.get(f"SMSCLI_{slug.upper()}_{name.upper()}")
    if env:
        return env
    return config_mod.resolve_value(cfg_body.get(name), f"{where}.{name}")


def routes_of(cfg: config_mod.Config, names: Sequence[str]) -> dict[str, list[Route]]:
    """Every provider route (``/<slug>``) with the profiles it serves."""
    from smscli.catalog.thingspace import CALLBACK_USERNAME

    chosen = list(dict.fromkeys(names)) or list(cfg.profiles)
    if not chosen:
        raise ConfigError(
            f"no profiles in {cfg.path}: listen serves the profiles of the config",
            hint="add a profile with callback_secret (`smscli config init` writes one)",
            code="no_profile",
        )
    routes: dict[str, list[Route]] = {slug: [] for slug in METHODS}
    for name in chosen:
        choice = config_mod.choose(cfg, name, None)
        slug = choice.info.slug
        if slug not in routes:
            continue  # a provider listen does not know (a registered outside one)
        body = dict(choice.body)
        where = f"profile {name!r}"
        secret = _field(body, slug, "callback_secret", where)
        username = None
        if slug == "thingspace":
            username = _field(body, slug, "callback_username", where) or CALLBACK_USERNAME
        routes[slug].append(Route(slug, name, secret or None, username))
    return routes


AUTH_HOW = {
    "thingspace": "username/password in the body = callback_username/callback_secret",
    "emnify": "a JWT (HS256) in the Authorization header signed with callback_secret",
    "fonedynamics": "?token=<callback_secret> in the URL",
    "csl": "<passphrase> in the XML = callback_secret",
    "telit": "?token=<callback_secret> in the URL (template: smscli listen --telit-template)",
}


def banner(url: str, routes: dict[str, list[Route]], out: Output) -> None:
    """Which routes are on and off, and why (stderr; never a secret)."""
    out.note(f"smscli listen on {url} (Ctrl-C stops)")
    for slug, mine in routes.items():
        token = "?token=***" if slug in ("fonedynamics", "telit") else ""
        on = [r.profile for r in mine if r.on]
        off = [r.profile for r in mine if not r.on]
        methods = "/".join(METHODS[slug])
        if on:
            out.note(f"  on   {methods} {url}/{slug}{token}  profile(s) {', '.join(on)}: "
                     f"{AUTH_HOW[slug]}")  # fmt: skip
        how = f"no callback_secret (set it, or SMSCLI_{slug.upper()}_CALLBACK_SECRET)"
        if off and on:  # the route is on; these profiles' own routes are not
            for name in off:
                out.note(f"  off  {url}/{slug}/{name}  {how}")
        elif off:
            out.note(f"  off  {url}/{slug}  profile(s) {', '.join(off)}: {how}")
        if not mine:
            out.note(f"  off  {url}/{slug}  no {slug} profile served")
    out.note(f"  {url}/<provider>/<profile> names the profile; events: one JSON line each")


def run(query: ListenQuery, out: Output) -> ExitCode:
    from smscli.listen.server import Listener, make_server
    from smscli.pipeline.sessions import open_history

    cfg = config_mod.load(config_mod.config_path(query.config))
    routes = routes_of(cfg, query.profiles)
    for mine in routes.values():
        for route in mine:
            out.redactor.add(route.secret)
    history = open_history(cfg, redactor=out.redactor)
    if not history.enabled:
        raise ConfigError(
            "listen records receipts and replies in the history, and it is turned off",
            hint="turn the history on (history = true in the config)",
            code="no_history",
        )
    try:
        history.require_writable()
        listener = Listener(routes, history, out.redactor, execute=query.execute)
        try:
            server = make_server(listener, query.host, query.port)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {query.host}:{query.port}: {exc.strerror or exc}"
            ) from None
        host, port = server.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        banner(f"http://{shown}:{port}", routes, out)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            server.server_close()
            left = listener.drain()
            if left:
                out.warning(f"{left} event(s) recorded but not passed to --exec (stopping)")
            out.note("listen stopped")
    finally:
        history.close()
    return ExitCode.OK


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
