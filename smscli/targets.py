"""Target kinds, parsing and validation (SPEC §2 "Targets"). Pure: stdlib only, no I/O.

One module on purpose (~590 lines): a short parser per target kind (Luhn, digit and hex
rules) and the target-file readers, sharing one set of error helpers so that every
refusal names the target alike.

A target is ``KIND:VALUE`` or a bare phone number (= ``msisdn``). ``parse_target`` returns a
``models.Target`` with the canonical value (digits only, ``+`` for E.164, upper-case hex) and
a list of warnings; anything wrong is an ``InputError`` (exit 4) with a one-line reason that
names the target as the user typed it.

Decisions beyond the SPEC text:

- The kind prefix is recognised only before the first colon, and only when it looks like a
  word (``[A-Za-z][A-Za-z0-9_-]*``): ``name:a:b`` is the name ``a:b``; ``foo:1`` is an unknown
  kind; ``+49:170`` is a bare (and invalid) phone number.
- Whitespace around the whole target and around the value after the colon is stripped.
- ``msisdn``: a leading ``00`` is the international prefix (``0044…`` → ``+44…``); a number
  whose country code would start with ``0`` (``07911…``, ``+07…``) is a national number and an
  error, because E.164 country codes never start with 0. ``+44 (0)20…``: the ``(0)`` is the
  national trunk prefix and is dropped, with a warning (``+4420…``). A ``0`` right after the
  country code (``+61 0488…``, ``+610488…``, ``0061 0488…``) is the same trunk prefix written
  without parentheses, and is dropped with the same warning (``+61488…``), however the number
  is spaced: the country code's length comes from the ITU-T E.164 assignments
  (``country_code``). Countries whose numbers really begin with 0 after the country code
  (``KEEPS_ZERO``: Italy and the Vatican +39, San Marino +378, Côte d'Ivoire +225, Benin +229,
  Gabon +241, Congo +242) keep it.
- ``mdn`` accepts the same separators as ``msisdn`` and the ``1``/``+1`` 11-digit form.
- ``endpoint`` ids lose leading zeros (``007`` → ``7``); ``0`` is not a valid id.
- Digits are ASCII digits only (``str.isdigit`` would accept ``٣`` or ``²``).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from smscli.errors import InputError
from smscli.models import Target

__all__ = [
    "ALIASES",
    "KEEPS_ZERO",
    "KINDS",
    "country_code",
    "describe_kinds",
    "luhn_digit",
    "luhn_ok",
    "parse_target",
    "parse_targets",
    "read_target_lines",
    "trunk_zero_after_code",
]

KINDS: Final[dict[str, str]] = {
    "msisdn": "phone number, E.164 (+ optional, 7–15 digits)",
    "iccid": "SIM card number (ICCID), 18–22 digits",
    "imei": "device IMEI, 15 digits with a Luhn check digit (or 14, or 16 for IMEISV)",
    "imsi": "subscriber identity (IMSI), 6–15 digits",
    "mdn": "US mobile directory number, 10 digits",
    "meid": "CDMA device id (MEID), 14 hex digits",
    "esn": "electronic serial number (ESN), 8 hex or 11 decimal digits",
    "eid": "eUICC id (EID), 32 digits",
    "endpoint": "emnify numeric endpoint id",
    "name": "emnify endpoint name",
    "thing": "Telit thingKey",
}

ALIASES: Final[dict[str, str]] = {
    "thing_key": "thing",
    "thingkey": "thing",
    "phone": "msisdn",
    "number": "msisdn",
    "endpoint_id": "endpoint",
}

_EXAMPLES: Final[dict[str, str]] = {
    "msisdn": "+491701234567",
    "iccid": "89883030000067347689",
    "imei": "490154203237518",
    "imsi": "262011234567890",
    "mdn": "5551234567",
    "meid": "A0000012345678",
    "esn": "8A123456",
    "eid": "89049032123451234512345678901234",
    "endpoint": "1234567",
    "name": "my-tracker",
    "thing": "my-device_01",
}

_ASCII_DIGITS: Final = frozenset("0123456789")
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_PHONE_SEPARATORS: Final = frozenset(" -.()")
_ID_SEPARATORS: Final = frozenset(" -")
_BAD_CATEGORIES: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})  # control, surrogate, line/para
_KIND_WORD: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_TRUNK_ZERO: Final = re.compile(r"\(\s*0\s*\)")
# ITU-T E.164 country codes are prefix-free: 1 and 7 are one digit, these are two, and every
# other code is three digits (212 Morocco, 350 Gibraltar, 852 Hong Kong, 971 UAE, …).
_ONE_DIGIT_CODES: Final = frozenset({"1", "7"})
_TWO_DIGIT_CODES: Final = frozenset(
    {
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45",
        "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61",
        "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94",
        "95", "98",
    }
)  # fmt: skip
# Country codes whose national numbers begin with 0 in international format too: there a 0
# after the country code is part of the number, not a trunk prefix (Italy's +39 06… landlines
# and the Vatican's, San Marino's +378 0549…, and the West/Central African plans that moved
# the 0 into the number: Côte d'Ivoire 2021, Benin 2024, Congo, Gabon). A country missing
# here gets its 0 dropped with a warning; one here by mistake keeps it, as before.
KEEPS_ZERO: Final = frozenset({"39", "378", "225", "229", "241", "242"})
_TRAILING_COMMENT: Final = re.compile(r"\s#.*\Z", re.DOTALL)
_MAX_TEXT: Final = 255
_MAX_SHOWN: Final = 80


# --------------------------------------------------------------------------- Luhn


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (ASCII digits, check digit last) passes the Luhn check."""
    if not digits or not set(digits) <= _ASCII_DIGITS:
        return False
    return _luhn_sum(digits, double_last=False) % 10 == 0


def luhn_digit(digits_without_check: str) -> str:
    """The Luhn check digit to append to ``digits_without_check`` (ASCII digits)."""
    if not set(digits_without_check) <= _ASCII_DIGITS:
        raise ValueError(f"not a digit string: {digits_without_check!r}")
    return str((10 - _luhn_sum(digits_without_check, double_last=True) % 10) % 10)


def _luhn_sum(digits: str, *, double_last: bool) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if (i % 2 == 0) == double_last:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


# --------------------------------------------------------------------------- text helpers


def describe_kinds(kinds: Sequence[str]) -> str:
    """``["msisdn", "iccid", "imei"]`` → ``"msisdn, iccid or imei"``."""
    items = list(kinds)
    if not items:
        return "none"
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} or {items[-1]}"


def _show(text: str) -> str:
    """The target as typed, safe for a one-line message: escapes, and cut when very long."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 1] + "…"
    return f"'{shown}'"


def _char(c: str) -> str:
    if c.isprintable() and not c.isspace():
        return f"'{c}'"
    if c == " ":
        return "' '"
    return f"{repr(c)[1:-1]} (U+{ord(c):04X})"


def _hint(kind: str) -> str:
    return f"{kind}: {KINDS[kind]}, e.g. {kind}:{_EXAMPLES[kind]}"


def _invalid(kind: str, shown: str, reason: str, hint: str | None = None) -> InputError:
    return InputError(
        f"invalid {kind} {shown}: {reason}", hint=hint or _hint(kind), code="invalid_target"
    )


def _resolve_kind(word: str) -> str | None:
    word = word.strip().lower()
    if word in KINDS:
        return word
    return ALIASES.get(word)


# --------------------------------------------------------------------------- per kind


def _digits(kind: str, shown: str, value: str, separators: frozenset[str], expected: str) -> str:
    """ASCII digits of ``value`` with ``separators`` removed; any other character is an error."""
    out: list[str] = []
    for c in value:
        if c in _ASCII_DIGITS:
            out.append(c)
        elif c not in separators:
            raise _invalid(kind, shown, f"unexpected character {_char(c)}; expected {expected}")
    return "".join(out)


def _count(n: int) -> str:
    return f"{n} digit" if n == 1 else f"{n} digits"


def _parse_msisdn(shown: str, value: str, bare: bool, warnings: list[str]) -> str:
    expected = "digits, an optional leading + and the separators space - . ( )"
    hint = _hint("msisdn")
    if bare:
        hint += "; other kinds are written KIND:VALUE, e.g. iccid:89…"
    plus = False
    raw_digits: list[str] = []
    for c in value:
        if c in _ASCII_DIGITS:
            raw_digits.append(c)
        elif c == "+" and not plus and not raw_digits:
            plus = True
        elif c not in _PHONE_SEPARATORS:
            raise _invalid(
                "msisdn", shown, f"unexpected character {_char(c)}; expected {expected}", hint
            )
    digits = "".join(raw_digits)
    if not digits:
        raise _invalid("msisdn", shown, "no digits; a phone number has 7–15 digits (E.164)", hint)

    prefix_note = ""
    if not plus and digits.startswith("00"):
        digits = digits[2:]
        prefix_note = " after the 00 international prefix"
    international = plus or bool(prefix_note)

    # "+44 (0)20 7946 0958": the (0) is the trunk prefix, dialled only inside the country.
    trunk_at: int | None = None
    m = _TRUNK_ZERO.search(value) if international else None
    if m is not None:
        head = sum(1 for c in value[: m.start()] if c in _ASCII_DIGITS)
        head -= 0 if plus else 2
        if head > 0:
            trunk_at = head

    if trunk_at is not None:
        digits = digits[:trunk_at] + digits[trunk_at + 1 :]
    # "+61 0488 023 555": the trunk prefix without its parentheses (issue 9).
    after_code: str | None = None
    if trunk_at is None and trunk_zero_after_code(digits):
        after_code = country_code(digits)
        digits = after_code + digits[len(after_code) + 1 :]
    n = len(digits)
    if not 7 <= n <= 15:
        if bare and not plus and 18 <= len(raw_digits) <= 22:
            hint = f"did you mean iccid:{''.join(raw_digits)}?"
        raise _invalid(
            "msisdn",
            shown,
            f"{_count(n)}{prefix_note}, a phone number has 7–15 digits (E.164)",
            hint,
        )
    if digits[0] == "0":
        raise _invalid(
            "msisdn",
            shown,
            "starts with 0, like a national number; E.164 starts with the country code",
            "write it in international format, e.g. +44 7911 123456 for UK 07911 123456",
        )
    if trunk_at is not None:
        warnings.append(
            f"msisdn {shown}: dropped the (0) national trunk prefix, sending to +{digits}"
        )
    if after_code is not None:
        warnings.append(
            f"msisdn {shown}: dropped the national trunk prefix 0 after country code "
            f"+{after_code}, sending to +{digits}"
        )
    return "+" + digits


def country_code(digits: str) -> str:
    """The E.164 country code at the start of ``digits`` (international digits, no "+")."""
    if digits[:1] in _ONE_DIGIT_CODES:
        return digits[:1]
    if digits[:2] in _TWO_DIGIT_CODES:
        return digits[:2]
    return digits[:3]


def trunk_zero_after_code(digits: str) -> bool:
    """Is the digit after the country code a national trunk prefix 0 (``610488…``)?"""
    if not digits or digits[0] == "0":
        return False
    code = country_code(digits)
    return digits[len(code) : len(code) + 1] == "0" and code not in KEEPS_ZERO


def _parse_iccid(shown: str, value: str, warnings: list[str]) -> str:
    hint = None
    if value[-1:] in ("F", "f"):
        hint = "an ICCID is digits only: drop the trailing F filler; " + _hint("iccid")
    out: list[str] = []
    for c in value:
        if c in _ASCII_DIGITS:
            out.append(c)
        elif c not in _ID_SEPARATORS:
            raise _invalid(
                "iccid", shown, f"unexpected character {_char(c)}; expected 18–22 digits", hint
            )
    digits = "".join(out)
    if not 18 <= len(digits) <= 22:
        raise _invalid("iccid", shown, f"{_count(len(digits))}, an ICCID has 18–22 digits")
    if len(digits) == 20 and digits.startswith("89") and not luhn_ok(digits):
        warnings.append(
            f"iccid {digits}: Luhn check digit does not match "
            f"(expected {luhn_digit(digits[:-1])}); sending anyway"
        )
    return digits


def _parse_imei(shown: str, value: str) -> str:
    digits = _digits("imei", shown, value, _ID_SEPARATORS, "14–16 digits")
    if len(digits) == 15:
        if not luhn_ok(digits):
            raise _invalid(
                "imei",
                shown,
                f"check digit {digits[-1]} is wrong, expected {luhn_digit(digits[:-1])} (Luhn)",
            )
    elif len(digits) not in (14, 16):
        raise _invalid(
            "imei",
            shown,
            f"{_count(len(digits))}, an IMEI has 15 digits (14 without the check digit, "
            "16 for an IMEISV)",
        )
    return digits


def _parse_digits(kind: str, shown: str, value: str, low: int, high: int) -> str:
    span = f"{low}–{high} digits" if low != high else _count(low)
    digits = _digits(kind, shown, value, _ID_SEPARATORS, span)
    if not low <= len(digits) <= high:
        raise _invalid(kind, shown, f"{_count(len(digits))}, expected {span}")
    return digits


def _parse_mdn(shown: str, value: str) -> str:
    plus = False
    out: list[str] = []
    for c in value:
        if c in _ASCII_DIGITS:
            out.append(c)
        elif c == "+" and not plus and not out:
            plus = True
        elif c not in _PHONE_SEPARATORS:
            raise _invalid("mdn", shown, f"unexpected character {_char(c)}; expected 10 digits")
    digits = "".join(out)
    if len(digits) == 11 and digits[0] == "1":
        return digits[1:]
    if plus:
        raise _invalid("mdn", shown, "a + is only allowed in the +1 form (+1 and 10 digits)")
    if len(digits) != 10:
        raise _invalid("mdn", shown, f"{_count(len(digits))}, an MDN has 10 digits")
    return digits


def _hex_or_digits(kind: str, shown: str, value: str) -> str:
    out: list[str] = []
    for c in value:
        if c in _HEX:
            out.append(c.upper())
        elif c not in _ID_SEPARATORS:
            raise _invalid(kind, shown, f"unexpected character {_char(c)}; expected hex digits")
    return "".join(out)


def _parse_meid(shown: str, value: str) -> str:
    hexd = _hex_or_digits("meid", shown, value)
    if len(hexd) != 14:
        raise _invalid("meid", shown, f"{len(hexd)} hex digits, an MEID has 14")
    return hexd


def _parse_esn(shown: str, value: str) -> str:
    hexd = _hex_or_digits("esn", shown, value)
    if len(hexd) == 8 or (len(hexd) == 11 and set(hexd) <= _ASCII_DIGITS):
        return hexd
    if len(hexd) == 11:
        raise _invalid("esn", shown, "11 characters with hex letters; an 11-digit ESN is decimal")
    raise _invalid(
        "esn", shown, f"{len(hexd)} characters, expected 8 hex digits or 11 decimal digits"
    )


def _parse_endpoint(shown: str, value: str) -> str:
    for c in value:
        if c not in _ASCII_DIGITS:
            raise _invalid(
                "endpoint", shown, f"unexpected character {_char(c)}; expected a positive integer"
            )
    if len(value) > 18:
        raise _invalid("endpoint", shown, f"{_count(len(value))}, an endpoint id has at most 18")
    number = int(value)
    if number == 0:
        raise _invalid("endpoint", shown, "0 is not an endpoint id; expected a positive integer")
    return str(number)


def _parse_text(kind: str, shown: str, value: str, *, spaces: bool) -> str:
    if len(value) > _MAX_TEXT:
        raise _invalid(kind, shown, f"{len(value)} characters, at most {_MAX_TEXT}")
    for c in value:
        if unicodedata.category(c) in _BAD_CATEGORIES:
            raise _invalid(kind, shown, f"control character {_char(c)} is not allowed")
        if not spaces and c.isspace():
            raise _invalid(kind, shown, f"whitespace {_char(c)} is not allowed")
    return value


# --------------------------------------------------------------------------- public


def parse_target(raw: str, accepted: Sequence[str] | None = None) -> tuple[Target, list[str]]:
    """Parse and validate one ``KIND:VALUE`` or bare phone number.

    Returns the target (canonical value) and warnings. ``accepted`` lists the kinds the
    provider takes (None: every kind); another kind is an ``unsupported_target`` error.
    """
    text = raw.strip()
    shown = _show(text)
    if not text:
        raise InputError(
            "empty target; expected KIND:VALUE or a phone number",
            hint=f"kinds: {', '.join(KINDS)}",
            code="invalid_target",
        )

    kind: str | None = None
    value = text
    bare = True
    head, colon, tail = text.partition(":")
    if colon and _KIND_WORD.fullmatch(head.strip()):
        kind = _resolve_kind(head)
        if kind is None:
            raise InputError(
                f"unknown target kind '{head.strip()}' in {shown}; kinds: {', '.join(KINDS)}",
                hint="aliases: " + ", ".join(f"{a} → {k}" for a, k in ALIASES.items()),
                code="invalid_target",
            )
        value = tail.strip()
        bare = False
    elif (alone := _resolve_kind(text)) is not None:
        raise InputError(
            f"target {shown} has no value; write {alone}:VALUE",
            hint=_hint(alone),
            code="invalid_target",
        )
    if kind is None:
        kind = "msisdn"

    if accepted is not None:
        allowed = [k for k in (_resolve_kind(a) for a in accepted) if k is not None]
        if kind not in allowed:
            raise _unsupported(kind, shown, text, bare, allowed)

    if not value:
        raise _invalid(kind, shown, f"empty value; expected {KINDS[kind]}")

    warnings: list[str] = []
    canonical = _parse_value(kind, shown, value, bare, warnings)
    return Target(kind, canonical), warnings


def _parse_value(kind: str, shown: str, value: str, bare: bool, warnings: list[str]) -> str:
    if kind == "msisdn":
        return _parse_msisdn(shown, value, bare, warnings)
    if kind == "iccid":
        return _parse_iccid(shown, value, warnings)
    if kind == "imei":
        return _parse_imei(shown, value)
    if kind == "imsi":
        return _parse_digits("imsi", shown, value, 6, 15)
    if kind == "mdn":
        return _parse_mdn(shown, value)
    if kind == "meid":
        return _parse_meid(shown, value)
    if kind == "esn":
        return _parse_esn(shown, value)
    if kind == "eid":
        return _parse_digits("eid", shown, value, 32, 32)
    if kind == "endpoint":
        return _parse_endpoint(shown, value)
    if kind == "name":
        return _parse_text("name", shown, value, spaces=True)
    if kind == "thing":
        return _parse_text("thing", shown, value, spaces=False)
    raise AssertionError(f"unhandled kind {kind}")  # pragma: no cover


def _unsupported(
    kind: str, shown: str, text: str, bare: bool, allowed: Sequence[str]
) -> InputError:
    kinds = describe_kinds(allowed)
    if bare:
        message = (
            f"target {shown} is a phone number (msisdn), which this provider does not accept; "
            f"it accepts {kinds}"
        )
        digits = "".join(c for c in text if c in _ASCII_DIGITS)
        if "iccid" in allowed and 18 <= len(digits) <= 22 and set(text) <= _ASCII_DIGITS | {" "}:
            hint = f"did you mean iccid:{digits}?"
        else:
            first = allowed[0] if allowed else "iccid"
            hint = f"write KIND:VALUE, e.g. {first}:{_EXAMPLES.get(first, '…')}"
    else:
        message = f"unsupported target kind '{kind}' in {shown}; this provider accepts {kinds}"
        hint = f"kinds this provider accepts: {kinds}"
    return InputError(message, hint=hint, code="unsupported_target")


def parse_targets(
    raws: Iterable[str], accepted: Sequence[str] | None = None
) -> tuple[list[Target], list[str]]:
    """Parse every target; the first invalid one raises. Duplicates are kept once, with a
    warning. The error message is prefixed with the target's position (``target 3: …``)."""
    targets: list[Target] = []
    warnings: list[str] = []
    seen: set[Target] = set()
    for n, raw in enumerate(raws, start=1):
        try:
            target, found = parse_target(raw, accepted)
        except InputError as exc:
            raise InputError(f"target {n}: {exc.message}", hint=exc.hint, code=exc.code) from exc
        warnings.extend(found)
        if target in seen:
            warnings.append(f"duplicate target {target} (target {n}) sent once")
            continue
        seen.add(target)
        targets.append(target)
    return targets, warnings


def read_target_lines(lines: Iterable[str]) -> Iterator[str]:
    """Yield raw targets from ``--to-file`` lines, lazily.

    Plain: one target per line; blank lines, ``#`` lines and trailing `` # …`` comments are
    skipped. CSV: when the first non-comment line has a ``to`` column (any case; delimiter
    ``,``, ``;`` or tab) it is a header, and that column's non-empty cells are yielded.
    """
    for row in read_target_rows(lines):
        yield row["to"]


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _plain(line: str) -> Iterator[str]:
    if _is_blank_or_comment(line):
        return
    target = _TRAILING_COMMENT.sub("", line).strip()
    if target:
        yield target


def _csv_header(line: str) -> tuple[str, int] | None:
    for delimiter in (",", ";", "\t"):
        if delimiter not in line and delimiter != ",":
            continue
        try:
            row = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:  # not CSV at all: a plain target line
            return None
        names = [cell.strip().lower() for cell in row]
        if "to" in names:
            return delimiter, names.index("to")
    return None


def read_target_rows(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """Like ``read_target_lines``, but yield whole rows: ``{"to": target}`` for plain lines,
    and every column (header names as written, plus ``to``) for CSV, for ``--template``.

    A CSV row with an empty ``to`` cell is skipped, as in ``read_target_lines``.
    """
    it = iter(lines)
    for line in it:
        line = line.removeprefix("\ufeff")
        if _is_blank_or_comment(line):
            continue
        header = _csv_header(line)
        if header is not None:
            delimiter, column = header
            names = [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
            names[column] = "to"
            yield from _csv_rows(it, delimiter, names)
            return
        for target in _plain(line):
            yield {"to": target}
        break
    for line in it:
        for target in _plain(line):
            yield {"to": target}


def _csv_rows(lines: Iterator[str], delimiter: str, names: list[str]) -> Iterator[dict[str, str]]:
    rows = csv.reader((ln for ln in lines if not ln.lstrip().startswith("#")), delimiter=delimiter)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(
                f"targets file: CSV row {rows.line_num + 1} is unreadable: {exc}",
                hint="one target per line, or CSV with a 'to' column",
                code="invalid_target",
            ) from exc
        cells = dict(zip(names, (c.strip() for c in row), strict=False))
        if cells.get("to"):
            yield cells


def csv_columns(lines: Iterable[str]) -> list[str] | None:
    """The header of a CSV targets file (None for a plain list of targets)."""
    for line in lines:
        line = line.removeprefix("\ufeff")
        if _is_blank_or_comment(line):
            continue
        header = _csv_header(line)
        if header is None:
            return None
        names = [c.strip() for c in next(csv.reader([line], delimiter=header[0]))]
        names[header[1]] = "to"
        return names
    return None
