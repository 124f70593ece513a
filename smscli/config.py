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

import os
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from smscli.catalog import REGISTRY, CredentialField, ProviderInfo, get_info
from smscli.errors import ConfigError
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
}
TOP_KEYS = ("default_profile", "profiles", "history", "history_body")
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


@dataclass
class Config:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    exists: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        profiles = self.data.get("profiles", {})
        return profiles if isinstance(profiles, dict) else {}

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


def load(path: Path) -> Config:
    """Read the config file; a missing file is an empty config, a broken one an error."""
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
            hint="fix the file, or see config.example.toml",
            code="config_invalid",
        ) from None
    config = Config(path=path, data=data, exists=True)
    config.warnings.extend(_shape_problems(data, path))
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


def _shape_problems(data: dict[str, Any], path: Path) -> list[str]:
    warnings: list[str] = []
    for key in data:
        if key not in TOP_KEYS:
            warnings.append(f"{path}: unknown key {key!r} (known: {', '.join(TOP_KEYS)})")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: [profiles] must be a table", code="config_invalid")
    for name, body in profiles.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: profiles.{name} must be a table", code="config_invalid")
    return warnings


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
    """A profile value: a plain string/number, or a secret reference table."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a string or a table", code="config_invalid")
    keys = set(value) & {"env", "file", "command"}
    if len(keys) != 1 or len(value) != 1:
        raise ConfigError(
            f"{where}: a secret reference needs exactly one of env, file or command",
            code="config_invalid",
        )
    kind = keys.pop()
    ref = value[kind]
    if kind == "env":
        if not isinstance(ref, str):
            raise ConfigError(f"{where}: env must be a variable name", code="config_invalid")
        env_value = os.environ.get(ref)
        if env_value is None:
            raise ConfigError(
                f"{where}: environment variable {ref} is not set", code="credential_missing"
            )
        return env_value
    if kind == "file":
        if not isinstance(ref, str):
            raise ConfigError(f"{where}: file must be a path", code="config_invalid")
        try:
            return Path(ref).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{where}: cannot read {ref}: {exc.strerror}", code="credential_missing"
            ) from None
    if not (isinstance(ref, list) and ref and all(isinstance(a, str) for a in ref)):
        raise ConfigError(f"{where}: command must be a list of strings", code="config_invalid")
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
    return lines[0].strip() if lines else ""


# -- profiles → Settings ---------------------------------------------------------------------
class ProfileChoice(NamedTuple):
    """Which profile and provider a command uses, after flags and env are considered."""

    info: ProviderInfo
    name: str | None  # None: no profile (--provider with flags/env)
    body: Mapping[str, Any]


def choose(config: Config, profile: str | None, provider: str | None) -> ProfileChoice:
    """1. --profile  2. SMSCLI_PROFILE  3. default_profile — unless --provider is given."""
    name = profile or (None if provider else os.environ.get("SMSCLI_PROFILE"))
    if name is None and provider is None:
        name = config.default_profile
    if name is None and provider is not None:
        # `smscli emnify …` without -p: the usual profile, when it is for that provider.
        usual = os.environ.get("SMSCLI_PROFILE") or config.default_profile
        body = config.profiles.get(usual or "")
        if isinstance(body, dict) and _same_provider(body.get("provider"), provider):
            name = usual
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
    return ProfileChoice(info, name, body)


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
    values: dict[str, str] = {}
    unresolved: list[str] = []  # secret references that did not resolve (reported with the rest)
    for f in info.fields:
        flag_value = flags.get(f.name)
        env_value = os.environ.get(f.env_var(info.slug))
        if flag_value:
            values[f.name] = flag_value
        elif env_value:
            values[f.name] = env_value
        else:
            try:
                resolved = resolve_value(body.get(f.name), f"{where}.{f.name}")
            except ConfigError as err:
                if err.code != "credential_missing":
                    raise
                unresolved.append(err.message.removeprefix(f"{where}."))
                continue
            if resolved:
                values[f.name] = resolved
    if sandbox:
        # The sandbox accepts any credentials: a new user needs none to see it work.
        for f in info.fields:
            if f.required or _in_first_set(info, f.name):
                # Shorter than the redactor's minimum, so it is not masked in output.
                values.setdefault(f.name, "sbx")
    missing = [
        f for f in _missing(info, values) if not any(u.startswith(f.name + ":") for u in unresolved)
    ]
    if missing or unresolved:
        parts = [f"{f.name} ({field_source(info, f)})" for f in missing] + unresolved
        raise ConfigError(
            f"{where}: missing {'; '.join(parts)}",
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


def check_base_url(url: str, where: str) -> str:
    """A usable base_url (SPEC §1: scheme + host + optional port and path prefix), checked
    once, here, so that a typo is one clear line (exit 3) before anything is sent."""
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
    if problem is None:
        return url
    raise ConfigError(
        f"{where}: base_url {url!r} cannot be used: {problem}",
        hint="base_url is scheme + host + optional port and path prefix, "
        "e.g. https://cdn.emnify.net or http://127.0.0.1:8025/emnify",
        code="invalid_base_url",
    )


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


def _in_first_set(info: ProviderInfo, name: str) -> bool:
    return bool(info.credential_sets) and name in info.credential_sets[0]


def _missing(info: ProviderInfo, values: Mapping[str, str]) -> list[CredentialField]:
    if info.credential_sets:
        candidates = [[n for n in s if n not in values] for s in info.credential_sets]
        if any(not c for c in candidates):
            return []
        # Report the set the user has started filling in (most fields present), else the
        # first one.
        pairs = list(zip(info.credential_sets, candidates, strict=True))
        best = max(pairs, key=lambda sc: len(sc[0]) - len(sc[1]))[1]
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
