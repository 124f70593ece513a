"""Verizon ThingSpace (Connectivity Management, send SMS): the declaration. The API is
smscli.providers.thingspace.

Every field of the send-SMS page (seed 002) is reachable from the command line:

- ``deviceIds``    ← shared ``--to KIND:ID`` (iccid, imei, meid, mdn, msisdn, esn, eid)
- ``accountName``  ← ``--account-name`` (profile field ``account_name``; optional: sent when
  set, and needed for ``--group``, see smscli.providers.thingspace)
- ``groupName``    ← ``--group``                   → Message.extra ``group_name``
- ``servicePlan``  ← ``--service-plan``            → Message.extra ``service_plan``
- ``customFields`` ← ``--custom-field KEY=VALUE``  → Message.extra ``custom_fields`` (dict)
- ``dataEncoding`` ← ``--data-encoding``           → Message.extra ``data_encoding``
  (default: from the message check, see ``--encoding``/``--hex``)
- ``smsMessage``   ← TEXT (or ``--file``, ``--hex``, ``--base64``)
- ``timeToLive``   ← shared ``--validity`` (an ISO 8601 duration, at most the 5-day default)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from smscli.catalog import (
    CALLBACK_SECRET,
    CredentialField,
    Features,
    Limits,
    ProviderInfo,
    ProviderOption,
    lazy,
    nonblank,
    one_of,
)
from smscli.errors import UsageError

DATA_ENCODINGS: Final = ("7-bit", "8-bit-ASCII", "8-bit-UTF-8", "8-bit-DATA")
CUSTOM_FIELD_KEYS: Final = tuple(f"CustomField{n}" for n in range(1, 6))
# The user name registered with a callback listener (and echoed in each callback) when the
# profile sets no callback_username.
CALLBACK_USERNAME: Final = "smscli"


def custom_fields(raw: Any) -> dict[str, str] | None:
    """``CustomFieldN=VALUE`` items (a list, one string, or a mapping from the Python API)
    as the ``customFields`` filter; None when there are none."""
    if isinstance(raw, Mapping):
        items = [f"{k}={v}" for k, v in raw.items()]
    elif isinstance(raw, str):
        items = [raw]
    else:
        items = list(raw)
    fields: dict[str, str] = {}
    for item in items:
        name, equals, value = str(item).partition("=")
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
    return fields or None


INFO = ProviderInfo(
    slug="thingspace",
    label="Verizon ThingSpace",
    docs_url="https://thingspace.verizon.com/resources/documentation/connectivity/API_Reference/Send_SMS_Messages_to_Devices/",
    default_base_url="https://thingspace.verizon.com",
    fields=(
        CredentialField("client_id", "ThingSpace app key (OAuth2 client id)."),
        CredentialField("client_secret", "ThingSpace app secret.", secret=True),
        CredentialField("username", "UWS user name (session login)."),
        CredentialField("password", "UWS password.", secret=True),
        CredentialField(
            "account_name",
            "Billing account name, e.g. 0000123456-00001 (needed for --group).",
            required=False,
        ),
        CALLBACK_SECRET,
        CredentialField(
            "callback_username",
            f"User name ThingSpace echoes in its callbacks (default {CALLBACK_USERNAME}).",
            required=False,
            listen_only=True,
        ),
    ),
    target_kinds=("iccid", "imei", "meid", "mdn", "msisdn", "esn", "eid"),
    limits=Limits(
        max_segments=1,
        max_binary_octets=140,
        max_targets_per_request=10_000,
        utf8_bytes=140,
        notes="160 GSM-7 characters or 140 bytes; ≤10,000 devices per request",
    ),
    features=Features(
        validity=True,
        binary=True,
        inbox=True,
        inbox_queue=True,
        receipts_by_callback=True,
        callbacks=True,
    ),
    aliases=("verizon",),
    command_aliases=("verizon",),
    help=(
        "Send through Verizon ThingSpace (OAuth2 + M2M session; up to 10,000 devices per "
        "request).\n\n"
        'Example: smscli thingspace --to iccid:89148000000800139708 "Can you hear me now?"'
    ),
    options=(
        ProviderOption(
            "group",
            "--group",
            "Send to every device of this device group (groupName); replaces --to.",
            metavar="NAME",
            key="group_name",
            convert=nonblank("--group"),
        ),
        ProviderOption(
            "service_plan",
            "--service-plan",
            "Only devices on this service plan (servicePlan); replaces --to.",
            metavar="PLAN",
            convert=nonblank("--service-plan"),
        ),
        ProviderOption(
            "custom_field",
            "--custom-field",
            "Only devices whose custom field matches (N is 1-5; repeatable; all must match); "
            "replaces --to.",
            kind="multiple",
            metavar="CustomFieldN=VALUE",
            key="custom_fields",
            convert=custom_fields,
        ),
        ProviderOption(
            "data_encoding",
            "--data-encoding",
            f"The dataEncoding: {', '.join(DATA_ENCODINGS)} (default: 7-bit for GSM-7 text, "
            "8-bit-UTF-8 for other text, 8-bit-DATA for --hex/--base64).",
            metavar="ENCODING",
            convert=one_of("--data-encoding", DATA_ENCODINGS),
        ),
    ),
    provider=lazy("smscli.providers.thingspace:ThingSpace"),
    emulator=lazy("smscli.sandbox.thingspace:ThingSpaceEmulator"),
)
