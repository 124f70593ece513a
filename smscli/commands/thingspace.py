"""`smscli thingspace`: the ThingSpace-only flags of the send command.

Every field of the send-SMS page (seed 002) is reachable from the command line:

- ``deviceIds``    ← shared ``--to KIND:ID`` (iccid, imei, meid, mdn, msisdn, esn, eid)
- ``accountName``  ← ``--account-name`` (profile field ``account_name``; added from the catalog)
- ``groupName``    ← ``--group``                   → Message.extra ``group_name``
- ``servicePlan``  ← ``--service-plan``            → Message.extra ``service_plan``
- ``customFields`` ← ``--custom-field KEY=VALUE``  → Message.extra ``custom_fields`` (dict)
- ``dataEncoding`` ← ``--data-encoding``           → Message.extra ``data_encoding``
  (default: from the message check, see ``--encoding``/``--hex``)
- ``smsMessage``   ← TEXT (or ``--file``, ``--hex``, ``--base64``)
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Final

import typer

from smscli.errors import UsageError

HELP = (
    "Send through Verizon ThingSpace (OAuth2 + M2M session; up to 10,000 devices per request).\n\n"
    'Example: smscli thingspace --to iccid:89148000000800139708 "Can you hear me now?"'
)

DATA_ENCODINGS: Final = ("7-bit", "8-bit-ASCII", "8-bit-UTF-8", "8-bit-DATA")
CUSTOM_FIELD_KEYS: Final = tuple(f"CustomField{n}" for n in range(1, 6))


def options() -> list[inspect.Parameter]:
    """Extra Typer parameters of `smscli thingspace` (keyword-only, each with a default)."""
    kw = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter(
            "group",
            kw,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--group",
                    metavar="NAME",
                    help="Send to every device of this device group (groupName); replaces --to.",
                ),
            ],
        ),
        inspect.Parameter(
            "service_plan",
            kw,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--service-plan",
                    metavar="PLAN",
                    help="Only devices on this service plan (servicePlan); replaces --to.",
                ),
            ],
        ),
        inspect.Parameter(
            "custom_field",
            kw,
            default=None,
            annotation=Annotated[
                list[str] | None,
                typer.Option(
                    "--custom-field",
                    metavar="CustomFieldN=VALUE",
                    help="Only devices whose custom field matches (N is 1-5; repeatable; "
                    "all must match); replaces --to.",
                ),
            ],
        ),
        inspect.Parameter(
            "data_encoding",
            kw,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--data-encoding",
                    metavar="ENCODING",
                    help=f"dataEncoding: {', '.join(DATA_ENCODINGS)} (default: 7-bit for "
                    "GSM-7 text, 8-bit-UTF-8 for other text, 8-bit-DATA for --hex/--base64).",
                ),
            ],
        ),
    ]


def extra(values: dict[str, Any]) -> dict[str, Any]:
    """Map those parameters' values onto Message.extra keys (drop unset ones)."""
    out: dict[str, Any] = {}
    for option, key in (("group", "group_name"), ("service_plan", "service_plan")):
        value = values.get(option)
        if value is None:
            continue
        text = str(value).strip()
        if not text:
            raise UsageError(f"--{option.replace('_', '-')} cannot be empty")
        out[key] = text
    fields = _custom_fields(values.get("custom_field") or [])
    if fields:
        out["custom_fields"] = fields
    encoding = values.get("data_encoding")
    if encoding is not None:
        out["data_encoding"] = _data_encoding(str(encoding))
    return out


def _custom_fields(raw: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in raw:
        name, equals, value = item.partition("=")
        key = next((k for k in CUSTOM_FIELD_KEYS if k.lower() == name.strip().lower()), None)
        if not equals or key is None or not value.strip():
            raise UsageError(
                f"invalid --custom-field {item!r}; write CustomFieldN=VALUE with N from 1 to 5",
                hint="e.g. --custom-field CustomField2=fleet-a",
                code="invalid_option",
            )
        if key in fields:
            raise UsageError(
                f"--custom-field {key} given twice; a device matches only one value",
                code="invalid_option",
            )
        fields[key] = value.strip()
    return fields


def _data_encoding(value: str) -> str:
    lowered = value.strip().lower()
    for known in DATA_ENCODINGS:
        if known.lower() == lowered:
            return known
    raise UsageError(
        f"invalid --data-encoding {value!r}; one of {', '.join(DATA_ENCODINGS)}",
        code="invalid_option",
    )
