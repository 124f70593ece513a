"""Telit IoT Portal (TR50 ``sms.send``): the declaration. The API is smscli.providers.telit.

Own option: ``--trim/--no-trim`` → ``Message.extra["trim"]``. The SMSC of an external SMS is
the profile field ``smsc`` (so ``--smsc``, ``SMSCLI_TELIT_SMSC`` or the profile); see
smscli.providers.telit for every sms.send parameter.
"""

from __future__ import annotations

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
    numeric_sender,
)


def sender(value: str) -> tuple[str, list[str]]:
    """sms.send ``from``: "Source address", a string, nothing more documented (its rule is
    UNCONFIRMED, so this is lenient). A number written internationally is normalised as a
    ``--to`` msisdn is (Telit sends both without "+", like the docs' "8009876543"); other
    digits (a national number, a short code) and names go as given, a name at most 11
    characters (the network's limit for an alphanumeric originator)."""
    if not value.strip():
        return "", []
    if is_phone_shaped(value):
        return numeric_sender(value, "Telit")
    return alphanumeric_sender(value, "the network")


INFO = ProviderInfo(
    slug="telit",
    label="Telit IoT Portal (TR50)",
    docs_url="https://docs.devicewise.com/Content/Products/IoT_Portal_API_Reference_Guide/APIs/SMS/sms.send.htm",
    default_base_url="https://api.devicewise.com",
    fields=(
        CredentialField("username", "IoT Portal user name (with password).", required=False),
        CredentialField("password", "IoT Portal password.", secret=True, required=False),
        CredentialField("app_id", "Application id (with app_token and thing_key).", required=False),
        CredentialField("app_token", "Application token.", secret=True, required=False),
        CredentialField("thing_key", "Thing key the application logs in as.", required=False),
        CredentialField(
            "smsc", "SMSC for an external SMS to an msisdn (e.g. att).", required=False
        ),
        CALLBACK_SECRET,
    ),
    credential_sets=(("username", "password"), ("app_id", "app_token", "thing_key")),
    target_kinds=("thing", "esn", "iccid", "imei", "imsi", "meid", "msisdn"),
    limits=Limits(max_segments=1, max_binary_octets=140, notes="one segment"),
    features=Features(
        sender=True,
        validity=True,
        binary=True,
        status=True,
        reconcile=True,
        inbox=True,
    ),
    aliases=("devicewise", "tr50"),
    command_aliases=("devicewise",),
    help=(
        "Send an SMS through the Telit IoT Portal (TR50 sms.send).\n\n"
        "Example: smscli telit --to thing:my-device 'reboot'"
    ),
    options=(
        ProviderOption(
            "trim",
            "--trim/--no-trim",
            "Let Telit trim white space in the message (the API default: trim).",
            kind="flag",
            convert=bool,
        ),
    ),
    sender_rule=sender,
    provider=lazy("smscli.providers.telit:Telit"),
    emulator=lazy("smscli.sandbox.telit:TelitEmulator"),
)
