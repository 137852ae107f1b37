"""Threads: reading ahead of the consumer, and running mailboxes in a bounded pool of threads."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["Prefetch", "map_bounded"]

logger = logging.getLogger("mailtrack")

T = TypeVar("T")
R = TypeVar("R")


class Prefetch(Generic[T]):
    """Runs an iterator in a thread of its own, at most *max_items* / *max_bytes* ahead of the
    consumer (one item always fits), so that waiting for the network overlaps with the work on
    what arrived.

    Iterating gives the items in order; an exception the iterator raised comes after the items
    that came before it. :meth:`close` stops the thread (closing the iterator there, in the
    thread that ran it) and waits for it.
    """

    def __init__(
        self, source: Iterator[T], *, size: Callable[[T], int], max_items: int, max_bytes: int, name: str
    ) -> None:
        self._size = size
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._ready: collections.deque[tuple[T, int]] = collections.deque()
        self._bytes = 0
        self._changed = threading.Condition()
        self._finished = False
        self._stopping = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._produce, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _produce(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                size = self._size(item)
                with self._changed:
                    while (
                        not self._stopping
                        and self._ready
                        and (len(self._ready) >= self._max_items or self._bytes + size > self._max_bytes)
                    ):
                        self._changed.wait()
                    if self._stopping:
                        break
                    self._ready.append((item, size))
                    self._bytes += size
                    self._changed.notify_all()
        except BaseException as exc:
            with self._changed:
                self._error = exc
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    logger.debug("closing the prefetched iterator failed", exc_info=True)
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        with self._changed:
            while not self._ready and not self._finished:
                self._changed.wait()
            if self._ready:
                item, size = self._ready.popleft()
                self._bytes -= size
                self._changed.notify_all()
                return item
            error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopIteration

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (items not taken are dropped)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()
        self._ready.clear()


def map_bounded(
    function: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    name: str,
    on_interrupt: Callable[[], None] | None = None,
) -> list[R]:
    """``[function(item) for item in items]``, at most *workers* at a time in threads, in order.

    *on_interrupt* is called when the calling thread is interrupted (Ctrl-C) while the threads
    work, before waiting for them: it should make them end soon.
    """
    chosen: Sequence[T] = list(items)
    if workers <= 1 or len(chosen) <= 1:
        return [function(item) for item in chosen]
    with ThreadPoolExecutor(max_workers=min(workers, len(chosen)), thread_name_prefix=name) as pool:
        try:
            return list(pool.map(function, chosen))
        except BaseException:
            if on_interrupt is not None:
                on_interrupt()
            raise
