"""The archives as a mailbox: :class:`ArchiveFetcher` lists and reads the messages of .eml files,
mbox files and Maildir folders, so that an archive import is a run like a POP3 or IMAP one.

Its "deletions" happen only at ``close(commit=True)``, and only with ``delete_after``: a file of
one message (.eml, Maildir) is removed once its message was committed; an mbox file once every
message in it was (the file is never rewritten). Only the entry listed is removed (never the
target of a symbolic link: a link given to import is kept, and so is its target), and only if it
is still the file listed, unchanged (same device and inode, size and modification time): an mbox
a mail server appended to while it was imported is kept, with a line through *note*.

Files are read as they are needed (an mbox file stays open while its messages are read one
after the other), and only while each is still the file listed. A message that cannot be read
any more (its file vanished, changed or was replaced since the listing) gets a line through
*note* and is left: it is imported by a later import that finds it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

import attrs

from ..models import ConnectionCheck, MessageInfo
from ._mbox import MboxEntry, read_message
from ._sources import ArchivedMessage, ChangedError, find_messages, maildir_unique, open_listed

__all__ = ["ArchiveFetcher", "Progress"]

#: Called with the position reached in the listing and the number of messages listed.
Progress = Callable[[int, int], None]


@attrs.define
class ArchiveFetcher:
    """The messages of archives, read as a :class:`~mailtrack.abc.Fetcher` reads a mailbox.

    Args:
        paths: files and folders to import.
        max_message_bytes: larger messages are noted and not listed.
        note: where the lines about what cannot be imported go.
        delete_after: remove the files whose messages were all committed, at ``close(commit=True)``.
        progress: told the position reached after each message read.
    """

    paths: Sequence[str]
    max_message_bytes: int
    note: Callable[[str], None]
    delete_after: bool = False
    progress: Progress | None = None
    #: Its delete() only marks: the importer may read ahead in a thread of its own.
    marks_deletions_locally: bool = attrs.field(default=True, init=False)
    _found: list[ArchivedMessage] = attrs.field(factory=list, init=False)
    _marked: set[int] = attrs.field(factory=set, init=False)
    #: mbox files with messages not listed: never deleted.
    _left_out: set[str] = attrs.field(factory=set, init=False)
    _open: tuple[str, BinaryIO] | None = attrs.field(default=None, init=False)

    def open(self) -> Sequence[MessageInfo]:
        found = find_messages(
            list(self.paths),
            max_message_bytes=self.max_message_bytes,
            note=self.note,
            left_out=self._left_out,
        )
        self._found = list(found)
        if self.progress is not None:
            self.progress(0, len(self._found))
        return [
            MessageInfo(number=number, uid=found.key, size=found.size)
            for number, found in enumerate(self._found, 1)
        ]

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        try:
            for info in messages:
                raw = self._read(self._found[info.number - 1])
                if raw is not None:
                    yield info, raw
                if self.progress is not None:
                    self.progress(info.number, len(self._found))
        finally:
            self._close_file()

    def delete(self, message: MessageInfo) -> None:
        self._marked.add(message.number)

    def close(self, *, commit: bool) -> None:
        self._close_file()
        if not (commit and self.delete_after):
            return
        mboxes: dict[str, tuple[ArchivedMessage, bool]] = {}
        for number, found in enumerate(self._found, 1):
            if found.kind == "mbox":
                _, every = mboxes.get(found.path, (found, True))
                mboxes[found.path] = (found, every and number in self._marked)
            elif number in self._marked:
                self._remove(found, self._current_path(found) or found.path)
        for path, (found, every) in mboxes.items():
            if every and path not in self._left_out:
                self._remove(found, path)

    def check(self) -> ConnectionCheck:
        count = sum(
            1
            for _ in find_messages(list(self.paths), max_message_bytes=self.max_message_bytes, note=self.note)
        )
        return ConnectionCheck(interface="", ok=True, message_count=count)

    # -- reading -------------------------------------------------------------------------------

    def _read(self, found: ArchivedMessage) -> bytes | None:
        if found.kind == "mbox":
            return self._read_mbox(found)
        path = self._current_path(found) if found.kind == "maildir" else found.path
        try:
            if path is None:
                raise FileNotFoundError(errno.ENOENT, "vanished", found.path)
            with open_listed(path, found.state, follow=found.linked) as stream:
                raw = stream.read(self.max_message_bytes + 1)
        except OSError as exc:
            self._unreadable(found.path, exc)
            return None
        if len(raw) > self.max_message_bytes:
            self.note(
                f"{found.path}: grew to more than max_message_bytes ({self.max_message_bytes}) since "
                "it was listed: not imported"
            )
            return None
        return raw

    def _unreadable(self, where: str, exc: OSError) -> None:
        if exc.errno == errno.ENOENT:
            self.note(
                f"{where}: vanished before it was read (moved or deleted by another program): "
                "not imported; an import that finds it again imports it"
            )
        elif isinstance(exc, ChangedError):
            self.note(f"{where}: {exc.strerror} since it was listed: not imported")
        else:
            self.note(f"{where}: cannot be read ({exc.strerror or exc}): not imported")

    def _current_path(self, found: ArchivedMessage) -> str | None:
        """Where a Maildir message is now: its listed path, or the file with its unique name
        in ``cur/`` or ``new/`` (a mail program moved it or changed its flags meanwhile)."""
        if found.kind != "maildir" or os.path.exists(found.path):
            return found.path
        unique = maildir_unique(os.path.basename(found.path))
        for part in ("cur", "new"):
            where = os.path.join(found.folder, part)
            with contextlib.suppress(OSError):
                for name in os.listdir(where):
                    if maildir_unique(name) == unique:
                        return os.path.join(where, name)
        return None

    def _read_mbox(self, found: ArchivedMessage) -> bytes | None:
        try:
            if self._open is None or self._open[0] != found.path:
                self._close_file()
                # Kept open across the messages of the file.
                self._open = (found.path, open_listed(found.path, found.state, follow=found.linked))
            raw = read_message(
                self._open[1], MboxEntry(offset=found.offset, start=found.start, length=found.size)
            )
        except OSError as exc:
            self._unreadable(f"{found.path}@{found.offset}", exc)
            return None
        if raw is None:
            self.note(
                f"{found.path}@{found.offset}: the file changed since it was listed (no message starts "
                "there any more): not imported; import the file again"
            )
        return raw

    def _close_file(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def _remove(self, found: ArchivedMessage, path: str) -> None:
        """Delete the entry listed at *path*, only if it is still the file listed, unchanged."""
        if found.linked:
            self.note(
                f"{path}: imported; a symbolic link given to import: --delete-after deletes neither "
                "the link nor its target: kept"
            )
            return
        try:
            info = os.lstat(path)
            if not found.state.unchanged(info):
                self.note(f"{path}: changed while it was imported: kept (import it again to take the rest)")
                return
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.note(f"{path}: imported, but could not be deleted ({exc.strerror or exc})")
