"""The mailbox listing (UIDL and LIST) parsed into compact arrays, not an object per message.

A mailbox of a million messages gives UIDL and LIST replies of some 35 MB. Parsed into a Python
object per field they took 380 MB; :class:`Listing` keeps numbers and sizes in arrays and the
UIDs (as ledger keys) in one bytes string with an array of their ends: about 16 bytes plus the
UID's length per message. A :class:`~mailtrack.MessageInfo` is made only when an entry is read.

The replies are split a slice at a time, so that parsing them never holds more than a slice's
worth of Python objects either.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from array import array
from collections.abc import Iterator, Sequence
from typing import overload

from .._redaction import Redactor
from .._terminal import terminal_safe
from ..models import MessageInfo

__all__ = ["Listing", "ledger_uid", "listing_of", "parse_list", "parse_uidl"]

logger = logging.getLogger("mailtrack.fetching.pop3")

#: Bytes of a reply split at once.
_SLICE = 1024 * 1024
#: What RFC 1939 allows in a UID: 1 to 70 characters 0x21..0x7E.
_CONFORMING_UID = re.compile(rb"[\x21-\x7e]{1,70}")
#: A byte no conforming UIDL line holds.
_NONCONFORMING = re.compile(rb"[^\x21-\x7e \t\r\n]")
_LINE = re.compile(rb"^[ \t]*(\d+)[ \t]+(\S+)", re.MULTILINE)
#: A slice in which every line is exactly ``number SP word CRLF``.
_WELL_FORMED = re.compile(rb"(?:\d+ [\x21-\x7e]+\r\n)*")
#: Messages named in the log when UIDL and LIST disagree.
_NAMED = 5


def ledger_uid(uid: bytes) -> bytes:
    """The key a UID from UIDL gets in the ledger: the UID itself when RFC 1939 allows it, else
    ``uidl-sha256:`` and its digest. A UID with control characters would reach logs, reports and
    terminals; the digest keeps the same message under the same key on every run."""
    return uid if _CONFORMING_UID.fullmatch(uid) else _digest(uid)


def _slices(block: bytes) -> Iterator[bytes]:
    """*block* in slices of about :data:`_SLICE` bytes, each ending at a line end."""
    start = 0
    while start < len(block):
        end = block.find(b"\n", start + _SLICE)
        end = len(block) if end < 0 else end + 1
        yield block[start:end]
        start = end


def _pairs(block: bytes) -> Iterator[tuple[list[bytes], list[bytes]]]:
    """The lines of *block* as (numbers, words) for each slice; lines that are not
    ``number word …`` are left out."""
    for piece in _slices(block):
        if _WELL_FORMED.fullmatch(piece):
            words = piece.split()
            yield words[0::2], words[1::2]
        else:  # a malformed or unusual line somewhere: the slow way, line by line
            found = _LINE.findall(piece)
            yield [number for number, _ in found], [value for _, value in found]


def _digest(uid: bytes) -> bytes:
    return b"uidl-sha256:" + hashlib.sha256(uid).hexdigest().encode("ascii")


def parse_uidl(block: bytes, secrets: Redactor | None = None) -> tuple[array[int], bytes, array[int]]:
    """The numbers, the ledger keys joined, and where each key ends, of a UIDL reply.

    Args:
        secrets: what the session sent: a UID that holds a secret is keyed by its digest too
            (a server could make the password a UID, to have it kept and shown).
    """
    if secrets is not None and secrets.bytes(block) is block:
        secrets = None  # the usual case: no secret anywhere in the reply
    numbers: array[int] = array("Q")
    ends: array[int] = array("Q")
    keys: list[bytes] = []
    total = 0
    printable = _NONCONFORMING.search(block) is None
    for found, uids in _pairs(block):
        numbers.extend(map(int, found))
        if not printable or secrets is not None or max(map(len, uids), default=0) > 70:
            uids = [_logged_key(int(number), uid, secrets) for number, uid in zip(found, uids, strict=True)]
        ends.extend(itertools.islice(itertools.accumulate(map(len, uids), initial=total), 1, None))
        total = ends[-1] if ends else 0
        keys.append(b"".join(uids))
    return numbers, b"".join(keys), ends


def _logged_key(number: int, uid: bytes, secrets: Redactor | None) -> bytes:
    if secrets is not None and secrets.bytes(uid) is not uid:
        key = _digest(uid)
        logger.warning(
            "message %d has a UID holding a secret; it is keyed by its digest %s", number, key.decode()
        )
        return key
    key = ledger_uid(uid)
    if key is not uid:
        logger.warning(
            "message %d has a UID that RFC 1939 does not allow (%s); it is keyed by its digest %s",
            number,
            terminal_safe(repr(uid)),
            key.decode("ascii"),
        )
    return key


def parse_list(block: bytes) -> tuple[array[int], array[int]]:
    """The numbers and sizes of a LIST reply (lines whose size is not a number are left out)."""
    numbers: array[int] = array("Q")
    sizes: array[int] = array("Q")
    for found, values in _pairs(block):
        if all(value.isdigit() for value in values):
            numbers.extend(map(int, found))
            sizes.extend(map(int, values))
        else:
            for number, value in zip(found, values, strict=True):
                if value.isdigit():
                    numbers.append(int(number))
                    sizes.append(int(value))
    return numbers, sizes


class Listing(Sequence[MessageInfo]):
    """The messages of a mailbox by number, held compactly (see the module's docstring).

    Args:
        numbers: message numbers, ascending.
        sizes: the size of each.
        keys: the ledger keys (ASCII) joined, or ``None`` for a server without UIDL.
        ends: where each key ends in *keys*.
    """

    __slots__ = ("_ends", "_keys", "_numbers", "_sizes")

    def __init__(
        self,
        numbers: array[int],
        sizes: array[int],
        keys: bytes | None = None,
        ends: array[int] | None = None,
    ) -> None:
        self._numbers = numbers
        self._sizes = sizes
        self._keys = keys
        self._ends = ends

    def __len__(self) -> int:
        return len(self._numbers)

    @overload
    def __getitem__(self, index: int) -> MessageInfo: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[MessageInfo]: ...

    def __getitem__(self, index: int | slice) -> MessageInfo | Sequence[MessageInfo]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        number, size = self._numbers[index], self._sizes[index]
        if self._keys is None or self._ends is None:
            return MessageInfo(number=number, uid=None, size=size)
        start = self._ends[index - 1] if index else 0
        uid = self._keys[start : self._ends[index]].decode("ascii")
        return MessageInfo(number=number, uid=uid, size=size)

    def __iter__(self) -> Iterator[MessageInfo]:
        return (self[index] for index in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # a sequence is compared by its items

    def __repr__(self) -> str:
        return f"Listing({len(self)} messages)"

    @property
    def nbytes(self) -> int:
        """Bytes the listing's arrays and keys take (without the few objects around them)."""
        arrays = [self._numbers, self._sizes, *([self._ends] if self._ends is not None else [])]
        return sum(len(part) * part.itemsize for part in arrays) + len(self._keys or b"")


def listing_of(
    uidl: tuple[array[int], bytes, array[int]] | None, sizes: tuple[array[int], array[int]], where: str
) -> Listing:
    """Every message both UIDL and LIST name (all LIST names without UIDL), ascending by number.

    A message only one of the two names (a mailbox that changed between the commands, or a
    broken server) is left out, and stays on the server.
    """
    list_numbers, list_sizes = sizes
    if uidl is None:
        if _ascending(list_numbers):
            return Listing(list_numbers, list_sizes)
        order = sorted(range(len(list_numbers)), key=list_numbers.__getitem__)
        return Listing(
            array("Q", (list_numbers[i] for i in order)), array("Q", (list_sizes[i] for i in order))
        )
    uid_numbers, keys, ends = uidl
    if uid_numbers == list_numbers and _ascending(list_numbers):
        return Listing(list_numbers, list_sizes, keys, ends)
    # The rare way: the two replies disagree (or are out of order).
    size_of = dict(zip(list_numbers, list_sizes, strict=True))
    key_at = {number: position for position, number in enumerate(uid_numbers)}
    missing = sorted(size_of.keys() ^ key_at.keys())
    if missing:
        named = ", ".join(map(str, missing[:_NAMED])) + (" …" if len(missing) > _NAMED else "")
        logger.warning(
            "%s: %d message(s) (%s) are missing from UIDL or LIST; they stay on the server for a later run",
            where,
            len(missing),
            named,
        )
    numbers: array[int] = array("Q")
    kept_sizes: array[int] = array("Q")
    kept_ends: array[int] = array("Q")
    parts: list[bytes] = []
    total = 0
    for number in sorted(size_of.keys() & key_at.keys()):
        position = key_at[number]
        key = keys[ends[position - 1] if position else 0 : ends[position]]
        numbers.append(number)
        kept_sizes.append(size_of[number])
        parts.append(key)
        total += len(key)
        kept_ends.append(total)
    return Listing(numbers, kept_sizes, b"".join(parts), kept_ends)


def _ascending(numbers: array[int]) -> bool:
    return all(a < b for a, b in zip(numbers, itertools.islice(numbers, 1, None), strict=False))
