"""`smscli inbox`: the devices' replies, pulled from the provider into the history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from smscli.commands.common import (
    JsonOpt,
    provider_command,
)


def _options(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="WHEN", help="Only replies since this time: 2h, 3d or ISO 8601."
        ),
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="TARGET",
            help="Only this device's replies (emnify: without it, the endpoints of the "
            "last 7 days' sends).",
        ),
    ] = None,
    n: Annotated[
        int, typer.Option("-n", "--limit", metavar="N", min=1, help="How many replies.")
    ] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep polling for new replies until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", metavar="SECONDS", help="Seconds between --follow polls (5-3600)."
        ),
    ] = 10.0,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", metavar="NAME", help="Use this profile."),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider", metavar="SLUG", help="Use this provider (credentials from flags/env)."
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", metavar="URL", help="API base URL (overrides the profile)."),
    ] = None,
    json: JsonOpt = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON reply per line.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the replies' texts.")] = False,
) -> None:
    """The options `inbox` shares with no other command (its signature is read, not run)."""


HELP = (
    "Pull the devices' replies from the provider into the history and show them.\n\n"
    "Example: smscli inbox -p fleet --since 2h\n\n"
    "Keep watching: smscli inbox -p fleet --follow --jsonl"
)


def make_inbox_command() -> Callable[..., None]:
    """`smscli inbox`, with the credential flags of every provider's fields."""

    def run(kwargs: dict[str, Any], credentials: dict[str, Any], runtime: Any, out: Any) -> int:
        from smscli.pipeline.inbox import InboxQuery
        from smscli.pipeline.inbox import run as run_inbox

        query = InboxQuery(
            since=kwargs["since"], sender=kwargs["sender"], limit=kwargs["n"],
            follow=kwargs["follow"], interval=kwargs["interval"],
            timeout=kwargs["timeout"], verbose=kwargs["verbose"], config=kwargs["config"],
            credentials=credentials, profile=kwargs["profile"],
            provider=kwargs["provider"], base_url=kwargs["base_url"],
        )  # fmt: skip
        return run_inbox(query, runtime, out)

    return provider_command("inbox", _options, HELP, run)
