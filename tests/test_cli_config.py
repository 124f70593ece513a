"""`smscli config …` and `smscli providers` through the command line."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from smscli.catalog import REGISTRY
from tests.conftest import Cli


def test_init_writes_a_private_profile_with_env_references(
    offline_cli: Cli, isolated: Path
) -> None:
    res = offline_cli("config", "init", "--provider", "emnify", "-p", "fleet")
    assert res.exit_code == 0, res.output
    path = isolated / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data["default_profile"] == "fleet"
    assert data["profiles"]["fleet"] == {
        "provider": "emnify",
        "application_token": {"env": "SMSCLI_EMNIFY_APPLICATION_TOKEN"},
    }
    again = offline_cli("config", "init", "--provider", "emnify", "-p", "fleet")
    assert again.exit_code == 3 and "--force" in again.stderr


def test_set_show_profiles_and_validate(offline_cli: Cli, isolated: Path) -> None:
    assert offline_cli("config", "init", "--provider", "fonedynamics", "-p", "au").exit_code == 0
    assert offline_cli("config", "set", "profiles.au.account_sid", "AC1").exit_code == 0
    assert offline_cli("config", "set", "profiles.au.max_segments", "3").exit_code == 0
    # A wrong value or an unknown key is a config problem (exit 3, nothing written; issue 9 W3)
    assert offline_cli("config", "set", "profiles.au.max_segments", "three").exit_code == 3
    assert offline_cli("config", "set", "nonsense", "1").exit_code == 3
    assert offline_cli("config", "set", "profiles.au", "1").exit_code == 2
    invalid = offline_cli("config", "validate", "--json")
    assert invalid.exit_code == 3
    [report] = invalid.json()["profiles"]
    assert "property_sid" in report["problem"] and "token" in report["problem"]
    offline_cli("config", "set", "profiles.au.property_sid", "PR1")
    offline_cli("config", "set", "profiles.au.token", "s3cret-token-value")
    ok = offline_cli("config", "validate")
    assert ok.exit_code == 0, ok.output
    shown = offline_cli("config", "show")
    assert "s3cret-token-value" not in shown.output and "***" in shown.stdout
    assert 'account_sid = "AC1"' in shown.stdout
    profiles = offline_cli("config", "profiles", "--json").json()["profiles"]
    assert profiles == [
        {"name": "au", "provider": "fonedynamics", "default": True, "base_url": None}
    ]
    path = offline_cli("config", "path")
    assert path.stdout.strip() == str(isolated / "config.toml")


def test_group_readable_config_warns(offline_cli: Cli, isolated: Path) -> None:
    offline_cli("config", "init", "--provider", "emnify", "-p", "fleet")
    (isolated / "config.toml").chmod(0o644)
    res = offline_cli("config", "show")
    assert "chmod 600" in res.stderr


def test_providers_lists_every_provider_with_kinds_and_features(offline_cli: Cli) -> None:
    rows = offline_cli("providers", "--json").json()["providers"]
    assert [r["slug"] for r in rows] == list(REGISTRY)
    by_slug = {r["slug"]: r for r in rows}
    assert by_slug["csl"]["targets"] == ["iccid"]
    assert by_slug["fonedynamics"]["features"]["--at"] is True
    assert by_slug["emnify"]["features"]["--at"] is False
    assert "application_token*" in by_slug["emnify"]["fields"]
    human = offline_cli("providers")
    for slug in REGISTRY:
        assert slug in human.stdout


def test_logout_all_forgets_the_token_cache(cli: Cli, isolated: Path) -> None:
    res = cli(
        "emnify",
        "--base-url",
        "http://sandbox.test/emnify",
        "--application-token",
        "tok-1234",
        "-t",
        "endpoint:17",
        "hi",
    )
    assert res.exit_code == 0, res.output
    cache = isolated / "cache" / "tokens.json"
    assert cache.exists()
    assert cli("logout", "--all").exit_code == 0
    assert not cache.exists()
