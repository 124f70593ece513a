"""emnify (REST, application token): the declaration. The API is smscli.providers.emnify.

Own options → ``Message.extra`` key → request field:
  --dcs N               "dcs"          dcs (default 0 for GSM-7, 8 for UCS-2)
  --source-type TYPE    "source_type"  source_address_type {"id": 145|161|208}
  --dest-address ID     "dest_address" dest_address (P2A callback identifier)
"""

from __future__ import annotations

from typing import Any, Final

from smscli.catalog import (
    CALLBACK_SECRET,
    CredentialField,
    Features,
    Limits,
    ProviderInfo,
    ProviderOption,
    alphanumeric_sender,
    is_phone_shaped,
    lazy,
    nonblank,
    numeric_sender,
)
from smscli.errors import UsageError

SOURCE_TYPES: Final[dict[str, int]] = {
    "145": 145,
    "international": 145,
    "161": 161,
    "national": 161,
    "208": 208,
    "alphanumeric": 208,
}


def dcs(value: Any) -> int:
    raw = str(value)
    try:
        number = int(raw.strip(), 0)
    except ValueError:
        raise UsageError(
            f"--dcs {raw!r} is not a number", hint="for example 0, 8 or 0xF6", code="invalid_option"
        ) from None
    if not 0 <= number <= 255:
        raise UsageError(
            f"--dcs {raw}: a data coding scheme is 0-255",
            hint="for example 0, 8 or 0xF6",
            code="invalid_option",
        )
    return number


def source_type(value: Any) -> int:
    raw = str(value)
    number = SOURCE_TYPES.get(raw.strip().lower())
    if number is None:
        raise UsageError(
            f"--source-type {raw!r}: use 145 (international), 161 (national) or 208 (alphanumeric)",
            code="invalid_option",
        )
    return number


def sender(value: str) -> tuple[str, list[str]]:
    """``source_address`` (seed 003): an MSISDN, a short code, or an alphanumeric string of
    at most 11 characters (sent with ``source_address_type`` 208); its type follows from the
    shape (smscli.providers.emnify.source_address). A number written internationally is
    normalised as a ``--to`` msisdn is; other digits go as given (national or short code)."""
    if not value.strip():
        return "", []
    if is_phone_shaped(value):
        return numeric_sender(value, "emnify")
    return alphanumeric_sender(value.strip(), "emnify")


INFO = ProviderInfo(
    slug="emnify",
    label="emnify",
    docs_url="https://docs.emnify.com/developers/api/endpoint/endpoint-sms-by-id-post",
    default_base_url="https://cdn.emnify.net",
    fields=(
        CredentialField("application_token", "The emnify application token.", secret=True),
        CALLBACK_SECRET,
    ),
    target_kinds=("endpoint", "iccid", "name"),
    limits=Limits(
        max_segments=255,  # the UDH numbers parts in one octet
        max_binary_octets=None,
        default_rate=2000 / 300,
        notes="long messages split into UDH parts (one POST each); 2,000 requests per 5 minutes",
    ),
    features=Features(
        sender=True,
        validity=True,
        status=True,
        cancel=True,
        reconcile=True,
        inbox=True,
        inbox_per_device=True,
        callbacks=True,
    ),
    help=(
        "Send an SMS to emnify endpoints, by endpoint id, ICCID or endpoint name.\n\n"
        "Example: smscli emnify --to name:tracker-7 --from Acme 'reboot'"
    ),
    options=(
        ProviderOption(
            "dcs",
            "--dcs",
            "Data Coding Scheme sent as `dcs` (0-255, decimal or 0x hex); default 0 for GSM-7 "
            "text, 8 for UCS-2.",
            metavar="N",
            convert=dcs,
        ),
        ProviderOption(
            "source_type",
            "--source-type",
            "The source_address_type of --from: 145 international, 161 national, 208 alphanumeric "
            "(default: from the sender's shape).",
            metavar="145|161|208",
            convert=source_type,
        ),
        ProviderOption(
            "dest_address",
            "--dest-address",
            "The dest_address: a callback identifier for person-to-application replies (forwarded "
            "to the service profile's API callback).",
            metavar="ID",
            convert=nonblank("--dest-address"),
        ),
    ),
    sender_rule=sender,
    provider=lazy("smscli.providers.emnify:Emnify"),
    emulator=lazy("smscli.sandbox.emnify:EmnifyEmulator"),
)
