"""Locate, read and write the config file; resolve a profile into provider Settings.

Where the file is (first wins):
  1. ``--config PATH``
  2. ``SMSCLI_CONFIG``
  3. the platformdirs user config dir: ``smscli/config.toml``

Where each profile field comes from (first wins):
  1. the command-line flag (``--application-token``)
  2. the env var ``SMSCLI_<PROVIDER>_<FIELD>`` (``SMSCLI_EMNIFY_APPLICATION_TOKEN``)
  3. the profile value: a string, or a table with exactly one of ``env = "VAR"``,
     ``file = "PATH"``, ``command = ["argv", ...]`` (first line of its stdout)
"""

from __future__ import annotations

import math
import os
import stat
import subprocess
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from smscli.catalog import REGISTRY, CredentialField, ProviderInfo, get_info
from smscli.errors import ConfigError, InputError
from smscli.models import Settings

# Keys every profile may hold besides the provider's own fields (SPEC §1).
COMMON_KEYS: dict[str, str] = {
    "provider": "the provider slug (smscli providers)",
    "base_url": "scheme + host + optional path prefix of the API",
    "sender": "default --from",
    "timeout": (
        "seconds each HTTP exchange may take in all (connect, send, the whole reply); default 30"
    ),
    "max_segments": "refuse messages longer than this many segments",
    "smart": "true: replace look-alike characters (--smart) by default",
    "rate": "messages per second for many targets",
    "dedupe_window": (
        "default --dedupe-window: the same text is not sent to the same target again "
        'within it ("30m")'
    ),
}
TOP_KEYS = (
    "default_profile",
    "profiles",
    "history",
    "history_body",
    "history_url",
    "history_password",
)
HISTORY_URL_ENV = "SMSCLI_HISTORY_URL"
MAX_CONFIG_BYTES = 1024 * 1024


def config_path(explicit: str | None = None) -> Path:
    """The config file's path. One that cannot name a file (``~nosuchuser/…``, a name
    longer than the file system takes, a NUL byte) is a config error (exit 3), here, once:
    not an OSError wherever the path is used next."""
    if explicit:
        return _usable_path(explicit, "--config")
    env = os.environ.get("SMSCLI_CONFIG")
    if env:
        return _usable_path(env, "SMSCLI_CONFIG")
    from platformdirs import user_config_path

    return user_config_path("smscli") / "config.toml"


def _usable_path(text: str, source: str) -> Path:
    shown = text if len(text) <= 80 else f"{text[:40]}…{text[-30:]}"

    def unusable(reason: str) -> ConfigError:
        return ConfigError(
            f"{source} {shown!r} cannot be used: {reason}",
            hint="give the path of a TOML file (or leave it out: the user config dir)",
            code="config_path_invalid",
        )

    try:
        path = Path(text).expanduser()
    except RuntimeError as exc:  # ~user that does not exist, or no home directory
        raise unusable(str(exc).rstrip(".").lower()) from None
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        pass  # not there (yet): read as an empty config; `config init` creates it
    except PermissionError:
        pass  # said when it is read (or written), with the operation
    except OSError as exc:  # too long, a loop of symbolic links, …
        raise unusable(exc.strerror or str(exc)) from None
    except ValueError as exc:  # an embedded NUL byte
        raise unusable(str(exc)) from None
    return path


def example_text() -> str:
    """The example config shipped in the package: every key of every provider, explained
    (`smscli config example` prints it; the README shows it)."""
    from importlib.resources import files

    return files("smscli").joinpath("config.example.toml").read_text(encoding="utf-8")


@dataclass
class Config:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    exists: bool = False
    warnings: list[str] = field(default_factory=list)
    # What ``problems`` found (load(check=False) only; load() raises them).
    problems: list[str] = field(default_factory=list)

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        """The [profiles.NAME] tables (an entry that is not a table is a problem)."""
        profiles = self.data.get("profiles", {})
        if not isinstance(profiles, dict):
            return {}
        return {name: body for name, body in profiles.items() if isinstance(body, dict)}

    @property
    def default_profile(self) -> str | None:
        value = self.data.get("default_profile")
        return value if isinstance(value, str) and value else None

    @property
    def history_enabled(self) -> bool:
        value = self.data.get("history", True)
        if not isinstance(value, bool):
            raise ConfigError(
                f"{self.path}: history must be true or false, not {value!r}",
                code="config_invalid",
            )
        return value

    @property
    def history_url(self) -> str | None:
        """The PostgreSQL history's URL: ``SMSCLI_HISTORY_URL`` over ``history_url``; None:
        the SQLite history. Checked here (the environment's value too); never shown with
        its password."""
        env = os.environ.get(HISTORY_URL_ENV)
        if env:
            problem = history_url_problem(env)
            if problem is not None:
                raise ConfigError(f"{HISTORY_URL_ENV}: {problem}", code="config_invalid")
            return env
        value = self.data.get("history_url")
        return value if isinstance(value, str) and value else None

    def history_password(self) -> str | None:
        """``history_password`` resolved (a secret reference is read now), or None."""
        return resolve_value(self.data.get("history_password"), "history_password")

    @property
    def history_body(self) -> str:
        value = self.data.get("history_body", "full")
        return value if value in ("full", "hash", "none") else "full"

    def profile(self, name: str) -> dict[str, Any]:
        if name not in self.profiles:
            known = ", ".join(self.profiles) or "none"
            where = str(self.path) if self.exists else f"{self.path} (no such file)"
            raise ConfigError(
                f"no profile {name!r} in {where}; profiles: {known}",
                hint="`smscli config init` creates one, or use --provider with flags/env vars",
                code="unknown_profile",
            )
        return self.profiles[name]


def load(path: Path, *, check: bool = True) -> Config:
    """Read the config file; a missing file is an empty config, a broken one an error.

    Every key and value is checked (``problems``) and all problems are reported at once
    (exit 3). ``check=False`` (the `config` commands, which show and fix a broken file)
    keeps them in ``Config.problems`` instead."""
    try:
        with path.open("rb") as file:
            # A config file is a few KB: more is not one (`--config /dev/zero` would fill
            # the memory). Anything readable is read: `--config <(…)` is a pipe.
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return Config(path=path)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror or exc}", code="config_unreadable"
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path} is not a config file: longer than {MAX_CONFIG_BYTES // 1024} KiB",
            code="config_unreadable",
        )
    import tomllib  # here: a run with no config file never pays for the TOML parser

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            hint=EXAMPLE_HINT,
            code="config_invalid",
        ) from None
    config = Config(path=path, data=data, exists=True, problems=problems(data))
    if check and config.problems:
        raise problems_error(path, config.problems)
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        config.warnings.append(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )
    return config


EXAMPLE_HINT = "`smscli config example` prints every key with its meaning"


def problems_error(path: Path, found: Sequence[str], *, hint: str | None = None) -> ConfigError:
    """One error for every problem of a config: one line each (exit 3)."""
    if len(found) == 1:
        message = f"{path}: {found[0]}"
    else:
        message = f"{path} has {len(found)} problems:" + "".join(f"\n  {p}" for p in found)
    return ConfigError(
        message,
        hint=hint or f"fix the file, then `smscli config validate`; {EXAMPLE_HINT}",
        code="config_invalid",
    )


# -- the one check of every key and value ---------------------------------------------------
HISTORY_BODIES = ("full", "hash", "none")
_REFERENCE_HELP = '{env = "VAR"}, {file = "PATH"} or {command = ["argv", ...]}'


def problems(data: Mapping[str, Any]) -> list[str]:
    """Every problem of a config's keys and values, one line each (``KEY: what is wrong``).

    The one check behind load(), `config validate`, `config set` and `config init --set`:
    unknown keys, wrong types, a default_profile naming no profile, a provider smscli does
    not know, an unusable base_url or sender, a malformed secret reference. Never shows a
    secret field's value."""
    found: list[str] = []
    for key in data:
        if key not in TOP_KEYS:
            found.append(f"{key}: unknown key (known: {', '.join(TOP_KEYS)})")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        found.append("profiles: must be a table of [profiles.NAME] sections")
        profiles = {}
    for name, body in profiles.items():
        found.extend(profile_problems(name, body))
    default = data.get("default_profile")
    if default is not None:
        if not isinstance(default, str):
            found.append(f"default_profile: must be a profile name, not {_shown(default)}")
        elif default not in profiles:
            known = ", ".join(profiles) or "none"
            found.append(f"default_profile: no profile {default!r} (profiles: {known})")
    if "history" in data and not isinstance(data["history"], bool):
        found.append(f"history: must be true or false, not {_shown(data['history'])}")
    body_mode = data.get("history_body")
    if body_mode is not None and body_mode not in HISTORY_BODIES:
        found.append(f'history_body: must be "full", "hash" or "none", not {_shown(body_mode)}')
    if "history_url" in data:
        url = data["history_url"]
        problem = (
            history_url_problem(url)
            if isinstance(url, str)
            else f"must be a postgresql://user@host:5432/database URL, not {_shown(url)}"
        )
        if problem is not None:
            found.append(f"history_url: {problem}")
    if "history_password" in data:
        problem = _field_problem(data["history_password"])
        if problem is not None:
            found.append(f"history_password: {problem}")
    return found


def history_url_problem(url: str) -> str | None:
    """What is wrong with a history URL (never quoting it: it may hold a password)."""
    from smscli.history.postgres import url_problem

    return url_problem(url)


def profile_problems(name: str, body: Any) -> list[str]:
    """The problems of one [profiles.NAME] table (see ``problems``)."""
    at = f"profiles.{name}"
    if not isinstance(body, dict):
        return [f"{at}: must be a table ([{at}] with provider = …), not {_shown(body)}"]
    found: list[str] = []
    info: ProviderInfo | None = None
    slug = body.get("provider")
    if slug is None:
        found.append(f'{at}: no provider = "…" ({", ".join(REGISTRY)})')
    elif not isinstance(slug, str):
        found.append(f"{at}.provider: must be one of {', '.join(REGISTRY)}, not {_shown(slug)}")
    else:
        try:
            info = get_info(slug)
        except ConfigError:
            found.append(f"{at}.provider: unknown provider {slug!r} ({', '.join(REGISTRY)})")
    for key, value in body.items():
        if key == "provider":
            continue
        if key in COMMON_KEYS:
            problem = _common_problem(key, value, info)
        elif info is None:
            continue  # the fields of an unknown provider cannot be checked
        elif any(f.name == key for f in info.fields):
            problem = _field_problem(value)
        else:
            known = ", ".join([*COMMON_KEYS, *(f.name for f in info.fields)])
            problem = f"unknown key for {info.slug} (known: {known})"
        if problem:
            found.append(f"{at}.{key}: {problem}")
    return found


def _common_problem(key: str, value: Any, info: ProviderInfo | None) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "base_url":
        if not isinstance(value, str):
            return f"must be a URL in quotes, not {_shown(value)}"
        return base_url_problem(value) if value else None
    if key == "sender":
        if not isinstance(value, str):
            return f"must be a string in quotes, not {_shown(value)}"
        return _sender_problem(value, info)
    number = number and math.isfinite(value)
    if key == "timeout" and not (number and value > 0):
        return f"must be a positive number of seconds, not {_shown(value)}"
    if key == "rate" and not (number and value >= 0):
        return f"must be a number of messages per second (0 or more), not {_shown(value)}"
    if key == "max_segments" and not (
        isinstance(value, int) and not isinstance(value, bool) and value >= 1
    ):
        return f"must be a whole number of segments (1 or more), not {_shown(value)}"
    if key == "smart" and not isinstance(value, bool):
        return f"must be true or false, not {_shown(value)}"
    if key == "dedupe_window":
        return _duration_problem(value)
    return None


def _duration_problem(value: Any) -> str | None:
    """Why a duration setting (``dedupe_window = "30m"``) cannot be used, or None: the same
    reading as the command line's (smscli.timeparse)."""
    from smscli.errors import UsageError
    from smscli.timeparse import DURATION_HINT, parse_duration

    if not isinstance(value, str):
        return f"must be a duration in quotes ({DURATION_HINT}), not {_shown(value)}"
    try:
        parse_duration(value)
    except UsageError as err:
        return f"{err.message.removeprefix('invalid duration ')} ({DURATION_HINT})"
    return None


def _sender_problem(sender: str, info: ProviderInfo | None) -> str | None:
    """The provider's own sender rule (the one a send applies, catalog ``sender_rule``), for
    a profile's default ``sender``; not checked for a provider that takes no sender (a send
    ignores it there)."""
    if info is None or not info.features.sender:
        return None
    try:
        info.check_sender(sender)
    except InputError as err:
        reason = err.message.partition(f"{sender!r}: ")[2] or err.message
        return f"{sender!r} cannot be used: {reason}"
    return None


def _field_problem(value: Any) -> str | None:
    """A provider field: a plain value, or a secret reference table."""
    if isinstance(value, dict):
        return reference_problem(value)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return None
    return f"must be a string or a reference ({_REFERENCE_HELP}), not {_shown(value)}"


def reference_problem(value: Mapping[str, Any]) -> str | None:
    """What is wrong with a secret reference table (None: it is well-formed)."""
    kinds = set(value) & {"env", "file", "command"}
    if len(kinds) != 1 or len(value) != 1:
        return f"a secret reference needs exactly one of env, file or command: {_REFERENCE_HELP}"
    kind = kinds.pop()
    ref = value[kind]
    if kind == "env" and not (isinstance(ref, str) and ref):
        return f"env must be the name of an environment variable, not {_shown(ref)}"
    if kind == "file" and not (isinstance(ref, str) and ref):
        return f"file must be a path, not {_shown(ref)}"
    if kind == "command" and not (
        isinstance(ref, list) and ref and ref[0] and all(isinstance(a, str) for a in ref)
    ):
        return f'command must be a list of strings (["pass", "show", "sms"]), not {_shown(ref)}'
    return None


def _shown(value: Any) -> str:
    """A config value as TOML would spell it (for problems; never a secret field's value:
    those are only named by type)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def write(path: Path, data: Mapping[str, Any]) -> None:
    """Write the config with tomli-w: directory 0700, file 0600, replaced atomically."""
    import tomli_w

    text = tomli_w.dumps(dict(data))
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}", code="config_unwritable"
        ) from None


# -- secrets -------------------------------------------------------------------------------
def resolve_value(value: Any, where: str) -> str | None:
    """A profile value: a plain string/number, or a secret reference table.

    A reference that yields nothing (an unset or empty variable, an empty file, a command
    that fails or prints nothing) is a ConfigError ``credential_missing`` saying so."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a string or a table", code="config_invalid")
    problem = reference_problem(value)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}", code="config_invalid")
    kind, ref = next(iter(value.items()))
    if kind == "env":
        env_value = os.environ.get(ref)
        if env_value is None:
            raise ConfigError(
                f"{where}: environment variable {ref} is not set", code="credential_missing"
            )
        if not env_value.strip():
            raise ConfigError(
                f"{where}: environment variable {ref} is empty", code="credential_missing"
            )
        return env_value
    if kind == "file":
        try:
            text = Path(ref).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(
                f"{where}: cannot read {ref}: {why}", code="credential_missing"
            ) from None
        if not text:
            raise ConfigError(f"{where}: file {ref} is empty", code="credential_missing")
        return text
    try:
        done = subprocess.run(ref, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(
            f"{where}: command {ref[0]!r} failed: {exc}", code="credential_missing"
        ) from None
    if done.returncode != 0:
        # stderr is not shown: a password manager may print the secret's name or worse.
        raise ConfigError(
            f"{where}: command {ref[0]!r} exited {done.returncode}", code="credential_missing"
        )
    lines = done.stdout.splitlines()
    first = lines[0].strip() if lines else ""
    if not first:
        # What it printed is not shown: not the secret expected, but perhaps close to one.
        what = "printed nothing" if not done.stdout.strip() else "printed an empty first line"
        raise ConfigError(
            f"{where}: command {ref[0]!r} {what} (smscli uses the first line of its output)",
            code="credential_missing",
        )
    return first


# -- profiles → Settings ---------------------------------------------------------------------
class ProfileChoice(NamedTuple):
    """Which profile and provider a command uses, after flags and env are considered."""

    info: ProviderInfo
    name: str | None  # None: no profile (--provider with flags/env)
    body: Mapping[str, Any]
    # Why a profile nobody named with -p is used ("default_profile", "SMSCLI_PROFILE"):
    # the sending commands say so, so that --provider never picks one up silently.
    picked_by: str | None = None


def choose(config: Config, profile: str | None, provider: str | None) -> ProfileChoice:
    """Which profile a command uses (README "Decisions: configuration and first run"):

    - ``-p NAME`` (``profile``): that profile (with ``--provider``, it must be for it).
    - no ``--provider``: ``SMSCLI_PROFILE``, else ``default_profile``; none is an error.
    - ``--provider X`` (or `smscli X`) without ``-p``: ``SMSCLI_PROFILE`` or
      ``default_profile`` only when that profile is for X (``picked_by`` says which);
      otherwise no profile: flags and environment variables only.
    """
    name = profile or (None if provider else os.environ.get("SMSCLI_PROFILE"))
    picked_by = None
    if name is None and provider is None:
        name = config.default_profile
    if name is None and provider is not None:
        usual, picked_by = os.environ.get("SMSCLI_PROFILE"), "SMSCLI_PROFILE"
        if not usual:
            usual, picked_by = config.default_profile, "default_profile"
        body = config.profiles.get(usual or "")
        if isinstance(body, dict) and _same_provider(body.get("provider"), provider):
            name = usual
        else:
            picked_by = None
    if name is None:
        if provider is None:
            where = f"{config.path}" if config.exists else f"{config.path} (not created yet)"
            raise ConfigError(
                f"no profile chosen and no default_profile in {where}",
                hint="give -p PROFILE or --provider SLUG; `smscli config init` writes a profile",
                code="no_profile",
            )
        return ProfileChoice(get_info(provider), None, {})
    body = config.profile(name)
    slug = body.get("provider")
    if not isinstance(slug, str):
        raise ConfigError(
            f'profile {name!r} has no provider = "…" ({", ".join(REGISTRY)})',
            code="config_invalid",
        )
    info = get_info(slug)
    if provider is not None and get_info(provider).slug != info.slug:
        raise ConfigError(
            f"profile {name!r} is a {info.slug} profile, not {get_info(provider).slug}",
            code="config_invalid",
        )
    return ProfileChoice(info, name, body, picked_by)


def _same_provider(value: Any, provider: str) -> bool:
    try:
        return isinstance(value, str) and get_info(value).slug == get_info(provider).slug
    except ConfigError:
        return False


def field_source(info: ProviderInfo, f: CredentialField) -> str:
    return f"{f.flag}, {f.env_var(info.slug)} or `{f.name} = …` in the profile"


def resolve_settings(
    choice: ProfileChoice,
    flags: Mapping[str, str | None],
    *,
    base_url: str | None = None,
    sandbox: bool = False,
) -> Settings:
    """Apply flag > env > profile to every field; report every missing one at once."""
    info, body = choice.info, choice.body
    where = f"profile {choice.name!r}" if choice.name else info.slug
    for key in body:
        if key not in COMMON_KEYS and not any(f.name == key for f in info.fields):
            known = ", ".join([*COMMON_KEYS, *(f.name for f in info.fields)])
            raise ConfigError(
                f"{where}: unknown key {key!r} for {info.slug} (known: {known})",
                code="config_invalid",
            )
    values, problems_ = _credentials(choice, flags, where, sandbox=sandbox)
    if problems_:
        raise ConfigError(
            f"{where}: missing {'; '.join(problems_)}",
            hint=_alternatives_hint(info),
            code="credential_missing",
        )
    if base_url:
        base_url = check_base_url(base_url, "--base-url")
    else:
        base_url = common(choice, "base_url")
        if base_url:
            env_name = f"SMSCLI_{info.slug.upper()}_BASE_URL"
            source = env_name if os.environ.get(env_name) else f"{where}.base_url"
            base_url = check_base_url(base_url, source)
    return Settings(
        slug=info.slug,
        profile=choice.name,
        base_url=base_url or info.default_base_url,
        values=values,
        secret_names=info.secret_names,
        from_flags=frozenset(name for name in values if flags.get(name)),
        sender=common(choice, "sender"),
        timeout=common(choice, "timeout") or 30.0,
        max_segments=common(choice, "max_segments"),
        smart=common(choice, "smart") is True,
        rate=common(choice, "rate"),
        sandbox=sandbox,
    )


def _credentials(
    choice: ProfileChoice, flags: Mapping[str, str | None], where: str, *, sandbox: bool
) -> tuple[dict[str, str], list[str]]:
    """Every field's value (flag > env > profile) and what is missing, one entry a field.

    A secret reference ({env}, {file}, {command}) is resolved only when its field is
    needed: every field outside a login set, and the fields of the login set used (for
    Telit: username+password or app_id+app_token+thing_key). A complete set is enough; the
    references of the other set are never resolved (their commands never run) and cannot
    fail the run. The set used is the first one complete without resolving anything, else
    the first one whose references resolve. With ``sandbox``, whatever is still missing
    (or did not resolve) is filled in: the sandbox accepts any credentials."""
    info, body = choice.info, choice.body
    values: dict[str, str] = {}
    refs: dict[str, Any] = {}
    for f in info.fields:
        flag_value = flags.get(f.name)
        env_value = os.environ.get(f.env_var(info.slug))
        if flag_value:
            values[f.name] = flag_value
        elif env_value:
            values[f.name] = env_value
        elif isinstance(body.get(f.name), dict):
            if not f.listen_only:  # (a callback secret's reference: `smscli listen` reads it)
                refs[f.name] = body[f.name]
        else:
            resolved = resolve_value(body.get(f.name), f"{where}.{f.name}")
            if resolved:
                values[f.name] = resolved
    unresolved: dict[str, str] = {}  # field → why its reference gave nothing

    def resolve(name: str) -> None:
        if name not in refs or name in values or name in unresolved:
            return
        try:
            resolved = resolve_value(refs[name], f"{where}.{name}")
        except ConfigError as err:
            if err.code != "credential_missing":
                raise
            unresolved[name] = err.message.removeprefix(f"{where}.")
            return
        if resolved:
            values[name] = resolved

    in_sets = {n for s in info.credential_sets for n in s}
    for name in refs:
        if name not in in_sets:
            resolve(name)
    # Sets complete already first, then those with fewest references to resolve (a stable
    # sort: declaration order otherwise).
    for login_set in sorted(info.credential_sets, key=lambda s: sum(n not in values for n in s)):
        if all(n in values or n in refs for n in login_set):
            for n in login_set:
                resolve(n)
            if all(n in values for n in login_set):
                break
    needed = _missing(info, values, refs)
    if sandbox:
        # The sandbox accepts any credentials: a new user needs none to see it work.
        for f in needed:
            # Shorter than the redactor's minimum, so it is not masked in output.
            values[f.name] = "sbx"
        return values, []
    # What to report: the fields the set being filled in lacks (each with how to supply it,
    # or why its reference gave nothing), and references outside the login sets that failed.
    for f in needed:
        resolve(f.name)
    problems_ = [unresolved.get(f.name) or f"{f.name} ({field_source(info, f)})" for f in needed]
    problems_ += [
        why
        for name, why in unresolved.items()
        if name not in in_sets and all(f.name != name for f in needed)
    ]
    return values, problems_


def check_base_url(url: str, where: str) -> str:
    """A usable base_url (SPEC §1: scheme + host + optional port and path prefix), checked
    once, here, so that a typo is one clear line (exit 3) before anything is sent."""
    problem = base_url_problem(url)
    if problem is None:
        return url
    raise ConfigError(
        f"{where}: base_url {problem}",
        hint="base_url is scheme + host + optional port and path prefix, "
        "e.g. https://cdn.emnify.net or http://127.0.0.1:8025/emnify",
        code="invalid_base_url",
    )


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a base_url (``'URL' cannot be used: …``), or None."""
    from urllib.parse import urlsplit

    problem = None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Port out of range 0-65535", a port that is not a number
        parts, port, problem = None, None, f"the port must be a number 1-65535 ({exc})"
        if "IPv6" in str(exc):  # "Invalid IPv6 URL" (an unclosed "["), or no address in [...]
            problem = "the host is not a valid IPv6 address in [brackets]"
    host = parts.hostname if parts is not None else None
    if problem is not None or parts is None:
        pass
    elif not url.isprintable() or any(c.isspace() for c in url):
        problem = "it has a space or a control character"
    elif parts.scheme.lower() not in ("http", "https"):
        problem = "the scheme must be http:// or https://"
    elif not host:
        problem = "it has no host"
    elif port is not None and not 0 < port < 65536:
        problem = "the port must be 1-65535"
    elif "?" in url:
        problem = "it has a query (?…); the provider adds its own"
    elif "#" in url:
        problem = "it has a #fragment"
    elif (
        host.isascii()
        and not host.startswith("[")
        and any(not 0 < len(label) <= 63 for label in host.rstrip(".").split("."))
    ):
        problem = "a host name label is empty or longer than 63 characters"
    return None if problem is None else f"{url!r} cannot be used: {problem}"


def common(choice: ProfileChoice, key: str) -> Any:
    """A common profile field (COMMON_KEYS), typed and checked: the env var
    ``SMSCLI_<PROVIDER>_<FIELD>`` first, then the profile's value."""
    where = f"profile {choice.name!r}" if choice.name else choice.info.slug
    env_name = f"SMSCLI_{choice.info.slug.upper()}_{key.upper()}"
    body: Mapping[str, Any] = choice.body
    raw = os.environ.get(env_name)
    if raw:
        where = env_name
        body = {key: _from_env(key, raw, env_name)}
    if key in ("base_url", "sender"):
        return _common_str(body, key, where)
    if key == "timeout":
        return _common_float(body, key, where, positive=True)
    if key == "rate":
        return _common_float(body, key, where)
    if key == "max_segments":
        return _common_int(body, key, where)
    if key == "smart":
        value = body.get(key)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{where}.smart must be true or false", code="config_invalid")
        return value
    if key == "dedupe_window":
        value = body.get(key)
        problem = None if value is None else _duration_problem(value)
        if problem:
            raise ConfigError(f"{where}.dedupe_window {problem}", code="config_invalid")
        return value
    raise KeyError(key)


def _from_env(key: str, raw: str, env_name: str) -> Any:
    try:
        if key in ("timeout", "rate"):
            return float(raw)
        if key == "max_segments":
            return int(raw)
    except ValueError:
        raise ConfigError(
            f"{env_name} must be a number, not {raw!r}", code="config_invalid"
        ) from None
    if key == "smart":
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{env_name} must be true or false", code="config_invalid")
        return raw.lower() in ("true", "1", "yes")
    return raw


def _missing(
    info: ProviderInfo, values: Mapping[str, str], started: Collection[str] = ()
) -> list[CredentialField]:
    """The fields still needed: none when a login set is complete; else those of the set
    the user has started filling in (most fields given in ``values`` or ``started``, e.g.
    as references that did not resolve), else of the first set."""
    if info.credential_sets:
        candidates = [[n for n in s if n not in values] for s in info.credential_sets]
        if any(not c for c in candidates):
            return []
        pairs = list(zip(info.credential_sets, candidates, strict=True))
        given = set(values) | set(started)
        best = max(pairs, key=lambda sc: sum(n in given for n in sc[0]))[1]
        return [info.field(n) for n in best]
    return [f for f in info.fields if f.required and f.name not in values]


def _alternatives_hint(info: ProviderInfo) -> str | None:
    if not info.credential_sets:
        return 'secrets can also be `{env = "VAR"}`, `{file = "PATH"}` or `{command = [...]}`'
    sets = " or ".join("+".join(s) for s in info.credential_sets)
    return f"{info.slug} logs in with {sets}"


def _common_str(body: Mapping[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be a string", code="config_invalid")
    return value or None


def _common_float(
    body: Mapping[str, Any], key: str, where: str, *, positive: bool = False
) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or (positive and value == 0)
    ):
        what = "a positive" if positive else "a non-negative"
        raise ConfigError(f"{where}.{key} must be {what} number", code="config_invalid")
    return float(value)


def _common_int(body: Mapping[str, Any], key: str, where: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}.{key} must be a positive integer", code="config_invalid")
    return value
