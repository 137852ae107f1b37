"""RFC 2449 PIPELINING: commands sent in windows, their replies read in order.

A POP3 server answers commands in the order it received them, so a client that knows the server
pipelines may send many commands in one write and read the replies afterwards. At a round trip
of 50 ms that is the difference between one message per round trip and a full pipe. Without
PIPELINING the same code runs with a window of one command: send, read, send, read.

The window is bounded twice: by the number of commands whose replies are outstanding and by the
bytes they announce (LIST sizes for RETR), so that neither the socket buffers nor the reader's
memory grow with the mailbox.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import attrs

from ._wire import Wire

__all__ = ["Pipeline", "Window"]

T = TypeVar("T")
R = TypeVar("R")


class _End:
    """Marks the end of the items (``None`` may be an item)."""


_END = _End()


@attrs.frozen(kw_only=True)
class Window:
    """How far ahead of the replies the commands may go."""

    #: Most commands whose replies have not been read yet.
    commands: int = 64
    #: Most bytes (as announced) those outstanding replies may hold; one command always goes.
    size: int = 8 * 1024 * 1024

    @classmethod
    def one_at_a_time(cls) -> Window:
        """No pipelining: each command waits for the reply to the one before."""
        return cls(commands=1, size=1)


class Pipeline(Generic[T, R]):
    """Send ``command(item)`` for each item, ahead of the replies within *window*; iterate over
    ``(item, read(item))`` in order.

    *read* reads one reply (and raises on ``-ERR`` or a broken connection: the wire is then out of
    step and the session has to end). When the consumer stops early, :meth:`drain` reads the
    replies still outstanding, so that the wire can be used for further commands.
    """

    def __init__(
        self,
        wire: Wire,
        items: Iterable[T],
        *,
        command: Callable[[T], str],
        read: Callable[[T], R],
        size: Callable[[T], int] = lambda _item: 0,
        window: Window,
    ) -> None:
        self._wire = wire
        self._items: Iterator[T] = iter(items)
        self._command = command
        self._read = read
        self._size = size
        self._window = window
        self._outstanding: collections.deque[tuple[T, int]] = collections.deque()
        self._outstanding_size = 0
        self._exhausted = False

    @property
    def outstanding(self) -> int:
        """Commands sent whose replies have not been read."""
        return len(self._outstanding)

    def __iter__(self) -> Iterator[tuple[T, R]]:
        return self

    def __next__(self) -> tuple[T, R]:
        # Top up only when the window is half empty: fewer, larger writes.
        if not self._exhausted and len(self._outstanding) <= self._window.commands // 2:
            self._send_more()
        if not self._outstanding:
            raise StopIteration
        item, size = self._outstanding.popleft()
        self._outstanding_size -= size
        return item, self._read(item)

    def _send_more(self) -> None:
        window = self._window
        batch: list[str] = []
        while len(self._outstanding) < window.commands and (
            not self._outstanding or self._outstanding_size < window.size
        ):
            item = next(self._items, _END)
            if isinstance(item, _End):
                self._exhausted = True
                break
            size = self._size(item)
            self._outstanding.append((item, size))
            self._outstanding_size += size
            batch.append(self._command(item))
        if batch:
            self._wire.send(*batch)

    def drain(self) -> None:
        """Read (and drop) the replies still outstanding; send nothing more."""
        self._exhausted = True
        while self._outstanding:
            item, size = self._outstanding.popleft()
            self._outstanding_size -= size
            self._read(item)
