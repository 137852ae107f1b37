"""The shortcuts for header text give what the general ways give: ``one_line`` for ASCII text,
``_header_end`` for where the header block ends."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from _hypothesis_profiles import BASE
from mailtrack.converting._mailparser import _header_end
from mailtrack.converting._mailtext import _one_line, one_line

# Letters, white space, every kind of line break and control character, non-ASCII letters and
# separators, a lone surrogate (raw 8-bit bytes as email keeps them).
_CHARACTERS = "ab :\t\r\n\v\f\x00\x08\x1c\x1f\x7f\x85\x9f\u00e9\u2028\u2029\ud8ff"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Re: plain  ", "Re: plain"),
        ("from relay.example.org\r\n\tby mx.example.org", "from relay.example.org by mx.example.org"),
        ("a\r\n b\n\tc", "a b c"),
        ("a\r\nb", "a b"),  # a line break that is no folding: a space
        ("a\r\n b\x00c", "a b c"),  # folded, with a control character: the general way
        ("caf\u00e9\r\n au lait", "caf\u00e9 au lait"),
    ],
)
def test_one_line(text: str, expected: str) -> None:
    assert one_line(text) == expected


@settings(BASE, max_examples=500)
@given(st.text(alphabet=_CHARACTERS, max_size=40) | st.text(alphabet="ab \t\r\n", max_size=40))
@example("\r\n\t")
@example("a\r\n\r\n b")
@example("a\n\r b")
def test_one_line_shortcuts_give_what_the_general_way_gives(text: str) -> None:
    assert one_line(text) == _one_line(text)


@settings(BASE, max_examples=500)
@given(st.binary(max_size=30).map(lambda data: bytes(b"a\r\n"[byte % 3] for byte in data)))
@example(b"a\r\n\r\nb")
@example(b"a\n\nb")
@example(b"a\r\r\n\r\n")
@example(b"\n\r\n")
def test_header_end_is_where_the_first_blank_line_match_starts(raw: bytes) -> None:
    found = re.search(rb"\r?\n\r?\n", raw)
    assert _header_end(raw) == (found.start() if found else None)
