"""The README's generated parts and the completion scripts match the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smscli import docgen
from smscli.catalog import REGISTRY
from smscli.errors import EXIT_CODE_MEANINGS, ExitCode

ROOT = Path(__file__).resolve().parent.parent


def test_readme_generated_sections_are_current() -> None:
    cog = Path(sys.executable).with_name("cog")
    proc = subprocess.run(
        [str(cog), "--check", "README.md"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\nrun: cog -r README.md"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_current(shell: str) -> None:
    expected = docgen.completion(shell)
    assert "_SMSCLI_COMPLETE" in expected
    assert (ROOT / "completions" / f"smscli.{shell}").read_text() == expected


def test_exit_code_table_covers_every_code() -> None:
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)
    table = docgen.exit_code_table()
    for code in ExitCode:
        assert f"| {int(code)} |" in table


def test_readme_quick_start_and_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "smscli send --sandbox --provider" in readme
    assert "python -m pytest" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in ci


def test_readme_documents_every_provider_and_magic_target() -> None:
    readme = (ROOT / "README.md").read_text()
    for slug in REGISTRY:
        assert f"smscli {slug}" in readme
    from smscli.sandbox.base import MAGIC

    for suffix in MAGIC:
        assert f"…{suffix}" in readme


@pytest.mark.parametrize("slug", list(REGISTRY))
def test_every_provider_has_a_subcommand_documenting_its_fields(slug: str) -> None:
    text = docgen.help_text(slug)
    assert text.startswith("Usage: smscli") or "Usage: smscli" in text
    for field in REGISTRY[slug].fields:
        if field.listen_only:  # read by `smscli listen` from the profile, not a send flag
            assert field.flag not in text, f"{field.flag} offered by `smscli {slug} --help`"
            continue
        assert field.flag in text, f"{field.flag} missing from `smscli {slug} --help`"
