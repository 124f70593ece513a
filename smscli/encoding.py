"""SMS encoding, length and splitting (SPEC §3). Pure: no I/O.

One module on purpose (~600 lines): the GSM 03.38 tables, smart replacement, grapheme
clusters and segment packing are one computation (a message is counted by splitting it),
all pure functions over the same tables.

The tables and rules come from the team's research note ``reference/encoding.md`` (GSM 03.38
basic and extension tables, TS 23.040 concatenation limits, Twilio-style smart replacement).

Counting is done by actually splitting the message, never by ``ceil(units / part_limit)``:
an escape pair, an astral character or a grapheme cluster that would straddle a part boundary
moves whole to the next part, which can add a segment (``"]" * 153`` is 3 segments).
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Final

from smscli.errors import InputError, UsageError
from smscli.models import Encoding, MessageCheck, NonGsmChar, Replacement

__all__ = [
    "BINARY_PART_LIMIT",
    "BINARY_SINGLE_LIMIT",
    "ENCODING_CHOICES",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "GSM7_PART_LIMIT",
    "GSM7_SINGLE_LIMIT",
    "LOOKALIKES",
    "MAX_PARTS",
    "UCS2_PART_LIMIT",
    "UCS2_SINGLE_LIMIT",
    "analyze",
    "analyze_binary",
    "codepoint",
    "grapheme_clusters",
    "is_gsm7",
    "parse_base64",
    "parse_hex",
    "septets",
    "smart_replace",
    "udh_parts",
    "utf16_units",
]

# --- GSM 03.38 tables (encoding.md §2 and §3) -------------------------------------------------

# Basic table in septet order, 0x00-0x7F without 0x1B: that code is the escape to the extension
# table, not a character, so a raw U+001B in the input must never count as GSM-7 (§4).
GSM7_BASIC: Final[str] = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F: capital Ç at 0x09; lowercase ç is NOT in the table
    "Δ_ΦΓΛΩΠΨΣΘΞ"  # 0x10-0x1A
    "ÆæßÉ"  # 0x1C-0x1F
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F: ¤ sits where ASCII has $
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"  # 0x40-0x5F
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"  # 0x60-0x7F
)

# Extension table (ESC + code, 2 septets each), in the order of TS 23.038 §6.2.1.1.
GSM7_EXTENSION: Final[str] = "\f^{}\\[~]|€"

_SEPTETS: Final[dict[str, int]] = {
    **dict.fromkeys(GSM7_BASIC, 1),
    **dict.fromkeys(GSM7_EXTENSION, 2),
}

# --- limits (encoding.md §1; 8-bit reference concatenation UDH ``05 00 03 RR TT PP``) ---------

GSM7_SINGLE_LIMIT: Final = 160
GSM7_PART_LIMIT: Final = 153
UCS2_SINGLE_LIMIT: Final = 70
UCS2_PART_LIMIT: Final = 67
BINARY_SINGLE_LIMIT: Final = 140
BINARY_PART_LIMIT: Final = 134
MAX_PARTS: Final = 255  # the "total parts" field of the UDH is one octet

ENCODING_CHOICES: Final = ("auto", "gsm7", "ucs2", "binary")


def septets(ch: str) -> int | None:
    """Septets ``ch`` costs in GSM-7 (1, or 2 for an extension char); None when not GSM-7."""
    return _SEPTETS.get(ch)


def is_gsm7(text: str) -> bool:
    return all(ch in _SEPTETS for ch in text)


def utf16_units(text: str) -> int:
    """UTF-16 code units: what UCS-2 (really UTF-16BE on the air) counts."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def codepoint(ch: str) -> str:
    """``"U+2019"``: at least four upper-case hex digits."""
    return f"U+{ord(ch):04X}"


# --- smart replacement (encoding.md §9) ---------------------------------------------------------
#
# Modelled on Twilio's Smart Encoding map but narrower: only characters whose replacement
# looks the same to a reader. Deliberately left out:
# * lossy letter folds (ç→Ç, Greek capitals→Latin): they change what the text says (§4, §10);
# * stand-alone combining marks (Twilio maps U+0303→~ etc.): "n"+U+0303 would become "n~";
# * U+200D ZWJ: deleting it breaks emoji sequences if smart_replace() is used on its own;
# * C0/C1 controls, which Twilio deletes or turns into spaces: a NUL or ESC in a message is a
#   bug to show the user, not to hide.
# Where the note and common sense differ we chose: one space for every Unicode space (Twilio
# uses two for some), U+2028/U+2029 → newline, ‚ (single low-9 quote) → ' like its siblings.
_LOOKALIKE_GROUPS: Final[dict[str, str]] = {
    "'": (
        "\u2018\u2019\u201a\u201b"  # ‘ ’ ‚ ‛
        "\u2032\u2035"  # ′ ‵ primes
        "\u0060\u00b4"  # ` ´ (the grave accent is not in the GSM table)
        "\u02b9\u02bb\u02bc\u02bd\u02c8\u02ca\u02cb"  # modifier-letter apostrophes
        "\u275b\u275c"  # ❛ ❜
    ),
    '"': (
        "\u201c\u201d\u201e\u201f"  # “ ” „ ‟
        "\u2033\u2036"  # ″ ‶
        "\u00ab\u00bb"  # « »
        "\u02ba\u02ee"  # ʺ ˮ
        "\u275d\u275e"  # ❝ ❞
        "\u301d\u301e\u301f"  # 〝 〞 〟
    ),
    "<": "\u2039",  # ‹
    ">": "\u203a",  # ›
    "-": (
        "\u2010\u2011\u2012\u2013\u2014\u2015"  # ‐ ‑ ‒ – — ―
        "\u2212"  # − minus sign
        "\u2022\u2043"  # • ⁃ bullets, as Twilio does
    ),
    " ": (
        "\t"  # a tab is not GSM-7; one space keeps the length
        "\u00a0"  # NBSP
        "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
        "\u202f\u205f\u3000"
    ),
    "\n": "\u2028\u2029",  # line and paragraph separators
    "": (  # invisible: deleting them changes nothing a reader sees
        "\u00ad"  # soft hyphen
        "\u200b\u200c\u2060\ufeff"  # zero-width space, ZWNJ, word joiner, BOM
    ),
    "...": "\u2026",  # …
    "!!": "\u203c",  # ‼
    "1/4": "\u00bc",
    "1/2": "\u00bd",
    "3/4": "\u00be",
    "/": "\u00f7\u2044\u2215",  # ÷ ⁄ ∕
    "*": "\u204e\u2217",  # ⁎ ∗
    "|": "\u2223",  # ∣
    "~": "\u02dc\u223c",  # ˜ ∼
    "^": "\u02c6",  # ˆ
    ":": "\u2236\ua789",  # ∶ ꞉
    "_": "\u2017",  # ‗
    ",": "\u3001\uff64",  # ideographic commas
    ".": "\u3002\uff61",  # ideographic full stops
}


def _compatibility_lookalikes() -> Iterator[tuple[str, str]]:
    # Fullwidth ASCII (U+FF01-FF5E), small form variants (U+FE50-FE6B) and vertical forms
    # (U+FE10-FE19) are compatibility characters whose NFKC form is the plain character;
    # keep those whose NFKC form is GSM-7 (drops e.g. fullwidth ` whose NFKC is not).
    for cp in (*range(0xFF01, 0xFF5F), *range(0xFE50, 0xFE6C), *range(0xFE10, 0xFE1A)):
        ch = chr(cp)
        folded = unicodedata.normalize("NFKC", ch)
        if folded != ch and folded and is_gsm7(folded):
            yield ch, folded
    yield "\uff40", "'"  # fullwidth grave accent, like the ASCII one above


def _build_lookalikes() -> dict[str, str]:
    table = dict(_compatibility_lookalikes())
    for replacement, chars in _LOOKALIKE_GROUPS.items():
        table.update(dict.fromkeys(chars, replacement))
    return table


LOOKALIKES: Final[dict[str, str]] = _build_lookalikes()


_FRACTIONS: Final = frozenset("\u00bc\u00bd\u00be")  # ¼ ½ ¾ → 1/4 1/2 3/4


def _replacement_at(text: str, index: int, done: str) -> str:
    """The look-alike of ``text[index]``; ``done`` is the replaced text before it.

    A vulgar fraction next to a digit gets a space on that side: ``1½`` is one and a half,
    and ``11/2`` would read as eleven halves (``½3`` → ``1/2 3`` likewise).
    """
    replacement = LOOKALIKES[text[index]]
    if text[index] in _FRACTIONS:
        following = text[index + 1 : index + 2]
        if done[-1:].isdigit():
            replacement = " " + replacement
        if following and (following.isdigit() or LOOKALIKES.get(following, "")[:1].isdigit()):
            replacement += " "
    return replacement


def smart_replace(text: str) -> tuple[str, tuple[Replacement, ...]]:
    """Replace every LOOKALIKES character; report each distinct one with its positions.

    Positions are indexes into ``text`` (the original); a character replaced in two ways
    (``½`` after a digit gets a space) is reported once per way. This replaces
    unconditionally; ``analyze(smart=True)`` decides whether to keep the result.
    """
    out: list[str] = []
    done = ""
    positions: dict[tuple[str, str], list[int]] = {}
    for index, ch in enumerate(text):
        if ch not in LOOKALIKES:
            out.append(ch)
            done = ch
            continue
        replacement = _replacement_at(text, index, done)
        out.append(replacement)
        done = replacement or done
        positions.setdefault((ch, replacement), []).append(index)
    replacements = tuple(
        Replacement(ch, codepoint(ch), replacement, tuple(where))
        for (ch, replacement), where in positions.items()
    )
    return "".join(out), replacements


# --- grapheme clusters (stdlib approximation of UAX #29) ---------------------------------------

_ZWJ: Final = "\u200d"
_MARK_CATEGORIES: Final = frozenset({"Mn", "Me", "Mc"})
_CONTROL_CATEGORIES: Final = frozenset({"Cc", "Zl", "Zp"})
_SPACING_AM: Final = (0x0E33, 0x0EB3)  # THAI CHARACTER SARA AM, LAO VOWEL SIGN AM


def _is_extender(ch: str) -> bool:
    """Attaches to the character before it (UAX #29 Extend, SpacingMark and ZWJ, roughly)."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in _MARK_CATEGORIES
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
        or cp in (0x200C, 0x200D, 0x20E3)  # ZWNJ, ZWJ, combining keycap
        # Thai SARA AM and Lao AM are letters (Lo) that UAX #29 lists as SpacingMark: "น้ำ"
        # (consonant, tone mark, SARA AM) is one cluster and must not be split across parts.
        or cp in _SPACING_AM
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_high_surrogate(ch: str) -> bool:
    return "\ud800" <= ch <= "\udbff"


def _is_low_surrogate(ch: str) -> bool:
    return "\udc00" <= ch <= "\udfff"


def _end_of_base(text: str, i: int) -> int:
    """Index just past the cluster base starting at ``i`` (a pair for CR LF, flags, surrogates)."""
    if i + 1 < len(text):
        first, second = text[i], text[i + 1]
        if (
            (first == "\r" and second == "\n")
            or (_is_regional_indicator(first) and _is_regional_indicator(second))
            # Python keeps an astral character as one code point, but a str can still hold an
            # explicit surrogate pair (decoded with surrogatepass, say): keep it whole too.
            or (_is_high_surrogate(first) and _is_low_surrogate(second))
        ):
            return i + 2
    return i + 1


def grapheme_clusters(text: str) -> list[str]:
    """Split ``text`` into user-perceived characters, approximately (no third-party ``regex``).

    A cluster is a base character (or CR LF, a regional-indicator pair, a surrogate pair)
    followed by extenders: combining marks, variation selectors, emoji modifiers, tag characters,
    the keycap mark, Thai SARA AM / Lao AM and ZWJ; a ZWJ also pulls in the next character with
    its own extenders.
    Unlike UAX #29, extenders attach even to a control character, so that no part of a split
    message ever begins with a dangling mark. Not handled: Hangul jamo sequences, prepended
    concatenation marks and Indic conjuncts; at worst those split between two code points,
    which is still a valid message.
    """
    clusters: list[str] = []
    i = 0
    while i < len(text):
        start = i
        i = _end_of_base(text, i)
        while i < len(text):
            ch = text[i]
            if _is_extender(ch):
                i += 1
            elif text[i - 1] == _ZWJ and unicodedata.category(ch) not in _CONTROL_CATEGORIES:
                i = _end_of_base(text, i)
            else:
                break
        clusters.append(text[start:i])
    return clusters


# --- splitting ----------------------------------------------------------------------------------


def _pack(atoms: Iterable[tuple[str, int]], part_limit: int) -> tuple[str, ...]:
    """Greedy split: an atom that does not fit closes the part and opens the next one."""
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for atom, cost in atoms:
        if current and used + cost > part_limit:
            parts.append("".join(current))
            current, used = [], 0
        current.append(atom)
        used += cost
    if current:
        parts.append("".join(current))
    return tuple(parts)


def _gsm7_atoms(text: str) -> Iterator[tuple[str, int]]:
    # Each character is atomic, so an ESC pair (2 septets) never straddles a boundary.
    for ch in text:
        yield ch, _SEPTETS[ch]


def _code_point_atoms(text: str) -> Iterator[tuple[str, int]]:
    i = 0
    while i < len(text):
        end = i + 1
        if _is_high_surrogate(text[i]) and end < len(text) and _is_low_surrogate(text[end]):
            end += 1
        atom = text[i:end]
        yield atom, utf16_units(atom)
        i = end


def _ucs2_atoms(text: str, part_limit: int) -> Iterator[tuple[str, int]]:
    for cluster in grapheme_clusters(text):
        units = utf16_units(cluster)
        if units <= part_limit:
            yield cluster, units
        else:
            # A pathological cluster (a letter with 100 accents) cannot fit any part; split it
            # between code points, which still never splits a surrogate pair.
            yield from _code_point_atoms(cluster)


# --- analysis -----------------------------------------------------------------------------------


def _non_gsm(text: str) -> tuple[NonGsmChar, ...]:
    positions: dict[str, list[int]] = {}
    for index, ch in enumerate(text):
        if ch not in _SEPTETS:
            positions.setdefault(ch, []).append(index)
    return tuple(
        NonGsmChar(ch, codepoint(ch), tuple(where), LOOKALIKES.get(ch))
        for ch, where in positions.items()
    )


def _describe(chars: Iterable[NonGsmChar], limit: int = 5) -> str:
    """``’ (U+2019) at 5, 9; U+001B at 12`` — unprintable characters shown by code point only."""
    chars = list(chars)
    shown: list[str] = []
    for item in chars[:limit]:
        name = f"{item.char} ({item.codepoint})" if item.char.isprintable() else item.codepoint
        where = ", ".join(str(p) for p in item.positions[:limit])
        if len(item.positions) > limit:
            where += f" and {len(item.positions) - limit} more"
        shown.append(f"{name} at {where}")
    if len(chars) > limit:
        shown.append(f"and {len(chars) - limit} more characters")
    return "; ".join(shown)


def _gsm7_check(text: str, replacements: tuple[Replacement, ...]) -> MessageCheck:
    units = sum(_SEPTETS[ch] for ch in text)
    parts = (text,) if units <= GSM7_SINGLE_LIMIT else _pack(_gsm7_atoms(text), GSM7_PART_LIMIT)
    return MessageCheck(
        text=text,
        encoding=Encoding.GSM7,
        characters=len(text),
        units=units,
        segments=len(parts),
        single_limit=GSM7_SINGLE_LIMIT,
        part_limit=GSM7_PART_LIMIT,
        parts=parts,
        non_gsm=(),
        replacements=replacements,
    )


def _ucs2_check(text: str, replacements: tuple[Replacement, ...]) -> MessageCheck:
    units = utf16_units(text)
    if units <= UCS2_SINGLE_LIMIT:
        parts: tuple[str, ...] = (text,)
    else:
        parts = _pack(_ucs2_atoms(text, UCS2_PART_LIMIT), UCS2_PART_LIMIT)
    return MessageCheck(
        text=text,
        encoding=Encoding.UCS2,
        characters=len(text),
        units=units,
        segments=len(parts),
        single_limit=UCS2_SINGLE_LIMIT,
        part_limit=UCS2_PART_LIMIT,
        parts=parts,
        non_gsm=_non_gsm(text),
        replacements=replacements,
    )


def _smart_candidate(text: str) -> tuple[str, tuple[Replacement, ...]] | None:
    """The smart-replaced text, or None when smart would change nothing useful.

    As Twilio's Smart Encoding does (encoding.md §9), replacements count only when the whole
    message then becomes GSM-7: with an emoji left over the message stays UCS-2 anyway, and
    rewriting its quotes would change the text for no saving. So the replacements go
    together or not at all: leaving one look-alike out would leave the message UCS-2.
    """
    replaced, replacements = smart_replace(text)
    if not replacements or not is_gsm7(replaced):
        return None
    return replaced, replacements


def _check_text(text: str, encoding: str, replacements: tuple[Replacement, ...]) -> MessageCheck:
    if encoding == "ucs2" or (encoding == "auto" and not is_gsm7(text)):
        return _ucs2_check(text, replacements)
    return _gsm7_check(text, replacements)


def _refuse_non_gsm7(text: str, smart: bool) -> InputError:
    offending = _non_gsm(text)
    fixable = [c for c in offending if c.lookalike is not None]
    if smart:
        # Smart was refused because of these; the look-alikes were never the problem.
        offending = tuple(c for c in offending if c.lookalike is None)
        hint = "use --encoding ucs2 (or auto)"
    elif len(fixable) == len(offending):
        hint = "use --smart to replace look-alikes, or --encoding ucs2"
    elif fixable:
        hint = "use --encoding ucs2 (--smart alone cannot replace every character)"
    else:
        hint = "use --encoding ucs2 (or auto)"
    return InputError(
        f"text has characters not in the GSM-7 alphabet: {_describe(offending)}",
        hint=hint,
        code="not_gsm7",
    )


def analyze(text: str, *, encoding: str = "auto", smart: bool = False) -> MessageCheck:
    """Encoding, units, segments and parts of ``text`` (SPEC §3).

    ``encoding`` is one of ENCODING_CHOICES (an ``Encoding`` member works too): ``auto`` picks
    GSM-7 when every character fits, else UCS-2 for the whole message; ``gsm7`` refuses text
    that does not fit (InputError ``not_gsm7``); ``ucs2`` forces UCS-2; ``binary`` sends the
    UTF-8 bytes of ``text`` as 8-bit data.

    ``smart`` replaces look-alikes (``smart_replace``) when that makes the whole message GSM-7
    and does not cost a segment: ``"…" * 54`` is one UCS-2 segment but 162 septets (two GSM-7
    segments), so it is kept as it is, and the check lists the replacements in ``skipped``.
    With ``encoding="gsm7"`` the original cannot be sent, so the replacements always apply.
    """
    if encoding not in ENCODING_CHOICES:
        raise UsageError(
            f"unknown encoding {encoding!r}",
            hint=f"use one of: {', '.join(ENCODING_CHOICES)}",
            code="invalid_encoding",
        )
    if encoding == "binary":
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(
                f"text cannot be encoded as UTF-8: {exc.reason} at {exc.start}",
                code="invalid_text",
            ) from exc
        return analyze_binary(data)

    candidate = _smart_candidate(text)
    if encoding == "gsm7":
        replacements: tuple[Replacement, ...] = ()
        if smart and candidate is not None:
            text, replacements = candidate
        if not is_gsm7(text):
            raise _refuse_non_gsm7(text, smart)
        return _check_text(text, encoding, replacements)

    original = _check_text(text, encoding, ())
    if candidate is None:
        return original
    replaced = _check_text(candidate[0], encoding, candidate[1])
    costs_segments = replaced.segments > original.segments
    if smart and not costs_segments:
        return replaced._replace(replaced_segments=replaced.segments)
    return original._replace(
        replaced_segments=replaced.segments,
        smart_segments=replaced.segments if replaced.segments < original.segments else None,
        skipped=candidate[1] if smart else (),
    )


def analyze_binary(data: bytes) -> MessageCheck:
    """8-bit data: octets split anywhere; ``text`` and ``parts`` are upper-case hex."""
    size = len(data)
    if size <= BINARY_SINGLE_LIMIT:
        chunks = [data]
    else:
        chunks = [data[i : i + BINARY_PART_LIMIT] for i in range(0, size, BINARY_PART_LIMIT)]
    parts = tuple(chunk.hex().upper() for chunk in chunks)
    return MessageCheck(
        text=data.hex().upper(),
        encoding=Encoding.BINARY,
        characters=size,
        units=size,
        segments=len(parts),
        single_limit=BINARY_SINGLE_LIMIT,
        part_limit=BINARY_PART_LIMIT,
        parts=parts,
        data=data,
    )


# --- binary input -------------------------------------------------------------------------------

_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_HEX_SEPARATORS: Final = frozenset(" \t\r\n:")


def _show(ch: str) -> str:
    return repr(ch) if ch.isprintable() else codepoint(ch)


def parse_hex(value: str) -> bytes:
    """``"DEADBEEF"``, ``"de ad be ef"``, ``"DE:AD:BE:EF"`` or ``"0xdeadbeef"`` → bytes.

    Separators (spaces, tabs, newlines, colons) may only stand between bytes, so a stray
    separator inside a byte (``"DE A D"``) is reported instead of silently re-pairing digits.
    """
    stripped = value.lstrip()
    start = len(value) - len(stripped) + 2 if stripped[:2] in ("0x", "0X") else 0
    digits: list[str] = []
    group_start = start
    group_len = 0
    for index in range(start, len(value) + 1):
        ch = value[index] if index < len(value) else " "
        if ch in _HEX_SEPARATORS:
            if group_len % 2:
                raise InputError(
                    f"invalid hex: odd number of digits in {value[group_start:index]!r} "
                    f"at position {group_start}",
                    hint="every byte needs two hex digits; separators go between bytes",
                    code="invalid_hex",
                )
            group_start, group_len = index + 1, 0
        elif ch in _HEX_DIGITS:
            digits.append(ch)
            group_len += 1
        else:
            raise InputError(
                f"invalid hex: {_show(ch)} at position {index} is not a hex digit",
                hint="use 0-9 and A-F, optionally with spaces or colons between bytes",
                code="invalid_hex",
            )
    if not digits:
        raise InputError("invalid hex: no data", code="invalid_hex")
    return bytes.fromhex("".join(digits))


_BASE64_ALPHABET: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
)


def parse_base64(value: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4, with padding); whitespace anywhere is ignored."""
    compact = "".join(value.split())
    if not compact:
        raise InputError("invalid base64: no data", code="invalid_base64")
    for index, ch in enumerate(value):
        if not ch.isspace() and ch not in _BASE64_ALPHABET:
            urlsafe = ch in "-_"
            raise InputError(
                f"invalid base64: {_show(ch)} at position {index} is not a base64 character",
                hint="that is URL-safe base64; use + and / instead of - and _" if urlsafe else None,
                code="invalid_base64",
            )
    if len(compact) % 4:
        raise InputError(
            f"invalid base64: length {len(compact)} is not a multiple of 4",
            hint="is the '=' padding missing?",
            code="invalid_base64",
        )
    try:
        data = base64.b64decode(compact, validate=True)
    except binascii.Error as exc:
        raise InputError(f"invalid base64: {exc}", code="invalid_base64") from exc
    if not data:
        raise InputError("invalid base64: no data", code="invalid_base64")
    return data


# --- concatenation headers ----------------------------------------------------------------------


def udh_parts(check: MessageCheck, reference: int) -> list[tuple[str, str]]:
    """One ``(udh_hex, payload)`` per part, for providers that take the UDH themselves (emnify).

    ``udh_hex`` is the 8-bit reference concatenation header ``050003RRTTPP`` (upper-case hex:
    reference, total parts, 1-based part number); a single-part message has no header (``""``).
    The payload is the part's text, or its hex for binary messages.
    """
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"UDH reference must be 0-255, got {reference}")
    total = len(check.parts)
    if total == 1:
        return [("", check.parts[0])]
    if total > MAX_PARTS:
        raise InputError(
            f"message needs {total} parts; a concatenated SMS has at most {MAX_PARTS}",
            code="too_many_parts",
        )
    return [
        (f"050003{reference:02X}{total:02X}{number:02X}", part)
        for number, part in enumerate(check.parts, start=1)
    ]
