"""Every help screen: nothing cut off, every option named and described alike, no flag twice,
the panels of one screen aligned (the help is plain text, commands/root.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer._click.core import Context
from typer.core import TyperGroup
from typer.testing import CliRunner

from smscli.cli import build_app
from smscli.commands.root import summary
from tests.conftest import Cli


def _commands() -> Iterator[tuple[str, Any]]:
    """(path, Click command) of every visible command and subcommand, the root first."""
    root = typer.main.get_command(build_app())
    ctx = Context(root, info_name="smscli")
    yield "", root
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        prefix, group = stack.pop()
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            path = f"{prefix} {name}".strip()
            yield path, command
            if isinstance(command, TyperGroup):
                stack.append((path, command))


COMMANDS = dict(_commands())
LEAVES = {p: c for p, c in COMMANDS.items() if not isinstance(c, TyperGroup)}


def _help(path: str, columns: int) -> str:
    result = CliRunner().invoke(
        build_app(), [*path.split(), "--help"], prog_name="smscli", env={"COLUMNS": str(columns)}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_no_flag_is_declared_twice(path: str) -> None:
    command = COMMANDS[path]
    flags = [
        flag
        for param in command.params
        for flag in (*param.opts, *param.secondary_opts)
        if param.param_type_name == "option"
    ]
    assert len(flags) == len(set(flags)), sorted(f for f in flags if flags.count(f) > 1)
    names = [param.name for param in command.params]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_has_a_named_metavar_and_a_sentence(path: str) -> None:
    command = COMMANDS[path]
    ctx = Context(command, info_name="smscli")
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        term, text = record
        assert "<" not in term, f"{path}: {term} shows a Click type, not a named metavar"
        if not getattr(param, "is_flag", False) and param.param_type_name == "option":
            assert re.search(r" [A-Z][A-Za-z0-9_|=]*\b", term) or "|" in term, term
        sentence = (getattr(param, "help", None) or text).strip()
        assert sentence[:1].isupper() and sentence.endswith("."), f"{path} {term}: {sentence!r}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
@pytest.mark.parametrize("columns", [80, 200])
def test_help_is_whole_and_aligned(path: str, columns: int) -> None:
    text = _help(path, columns)
    assert "..." not in text.split("\n", 1)[1]  # the usage line's [ARGS]... aside
    assert all(len(line) <= max(columns, 80) for line in text.splitlines())
    # Every listed command shows the whole first paragraph of its help.
    command = COMMANDS[path]
    flat = " ".join(text.split())
    if isinstance(command, TyperGroup):
        for name in command.list_commands(Context(command)):
            sub = command.get_command(Context(command), name)
            if sub is not None and not sub.hidden:
                assert f"{name} {summary(sub)}" in flat
    # The descriptions of every panel of one screen start at one column.
    starts = set()
    for line in text.splitlines():
        match = re.match(r"^  (\S.*?\S)  +(\S)", line)
        if match and not line.startswith("  Example") and not line.startswith("   "):
            starts.add(match.start(2))
    assert len(starts) <= 1, (path, starts)


def test_callback_fields_are_not_send_flags(cli: Cli) -> None:
    """`callback_secret`/`callback_username` are read by `smscli listen` only: a sending
    command (or status) does not offer them as flags that would do nothing."""
    for argv in (["send", "--help"], ["thingspace", "--help"], ["status", "--help"]):
        shown = cli(*argv)
        assert shown.exit_code == 0, argv
        assert "--callback-" not in shown.stdout, argv
    refused = cli("thingspace", "--callback-secret", "x", "-t", "mdn:5551230001", "hi")
    assert refused.exit_code == 2
