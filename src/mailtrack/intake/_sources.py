"""Finding the messages of archives: .eml files, mbox files, Maildir folders, folders of these.

:func:`find_messages` walks the paths given and lists every message it finds as an
:class:`ArchivedMessage`, in order (the paths as given, a folder's entries by name, a Maildir's
``new/`` then ``cur/``), with the ledger key it is kept under (:func:`archive_key`). What it
cannot use gets a line through *note*, and the walk goes on: a path that does not exist or
cannot be read, a device, pipe or socket (never opened: reading a pipe would wait for ever), a
symbolic link loop or a folder seen before, a file that is no mail (binary, or text without a
header), a message larger than ``max_message_bytes``. An mbox file is scanned as a stream
(:mod:`._mbox`), never read whole.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO

import attrs

from ._mbox import MboxScan, looks_like_mbox, scan_mbox

__all__ = ["ArchivedMessage", "Kind", "archive_key", "find_messages", "maildir_unique"]

Kind = str  # "eml", "mbox" or "maildir"
#: Bytes looked at to tell what a file is.
_HEAD = 4096
#: A first line that is a header field (``Name: value``), or an mbox ``From `` line.
_HEADER_LINE = re.compile(rb"^(?:[!-9;-~]+:|From )")
#: Runs of digits in a file name.
_NUMBERS = re.compile(r"(\d+)")
#: The longest key kept with a path in it; longer paths are keyed by their digest.
_KEY_PATH_LENGTH = 200


@attrs.frozen
class ArchivedMessage:
    """One message found in an archive."""

    kind: Kind
    #: The file holding it (absolute, symbolic links resolved).
    path: str
    key: str
    #: Its size in bytes (for an mbox message, as quoted in the file).
    size: int
    #: mbox only: where its ``From `` line starts, and where the message starts.
    offset: int = 0
    start: int = 0
    #: Maildir only: the Maildir folder (with ``cur/`` and ``new/``).
    folder: str = ""


def _delivery_order(name: str) -> tuple[tuple[int, str], ...]:
    """A Maildir file name as a sort key in the order of delivery: its numbers compared as
    numbers (``1733320000.M99P7`` before ``1733320000.M100P7``: microseconds are not padded)."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in _NUMBERS.split(name) if part)


def maildir_unique(name: str) -> str:
    """The unique part of a Maildir file name: what stays when the file moves from ``new/`` to
    ``cur/`` and its flags change (``1733320000.M1P2.host,S=1234:2,S`` → ``1733320000.M1P2.host,S=1234``)."""
    return name.partition(":")[0].partition("!")[0]


def archive_key(kind: Kind, path: str, offset: int = 0) -> str:
    """The ledger key of a message: ``eml:PATH``, ``mbox:PATH@OFFSET``, ``maildir:UNIQUE``
    (a Maildir message keeps its key when it moves or its flags change; a path longer than
    200 characters is named by its SHA-256)."""
    if kind == "maildir":
        return f"maildir:{maildir_unique(os.path.basename(path))}"
    if len(path) > _KEY_PATH_LENGTH:
        path = "sha256:" + hashlib.sha256(os.fsencode(path)).hexdigest()
    return f"mbox:{path}@{offset}" if kind == "mbox" else f"eml:{path}"


def find_messages(
    paths: list[str],
    *,
    max_message_bytes: int,
    note: Callable[[str], None],
    left_out: set[str] | None = None,
) -> Iterator[ArchivedMessage]:
    """The messages of *paths*, in order; what cannot be imported gets a line through *note*.

    Args:
        left_out: gets the mbox files some of whose messages are not listed (too large), so
            that they are never deleted as imported.
    """
    walk = _Walk(
        max_message_bytes=max_message_bytes, note=note, left_out=set() if left_out is None else left_out
    )
    for path in paths:
        yield from walk.path(os.path.abspath(path))


@attrs.define
class _Walk:
    max_message_bytes: int
    note: Callable[[str], None]
    left_out: set[str]
    #: Folders entered, by (device, inode): a symbolic link back up is not followed again.
    seen: set[tuple[int, int]] = attrs.Factory(set)

    def path(self, path: str) -> Iterator[ArchivedMessage]:
        try:
            info = os.stat(path)
        except OSError as exc:
            self._cannot(path, exc)
            return
        if stat.S_ISDIR(info.st_mode):
            yield from self._folder(path, info)
        elif stat.S_ISREG(info.st_mode):
            yield from self._file(path, info.st_size)
        else:
            self.note(f"{path}: not a file or a folder (a device, a pipe or a socket): skipped")

    def _cannot(self, path: str, exc: OSError) -> None:
        if exc.errno == errno.ELOOP:
            self.note(f"{path}: a loop of symbolic links: skipped")
        elif exc.errno == errno.ENOENT:
            self.note(f"{path}: does not exist (or vanished while it was read): skipped")
        else:
            self.note(f"{path}: cannot be read ({exc.strerror or exc}): skipped")

    def _folder(self, path: str, info: os.stat_result) -> Iterator[ArchivedMessage]:
        identity = (info.st_dev, info.st_ino)
        if identity in self.seen:
            self.note(f"{path}: a folder seen before (a symbolic link back to it): skipped")
            return
        self.seen.add(identity)
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            self._cannot(path, exc)
            return
        if "cur" in names and "new" in names and os.path.isdir(os.path.join(path, "cur")):
            yield from self._maildir(path)
            # Maildir++ subfolders (.Sent, .Archive.2019) hold messages too; other files
            # (dovecot-uidlist, indexes) are the mail server's own.
            subfolders = [name for name in names if name.startswith(".") and name not in (".", "..")]
            for name in subfolders:
                child = os.path.join(path, name)
                if os.path.isdir(child):
                    yield from self.path(child)
            return
        for name in names:
            yield from self.path(os.path.join(path, name))

    def _maildir(self, folder: str) -> Iterator[ArchivedMessage]:
        real = os.path.realpath(folder)
        for part in ("new", "cur"):
            where = os.path.join(real, part)
            try:
                names = sorted(
                    (name for name in os.listdir(where) if not name.startswith(".")), key=_delivery_order
                )
            except OSError as exc:
                self._cannot(where, exc)
                continue
            for name in names:
                path = os.path.join(where, name)
                try:
                    info = os.stat(path)
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        continue  # moved to cur/ meanwhile: listed there, or read as it comes
                    self._cannot(path, exc)
                    continue
                if not stat.S_ISREG(info.st_mode):
                    self.note(f"{path}: not a file: skipped")
                    continue
                found = ArchivedMessage(
                    kind="maildir",
                    path=path,
                    key=archive_key("maildir", path),
                    size=info.st_size,
                    folder=real,
                )
                if self._fits(path, found.size):
                    yield found

    def _file(self, path: str, size: int) -> Iterator[ArchivedMessage]:
        real = os.path.realpath(path)
        try:
            with open(real, "rb") as stream:
                head = stream.read(_HEAD)
                if looks_like_mbox(head):
                    yield from self._mbox(real, stream)
                    return
        except OSError as exc:
            self._cannot(path, exc)
            return
        if not _HEADER_LINE.match(head):
            what = "empty" if not head else "no mail: it does not start with a header line"
            self.note(f"{path}: {what}: skipped")
            return
        if self._fits(path, size):
            yield ArchivedMessage(kind="eml", path=real, key=archive_key("eml", real), size=size)

    def _mbox(self, path: str, stream: BinaryIO) -> Iterator[ArchivedMessage]:
        stream.seek(0)
        scan = MboxScan()
        for entry in scan_mbox(stream, scan):
            where = f"{path}@{entry.offset}"
            if not self._fits(where, entry.length):
                self.left_out.add(path)
            else:
                yield ArchivedMessage(
                    kind="mbox",
                    path=path,
                    key=archive_key("mbox", path, entry.offset),
                    size=entry.length,
                    offset=entry.offset,
                    start=entry.start,
                )
        for line in scan.notes:
            self.note(f"{path}: {line}")

    def _fits(self, where: str, size: int) -> bool:
        if size <= self.max_message_bytes:
            return True
        self.note(
            f"{where}: {size} bytes, more than max_message_bytes ({self.max_message_bytes}): "
            "not imported (raise max_message_bytes to import it)"
        )
        return False
