"""`smscli emnify`: the emnify-only flags (the shared ones come from the command factory).

Flag → ``Message.extra`` key → request field (smscli/providers/emnify.py maps the rest):
  --dcs N               "dcs"          dcs (default 0 for GSM-7, 8 for UCS-2)
  --source-type TYPE    "source_type"  source_address_type {"id": 145|161|208}
  --dest-address ID     "dest_address" dest_address (P2A callback identifier)
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Final

import typer

from smscli.errors import UsageError

HELP = (
    "Send an SMS to emnify endpoints, by endpoint id, ICCID or endpoint name.\n\n"
    "Example: smscli emnify --to name:tracker-7 --from Acme 'reboot'"
)

SOURCE_TYPES: Final[dict[str, int]] = {
    "145": 145,
    "international": 145,
    "161": 161,
    "national": 161,
    "208": 208,
    "alphanumeric": 208,
}


def options() -> list[inspect.Parameter]:
    """Extra Typer parameters of `smscli emnify` (keyword-only, each with a default)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter(
            "dcs",
            keyword,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--dcs",
                    metavar="N",
                    help="Data Coding Scheme sent as `dcs` (0-255, decimal or 0x hex); "
                    "default 0 for GSM-7 text, 8 for UCS-2.",
                ),
            ],
        ),
        inspect.Parameter(
            "source_type",
            keyword,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--source-type",
                    metavar="145|161|208",
                    help="source_address_type of --from: 145 international, 161 national, "
                    "208 alphanumeric (default: from the sender's shape).",
                ),
            ],
        ),
        inspect.Parameter(
            "dest_address",
            keyword,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--dest-address",
                    metavar="ID",
                    help="dest_address: callback identifier for person-to-application "
                    "replies (forwarded to the service profile's API callback).",
                ),
            ],
        ),
    ]


def extra(values: dict[str, Any]) -> dict[str, Any]:
    """Map those parameters' values onto Message.extra keys (drop unset ones); raise
    UsageError for a malformed value."""
    out: dict[str, Any] = {}
    if values.get("dcs") is not None:
        out["dcs"] = _dcs(str(values["dcs"]))
    if values.get("source_type") is not None:
        out["source_type"] = _source_type(str(values["source_type"]))
    if values.get("dest_address") is not None:
        dest = str(values["dest_address"]).strip()
        if not dest:
            raise UsageError("--dest-address is empty", code="invalid_option")
        out["dest_address"] = dest
    return out


def _dcs(raw: str) -> int:
    try:
        value = int(raw.strip(), 0)
    except ValueError:
        raise UsageError(
            f"--dcs {raw!r} is not a number", hint="for example 0, 8 or 0xF6", code="invalid_option"
        ) from None
    if not 0 <= value <= 255:
        raise UsageError(f"--dcs {raw}: a data coding scheme is 0-255", code="invalid_option")
    return value


def _source_type(raw: str) -> int:
    value = SOURCE_TYPES.get(raw.strip().lower())
    if value is None:
        raise UsageError(
            f"--source-type {raw!r}: use 145 (international), 161 (national) or 208 (alphanumeric)",
            code="invalid_option",
        )
    return value
