"""smscli.encoding: GSM 03.38 tables, counting, splitting, smart replacement, binary input.

Boundary vectors come from /work/shared/reference/encoding.md (§1, §4, §7.1).
"""

from __future__ import annotations

import base64
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscli.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    LOOKALIKES,
    analyze,
    analyze_binary,
    grapheme_clusters,
    is_gsm7,
    parse_base64,
    parse_hex,
    septets,
    smart_replace,
    udh_parts,
    utf16_units,
)
from smscli.errors import ExitCode, InputError, UsageError
from smscli.models import Encoding, MessageCheck, NonGsmChar, Replacement

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦, 11 units
FLAG_FR = "\U0001f1eb\U0001f1f7"  # 🇫🇷
THUMB_TONE = "\U0001f44d\U0001f3fd"  # 👍🏽
E_ACUTE_NFD = "e\u0301"
KEYCAP = "#\ufe0f\u20e3"  # #️⃣
FLAG_SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
GRINNING = "\U0001f600"  # 😀


# --- tables -------------------------------------------------------------------------------------

# An independent transcription of encoding.md §2's "quick lists": printable ASCII minus ` and
# the eight extension characters, plus LF and CR, plus the 39 non-ASCII basic characters.
NON_ASCII_BASIC = "£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà"


def test_basic_table_matches_the_quick_lists() -> None:
    ascii_part = {chr(c) for c in range(0x20, 0x7F)} - set("`[\\]^{|}~")
    expected = ascii_part | {"\n", "\r"} | set(NON_ASCII_BASIC)
    assert len(NON_ASCII_BASIC) == 39
    assert len(GSM7_BASIC) == 127
    assert set(GSM7_BASIC) == expected


def test_extension_table() -> None:
    assert sorted(GSM7_EXTENSION) == sorted("\f^{}\\[~]|€")
    assert not set(GSM7_EXTENSION) & set(GSM7_BASIC)


@pytest.mark.parametrize(
    ("ch", "expected"),
    [
        pytest.param("a", 1, id="ascii-letter"),
        pytest.param("@", 1, id="at-sign"),
        pytest.param("Ç", 1, id="capital-c-cedilla"),
        pytest.param("Δ", 1, id="greek-delta"),
        pytest.param("¤", 1, id="currency-sign"),
        pytest.param("\r", 1, id="CR"),
        pytest.param("€", 2, id="euro"),
        pytest.param("\f", 2, id="form-feed"),
        pytest.param("]", 2, id="bracket"),
        pytest.param("ç", None, id="small-c-cedilla"),
        pytest.param("\x1b", None, id="raw-escape"),
        pytest.param("\xa0", None, id="NBSP"),
        pytest.param("`", None, id="backtick"),
        pytest.param("\t", None, id="tab"),
        pytest.param("Α", None, id="greek-capital-alpha"),
        pytest.param(GRINNING, None, id="emoji"),
    ],
)
def test_septets(ch: str, expected: int | None) -> None:
    assert septets(ch) == expected
    assert is_gsm7(ch) is (expected is not None)


# --- boundary tables ----------------------------------------------------------------------------


def _part_units(check: MessageCheck) -> list[int]:
    if check.encoding is Encoding.GSM7:
        return [sum(septets(ch) or 0 for ch in part) for part in check.parts]
    return [utf16_units(part) for part in check.parts]


GSM7_BOUNDARIES = [
    pytest.param("", 0, [0], id="empty"),
    pytest.param("a", 1, [1], id="1"),
    pytest.param("a" * 160, 160, [160], id="160"),
    pytest.param("a" * 161, 161, [153, 8], id="161"),
    pytest.param("a" * 306, 306, [153, 153], id="306"),
    pytest.param("a" * 307, 307, [153, 153, 1], id="307"),
    pytest.param("€" * 80, 160, [160], id="80-euro-single"),
    pytest.param("€" * 80 + "a", 161, [152, 9], id="80-euro-plus-a"),
    pytest.param("a" * 151 + "€" + "a" * 10, 163, [153, 10], id="euro-ends-on-153"),
    pytest.param("a" * 152 + "€" + "a" * 152, 306, [152, 153, 1], id="euro-straddles-153"),
    pytest.param("]" * 153, 306, [152, 152, 2], id="153-brackets"),
    pytest.param("a" * 80 + "\r\n" + "a" * 79, 161, [153, 8], id="CRLF"),
    pytest.param("a" * 80 + "\n" + "a" * 79, 160, [160], id="LF"),
]


@pytest.mark.parametrize(("text", "units", "part_units"), GSM7_BOUNDARIES)
def test_gsm7_boundaries(text: str, units: int, part_units: list[int]) -> None:
    check = analyze(text)
    assert check.encoding is Encoding.GSM7
    assert check.units == units
    assert check.segments == len(part_units)
    assert _part_units(check) == part_units
    assert "".join(check.parts) == text
    assert (check.single_limit, check.part_limit) == (160, 153)


def test_empty_text() -> None:
    check = analyze("")
    assert (check.encoding, check.units, check.segments, check.parts) == (
        Encoding.GSM7,
        0,
        1,
        ("",),
    )


def test_euro_straddle_part_contents() -> None:
    check = analyze("a" * 152 + "€" + "a" * 152)
    assert check.parts == ("a" * 152, "€" + "a" * 151, "a")


def test_brackets_billed_as_three_segments() -> None:
    check = analyze("]" * 153)
    assert check.parts == ("]" * 76, "]" * 76, "]")


UCS2_BOUNDARIES = [
    pytest.param("中" * 70, 70, [70], id="70"),
    pytest.param("中" * 71, 71, [67, 4], id="71"),
    pytest.param("中" * 134, 134, [67, 67], id="134"),
    pytest.param("中" * 135, 135, [67, 67, 1], id="135"),
    pytest.param(GRINNING * 35, 70, [70], id="35-emoji-single"),
    pytest.param(GRINNING * 35 + "a", 71, [66, 5], id="35-emoji-plus-a"),
    pytest.param("a" * 66 + GRINNING + "a" * 10, 78, [66, 12], id="emoji-straddles-67"),
    pytest.param("a" * 65 + GRINNING + "a" * 10, 77, [67, 10], id="emoji-ends-on-67"),
    pytest.param(GRINNING + "]" * 68, 70, [70], id="bracket-is-1-unit-in-ucs2"),
]


@pytest.mark.parametrize(("text", "units", "part_units"), UCS2_BOUNDARIES)
def test_ucs2_boundaries(text: str, units: int, part_units: list[int]) -> None:
    check = analyze(text)
    assert check.encoding is Encoding.UCS2
    assert check.units == units
    assert check.segments == len(part_units)
    assert _part_units(check) == part_units
    assert "".join(check.parts) == text
    assert (check.single_limit, check.part_limit) == (70, 67)


# encoding.md §7.1: a cluster across unit 67 moves whole to the next part.
@pytest.mark.parametrize(
    "cluster",
    [
        pytest.param(THUMB_TONE, id="skin-tone"),
        pytest.param(FLAG_FR, id="flag-pair"),
        pytest.param(E_ACUTE_NFD, id="combining-acute"),
        pytest.param(FAMILY, id="zwj-family"),
        pytest.param(KEYCAP, id="keycap"),
        pytest.param(FLAG_SCOTLAND, id="tag-flag"),
        pytest.param("\u2764\ufe0f", id="variation-selector"),
    ],
)
def test_cluster_never_split_across_parts(cluster: str) -> None:
    # 66 units, then a cluster of 2 or more units that would cross unit 67.
    check = analyze("a" * 66 + cluster + "a" * 70)
    assert check.parts[0] == "a" * 66
    assert check.parts[1].startswith(cluster)
    assert "".join(check.parts) == check.text


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        pytest.param("a" * 65 + THUMB_TONE + "a" * 64, 133, 3, id="skin-tone"),
        pytest.param("a" * 65 + FLAG_FR + "a" * 64, 133, 3, id="flag"),
        pytest.param("a" * 66 + E_ACUTE_NFD + "a" * 66, 134, 3, id="combining-mark"),
        pytest.param("é" * 70, 70, 1, id="precomposed-is-gsm7"),
        pytest.param(E_ACUTE_NFD * 70, 140, 3, id="decomposed-is-ucs2"),
    ],
)
def test_twilio_reference_counts(text: str, units: int, segments: int) -> None:
    check = analyze(text)
    assert (check.units, check.segments) == (units, segments)


def test_pathological_cluster_is_split_between_code_points() -> None:
    text = "a" + "\u0301" * 100
    check = analyze(text)
    assert check.units == 101
    assert check.parts == (text[:67], text[67:])


def test_pathological_cluster_keeps_astral_characters_whole() -> None:
    text = "a" + "\u200d\U0001f600" * 40  # one ZWJ chain of 121 units
    check = analyze(text)
    assert "".join(check.parts) == text
    assert all(utf16_units(part) <= 67 for part in check.parts)
    assert check.segments == 2


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        pytest.param("ç", Encoding.UCS2, id="small-c-cedilla"),
        pytest.param("Ç", Encoding.GSM7, id="capital-c-cedilla"),
        pytest.param("€", Encoding.GSM7, id="euro"),
        pytest.param("\x1b", Encoding.UCS2, id="raw-escape"),
        pytest.param("a\xa0b", Encoding.UCS2, id="NBSP"),
        pytest.param("ΔΦΓΛΩΠΨΣΘΞ", Encoding.GSM7, id="greek-gsm-capitals"),
        pytest.param("Α", Encoding.UCS2, id="greek-alpha"),
        pytest.param("a\tb", Encoding.UCS2, id="tab"),
    ],
)
def test_encoding_choice(text: str, encoding: Encoding) -> None:
    assert analyze(text).encoding is encoding


def test_euro_costs_two_septets() -> None:
    assert analyze("€").units == 2
    assert analyze("€" + GRINNING).units == 3  # 1 unit once the message is UCS-2


# --- report shape -------------------------------------------------------------------------------


def test_hello_world_json_shape() -> None:
    assert analyze("Hello world").to_json() == {
        "encoding": "gsm7",
        "characters": 11,
        "units": 11,
        "segments": 1,
        "single_limit": 160,
        "part_limit": 153,
        "parts": ["Hello world"],
        "non_gsm": [],
        "replacements": [],
    }


def test_non_gsm_characters_in_order_with_positions() -> None:
    check = analyze("It’s ç’" + GRINNING + "\x1b")
    assert check.non_gsm == (
        NonGsmChar("’", "U+2019", (2, 6), "'"),
        NonGsmChar("ç", "U+00E7", (5,), None),
        NonGsmChar(GRINNING, "U+1F600", (7,), None),
        NonGsmChar("\x1b", "U+001B", (8,), None),
    )
    assert check.characters == 9
    assert check.units == 10


def test_forced_ucs2_on_ascii() -> None:
    check = analyze("Hello", encoding="ucs2")
    assert check.encoding is Encoding.UCS2
    assert (check.units, check.single_limit, check.part_limit) == (5, 70, 67)
    assert check.non_gsm == ()


def test_forced_encoding_accepts_the_enum() -> None:
    assert analyze("Hello", encoding=Encoding.UCS2).encoding is Encoding.UCS2


def test_forced_gsm7_on_gsm_text() -> None:
    assert analyze("a" * 161, encoding="gsm7").segments == 2


def test_forced_gsm7_refuses_non_gsm() -> None:
    with pytest.raises(InputError) as info:
        analyze("Hey, ’tis", encoding="gsm7")
    assert info.value.code == "not_gsm7"
    assert info.value.exit_code is ExitCode.INVALID
    assert "not in the GSM-7 alphabet: ’ (U+2019) at 5" in info.value.message
    assert info.value.hint is not None
    assert "--smart" in info.value.hint


def test_forced_gsm7_names_unprintable_characters_by_code_point() -> None:
    with pytest.raises(InputError, match=r"U\+001B at 1") as info:
        analyze("a\x1b", encoding="gsm7")
    assert info.value.hint is not None
    assert "--smart" not in info.value.hint


def test_forced_gsm7_with_smart_reports_only_what_smart_cannot_fix() -> None:
    with pytest.raises(InputError) as info:
        analyze("It’s " + GRINNING, encoding="gsm7", smart=True)
    assert "U+1F600" in info.value.message
    assert "U+2019" not in info.value.message


def test_forced_gsm7_with_smart_succeeds() -> None:
    check = analyze("It’s", encoding="gsm7", smart=True)
    assert (check.encoding, check.text) == (Encoding.GSM7, "It's")


def test_unknown_encoding() -> None:
    with pytest.raises(UsageError):
        analyze("x", encoding="latin1")


def test_binary_encoding_sends_utf8_bytes() -> None:
    check = analyze("héllo", encoding="binary", smart=True)
    assert check.encoding is Encoding.BINARY
    assert check.data == "héllo".encode()
    assert check.units == 6
    assert check.text == "68C3A96C6C6F"


# --- smart replacement --------------------------------------------------------------------------


def test_smart_replaces_and_reports() -> None:
    check = analyze("It’s 5–6 “ok”", smart=True)
    assert check.encoding is Encoding.GSM7
    assert check.text == 'It\'s 5-6 "ok"'
    assert check.replacements == (
        Replacement("’", "U+2019", "'", (2,)),
        Replacement("–", "U+2013", "-", (6,)),
        Replacement("“", "U+201C", '"', (9,)),
        Replacement("”", "U+201D", '"', (12,)),
    )
    assert check.non_gsm == ()
    assert check.smart_segments is None


def test_without_smart_the_same_text_is_ucs2() -> None:
    check = analyze("It’s 5–6 “ok”")
    assert check.encoding is Encoding.UCS2
    assert check.replacements == ()
    assert check.smart_segments is None  # 1 segment either way


def test_smart_segments_when_smart_saves_a_segment() -> None:
    check = analyze("a" * 100 + "’")
    assert (check.encoding, check.segments, check.smart_segments) == (Encoding.UCS2, 2, 1)


def test_smart_segments_none_when_nothing_to_replace() -> None:
    assert analyze("a" * 300).smart_segments is None
    assert analyze("中" * 100).smart_segments is None


def test_smart_does_nothing_when_the_message_stays_ucs2() -> None:
    text = "It’s " + GRINNING
    check = analyze(text, smart=True)
    assert (check.encoding, check.text, check.replacements) == (Encoding.UCS2, text, ())
    assert analyze("’" * 100 + GRINNING).smart_segments is None


def test_smart_replace_positions_index_the_original_text() -> None:
    replaced, replacements = smart_replace("a…b…\xa0")
    assert replaced == "a...b... "
    assert replacements == (
        Replacement("…", "U+2026", "...", (1, 3)),
        Replacement("\xa0", "U+00A0", " ", (4,)),
    )


@pytest.mark.parametrize(
    ("char", "replacement"),
    [
        pytest.param("’", "'", id="right-single-quote"),
        pytest.param("‘", "'", id="left-single-quote"),
        pytest.param("‛", "'", id="reversed-single-quote"),
        pytest.param("“", '"', id="left-double-quote"),
        pytest.param("”", '"', id="right-double-quote"),
        pytest.param("„", '"', id="low-double-quote"),
        pytest.param("‟", '"', id="reversed-double-quote"),
        pytest.param("′", "'", id="prime"),
        pytest.param("″", '"', id="double-prime"),
        pytest.param("–", "-", id="en-dash"),
        pytest.param("—", "-", id="em-dash"),
        pytest.param("‒", "-", id="figure-dash"),
        pytest.param("―", "-", id="horizontal-bar"),
        pytest.param("−", "-", id="minus-sign"),
        pytest.param("‐", "-", id="hyphen"),
        pytest.param("‑", "-", id="non-breaking-hyphen"),
        pytest.param("•", "-", id="bullet"),
        pytest.param("…", "...", id="ellipsis"),
        pytest.param("\xa0", " ", id="NBSP"),
        pytest.param("\u2009", " ", id="thin-space"),
        pytest.param("\u202f", " ", id="narrow-NBSP"),
        pytest.param("\u3000", " ", id="ideographic-space"),
        pytest.param("«", '"', id="left-guillemet"),
        pytest.param("»", '"', id="right-guillemet"),
        pytest.param("‹", "<", id="single-left-guillemet"),
        pytest.param("\uff21", "A", id="fullwidth-A"),
        pytest.param("\uff41", "a", id="fullwidth-a"),
        pytest.param("\uff01", "!", id="fullwidth-exclamation"),
        pytest.param("\uff3b", "[", id="fullwidth-bracket"),
        pytest.param("\uff40", "'", id="fullwidth-grave"),
        pytest.param("\u200b", "", id="zero-width-space"),
    ],
)
def test_lookalikes(char: str, replacement: str) -> None:
    assert LOOKALIKES[char] == replacement


@pytest.mark.parametrize(
    "char",
    [
        pytest.param("ç", id="small-c-cedilla"),
        pytest.param("Α", id="greek-alpha"),
        pytest.param("\u200d", id="ZWJ"),
        pytest.param("\x1b", id="escape"),
        pytest.param("\u0301", id="combining-acute"),
    ],
)
def test_no_silent_lossy_folds(char: str) -> None:
    assert char not in LOOKALIKES


def test_lookalike_table_is_consistent() -> None:
    for char, replacement in LOOKALIKES.items():
        assert not is_gsm7(char), char
        assert is_gsm7(replacement), char


# --- binary input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("DEADBEEF", b"\xde\xad\xbe\xef", id="upper"),
        pytest.param("deadbeef", b"\xde\xad\xbe\xef", id="lower"),
        pytest.param("de ad be ef", b"\xde\xad\xbe\xef", id="spaces"),
        pytest.param("DE:AD:BE:EF", b"\xde\xad\xbe\xef", id="colons"),
        pytest.param("0xDEAD", b"\xde\xad", id="0x-prefix"),
        pytest.param("  0XdeAD\n", b"\xde\xad", id="0X-prefix-and-whitespace"),
        pytest.param("00", b"\x00", id="zero-byte"),
    ],
)
def test_parse_hex(value: str, expected: bytes) -> None:
    assert parse_hex(value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param("ABC", "odd number of digits", id="odd-length"),
        pytest.param("DE A D", r"odd number of digits in 'A' at position 3", id="split-byte"),
        pytest.param("DEAG", "'G' at position 3 is not a hex digit", id="bad-char"),
        pytest.param("DE-AD", "'-' at position 2", id="bad-separator"),
        pytest.param("", "no data", id="empty"),
        pytest.param("0x", "no data", id="prefix-only"),
        pytest.param(" : ", "no data", id="separators-only"),
    ],
)
def test_parse_hex_errors(value: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        parse_hex(value)
    assert info.value.code == "invalid_hex"
    assert info.value.message.startswith("invalid hex: ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("aGVsbG8=", b"hello", id="padded"),
        pytest.param("aGVs\nbG8=\n", b"hello", id="wrapped"),
        pytest.param("AAEC/w==", b"\x00\x01\x02\xff", id="slash"),
    ],
)
def test_parse_base64(value: str, expected: bytes) -> None:
    assert parse_base64(value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param("aGVsbG8", "not a multiple of 4", id="missing-padding"),
        pytest.param("AAEC_w==", "'_' at position 4", id="urlsafe"),
        pytest.param("aGV*bG8=", "'\\*' at position 3", id="bad-char"),
        pytest.param("====", "invalid base64", id="padding-only"),
        pytest.param("", "no data", id="empty"),
        pytest.param(" \n", "no data", id="whitespace-only"),
    ],
)
def test_parse_base64_errors(value: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        parse_base64(value)
    assert info.value.code == "invalid_base64"


@pytest.mark.parametrize(
    ("size", "segments"),
    [
        pytest.param(0, 1, id="0"),
        pytest.param(140, 1, id="140"),
        pytest.param(141, 2, id="141"),
        pytest.param(268, 2, id="268"),
        pytest.param(269, 3, id="269"),
    ],
)
def test_binary_boundaries(size: int, segments: int) -> None:
    data = bytes(range(256)) * 2
    check = analyze_binary(data[:size])
    assert check.encoding is Encoding.BINARY
    assert (check.characters, check.units, check.segments) == (size, size, segments)
    assert (check.single_limit, check.part_limit) == (140, 134)
    assert check.data == data[:size]
    assert "".join(check.parts) == check.text == data[:size].hex().upper()
    if segments > 1:
        assert check.parts[0] == data[:134].hex().upper()


# --- UDH ----------------------------------------------------------------------------------------


def test_udh_parts_numbering() -> None:
    check = analyze("a" * 307)
    assert udh_parts(check, 42) == [
        ("0500032A0301", "a" * 153),
        ("0500032A0302", "a" * 153),
        ("0500032A0303", "a"),
    ]


def test_udh_parts_reference_formatting() -> None:
    parts = udh_parts(analyze("a" * 161), 255)
    assert [udh for udh, _ in parts] == ["050003FF0201", "050003FF0202"]
    assert udh_parts(analyze("a" * 161), 0)[0][0] == "050003000201"


def test_udh_parts_single_part_has_no_header() -> None:
    assert udh_parts(analyze("Hello"), 7) == [("", "Hello")]


def test_udh_parts_binary_payload_is_hex() -> None:
    parts = udh_parts(analyze_binary(b"\xab" * 141), 1)
    assert parts == [("050003010201", "AB" * 134), ("050003010202", "AB" * 7)]


@pytest.mark.parametrize(
    "reference", [pytest.param(-1, id="negative"), pytest.param(256, id="256")]
)
def test_udh_parts_reference_range(reference: int) -> None:
    with pytest.raises(ValueError, match="0-255"):
        udh_parts(analyze("a" * 161), reference)


def test_udh_parts_at_most_255_parts() -> None:
    assert len(udh_parts(analyze("a" * 153 * 255), 1)) == 255
    with pytest.raises(InputError, match="at most 255"):
        udh_parts(analyze("a" * 153 * 255 + "a"), 1)


# --- grapheme clusters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clusters"),
    [
        pytest.param("ab", ["a", "b"], id="letters"),
        pytest.param(E_ACUTE_NFD + "x", [E_ACUTE_NFD, "x"], id="combining-mark"),
        pytest.param("\r\n\n", ["\r\n", "\n"], id="CRLF"),
        pytest.param(FLAG_FR * 2 + "\U0001f1eb", [FLAG_FR, FLAG_FR, "\U0001f1eb"], id="flags"),
        pytest.param(FAMILY + THUMB_TONE, [FAMILY, THUMB_TONE], id="zwj-and-modifier"),
        pytest.param(KEYCAP + FLAG_SCOTLAND, [KEYCAP, FLAG_SCOTLAND], id="keycap-and-tags"),
        pytest.param("a\u200d\n", ["a\u200d", "\n"], id="zwj-before-control"),
    ],
)
def test_grapheme_clusters(text: str, clusters: list[str]) -> None:
    assert grapheme_clusters(text) == clusters


# --- properties ---------------------------------------------------------------------------------

# Pieces that make cluster rules bite at part boundaries more often than st.text() does.
PIECES = [
    "a",
    "é",
    "€",
    "]",
    "\r",
    "\n",
    "\r\n",
    "中",
    "ç",
    "\x1b",
    "\xa0",
    "’",
    GRINNING,
    "\U0001f44d",
    "\U0001f3fd",
    "\u200d",
    "\u0301",
    "\u093f",  # a spacing mark (Mc)
    "\u0e19",  # Thai NO NU, then MAI THO and SARA AM: "น้ำ" is one cluster
    "\u0e49",
    "\u0e33",
    "\u0eb3",  # Lao AM
    "\ufe0f",
    "\u20e3",
    "\U0001f1eb",
    "\U0001f1f7",
    "\U000e0067",
    "\U000e007f",
    "\U000e0100",
    "\ud83d",  # halves of an explicit surrogate pair (a str can hold one)
    "\ude00",
]
tricky_text = st.lists(st.sampled_from(PIECES) | st.characters(), max_size=300).map("".join)
any_text = st.text() | tricky_text
gsm_text = st.text(alphabet=GSM7_BASIC + GSM7_EXTENSION, max_size=700)


def _is_extender(ch: str) -> bool:
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
        or cp in (0x200C, 0x200D, 0x20E3, 0x0E33, 0x0EB3)  # ..., Thai SARA AM, Lao AM
    )


def _is_ri(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _breaks_a_cluster(before: str, after: str) -> bool:
    prev, nxt = before[-1], after[0]
    trailing_ri = len(before) - len(before.rstrip("".join(map(chr, range(0x1F1E6, 0x1F200)))))
    return (
        _is_extender(nxt)
        or (prev == "\u200d" and unicodedata.category(nxt) not in ("Cc", "Zl", "Zp"))
        or (prev == "\r" and nxt == "\n")
        or ("\ud800" <= prev <= "\udbff" and "\udc00" <= nxt <= "\udfff")
        or (_is_ri(nxt) and trailing_ri % 2 == 1)
    )


def _check_invariants(check: MessageCheck, text: str) -> None:
    assert "".join(check.parts) == text == check.text
    assert check.segments == len(check.parts)
    assert check.characters == len(text)
    assert (check.segments == 1) is (check.units <= check.single_limit)
    units = _part_units(check)
    assert sum(units) == check.units
    if check.segments > 1:
        assert all(0 < u <= check.part_limit for u in units)


@given(any_text)
def test_property_split(text: str) -> None:
    check = analyze(text)
    _check_invariants(check, text)
    assert check.encoding is (Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2)
    if check.encoding is Encoding.UCS2:
        # surrogatepass: st.text() may produce lone surrogates; each is one code unit.
        assert check.units == len(text.encode("utf-16-le", "surrogatepass")) // 2
        assert {c.char for c in check.non_gsm} == {ch for ch in text if not is_gsm7(ch)}
        oversized = any(utf16_units(c) > check.part_limit for c in grapheme_clusters(text))
        if not oversized:
            done = ""
            for before, after in zip(check.parts, check.parts[1:], strict=False):
                done += before
                assert not _breaks_a_cluster(done, after), (before, after)


@given(any_text)
def test_property_forced_ucs2(text: str) -> None:
    check = analyze(text, encoding="ucs2")
    assert check.encoding is Encoding.UCS2
    _check_invariants(check, text)


@given(any_text)
def test_property_grapheme_clusters_cover_the_text(text: str) -> None:
    clusters = grapheme_clusters(text)
    assert "".join(clusters) == text
    assert all(clusters)


@given(gsm_text)
def test_property_gsm7(text: str) -> None:
    check = analyze(text)
    assert check.encoding is Encoding.GSM7
    assert check.units == len(text) + sum(ch in GSM7_EXTENSION for ch in text)
    assert check.non_gsm == ()
    _check_invariants(check, text)


@given(any_text)
def test_property_smart(text: str) -> None:
    replaced, replacements = smart_replace(text)
    by_position = {p: r.replacement for r in replacements for p in r.positions}
    assert replaced == "".join(by_position.get(i, ch) for i, ch in enumerate(text))
    for r in replacements:
        assert all(text[p] == r.char for p in r.positions)
        # A fraction next to a digit is set off by a space (1½ → "1 1/2"); nothing else changes.
        assert r.replacement == LOOKALIKES[r.char] or (
            r.char in "\u00bc\u00bd\u00be" and r.replacement.strip() == LOOKALIKES[r.char]
        )
    assert sum(len(r.positions) for r in replacements) == sum(ch in LOOKALIKES for ch in text)
    check = analyze(text)
    if check.smart_segments is not None:
        assert check.smart_segments < check.segments
        assert analyze(text, smart=True).segments == check.smart_segments
    smart = analyze(text, smart=True)
    _check_invariants(smart, smart.text)
    assert smart.smart_segments is None


@given(st.binary(min_size=1, max_size=600))
def test_property_hex_and_base64_round_trip(data: bytes) -> None:
    assert parse_hex(data.hex()) == data
    assert parse_hex(":".join(f"{b:02X}" for b in data)) == data
    assert parse_base64(base64.b64encode(data).decode()) == data
    check = analyze_binary(data)
    assert bytes.fromhex("".join(check.parts)) == data
    assert all(len(part) <= 2 * check.part_limit for part in check.parts)
    assert (check.segments == 1) is (len(data) <= 140)
