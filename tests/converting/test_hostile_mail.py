"""Hostile messages too big to keep as files: each ends as a message or as a ParseError naming the
limit, never as a crash (RecursionError, a hang, a huge memory bill).

(The small hostile cases are files in tests/messages/malformed/, see test_converting.py.)
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _hostile import many_header_fields, many_parts, nested_messages, nested_multipart
from mailtrack import IncomingMessage, MailParserConverter, ParseError, ParseLimits

RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def convert(raw: bytes, limits: ParseLimits | None = None) -> IncomingMessage:
    return MailParserConverter(limits or ParseLimits()).convert(raw, received_at=RECEIVED)


def test_multiparts_nested_1200_deep_raise_parse_error_naming_max_depth() -> None:
    with pytest.raises(ParseError, match=r"more than 50 deep \(limit max_depth\)"):
        convert(nested_multipart(1200))


def test_messages_nested_1200_deep_raise_parse_error_naming_max_depth() -> None:
    with pytest.raises(ParseError, match=r"more than 50 deep \(limit max_depth\)"):
        convert(nested_messages(1200))


def test_nesting_at_the_limit_still_converts() -> None:
    message = convert(nested_multipart(50))
    assert message.text == "hi"
    assert message.subject == "deep"


def test_raised_depth_limit_cannot_crash_the_parser_with_recursion() -> None:
    # With the depth limit lifted the email parser itself runs out of stack: still a ParseError.
    with pytest.raises(ParseError, match=r"nested too deeply|limit max_depth"):
        convert(nested_multipart(1200), ParseLimits(max_depth=100_000, max_parts=100_000))


def test_20000_parts_raise_parse_error_naming_max_parts() -> None:
    with pytest.raises(ParseError, match=r"more than 1000 MIME parts \(limit max_parts\)"):
        convert(many_parts(20_000))


def test_1000_parts_at_the_limit_convert() -> None:
    message = convert(many_parts(999))
    assert message.text.startswith("part 0\npart 1\n")
    assert message.text.endswith("part 998")


def test_50000_header_fields_raise_parse_error_naming_max_header_fields() -> None:
    with pytest.raises(ParseError, match=r"more than 2000 header fields \(limit max_header_fields\)"):
        convert(many_header_fields(50_000))


def test_50000_header_fields_in_a_part_are_refused_too() -> None:
    raw = (
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n"
        + many_header_fields(50_000)
        + b"--X--\r\n"
    )
    with pytest.raises(ParseError, match=r"part 1 has more than 2000 header fields"):
        convert(raw)


def test_huge_header_block_raises_parse_error_naming_max_header_bytes() -> None:
    raw = b"From: a@example.org\r\nSubject: " + b"x" * 600_000 + b"\r\n\r\nbody\r\n"
    with pytest.raises(ParseError, match=r"larger than 524288 bytes \(limit max_header_bytes\)"):
        convert(raw)


@pytest.mark.parametrize("count", [20_000, 400_000])
def test_content_type_with_many_semicolons_is_refused(count: int) -> None:
    raw = b"From: a@example.org\r\nContent-Type: text/plain" + b";" * count + b"\r\n\r\nbody\r\n"
    with pytest.raises(ParseError, match="Content-Type header of the message has more than 1000 parameters"):
        convert(raw)


def test_content_disposition_with_many_parameters_in_a_part_is_refused() -> None:
    raw = (
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n"
        b"Content-Disposition: attachment" + b"; a=b" * 5000 + b"\r\n\r\nx\r\n--X--\r\n"
    )
    with pytest.raises(
        ParseError, match="Content-Disposition header of part 1 has more than 1000 parameters"
    ):
        convert(raw)


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_address_with_deeply_nested_comments_converts(depth: int) -> None:
    raw = b"From: " + b"(" * depth + b"x" + b")" * depth + b" a@example.org\r\nSubject: c\r\n\r\nbody\r\n"
    message = convert(raw)
    assert message.sender is not None
    assert message.sender.address == "a@example.org"
    assert message.subject == "c"


def test_unbalanced_comments_in_an_address_do_not_crash() -> None:
    raw = b"From: " + b"(" * 50_000 + b" a@example.org\r\nTo: " + b")" * 50_000 + b"\r\n\r\nbody\r\n"
    message = convert(raw)
    assert message.text == "body\r\n".replace("\r\n", "\n")


def test_20000_recipients_convert() -> None:
    raw = (
        b"From: a@example.org\r\nTo: "
        + b", ".join(b"u%d@example.com" % i for i in range(20_000))
        + b"\r\n\r\nx\r\n"
    )
    message = convert(raw)
    assert len(message.to) == 20_000
    assert message.to[-1].address == "u19999@example.com"


def test_many_encoded_words_in_a_subject_convert() -> None:
    raw = b"From: a@example.org\r\nSubject: " + b"=?utf-8?q?=C3=A9?= " * 20_000 + b"\r\n\r\nx\r\n"
    message = convert(raw)
    assert message.subject == "é" * 20_000


def test_very_long_body_line_converts() -> None:
    raw = b"From: a@example.org\r\n\r\n" + b"y" * 5_000_000 + b"\r\n"
    assert len(convert(raw).text) == 5_000_001


# -- fuzzing: whatever the bytes, a message or a ParseError ---------------------------------------

_GOLDEN = sorted((Path(__file__).parents[1] / "messages").glob("*.eml"))


def _converts_or_refuses(raw: bytes) -> None:
    try:
        message = convert(raw)
    except ParseError as exc:
        reason = str(exc)
        message = None
    if message is None:
        assert reason
        return
    assert message.size == len(raw)
    assert message.message_id
    for text in (message.subject, message.text, message.html or "", message.headers, *message.defects):
        text.encode("utf-8")
    for attachment in message.attachments:
        assert attachment.content is not None
        assert attachment.size == len(attachment.content)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_convert_or_raise_parse_error(raw: bytes) -> None:
    _converts_or_refuses(raw)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_GOLDEN),
    st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=8)), max_size=6),
    st.integers(min_value=0),
)
def test_damaged_corpus_messages_convert_or_raise_parse_error(
    path: Path, edits: list[tuple[int, bytes]], cut: int
) -> None:
    raw = bytearray(path.read_bytes())
    for position, replacement in edits:
        at = position % (len(raw) + 1)
        raw[at : at + len(replacement)] = replacement
    _converts_or_refuses(bytes(raw[: max(1, cut % (len(raw) + 1))]))
