"""Names and subjects in a charset nobody knows: read as UTF-8 with replacement characters, a
defect noted, never shown raw, control characters gone (issue #18.8, PLAN ruling "Unknown charsets")."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

from mailtrack import IncomingMessage, MailParserConverter


def convert(from_: bytes, subject: bytes = b"Hello") -> IncomingMessage:
    raw = (
        b"From: " + from_ + b"\r\nTo: support@example.com\r\nSubject: " + subject + b"\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <x@example.com>\r\n\r\nbody\r\n"
    )
    return MailParserConverter().convert(raw, received_at=datetime(2024, 1, 2, tzinfo=timezone.utc))


def test_a_sender_name_in_an_unknown_charset_is_read_as_utf8_with_replacement() -> None:
    message = convert(b"=?x-unknown?q?Bj=F6rn?= <bjorn@example.org>")
    assert message.sender is not None
    assert (message.sender.name, message.sender.address) == ("Bj\ufffdrn", "bjorn@example.org")
    assert message.defects == (
        "the From header uses the unknown charset 'x-unknown'; read as utf-8; undecodable bytes replaced",
    )


def test_utf8_in_an_unknown_charset_is_read_without_loss() -> None:
    message = convert(b"=?x-mystery?q?Bj=C3=B6rn?= <bjorn@example.org>")
    assert message.sender is not None
    assert message.sender.name == "Björn"
    assert message.defects == ("the From header uses the unknown charset 'x-mystery'; read as utf-8",)


@pytest.mark.parametrize(
    "from_",
    [
        b"=?x-unknown?q?Evil=07=1B=5B2J=0D=0ABcc=3A_x?= <evil@example.org>",
        b"=?x-unknown?b?" + base64.b64encode(b"A\x1b]0;pwned\x07\x00B\x9b") + b"?= <e@example.org>",
    ],
)
def test_control_characters_never_reach_the_name(from_: bytes) -> None:
    message = convert(from_)
    assert message.sender is not None
    name = message.sender.name
    assert "=?" not in name
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in name), repr(name)
    assert any("unknown charset 'x-unknown'" in defect for defect in message.defects)


def test_a_subject_in_an_unknown_charset_is_noted_too() -> None:
    message = convert(b"alice@example.org", subject=b"=?x-unknown?q?Gr=FC=DFe?= from Berlin")
    assert message.subject == "Gr\ufffd\ufffde from Berlin"
    assert message.defects == (
        "the Subject header uses the unknown charset 'x-unknown'; read as utf-8; undecodable bytes replaced",
    )


def test_a_known_charset_gives_no_defect() -> None:
    message = convert(b"=?iso-8859-1?q?Bj=F6rn?= <bjorn@example.org>", subject=b"=?utf-8?q?Gr=C3=BC=C3=9Fe?=")
    assert message.sender is not None
    assert (message.sender.name, message.subject, message.defects) == ("Björn", "Grüße", ())
