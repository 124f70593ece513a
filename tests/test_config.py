"""smscli.config: where the file is, reading/writing it, secret references, profile choice and
flag > env > profile resolution (SPEC §1 profile fields, §6)."""

from __future__ import annotations

import re
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from smscli.catalog import REGISTRY, ProviderInfo, get_info
from smscli.config import (
    COMMON_KEYS,
    Config,
    ProfileChoice,
    choose,
    config_path,
    load,
    resolve_settings,
    resolve_value,
    write,
)
from smscli.errors import ConfigError, ExitCode
from smscli.models import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "smscli" / "config.example.toml"

# Every (provider, field) pair, for the precedence tables.
FIELDS = [(info.slug, f.name) for info in REGISTRY.values() for f in info.fields]
FIELD_IDS = [f"{slug}-{name}" for slug, name in FIELDS]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _choice(slug: str, body: dict[str, Any] | None = None, name: str | None = "p") -> ProfileChoice:
    return ProfileChoice(get_info(slug), name, {"provider": slug, **(body or {})})


def _config_error(fn: Any, *args: Any, **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    assert info.value.exit_code is ExitCode.CONFIG
    return info.value


def _full_body(info: ProviderInfo) -> dict[str, str]:
    """A profile holding every field of the provider, each as ``profile-<field>``."""
    return {f.name: f"profile-{f.name}" for f in info.fields}


# --------------------------------------------------------------------------- config_path


def test_config_path_explicit_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(str(tmp_path / "flag.toml")) == tmp_path / "flag.toml"


def test_config_path_explicit_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path("~/c.toml") == tmp_path / "c.toml"


def test_config_path_env_beats_platformdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSCLI_CONFIG", str(tmp_path / "env.toml"))
    assert config_path() == tmp_path / "env.toml"
    assert config_path(None) == tmp_path / "env.toml"


def test_config_path_falls_back_to_platformdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMSCLI_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    from platformdirs import user_config_path

    expected = user_config_path("smscli") / "config.toml"
    assert config_path() == expected
    if sys.platform.startswith("linux"):
        assert expected == tmp_path / "xdg" / "smscli" / "config.toml"


# --------------------------------------------------------------------------- load


def test_load_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load(tmp_path / "nope.toml")
    assert config.exists is False
    assert config.data == {}
    assert config.profiles == {}
    assert config.default_profile is None
    assert config.warnings == []


def test_load_broken_toml_is_config_invalid_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[profiles.a\nprovider = 'emnify'\n")
    path.chmod(0o600)
    error = _config_error(load, path)
    assert error.code == "config_invalid"
    assert str(path) in error.message


def test_load_non_utf8_is_config_invalid(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'default_profile = "caf\xe9"\n')
    path.chmod(0o600)
    assert _config_error(load, path).code == "config_invalid"


def test_load_group_readable_file_warns_with_chmod_600(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('default_profile = "a"\n[profiles.a]\nprovider = "emnify"\n')
    path.chmod(0o644)
    config = load(path)
    assert config.exists is True
    assert any("chmod 600" in w and str(path) in w for w in config.warnings), config.warnings


def test_load_private_file_gives_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('default_profile = "a"\n[profiles.a]\nprovider = "emnify"\n')
    path.chmod(0o600)
    config = load(path)
    assert config.warnings == []
    assert config.default_profile == "a"
    assert config.profiles == {"a": {"provider": "emnify"}}


@pytest.mark.parametrize(
    "text",
    ["profiles = 3\n", 'profiles = "emnify"\n', "profiles = [1, 2]\n", "[profiles]\na = 1\n"],
    ids=["profiles-int", "profiles-string", "profiles-array", "profile-not-a-table"],
)
def test_load_profiles_must_be_tables(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    error = _config_error(load, path)
    assert error.code == "config_invalid"
    assert str(path) in error.message


def test_load_unknown_top_level_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('defualt_profile = "a"\n')
    path.chmod(0o600)
    error = _config_error(load, path)
    assert "defualt_profile: unknown key" in error.message
    assert load(path, check=False).problems == [
        "defualt_profile: unknown key (known: default_profile, profiles, history, history_body,"
        " history_url, history_password)"
    ]


# --------------------------------------------------------------------------- write


def test_write_creates_private_dir_and_file_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "config.toml"
    data = {
        "default_profile": "a",
        "history": False,
        "profiles": {
            "a": {"provider": "emnify", "application_token": {"env": "EMNIFY_TOKEN"}},
            "b": {"provider": "csl", "username": "u", "timeout": 12.5, "max_segments": 1},
        },
    }
    write(path, data)
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600
    config = load(path)
    assert config.exists is True
    assert config.data == data
    assert config.warnings == []
    assert config.history_enabled is False
    assert not list(path.parent.glob("*.tmp"))


def test_write_replaces_an_existing_file_and_keeps_it_private(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('default_profile = "old"\n')
    path.chmod(0o644)
    write(path, {"default_profile": "new"})
    assert _mode(path) == 0o600
    assert load(path, check=False).default_profile == "new"


# --------------------------------------------------------------------------- resolve_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [("plain", "plain"), (1234, "1234"), (1.5, "1.5"), (True, "true"), (None, None)],
    ids=["string", "int", "float", "bool", "none"],
)
def test_resolve_value_plain(value: Any, expected: str | None) -> None:
    assert resolve_value(value, "p.field") == expected


def test_resolve_value_env_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SECRET_VAR", "from-env")
    assert resolve_value({"env": "MY_SECRET_VAR"}, "p.token") == "from-env"


def test_resolve_value_env_unset_names_the_variable() -> None:
    error = _config_error(resolve_value, {"env": "SURELY_UNSET_VAR_123"}, "p.token")
    assert error.code == "credential_missing"
    assert "SURELY_UNSET_VAR_123" in error.message
    assert "p.token" in error.message


def test_resolve_value_file_strips_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret-value\n")
    assert resolve_value({"file": str(secret)}, "p.token") == "s3cret-value"


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_resolve_value_unreadable_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope.txt"
    if kind == "directory":
        path.mkdir()
    error = _config_error(resolve_value, {"file": str(path)}, "p.token")
    assert error.code == "credential_missing"
    assert "p.token" in error.message
    assert str(path) in error.message


def test_resolve_value_command_first_line_of_stdout() -> None:
    command = [sys.executable, "-c", "print('first-line  '); print('second-line')"]
    assert resolve_value({"command": command}, "p.token") == "first-line"


def test_resolve_value_command_failure_hides_stderr() -> None:
    command = [
        sys.executable,
        "-c",
        "import sys; sys.stderr.write('LEAKED-STDERR hunter2\\n'); sys.exit(3)",
    ]
    error = _config_error(resolve_value, {"command": command}, "p.token")
    assert error.code == "credential_missing"
    assert "LEAKED-STDERR" not in error.message
    assert "hunter2" not in error.message
    assert "exited 3" in error.message


def test_resolve_value_command_not_found(tmp_path: Path) -> None:
    error = _config_error(
        resolve_value, {"command": [str(tmp_path / "no-such-program")]}, "p.token"
    )
    assert error.code == "credential_missing"


@pytest.mark.parametrize(
    "value",
    [
        {"env": "A", "file": "/tmp/x"},
        {"env": "A", "command": ["true"]},
        {"env": "A", "extra": 1},
        {"nothing": "here"},
        {},
    ],
    ids=["env+file", "env+command", "env+unknown", "unknown-only", "empty-table"],
)
def test_resolve_value_table_needs_exactly_one_reference(value: dict[str, Any]) -> None:
    error = _config_error(resolve_value, value, "p.token")
    assert error.code == "config_invalid"
    assert "exactly one" in error.message


@pytest.mark.parametrize(
    "value",
    [{"env": 5}, {"file": ["a"]}, {"command": "pass show x"}, {"command": []}, ["a", "b"]],
    ids=["env-not-string", "file-not-string", "command-string", "command-empty", "array"],
)
def test_resolve_value_wrong_types(value: Any) -> None:
    assert _config_error(resolve_value, value, "p.token").code == "config_invalid"


# --------------------------------------------------------------------------- choose


def _two_profiles(default: str | None = "a") -> Config:
    data: dict[str, Any] = {
        "profiles": {
            "a": {"provider": "emnify", "application_token": "t"},
            "b": {"provider": "csl", "username": "u"},
            "c": {"provider": "thingspace"},
            "broken": {"username": "u"},
        }
    }
    if default:
        data["default_profile"] = default
    return Config(path=Path("/cfg/config.toml"), data=data, exists=True)


def test_choose_profile_flag_beats_env_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_PROFILE", "c")
    choice = choose(_two_profiles("a"), "b", None)
    assert choice.name == "b"
    assert choice.info.slug == "csl"
    assert choice.body["username"] == "u"


def test_choose_env_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_PROFILE", "b")
    assert choose(_two_profiles("a"), None, None).name == "b"


def test_choose_default_profile() -> None:
    choice = choose(_two_profiles("a"), None, None)
    assert choice.name == "a"
    assert choice.info.slug == "emnify"


def test_choose_provider_without_profile_ignores_env_and_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMSCLI_PROFILE", "b")
    choice = choose(_two_profiles("a"), None, "fonedynamics")
    assert choice.name is None
    assert choice.info.slug == "fonedynamics"
    assert dict(choice.body) == {}


def test_choose_nothing_at_all() -> None:
    error = _config_error(choose, _two_profiles(None), None, None)
    assert error.code == "no_profile"


def test_choose_unknown_profile_lists_the_known_ones() -> None:
    error = _config_error(choose, _two_profiles(), "zzz", None)
    assert error.code == "unknown_profile"
    assert "'zzz'" in error.message
    assert "a, b, c, broken" in error.message


def test_choose_profile_without_provider() -> None:
    error = _config_error(choose, _two_profiles(), "broken", None)
    assert error.code == "config_invalid"
    assert "broken" in error.message


def test_choose_profile_provider_mismatch() -> None:
    error = _config_error(choose, _two_profiles(), "a", "csl")
    assert "emnify" in error.message
    assert "csl" in error.message


def test_choose_profile_with_matching_alias() -> None:
    assert choose(_two_profiles(), "c", "verizon").info.slug == "thingspace"


def test_choose_unknown_provider() -> None:
    assert _config_error(choose, _two_profiles(), None, "nokia").code == "unknown_provider"


# --------------------------------------------------------------------------- resolve_settings: fields


@pytest.mark.parametrize(("slug", "name"), FIELDS, ids=FIELD_IDS)
def test_flag_beats_env_and_profile(slug: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    info = get_info(slug)
    monkeypatch.setenv(info.field(name).env_var(slug), "env-value")
    settings = resolve_settings(_choice(slug, _full_body(info)), {name: "flag-value"})
    assert settings.values[name] == "flag-value"


@pytest.mark.parametrize(("slug", "name"), FIELDS, ids=FIELD_IDS)
def test_env_beats_profile(slug: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    info = get_info(slug)
    monkeypatch.setenv(f"SMSCLI_{slug.upper()}_{name.upper()}", "env-value")
    settings = resolve_settings(_choice(slug, _full_body(info)), {name: None})
    assert settings.values[name] == "env-value"


@pytest.mark.parametrize(("slug", "name"), FIELDS, ids=FIELD_IDS)
def test_profile_value_used_last(slug: str, name: str) -> None:
    info = get_info(slug)
    settings = resolve_settings(_choice(slug, _full_body(info)), {})
    assert settings.values[name] == f"profile-{name}"


@pytest.mark.parametrize(("slug", "name"), FIELDS, ids=FIELD_IDS)
def test_empty_flag_and_env_fall_through_to_profile(
    slug: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = get_info(slug)
    monkeypatch.setenv(info.field(name).env_var(slug), "")
    settings = resolve_settings(_choice(slug, _full_body(info)), {name: ""})
    assert settings.values[name] == f"profile-{name}"


def test_profile_secret_reference_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_EMNIFY", "tok-from-ref")
    settings = resolve_settings(_choice("emnify", {"application_token": {"env": "MY_EMNIFY"}}), {})
    assert settings.values["application_token"] == "tok-from-ref"


def test_env_var_spares_a_broken_profile_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The env var wins, so an unset reference in the profile is never looked at."""
    monkeypatch.setenv("SMSCLI_EMNIFY_APPLICATION_TOKEN", "tok")
    body = {"application_token": {"env": "UNSET_VAR_XYZ"}}
    assert resolve_settings(_choice("emnify", body), {}).values["application_token"] == "tok"


def test_settings_carry_secret_names_profile_and_slug() -> None:
    settings = resolve_settings(_choice("fonedynamics", _full_body(get_info("fonedynamics"))), {})
    assert settings.slug == "fonedynamics"
    assert settings.profile == "p"
    assert settings.secret_names == frozenset({"token", "callback_secret"})
    assert settings.secret_values() == ["profile-token", "profile-callback_secret"]
    assert settings.sandbox is False


# --------------------------------------------------------------------------- resolve_settings: missing


def test_fonedynamics_nothing_set_reports_every_field_at_once() -> None:
    error = _config_error(resolve_settings, _choice("fonedynamics"), {})
    assert error.code == "credential_missing"
    for name in ("account_sid", "token", "property_sid"):
        flag = "--" + name.replace("_", "-")
        env = f"SMSCLI_FONEDYNAMICS_{name.upper()}"
        assert re.search(
            rf"\b{name} \({re.escape(flag)}, {env} or `{name} = …` in the profile\)",
            error.message,
        ), error.message


@pytest.mark.parametrize("slug", ["csl", "thingspace", "emnify", "fonedynamics"])
def test_every_required_field_reported_with_flag_env_and_key(slug: str) -> None:
    info = get_info(slug)
    error = _config_error(resolve_settings, _choice(slug, name=None), {})
    assert error.message.startswith(f"{slug}: missing")
    for f in info.fields:
        if not f.required:
            assert f.flag not in error.message  # ThingSpace's account_name (issue 9)
            continue
        assert f.flag in error.message
        assert f.env_var(slug) in error.message
        assert f"`{f.name} = …`" in error.message


def test_only_the_missing_fields_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_CSL_API_ID", "42")
    error = _config_error(resolve_settings, _choice("csl", {"username": "u"}), {})
    assert "--password" in error.message
    assert "--username" not in error.message
    assert "--api-id" not in error.message
    assert "profile 'p'" in error.message


def test_secret_value_never_in_missing_error() -> None:
    body = {"username": "u", "password": "hunter2-secret"}
    error = _config_error(resolve_settings, _choice("csl", body), {})
    assert "hunter2-secret" not in error.message
    assert "hunter2-secret" not in (error.hint or "")


# --------------------------------------------------------------------------- Telit credential sets


@pytest.mark.parametrize(
    "given",
    [
        {"username": "u", "password": "pw"},
        {"app_id": "a", "app_token": "t", "thing_key": "k"},
        {"username": "u", "app_id": "a", "app_token": "t", "thing_key": "k"},
    ],
    ids=["user-set", "app-set", "app-set-plus-stray-username"],
)
def test_telit_either_complete_set_is_enough(given: dict[str, str]) -> None:
    settings = resolve_settings(_choice("telit"), given)
    for name, value in given.items():
        assert settings.values[name] == value


def test_telit_nothing_set_reports_the_first_set_and_hints_both() -> None:
    error = _config_error(resolve_settings, _choice("telit"), {})
    assert "--username" in error.message
    assert "--password" in error.message
    assert "--app-token" not in error.message
    assert error.hint is not None
    assert "username+password" in error.hint
    assert "app_id+app_token+thing_key" in error.hint


def test_telit_partial_app_set_reports_missing_app_token_and_thing_key() -> None:
    error = _config_error(resolve_settings, _choice("telit"), {"app_id": "a"})
    assert "--app-token" in error.message
    assert "--thing-key" in error.message
    assert "--username" not in error.message
    assert "--password" not in error.message


def test_telit_two_of_three_app_fields_reports_the_third(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_TELIT_APP_TOKEN", "t")
    error = _config_error(resolve_settings, _choice("telit", {"app_id": "a"}), {})
    assert "--thing-key" in error.message
    assert "SMSCLI_TELIT_THING_KEY" in error.message
    assert "--username" not in error.message


def test_telit_partial_user_set_reports_password() -> None:
    error = _config_error(resolve_settings, _choice("telit"), {"username": "u"})
    assert "--password" in error.message
    assert "--app-id" not in error.message


# --------------------------------------------------------------------------- sandbox


@pytest.mark.parametrize("slug", list(REGISTRY))
def test_sandbox_fills_missing_credentials(slug: str) -> None:
    settings = resolve_settings(_choice(slug, name=None), {}, sandbox=True)
    assert settings.sandbox is True
    info = get_info(slug)
    needed = (
        info.credential_sets[0]
        if info.credential_sets
        else [f.name for f in info.fields if f.required]
    )
    for name in needed:
        assert settings.values[name]


def test_sandbox_keeps_given_values() -> None:
    settings = resolve_settings(_choice("emnify"), {"application_token": "mine"}, sandbox=True)
    assert settings.values["application_token"] == "mine"


# --------------------------------------------------------------------------- common keys


def test_unknown_profile_key_names_the_key() -> None:
    body = {**_full_body(get_info("emnify")), "aplication_token": "typo"}
    error = _config_error(resolve_settings, _choice("emnify", body), {})
    assert error.code == "config_invalid"
    assert "'aplication_token'" in error.message


def test_field_of_another_provider_is_unknown() -> None:
    body = {**_full_body(get_info("emnify")), "account_sid": "AC1"}
    assert "'account_sid'" in _config_error(resolve_settings, _choice("emnify", body), {}).message


def test_common_keys_are_accepted_and_typed() -> None:
    body = {
        **_full_body(get_info("emnify")),
        "base_url": "http://sandbox.test/emnify",
        "sender": "ACME",
        "timeout": 12.5,
        "max_segments": 3,
        "smart": True,
        "rate": 2,
        "dedupe_window": "30m",
    }
    assert set(body) - {"application_token", "callback_secret"} == set(COMMON_KEYS) - {"provider"}
    settings = resolve_settings(_choice("emnify", body), {})
    assert settings.base_url == "http://sandbox.test/emnify"
    assert settings.sender == "ACME"
    assert settings.timeout == 12.5
    assert settings.max_segments == 3
    assert settings.smart is True
    assert settings.rate == 2.0


def test_common_defaults() -> None:
    settings = resolve_settings(_choice("emnify", _full_body(get_info("emnify"))), {})
    assert settings.base_url == "https://cdn.emnify.net"
    assert settings.sender is None
    assert settings.timeout == 30.0
    assert settings.max_segments is None
    assert settings.smart is False
    assert settings.rate is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("base_url", 5),
        ("sender", 12345),
        ("timeout", "30"),
        ("timeout", -1),
        ("timeout", True),
        ("rate", "fast"),
        ("max_segments", 0),
        ("max_segments", 1.5),
        ("max_segments", "2"),
        ("max_segments", True),
    ],
    ids=[
        "base_url-int",
        "sender-int",
        "timeout-string",
        "timeout-negative",
        "timeout-bool",
        "rate-string",
        "max_segments-zero",
        "max_segments-float",
        "max_segments-string",
        "max_segments-bool",
    ],
)
def test_common_keys_type_errors(key: str, value: Any) -> None:
    body = {**_full_body(get_info("emnify")), key: value}
    error = _config_error(resolve_settings, _choice("emnify", body), {})
    assert error.code == "config_invalid"
    assert f"p'.{key}" in error.message


# --------------------------------------------------------------------------- base_url precedence


def _emnify_with_base(base_url: str | None = None) -> ProfileChoice:
    body: dict[str, Any] = _full_body(get_info("emnify"))
    if base_url:
        body["base_url"] = base_url
    return _choice("emnify", body)


def test_base_url_flag_beats_env_and_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_EMNIFY_BASE_URL", "http://env.test")
    settings = resolve_settings(
        _emnify_with_base("http://profile.test"), {}, base_url="http://flag.test"
    )
    assert settings.base_url == "http://flag.test"


def test_base_url_env_beats_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_EMNIFY_BASE_URL", "http://env.test")
    settings = resolve_settings(_emnify_with_base("http://profile.test"), {})
    assert settings.base_url == "http://env.test"


def test_base_url_env_without_profile_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSCLI_EMNIFY_BASE_URL", "http://env.test")
    assert resolve_settings(_emnify_with_base(), {}).base_url == "http://env.test"


def test_base_url_profile_beats_default() -> None:
    settings = resolve_settings(_emnify_with_base("http://profile.test"), {})
    assert settings.base_url == "http://profile.test"


@pytest.mark.parametrize("slug", list(REGISTRY))
def test_base_url_default_per_provider(slug: str) -> None:
    settings = resolve_settings(_choice(slug, _full_body(get_info(slug))), {})
    assert settings.base_url == get_info(slug).default_base_url


# --------------------------------------------------------------------------- cache_key


def _fd_settings(base_url: str | None = None, **values: str) -> Settings:
    body: dict[str, Any] = {**_full_body(get_info("fonedynamics")), **values}
    if base_url:
        body["base_url"] = base_url
    return resolve_settings(_choice("fonedynamics", body), {})


def test_cache_key_differs_by_base_url() -> None:
    assert _fd_settings("http://a.test").cache_key != _fd_settings("http://b.test").cache_key


def test_cache_key_differs_by_account() -> None:
    assert _fd_settings(account_sid="AC1").cache_key != _fd_settings(account_sid="AC2").cache_key


def test_cache_key_is_stable_and_names_profile_and_provider() -> None:
    key = _fd_settings(account_sid="AC1").cache_key
    assert key == _fd_settings(account_sid="AC1").cache_key
    assert key.startswith("p:fonedynamics:")


def test_cache_key_holds_no_secret() -> None:
    settings = _fd_settings(token="super-secret-token-1")
    assert "super-secret-token-1" not in settings.cache_key


# --------------------------------------------------------------------------- config.example.toml


def _example_profiles() -> list[str]:
    try:
        data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["<config.example.toml missing or invalid>"]
    profiles = data.get("profiles")
    return list(profiles) if isinstance(profiles, dict) and profiles else ["<no profiles>"]


def _supply_references(
    slug: str, body: dict[str, Any], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make the profile's secret references resolvable without touching the real machine:
    env refs get their variable set; ``~/`` file refs get a file under a temporary HOME;
    anything else (a command, an absolute file) is well-formed and its field is supplied
    through ``SMSCLI_<SLUG>_<FIELD>`` instead (which outranks the profile value)."""
    monkeypatch.setenv("HOME", str(home))
    for key, value in body.items():
        if not isinstance(value, dict):
            continue
        assert len(value) == 1, f"{key}: a reference needs exactly one of env/file/command"
        if isinstance(value.get("env"), str):
            monkeypatch.setenv(value["env"], f"example-{key}")
        elif isinstance(value.get("file"), str) and value["file"].startswith("~/"):
            path = Path(value["file"]).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"example-{key}\n")
        else:
            command = value.get("command", value.get("file"))
            assert command, f"{key}: unknown reference {value!r}"
            if "command" in value:
                assert isinstance(command, list)
                assert all(isinstance(a, str) and a for a in command)
            monkeypatch.setenv(f"SMSCLI_{slug.upper()}_{key.upper()}", f"example-{key}")


def test_example_config_loads() -> None:
    assert EXAMPLE.is_file(), f"{EXAMPLE} does not exist"
    config = load(EXAMPLE)
    assert config.exists is True
    assert config.profiles, "config.example.toml has no [profiles.NAME]"
    assert not [w for w in config.warnings if "unknown key" in w], config.warnings


def test_example_config_has_a_profile_for_every_provider() -> None:
    config = load(EXAMPLE)
    slugs = {get_info(str(body.get("provider"))).slug for body in config.profiles.values()}
    assert slugs == set(REGISTRY)


@pytest.mark.parametrize("name", _example_profiles())
def test_example_profile_resolves(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(EXAMPLE)
    assert config.exists, f"{EXAMPLE} does not exist"
    body = config.profile(name)
    slug = get_info(str(body.get("provider"))).slug
    _supply_references(slug, body, tmp_path / "example-home", monkeypatch)
    choice = choose(config, name, None)
    settings = resolve_settings(choice, {})
    assert settings.slug == slug
    for key, value in body.items():
        if isinstance(value, dict) and not get_info(slug).field(key).listen_only:
            assert settings.values[key] == f"example-{key}"
        elif isinstance(value, dict):  # (a callback secret: `smscli listen` resolves it)
            assert key not in settings.values
    assert settings.base_url.startswith(("http://", "https://"))


def test_example_default_profile_exists() -> None:
    assert EXAMPLE.is_file(), f"{EXAMPLE} does not exist"
    config = load(EXAMPLE)
    if config.default_profile is not None:
        assert config.default_profile in config.profiles


def test_example_mentions_every_field_of_every_provider() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    # a key (`name = …`, perhaps commented out) or a line of the field list (`#   name  …`)
    wanted = {f.name for info in REGISTRY.values() for f in info.fields} | set(COMMON_KEYS)
    missing = [n for n in sorted(wanted) if not re.search(rf"^[#\s]*{n}\b", text, re.M)]
    assert missing == []


@pytest.mark.parametrize("url", ["http://[::1", "http://[::1/emnify", "https://[zz]/emnify"])
def test_a_broken_ipv6_host_is_named_as_such_not_as_a_port(url: str) -> None:
    from smscli.config import check_base_url

    with pytest.raises(ConfigError) as info:
        check_base_url(url, "--base-url")
    assert "not a valid IPv6 address" in info.value.message
    assert "port" not in info.value.message
    assert info.value.exit_code == ExitCode.CONFIG
