"""`smscli telit`: the Telit-only flags of sms.send.

The shared options (``--to``, ``--from``, ``--encoding``, ``--hex``, ``--validity`` …) and the
credential flags come from the command factory; see smscli.providers.telit for the mapping of
every sms.send parameter onto the command line.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from smscli.errors import UsageError

HELP = (
    "Send an SMS through the Telit IoT Portal (TR50 sms.send).\n\n"
    "Example: smscli telit --to thing:my-device 'reboot'"
)


def options() -> list[inspect.Parameter]:
    """Extra Typer parameters of `smscli telit` (keyword-only, each with a default)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter(
            "smsc",
            keyword,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--smsc",
                    help="SMSC for an external SMS to an msisdn (e.g. att); "
                    "overrides the profile's smsc",
                ),
            ],
        ),
        inspect.Parameter(
            "trim",
            keyword,
            default=None,
            annotation=Annotated[
                bool | None,
                typer.Option(
                    "--trim/--no-trim",
                    help="let Telit trim white space in the message (the API default: trim)",
                ),
            ],
        ),
    ]


def extra(values: dict[str, Any]) -> dict[str, Any]:
    """Map the options' values onto Message.extra keys ``smsc`` and ``trim``."""
    out: dict[str, Any] = {}
    smsc = values.get("smsc")
    if smsc is not None:
        smsc = str(smsc).strip()
        if not smsc:
            raise UsageError("--smsc needs a value, e.g. --smsc att", code="invalid_option")
        out["smsc"] = smsc
    trim = values.get("trim")
    if trim is not None:
        out["trim"] = bool(trim)
    return out
