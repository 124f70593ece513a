"""Issue 9, message checks: --smart never costs a segment, fractions keep their meaning,
Thai/Lao clusters stay whole, stdin/--file framing (BOM, CRLF, size), invalid UTF-8 in any
argument, --smart/ucs2 hints that fit the text, ThingSpace's UTF-8 measure, and TEXT with
{column} placeholders but no --template."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscli.encoding import analyze, grapheme_clusters, smart_replace
from smscli.errors import InputError
from smscli.message import MAX_INPUT_BYTES
from smscli.models import Encoding
from tests.conftest import SCRIPT, Cli, base_url

FD = ["--account-sid", "AC123", "--token", "Tok3n", "--property-sid", "PR456"]
PHONE = "+61488023555"
ELLIPSES = "\u2026" * 54  # one UCS-2 segment; 162 septets (two GSM-7 segments) as "..."


def fd(*args: str) -> list[str]:
    return ["fonedynamics", "--base-url", base_url("fonedynamics"), *FD, "-t", PHONE, *args]


def sent_text(cli: Cli) -> str:
    [request] = cli.recorder.requests
    text: str = json.loads(request.content)["Text"]
    return text


# --- --smart never increases the segment count ----------------------------------------------


def test_smart_keeps_the_text_when_replacing_would_cost_a_segment() -> None:
    check = analyze(ELLIPSES, smart=True)
    assert (check.text, check.encoding, check.segments) == (ELLIPSES, Encoding.UCS2, 1)
    assert check.replacements == ()
    assert [(r.char, r.replacement, len(r.positions)) for r in check.skipped] == [
        ("\u2026", "...", 54)
    ]
    assert check.replaced_segments == 2


def test_smart_applies_when_the_count_is_the_same_or_lower() -> None:
    same = analyze("\u2026" * 53, smart=True)  # 159 septets: still one segment
    assert (same.encoding, same.segments, same.skipped) == (Encoding.GSM7, 1, ())
    fewer = analyze("It\u2019s " + "a" * 80, smart=True)  # 85 UCS-2 units: 2 segments → 1
    assert (fewer.encoding, fewer.segments) == (Encoding.GSM7, 1)


LOOKALIKE_PIECES = ["\u2026", "\u2019", "\u201c", "\u00bd", "\u00a0", "\u200b", "a", "1", "]"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(LOOKALIKE_PIECES), max_size=400).map("".join))
def test_property_smart_never_costs_a_segment(text: str) -> None:
    plain, smart = analyze(text), analyze(text, smart=True)
    assert smart.segments <= plain.segments
    if smart.skipped:
        assert smart.text == text and smart.replaced_segments is not None
        assert smart.replaced_segments > smart.segments
    elif plain.replaced_segments is not None:
        assert smart.encoding is Encoding.GSM7


def test_forced_gsm7_with_smart_always_replaces() -> None:
    # The original cannot be sent as GSM-7 at all, so there is nothing to keep.
    check = analyze(ELLIPSES, encoding="gsm7", smart=True)
    assert (check.text, check.segments) == ("." * 162, 2)


def test_check_smart_reports_the_skipped_replacement(offline_cli: Cli) -> None:
    res = offline_cli("check", "--smart", ELLIPSES)
    assert res.exit_code == 0, res.output
    assert "segments    1 " in res.stdout
    assert "--smart kept \u2026 (U+2026): replacing it would make 2 segments instead of 1" in (
        res.stdout
    )
    doc = offline_cli("check", "--smart", ELLIPSES, "--json").json()
    assert (doc["segments"], doc["replacements"], doc["replaced_segments"]) == (1, [], 2)
    assert doc["skipped_replacements"][0]["codepoint"] == "U+2026"


def test_send_smart_sends_one_segment_and_warns(cli: Cli) -> None:
    res = cli(*fd("--smart", "--json", ELLIPSES))
    assert res.exit_code == 0, res.output
    assert sent_text(cli) == ELLIPSES
    assert res.json()["results"][0]["segments"] == 1
    assert "warning: --smart kept \u2026 (U+2026)" in res.stderr


# --- fractions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1\u00bd cups", "1 1/2 cups"),
        ("2\u00bc h", "2 1/4 h"),
        ("3\u00be", "3 3/4"),
        ("\u00bd cup", "1/2 cup"),
        ("\u00bd3", "1/2 3"),
        ("\u00bd\u00bd", "1/2 1/2"),
        ("\uff11\u00bd", "1 1/2"),  # a fullwidth digit is replaced first
        ("x\u00bd", "x1/2"),
    ],
)
def test_a_fraction_next_to_a_digit_gets_a_space(text: str, expected: str) -> None:
    assert smart_replace(text)[0] == expected
    assert analyze(text, smart=True).text == expected


def test_send_smart_fraction_through_the_command_line(cli: Cli) -> None:
    res = cli(*fd("--smart", "Take 1\u00bd tablets"))
    assert res.exit_code == 0, res.output
    assert sent_text(cli) == "Take 1 1/2 tablets"
    assert "with ' 1/2'" in res.stderr


# --- Thai / Lao SARA AM -------------------------------------------------------------------------

NAM = "\u0e19\u0e49\u0e33"  # น้ำ: NO NU, MAI THO, SARA AM
LAO_AM = "\u0e81\u0eb3"  # ກຳ


@pytest.mark.parametrize("cluster", [NAM, LAO_AM])
def test_sara_am_is_part_of_its_cluster(cluster: str) -> None:
    assert grapheme_clusters("a" + cluster + "b") == ["a", cluster, "b"]


@pytest.mark.parametrize("cluster", [NAM, LAO_AM])
def test_sara_am_cluster_is_never_split_across_parts(cluster: str, offline_cli: Cli) -> None:
    # 67 units fit a part: with 65 before it, the cluster's last code point (SARA AM) would
    # be unit 68; the whole cluster moves to part 2.
    text = "\u0e01" * (67 - len(cluster) + 1) + cluster + "\u0e01" * 10
    doc = offline_cli("check", text, "--json").json()
    assert doc["encoding"] == "ucs2"
    assert doc["parts"][1].startswith(cluster)
    assert "".join(doc["parts"]) == text


# --- hints that fit the text ------------------------------------------------------------------


def test_csl_encoding_ucs2_names_the_option_not_an_empty_set(offline_cli: Cli) -> None:
    res = offline_cli("check", "--provider", "csl", "--encoding", "ucs2", "hello")
    assert res.exit_code == 4
    assert "--encoding ucs2 makes this message UCS-2" in res.stderr
    assert "alphabet: \n" not in res.stderr
    assert "hint: drop --encoding ucs2" in res.stderr


def test_csl_send_encoding_ucs2_is_refused_clearly(cli: Cli) -> None:
    res = cli(
        "csl", "--base-url", base_url("csl"), "--username", "u", "--password", "p",
        "--api-id", "1", "-t", "iccid:8944110000000000001", "--encoding", "ucs2", "hello",
    )  # fmt: skip
    assert res.exit_code == 4
    assert "--encoding ucs2 makes this message UCS-2" in res.stderr
    assert cli.recorder.requests == []


def test_no_smart_hint_for_text_without_look_alikes(offline_cli: Cli) -> None:
    res = offline_cli("check", "--provider", "csl", "h\u00e9llo \u00e7a va")
    assert res.exit_code == 4
    assert "--smart" not in res.stderr.replace("for --smart", "")
    assert "hint: rewrite '\u00e7' (U+00E7): it has no GSM-7 look-alike" in res.stderr
    thingspace = offline_cli("check", "--provider", "thingspace", "\u00e7" * 75)
    assert thingspace.exit_code == 4
    assert "--smart" not in thingspace.stderr


def test_smart_hint_when_it_helps(offline_cli: Cli) -> None:
    res = offline_cli("check", "--provider", "csl", "It\u2019s ok")
    assert res.exit_code == 4
    assert "hint: use --smart" in res.stderr
    assert offline_cli("check", "--provider", "csl", "--smart", "It\u2019s ok").exit_code == 0


def test_smart_hint_when_it_would_not_fit(offline_cli: Cli) -> None:
    res = offline_cli("check", "--provider", "csl", ELLIPSES)
    assert res.exit_code == 4
    assert "use --smart" not in res.stderr
    assert "it would be 2 GSM-7 segments; csl takes at most 1" in res.stderr


# --- ThingSpace's measure -----------------------------------------------------------------------


def test_check_thingspace_shows_utf8_bytes_not_ucs2_segments(offline_cli: Cli) -> None:
    text = "\u00e7" * 75  # 75 UTF-16 units (2 UCS-2 segments), 150 bytes of UTF-8
    res = offline_cli("check", "--provider", "thingspace", text)
    assert res.exit_code == 4
    assert "size        150 UTF-8 bytes" in res.stdout
    assert "segments    1 (one message holds 140 UTF-8 bytes)" in res.stdout
    assert "part   2" not in res.stdout
    assert "message is 150 UTF-8 bytes; thingspace takes at most 140" in res.stderr
    doc = offline_cli("check", "--provider", "thingspace", text, "--json").json()
    assert doc["measure"] == {"unit": "UTF-8 bytes", "size": 150, "limit": 140, "segments": 1}
    assert offline_cli("check", "--provider", "thingspace", "-q", text).stdout == "1\n"


def test_check_thingspace_fits_what_send_accepts(cli: Cli) -> None:
    text = "\u00e7" + "a" * 71  # 72 UTF-16 units (2 UCS-2 segments), 73 bytes of UTF-8
    check = cli("check", "--provider", "thingspace", text)
    assert check.exit_code == 0, check.output
    assert "size        73 UTF-8 bytes" in check.stdout
    res = cli(
        "thingspace", "--sandbox", "-t", "iccid:89148000000800139708", "--json", text,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    assert (result["segments"], result["details"]["data_encoding"]) == (1, "8-bit-UTF-8")


# --- stdin and --file: BOM, CR LF, size ---------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"\xef\xbb\xbfHello\r\n", b"\xef\xbb\xbfHello", b"Hello\r\n", b"Hello\n"],
)
def test_stdin_bom_and_line_ending_are_not_the_message(cli: Cli, data: bytes) -> None:
    res = cli(*fd(), input=data)  # type: ignore[arg-type]
    assert res.exit_code == 0, res.output
    assert sent_text(cli) == "Hello"


def test_file_bom_and_crlf_are_not_the_message(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "msg.txt"
    path.write_bytes(b"\xef\xbb\xbfLine 1\r\nLine 2\r\n")
    res = cli(*fd("--file", str(path)))
    assert res.exit_code == 0, res.output
    assert sent_text(cli) == "Line 1\r\nLine 2"  # only the final line ending goes
    doc = cli("check", "--file", str(path), "--json").json()
    assert doc["characters"] == len("Line 1\r\nLine 2")


def test_stdin_invalid_utf8_is_exit_4_with_the_offset(cli: Cli) -> None:
    res = cli(*fd(), input=b"ab\xffcd")  # type: ignore[arg-type]
    assert res.exit_code == 4
    assert "error: the message on stdin is not valid UTF-8 (byte offset 2)" in res.stderr
    assert cli.recorder.requests == []


def test_file_invalid_utf8_after_a_bom_counts_the_bom(offline_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "msg.txt"
    path.write_bytes(b"\xef\xbb\xbfab\xc3")
    res = offline_cli("check", "--file", str(path))
    assert res.exit_code == 4
    assert f"--file {path} is not valid UTF-8 (byte offset 5)" in res.stderr


def test_file_dev_zero_is_refused_at_once() -> None:
    started = time.monotonic()
    res = subprocess.run(
        [SCRIPT, "check", "--file", "/dev/zero"], capture_output=True, timeout=60, check=False
    )
    assert res.returncode == 4, res.stderr
    assert b"longer than 1 MiB" in res.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("source", ["/dev/zero", "-"])
def test_to_file_without_line_breaks_is_refused_at_once(source: str) -> None:
    # /dev/zero itself (a device: spooled), or 2 MiB of NULs on stdin.
    res = subprocess.run(
        [SCRIPT, "fonedynamics", "--sandbox", "--to-file", source, "hi"],
        input=b"\0" * (2 << 20) if source == "-" else None,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 4, res.stderr
    assert b"line 1 is longer than 1 MiB; not a list of targets" in res.stderr


def test_to_file_regular_file_without_line_breaks(offline_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "zeros"
    path.write_bytes(b"\0" * (2 << 20))
    res = offline_cli("fonedynamics", *FD, "--to-file", str(path), "hi")
    assert res.exit_code == 4
    assert "line 1 is longer than 1 MiB" in res.stderr


def test_stdin_past_the_bound_is_refused(offline_cli: Cli) -> None:
    res = offline_cli("check", "-", input="a" * (MAX_INPUT_BYTES + 1))
    assert res.exit_code == 4
    assert "longer than 1 MiB" in res.stderr
    assert offline_cli("check", "-q", input="a" * 1000).stdout == "7\n"


# --- invalid UTF-8 in arguments -----------------------------------------------------------------


def run(*args: bytes | str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [SCRIPT, *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def test_invalid_utf8_message_in_argv_is_exit_4_in_check() -> None:
    res = run("check", b"ab\xffcd")
    assert res.returncode == 4, res.stderr
    assert res.stderr == b"error: the message is not valid UTF-8 (byte offset 2)\n"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([b"ab\xffcd"], b"the message is not valid UTF-8 (byte offset 2)"),
        ([b"--ref", b"r\xff", b"hi"], b"the value of --ref is not valid UTF-8 (byte offset 1)"),
        (
            [b"--idempotency-key", b"key-\xc3", b"hi"],
            b"the value of --idempotency-key is not valid UTF-8 (byte offset 4)",
        ),
        ([b"--from", b"Shop\xe9", b"hi"], b"the value of --from is not valid UTF-8"),
    ],
)
def test_invalid_utf8_in_a_real_send_is_exit_4(
    args: list[bytes], named: bytes, isolated: Path
) -> None:
    res = run("fonedynamics", "--sandbox", "-t", PHONE, *args)
    assert res.returncode == 4, res.stderr
    assert named in res.stderr
    assert b"internal error" not in res.stderr
    assert not (isolated / "data" / "history.sqlite3").exists()


def test_invalid_utf8_in_argv_with_json_is_the_error_object() -> None:
    res = run("check", "--json", b"\x80")
    assert res.returncode == 4
    error = json.loads(res.stdout)["error"]
    assert (error["code"], error["exit_code"]) == ("invalid_utf8", 4)
    assert error["message"] == "the message is not valid UTF-8 (byte offset 0)"


def test_invalid_utf8_on_stdin_of_a_real_send_is_exit_4() -> None:
    res = run("fonedynamics", "--sandbox", "-t", PHONE, stdin=b"caf\xe9\n")
    assert res.returncode == 4, res.stderr
    assert b"the message on stdin is not valid UTF-8 (byte offset 3)" in res.stderr


def test_a_file_name_need_not_be_utf8(tmp_path: Path) -> None:
    path = os.path.join(os.fsencode(tmp_path), b"msg-\xff.txt")
    with open(path, "wb") as fh:
        fh.write(b"Hello\n")
    res = run("check", "-q", "--file", path)
    assert (res.returncode, res.stdout) == (0, b"1\n"), res.stderr
    missing = run("check", "--json", "--file", path + b"-missing", stdin=b"")
    assert missing.returncode == 4
    message = json.loads(missing.stdout)["error"]["message"]
    assert message.startswith("cannot read --file ") and "msg-\\xff.txt-missing" in message


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["check", "ab\udcffcd"], "the message is not valid UTF-8 (byte offset 2)"),
        (["check", "--provider", "csl\udcff", "x"], "the value of --provider is not valid"),
        (["check", "-p", "fl\udcffeet", "x"], "the value of --profile is not valid"),
        (["status", "\udcff1"], "the argument ID is not valid UTF-8 (byte offset 0)"),
        (["log", "--status", "sent\udcff"], "the value of --status is not valid"),
        (["config", "set", "sender", "Shop\udce9"], "the argument VALUE is not valid"),
        ([*fd("--ref", "r\udcff", "hi")], "the value of --ref is not valid UTF-8"),
        ([*fd("--idempotency-key", "\udcc3k", "hi")], "the value of --idempotency-key"),
        ([*fd("-t", "+6148802\udcff", "hi")], "the value of --to is not valid UTF-8"),
        ([*fd("--token", "s\udcffcret", "hi")], "the value of --token is not valid UTF-8"),
    ],
)
def test_lone_surrogates_in_arguments_are_exit_4(cli: Cli, args: list[str], named: str) -> None:
    res = cli(*args)
    assert res.exit_code == 4, res.output
    assert f"error: {named}" in res.stderr
    assert "internal error" not in res.output
    assert "cret" not in res.output  # a secret's value is never shown
    assert cli.recorder.requests == []


def test_python_api_refuses_a_lone_surrogate(tmp_path: Path) -> None:
    from smscli import api

    with pytest.raises(InputError, match="the value of --ref is not valid Unicode"):
        api.send(
            "hi",
            to=PHONE,
            provider="fonedynamics",
            ref="r\ud83d",
            base_url=base_url("fonedynamics"),
            credentials={"account_sid": "AC1", "token": "t", "property_sid": "PR1"},
        )


# --- {column} without --template ----------------------------------------------------------------


def csv_file(tmp_path: Path) -> str:
    path = tmp_path / "x.csv"
    path.write_text(f"to,name\n{PHONE},Ann\n")
    return str(path)


@pytest.mark.parametrize("text", ["Hi {name}", "Hi {Name}!", "Hi { name }"])
def test_column_placeholder_without_template_is_refused(
    cli: Cli, tmp_path: Path, text: str
) -> None:
    base = ["fonedynamics", "--base-url", base_url("fonedynamics"), *FD]
    res = cli(*base, "--to-file", csv_file(tmp_path), text)
    assert res.exit_code == 4, res.output
    assert "but --template is not given: it would be sent as it is" in res.stderr
    assert "hint: add --template" in res.stderr
    assert cli.recorder.requests == []


def test_braces_that_name_no_column_are_sent_as_written(cli: Cli, tmp_path: Path) -> None:
    base = ["fonedynamics", "--base-url", base_url("fonedynamics"), *FD]
    res = cli(*base, "--to-file", csv_file(tmp_path), "Code {x} {}")
    assert res.exit_code == 0, res.output
    assert sent_text(cli) == "Code {x} {}"


def test_with_template_the_column_is_filled(cli: Cli, tmp_path: Path) -> None:
    base = ["fonedynamics", "--base-url", base_url("fonedynamics"), *FD]
    res = cli(*base, "--to-file", csv_file(tmp_path), "--template", "Hi {name} {{name}}")
    assert res.exit_code == 0, res.output
    assert sent_text(cli) == "Hi Ann {name}"


@pytest.mark.parametrize(("text", "smart"), [("\u00e7a va", False), ("It\u2019s on", True)])
def test_thingspace_7bit_hint_offers_smart_only_when_it_helps(
    cli: Cli, text: str, smart: bool
) -> None:
    res = cli(
        "thingspace", "--sandbox", "-t", "iccid:89148000000800139708",
        "--data-encoding", "7-bit", text,
    )  # fmt: skip
    assert res.exit_code == 4
    assert "hint: use --data-encoding 8-bit-UTF-8" in res.stderr
    assert ("--smart" in res.stderr) is smart
