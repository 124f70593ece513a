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
    """The config as it is, problems included (``Config.problems``): the `config` commands
    show, check and fix a broken file."""
    from smscli import config as config_mod

    return config_mod.load(config_mod.config_path(config), check=False)


def _interactive() -> bool:
    """Whether `config init` may prompt: stdin and stderr are a terminal (never a script)."""
    import sys

    return sys.stdin.isatty() and sys.stderr.isatty()


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    """The config with every secret value masked: any provider's secret field, or a
    secret-looking key, whatever the value's type and even if the provider is misspelled.
    References ({env=…}, {file=…}, {command=…}) are shown: they hold no secret."""
    from smscli.catalog import REGISTRY
    from smscli.redaction import is_secret_name

    secret_fields = {f.name for p in REGISTRY.values() for f in p.fields if f.secret}
    shown = dict(data)
    profiles = {}
    given = data.get("profiles")
    for name, body in (given if isinstance(given, dict) else {}).items():
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
    url = shown.get("history_url")
    if isinstance(url, str):
        from smscli.history.postgres import shown_url

        shown["history_url"] = shown_url(url)
    if "history_password" in shown and not isinstance(shown["history_password"], dict):
        shown["history_password"] = "***"
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
def example() -> None:
    """Print an example config: every key of every provider, explained.

    Example: smscli config example | less
    """

    def body(out: Any) -> int:
        from smscli.config import example_text

        out.print(example_text().rstrip("\n"))
        return 0

    execute("human", body)


@app.command(cls=SmscliCommand)
def init(
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="SLUG",
            help="Provider slug of the profile (asked on a terminal when not given).",
        ),
    ] = None,
    profile: Annotated[
        str, typer.Option("--profile", "-p", metavar="NAME", help="Profile name.")
    ] = "default",
    login: Annotated[
        str | None,
        typer.Option(
            "--login",
            metavar="SET",
            help="Telit: how the profile logs in, username+password or "
            "app_id+app_token+thing_key (asked on a terminal; default: the first).",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="FIELD=VALUE",
            help="A profile field to set; repeatable. A secret may be a reference: "
            '{env="VAR"}, {file="PATH"} or {command=["pass","show","sms"]}.',
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing profile.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a profile (and the file, mode 0600). Secrets default to env-var references.

    On a terminal it asks for what it needs (provider, login, fields); in a script it
    never asks.

    Example: smscli config init --provider emnify -p fleet
    """

    def body(out: Any) -> int:
        from smscli.errors import Interrupted

        try:
            return _init(out, provider, profile, login, set_ or [], force, config)
        except typer.Abort:  # Ctrl-C or the end of input at a question
            raise Interrupted("config init stopped: nothing was written") from None

    execute("human", body)


def _init(
    out: Any,
    provider: str | None,
    profile: str,
    login: str | None,
    set_: list[str],
    force: bool,
    config: str | None,
) -> int:
    """`config init`: the profile from the flags, the questions on a terminal (never in a
    script) and the defaults; checked, written, and described line by line."""
    from smscli.catalog import get_info
    from smscli.errors import ConfigError, UsageError

    cfg = _load(config)
    ask = _interactive()
    if provider is None and not ask:
        from smscli.catalog import REGISTRY

        raise UsageError(f"config init needs --provider SLUG ({', '.join(REGISTRY)})")
    profiles = cfg.data.get("profiles")
    profiles = dict(profiles) if isinstance(profiles, dict) else {}
    if profile in profiles and not force:
        raise ConfigError(f"profile {profile!r} exists in {cfg.path}", hint="--force replaces it")
    info = get_info(provider) if provider is not None else _ask_provider()
    given: dict[str, Any] = {}
    for item in set_:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item!r}: expected FIELD=VALUE")
        given[key.strip()] = _typed(key.strip(), value, f"--set {key.strip()}")
    login_set = _login_set(info, login, given, ask)
    body_: dict[str, Any] = {"provider": info.slug}
    for f in info.fields:
        if f.name in given or not (f.required or f.name in login_set):
            continue
        if ask:
            value = _ask_field(info, f)
            if value is not None:
                body_[f.name] = value
        elif f.secret:
            body_[f.name] = {"env": f.env_var(info.slug)}
    body_.update(given)
    data = dict(cfg.data)
    data["profiles"] = {**profiles, profile: body_}
    data.setdefault("default_profile", profile)
    remaining = _write_checked(cfg, data, f"profiles.{profile}", f"profiles.{profile}.")
    out.print(f"wrote profile {profile!r} ({info.slug}) to {cfg.path}")
    for line in _described(info, profile, body_, login_set, data["default_profile"]):
        out.print(f"  {line}")
    for problem in remaining:
        out.warning(f"still to fix in {cfg.path}: {problem}")
    return 0


def _ask_provider() -> Any:
    from smscli.catalog import REGISTRY, get_info
    from smscli.errors import ConfigError

    while True:
        answer = typer.prompt(f"Provider ({', '.join(REGISTRY)})", err=True)
        try:
            return get_info(answer)
        except ConfigError as err:
            typer.echo(err.message, err=True)


def _login_set(info: Any, login: str | None, given: dict[str, Any], ask: bool) -> tuple[str, ...]:
    """The fields of the credential set a new profile logs in with (() for a provider
    with one way to log in): --login, else the set --set started, else asked on a
    terminal, else the first."""
    from smscli.errors import UsageError

    sets: tuple[tuple[str, ...], ...] = info.credential_sets
    names = " or ".join("+".join(s) for s in sets)
    if login is not None:
        if not sets:
            raise UsageError(f"--login: {info.slug} has one way to log in (no --login)")
        word = login.strip().lower()
        for s in sets:
            # The whole set, or a field only it has (--login app_token).
            if word == "+".join(s) or (word in s and sum(word in t for t in sets) == 1):
                return s
        raise UsageError(f"--login must be {names}, not {login!r}", code="invalid_option")
    if not sets:
        return ()
    started = [s for s in sets if any(n in given for n in s)]
    if len(started) == 1:
        return started[0]
    if not ask:
        return sets[0]
    choices = "\n".join(f"  {i}) {'+'.join(s)}" for i, s in enumerate(sets, 1))
    while True:
        answer = typer.prompt(f"{info.slug} logs in with\n{choices}\nChoose", default="1", err=True)
        if answer.strip().isdigit() and 1 <= int(answer) <= len(sets):
            return sets[int(answer) - 1]
        typer.echo(f"answer 1-{len(sets)}", err=True)


def _ask_field(info: Any, f: Any) -> Any:
    """A field's value from the terminal (secrets not echoed). Enter: a secret is read from
    its environment variable, anything else is left out (supplied later)."""
    from smscli.errors import ConfigError

    env = f.env_var(info.slug)
    if f.secret:
        prompt = (
            f"{f.name}: {f.help} Type it (not shown), or a {{env = …}}/{{file = …}}/"
            f"{{command = […]}} reference; Enter: read it from ${env}"
        )
    else:
        prompt = f"{f.name}: {f.help} (Enter: leave it out, give it as {f.flag} or ${env})"
    while True:
        answer = typer.prompt(prompt, default="", show_default=False, hide_input=f.secret, err=True)
        answer = answer.strip()
        if not answer:
            return {"env": env} if f.secret else None
        try:
            return _typed(f.name, answer)
        except ConfigError as err:
            typer.echo(err.message, err=True)


def _described(
    info: Any, name: str, body: dict[str, Any], login_set: tuple[str, ...], default: Any
) -> list[str]:
    """What `config init` wrote, field by field, and what the profile still needs."""
    lines = []
    if default == name:
        lines.append("it is the default profile")
    else:
        lines.append(f"the default profile stays {default!r}: use -p {name}")
    if login_set:
        others = [s for s in info.credential_sets if s != login_set]
        alt = " or ".join("+".join(s) for s in others)
        lines.append(f"logs in with {'+'.join(login_set)} (--login {alt} for the other way)")
    secret = {f.name for f in info.fields if f.secret}
    for key, value in body.items():
        if key == "provider":
            continue
        if isinstance(value, dict) and "env" in value:
            lines.append(f"{key}: read from ${value['env']} when smscli runs")
        elif isinstance(value, dict) and "file" in value:
            lines.append(f"{key}: read from the file {value['file']} when smscli runs")
        elif isinstance(value, dict) and "command" in value:
            command = " ".join(str(a) for a in value["command"])
            lines.append(f"{key}: the first line `{command}` prints when smscli runs")
        elif key in secret:
            lines.append(f"{key}: stored in the file (mode 0600)")
        else:
            import tomli_w

            lines.append(tomli_w.dumps({key: value}).strip())
    for f in info.fields:
        if f.name not in body and (f.required or f.name in login_set):
            lines.append(
                f"{f.name}: still needed: smscli config set profiles.{name}.{f.name} VALUE "
                f"(or {f.flag}, or ${f.env_var(info.slug)})"
            )
    return lines


def _typed(key: str, value: str, label: str | None = None) -> Any:
    """A value from the command line as the config holds it: `{…}` is a TOML inline table
    (a secret reference), a number or true/false for the keys that take one; a value of the
    wrong type stays text, for the validator to report with the rest."""
    from smscli.errors import ConfigError

    text = value.strip()
    if text.startswith("{"):
        import tomllib

        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as exc:
            # The value is not shown: it may be a secret that happens to start with "{".
            raise ConfigError(
                f"{label or key}: a value starting with {{ is a reference, and this one is "
                f"not valid TOML ({exc}); nothing was written",
                hint='e.g. {env="VAR"}, {file="~/.secrets/x"} or '
                '{command=["pass","show","sms"]}; a secret that starts with { belongs in a '
                'file: {file="PATH"}',
                code="config_invalid",
            ) from None
    if key in _BOOL_KEYS and value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        if key in _INT_KEYS:
            return int(value)
        if key in _FLOAT_KEYS:
            return float(value)
    except ValueError:
        pass
    return value


def _write_checked(cfg: Any, data: dict[str, Any], *keys: str) -> list[str]:
    """Write ``data`` unless it has a problem the file did not have, or one about the keys
    being written (``keys``: a key, or a prefix ending in "."); then nothing is written and
    every such problem is listed (exit 3). Problems the file already had elsewhere do not
    stop a change (it may be the fix of one of them): they are returned."""
    from smscli import config as config_mod

    def about(problem: str) -> bool:
        return any(problem.startswith(k if k.endswith(".") else k + ":") for k in keys)

    found = config_mod.problems(data)
    new = [p for p in found if p not in cfg.problems or about(p)]
    if new:
        raise config_mod.problems_error(
            cfg.path, new, hint="nothing was written; `smscli config example` shows every key"
        )
    config_mod.write(cfg.path, data)
    return found


@app.command("set", cls=SmscliCommand)
def set_value(
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY",
            help="The key: default_profile, history, history_body, history_url, "
            "history_password or profiles.NAME.FIELD.",
        ),
    ],
    value: Annotated[
        str,
        typer.Argument(
            metavar="VALUE",
            help="The value; for a secret, prefer a reference: "
            '{env="VAR"}, {file="PATH"} or {command=["pass","show","sms"]}.',
        ),
    ],
    config: ConfigOpt = None,
) -> None:
    """Set one value in the config file (checked first: a wrong one is not written).

    Example: smscli config set profiles.fleet.application_token '{env="EMNIFY_TOKEN"}'
    """

    def body(out: Any) -> int:
        from smscli.errors import UsageError

        cfg = _load(config)
        data = dict(cfg.data)
        parts = key.split(".")
        if len(parts) == 1 and parts[0]:
            data[parts[0]] = _typed(parts[0], value, key)
        elif len(parts) == 3 and parts[0] == "profiles" and parts[1] and parts[2]:
            profiles = dict(data.get("profiles") or {})
            profile_body = profiles.get(parts[1])
            profile_body = dict(profile_body) if isinstance(profile_body, dict) else {}
            profile_body[parts[2]] = _typed(parts[2], value, key)
            profiles[parts[1]] = profile_body
            data["profiles"] = profiles
        else:
            raise UsageError(
                f"unknown key {key!r}: use default_profile, history, history_body, "
                "history_url, history_password or profiles.NAME.FIELD"
            )
        remaining = _write_checked(
            cfg, data, key, *(["profiles." + parts[1]] if len(parts) == 3 else [])
        )
        written = data[parts[0]] if len(parts) == 1 else data["profiles"][parts[1]][parts[2]]
        how = ""
        if isinstance(written, dict):
            kind, ref = next(iter(written.items()))
            what = " ".join(ref) if isinstance(ref, list) else ref
            how = f" (a reference: read from {kind} {what} when smscli runs)"
        out.note(f"set {key} in {cfg.path}{how}")
        for problem in remaining:
            out.warning(f"still to fix in {cfg.path}: {problem}")
        return 0

    execute("human", body)


@app.command(cls=SmscliCommand)
def show(json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Print the config with secrets masked."""

    def body(out: Any) -> int:
        cfg = _load(config)
        for w in [*cfg.warnings, *cfg.problems]:
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
        for w in [*cfg.warnings, *cfg.problems]:
            out.warning(w)
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
    """Check the file's keys and values, and every profile (or one): fields present, secrets
    resolvable. Exit 3 if not."""

    def body(out: Any) -> int:
        from smscli import config as config_mod
        from smscli.errors import ConfigError

        cfg = _load(config)
        for w in cfg.warnings:
            out.warning(w)
        given = cfg.data.get("profiles")
        every = list(given) if isinstance(given, dict) else []
        names = [profile] if profile else every

        def own(name: str, problem: str) -> str | None:
            """The problem without its profiles.NAME prefix, if it is about that profile."""
            for prefix in (f"profiles.{name}.", f"profiles.{name}: "):
                if problem.startswith(prefix):
                    return problem.removeprefix(prefix)
            return None

        elsewhere = [p for p in cfg.problems if all(own(n, p) is None for n in every)]
        if not names and not elsewhere:
            raise ConfigError(f"no profiles in {cfg.path}", hint="`smscli config init`")
        report = []
        for name in names:
            mine = [m for m in (own(name, p) for p in cfg.problems) if m is not None]
            if mine:
                report.append({"profile": name, "ok": False, "problem": "; ".join(mine)})
                continue
            try:
                config_mod.resolve_settings(config_mod.choose(cfg, name, None), {})
                report.append({"profile": name, "ok": True, "problem": None})
            except ConfigError as err:
                report.append({"profile": name, "ok": False, "problem": err.message})
        if out.mode == "json":
            out.json({"problems": cfg.problems, "profiles": report})
        else:
            for problem in elsewhere:
                out.stderr_error(f"{cfg.path}: {problem}")
            if report:
                out.table(
                    ["profile", "ok", "problem"],
                    (
                        [r["profile"], "ok" if r["ok"] else "FAIL", r["problem"] or ""]
                        for r in report
                    ),
                )
        return 0 if all(r["ok"] for r in report) and not elsewhere else 3

    execute(lambda: output_mode(json=json), body)
