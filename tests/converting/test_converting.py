"""MailParserConverter: the golden corpus in tests/messages/, the malformed cases, and the rules."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mailtrack import (
    EmailAddress,
    IncomingMessage,
    MailParserConverter,
    MessageConverter,
    ParseError,
    ParseLimits,
)
from mailtrack.converting import _mailparser

MESSAGES = Path(__file__).parents[1] / "messages"
GOLDEN = sorted(MESSAGES.glob("*.eml"))
MALFORMED = sorted((MESSAGES / "malformed").glob("*.eml"))
RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def convert(raw: bytes, limits: ParseLimits | None = None) -> IncomingMessage:
    converter = MailParserConverter(limits) if limits else MailParserConverter()
    return converter.convert(raw, received_at=RECEIVED)


def _address(value: EmailAddress | None) -> dict[str, str] | None:
    return None if value is None else {"address": value.address, "name": value.name}


def _attachments(message: IncomingMessage) -> list[dict[str, Any]]:
    return [
        {
            "filename": a.filename,
            "original_filename": a.original_filename,
            "content_type": a.content_type,
            "disposition": a.disposition,
            "content_id": a.content_id,
            "size": a.size,
            "sha256": a.sha256,
        }
        for a in message.attachments
    ]


def _expected(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    return result


# -- golden corpus ------------------------------------------------------------------------------


def test_golden_corpus_is_there() -> None:
    names = {path.stem for path in GOLDEN}
    assert {"plain", "html_only", "alternative", "attachments", "inline_image", "reply"} <= names
    assert all(path.with_suffix(".json").is_file() for path in GOLDEN)


@pytest.mark.parametrize("path", GOLDEN, ids=[path.stem for path in GOLDEN])
def test_golden_message(path: Path) -> None:
    raw = path.read_bytes()
    expected = _expected(path)
    message = convert(raw)

    actual = {
        "subject": message.subject,
        "sender": _address(message.sender),
        "to": [_address(a) for a in message.to],
        "cc": [_address(a) for a in message.cc],
        "reply_to": [_address(a) for a in message.reply_to],
        "sent_at": message.sent_at.isoformat(),
        "message_id": message.message_id,
        "in_reply_to": list(message.in_reply_to),
        "references": list(message.references),
        "text": message.text,
        "html": message.html,
        "attachments": _attachments(message),
        "defects": list(message.defects),
    }
    assert actual == expected
    assert message.size == len(raw)
    assert message.received_at == RECEIVED
    for attachment in message.attachments:
        assert attachment.content is not None
        assert hashlib.sha256(attachment.content).hexdigest() == attachment.sha256
        assert len(attachment.content) == attachment.size


# -- malformed and hostile files ----------------------------------------------------------------


@pytest.mark.parametrize("path", MALFORMED, ids=[path.stem for path in MALFORMED])
def test_malformed_message(path: Path) -> None:
    raw = path.read_bytes()
    expected = _expected(path)
    if "error" in expected:
        with pytest.raises(ParseError, match=expected["error"]):
            convert(raw)
        return
    message = convert(raw)
    for key, value in expected.items():
        if key == "defects_contain":
            for fragment in value:
                assert any(fragment in defect for defect in message.defects), (fragment, message.defects)
        elif key == "text_contains":
            assert value in message.text
        elif key == "no_header_fields":
            assert not set(value) & set(message.header_fields)
        elif key == "message_id_derived":
            assert message.message_id == f"{hashlib.sha256(raw).hexdigest()}@mailtrack.invalid"
        elif key == "sender":
            assert _address(message.sender) == value
        elif key == "sent_at":
            assert message.sent_at.isoformat() == value
        elif key == "attachments":
            assert len(message.attachments) == len(value)
            for attachment, wanted in zip(message.attachments, value, strict=True):
                assert attachment.filename == wanted["filename"]
                assert attachment.size == wanted["size"]
                assert attachment.content is not None
                assert attachment.content.startswith(wanted["content_startswith"].encode())
        else:
            assert getattr(message, key) == value, key


# -- the rules, one by one -----------------------------------------------------------------------


def test_converter_implements_the_protocol() -> None:
    assert isinstance(MailParserConverter(), MessageConverter)
    assert MailParserConverter().limits == ParseLimits()


def test_attachment_content_is_byte_identical_to_the_base64_in_the_mail() -> None:
    raw = (MESSAGES / "attachments.eml").read_bytes()
    blocks = re.findall(rb"Content-Transfer-Encoding: base64\n\n(.*?)\n--mixed-b", raw, re.DOTALL)
    assert len(blocks) == 3
    message = convert(raw)
    assert [a.content for a in message.attachments] == [base64.b64decode(b"".join(b.split())) for b in blocks]
    assert message.attachments[1].content == bytes(range(256))


def test_quoted_printable_and_8bit_attachments_are_decoded_exactly() -> None:
    binary = bytes(range(1, 256)).replace(b"\r", b"").replace(b"\n", b"") + b"\r\nline two\r\n\r\nend"
    raw = (
        b"From: a@example.org\r\nSubject: qp\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--B\r\nContent-Type: text/csv; name=data.csv\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"a;b=3Dc;=C3=A9\r\nsoft=\r\nbreak\r\n"
        b"--B\r\nContent-Type: application/octet-stream; name=raw.bin\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\n" + binary + b"\r\n--B--\r\n"
    )
    csv, blob = convert(raw).attachments
    assert csv.filename == "data.csv"
    assert csv.content == "a;b=c;é\r\nsoftbreak".encode()
    assert blob.content == binary


def test_headers_are_the_raw_header_block_without_a_lost_byte() -> None:
    raw = (MESSAGES / "plain.eml").read_bytes()
    message = convert(raw)
    assert message.headers.encode("latin-1") == raw.split(b"\r\n\r\n", 1)[0]
    eight_bit = b"From: a@example.org\nSubject: caf\xe9 \xff\nX-Raw: \x80\x81\n\nbody\n"
    assert convert(eight_bit).headers.encode("latin-1") == eight_bit.split(b"\n\n")[0]


def test_header_fields_are_lower_case_tuples_in_order_and_decoded() -> None:
    raw = (
        b"Received: from a by b; Mon, 1 Apr 2024 10:00:00 +0000\n"
        b"Received: from c by d; Mon, 1 Apr 2024 09:00:00 +0000\n"
        b"Auto-Submitted: auto-replied\n"
        b"X-Note: =?utf-8?q?gr=C3=BC=C3=9Fe?=\n"
        b"X-Folded: first\n second\n"
        b"From: a@example.org\n\nbody\n"
    )
    message = convert(raw)
    assert message.header_fields["received"] == (
        "from a by b; Mon, 1 Apr 2024 10:00:00 +0000",
        "from c by d; Mon, 1 Apr 2024 09:00:00 +0000",
    )
    assert message.header("AUTO-SUBMITTED") == "auto-replied"
    assert message.header("x-note") == "grüße"
    assert message.header("x-folded") == "first second"
    assert message.header("x-missing") is None


def test_subject_is_decoded_and_one_line() -> None:
    raw = (
        b"From: a@example.org\n"
        b"Subject: =?utf-8?B?R3LDvMOfZQ==?= =?utf-8?Q?_und_=0D=0ABcc:_x@evil.example?=\n"
        b" folded\n\nbody\n"
    )
    message = convert(raw)
    assert message.subject == "Grüße und  Bcc: x@evil.example folded"
    assert "bcc" not in message.header_fields


def test_date_is_timezone_aware_utc() -> None:
    raw = b"From: a@example.org\nDate: Sat, 29 Feb 2020 23:30:00 -0130\n\nbody\n"
    sent_at = convert(raw).sent_at
    assert sent_at == datetime(2020, 3, 1, 1, 0, tzinfo=timezone.utc)
    assert sent_at.utcoffset() == timedelta(0)


def test_naive_received_at_is_taken_as_utc() -> None:
    message = MailParserConverter().convert(
        b"From: a@example.org\n\nbody\n", received_at=datetime(2024, 1, 2, 3, 4)
    )
    assert message.received_at == datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)
    assert message.sent_at == message.received_at


def test_missing_message_id_is_derived_from_the_content_deterministically() -> None:
    raw = b"From: a@example.org\nSubject: x\n\nbody\n"
    first, second = convert(raw), convert(raw)
    assert first.message_id == second.message_id == f"{hashlib.sha256(raw).hexdigest()}@mailtrack.invalid"
    assert convert(raw + b"more\n").message_id != first.message_id


def test_unnamed_parts_get_the_same_names_every_time() -> None:
    raw = (MESSAGES / "inline_image.eml").read_bytes()
    names = {tuple(a.filename for a in convert(raw).attachments) for _ in range(3)}
    assert names == {("screenshot.png", "part-5.png")}


def test_forwarded_message_is_one_eml_attachment() -> None:
    raw = (
        b"From: a@example.org\nSubject: Fwd: hello\nContent-Type: multipart/mixed; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nSee below.\n"
        b"--B\nContent-Type: message/rfc822\n\n"
        b"From: b@example.org\nSubject: hello\n\ninner text\n"
        b"--B--\n"
    )
    message = convert(raw)
    assert message.text == "See below."
    (forwarded,) = message.attachments
    assert forwarded.filename == "part-2.eml"
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.content is not None
    assert b"Subject: hello" in forwarded.content
    assert b"inner text" in forwarded.content


def test_several_text_parts_are_joined_and_text_attachments_stay_attachments() -> None:
    raw = (
        b"From: a@example.org\nContent-Type: multipart/mixed; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nfirst\n"
        b"--B\nContent-Type: image/gif; name=a.gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n"
        b"--B\nContent-Type: text/plain\n\nsecond\n"
        b"--B\nContent-Type: text/plain\nContent-Disposition: attachment\n\nnot body\n"
        b"--B--\n"
    )
    message = convert(raw)
    assert message.text == "first\nsecond"
    assert [a.filename for a in message.attachments] == ["a.gif", "part-4.txt"]
    assert message.html is None


def test_html_is_kept_exactly_as_sent() -> None:
    html = '<html>\r\n<body onload="x()"><p>A&amp;B <script>alert(1)</script></p></body>\r\n</html>'
    raw = b"From: a@example.org\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
    assert convert(raw).html == html


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("iso-8859-1", "Grüße, Ærø"),
        ("windows-1252", "€ „quoted“ \u2013 dash"),
        ("koi8-r", "Привет, мир"),
        ("iso-2022-jp", "こんにちは世界"),
        ("gb2312", "你好\uff0c世界"),
        ("shift_jis", "こんにちは、カタカナ"),
        ("utf-8", "ok ✓ 😀"),
    ],
)
def test_body_charsets(charset: str, text: str) -> None:
    head = (
        "From: a@example.org\nDate: Mon, 1 Apr 2024 10:00:00 +0000\nMessage-ID: <c@example.org>\n"
        f"Content-Type: text/plain; charset={charset}\n\n"
    )
    raw = head.encode() + text.encode(charset)
    message = convert(raw)
    assert message.text == text
    assert message.defects == ()


def test_bytes_to_bytes_codec_named_as_charset_is_not_used() -> None:
    raw = b"From: a@example.org\nContent-Type: text/plain; charset=base64\n\nSGVsbG8= caf\xe9\n"
    message = convert(raw)
    assert message.text == "SGVsbG8= caf\xe9\n"
    assert (
        "the text/plain part 0 declares the unknown charset 'base64'; read as windows-1252" in message.defects
    )


def test_empty_input_and_non_bytes_raise_parse_error() -> None:
    with pytest.raises(ParseError, match="message is empty"):
        convert(b"")
    with pytest.raises(ParseError, match="must be bytes, not str"):
        MailParserConverter().convert("From: a@example.org\n\nx", received_at=RECEIVED)  # type: ignore[arg-type]


def test_unexpected_parser_failure_becomes_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def exploding(value: object, **options: object) -> list[tuple[str, str]]:
        raise KeyError("boom")

    # mail-parser's address parser, as the converter calls it (not past the values it remembers).
    monkeypatch.setattr(_mailparser, "get_addresses", exploding)
    monkeypatch.setattr(_mailparser, "_address_field_seen", _mailparser._address_field)
    with pytest.raises(ParseError, match=r"could not be parsed \(KeyError: 'boom'\)") as caught:
        convert(b"From: a@example.org\n\nbody\n")
    assert isinstance(caught.value.__cause__, KeyError)


def _nested(depth: int) -> bytes:
    head = b"From: a@example.org\nSubject: nested\n"
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth)
    )
    closing = b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\n\ndeep\n" + closing


def _parts(count: int) -> bytes:
    body = b"".join(b"--B\nContent-Type: text/plain\n\npart %d\n" % i for i in range(count))
    return b"From: a@example.org\nContent-Type: multipart/mixed; boundary=B\n\n" + body + b"--B--\n"


def test_limits_are_applied_and_named() -> None:
    assert convert(_nested(3), ParseLimits(max_depth=3)).text == "deep"
    with pytest.raises(ParseError, match=r"more than 2 deep \(limit max_depth\)"):
        convert(_nested(3), ParseLimits(max_depth=2))
    assert convert(_parts(4), ParseLimits(max_parts=5)).text == "part 0\npart 1\npart 2\npart 3"
    with pytest.raises(ParseError, match=r"more than 4 MIME parts \(limit max_parts\)"):
        convert(_parts(4), ParseLimits(max_parts=4))
    headers = b"".join(b"X-H%d: v\n" % i for i in range(10)) + b"\nbody\n"
    with pytest.raises(ParseError, match=r"more than 9 header fields \(limit max_header_fields\)"):
        convert(headers, ParseLimits(max_header_fields=9))
    with pytest.raises(ParseError, match=r"larger than 50 bytes \(limit max_header_bytes\)"):
        convert(headers, ParseLimits(max_header_bytes=50))


def test_time_budget_stops_the_conversion() -> None:
    with pytest.raises(ParseError, match=r"more than 1e-09 seconds \(limit time_budget\)"):
        convert(_parts(10), ParseLimits(time_budget=1e-9))
