"""Every provider, declared once: what smscli knows about an API without loading its code.

A provider is declared by one ``ProviderInfo`` (its slug, label, aliases, docs URL, default
base URL, profile fields, target kinds, limits, features, its own command-line options as
data, and how to load its API class and its sandbox emulator) in its declaration module
``smscli/catalog/<slug>.py``. Everything else is derived from these declarations: the send
commands and the provider subcommands (``commands/sending.py``), the Python API's ``extra=``
check, ``smscli providers``, the README tables (docgen), config validation of the fields,
shell completion and the sandbox's routing.

Why the declaration is not in ``smscli/providers/<slug>.py`` itself: `--help`, `check` and
`providers` read every declaration, and SPEC §9 gives them a start-up budget that importing
five API modules (their builders, parsers, regexes and dataclasses: ~50 ms) would break. So
a provider is a cheap declaration (it imports only this module and smscli.errors) plus its
API module, imported only when a command talks to the API; the declaration points at it
through a function (``provider=``, ``emulator=``): ``lazy("module:Class")`` for the built-ins
(tests/test_registry.py loads every one), any function for an outside provider.

``REGISTRY`` is the one registry: the explicit tuple of ``_builtin()`` below, plus whatever
``register()`` adds (a third-party provider, the sixth-provider test). Nothing copies it:
commands, API, docgen, config and the sandbox read it when they run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from smscli.errors import ConfigError, InputError, UsageError

if TYPE_CHECKING:
    from smscli.models import MessageCheck
    from smscli.providers.base import Provider
    from smscli.sandbox.base import Emulator


# The declaration types are NamedTuples, not the frozen dataclasses used elsewhere: every
# command imports them, and building a dataclass costs ~1 ms at import against ~0.2 ms.
class CredentialField(NamedTuple):
    """A profile key a provider reads (SPEC §1 profile fields)."""

    name: str
    help: str
    secret: bool = False
    required: bool = True
    # Read by `smscli listen` only (the callback secrets): a secret reference ({env},
    # {file}, {command}) of it is not resolved for a send, which never needs it.
    listen_only: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def env_var(self, slug: str) -> str:
        return f"SMSCLI_{slug.upper()}_{self.name.upper()}"


class Limits(NamedTuple):
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


class Features(NamedTuple):
    """Which shared options the API can honour. An option it cannot is an error (exit 4)."""

    sender: bool = False
    at: bool = False
    validity: bool = False
    ref: bool = False  # sent to the provider (always stored locally)
    binary: bool = False
    status: bool = False
    cancel: bool = False  # `smscli cancel`: the API cancels a message not yet delivered
    # `smscli reconcile`: the API can look up a send whose outcome is unknown
    reconcile: bool = False
    # Device replies (mobile-originated SMS) can be pulled through the API (`smscli inbox`,
    # `send --await-reply`); CSL only pushes them.
    inbox: bool = False
    inbox_per_device: bool = False  # replies are listed per device only (emnify): name them
    inbox_queue: bool = False  # reading a reply removes it (ThingSpace): store it first
    # Replies come only by push (CSL): `inbox` lists what `smscli listen` stored.
    inbox_pushed: bool = False
    # Delivery is reported only by callback (ThingSpace): `status` and `--wait` read the
    # receipt `smscli listen` recorded in the history instead of asking the API.
    receipts_by_callback: bool = False
    # `smscli callbacks register|list|delete`: callback listeners are registered by API
    # (ThingSpace, emnify); the others are set up in a portal or per message.
    callbacks: bool = False


# The optional secret `smscli listen` checks on a provider's callbacks (issue 11), declared
# by every built-in provider; not needed to send. Where each provider carries it: README
# "listen: receipts and replies pushed by the providers".
CALLBACK_SECRET: Final = CredentialField(
    "callback_secret",
    "Secret smscli listen checks on this provider's callbacks (not needed to send).",
    secret=True,
    required=False,
    listen_only=True,
)


OptionKind = Literal["text", "flag", "multiple"]

# A provider's sender rule: ``--from`` (or the profile's ``sender``) → its canonical form
# (a phone number as E.164 with "+", which the provider then writes as its API wants it)
# and warnings; an InputError (exit 4) when the provider cannot send from it.
SenderRule = Callable[[str], tuple[str, list[str]]]


class ProviderOption(NamedTuple):
    """One of a provider's own command-line options, as data.

    ``name`` is the Python name (the Typer parameter and the key of the Python API's
    ``extra=``); ``flags`` what the command line accepts (``"--trim/--no-trim"`` for an on/off
    pair); ``kind``: ``text`` (a string), ``flag`` (on/off, unset when not given) or
    ``multiple`` (repeatable, a list of strings). The value given is checked and converted
    by ``convert`` (raise ``UsageError``; return None to leave the key out) and lands in
    ``Message.extra[key]`` (default: ``name``), which the provider's request builder reads.
    """

    name: str
    flags: str
    help: str
    kind: OptionKind = "text"
    metavar: str | None = None
    key: str | None = None
    convert: Callable[[Any], Any] | None = None
    panel: str | None = None  # a help panel of its own (default: "Options")

    @property
    def extra_key(self) -> str:
        return self.key or self.name

    @property
    def flag(self) -> str:
        """The option's main flag, for messages (``--trim`` of ``--trim/--no-trim``)."""
        return self.flags.split("/")[0]


class ProviderInfo(NamedTuple):
    """A provider's declaration: import-cheap, so `check` and `--help` load no provider API
    module (SPEC §9). Commands, API, docgen, config and the sandbox derive from it."""

    slug: str
    label: str
    docs_url: str
    default_base_url: str
    fields: tuple[CredentialField, ...]
    target_kinds: tuple[str, ...]
    limits: Limits
    features: Features
    # The API class and the sandbox emulator class, imported when first needed (every
    # provider has both: there is no default to forget).
    provider: Callable[[], type[Provider]]
    emulator: Callable[[], type[Emulator]]
    # Alternative credential sets (Telit: username/password OR app_id/app_token/thing_key);
    # empty: every required field is needed.
    credential_sets: tuple[tuple[str, ...], ...] = ()
    aliases: tuple[str, ...] = ()  # other names accepted for `provider =` and --provider
    command_aliases: tuple[str, ...] = ()  # hidden subcommands (`smscli devicewise`)
    help: str = ""  # the subcommand's help: one line, a blank line, an example
    options: tuple[ProviderOption, ...] = ()
    # What --from may be (Features.sender): None = the generic rule, ``generic_sender``.
    sender_rule: SenderRule | None = None

    def field(self, name: str) -> CredentialField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.secret)

    def check_sender(self, sender: str) -> tuple[str, list[str]]:
        """``--from`` under this provider's own rule: its canonical form and warnings."""
        return (self.sender_rule or generic_sender)(sender)

    def extra_from(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``Message.extra`` from the values of this provider's options (keyed by option
        name; None or absent: not given). Raises UsageError for a malformed value."""
        out: dict[str, Any] = {}
        for option in self.options:
            value = values.get(option.name)
            if value is None:
                continue
            if option.convert is not None:
                value = option.convert(value)
            if value is not None:
                out[option.extra_key] = value
        return out


def nonblank(option: str) -> Callable[[Any], str]:
    """A converter: the value stripped; empty is a usage error."""

    def convert(value: Any) -> str:
        text = str(value).strip()
        if not text:
            raise UsageError(f"{option} cannot be empty", code="invalid_option")
        return text

    return convert


def one_of(option: str, choices: Sequence[str]) -> Callable[[Any], str]:
    """A converter: one of ``choices`` in any case, as spelled there; else a usage error."""

    def convert(value: Any) -> str:
        word = str(value).strip().lower()
        for choice in choices:
            if choice.lower() == word:
                return choice
        *rest, last = choices
        raise UsageError(
            f"{option} must be {', '.join(rest)} or {last}, not {value!r}", code="invalid_option"
        )

    return convert


# -- senders (--from) ---------------------------------------------------------------------
# Each provider declares its own rule (issue 9: Fone Dynamics' alphanumeric rule is not
# emnify's, Telit documents none, CSL takes digits only); these are the shared pieces.
_PHONE_CHARS: Final = frozenset("0123456789 -.()")
_FD_ALPHANUMERIC: Final = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_NUMERIC_SENDER: Final = re.compile(r"\+?\d{3,15}")
# An alphanumeric originating address holds at most 11 characters: 3GPP TS 23.040's TP-OA is
# at most 10 octets, 11 septets of the GSM 7-bit alphabet.
MAX_ALPHANUMERIC: Final = 11


def is_phone_shaped(sender: str) -> bool:
    """Digits with an optional leading "+" and the separators of a written phone number."""
    body = sender.strip().removeprefix("+")
    return bool(body) and set(body) <= _PHONE_CHARS and any(c.isdigit() for c in body)


def e164_sender(sender: str, hint: str) -> tuple[str, list[str]]:
    """A phone-number sender as E.164 with "+", normalised exactly as a ``--to`` msisdn is
    (separators, ``00``, a trunk 0 after the country code); InputError naming --from."""
    from smscli.targets import parse_target

    try:
        # Phone-shaped (no ":"), so it parses as a bare phone number, i.e. an msisdn.
        target, warnings = parse_target(sender.strip(), ("msisdn",))
    except InputError as exc:
        reason = exc.message.split("': ", 1)[-1]
        raise InputError(
            f"invalid --from {sender!r}: {reason}", hint=hint, code="invalid_sender"
        ) from None
    return target.value, [w.replace("msisdn ", "--from ", 1) for w in warnings]


def numeric_sender(sender: str, label: str) -> tuple[str, list[str]]:
    """A sender of digits: E.164 (with "+") when it is written internationally ("+" or
    "00"), else its digits as they are (a national number or a short code, 3-15 digits)."""
    text = sender.strip()
    digits = "".join(c for c in text if c.isdigit())
    if text.startswith("+") or digits.startswith("00"):
        return e164_sender(text, f"{label} takes an E.164 number such as +61499009990")
    if not 3 <= len(digits) <= 15:
        raise InputError(
            f"invalid --from {sender!r}: {len(digits)} digits; a numeric sender has 3-15",
            code="invalid_sender",
        )
    return digits, []


def alphanumeric_sender(sender: str, label: str) -> tuple[str, list[str]]:
    """A sender name of at most 11 printable characters (the network's limit), as given."""
    if not sender.isprintable():
        raise InputError(
            f"invalid --from {sender!r}: a sender cannot hold control characters",
            code="invalid_sender",
        )
    if len(sender) > MAX_ALPHANUMERIC:
        raise InputError(
            f"invalid --from {sender!r}: {len(sender)} characters; {label} takes an "
            f"alphanumeric sender of at most {MAX_ALPHANUMERIC}",
            code="invalid_sender",
        )
    return sender, []


def generic_sender(sender: str) -> tuple[str, list[str]]:
    """The rule of a provider that declares none: an E.164 number, a short code, or
    alphanumeric (1-11 of A-Za-z0-9 and space, at least one letter); "" leaves it to the
    provider. Returned as given."""
    if sender == "":
        return sender, []
    compact = re.sub(r"[\s\-().]", "", sender)
    if _NUMERIC_SENDER.fullmatch(compact) or _FD_ALPHANUMERIC.fullmatch(sender):
        return sender, []
    if len(sender) > MAX_ALPHANUMERIC and any(c.isalpha() for c in sender):
        reason = f"{len(sender)} characters; an alphanumeric sender has at most 11"
    elif not any(c.isalpha() for c in sender):
        reason = "not a phone number (3–15 digits, + optional)"
    else:
        reason = "an alphanumeric sender may use only A-Z, a-z, 0-9 and spaces"
    raise InputError(f"invalid --from {sender!r}: {reason}", code="invalid_sender")


def fonedynamics_alphanumeric(sender: str) -> str | None:
    """Fone Dynamics' sender ID rule (seed 004): 1-11 of A-Z, a-z, 0-9 and space with at
    least one letter; None when ``sender`` is not one."""
    return sender if _FD_ALPHANUMERIC.fullmatch(sender) else None


def lazy(target: str) -> Callable[[], Any]:
    """``"smscli.providers.csl:Csl"`` as a function that imports it when first called: a
    declaration's ``provider=``/``emulator=`` (declaring a provider loads none of its code,
    SPEC §9), and the root's commands (commands/root.py)."""
    module, _, name = target.partition(":")

    def load() -> Any:
        from importlib import import_module

        return getattr(import_module(module), name)

    return load


def _builtin() -> tuple[ProviderInfo, ...]:
    from smscli.catalog import csl, emnify, fonedynamics, telit, thingspace

    # The built-in providers, in the order every listing shows them.
    return (telit.INFO, csl.INFO, thingspace.INFO, emnify.INFO, fonedynamics.INFO)


# The one registry: slug → declaration. A provider added here (or by ``register``) gets its
# subcommand, its API options, its `providers` row, its config checks and its sandbox mount.
REGISTRY: Final[dict[str, ProviderInfo]] = {}


def register(info: ProviderInfo) -> None:
    """Add a provider to the registry (the built-ins are added at import). An outside
    provider registered this way serves the Python API of the same process; the console
    script has no hook that could call this (README: Adding a provider)."""
    names = {n for p in REGISTRY.values() for n in (p.slug, *p.aliases, *p.command_aliases)}
    clash = {info.slug, *info.aliases, *info.command_aliases} & names
    if clash:
        raise ValueError(f"provider names already taken: {', '.join(sorted(clash))}")
    REGISTRY[info.slug] = info


for _info in _builtin():
    register(_info)


def get_info(name: str) -> ProviderInfo:
    """The provider called ``name`` (a slug or an alias, any case)."""
    key = name.strip().lower()
    for info in REGISTRY.values():
        if key == info.slug or key in info.aliases:
            return info
    raise ConfigError(
        f"unknown provider {name!r}; providers: {', '.join(REGISTRY)}", code="unknown_provider"
    )


def supporting(feature: str) -> list[str]:
    """Slugs of the providers whose Features has ``feature`` set (for error messages)."""
    return [p.slug for p in REGISTRY.values() if getattr(p.features, feature)]


def limit_problems(
    check: MessageCheck, info: ProviderInfo | None, max_segments: int | None
) -> list[InputError]:
    """Why a checked message cannot go out through ``info`` (empty: it fits).

    Pure and import-cheap: `smscli check --provider` uses it without loading the provider.
    """
    from smscli.models import Encoding

    problems: list[InputError] = []
    label = info.slug if info else "the message"
    limits = info.limits if info else None
    if limits and limits.gsm7_only and check.encoding is Encoding.UCS2:
        problems.append(_not_gsm7(check, label, limits))
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
    measure = provider_measure(check, info)
    if measure is not None:
        if measure.size > measure.limit:
            problems.append(
                InputError(
                    f"message is {measure.size} {measure.unit}; {label} takes at most "
                    f"{measure.limit} {measure.unit} for text outside GSM-7",
                    hint=smart_hint(check, label, limits.max_segments if limits else None)
                    or "shorten it: a character outside ASCII takes 2 to 4 bytes of UTF-8",
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


class Measure(NamedTuple):
    """How a provider measures a message when not in septets/UTF-16 units/octets."""

    unit: str  # "UTF-8 bytes"
    size: int
    limit: int
    how: str  # what the provider sends, for `check`


def provider_measure(check: MessageCheck, info: ProviderInfo | None) -> Measure | None:
    """The measure ``info`` applies to this message instead of UCS-2 segments, if any.

    ThingSpace sends text outside GSM-7 as ``8-bit-UTF-8``: one message of at most 140 bytes
    of UTF-8, never concatenated. `check --provider` shows it, and the limit check uses it.
    """
    from smscli.models import Encoding

    if info is None or info.limits.utf8_bytes is None or check.encoding is not Encoding.UCS2:
        return None
    return Measure(
        unit="UTF-8 bytes",
        size=len(check.text.encode("utf-8", "surrogatepass")),
        limit=info.limits.utf8_bytes,
        how=f"8-bit-UTF-8 ({info.label} sends text outside GSM-7 as UTF-8, in one message)",
    )


def smart_helps(check: MessageCheck, cap: int | None) -> bool:
    """Whether --smart would make this message GSM-7 within ``cap`` segments."""
    replaced = check.replaced_segments
    return (
        replaced is not None
        and replaced <= check.segments  # else --smart keeps the text as it is
        and (cap is None or replaced <= cap)
    )


def smart_hint(check: MessageCheck, label: str, cap: int | None) -> str | None:
    """What --smart would do for a message refused as it is; None when it would not help
    (no look-alike, or a character without one keeps the message UCS-2)."""
    replaced = check.replaced_segments
    if replaced is None:
        return None
    if cap is not None and replaced > cap:
        return (
            f"with the look-alikes replaced (--smart) it would be {replaced} GSM-7 segments; "
            f"{label} takes at most {cap}: shorten it"
        )
    if replaced > check.segments:
        return (
            f"--smart keeps the look-alikes here: replacing them makes {replaced} segments "
            f"instead of {check.segments} (use --smart --encoding gsm7 to replace them anyway)"
        )
    return f"use --smart to replace the look-alikes (then GSM-7, {replaced} segment(s))"


def _not_gsm7(check: MessageCheck, label: str, limits: Limits) -> InputError:
    """A UCS-2 message for a provider that sends GSM-7 only (CSL)."""
    if not check.non_gsm:
        return InputError(
            f"{label} sends GSM-7 text only, and --encoding ucs2 makes this message UCS-2",
            hint="drop --encoding ucs2: every character of this text is in GSM-7",
            code="not_gsm7",
        )
    chars = ", ".join(
        f"{c.char!r} ({c.codepoint}) at {_positions(c.positions)}" for c in check.non_gsm
    )
    hint = smart_hint(check, label, limits.max_segments)
    if hint is None:
        plain = [f"{c.char!r} ({c.codepoint})" for c in check.non_gsm if c.lookalike is None]
        more = f" and {len(plain) - 5} more" if len(plain) > 5 else ""
        they = "it has" if len(plain) == 1 else "they have"
        hint = f"rewrite {', '.join(plain[:5])}{more}: {they} no GSM-7 look-alike for --smart"
    return InputError(
        f"{label} sends GSM-7 text only; not in the GSM-7 alphabet: {chars}",
        hint=hint,
        code="not_gsm7",
    )


def _positions(positions: Sequence[int]) -> str:
    shown = ", ".join(str(p) for p in positions[:5])
    return shown + (f" (+{len(positions) - 5} more)" if len(positions) > 5 else "")
