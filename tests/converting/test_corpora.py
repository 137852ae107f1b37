"""Every message of the third-party corpora converts, or raises ParseError: never anything else."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailtrack import IncomingMessage, MailParserConverter, ParseError

_FOLDERS = ("cpython-test-email", "mail-parser")
_ROOT = Path(os.environ.get("MAILTRACK_CORPORA", "/nonexistent"))

if not all((_ROOT / folder).is_dir() for folder in _FOLDERS):
    pytest.skip(
        "the third-party corpora are not available: set MAILTRACK_CORPORA to the folder holding "
        + " and ".join(_FOLDERS),
        allow_module_level=True,
    )

_FILES = sorted(
    (folder, path.name) for folder in _FOLDERS for path in (_ROOT / folder).iterdir() if path.is_file()
)
_RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("folder", "name"), _FILES, ids=[f"{f}/{n}" for f, n in _FILES])
def test_corpus_message_converts_or_raises_parse_error(corpora_dir: Path, folder: str, name: str) -> None:
    raw = (corpora_dir / folder / name).read_bytes()
    try:
        message = MailParserConverter().convert(raw, received_at=_RECEIVED)
    except ParseError as exc:
        reason = str(exc)
        message = None
    if message is None:
        assert reason, "a ParseError must say why"
        return
    assert isinstance(message, IncomingMessage)
    assert message.size == len(raw)
    assert message.message_id
    assert message.sent_at.tzinfo is not None
    assert "\n" not in message.subject
    assert "\r" not in message.subject
    for attachment in message.attachments:
        assert attachment.content is not None
        assert attachment.size == len(attachment.content)
        assert "/" not in attachment.filename
        assert "\\" not in attachment.filename
    # Nothing handed out may contain a lone surrogate: stores must be able to encode all of it.
    for text in (message.subject, message.text, message.html or "", *message.defects):
        text.encode("utf-8")


def test_corpora_hold_the_expected_files(corpora_dir: Path) -> None:
    assert len(list((corpora_dir / "cpython-test-email").iterdir())) >= 40
    assert (corpora_dir / "mail-parser" / "mail_outlook_1.msg").is_file()


def test_outlook_msg_is_refused_naming_outlook(corpora_dir: Path) -> None:
    raw = (corpora_dir / "mail-parser" / "mail_outlook_1.msg").read_bytes()
    with pytest.raises(ParseError, match=r"Outlook \.msg file, not an RFC 5322 message"):
        MailParserConverter().convert(raw, received_at=_RECEIVED)


def test_corpus_attachment_is_byte_identical_to_the_decoded_part(corpora_dir: Path) -> None:
    # msg_07: a GIF sent base64-encoded; its bytes must come out exactly as the base64 says.
    import base64
    import hashlib

    raw = (corpora_dir / "cpython-test-email" / "msg_07.txt").read_bytes()
    message = MailParserConverter().convert(raw, received_at=_RECEIVED)
    (gif,) = message.attachments
    encoded = raw[raw.index(b"R0lGOD") : raw.index(b"--BOUNDARY--")]  # "R0lGOD": base64 of "GIF8"
    expected = base64.b64decode(b"".join(encoded.split()))
    assert gif.filename == "dingusfish.gif"
    assert gif.content == expected
    assert gif.sha256 == hashlib.sha256(expected).hexdigest()
    assert gif.content is not None
    assert gif.content.startswith(b"GIF87a")
