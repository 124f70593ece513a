"""`smscli csl`: the CSL SIM Insight subcommand's own flags.

The shared options and the profile fields come from the lead's command factory: ``--to
iccid:…`` → ``<iccid>``, TEXT → ``<message_text>``, ``--hex``/``--base64`` → binary
``<message_text>``, ``--from`` → ``<origin>``, ``--ref`` → ``<sms_uid>``, ``--username``,
``--password``, ``--api-id`` → ``<authentication>`` and ``api_id``. This module adds
``--data-coding`` → ``Message.extra["data_coding"]``.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from smscli.errors import UsageError

HELP = (
    "Send an SMS to a SIM through the CSL SIM Insight XML API (GSM-7, one segment).\n\n"
    "Example: smscli csl --to iccid:8944110000000000001 --ref job42 'reset modem'"
)

DATA_CODINGS = ("default", "binary")


def options() -> list[inspect.Parameter]:
    """Extra Typer parameters of `smscli csl` (keyword-only, each with a default)."""
    return [
        inspect.Parameter(
            "data_coding",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--data-coding",
                    metavar="default|binary",
                    help=(
                        "default or binary (Multinet KPN C SIMs; base64, ≤120 bytes). "
                        "Default: binary for --hex/--base64 data, else default; binary with "
                        "text sends the text as the base64 payload."
                    ),
                ),
            ],
        ),
    ]


def extra(values: dict[str, Any]) -> dict[str, Any]:
    """Map those parameters' values onto Message.extra keys (drop unset ones)."""
    out: dict[str, Any] = {}
    coding = values.get("data_coding")
    if coding is not None:
        normalized = str(coding).strip().lower()
        if normalized not in DATA_CODINGS:
            raise UsageError(
                f"--data-coding must be default or binary, got {coding!r}",
                code="invalid_option",
            )
        out["data_coding"] = normalized
    return out
