"""`smscli check`: the local encoding and length report. Never touches the network."""

from __future__ import annotations

from typing import Annotated

import typer

from smscli.commands.common import (
    ENCODING_HELP,
    ConfigOpt,
    JsonOpt,
    ProfileOpt,
    execute,
    output_mode,
)
from smscli.errors import ExitCode


def check(
    text: Annotated[
        str | None, typer.Argument(metavar="TEXT", help="Message text; '-' reads stdin.")
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", metavar="SLUG", help="Check against this provider's limits."),
    ] = None,
    profile: ProfileOpt = None,
    max_segments: Annotated[
        int | None,
        typer.Option("--max-segments", metavar="N", min=1, help="Fail above N segments."),
    ] = None,
    smart: Annotated[bool, typer.Option("--smart", help="Apply look-alike replacements.")] = False,
    encoding: Annotated[
        str, typer.Option("--encoding", metavar="ENCODING", help=ENCODING_HELP)
    ] = "auto",
    hex_input: Annotated[bool, typer.Option("--hex", help="TEXT is hex binary data.")] = False,
    base64_input: Annotated[bool, typer.Option("--base64", help="TEXT is base64 data.")] = False,
    file: Annotated[
        str | None, typer.Option("--file", metavar="PATH", help="Read the message from a file.")
    ] = None,
    json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the segment count.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Report encoding, length and segments of a message; exit 4 if it does not fit.

    Example: smscli check --provider csl "Let’s meet at 5"
    """

    def body(out: object) -> int:
        from smscli.catalog import get_info, limit_problems, provider_measure
        from smscli.message import build_check, read_body
        from smscli.output import Output

        assert isinstance(out, Output)
        info = None
        profile_max = None
        if profile is not None:
            from smscli import config as config_mod

            choice = config_mod.choose(
                config_mod.load(config_mod.config_path(config)), profile, None
            )
            info = choice.info
            profile_max = config_mod.common(choice, "max_segments")
        if provider is not None:
            info = get_info(provider)
        check = build_check(
            read_body(text, file),
            encoding=encoding,
            hex_input=hex_input,
            base64_input=base64_input,
            smart=smart,
        )
        problems = limit_problems(check, info, max_segments or profile_max)
        context = info.label if info else None
        out.check_report(check, problems, context, provider_measure(check, info))
        return ExitCode.INVALID if problems else ExitCode.OK

    execute(lambda: output_mode(json=json, quiet=quiet), body)
