"""The top-level From, To, Cc, Reply-To and Date fields, read by mail-parser's own functions.

Which occurrence counts, which occurrences are checked, the defects mail-parser notes (in its
order) and raw 8-bit values: the values here are what ``mailparser.MailParser`` gave when the
converter still built one for these fields. Values read before are not read again.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone

import pytest
from mailparser import utils as mailparser_utils

from mailtrack import EmailAddress, IncomingMessage, MailParserConverter
from mailtrack.converting import _mailparser

RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
_REST = b"Message-ID: <1@example.org>\nDate: Wed, 1 May 2024 10:00:00 +0200\n\nbody\n"


def convert(head: bytes, rest: bytes = _REST) -> IncomingMessage:
    return MailParserConverter().convert(head + rest, received_at=RECEIVED)


def test_a_repeated_address_field_gives_the_addresses_of_its_first_occurrence() -> None:
    message = convert(
        b"From: First <first@example.org>\nFrom: Second <second@example.org>\n"
        b"To: one@example.org\nTo: two@example.org\n"
    )
    assert message.sender == EmailAddress(address="first@example.org", name="First")
    assert message.to == (EmailAddress(address="one@example.org"),)
    assert message.defects == ()


def test_every_occurrence_of_an_address_field_is_checked_for_defects() -> None:
    message = convert(b'From: First <first@example.org>\nFrom: "unterminated <x@example.org>\n')
    assert message.sender == EmailAddress(address="first@example.org", name="First")
    assert message.defects == ("the From header is malformed: unclosed delimiter",)


def test_address_defects_come_in_mail_parsers_order_whatever_the_order_of_the_fields() -> None:
    message = convert(
        b'To: x@example.org <a@example.org>, bad@@x\nFrom: a b c\nCc: "unterminated <x@example.org>\n'
        b"Reply-To: <>\n"
    )
    assert message.sender is None
    assert message.to == (EmailAddress(address="a@example.org", name="x@example.org"),)
    assert message.cc == ()
    assert message.reply_to == ()
    assert message.defects == (
        "the Cc header is malformed: unclosed delimiter",
        "the From header is malformed: invalid or ambiguous address",
        "the Reply-To header is malformed: invalid angle address",
        "the To header is malformed: invalid display name",
        "the To header is malformed: invalid or ambiguous address",
    )


def test_address_field_names_are_matched_in_any_case() -> None:
    message = convert(
        b"FROM: A <a@example.org>\nreply-to: R <r@example.org>, s@example.org\nCC: c@example.org\n"
    )
    assert message.sender == EmailAddress(address="a@example.org", name="A")
    assert message.cc == (EmailAddress(address="c@example.org"),)
    assert message.reply_to == (
        EmailAddress(address="r@example.org", name="R"),
        EmailAddress(address="s@example.org"),
    )


def test_names_in_raw_utf8_and_in_encoded_words_are_decoded() -> None:
    message = convert(b"From: J\xc3\xbcrgen <j@example.de>\nTo: =?utf-8?q?J=C3=BCrgen?= <k@example.de>\n")
    assert message.sender == EmailAddress(address="j@example.de", name="J\u00fcrgen")
    assert message.to == (EmailAddress(address="k@example.de", name="J\u00fcrgen"),)
    assert message.defects == ()


def test_the_first_date_field_counts() -> None:
    first_readable = convert(
        b"From: a@example.org\n",
        b"Message-ID: <1@example.org>\nDate: Wed, 1 May 2024 10:00:00 +0200\nDate: garbage\n\nbody\n",
    )
    assert first_readable.sent_at == datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    assert first_readable.defects == ()
    first_unreadable = convert(
        b"From: a@example.org\n",
        b"Message-ID: <1@example.org>\nDate: Mon, 31 Feb 2024 10:00:00 +0000\n"
        b"Date: Wed, 1 May 2024 10:00:00 +0200\n\nbody\n",
    )
    assert first_unreadable.sent_at == RECEIVED
    assert first_unreadable.defects == (
        "the Date header 'Mon, 31 Feb 2024 10:00:00 +0000' could not be read; using the time it was received",
    )


def test_a_date_with_the_wrong_weekday_is_read_by_its_calendar_date() -> None:
    message = convert(
        b"From: a@example.org\n",
        b"Message-ID: <1@example.org>\nDate: Tue, 1 May 2024 10:00:00 +0200\n\nbody\n",
    )
    assert message.sent_at == datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    assert message.defects == ()


@pytest.fixture
def values_read(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The values mail-parser is asked to read, from an empty memory of values read before."""
    read: list[object] = []
    real = mailparser_utils.get_addresses

    def counting(value: object, **options: object) -> object:
        read.append(value)
        return real(value, **options)

    monkeypatch.setattr(_mailparser, "get_addresses", counting)
    fresh = functools.lru_cache(maxsize=_mailparser.ADDRESS_CACHE_SIZE)(_mailparser._address_field)
    monkeypatch.setattr(_mailparser, "_address_field_seen", fresh)
    return read


def test_an_address_value_read_before_is_not_read_again_and_gives_the_same(values_read: list[object]) -> None:
    head = b"From: Ann <ann@example.org>\nTo: x@example.org <a@example.org>, bad@@x\n"
    first, second = convert(head), convert(head)
    assert first == second
    assert second.to == (EmailAddress(address="a@example.org", name="x@example.org"),)
    assert second.defects == (
        "the To header is malformed: invalid display name",
        "the To header is malformed: invalid or ambiguous address",
    )
    assert values_read == ["Ann <ann@example.org>", "x@example.org <a@example.org>, bad@@x"]


def test_long_and_raw_8bit_address_values_are_read_every_time(values_read: list[object]) -> None:
    many = ", ".join(f"user{number}@example.org" for number in range(100)).encode()
    assert len(many) > _mailparser.CACHED_ADDRESS_CHARS
    head = b"From: J\xc3\xbcrgen <j@example.de>\nTo: " + many + b"\n"
    first, second = convert(head), convert(head)
    assert first == second
    assert len(second.to) == 100
    assert second.sender == EmailAddress(address="j@example.de", name="J\u00fcrgen")
    assert len(values_read) == 4  # the raw 8-bit value is handed over as an email.header.Header
