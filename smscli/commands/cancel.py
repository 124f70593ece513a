"""`smscli cancel`: cancel a message the provider has not delivered yet."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from smscli.commands.common import (
    TIMEOUT_HELP,
    ConfigOpt,
    JsonOpt,
    QuietOpt,
    execute,
    output_mode,
    runtime_of,
)


def _options(
    ctx: typer.Context,
    ident: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="Any id smscli printed for the message (message id, uuid, request id, "
            "reference), or #N for history row N.",
            show_default=False,
        ),
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            metavar="NAME",
            help="Cancel with this profile's credentials; an ID the history lacks is "
            "canceled on its provider.",
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="SLUG",
            help="Cancel on this provider (credentials from flags/env); an ID the history "
            "lacks is canceled there.",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            "-t",
            metavar="TARGET",
            help="Where a message the history lacks was sent (emnify: the endpoint).",
        ),
    ] = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="HTTP trace on stderr.")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", metavar="SECONDS", min=0.1, help=TIMEOUT_HELP)
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """The options `cancel` shares with no other command (its signature is read, not run)."""


HELP = (
    "Cancel a message the provider holds and has not delivered yet (emnify).\n\n"
    "Example: smscli cancel --provider emnify -t endpoint:1001 4711\n\n"
    "Exit 0: canceled (recorded as `canceled`); 5: the provider will not cancel it any more "
    "(delivered, failed, expired); 4: no such message, or a provider that cannot cancel."
)


def make_cancel_command() -> Callable[..., None]:
    """`smscli cancel`, with the credential flags of every provider's fields."""
    from smscli.commands.sending import credential_parameters, fields_of

    fields = fields_of(None)

    def cancel(**kwargs: Any) -> None:
        runtime = runtime_of(kwargs["ctx"])
        credentials = {f.name: kwargs["cred_" + f.name] for f in fields}

        def body(out: Any) -> int:
            from smscli.pipeline import run_cancel
            from smscli.pipeline.status import StatusQuery

            query = StatusQuery(
                ident=kwargs["ident"], timeout=kwargs["timeout"], verbose=kwargs["verbose"],
                config=kwargs["config"], credentials=credentials,
                profile=kwargs["profile"], provider=kwargs["provider"], target=kwargs["to"],
            )  # fmt: skip
            return run_cancel(query, runtime, out)

        execute(lambda: output_mode(json=kwargs["json"], quiet=kwargs["quiet"]), body)

    cancel.__doc__ = HELP
    base = list(inspect.signature(_options, eval_str=True).parameters.values())
    cancel.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*base, *credential_parameters(fields)]
    )
    return cancel
