"""Text generated from the code for the README (cog blocks) and the completion scripts.

`cog --check -c README.md` in CI and tests/test_docs.py keep the README's command
reference, provider table, exit-code table, sandbox table and config example equal to what
the code says.
"""

from __future__ import annotations

import os

WIDTH = "100"


def _fixed_terminal() -> None:
    # Typer's rich help reads these when it renders: fix them so output is the same anywhere.
    os.environ["TERMINAL_WIDTH"] = WIDTH
    os.environ["COLUMNS"] = WIDTH
    os.environ["NO_COLOR"] = "1"
    os.environ["_TYPER_FORCE_DISABLE_TERMINAL"] = "1"


def help_text(*command: str) -> str:
    """`smscli COMMAND --help`, as a user sees it in a 100-column terminal."""
    _fixed_terminal()
    from typer.testing import CliRunner

    from smscli.cli import app

    result = CliRunner().invoke(app, [*command, "--help"], prog_name="smscli")
    return "\n".join(line.rstrip() for line in result.stdout.strip("\n").splitlines())


def provider_table() -> str:
    from smscli.catalog import REGISTRY

    header = ["provider", "targets", "limits", "--from", "--at", "--validity", "--ref sent"]
    header += ["binary", "status", "inbox"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in REGISTRY.values():
        f = p.features

        def mark(on: bool) -> str:
            return "yes" if on else "—"

        lines.append(
            f"| `{p.slug}` {p.label} | {', '.join(p.target_kinds)} | {p.limits.notes} | "
            f"{mark(f.sender)} | {mark(f.at)} | {mark(f.validity)} | {mark(f.ref)} | "
            f"{mark(f.binary)} | {'by listen' if f.receipts_by_callback else mark(f.status)} | "
            f"{'by listen' if f.inbox_pushed else mark(f.inbox)} |"
        )
    return "\n".join(lines)


def fields_table() -> str:
    from smscli.catalog import REGISTRY

    lines = ["| provider | field | flag | environment variable | secret |", "|---|---|---|---|---|"]
    for p in REGISTRY.values():
        for f in p.fields:
            flag = "— (read by `listen`)" if f.listen_only else f"`{f.flag}`"
            lines.append(
                f"| {p.slug} | `{f.name}` | {flag} | `{f.env_var(p.slug)}` | "
                f"{'yes' if f.secret else ''} |"
            )
    return "\n".join(lines)


def exit_code_table() -> str:
    from smscli.errors import EXIT_CODE_MEANINGS

    lines = ["| code | meaning | safe to re-run? |", "|---|---|---|"]
    for code, (meaning, rerun) in EXIT_CODE_MEANINGS.items():
        lines.append(f"| {int(code)} | {meaning} | {rerun} |")
    return "\n".join(lines)


def magic_table() -> str:
    from smscli.sandbox.base import MAGIC, REFUSED_SECRET, REPLY_PREFIX, REPLY_TRIGGER

    lines = ["| a target value ending in | produces |", "|---|---|"]
    lines += [f"| `…{suffix}` | {what} |" for suffix, what in MAGIC.items()]
    lines.append(f"| a secret equal to `{REFUSED_SECRET}` | the login is refused |")
    lines.append(
        f"| a message text ending in `{REPLY_TRIGGER}` | once delivered, the device answers"
        f" `{REPLY_PREFIX}<that text>` about a second later |"
    )
    return "\n".join(lines)


def provider_options(slug: str) -> str:
    """The options only `smscli <slug>` has, as a Markdown list (from its declaration)."""
    from smscli.catalog import REGISTRY

    return "\n".join(f"- `{o.flags}`: {o.help}" for o in REGISTRY[slug].options)


def config_example() -> str:
    """The example config shipped in the package (`smscli config example` prints it)."""
    from smscli.config import example_text

    return example_text().rstrip()


def completion(shell: str) -> str:
    """What `smscli --show-completion SHELL` prints (the files under completions/)."""
    os.environ["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    from typer.testing import CliRunner

    from smscli.cli import app

    result = CliRunner().invoke(app, ["--show-completion", shell], prog_name="smscli")
    return result.stdout
