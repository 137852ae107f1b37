"""The mbox scanner: where messages start and end, whatever the size of the chunks it reads."""

from __future__ import annotations

import io
import mailbox
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailtrack.intake import _mbox
from mailtrack.intake._mbox import MboxEntry, MboxScan, read_message, scan_mbox
from mailtrack.testing import build_message

SEPARATOR = b"From alice@example.com Mon May  6 09:30:00 2024"


def scanned(data: bytes) -> tuple[list[MboxEntry], list[str], list[bytes]]:
    scan = MboxScan()
    stream = io.BytesIO(data)
    entries = list(scan_mbox(stream, scan))
    return entries, scan.notes, [read_message(stream, entry) or b"" for entry in entries]


@pytest.mark.parametrize("chunk", [1, 5, 7, 64, 1024 * 1024])
def test_messages_are_found_whatever_the_chunk_size(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = [
        build_message(subject=f"m{n}", text=f"line\nFrom the body {n}\n\nFrom me to you\n").replace(
            b"\r\n", b"\n"
        )
        for n in range(4)
    ]
    box = mailbox.mbox(tmp_path / "a.mbox")
    for raw in raws:
        box.add(raw)
    box.close()
    data = (tmp_path / "a.mbox").read_bytes()
    monkeypatch.setattr(_mbox, "SCAN_CHUNK", chunk)
    entries, notes, messages = scanned(data)
    assert messages == raws
    assert notes == []
    assert [data[entry.offset : entry.offset + 5] for entry in entries] == [b"From "] * 4


@pytest.mark.parametrize("chunk", [3, 1024 * 1024])
def test_an_unquoted_from_line_is_named_by_its_line_number(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_mbox, "SCAN_CHUNK", chunk)
    data = SEPARATOR + b"\nSubject: a\n\nbody\n\nFrom here on\n\n" + SEPARATOR + b"\nSubject: b\n\nend\n"
    entries, notes, messages = scanned(data)
    assert messages == [b"Subject: a\n\nbody\n\nFrom here on\n", b"Subject: b\n\nend\n"]
    assert notes == [
        "line 6: a 'From ' line inside a message was not quoted (kept as the message's text, not taken "
        "for the start of another)"
    ]
    assert len(entries) == 2


def test_crlf_files_and_a_file_cut_short() -> None:
    data = SEPARATOR + b"\r\nSubject: a\r\n\r\nx\r\n\r\n" + SEPARATOR + b"\r\nSubject: b\r\n\r\nhalf a li"
    _entries, notes, messages = scanned(data)
    assert messages == [b"Subject: a\r\n\r\nx\r\n", b"Subject: b\r\n\r\nhalf a li"]
    assert notes == [
        "the file ends in the middle of a line: its last message may have been cut short (imported as it is)"
    ]


def test_a_from_line_longer_than_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_mbox, "SCAN_CHUNK", 1000)
    monkeypatch.setattr(_mbox, "LINE_CHUNK", 100)
    long_line = SEPARATOR + b" " + b"x" * 5000
    data = SEPARATOR + b"\nSubject: a\n\nbody\n\n" + long_line + b"\nSubject: b\n\nend\n"
    entries, _notes, messages = scanned(data)
    assert messages == [b"Subject: a\n\nbody\n", b"Subject: b\n\nend\n"]
    assert entries[1].start == data.index(b"Subject: b")


@given(
    bodies=st.lists(
        st.lists(st.sampled_from([b"", b"From x", b">From y", b"text", b"From ", b"\r"]), max_size=6),
        min_size=1,
        max_size=5,
    ),
    chunk=st.integers(min_value=1, max_value=40),
)
def test_chunked_scanning_agrees_with_reading_whole(bodies: list[list[bytes]], chunk: int) -> None:
    data = b"".join(SEPARATOR + b"\nSubject: s\n\n" + b"\n".join(lines) + b"\n\n" for lines in bodies)
    whole = scanned(data)
    original = _mbox.SCAN_CHUNK
    _mbox.SCAN_CHUNK = chunk
    try:
        assert scanned(data) == whole
    finally:
        _mbox.SCAN_CHUNK = original
