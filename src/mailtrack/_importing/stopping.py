"""A stop request that a signal handler, another thread or the importer itself may make.

:meth:`StopRequest.set` only stores a flag and writes one byte to a pipe (what a signal handler
may safely do); :meth:`StopRequest.wait` sleeps until the request or a timeout, and
:meth:`StopRequest.fileno` lets a loop that waits on sockets (IMAP IDLE) wake up for it too.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
import weakref

__all__ = ["StopRequest"]


class StopRequest:
    """Set once, seen everywhere: the runs of an importer stop after the message in hand."""

    def __init__(self) -> None:
        self._requested = False
        self._pipe: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def set(self) -> None:
        """Ask to stop; safe in a signal handler and from any thread."""
        self._requested = True
        pipe = self._pipe
        if pipe is not None:
            # A full pipe has woken its reader already; a closed one has none.
            with contextlib.suppress(OSError):
                os.write(pipe[1], b"\0")

    def is_set(self) -> bool:
        return self._requested

    def fileno(self) -> int:
        """A descriptor that becomes readable once the stop is requested."""
        with self._lock:
            if self._pipe is None:
                read, write = os.pipe()
                os.set_blocking(read, False)
                os.set_blocking(write, False)
                self._pipe = (read, write)
                weakref.finalize(self, _close_pipe, self._pipe)
            pipe = self._pipe
        if self._requested:  # set() may have looked for the pipe before it existed
            with contextlib.suppress(OSError):
                os.write(pipe[1], b"\0")
        return pipe[0]

    def wait(self, timeout: float | None) -> bool:
        """Sleep until the stop is requested or *timeout* seconds passed; whether it was requested."""
        fd = self.fileno()
        if self._requested:
            return True
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            selector.select(timeout)
        return self._requested


def _close_pipe(pipe: tuple[int, int]) -> None:
    for fd in pipe:
        with contextlib.suppress(OSError):
            os.close(fd)
