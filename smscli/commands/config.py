"""`smscli config`: create, inspect and check the config file."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smscli.commands.common import ConfigOpt, JsonOpt, ProfileOpt, execute, output_mode
from smscli.commands.root import SmscliCommand, SmscliSubGroup

app = typer.Typer(
    cls=SmscliSubGroup,  # plain help, like every command (commands/root.py)
    help="Create, inspect and check the config file (profiles and credentials).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_BOOL_KEYS = ("smart", "history")
_INT_KEYS = ("max_segments",)
_FLOAT_KEYS = ("timeout", "rate")


def _load(config: str | None) -> Any:
    from smscli import config as config_mod

    return config_mod.load(config_mod.config_path(config))


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    """The config with every secret value masked: any provider's secret field, or a
    secret-looking key, whatever the value's type and even if the provider is misspelled.
    References ({env=…}, {file=…}, {command=…}) are shown: they hold no secret."""
    from smscli.catalog import REGISTRY
    from smscli.redaction import is_secret_name

    secret_fields = {f.name for p in REGISTRY.values() for f in p.fields if f.secret}
    shown = dict(data)
    profiles = {}
    for name, body in (data.get("profiles") or {}).items():
        if not isinstance(body, dict):
            profiles[name] = body
            continue
        body = dict(body)
        for key, value in body.items():
            if (key in secret_fields or is_secret_name(key)) and not isinstance(value, dict):
                body[key] = "***"
        profiles[name] = body
    if profiles:
        shown["profiles"] = profiles
    return shown


@app.command(cls=SmscliCommand)
def path(config: ConfigOpt = None) -> None:
    """Print the config file's path (SMSCLI_CONFIG or the user config dir)."""

    def body(out: Any) -> int:
        from smscli import config as config_mod

        p = config_mod.config_path(config)
        out.print(str(p))
        try:
            p.stat()
        except FileNotFoundError:
            out.note("(the file does not exist yet: `smscli config init` creates it)")
        except OSError as exc:
            out.note(f"(it cannot be read: {exc.strerror or exc})")
        return 0

    execute("human", body)


@app.command(cls=SmscliCommand)
def init(
    provider: Annotated[
        str, typer.Option("--provider", metavar="SLUG", help="Provider slug of the profile.")
    ],
    profile: Annotated[
        str, typer.Option("--profile", "-p", metavar="NAME", help="Profile name.")
    ] = "default",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="FIELD=VALUE", help="A profile field to set; repeatable."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing profile.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a profile (and the file, mode 0600). Secrets default to env-var references.

    Example: smscli config init --provider emnify -p fleet
    """

    def body(out: Any) -> int:
        from smscli import config as config_mod
        from smscli.catalog import get_info
        from smscli.errors import ConfigError, UsageError

        cfg = _load(config)
        info = get_info(provider)
        if profile in cfg.profiles and not force:
            raise ConfigError(
                f"profile {profile!r} exists in {cfg.path}", hint="--force replaces it"
            )
        body_: dict[str, Any] = {"provider": info.slug}
        for f in info.fields:
            if f.secret:
                body_[f.name] = {"env": f.env_var(info.slug)}
        for item in set_ or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise UsageError(f"--set {item!r}: expected FIELD=VALUE")
            body_[key.strip()] = _typed(key.strip(), value)
        data = dict(cfg.data)
        data.setdefault("profiles", {})
        data["profiles"] = {**data["profiles"], profile: body_}
        data.setdefault("default_profile", profile)
        config_mod.write(cfg.path, data)
        out.print(f"wrote profile {profile!r} ({info.slug}) to {cfg.path}")
        missing = [f for f in info.fields if f.required and f.name not in body_]
        for f in missing:
            out.note(f"  still needed: {f.name}  (smscli config set profiles.{profile}.{f.name} …)")
        for f in info.fields:
            if f.secret:
                out.note(f"  {f.name} is read from ${f.env_var(info.slug)} (or edit the file)")
        return 0

    execute("human", body)


def _typed(key: str, value: str) -> Any:
    from smscli.errors import UsageError

    if key in _BOOL_KEYS:
        if value.lower() not in ("true", "false"):
            raise UsageError(f"{key} must be true or false")
        return value.lower() == "true"
    try:
        if key in _INT_KEYS:
            return int(value)
        if key in _FLOAT_KEYS:
            return float(value)
    except ValueError:
        raise UsageError(f"{key} must be a number, not {value!r}") from None
    return value


@app.command("set", cls=SmscliCommand)
def set_value(
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY", help="The key: default_profile, history, or profiles.NAME.FIELD."
        ),
    ],
    value: Annotated[
        str, typer.Argument(metavar="VALUE", help="The value (secrets: prefer env references).")
    ],
    config: ConfigOpt = None,
) -> None:
    """Set one value in the config file.

    Example: smscli config set profiles.fleet.base_url http://127.0.0.1:8025/emnify
    """

    def body(out: Any) -> int:
        from smscli import config as config_mod
        from smscli.errors import UsageError

        cfg = _load(config)
        data = dict(cfg.data)
        parts = key.split(".")
        if len(parts) == 1 and parts[0] in ("default_profile", "history", "history_body"):
            data[parts[0]] = _typed(parts[0], value)
        elif len(parts) == 3 and parts[0] == "profiles":
            profiles = dict(data.get("profiles") or {})
            profile_body = dict(profiles.get(parts[1]) or {})
            profile_body[parts[2]] = _typed(parts[2], value)
            profiles[parts[1]] = profile_body
            data["profiles"] = profiles
        else:
            raise UsageError(
                f"unknown key {key!r}: use default_profile, history, history_body "
                "or profiles.NAME.FIELD"
            )
        config_mod.write(cfg.path, data)
        out.note(f"set {key} in {cfg.path}")
        return 0

    execute("human", body)


@app.command(cls=SmscliCommand)
def show(json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Print the config with secrets masked."""

    def body(out: Any) -> int:
        cfg = _load(config)
        for w in cfg.warnings:
            out.warning(w)
        shown = _masked(cfg.data)
        if out.mode == "json":
            out.json(shown)
        else:
            import tomli_w

            out.print(f"# {cfg.path}" + ("" if cfg.exists else " (does not exist)"))
            out.print(tomli_w.dumps(shown).rstrip())
        return 0

    execute(lambda: output_mode(json=json), body)


@app.command(cls=SmscliCommand)
def profiles(json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """List the profiles."""

    def body(out: Any) -> int:
        cfg = _load(config)
        rows = [
            {
                "name": name,
                "provider": b.get("provider"),
                "default": name == cfg.default_profile,
                "base_url": b.get("base_url"),
            }
            for name, b in cfg.profiles.items()
        ]
        if out.mode == "json":
            out.json({"profiles": rows})
        else:
            out.table(
                ["profile", "provider", "default", "base_url"],
                (
                    [r["name"], r["provider"], "*" if r["default"] else "", r["base_url"]]
                    for r in rows
                ),
            )
        return 0

    execute(lambda: output_mode(json=json), body)


@app.command(cls=SmscliCommand)
def validate(profile: ProfileOpt = None, json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Check every profile (or one): fields present, secrets resolvable. Exit 3 if not."""

    def body(out: Any) -> int:
        from smscli import config as config_mod
        from smscli.errors import ConfigError

        cfg = _load(config)
        for w in cfg.warnings:
            out.warning(w)
        names = [profile] if profile else list(cfg.profiles)
        if not names:
            raise ConfigError(f"no profiles in {cfg.path}", hint="`smscli config init`")
        report = []
        for name in names:
            try:
                config_mod.resolve_settings(config_mod.choose(cfg, name, None), {})
                report.append({"profile": name, "ok": True, "problem": None})
            except ConfigError as err:
                report.append({"profile": name, "ok": False, "problem": err.message})
        if out.mode == "json":
            out.json({"profiles": report})
        else:
            out.table(
                ["profile", "ok", "problem"],
                ([r["profile"], "ok" if r["ok"] else "FAIL", r["problem"] or ""] for r in report),
            )
        return 0 if all(r["ok"] for r in report) else 3

    execute(lambda: output_mode(json=json), body)
