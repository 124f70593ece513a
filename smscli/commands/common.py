"""What every command shares: the error → exit-code boundary and the output-mode flags."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Annotated, Any, NoReturn

import typer

from smscli.errors import ExitCode, Interrupted, SmscliError, UsageError

# The command being run ("smscli emnify"), set by commands.root.SmscliCommand: a usage
# error without a hint of its own points at that command's help, as Click's own do.
COMMAND: ContextVar[str] = ContextVar("smscli_command", default="smscli")

ENCODING_HELP = "Text encoding: auto, gsm7, ucs2 or binary."
TIMEOUT_HELP = "Seconds each HTTP exchange may take in all (connect, send, the whole reply)."

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the message id(s).")]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", metavar="PATH", help="Config file (default: SMSCLI_CONFIG, then the user dir)."
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile", "-p", metavar="NAME", help="Profile from the config file (env SMSCLI_PROFILE)."
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="HTTP trace on stderr.")]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", metavar="SECONDS", min=0.1, help=TIMEOUT_HELP)
]


def output_mode(json: bool = False, jsonl: bool = False, quiet: bool = False) -> str:
    chosen = [name for name, on in (("json", json), ("jsonl", jsonl), ("quiet", quiet)) if on]
    if len(chosen) > 1:
        raise UsageError(f"choose one output mode, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else "human"


def runtime_of(ctx: typer.Context) -> Any:
    from smscli.pipeline import Runtime

    obj = ctx.find_root().obj
    return obj if isinstance(obj, Runtime) else Runtime()


def execute(mode: Callable[[], str] | str, body: Callable[[Any], int]) -> NoReturn:
    """Run a command body with an Output; map every error to its exit code, in one place."""
    from smscli.output import Output

    out = Output("human")
    try:
        out.mode = mode() if callable(mode) else mode
        code = int(body(out))
    except SmscliError as err:
        if isinstance(err, UsageError) and not err.hint:
            err.hint = f"see `{COMMAND.get()} --help`"
        out.error(err)
        code = int(err.exit_code)
    except KeyboardInterrupt:
        out.error(Interrupted("interrupted (Ctrl-C)"))
        code = int(ExitCode.INTERRUPTED)
    except typer.Exit:
        raise
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) or out.stdout_closed:
            # stdout cannot be written: its reader went away (`smscli log | head -1`: stop
            # quietly) or the disk is full (say so on stderr).
            from smscli.output import silence_stdout

            silence_stdout()
            if not isinstance(exc, BrokenPipeError):
                out.stderr_error(out.stdout_error or str(exc))
            code = int(ExitCode.INTERRUPTED)
        elif os.environ.get("SMSCLI_DEBUG"):
            raise
        else:
            out.internal_error(exc)
            code = int(ExitCode.INTERNAL)
    raise typer.Exit(code)


def provider_command(
    name: str,
    options: Callable[..., None],
    help_text: str,
    run: Callable[[dict[str, Any], dict[str, Any], Any, Any], int],
    *,
    listen_fields: bool = False,
) -> Callable[..., None]:
    """A command that asks a provider about sent messages (`status`, `cancel`, `reconcile`,
    `inbox`, `callbacks …`): its own options (``options``' signature, read, not run), then
    ``--verbose``, ``--timeout`` and ``--config`` (_shared_options), then the credential
    flags of every provider's fields (the callback fields too with ``listen_fields``).
    ``run(kwargs, credentials, runtime, out)`` does the work.
    """
    import inspect

    from smscli.commands.sending import credential_parameters, fields_of

    fields = fields_of(None, listen=listen_fields)

    def command(**kwargs: Any) -> None:
        runtime = runtime_of(kwargs["ctx"])
        credentials = {f.name: kwargs["cred_" + f.name] for f in fields}
        mode = {k: kwargs[k] for k in ("json", "jsonl", "quiet") if k in kwargs}
        execute(lambda: output_mode(**mode), lambda out: run(kwargs, credentials, runtime, out))

    command.__name__ = command.__qualname__ = name
    command.__doc__ = help_text
    base = list(inspect.signature(options, eval_str=True).parameters.values())
    shared = list(inspect.signature(_shared_options, eval_str=True).parameters.values())
    assert not {p.name for p in base} & {p.name for p in shared}, name
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*base, *shared, *credential_parameters(fields)]
    )
    return command


def _shared_options(
    verbose: VerboseOpt = False, timeout: TimeoutOpt = None, config: ConfigOpt = None
) -> None:
    """The options every provider_command() takes after its own (the signature is read)."""
