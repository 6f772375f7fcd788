"""Lexing shared by the SPICE and Spectre readers: scale factors, logical lines, parameter expressions."""

from __future__ import annotations

import pytest

from placeq.errors import NetlistError
from placeq.formats import parse_number
from placeq.formats._tokens import Scope, logical_lines, tokens


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("1", 1.0),
        ("2.5", 2.5),
        ("-3", -3.0),
        (".5", 0.5),
        ("1e-6", 1e-6),
        ("1.5E3", 1.5e3),
        ("1f", 1e-15),
        ("1p", 1e-12),
        ("1n", 1e-9),
        ("1u", 1e-6),
        ("1m", 1e-3),
        ("1k", 1e3),
        ("1meg", 1e6),
        ("1g", 1e9),
        ("1t", 1e12),
        ("1a", 1e-18),
        ("1MEG", 1e6),
        ("1Meg", 1e6),
        ("1M", 1e-3),  # SPICE: M is milli, whatever its case
        ("1U", 1e-6),
        ("2um", 2e-6),  # trailing unit letters are ignored
        ("1pF", 1e-12),
        ("10kohm", 1e4),
        ("1x", 1e6),  # HSPICE's other mega
        ("1mil", 25.4e-6),
        ("120.0n", 120e-9),
        ("100.0000u", 100e-6),
    ],
)
def test_spice_scale_factors(token: str, value: float) -> None:
    assert parse_number(token, "spice") == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("token", "value"),
    [("1M", 1e6), ("1m", 1e-3), ("1K", 1e3), ("1k", 1e3), ("2u", 2e-6), ("120.0n", 120e-9), ("5%", 0.05)],
)
def test_spectre_scale_factors_are_case_sensitive(token: str, value: float) -> None:
    assert parse_number(token, "spectre") == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("token", ["", "u", "abc", "1..2", "1q", "--1", "1e"])
def test_not_numbers(token: str) -> None:
    assert parse_number(token, "spice") is None


def test_spice_continuations_and_comments_join_into_one_line() -> None:
    text = "* title\nM1 d g s b nch\n* comment between continuations\n+ w=2u $ inline\n+ l=1u ; another\n\nR1 a b 1k\n"
    lines = list(logical_lines(text, "spice", "f.sp"))
    assert [(ln.text, ln.lineno) for ln in lines] == [("M1 d g s b nch w=2u l=1u", 2), ("R1 a b 1k", 7)]


def test_spice_comment_only_lines_do_not_break_a_continuation() -> None:
    text = "M1 d g s b nch\n$ a dollar comment line\n; a semicolon comment line\n+ w=1u l=1u\n"
    assert [ln.text for ln in logical_lines(text, "spice", "f.sp")] == ["M1 d g s b nch w=1u l=1u"]


def test_spice_dollar_inside_a_name_is_not_a_comment() -> None:
    (line,) = logical_lines("M1 d$1 g s b nch w=1u l=1u", "spice", "f.sp")
    assert "d$1" in line.text


def test_spice_orphan_continuation_names_the_line() -> None:
    with pytest.raises(NetlistError) as exc:
        list(logical_lines("\n+ w=1u\n", "spice", "f.sp"))
    assert exc.value.field == "f.sp:2"


def test_spectre_backslash_continuation_and_slash_comments() -> None:
    text = "// header\nM1 (d g s b) nfet \\\n  w=2u l=1u // trailing\n* star comment\nC1 (a b) mom_cap\n"
    lines = list(logical_lines(text, "spectre", "f.scs"))
    assert [(ln.text, ln.lineno) for ln in lines] == [("M1 (d g s b) nfet w=2u l=1u", 2), ("C1 (a b) mom_cap", 5)]


def test_simulator_lang_switches_dialect_midway() -> None:
    text = "simulator lang=spice\nM1 d g s b nch w=1u l=1u\nsimulator lang=spectre\nM2 (d g s b) nfet w=1u l=1u\n"
    assert [ln.dialect for ln in logical_lines(text, "spectre", "f")] == ["spice", "spectre"]


def test_tokens_keep_quoted_expressions_whole_and_join_spaced_equals() -> None:
    got = tokens("M1 d g s b nch w = '2 * wn' l={ln / 2}")
    assert got == ["M1", "d", "g", "s", "b", "nch", "w='2 * wn'", "l={ln / 2}"]


def test_expressions_use_parameters_and_scale_factors() -> None:
    scope = Scope()
    scope.define("wn", "2u", "f:1", "spice")
    scope.define("LN", "'wn / 4'", "f:2", "spice")
    assert scope.evaluate("'2*wn + 1u'", "f:3", "w", "spice") == pytest.approx(5e-6)
    assert scope.evaluate("{ln}", "f:3", "l", "spice") == pytest.approx(0.5e-6)
    assert scope.evaluate("sqrt(4)*1n", "f:3", "x", "spice") == pytest.approx(2e-9)


def test_unknown_parameter_names_the_line() -> None:
    with pytest.raises(NetlistError, match="unknown parameter 'wp'") as exc:
        Scope().evaluate("'2*wp'", "f.sp:9", "w", "spice")
    assert exc.value.field == "f.sp:9"


def test_code_is_not_evaluated() -> None:
    with pytest.raises(NetlistError, match="unsupported expression"):
        Scope().evaluate("__import__('os')", "f:1", "w", "spice")
