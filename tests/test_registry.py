"""Every registry derived from the provider declarations agrees with them (in the style of
httpx's tests/test_exported_members.py): one place per provider, nothing listed twice."""

from __future__ import annotations

import re
from typing import Any

import pytest
from typer.testing import CliRunner

from smscli import api, catalog, docgen
from smscli.catalog import REGISTRY
from smscli.cli import build_app
from smscli.commands.root import entries
from smscli.commands.sending import PROVIDER, SHARED, TEXT
from smscli.config import ProfileChoice, resolve_settings
from smscli.errors import ConfigError, UsageError
from smscli.pipeline import SendOptions
from smscli.sandbox.server import Sandbox, mounts

SLUGS = set(REGISTRY)
BUILTIN = {"telit", "csl", "thingspace", "emnify", "fonedynamics"}


def complete(*words: str) -> list[str]:
    env = {
        "_SMSCLI_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(("smscli", *words)),
        "COMP_CWORD": str(len(words)),
    }
    result = CliRunner().invoke(build_app(), [], prog_name="smscli", env=env)
    return result.stdout.split()


def test_the_builtin_declarations_are_the_registry() -> None:
    assert SLUGS == BUILTIN
    assert [info.slug for info in catalog._builtin()] == list(REGISTRY)
    for slug, info in REGISTRY.items():
        assert info.slug == slug


def test_provider_subcommands_are_the_declarations() -> None:
    table = entries()
    shown = {n for n, e in table.items() if e.panel == "Providers"}
    hidden = {n for n, e in table.items() if e.hidden}
    assert shown == SLUGS
    assert hidden == {a for info in REGISTRY.values() for a in info.command_aliases}
    assert hidden == {"devicewise", "siminsight", "verizon"}
    for info in REGISTRY.values():
        assert table[info.slug].help() == info.help
        for alias in info.command_aliases:
            assert alias in info.aliases  # a hidden subcommand is also a `provider =` name
            assert catalog.get_info(alias) is info


def test_completion_offers_exactly_the_visible_commands() -> None:
    words = complete("")
    assert set(words) >= SLUGS
    assert not {"devicewise", "siminsight", "verizon"} & set(words)


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_completion_offers_each_providers_own_options(slug: str) -> None:
    words = complete(slug, "--")
    for option in REGISTRY[slug].options:
        for flag in option.flags.split("/"):
            assert flag in words
    for field in REGISTRY[slug].fields:
        # the callback fields are read by `smscli listen` from the profile, not send flags
        assert (field.flag in words) is not field.listen_only, field.flag


def test_sandbox_mounts_are_the_declarations() -> None:
    assert set(mounts()) == SLUGS
    sandbox = Sandbox()
    for slug, info in REGISTRY.items():
        emulator = sandbox.emulator(slug)
        assert isinstance(emulator, info.emulator())
        assert emulator.slug == slug


def test_each_api_class_carries_its_own_declaration() -> None:
    for info in REGISTRY.values():
        assert info.provider().info is info


def test_lazy_imports_its_class_only_when_called() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from smscli.catalog import REGISTRY\n"
        "assert not [m for m in sys.modules if m.startswith(('smscli.providers', 'smscli.sandbox'))]\n"
        "from smscli.providers.csl import Csl\n"
        "assert REGISTRY['csl'].provider() is Csl\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docgen_tables_have_one_row_per_declaration() -> None:
    rows = docgen.provider_table().splitlines()[2:]
    assert [re.match(r"\| `(\w+)`", r).group(1) for r in rows] == list(REGISTRY)  # type: ignore[union-attr]
    fields = {line.split("|")[1].strip() for line in docgen.fields_table().splitlines()[2:]}
    assert fields == SLUGS
    for info in REGISTRY.values():
        listed = docgen.provider_options(info.slug)
        assert [line.split("`")[1] for line in listed.splitlines()] == [
            o.flags for o in info.options
        ]


def test_providers_command_rows_are_the_declarations() -> None:
    from smscli.commands.admin import provider_rows

    assert [r["slug"] for r in provider_rows()] == list(REGISTRY)


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_config_accepts_the_declared_fields_and_nothing_else(slug: str) -> None:
    info = REGISTRY[slug]
    body: dict[str, Any] = {"provider": slug, **{f.name: "x-value" for f in info.fields}}
    settings = resolve_settings(ProfileChoice(info, "p", body), {})
    assert settings.slug == slug
    with pytest.raises(ConfigError, match="unknown key"):
        resolve_settings(ProfileChoice(info, "p", {**body, "not_a_field": "1"}), {})


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_api_extra_keys_are_the_declared_option_names(slug: str) -> None:
    info = REGISTRY[slug]
    assert api._provider_extra(info, {}) == {}
    with pytest.raises(UsageError) as refused:
        api._provider_extra(info, {"no_such_option": 1})
    names = [o.name for o in info.options]
    assert f"its own options: {', '.join(names)}" in refused.value.message


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_each_provider_option_is_a_parameter_of_its_subcommand_only(slug: str) -> None:
    import inspect

    from smscli.commands.sending import make_send_command

    own = {o.name for o in REGISTRY[slug].options}
    params = set(inspect.signature(make_send_command(slug)).parameters)
    assert own <= params
    others = {o.name for s, i in REGISTRY.items() if s != slug for o in i.options} - own
    assert not others & params
    shared = {o.name for o in SHARED}
    assert not own & shared  # a provider option never shadows a shared one


def test_shared_options_fill_send_options_exactly() -> None:
    filled = {o.field for o in (TEXT, *SHARED) if o.field}
    declared = set(SendOptions._fields)
    # (history_url: the Python API's; the command line has SMSCLI_HISTORY_URL and the config)
    assert filled | {PROVIDER.name, "credentials", "extra", "history_url"} == declared
    flags = [d for o in (*SHARED, PROVIDER) for d in o.decls]
    assert len(flags) == len(set(flags))


def test_the_shared_converters() -> None:
    pick = catalog.one_of("--coding", ("default", "binary", "8-bit-DATA"))
    assert [pick(" BINARY "), pick("8-bit-data")] == ["binary", "8-bit-DATA"]
    with pytest.raises(UsageError) as refused:
        pick("7bit")
    assert refused.value.message == "--coding must be default, binary or 8-bit-DATA, not '7bit'"
    assert refused.value.code == "invalid_option"
    assert catalog.nonblank("--group")(" g ") == "g"
    with pytest.raises(UsageError, match="--group cannot be empty"):
        catalog.nonblank("--group")("  ")
