"""Reading mbox files as a stream: where each message starts and ends, never the file at once.

An mbox file is messages one after the other, each opened by a ``From `` line (``From
sender date``). A line of a body that starts with ``From `` is quoted by the writer: mboxo
writes ``>From ``, mboxrd also quotes lines already quoted (``>>From ``). :func:`scan_mbox`
reads the file a line at a time (a line is read at most :data:`LINE_CHUNK` bytes at a time,
so a file of one endless line does not fill the memory) and yields where each message is;
:func:`read_message` reads one back and undoes the quoting (mboxrd's rule, which undoes
mboxo's too), as :func:`mailtrack._digest.content_digest` does with ``mbox_quoted``.

A ``From `` line counts as a separator only at the start of the file or after an empty line,
and only when it looks like one (a sender, then a date with a time of day and a year): a body
line ``From here on, …`` that a careless writer did not quote stays in its message, and the
scan says so (:attr:`MboxScan.notes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import attrs

__all__ = ["LINE_CHUNK", "MboxEntry", "MboxScan", "looks_like_mbox", "read_message", "scan_mbox"]

#: Most bytes read as one piece of a line.
LINE_CHUNK = 64 * 1024
#: ``From sender Thu Dec  4 13:45:00 2026`` (ctime), also with a zone or the year before the time.
_SEPARATOR = re.compile(rb"^From \S*[ \t]+.*\b\d{1,2}:\d\d(:\d\d)?\b.*\b\d{4}\b")
_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)
#: Unquoted ``From `` lines in bodies noted per file; more are counted, not listed.
_NOTES_PER_FILE = 5


def looks_like_mbox(head: bytes) -> bool:
    """Whether a file starting with *head* is an mbox file (it opens with a ``From `` line)."""
    return _SEPARATOR.match(head.split(b"\n", 1)[0]) is not None


@attrs.frozen
class MboxEntry:
    """One message of an mbox file: its ``From `` line at *offset*, then *length* bytes of message."""

    #: Where its ``From `` line starts.
    offset: int
    #: Where the message itself starts (after the ``From `` line).
    start: int
    #: Bytes of the message, quoted as in the file, without the blank line that ends it.
    length: int


@attrs.define
class MboxScan:
    """What :func:`scan_mbox` found besides the messages: lines worth telling the admin."""

    notes: list[str] = attrs.Factory(list)
    unquoted: int = 0


def scan_mbox(stream: BinaryIO, scan: MboxScan) -> Iterator[MboxEntry]:
    """The messages of the mbox file *stream* (read from its start), in order.

    Notes go to *scan*: ``From `` lines inside a message that were not quoted, and a file that
    ends in the middle of a line (cut short while it was copied or written).
    """
    position = 0
    line_number = 0
    at_line_start = True
    previous_blank = True  # the file's start counts as after an empty line
    current: tuple[int, int] | None = None  # offset of the From line, start of the message
    last_blank_length = 0  # bytes of the blank line just before this line, when there was one
    while True:
        piece = stream.readline(LINE_CHUNK)
        if not piece:
            break
        starts_line = at_line_start
        at_line_start = piece.endswith(b"\n")
        if starts_line:
            line_number += 1
        if starts_line and piece.startswith(b"From "):
            if previous_blank and _SEPARATOR.match(piece):
                if current is not None:
                    offset, start = current
                    yield MboxEntry(offset=offset, start=start, length=position - last_blank_length - start)
                offset = position
                position += len(piece)
                while not piece.endswith(b"\n"):  # a From line longer than LINE_CHUNK: to its end
                    piece = stream.readline(LINE_CHUNK)
                    if not piece:
                        break
                    position += len(piece)
                at_line_start = piece.endswith(b"\n")
                current = (offset, position)
                previous_blank, last_blank_length = False, 0
                continue
            if current is not None:
                scan.unquoted += 1
                if scan.unquoted <= _NOTES_PER_FILE:
                    scan.notes.append(
                        f"line {line_number}: a 'From ' line inside a message was not quoted "
                        "(kept as the message's text, not taken for the start of another)"
                    )
        blank = starts_line and piece in (b"\n", b"\r\n")
        previous_blank, last_blank_length = blank, (len(piece) if blank else 0)
        position += len(piece)
    if current is not None:
        offset, start = current
        yield MboxEntry(offset=offset, start=start, length=position - last_blank_length - start)
    if scan.unquoted > _NOTES_PER_FILE:
        scan.notes.append(f"… and {scan.unquoted - _NOTES_PER_FILE} more 'From ' lines that were not quoted")
    if position and not at_line_start:
        scan.notes.append(
            "the file ends in the middle of a line: its last message may have been cut short "
            "(imported as it is)"
        )


def read_message(stream: BinaryIO, entry: MboxEntry) -> bytes | None:
    """The message *entry* names, its ``From `` quoting undone; ``None`` when the file no longer
    has a ``From `` line there (it changed since the scan)."""
    stream.seek(entry.offset)
    if stream.read(5) != b"From ":
        return None
    stream.seek(entry.start)
    raw = stream.read(entry.length)
    if len(raw) != entry.length:
        return None
    return _QUOTED.sub(rb"\1", raw)
