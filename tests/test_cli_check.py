"""`smscli check` through the command line (never touches the network)."""

from __future__ import annotations

import pytest

from tests.conftest import Cli, write_config


def test_check_json_has_the_spec_shape(offline_cli: Cli) -> None:
    res = offline_cli("check", "Hello world", "--json")
    assert res.exit_code == 0
    doc = res.json()
    assert {
        k: doc[k]
        for k in (
            "encoding",
            "characters",
            "units",
            "segments",
            "single_limit",
            "part_limit",
            "parts",
            "non_gsm",
            "replacements",
        )
    } == {
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


def test_check_empty_text(offline_cli: Cli) -> None:
    doc = offline_cli("check", "", "--json").json()
    assert (doc["units"], doc["segments"]) == (0, 1)


def test_check_reports_characters_that_force_ucs2(offline_cli: Cli) -> None:
    res = offline_cli("check", "It’s ok", "--json")
    doc = res.json()
    assert doc["encoding"] == "ucs2"
    assert doc["non_gsm"] == [
        {"char": "’", "codepoint": "U+2019", "positions": [2], "lookalike": "'"}
    ]


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["--provider", "csl", "It’s"], 4),
        (["--provider", "csl", "x" * 160], 0),
        (["--provider", "csl", "x" * 161], 4),
        (["--provider", "telit", "x" * 161], 4),
        (["--provider", "fonedynamics", "x" * 161], 0),
        (["--max-segments", "1", "x" * 161], 4),
        (["--provider", "csl", "--smart", "It’s"], 0),
        (["--hex", "0A0B"], 0),
        (["--hex", "0A0"], 4),
        (["--base64", "!!"], 4),
        (["--provider", "fonedynamics", "--hex", "0A0B"], 4),
    ],
    ids=[
        "csl non-gsm", "csl 160", "csl 161", "telit 161", "fonedynamics 161", "max segments",
        "csl smart", "hex", "odd hex", "bad base64", "binary unsupported",
    ],
)  # fmt: skip
def test_check_exit_codes(offline_cli: Cli, args: list[str], exit_code: int) -> None:
    res = offline_cli("check", *args)
    assert res.exit_code == exit_code, res.output
    if exit_code:
        assert "error:" in res.stderr
        assert "Traceback" not in res.output


def test_check_smart_reports_each_replacement(offline_cli: Cli) -> None:
    res = offline_cli("check", "--smart", "“Hi” – it’s", "--json")
    doc = res.json()
    assert doc["encoding"] == "gsm7"
    assert {r["char"] for r in doc["replacements"]} == {"“", "”", "–", "’"}


def test_check_tells_what_smart_would_save(offline_cli: Cli) -> None:
    res = offline_cli("check", "a" * 100 + "’")
    assert res.exit_code == 0
    assert "--smart would send it as 1 segment" in res.stdout


def test_check_with_a_profile_uses_its_limits(offline_cli: Cli, isolated) -> None:  # type: ignore[no-untyped-def]
    write_config(isolated, '[profiles.p]\nprovider = "fonedynamics"\nmax_segments = 1\n')
    assert offline_cli("check", "-p", "p", "x" * 161).exit_code == 4
    assert offline_cli("check", "-p", "p", "x" * 160).exit_code == 0


def test_check_reads_stdin(offline_cli: Cli) -> None:
    res = offline_cli("check", "--json", input="hello\n")
    assert res.json()["characters"] == 5
