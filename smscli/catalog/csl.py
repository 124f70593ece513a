"""CSL SIM Insight (XML API): the declaration. The API is smscli.providers.csl.

Shared options → request: ``--to iccid:…`` → ``<iccid>``, TEXT → ``<message_text>``,
``--hex``/``--base64`` → binary ``<message_text>``, ``--from`` → ``<origin>``, ``--ref`` →
``<sms_uid>``, ``--username``/``--password``/``--api-id`` → ``<authentication>`` and ``api_id``.
Own option: ``--data-coding`` → ``Message.extra["data_coding"]``.
"""

from __future__ import annotations

from typing import Final

from smscli.catalog import (
    CALLBACK_SECRET,
    CredentialField,
    Features,
    Limits,
    ProviderInfo,
    ProviderOption,
    is_phone_shaped,
    lazy,
    numeric_sender,
    one_of,
)
from smscli.errors import InputError

DATA_CODINGS: Final = ("default", "binary")


def sender(value: str) -> tuple[str, list[str]]:
    """``<origin>``: "custom originating number" (Manx Telecom SIMs only), digits only; a
    name cannot be one. A number written internationally is normalised as a ``--to``
    msisdn is (sent without "+", like the docs' 447890123456)."""
    if not value.strip():
        return "", []
    if is_phone_shaped(value):
        return numeric_sender(value, "CSL")
    raise InputError(
        f"invalid --from {value!r}: CSL's origin is a phone number (digits), not a name",
        hint="CSL takes a custom originating number (Manx Telecom SIMs only)",
        code="invalid_sender",
    )


INFO = ProviderInfo(
    slug="csl",
    label="CSL SIM Insight (XML)",
    docs_url="https://docs.m2miportal.com/jWxc-send-sms",
    default_base_url="https://api.m2miportal.com",
    fields=(
        CredentialField("username", "SIM Insight API user name."),
        CredentialField("password", "SIM Insight API password.", secret=True),
        CredentialField("api_id", "The api_id attribute of every request."),
        CALLBACK_SECRET,
    ),
    target_kinds=("iccid",),
    limits=Limits(
        max_segments=1,
        gsm7_only=True,
        max_binary_octets=120,
        notes="GSM-7 only, one segment (160); binary ≤120 bytes as base64",
    ),
    features=Features(
        sender=True, ref=True, binary=True, status=True, reconcile=True, inbox_pushed=True
    ),
    aliases=("siminsight", "m2miportal"),
    command_aliases=("siminsight",),
    help=(
        "Send an SMS to a SIM through the CSL SIM Insight XML API (GSM-7, one segment).\n\n"
        "Example: smscli csl --to iccid:8944110000000000001 --ref job42 'reset modem'"
    ),
    options=(
        ProviderOption(
            "data_coding",
            "--data-coding",
            "Data coding: default or binary (Multinet KPN C SIMs; base64, ≤120 bytes). "
            "Default: binary for --hex/--base64 data, else default; binary with text sends the "
            "text as the base64 payload.",
            metavar="default|binary",
            convert=one_of("--data-coding", DATA_CODINGS),
        ),
    ),
    sender_rule=sender,
    provider=lazy("smscli.providers.csl:Csl"),
    emulator=lazy("smscli.sandbox.csl:CslEmulator"),
)
