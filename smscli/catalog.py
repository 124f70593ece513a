"""What smscli knows about each provider without loading its code.

Static metadata for all five APIs (fields, target kinds, limits, features), the local limit
check, and the registry. Import-cheap (stdlib, models, errors only), so `smscli check`,
`smscli providers` and `--help` never import a provider module or httpx (SPEC §9); the
README provider table is generated from ``REGISTRY``. ``providers.load()`` imports the code
of one provider when a command actually talks to its API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from smscli.errors import ConfigError, InputError
from smscli.models import Encoding, MessageCheck


@dataclass(frozen=True, slots=True)
class CredentialField:
    """A profile key a provider reads (SPEC §1 profile fields)."""

    name: str
    help: str
    secret: bool = False
    required: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def env_var(self, slug: str) -> str:
        return f"SMSCLI_{slug.upper()}_{self.name.upper()}"


@dataclass(frozen=True, slots=True)
class Limits:
    """What a provider accepts, checked locally before any request."""

    max_segments: int | None  # hard cap of the API (None: no documented cap)
    default_max_segments: int | None = None  # used when the profile/flag sets none
    gsm7_only: bool = False
    max_binary_octets: int | None = None  # None: binary not supported
    max_targets_per_request: int = 1
    default_rate: float | None = None  # messages per second (None: not documented)
    # Non-GSM text travels as UTF-8 bytes with this cap instead of UCS-2 segments
    # (ThingSpace's 8-bit-UTF-8 dataEncoding: 140 bytes).
    utf8_bytes: int | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Features:
    """Which shared options the API can honour. An option it cannot is an error (exit 4)."""

    sender: bool = False
    at: bool = False
    validity: bool = False
    ref: bool = False  # sent to the provider (always stored locally)
    binary: bool = False
    status: bool = False


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider's static metadata: import-cheap, so `check` and `--help` need no
    provider module (SPEC §9). The README provider table is generated from it."""

    slug: str
    label: str
    docs_url: str
    default_base_url: str
    fields: tuple[CredentialField, ...]
    target_kinds: tuple[str, ...]
    limits: Limits
    features: Features
    # Alternative credential sets (Telit: username/password OR app_id/app_token/thing_key);
    # empty: every required field is needed.
    credential_sets: tuple[tuple[str, ...], ...] = ()
    aliases: tuple[str, ...] = ()
    module: str = ""  # "smscli.providers.<slug>:<Class>"

    def field(self, name: str) -> CredentialField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.secret)


TELIT = ProviderInfo(
    slug="telit",
    label="Telit IoT Portal (TR50)",
    docs_url="https://docs.devicewise.com/Content/Products/IoT_Portal_API_Reference_Guide/APIs/SMS/sms.send.htm",
    default_base_url="https://api.devicewise.com",
    fields=(
        CredentialField("username", "IoT Portal user name (with password)", required=False),
        CredentialField("password", "IoT Portal password", secret=True, required=False),
        CredentialField("app_id", "application id (with app_token and thing_key)", required=False),
        CredentialField("app_token", "application token", secret=True, required=False),
        CredentialField("thing_key", "thing key the application logs in as", required=False),
        CredentialField("smsc", "SMSC for external SMS to an msisdn", required=False),
    ),
    credential_sets=(("username", "password"), ("app_id", "app_token", "thing_key")),
    target_kinds=("thing", "esn", "iccid", "imei", "imsi", "meid", "msisdn"),
    limits=Limits(max_segments=1, max_binary_octets=140, notes="one segment"),
    features=Features(sender=True, validity=True, binary=True, status=True),
    aliases=("devicewise", "tr50"),
    module="smscli.providers.telit:Telit",
)

CSL = ProviderInfo(
    slug="csl",
    label="CSL SIM Insight (XML)",
    docs_url="https://docs.m2miportal.com/jWxc-send-sms",
    default_base_url="https://api.m2miportal.com",
    fields=(
        CredentialField("username", "SIM Insight API user name"),
        CredentialField("password", "SIM Insight API password", secret=True),
        CredentialField("api_id", "api_id attribute of every request"),
    ),
    target_kinds=("iccid",),
    limits=Limits(
        max_segments=1,
        gsm7_only=True,
        max_binary_octets=120,
        notes="GSM-7 only, one segment (160); binary ≤120 bytes as base64",
    ),
    features=Features(sender=True, ref=True, binary=True, status=True),
    aliases=("siminsight", "m2miportal"),
    module="smscli.providers.csl:Csl",
)

THINGSPACE = ProviderInfo(
    slug="thingspace",
    label="Verizon ThingSpace",
    docs_url="https://thingspace.verizon.com/resources/documentation/connectivity/API_Reference/Send_SMS_Messages_to_Devices/",
    default_base_url="https://thingspace.verizon.com",
    fields=(
        CredentialField("client_id", "ThingSpace app key (OAuth2 client id)"),
        CredentialField("client_secret", "ThingSpace app secret", secret=True),
        CredentialField("username", "UWS user name (session login)"),
        CredentialField("password", "UWS password", secret=True),
        CredentialField("account_name", "billing account name, e.g. 0000123456-00001"),
    ),
    target_kinds=("iccid", "imei", "meid", "mdn", "msisdn", "esn", "eid"),
    limits=Limits(
        max_segments=1,
        max_binary_octets=140,
        max_targets_per_request=10_000,
        utf8_bytes=140,
        notes="160 GSM-7 characters or 140 bytes; ≤10,000 devices per request",
    ),
    features=Features(binary=True),
    aliases=("verizon",),
    module="smscli.providers.thingspace:ThingSpace",
)

EMNIFY = ProviderInfo(
    slug="emnify",
    label="emnify",
    docs_url="https://docs.emnify.com/developers/api/endpoint/endpoint-sms-by-id-post",
    default_base_url="https://cdn.emnify.net",
    fields=(CredentialField("application_token", "emnify application token", secret=True),),
    target_kinds=("endpoint", "iccid", "name"),
    limits=Limits(
        max_segments=255,  # the UDH numbers parts in one octet
        max_binary_octets=None,
        default_rate=2000 / 300,
        notes="long messages split into UDH parts (one POST each); 2,000 requests per 5 minutes",
    ),
    features=Features(sender=True, validity=True, status=True),
    module="smscli.providers.emnify:Emnify",
)

FONEDYNAMICS = ProviderInfo(
    slug="fonedynamics",
    label="Fone Dynamics",
    docs_url="https://www.fonedynamics.com/docs/rest-api/send-sms/",
    default_base_url="https://api.fonedynamics.com",
    fields=(
        CredentialField("account_sid", "account SID (HTTP Basic user)"),
        CredentialField("token", "auth token (HTTP Basic password)", secret=True),
        CredentialField("property_sid", "property SID the messages are sent from"),
    ),
    target_kinds=("msisdn",),
    limits=Limits(max_segments=None, default_max_segments=10, notes="up to max_segments (10)"),
    features=Features(sender=True, at=True, ref=True, status=True),
    module="smscli.providers.fonedynamics:FoneDynamics",
)

REGISTRY: Final[dict[str, ProviderInfo]] = {
    p.slug: p for p in (TELIT, CSL, THINGSPACE, EMNIFY, FONEDYNAMICS)
}
ALIASES: Final[dict[str, str]] = {a: p.slug for p in REGISTRY.values() for a in p.aliases}
SLUGS: Final[tuple[str, ...]] = tuple(REGISTRY)


def get_info(name: str) -> ProviderInfo:
    """The provider called ``name`` (a slug or an alias, any case)."""
    key = name.strip().lower()
    slug = ALIASES.get(key, key)
    try:
        return REGISTRY[slug]
    except KeyError:
        raise ConfigError(
            f"unknown provider {name!r}; providers: {', '.join(SLUGS)}", code="unknown_provider"
        ) from None


def supporting(feature: str) -> list[str]:
    """Slugs of the providers whose Features has ``feature`` set (for error messages)."""
    return [p.slug for p in REGISTRY.values() if getattr(p.features, feature)]


def limit_problems(
    check: MessageCheck, info: ProviderInfo | None, max_segments: int | None
) -> list[InputError]:
    """Why a checked message cannot go out through ``info`` (empty: it fits).

    Pure and import-cheap: `smscli check --provider` uses it without loading the provider.
    """
    problems: list[InputError] = []
    label = info.slug if info else "the message"
    limits = info.limits if info else None
    if limits and limits.gsm7_only and check.encoding is Encoding.UCS2:
        chars = ", ".join(
            f"{c.char!r} ({c.codepoint}) at {_positions(c.positions)}" for c in check.non_gsm
        )
        problems.append(
            InputError(
                f"{label} sends GSM-7 text only; not in the GSM-7 alphabet: {chars}",
                hint="use --smart to replace look-alikes, or rewrite those characters",
                code="not_gsm7",
            )
        )
    if check.encoding is Encoding.BINARY and limits is not None:
        if limits.max_binary_octets is None:
            others = ", ".join(supporting("binary")) or "none"
            problems.append(
                InputError(
                    f"{label} does not send binary messages (--hex/--base64); providers that "
                    f"do: {others}",
                    code="binary_unsupported",
                )
            )
        elif check.units > limits.max_binary_octets:
            problems.append(
                InputError(
                    f"{check.units} octets of binary data; {label} takes at most "
                    f"{limits.max_binary_octets}",
                    code="message_too_long",
                )
            )
            return problems
    if limits and limits.utf8_bytes is not None and check.encoding is Encoding.UCS2:
        size = len(check.text.encode("utf-8"))
        if size > limits.utf8_bytes:
            problems.append(
                InputError(
                    f"message is {size} bytes of UTF-8; {label} takes at most "
                    f"{limits.utf8_bytes} bytes for text outside GSM-7",
                    hint="--smart may make it GSM-7 (160 characters)",
                    code="message_too_long",
                )
            )
        return problems
    caps = [c for c in (limits.max_segments if limits else None, max_segments) if c is not None]
    if not caps and limits and limits.default_max_segments is not None:
        caps.append(limits.default_max_segments)
    if caps and check.segments > min(caps):
        cap = min(caps)
        unit = {"gsm7": "GSM-7 septets", "ucs2": "UCS-2 units", "binary": "octets"}[
            check.encoding.value
        ]
        hint = None
        if check.smart_segments is not None and check.smart_segments <= cap:
            hint = f"--smart would make it {check.smart_segments} segment(s)"
        elif check.encoding is Encoding.UCS2:
            hint = "characters outside GSM-7 make it UCS-2 (70 per segment); see `smscli check`"
        problems.append(
            InputError(
                f"message is {check.segments} segments ({check.units} {unit}); {label} "
                f"allows at most {cap} (one segment holds {check.single_limit})",
                hint=hint,
                code="message_too_long",
            )
        )
    return problems


def _positions(positions: Sequence[int]) -> str:
    shown = ", ".join(str(p) for p in positions[:5])
    return shown + (f" (+{len(positions) - 5} more)" if len(positions) > 5 else "")
