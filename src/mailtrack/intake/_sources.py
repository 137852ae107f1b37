"""Finding the messages of archives: .eml files, mbox files, Maildir folders, folders of these.

:func:`find_messages` walks the paths given and lists every message it finds as an
:class:`ArchivedMessage`, in order (the paths as given, a folder's entries by name, a Maildir's
``new/`` then ``cur/``), with the ledger key it is kept under (:func:`archive_key`). What it
cannot use gets a line through *note*, and the walk goes on: a path that does not exist or
cannot be read, a device, pipe or socket (never opened: reading a pipe would wait for ever), a
symbolic link below the paths given (never followed: the walk stays inside them; a path given
that is a link is followed, and marked so that ``--delete-after`` deletes neither it nor its
target), a folder seen before, a file that is no mail (binary, or text without a header; the
files of a Maildir too), a message larger than ``max_message_bytes``. Each message keeps the
:class:`FileState` of its file, so that it is read and deleted only while the file is unchanged.
An mbox file is scanned as a stream (:mod:`._mbox`), never read whole.
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

__all__ = [
    "ArchivedMessage",
    "ChangedError",
    "FileState",
    "Kind",
    "archive_key",
    "find_messages",
    "maildir_unique",
    "open_listed",
]

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
class FileState:
    """What a file was when it was listed: which file it is (device, inode), its size and its
    modification time. A file is read, and deleted, only while it is still that file."""

    device: int
    inode: int
    size: int
    modified_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> FileState:
        return cls(device=info.st_dev, inode=info.st_ino, size=info.st_size, modified_ns=info.st_mtime_ns)

    def same_file(self, info: os.stat_result) -> bool:
        """Whether *info* is of this file (it may have been renamed or written meanwhile)."""
        return (info.st_dev, info.st_ino) == (self.device, self.inode)

    def unchanged(self, info: os.stat_result) -> bool:
        """Whether *info* is of this file, neither written nor replaced since it was listed."""
        return self.same_file(info) and (info.st_size, info.st_mtime_ns) == (self.size, self.modified_ns)


@attrs.frozen
class ArchivedMessage:
    """One message found in an archive."""

    kind: Kind
    #: The entry listed (absolute): below the paths given never a symbolic link.
    path: str
    key: str
    #: Its size in bytes (for an mbox message, as quoted in the file).
    size: int
    #: The file holding it, as it was listed.
    state: FileState
    #: A symbolic link given to import: read through, but neither it nor its target is deleted.
    linked: bool = False
    #: mbox only: where its ``From `` line starts, and where the message starts.
    offset: int = 0
    start: int = 0
    #: Maildir only: the Maildir folder (with ``cur/`` and ``new/``).
    folder: str = ""


class ChangedError(OSError):
    """The file at a listed path is not the file that was listed any more."""


def open_listed(path: str, state: FileState, *, follow: bool) -> BinaryIO:
    """Open the file listed at *path* for reading, only if it still is that file.

    Args:
        follow: follow a symbolic link (only for a path given to import); otherwise a symbolic
            link put there meanwhile is refused.

    Raises:
        ChangedError: *path* is another file now (replaced, or a symbolic link put in its place).
        OSError: it cannot be opened.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0)
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise ChangedError(errno.ELOOP, "replaced by a symbolic link", path) from exc
        raise
    stream = os.fdopen(descriptor, "rb")
    info = os.fstat(descriptor)
    if not (stat.S_ISREG(info.st_mode) and state.same_file(info)):
        stream.close()
        raise ChangedError(errno.ESTALE, "replaced by another file", path)
    return stream


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

    A path given is followed if it is a symbolic link; below it, symbolic links are skipped
    (with a line): the walk never leaves the folders given.

    Args:
        left_out: gets the mbox files some of whose messages are not listed (too large), so
            that they are never deleted as imported.
    """
    walk = _Walk(
        max_message_bytes=max_message_bytes, note=note, left_out=set() if left_out is None else left_out
    )
    for path in paths:
        yield from walk.path(os.path.abspath(path), given=True)


def _lstat_folder(path: str) -> bool:
    """Whether *path* is a folder itself (not a symbolic link to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


@attrs.define
class _Walk:
    max_message_bytes: int
    note: Callable[[str], None]
    left_out: set[str]
    #: Folders entered, by (device, inode): a folder given twice is walked once.
    seen: set[tuple[int, int]] = attrs.Factory(set)

    def path(self, path: str, *, given: bool = False) -> Iterator[ArchivedMessage]:
        try:
            info = os.stat(path) if given else os.lstat(path)
        except OSError as exc:
            self._cannot(path, exc)
            return
        if stat.S_ISLNK(info.st_mode):
            self._symlink(path)
        elif stat.S_ISDIR(info.st_mode):
            yield from self._folder(path, info)
        elif stat.S_ISREG(info.st_mode):
            yield from self._file(path, info, linked=given and os.path.islink(path))
        else:
            self.note(f"{path}: not a file or a folder (a device, a pipe or a socket): skipped")

    def _symlink(self, path: str) -> None:
        self.note(f"{path}: a symbolic link inside the folder given: skipped (never followed there)")

    def _cannot(self, path: str, exc: OSError) -> None:
        if exc.errno == errno.ELOOP:
            self.note(f"{path}: a loop of symbolic links: skipped")
        elif exc.errno == errno.ENOENT:
            self.note(f"{path}: does not exist (or vanished while it was read): skipped")
        elif isinstance(exc, ChangedError):
            self.note(f"{path}: {exc.strerror} while it was listed: skipped")
        else:
            self.note(f"{path}: cannot be read ({exc.strerror or exc}): skipped")

    def _folder(self, path: str, info: os.stat_result) -> Iterator[ArchivedMessage]:
        identity = (info.st_dev, info.st_ino)
        if identity in self.seen:
            self.note(f"{path}: a folder seen before: skipped")
            return
        self.seen.add(identity)
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            self._cannot(path, exc)
            return
        if "cur" in names and "new" in names and _lstat_folder(os.path.join(path, "cur")):
            yield from self._maildir(path)
            # Maildir++ subfolders (.Sent, .Archive.2019) hold messages too; other files
            # (dovecot-uidlist, indexes) are the mail server's own.
            subfolders = [name for name in names if name.startswith(".") and name not in (".", "..")]
            for name in subfolders:
                child = os.path.join(path, name)
                if os.path.islink(child):
                    self._symlink(child)
                elif _lstat_folder(child):
                    yield from self.path(child)
            return
        for name in names:
            yield from self.path(os.path.join(path, name))

    def _maildir(self, folder: str) -> Iterator[ArchivedMessage]:
        for part in ("new", "cur"):
            where = os.path.join(folder, part)
            if not _lstat_folder(where):
                if os.path.islink(where):
                    self._symlink(where)
                continue
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
                    info = os.lstat(path)
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        continue  # moved to cur/ meanwhile: listed there, or read as it comes
                    self._cannot(path, exc)
                    continue
                if stat.S_ISLNK(info.st_mode):
                    self._symlink(path)
                    continue
                if not stat.S_ISREG(info.st_mode):
                    self.note(f"{path}: not a file: skipped")
                    continue
                state = FileState.of(info)
                if not self._looks_like_mail(path, state):
                    continue
                found = ArchivedMessage(
                    kind="maildir",
                    path=path,
                    key=archive_key("maildir", path),
                    size=info.st_size,
                    state=state,
                    folder=folder,
                )
                if self._fits(path, found.size):
                    yield found

    def _looks_like_mail(self, path: str, state: FileState) -> bool:
        """Whether the Maildir file at *path* is mail: not empty, not binary. Text without a
        header line is: the mail server delivered it so (Dovecot stores such a body as it came,
        and serves it by POP3 and IMAP), so it is imported as the server would give it."""
        try:
            with open_listed(path, state, follow=False) as stream:
                head = stream.read(_HEAD)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # moved to cur/ meanwhile: listed there
                self._cannot(path, exc)
            return False
        return self._header_first(path, head, delivered=True)

    def _header_first(self, path: str, head: bytes, *, delivered: bool = False) -> bool:
        if _HEADER_LINE.match(head) or (delivered and head and b"\0" not in head):
            return True
        if not head:
            what = "empty"
        elif delivered:
            what = "no mail: binary (a NUL byte in its first 4096 bytes)"
        else:
            what = "no mail: it does not start with a header line"
        self.note(f"{path}: {what}: skipped")
        return False

    def _file(self, path: str, info: os.stat_result, *, linked: bool) -> Iterator[ArchivedMessage]:
        state = FileState.of(info)
        # Keyed by the file itself, however the path given to it was spelt.
        real = os.path.realpath(path)
        try:
            with open_listed(path, state, follow=linked) as stream:
                head = stream.read(_HEAD)
                if looks_like_mbox(head):
                    yield from self._mbox(path, stream, state, linked=linked, real=real)
                    return
        except OSError as exc:
            self._cannot(path, exc)
            return
        if not self._header_first(path, head):
            return
        if self._fits(path, state.size):
            yield ArchivedMessage(
                kind="eml",
                path=path,
                key=archive_key("eml", real),
                size=state.size,
                state=state,
                linked=linked,
            )

    def _mbox(
        self, path: str, stream: BinaryIO, state: FileState, *, linked: bool, real: str
    ) -> Iterator[ArchivedMessage]:
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
                    key=archive_key("mbox", real, entry.offset),
                    size=entry.length,
                    state=state,
                    linked=linked,
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
