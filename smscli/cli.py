"""The console script: answers `--version` before importing Typer, then builds and runs only
the command being run (SPEC §9's start-up budget).

The Typer group, the usage-error boundary and the registration of every command live in
``smscli.commands.root``; provider subcommands come from the declarations (smscli.catalog).
"""

from __future__ import annotations

import sys

# Not `from typing import TYPE_CHECKING`: `smscli --version` imports neither typing nor re.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import typer

# Options that take an optional value: a bare `--wait` means `--wait=default` (and so for
# `--await-reply`).
OPTIONAL_VALUE_OPTIONS = ("--wait", "--await-reply")
DURATION = r"^\d+(\.\d+)?[smhdSMHD]?$"


def expand_optional_values(args: Sequence[str]) -> list[str]:
    """`--wait` alone means `--wait=default`; `--wait 5m` (a duration next) means `--wait=5m`."""
    import re

    out: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--":
            return out + list(args[i:])
        if arg in OPTIONAL_VALUE_OPTIONS:
            following = args[i + 1] if i + 1 < len(args) else ""
            if re.match(DURATION, following):
                out.append(f"{arg}={following}")
                skip = True
            else:
                out.append(f"{arg}=default")
        else:
            out.append(arg)
    return out


def build_app() -> typer.Typer:
    """The root command (its commands are built when they run)."""
    from smscli.commands.root import build_app as build

    return build()


def __getattr__(name: str) -> Any:
    # `from smscli.cli import app` (tests, docs) gets the full app, built on first use.
    if name == "app":
        return build_app()
    raise AttributeError(name)


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] == "--version":
        from smscli import __version__

        sys.stdout.write(f"smscli {__version__}\n")
        raise SystemExit(0)
    try:
        build_app()()
        code: int | str | None = 0
    except KeyboardInterrupt:
        code = 130  # Ctrl-C outside a command body: like any interrupted command
    except SystemExit as done:
        code = done.code
    # The command has answered (and recorded what it sent): a Ctrl-C now would only turn
    # its exit status into a signal death (-2) while Python unwinds, so it is ignored.
    import gc
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Everything the command opened (history, HTTP pool, files) is closed by now. What is
    # left is the interpreter's last cyclic garbage collection over every object the ~300
    # imported modules made: ~30 ms of a real send, ~10 ms of `check`, for memory the OS
    # takes back anyway. Freezing the heap makes that collection skip them; refcounted
    # objects are still freed and stdout/stderr still flushed as Python shuts down.
    gc.freeze()
    raise SystemExit(code)
