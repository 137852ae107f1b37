"""SubjectIdMatcher: the record ID after '#' in the subject, ASCII digits only, never ambiguous."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailtrack import ConfigError, Matcher, SubjectIdMatcher
from mailtrack.matching import MAX_RECORD_ID, title_from_subject


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [#42] printer", 42),
        ("#7", 7),
        ("Printer on fire #12", 12),
        ("RE: RE: #42 and again #42", 42),
        ("#042 is #42", 42),
        ("no number here", None),
        ("issue 42", None),
        ("", None),
        ("#", None),
        ("# 42", None),
    ],
)
def test_default_pattern_finds_the_number_after_the_pound_sign(subject: str, expected: int | None) -> None:
    assert SubjectIdMatcher().match(subject) == expected


@pytest.mark.parametrize(
    "subject",
    [
        "\uff03\uff14\uff12 full-width pound sign and digits",
        "#\uff14\uff12 full-width digits",
        "#\u0664\u0662 Arabic-Indic digits",
        "#\u096a\u0968 Devanagari digits",
        "#\U0001d7d2 mathematical bold digit",
    ],
)
def test_non_ascii_digits_name_no_record(subject: str) -> None:
    assert SubjectIdMatcher().match(subject) is None


def test_two_different_ids_are_ambiguous() -> None:
    assert SubjectIdMatcher().match("Merge #12 into #13") is None


def test_number_beyond_a_record_id_names_nothing() -> None:
    matcher = SubjectIdMatcher()
    assert matcher.match(f"#{MAX_RECORD_ID}") == MAX_RECORD_ID
    assert matcher.match(f"#{MAX_RECORD_ID + 1}") is None
    assert matcher.match("#99999999999999999999999 and #5") is None


def test_thousands_of_digits_do_not_raise() -> None:
    # int() refuses strings over 4300 digits; the matcher must answer None, not raise.
    assert SubjectIdMatcher().match("#" + "9" * 10_000) is None
    assert SubjectIdMatcher().match("#" + "0" * 10_000 + "5") == 5


def test_custom_pattern_accepts_only_its_own_form() -> None:
    matcher = SubjectIdMatcher(r"\[ACME #([0-9]+)\]")
    assert matcher.match("Re: [ACME #123] printer") == 123
    assert matcher.match("Re: #123 printer") is None


def test_custom_pattern_is_ascii_even_with_backslash_d() -> None:
    matcher = SubjectIdMatcher(r"ID(\d+)")
    assert matcher.match("ticket ID17") == 17
    assert matcher.match("ticket ID\u0661\u0667") is None


def test_a_capture_that_is_not_plain_digits_names_nothing() -> None:
    # int("4_2") would be 42: the matcher must not accept underscores.
    matcher = SubjectIdMatcher(r"#([0-9_]+)")
    assert matcher.match("#4_2") is None
    assert matcher.match("#42") == 42


@pytest.mark.parametrize("pattern", [r"#\d+", r"#(\d)(\d)", r"(?P<a>#)(\d+)"])
def test_pattern_needs_exactly_one_group(pattern: str) -> None:
    with pytest.raises(ConfigError, match=r"^pattern: must have exactly one group"):
        SubjectIdMatcher(pattern)


def test_invalid_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^pattern: not a valid regular expression"):
        SubjectIdMatcher(r"#(\d+")


def test_matcher_fits_the_protocol_and_shows_its_pattern() -> None:
    matcher = SubjectIdMatcher(r"\[#([0-9]+)\]")
    assert isinstance(matcher, Matcher)
    assert repr(matcher) == r"SubjectIdMatcher(pattern='\\[#([0-9]+)\\]')"
    assert matcher == SubjectIdMatcher(r"\[#([0-9]+)\]")


@given(
    st.integers(min_value=0, max_value=MAX_RECORD_ID), st.text(alphabet=st.characters(exclude_characters="#"))
)
def test_any_record_id_is_found_in_any_surrounding_text(record_id: int, text: str) -> None:
    assert SubjectIdMatcher().match(f"{text} #{record_id} {text}") == record_id


@given(st.text())
def test_arbitrary_subjects_never_raise(subject: str) -> None:
    result = SubjectIdMatcher().match(subject)
    assert result is None or 0 <= result <= MAX_RECORD_ID


@pytest.mark.parametrize(
    ("subject", "title"),
    [
        ("Printer jammed", "Printer jammed"),
        ("Re: Printer jammed", "Printer jammed"),
        ("RE: re: Fwd: FW: Printer jammed", "Printer jammed"),
        ("AW: WG: SV: Antw: Drucker kaputt", "Drucker kaputt"),
        ("Re[2]: Re(3): printer", "printer"),
        ("  Re :   printer \t on\n fire  ", "printer on fire"),
        ("Re: [#42] printer", "printer"),
        ("Re: [ACME #42] Re: printer", "printer"),
        ("printer [#42] on fire", "printer on fire"),
        ("Order #5512 is missing", "Order #5512 is missing"),
        ("[#42]", "(no subject)"),
        ("Rescue: the printer", "Rescue: the printer"),
        ("Re:", "(no subject)"),
        ("", "(no subject)"),
        ("   ", "(no subject)"),
    ],
)
def test_title_drops_reply_prefixes_record_tags_and_collapses_whitespace(subject: str, title: str) -> None:
    assert title_from_subject(subject) == title


@pytest.mark.parametrize(
    ("pattern", "subject", "title"),
    [
        (r"\[ACME #(\d+)\]", "Re: [ACME #42] printer", "printer"),
        (r"\[ACME #(\d+)\]", "[ACME #42] [ACME #43] printer", "printer"),
        # Not a tag this matcher reads: it stays (and names no record for this matcher).
        (r"\[ACME #(\d+)\]", "Re: [#42] printer", "[#42] printer"),
        (r"ACME-(\d+)", "Re: [ACME-42] printer", "printer"),
        (r"ACME-(\d+)", "printer ACME-42 on fire", "printer ACME-42 on fire"),
        # A pattern that cannot be put inside brackets (global flags) still finds its own tags.
        (r"(?i)\[acme #(\d+)\]", "Re: [Acme #42] printer", "printer"),
    ],
)
def test_title_drops_the_tags_of_the_matchers_pattern(pattern: str, subject: str, title: str) -> None:
    assert title_from_subject(subject, SubjectIdMatcher(pattern)) == title


def test_title_uses_the_default_tags_for_other_matchers() -> None:
    class FirstNumber:
        def match(self, subject: str) -> int | None:
            return None

    assert title_from_subject("Re: [#42] printer", FirstNumber()) == "printer"
