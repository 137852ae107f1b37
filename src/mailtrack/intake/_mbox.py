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

#: Most bytes of a From line looked at (a longer line is read past, not kept).
LINE_CHUNK = 64 * 1024
#: Bytes read at a time while the file is scanned.
SCAN_CHUNK = 1024 * 1024
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

    The file is read :data:`SCAN_CHUNK` bytes at a time and searched for lines that start with
    ``From `` (in C, by :meth:`bytes.find`): only those are looked at one by one. Notes go to
    *scan*: ``From `` lines inside a message that were not quoted, and a file that ends in the
    middle of a line (cut short while it was copied or written).
    """
    reader = _Chunks(stream)
    current: tuple[int, int] | None = None  # offset of the From line, start of the message
    position = 0  # where the search goes on, in the file
    if reader.startswith_from():
        is_separator = _SEPARATOR.match(reader.line(0)) is not None
        line_end = reader.line_end(0)
        if is_separator:
            current = (0, line_end)
        position = line_end
    while True:
        found = reader.find_from_line(position)
        if found is None:
            break
        before = reader.before(found, 4)
        blank = 2 if before.endswith(b"\r\n\r\n") else 1 if before.endswith(b"\n\n") else 0
        is_separator = bool(blank) and _SEPARATOR.match(reader.line(found)) is not None
        number = reader.line_number(found) if not is_separator and current is not None else 0
        line_end = reader.line_end(found)
        if is_separator:
            if current is not None:
                yield MboxEntry(offset=current[0], start=current[1], length=found - blank - current[1])
            current = (found, line_end)
        elif current is not None:
            scan.unquoted += 1
            if scan.unquoted <= _NOTES_PER_FILE:
                scan.notes.append(
                    f"line {number}: a 'From ' line inside a message was not quoted "
                    "(kept as the message's text, not taken for the start of another)"
                )
        position = max(found + 1, line_end)
    size, tail = reader.end()
    if current is not None:
        blank = 2 if tail.endswith(b"\r\n\r\n") else 1 if tail.endswith(b"\n\n") else 0
        yield MboxEntry(offset=current[0], start=current[1], length=max(0, size - blank - current[1]))
    if scan.unquoted > _NOTES_PER_FILE:
        scan.notes.append(f"… and {scan.unquoted - _NOTES_PER_FILE} more 'From ' lines that were not quoted")
    if size and not tail.endswith(b"\n"):
        scan.notes.append(
            "the file ends in the middle of a line: its last message may have been cut short "
            "(imported as it is)"
        )


class _Chunks:
    """A window on a file read from its start, :data:`SCAN_CHUNK` bytes at a time: what the
    scan searches, by file positions. The window forgets what lies more than a few bytes before
    where the scan is, so it holds a chunk and one From line (at most :data:`LINE_CHUNK` bytes
    of it) at a time."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._data = b""
        self._base = 0  # the file position of _data[0]
        self._newlines = 0  # line ends in the file before _base
        self._eof = False
        self._fill()

    def _fill(self) -> bool:
        """Read the next chunk into the window; False at the end of the file."""
        if self._eof:
            return False
        more = self._stream.read(SCAN_CHUNK)
        if not more:
            self._eof = True
            return False
        self._data += more
        return True

    def _drop_before(self, position: int) -> None:
        """Forget the window's bytes before the file position *position*, but for 4."""
        cut = position - 4 - self._base
        if cut > 0:
            self._newlines += self._data.count(b"\n", 0, cut)
            self._data = self._data[cut:]
            self._base += cut

    def startswith_from(self) -> bool:
        while len(self._data) < 5 and self._fill():
            pass
        return self._data.startswith(b"From ")

    def find_from_line(self, position: int) -> int | None:
        """The file position of the next line starting with ``From ``, at *position* or after."""
        self._drop_before(position)
        while True:
            index = self._data.find(b"\nFrom ", max(0, position - self._base - 1))
            if index != -1:
                return self._base + index + 1
            self._drop_before(max(position, self._base + len(self._data) - 6))
            if not self._fill():
                return None

    def before(self, position: int, count: int) -> bytes:
        """Up to *count* (at most 4) bytes before the file position *position*."""
        at = position - self._base
        return self._data[max(0, at - count) : at]

    def line(self, position: int) -> bytes:
        """The line starting at *position*, up to :data:`LINE_CHUNK` bytes of it."""
        at = position - self._base
        while True:
            end = self._data.find(b"\n", at, at + LINE_CHUNK)
            if end != -1:
                return self._data[at : end + 1]
            if len(self._data) - at >= LINE_CHUNK or not self._fill():
                return self._data[at : at + LINE_CHUNK]

    def line_end(self, position: int) -> int:
        """The file position after the line starting at *position* (a line of any length)."""
        searched = position - self._base
        while True:
            index = self._data.find(b"\n", searched)
            if index != -1:
                return self._base + index + 1
            self._drop_before(self._base + len(self._data))
            searched = len(self._data)
            if not self._fill():
                return self._base + len(self._data)

    def line_number(self, position: int) -> int:
        return self._newlines + self._data.count(b"\n", 0, position - self._base) + 1

    def end(self) -> tuple[int, bytes]:
        """The file's size and its last four bytes (the rest of the file is read)."""
        while self._fill():
            self._drop_before(self._base + len(self._data))
        return self._base + len(self._data), self._data[-4:]


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
