"""The root command: the Typer group, its usage-error boundary, and every command, built only
when it runs (imported by smscli.cli only once the command line needs Typer).

``entries()`` lists the commands (the provider subcommands from the declarations in
smscli.catalog); ``LazyGroup`` turns just the one being run into Click parameters. Help is
plain text grouped into panels (``SmscliCommand``): Rich's import and table rendering alone
cost more than SPEC §9's help budget.

Command bodies map SmscliError to exit codes through ``commands.common.execute``; usage
errors (a wrong flag, a missing argument) are Click's, and ``SmscliGroup.main`` turns them
into one line on stderr (or the JSON error object with ``--json``) and exit 2.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

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
        token = ARGV.set(tuple(argv))
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
        finally:
            ARGV.reset(token)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_error(exc: Exception, argv: Sequence[str]) -> int:
    fmt = getattr(exc, "format_message", None)
    message = fmt() if callable(fmt) else str(exc)
    if type(exc).__name__ == "NoArgsIsHelpError":
        # `smscli` or `smscli config` alone: the help on stdout, exit 2 (as Click does).
        sys.stdout.write(message.rstrip("\n") + "\n")
        return int(getattr(exc, "exit_code", 2))
    if not message.strip():
        return int(getattr(exc, "exit_code", 2))
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "smscli"
    code = int(getattr(exc, "exit_code", 2))
    hint = _provider_option_hint(getattr(exc, "option_name", None), command) or (
        f"see `{command} --help`"
    )
    if "--json" in argv:
        error = {"code": "usage_error", "message": message, "hint": hint, "exit_code": code}
        sys.stdout.write(json.dumps({"error": error}) + "\n")
    else:
        sys.stderr.write(f"error: {message}\nhint: {hint}\n")
    return code


def _provider_option_hint(flag: str | None, command: str) -> str | None:
    """`smscli send -p fd --receipt-webhook URL`: a provider's own option given to a command
    that does not take it (`send`, `status`, …) names the provider command that does."""
    if not flag or not flag.startswith("--"):
        return None
    from smscli.catalog import REGISTRY

    owners = [slug for slug, info in REGISTRY.items()
              if any(flag in o.flags.split("/") for o in info.options)]  # fmt: skip
    if not owners or command.split()[-1] in owners:
        return None
    commands = " or ".join(f"`smscli {slug}`" for slug in owners)
    return f"{flag} is an option of the provider's own command: {commands} (with -p PROFILE)"


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"smscli {__version__}\n")
        raise typer.Exit(0)


# The command line being run (after expand_optional_values), for the root options: the
# root callback runs before the command's own options (--json) are parsed.
ARGV: ContextVar[tuple[str, ...]] = ContextVar("smscli_argv", default=())

LOCK_HELP = (
    "Run the command only if no other run holding NAME is running; otherwise exit 0 with a "
    "`skipped:` line."
)


def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    lock: str | None = typer.Option(None, "--lock", metavar="NAME", help=LOCK_HELP),
    lock_strict: bool = typer.Option(
        False, "--lock-strict", help="With --lock: exit 11 instead of 0 when NAME is held."
    ),
) -> None:
    """Send SMS from a terminal or a script; see `smscli COMMAND --help`."""
    if lock is None and not lock_strict:
        return
    from smscli.commands.locking import hold

    hold(ctx, lock, lock_strict, ARGV.get())


class Entry(NamedTuple):
    """A command of the root group. Nothing of it is imported or built until the command
    runs (``build``) or the root --help lists it (``help``)."""

    help: Callable[[], str]
    build: Callable[[], Any]  # the Typer callback, or a Typer app for a group
    hidden: bool = False
    panel: str | None = None
    context: dict[str, Any] | None = None  # Click's context_settings of the command


def _send(slug: str | None) -> Callable[[], Any]:
    def build() -> Any:
        from smscli.commands.sending import make_send_command

        return make_send_command(slug)

    return build


def _function(build: Callable[[], Any]) -> Entry:
    """A command that is a function of a commands module; its help is the docstring."""
    return Entry(lambda: inspect.getdoc(build()) or "", build)


def _status() -> Any:
    from smscli.commands.status import make_status_command

    return make_status_command()


def _cancel() -> Any:
    from smscli.commands.cancel import make_cancel_command

    return make_cancel_command()


def _reconcile() -> Any:
    from smscli.commands.reconcile import make_reconcile_command

    return make_reconcile_command()


def _callbacks() -> Any:
    from smscli.commands.callbacks import make_app

    return make_app()


def _inbox() -> Any:
    from smscli.commands.inbox import make_inbox_command

    return make_inbox_command()


def entries() -> dict[str, Entry]:
    """Every command, in help order: `send`, one per registered provider (and its hidden
    aliases), then the others. Provider commands come from the declarations."""
    from smscli.catalog import REGISTRY, lazy

    out = {"send": Entry(lazy("smscli.commands.sending:SEND_HELP"), _send(None))}
    for info in REGISTRY.values():
        about = _const(info.help)
        out[info.slug] = Entry(about, _send(info.slug), panel="Providers")
        for alias in info.command_aliases:
            out[alias] = Entry(about, _send(info.slug), hidden=True)
    out["check"] = _function(lazy("smscli.commands.check:check"))
    out["log"] = _function(lazy("smscli.commands.log:log"))
    for name in ("providers", "doctor", "logout", "sandbox"):
        out[name] = _function(lazy(f"smscli.commands.admin:{name}"))
    out["status"] = Entry(lazy("smscli.commands.status:HELP"), _status)
    out["cancel"] = Entry(lazy("smscli.commands.cancel:HELP"), _cancel)
    out["reconcile"] = Entry(lazy("smscli.commands.reconcile:HELP"), _reconcile)
    out["inbox"] = Entry(lazy("smscli.commands.inbox:HELP"), _inbox)
    # `--exec CMD ARG…` ends the line: everything after the command's name is its argv.
    listen = lazy("smscli.commands.listen:listen")
    out["listen"] = _function(listen)._replace(
        context={"allow_interspersed_args": False, "ignore_unknown_options": True}
    )
    out["callbacks"] = Entry(lazy("smscli.commands.callbacks:HELP"), _callbacks)
    history = lazy("smscli.commands.history:app")
    out["history"] = Entry(lambda: history().info.help or "", history)
    config = lazy("smscli.commands.config:app")
    out["config"] = Entry(lambda: config().info.help or "", config)
    return out


def _const(text: str) -> Callable[[], str]:
    return lambda: text


Sections = dict[str, list[tuple[str, str]]]


def _option_panels(command: Any, ctx: Any) -> Sections:
    """Arguments, then options grouped by their panel ("Options" first, then the panels in
    the order they first appear: Targets, Message, Sending, Credentials, Output)."""
    panels: Sections = {"Arguments": [], "Options": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            panels["Arguments"].append(record)
        else:
            panel = getattr(param, "rich_help_panel", None) or "Options"
            panels.setdefault(panel, []).append(record)
    return panels


def _command_panels(group: Any, ctx: Any) -> Sections:
    """A group's visible commands grouped by panel ("Commands" first), each with the whole
    first paragraph of its help: Click's short help cuts it at the first full stop or at 45
    characters."""
    panels: Sections = {"Commands": []}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        panel = getattr(command, "rich_help_panel", None) or "Commands"
        panels.setdefault(panel, []).append((name, summary(command)))
    return panels


def summary(command: Any) -> str:
    """The first paragraph of a command's help on one line (the help formatter wraps it)."""
    text = command.short_help or command.help or ""
    return " ".join(w for w in text.split("\n\n", 1)[0].split() if w != "\b")


def _write_panels(formatter: Any, panels: Sections) -> None:
    """Each non-empty panel, the descriptions of all of them starting at one column."""
    rows = [row for records in panels.values() for row in records]
    width = min(max((len(term) for term, _ in rows), default=0), 30)  # Click's col_max
    for panel, records in panels.items():
        if records:
            with formatter.section(panel):
                formatter.write_dl([(t.ljust(width) if h else t, h) for t, h in records])


# Parameters that name a file: a file name need not be UTF-8 (Python keeps its bytes).
PATH_PARAMETERS = frozenset({"file", "to_file", "config"})


class SmscliCommand(TyperCommand):
    """A command whose help is plain text grouped into panels: Click's formatter, not Rich
    (importing and rendering Rich tables costs more than the whole help budget, SPEC §9).
    Before it runs, every text argument is checked to be UTF-8 (``invoke``)."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _write_panels(formatter, _option_panels(self, ctx))

    def invoke(self, ctx: Any) -> Any:
        """Refuse (exit 4) an argument that is not valid UTF-8 before the command runs:
        the message, --ref, --idempotency-key, a target, a profile or provider name would
        otherwise fail later (sending, the history, a lookup) as an internal error."""
        from smscli.commands.common import COMMAND
        from smscli.message import utf8_problem

        # The command's name, for the hint of a usage error that has none of its own.
        token = COMMAND.set(ctx.command_path)
        try:
            for param in self.params:
                values = ctx.params.get(param.name)
                if param.name in PATH_PARAMETERS or values is None:
                    continue
                for value in values if isinstance(values, list | tuple) else [values]:
                    problem = utf8_problem(value) if isinstance(value, str) else None
                    if problem is not None:
                        _refuse_argument(ctx, f"{_argument_name(param)} {problem}")
            return super().invoke(ctx)
        finally:
            COMMAND.reset(token)


def _argument_name(param: Any) -> str:
    if param.name == "text":
        return "the message"
    if param.param_type_name == "argument":
        return f"the argument {param.human_readable_name}"
    return f"the value of {param.opts[0]}"


def _refuse_argument(ctx: Any, message: str) -> None:
    from smscli.commands.common import execute, output_mode
    from smscli.errors import InputError

    params = ctx.params

    def refuse(out: object) -> int:
        raise InputError(message, code="invalid_utf8")

    mode = [bool(params.get(name)) for name in ("json", "jsonl", "quiet")]
    execute(lambda: output_mode(*mode), refuse)


class SmscliSubGroup(TyperGroup):
    """A group under the root (`smscli config`): its help like the root's (options and
    commands aligned, each command's first paragraph whole)."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _write_panels(formatter, {**_option_panels(self, ctx), **_command_panels(self, ctx)})


class LazyGroup(SmscliGroup):
    """The root group: lists every command from ``entries()`` but turns only the one being
    run into Click parameters (Typer reads each signature; doing all ~450 parameters of 20
    commands just to print the root help would cost more than the whole help budget)."""

    _listing = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._entries = entries()

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self._entries)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self._entries.get(cmd_name)
        if entry is None or cmd_name in self.commands:
            return self.commands.get(cmd_name)
        if self._listing:
            # A placeholder with the help and panel: enough for the root --help listing.
            return TyperCommand(
                cmd_name, help=entry.help(), hidden=entry.hidden, rich_help_panel=entry.panel
            )
        self.commands[cmd_name] = self._build(cmd_name, entry)
        return self.commands[cmd_name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self._entries:
            # Typer's "did you mean" suggestions come from the names in self.commands.
            for name in self._entries:
                self.commands.setdefault(name, TyperCommand(name))
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _write_panels(formatter, {**_option_panels(self, ctx), **_command_panels(self, ctx)})

    def _build(self, name: str, entry: Entry) -> Any:
        from typer.main import get_command_from_info, get_group
        from typer.models import CommandInfo

        target = entry.build()
        if isinstance(target, typer.Typer):
            group = get_group(target)
            group.name = name
            return group
        info = CommandInfo(
            name=name,
            cls=SmscliCommand,
            callback=target,
            hidden=entry.hidden,
            rich_help_panel=entry.panel,
            context_settings=entry.context,
        )
        return get_command_from_info(
            info, pretty_exceptions_short=True, rich_markup_mode=self.rich_markup_mode
        )


def build_app() -> typer.Typer:
    """The root command. Its commands are built on demand (``LazyGroup``), so listing them
    for `--help` or running one never builds the others (SPEC §9)."""
    app = typer.Typer(
        name="smscli",
        cls=LazyGroup,
        help=(
            "Send SMS to IoT SIMs and phones through the provider APIs listed under Providers."
            "\n\nTry it with no account: smscli send --sandbox --provider emnify -t endpoint:1001 "
            "Hello"
        ),
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    app.callback()(root)
    return app
