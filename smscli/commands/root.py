"""The root command: the Typer group, its usage-error boundary and the registration of every
command (imported by smscli.cli only once the command line needs Typer).

Command bodies map SmscliError to exit codes through ``commands.common.execute``; usage
errors (a wrong flag, a missing argument) are Click's, and ``SmscliGroup.main`` turns them
into one line on stderr (or the JSON error object with ``--json``) and exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from smscli import __version__
from smscli.cli import expand_optional_values


class SmscliGroup(TyperGroup):
    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = expand_optional_values(list(sys.argv[1:] if args is None else args))
        try:
            code = super().main(
                args=argv,
                prog_name=prog_name or "smscli",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except typer.Abort:
            code = 130
        except Exception as exc:
            from typer.exceptions import TyperException

            if not isinstance(exc, TyperException):
                raise
            code = _usage_error(exc, argv)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_error(exc: Exception, argv: Sequence[str]) -> int:
    fmt = getattr(exc, "format_message", None)
    message = fmt() if callable(fmt) else str(exc)
    if not message.strip():
        return int(getattr(exc, "exit_code", 2))  # the help was shown (no arguments)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "smscli"
    code = int(getattr(exc, "exit_code", 2))
    hint = f"see `{command} --help`"
    if "--json" in argv:
        error = {"code": "usage_error", "message": message, "hint": hint, "exit_code": code}
        sys.stdout.write(json.dumps({"error": error}) + "\n")
    else:
        sys.stderr.write(f"error: {message}\nhint: {hint}\n")
    return code


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"smscli {__version__}\n")
        raise typer.Exit(0)


def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Send SMS from a terminal or a script; see `smscli COMMAND --help`."""


def build_app(only: str | None = None) -> typer.Typer:
    """The root command with every command registered, or only ``only``.

    Typer turns each registered command's signature into Click parameters on every run;
    registering just the command being run keeps start-up short (SPEC §9).
    """
    from smscli.catalog import REGISTRY
    from smscli.commands import admin, check, log, status
    from smscli.commands import config as config_cmd
    from smscli.commands.sending import make_send_command

    app = typer.Typer(
        name="smscli",
        cls=SmscliGroup,
        help=(
            "Send SMS to IoT SIMs and phones through Telit, CSL, Verizon ThingSpace, emnify "
            "and Fone Dynamics. Try it with no account: smscli send --sandbox --provider "
            "emnify -t endpoint:1001 Hello"
        ),
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)

    def wanted(name: str) -> bool:
        return only is None or only == name

    if wanted("send"):
        app.command("send")(make_send_command(None))
    for info in REGISTRY.values():
        if wanted(info.slug):
            app.command(info.slug, rich_help_panel="Providers")(make_send_command(info.slug))
        for alias in info.command_aliases:
            if wanted(alias):
                app.command(alias, hidden=True)(make_send_command(info.slug))
    simple: dict[str, Callable[..., Any]] = {
        "check": check.check,
        "log": log.log,
        "providers": admin.providers,
        "doctor": admin.doctor,
        "logout": admin.logout,
        "sandbox": admin.sandbox,
    }
    for name, function in simple.items():
        if wanted(name):
            app.command(name)(function)
    if wanted("status"):
        app.command("status")(status.make_status_command())
    if wanted("config"):
        app.add_typer(config_cmd.app, name="config")
    return app
