"""smscli.targets: target kinds, parsing, validation and --to-file reading (SPEC §2)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from smscli.errors import ExitCode, InputError
from smscli.models import Target
from smscli.targets import (
    KINDS,
    describe_kinds,
    luhn_digit,
    luhn_ok,
    parse_target,
    parse_targets,
    read_target_lines,
    trunk_zero_after_code,
)

VALID_IMEI = "490154203237518"
ICCID_OK = "89883030000067347689"  # 20 digits, 89…, Luhn digit 9
ICCID_BAD = "89883030000067347682"  # same, wrong Luhn digit
ICCID_19 = "8988303000006734768"  # emnify's form, without the check digit


def _error(raw: str, accepted: tuple[str, ...] | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        parse_target(raw, accepted)
    return info.value


# --------------------------------------------------------------------------- KINDS


def test_kinds_are_the_spec_kinds() -> None:
    assert list(KINDS) == [
        "msisdn",
        "iccid",
        "imei",
        "imsi",
        "mdn",
        "meid",
        "esn",
        "eid",
        "endpoint",
        "name",
        "thing",
    ]
    assert all(desc and "\n" not in desc for desc in KINDS.values())


# --------------------------------------------------------------------------- valid targets

VALID = [
    # msisdn
    ("+491701234567", "msisdn", "+491701234567"),
    ("491701234567", "msisdn", "+491701234567"),
    ("msisdn:+491701234567", "msisdn", "+491701234567"),
    ("+49 170 1234567", "msisdn", "+491701234567"),
    ("+49-170-123-4567", "msisdn", "+491701234567"),
    ("+49.170.123.4567", "msisdn", "+491701234567"),
    ("+1 (555) 123-4567", "msisdn", "+15551234567"),
    ("(+49) 170 1234567", "msisdn", "+491701234567"),
    ("0044 20 7946 0958", "msisdn", "+442079460958"),
    ("00491701234567", "msisdn", "+491701234567"),
    ("+1234567", "msisdn", "+1234567"),
    ("+123456789012345", "msisdn", "+123456789012345"),
    ("123456789012345", "msisdn", "+123456789012345"),
    ("  +491701234567\t\n", "msisdn", "+491701234567"),
    ("phone:+491701234567", "msisdn", "+491701234567"),
    ("NUMBER:+491701234567", "msisdn", "+491701234567"),
    ("MSISDN: +49 170 1234567", "msisdn", "+491701234567"),
    # iccid
    (f"iccid:{ICCID_OK}", "iccid", ICCID_OK),
    (f"iccid:{ICCID_19}", "iccid", ICCID_19),
    ("iccid:8988 3030 0000 6734 7689", "iccid", ICCID_OK),
    ("iccid:8988-3030-0000-6734-7689", "iccid", ICCID_OK),
    ("iccid:898830300000673476", "iccid", "898830300000673476"),
    ("iccid:8988303000006734768912", "iccid", "8988303000006734768912"),
    ("ICCID:12345678901234567890", "iccid", "12345678901234567890"),
    # imei
    (f"imei:{VALID_IMEI}", "imei", VALID_IMEI),
    ("imei:49-015420-323751-8", "imei", VALID_IMEI),
    ("imei:49015420323751", "imei", "49015420323751"),
    ("imei:4901542032375101", "imei", "4901542032375101"),
    # imsi
    ("imsi:262011234567890", "imsi", "262011234567890"),
    ("imsi:262011", "imsi", "262011"),
    # mdn
    ("mdn:5551234567", "mdn", "5551234567"),
    ("mdn:(555) 123-4567", "mdn", "5551234567"),
    ("mdn:15551234567", "mdn", "5551234567"),
    ("mdn:+1 555 123 4567", "mdn", "5551234567"),
    # meid
    ("meid:A0000012345678", "meid", "A0000012345678"),
    ("meid:a0000012345abc", "meid", "A0000012345ABC"),
    # esn
    ("esn:8a123456", "esn", "8A123456"),
    ("esn:12345678", "esn", "12345678"),
    ("esn:12345678901", "esn", "12345678901"),
    # eid
    ("eid:" + "8904903212345123451234567890123" + "4", "eid", "89049032123451234512345678901234"),
    # endpoint
    ("endpoint:1234567", "endpoint", "1234567"),
    ("endpoint_id:42", "endpoint", "42"),
    ("endpoint:007", "endpoint", "7"),
    ("endpoint:999999999999999999", "endpoint", "999999999999999999"),
    # name: verbatim, case kept, colons inside
    ("name:arduino", "name", "arduino"),
    ("name:My Tracker #3", "name", "My Tracker #3"),
    ("name:site:berlin:gate-2", "name", "site:berlin:gate-2"),
    ("NAME:Ünïcode ✓", "name", "Ünïcode ✓"),
    ("name:" + "x" * 255, "name", "x" * 255),
    # thing
    ("thing:my-device_01", "thing", "my-device_01"),
    ("thing_key:my-device_01", "thing", "my-device_01"),
    ("ThingKey:ABC.def:1", "thing", "ABC.def:1"),
]


@pytest.mark.parametrize(("raw", "kind", "value"), VALID, ids=[v[0].strip() for v in VALID])
def test_valid_targets(raw: str, kind: str, value: str) -> None:
    target, warnings = parse_target(raw)
    assert target == Target(kind, value)
    assert warnings == []
    assert str(target) == f"{kind}:{value}"


def test_canonical_target_parses_to_itself() -> None:
    for raw, _, _ in VALID:
        target, _ = parse_target(raw)
        assert parse_target(str(target))[0] == target


# --------------------------------------------------------------------------- invalid targets

INVALID = [
    # (raw, fragments that must appear in the message)
    ("+12 34", ["invalid msisdn '+12 34'", "4 digits", "7–15 digits"]),
    ("+1234567890123456", ["16 digits"]),
    ("+49 170 CALL-ME", ["'C'"]),
    ("+49 170 123456x", ["'x'"]),
    ("+49+1701234567", ["'+'"]),
    ("49170123+4567", ["'+'"]),
    ("+49/170/1234567", ["'/'"]),
    ("+", ["no digits"]),
    ("msisdn:", ["empty value"]),
    ("+٤٩١٧٠١٢٣٤٥٦٧", ["unexpected character '٤'"]),  # Arabic-Indic digits are not ASCII
    ("001234", ["4 digits after the 00 international prefix"]),
    ("07911 123456", ["starts with 0"]),
    ("+0441701234567", ["starts with 0"]),
    ("iccid:12345678901234567", ["17 digits", "18–22"]),
    ("iccid:12345678901234567890123", ["23 digits"]),
    ("iccid:8988303000006734768F", ["'F'"]),
    ("iccid:89.88303000006734768", ["'.'"]),
    ("imei:4901542032375", ["13 digits"]),
    ("imei:49015420323751801", ["17 digits"]),
    ("imei:49015420323751A", ["'A'"]),
    ("imsi:26201", ["5 digits", "6–15"]),
    ("imsi:2620112345678901", ["16 digits"]),
    ("mdn:555123456", ["9 digits", "10 digits"]),
    ("mdn:25551234567", ["11 digits"]),
    ("mdn:+5551234567", ["+1 form"]),
    ("meid:A000001234567", ["13 hex digits", "14"]),
    ("meid:G0000012345678", ["'G'"]),
    ("esn:8A1234567", ["9 characters"]),
    ("esn:8A123456789", ["hex letters"]),
    ("eid:" + "1" * 31, ["31 digits", "32 digits"]),
    ("endpoint:0", ["positive integer"]),
    ("endpoint:-5", ["'-'"]),
    ("endpoint:+5", ["'+'"]),
    ("endpoint:12 34", ["' '"]),
    ("endpoint:1234567890123456789", ["19 digits"]),
    ("name:", ["empty value"]),
    ("name:   ", ["empty value"]),
    ("name:" + "x" * 256, ["256 characters", "at most 255"]),
    ("name:bad\x07bell", ["control character", "U+0007"]),
    ("name:two\nlines", ["control character", "U+000A"]),
    ("thing:my device", ["whitespace ' '"]),
    ("thing:tab\there", ["U+0009"]),
    ("thing:" + "t" * 256, ["256 characters"]),
    ("", ["empty target"]),
    ("   ", ["empty target"]),
    ("iccid", ["has no value", "iccid:VALUE"]),
    ("+49:170", ["':'"]),
]


@pytest.mark.parametrize(("raw", "fragments"), INVALID, ids=[v[0][:40] for v in INVALID])
def test_invalid_targets(raw: str, fragments: list[str]) -> None:
    err = _error(raw)
    assert err.code == "invalid_target"
    assert err.exit_code == ExitCode.INVALID
    assert "\n" not in err.message
    assert err.hint
    for fragment in fragments:
        assert fragment in err.message


def test_msisdn_message_is_exact() -> None:
    err = _error("+12 34")
    assert err.message == (
        "invalid msisdn '+12 34': 4 digits, a phone number has 7–15 digits (E.164)"
    )


def test_message_names_the_target_as_typed_with_kind() -> None:
    assert "'msisdn:+12 34'" in _error("  msisdn:+12 34  ").message
    assert "'imsi:26201'" in _error("imsi:26201").message


def test_control_characters_are_escaped_in_messages() -> None:
    err = _error("+49\r170")
    assert "\r" not in err.message
    assert "'+49\\r170'" in err.message


def test_very_long_target_is_shortened_in_messages() -> None:
    err = _error("name:" + "x" * 1000)
    assert len(err.message) < 200
    assert "…" in err.message


def test_bare_iccid_hints_at_iccid_kind() -> None:
    err = _error(ICCID_OK)
    assert err.code == "invalid_target"
    assert "20 digits" in err.message
    assert err.hint == f"did you mean iccid:{ICCID_OK}?"


def test_bare_long_number_with_plus_has_no_iccid_hint() -> None:
    err = _error("+" + ICCID_OK)
    assert "20 digits" in err.message
    assert not (err.hint or "").startswith("did you mean")


def test_bare_15_digit_luhn_number_stays_msisdn() -> None:
    # Never guessed to be an IMEI. (Read as +49 0154…, its 0 after the country code is a
    # trunk prefix, dropped with a warning: issue 9.)
    target, warnings = parse_target(VALID_IMEI)
    assert target == Target("msisdn", "+49" + VALID_IMEI[3:])
    assert "trunk prefix 0 after country code +49" in warnings[0]
    assert parse_target("491542032375180") == (Target("msisdn", "+491542032375180"), [])


def test_iccid_filler_f_hint() -> None:
    err = _error("iccid:8988303000006734768F")
    assert "filler" in (err.hint or "")


def test_national_number_hint_mentions_international_format() -> None:
    err = _error("07911 123456")
    assert "international" in (err.hint or "")


# --------------------------------------------------------------------------- msisdn details


def test_trunk_zero_in_parentheses_is_dropped_with_warning() -> None:
    target, warnings = parse_target("+44 (0)20 7946 0958")
    assert target == Target("msisdn", "+442079460958")
    assert len(warnings) == 1
    assert "(0)" in warnings[0]
    assert "+442079460958" in warnings[0]


def test_trunk_zero_after_00_prefix() -> None:
    target, warnings = parse_target("0044 (0) 20 7946 0958")
    assert target == Target("msisdn", "+442079460958")
    assert warnings


def test_other_parentheses_are_only_separators() -> None:
    assert parse_target("+1 (555) 123-4567") == (Target("msisdn", "+15551234567"), [])
    assert parse_target("+49 (170) 1234567") == (Target("msisdn", "+491701234567"), [])


def test_national_trunk_zero_without_country_code_is_an_error() -> None:
    assert "starts with 0" in _error("(0)20 7946 0958").message


# --------------------------------------------------------------------------- Luhn


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("79927398713", True),
        ("79927398710", False),
        (VALID_IMEI, True),
        (ICCID_OK, True),
        (ICCID_BAD, False),
        ("0", True),
        ("", False),
        ("12a4", False),
        ("٠", False),
    ],
    ids=[
        "wikipedia",
        "wikipedia-bad",
        "imei",
        "iccid",
        "iccid-bad",
        "zero",
        "empty",
        "letter",
        "non-ascii",
    ],
)
def test_luhn_ok(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok


def test_luhn_digit() -> None:
    assert luhn_digit("7992739871") == "3"
    assert luhn_digit(VALID_IMEI[:-1]) == "8"
    assert luhn_digit(ICCID_19) == "9"
    assert luhn_digit("") == "0"
    with pytest.raises(ValueError):
        luhn_digit("12x")


def test_imei_wrong_check_digit_names_expected_digit() -> None:
    err = _error("imei:490154203237519")
    assert err.code == "invalid_target"
    assert "expected 8" in err.message
    assert "'imei:490154203237519'" in err.message


@pytest.mark.parametrize("last", [d for d in "0123456789" if d != "8"])
def test_imei_every_wrong_check_digit_is_an_error(last: str) -> None:
    assert "expected 8" in _error("imei:" + VALID_IMEI[:-1] + last).message


def test_iccid_luhn_mismatch_is_a_warning() -> None:
    target, warnings = parse_target(f"iccid:{ICCID_BAD}")
    assert target == Target("iccid", ICCID_BAD)
    assert warnings == [
        f"iccid {ICCID_BAD}: Luhn check digit does not match (expected 9); sending anyway"
    ]


def test_iccid_luhn_checked_only_on_20_digits_starting_89() -> None:
    assert parse_target("iccid:" + ICCID_19[:-1] + "0")[1] == []  # 19 digits: never checked
    assert parse_target("iccid:12345678901234567890")[1] == []  # 20 digits, not 89…
    assert parse_target("iccid:898830300000673476825")[1] == []  # 21 digits
    assert parse_target(f"iccid:{ICCID_OK}")[1] == []


# --------------------------------------------------------------------------- kinds and accepted


def test_unknown_kind() -> None:
    err = _error("foo:123")
    assert err.code == "invalid_target"
    assert err.message.startswith("unknown target kind 'foo'")
    assert "kinds: msisdn, iccid, imei" in err.message
    assert "thing" in err.message


@pytest.mark.parametrize("raw", ["tel:+491701234567", "e164:+491701234567", "Sim_Id:1"])
def test_alphabetic_prefixes_are_unknown_kinds(raw: str) -> None:
    assert "unknown target kind" in _error(raw).message


def test_unsupported_kind_lists_accepted() -> None:
    err = _error(f"imei:{VALID_IMEI}", accepted=("iccid",))
    assert err.code == "unsupported_target"
    assert err.exit_code == ExitCode.INVALID
    assert "'imei'" in err.message
    assert "accepts iccid" in err.message


def test_unsupported_bare_phone_number() -> None:
    err = _error("+491701234567", accepted=("iccid",))
    assert err.code == "unsupported_target"
    assert "msisdn" in err.message
    assert "iccid" in err.message


def test_unsupported_bare_iccid_lookalike_hints_iccid() -> None:
    err = _error(ICCID_OK, accepted=("iccid",))
    assert err.code == "unsupported_target"
    assert err.hint == f"did you mean iccid:{ICCID_OK}?"


def test_unsupported_several_kinds_described() -> None:
    err = _error("thing:abc", accepted=("endpoint", "iccid", "name"))
    assert "accepts endpoint, iccid or name" in err.message


def test_accepted_kind_passes_and_still_validates() -> None:
    assert parse_target(f"iccid:{ICCID_OK}", accepted=("iccid",))[0] == Target("iccid", ICCID_OK)
    assert _error("iccid:123", accepted=("iccid",)).code == "invalid_target"


def test_alias_is_resolved_before_accepted_check() -> None:
    target, _ = parse_target("thing_key:dev-1", accepted=("thing", "msisdn"))
    assert target == Target("thing", "dev-1")


def test_accepted_none_allows_every_kind() -> None:
    for kind in KINDS:
        raw = next(r for r, k, _ in VALID if k == kind)
        assert parse_target(raw, None)[0].kind == kind


def test_name_value_keeps_colons_and_case() -> None:
    target, _ = parse_target("name:Gate:A:1")
    assert target == Target("name", "Gate:A:1")
    assert str(target) == "name:Gate:A:1"


@pytest.mark.parametrize(
    ("kinds", "text"),
    [
        ([], "none"),
        (["iccid"], "iccid"),
        (["iccid", "imei"], "iccid or imei"),
        (["msisdn", "iccid", "imei"], "msisdn, iccid or imei"),
    ],
    ids=["none", "one", "two", "three"],
)
def test_describe_kinds(kinds: list[str], text: str) -> None:
    assert describe_kinds(kinds) == text


# --------------------------------------------------------------------------- parse_targets


def test_parse_targets_keeps_order_and_collects_warnings() -> None:
    targets, warnings = parse_targets(["+491701234567", f"iccid:{ICCID_BAD}", "name:x"])
    assert targets == [
        Target("msisdn", "+491701234567"),
        Target("iccid", ICCID_BAD),
        Target("name", "x"),
    ]
    assert len(warnings) == 1
    assert "Luhn" in warnings[0]


def test_parse_targets_deduplicates_canonical_values() -> None:
    targets, warnings = parse_targets(
        ["+49 170 1234567", "name:a", "00491701234567", "msisdn:+491701234567", "name:A"]
    )
    assert targets == [
        Target("msisdn", "+491701234567"),
        Target("name", "a"),
        Target("name", "A"),
    ]
    assert warnings == [
        "duplicate target msisdn:+491701234567 (target 3) sent once",
        "duplicate target msisdn:+491701234567 (target 4) sent once",
    ]


def test_parse_targets_same_value_different_kind_is_not_duplicate() -> None:
    targets, warnings = parse_targets(["imsi:262691234567", "+262691234567"])
    assert len(targets) == 2
    assert warnings == []


def test_parse_targets_raises_on_first_invalid() -> None:
    def raws() -> Iterator[str]:
        yield "+491701234567"
        yield "imsi:1"
        raise AssertionError("read past the first invalid target")

    with pytest.raises(InputError) as info:
        parse_targets(raws())
    assert info.value.code == "invalid_target"
    assert info.value.message.startswith("target 2: invalid imsi 'imsi:1'")


def test_parse_targets_unsupported_code_kept() -> None:
    with pytest.raises(InputError) as info:
        parse_targets(["iccid:" + ICCID_OK, "+491701234567"], accepted=("iccid",))
    assert info.value.code == "unsupported_target"
    assert info.value.message.startswith("target 2: ")


def test_parse_targets_empty() -> None:
    assert parse_targets([]) == ([], [])


# --------------------------------------------------------------------------- read_target_lines


def test_plain_lines_comments_and_blanks() -> None:
    lines = [
        "# my fleet\n",
        "\n",
        "+49 170 1234567\n",
        "   \n",
        "  # indented comment\n",
        "iccid:89883030000067347689   # the gate\n",
        "name:dev#1\n",
        "name:tracker 7\t# trailing after tab\n",
        "thing:abc",
    ]
    assert list(read_target_lines(lines)) == [
        "+49 170 1234567",
        "iccid:89883030000067347689",
        "name:dev#1",
        "name:tracker 7",
        "thing:abc",
    ]


def test_plain_lines_with_commas_are_not_csv() -> None:
    assert list(read_target_lines(["+491701234567,+491701234568\n"])) == [
        "+491701234567,+491701234568"
    ]


def test_csv_with_to_column() -> None:
    lines = [
        "# exported 2024-05-01\n",
        "id,TO,note\n",
        "1,+49 170 1234567,first\n",
        "2,,no target\n",
        "\n",
        "# a comment row\n",
        '3,"iccid:89883030000067347689","has, comma"\n',
        "4,  name:a:b  ,x\n",
        "5\n",
        "6,thing:abc\n",
    ]
    assert list(read_target_lines(lines)) == [
        "+49 170 1234567",
        "iccid:89883030000067347689",
        "name:a:b",
        "thing:abc",
    ]


def test_csv_only_to_column() -> None:
    assert list(read_target_lines(["to", "+491701234567", "", "+491701234568"])) == [
        "+491701234567",
        "+491701234568",
    ]


def test_csv_semicolon_and_bom() -> None:
    lines = ["\ufeffname;To\n", "a;+491701234567\n", "b;\n"]
    assert list(read_target_lines(lines)) == ["+491701234567"]


def test_csv_header_values_with_hash_are_not_comments() -> None:
    assert list(read_target_lines(["to,note\n", "+491701234567,#1 # x\n"])) == ["+491701234567"]


def test_empty_input() -> None:
    assert list(read_target_lines([])) == []
    assert list(read_target_lines(["# only\n", "\n"])) == []


def _exploding(good: list[str]) -> Iterator[str]:
    yield from good
    raise RuntimeError("read too far")


def test_read_target_lines_is_lazy_plain() -> None:
    lines = read_target_lines(_exploding(["# c\n", "+491701234567\n", "+491701234568\n"]))
    assert next(lines) == "+491701234567"
    assert next(lines) == "+491701234568"
    with pytest.raises(RuntimeError, match="read too far"):
        next(lines)


def test_read_target_lines_is_lazy_csv() -> None:
    lines = read_target_lines(_exploding(["id,to\n", "1,+491701234567\n", "2,+491701234568\n"]))
    assert next(lines) == "+491701234567"
    assert next(lines) == "+491701234568"
    with pytest.raises(RuntimeError, match="read too far"):
        next(lines)


def test_read_target_lines_streams_a_large_file() -> None:
    count = 100_000
    lines = (f"+49170{i:07d}\n" for i in range(count))
    total = 0
    for total, raw in enumerate(read_target_lines(lines), start=1):  # noqa: B007
        assert raw.startswith("+49170")
    assert total == count


def test_read_then_parse() -> None:
    lines = ["to\n", "+49 170 1234567\n", "0049 170 1234567\n", "iccid:89883030000067347689\n"]
    targets, warnings = parse_targets(read_target_lines(lines), accepted=("msisdn", "iccid"))
    assert targets == [Target("msisdn", "+491701234567"), Target("iccid", ICCID_OK)]
    assert len(warnings) == 1


def test_unreadable_csv_row_is_an_input_error() -> None:
    with pytest.raises(InputError) as info:
        list(read_target_lines(["to\n", "x" * 200_000 + "\n"]))
    assert info.value.code == "invalid_target"


# --------------------------------------------------------------------------- properties

digit_strings = st.text(alphabet="0123456789", min_size=7, max_size=15)


@given(digit_strings.filter(lambda d: d[0] != "0" and not trunk_zero_after_code(d)))
def test_any_e164_digits_parse(digits: str) -> None:
    assert parse_target("+" + digits) == (Target("msisdn", "+" + digits), [])


@given(digit_strings.filter(lambda d: d[0] == "0"))
def test_country_code_starting_with_zero_is_rejected(digits: str) -> None:
    assert "starts with 0" in _error("+" + digits).message


@given(
    digit_strings.filter(lambda d: d[0] != "0" and not trunk_zero_after_code(d)),
    st.lists(st.tuples(st.integers(0, 15), st.sampled_from(" -.()")), max_size=10),
)
def test_separators_do_not_change_msisdn(digits: str, inserts: list[tuple[int, str]]) -> None:
    chars = list(digits)
    for pos, sep in inserts:
        chars.insert(min(pos, len(chars)), sep)
    text = "".join(chars)
    assume(not re.search(r"\(\s*0\s*\)", text))  # "(0)" is the trunk prefix, dropped on purpose
    assert parse_target("+" + text)[0] == Target("msisdn", "+" + digits)


@given(st.text(alphabet="0123456789", max_size=40))
def test_luhn_digit_makes_luhn_ok(digits: str) -> None:
    check = luhn_digit(digits)
    assert len(check) == 1
    assert luhn_ok(digits + check)
    wrong = str((int(check) + 1) % 10)
    assert not luhn_ok(digits + wrong)


@given(st.text())
def test_any_text_parses_or_raises_input_error(raw: str) -> None:
    try:
        target, warnings = parse_target(raw)
    except InputError as exc:
        assert exc.code == "invalid_target"
        assert "\n" not in exc.message
        assert "\r" not in exc.message
    else:
        assert target.kind in KINDS
        assert all(isinstance(w, str) for w in warnings)


@given(st.sampled_from(list(KINDS)), st.text())
def test_any_value_of_any_kind_parses_or_raises_input_error(kind: str, value: str) -> None:
    try:
        target, _ = parse_target(f"{kind}:{value}", accepted=(kind,))
    except InputError as exc:
        assert exc.code == "invalid_target"
        assert "\n" not in exc.message
    else:
        assert target.kind == kind
        assert parse_target(str(target))[0] == target


@given(st.lists(st.text()))
def test_read_target_lines_never_fails_on_text(lines: list[str]) -> None:
    try:
        out = list(read_target_lines(lines))
    except InputError:
        return
    assert all(item and item == item.strip() for item in out)
