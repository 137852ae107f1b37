"""Doing several things at once, within bounds: conversion in worker processes, runs in threads.

:class:`Conversions` converts raw messages either right away in the calling thread or in a pool
of worker processes, handing back futures; the importer keeps a bounded number of them in
flight, so retrieval and storage go on while the workers parse. :func:`map_bounded` runs a
function over items in a bounded pool of threads (``Importer.run_all``).
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Generic, TypeVar

from .abc import MessageConverter
from .models import IncomingMessage

__all__ = ["Conversions", "Prefetch", "Ticket", "automatic_workers", "map_bounded"]

logger = logging.getLogger("mailtrack")

T = TypeVar("T")
R = TypeVar("R")

#: Most worker processes the automatic setting starts.
MAX_AUTOMATIC_WORKERS = 4

# The converter of a worker process, set once when the process starts.
_worker_converter: MessageConverter | None = None

#: Messages handed to a worker process in one go: one hand-over per message would cost a thread
#: switch in this process (up to ``sys.getswitchinterval()``, 5 ms) for every result.
CHUNK_MESSAGES = 8
#: ... unless they are large: a chunk holds at most this many raw bytes (one message always fits).
CHUNK_BYTES = 2 * 1024 * 1024


def _start_worker(converter: MessageConverter) -> None:
    global _worker_converter
    _worker_converter = converter


def _ready() -> None:
    """A task that does nothing: the pool has started its workers once it is done."""


def _convert_chunk(items: list[tuple[bytes, datetime]]) -> list[IncomingMessage | Exception]:
    """Convert in a worker process; each item's result or the exception it raised."""
    assert _worker_converter is not None
    results: list[IncomingMessage | Exception] = []
    for raw, received_at in items:
        try:
            results.append(_worker_converter.convert(raw, received_at=received_at))
        except Exception as exc:
            results.append(exc)
    return results


def automatic_workers() -> int:
    """Worker processes that pay here: one per CPU (at most four), none on a single CPU.

    Only where processes can be forked (Linux): a fork starts in milliseconds and needs neither
    a picklable converter nor an ``if __name__ == "__main__"`` guard in the host's script.
    """
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cpus < 2 else min(cpus, MAX_AUTOMATIC_WORKERS)


class _Chunk:
    """Messages converted together; ``future`` is set once the chunk went to a worker."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, datetime]] = []
        self.size = 0
        self.future: Future[list[IncomingMessage | Exception]] | None = None
        self.results: list[IncomingMessage | Exception] | None = None


class Ticket:
    """A message given to :meth:`Conversions.submit`: ask :meth:`Conversions.result` for it."""

    def __init__(self, chunk: _Chunk, index: int) -> None:
        self._chunk = chunk
        self._index = index


class Conversions:
    """Converts raw messages with one converter, in the calling thread or in worker processes.

    Args:
        converter: the converter; with workers it runs in the worker processes (forked where
            possible, else started fresh, in which case it must be picklable).
        workers: worker processes; 0 converts in the thread that calls :meth:`submit`.

    Messages go to the workers in chunks (:data:`CHUNK_MESSAGES`, :data:`CHUNK_BYTES`). A
    worker that dies (killed for its memory, say) breaks the pool: from then on every message,
    including those that were in the broken pool, is converted in the calling thread.
    """

    def __init__(self, converter: MessageConverter, workers: int) -> None:
        self._converter = converter
        self._pool: ProcessPoolExecutor | None = None
        self._open = _Chunk()
        if workers > 0:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_start_worker,
                initargs=(converter,),
            )
        self.workers = workers

    def start(self) -> None:
        """Start the worker processes now rather than at the first message."""
        if self._pool is not None:
            self._pool.submit(_ready).result()

    @property
    def in_processes(self) -> bool:
        """Whether conversions (still) run in worker processes."""
        return self._pool is not None

    @property
    def most_in_flight(self) -> int:
        """Messages worth having in flight: enough chunks to keep every worker busy."""
        return 2 * CHUNK_MESSAGES * self.workers if self._pool is not None else 0

    def submit(self, raw: bytes, received_at: datetime) -> Ticket:
        """Start converting *raw* (in a worker, or right here when there are none)."""
        chunk = self._open
        chunk.items.append((raw, received_at))
        chunk.size += len(raw)
        ticket = Ticket(chunk, len(chunk.items) - 1)
        if self._pool is None or len(chunk.items) >= CHUNK_MESSAGES or chunk.size >= CHUNK_BYTES:
            self._dispatch()
        return ticket

    def _dispatch(self) -> None:
        chunk, self._open = self._open, _Chunk()
        if not chunk.items:
            return
        if self._pool is not None:
            try:
                chunk.future = self._pool.submit(_convert_chunk, chunk.items)
                return
            except (BrokenProcessPool, RuntimeError):
                self._give_up_pool()
        chunk.results = self._convert_here(chunk.items)

    def _convert_here(self, items: list[tuple[bytes, datetime]]) -> list[IncomingMessage | Exception]:
        results: list[IncomingMessage | Exception] = []
        for raw, received_at in items:
            try:
                results.append(self._converter.convert(raw, received_at=received_at))
            except Exception as exc:
                results.append(exc)
        return results

    def done(self, ticket: Ticket) -> bool:
        """Whether the message's conversion has finished (a message still waiting for its chunk
        to fill up has not)."""
        chunk = ticket._chunk
        return chunk.results is not None or (chunk.future is not None and chunk.future.done())

    def result(self, ticket: Ticket) -> IncomingMessage:
        """The converted message; raises what the converter raised."""
        chunk = ticket._chunk
        if chunk is self._open:
            self._dispatch()
        if chunk.results is None:
            assert chunk.future is not None
            try:
                chunk.results = chunk.future.result()
            except BrokenProcessPool:
                self._give_up_pool()
                chunk.results = self._convert_here(chunk.items)
            except Exception:
                # The chunk's results could not come back (an exception that does not pickle):
                # convert it again here, where nothing needs to be pickled.
                logger.warning("a conversion worker could not return its results", exc_info=True)
                chunk.results = self._convert_here(chunk.items)
            chunk.items = []  # the raw bytes are not needed any more
        outcome = chunk.results[ticket._index]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _give_up_pool(self) -> None:
        if self._pool is not None:
            logger.warning(
                "a conversion worker process died; converting in the importer's process from now on"
            )
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Stop the worker processes (after the conversions still running)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


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


def map_bounded(function: Callable[[T], R], items: Iterable[T], *, workers: int, name: str) -> list[R]:
    """``[function(item) for item in items]``, at most *workers* at a time in threads, in order."""
    chosen: Sequence[T] = list(items)
    if workers <= 1 or len(chosen) <= 1:
        return [function(item) for item in chosen]
    with ThreadPoolExecutor(max_workers=min(workers, len(chosen)), thread_name_prefix=name) as pool:
        return list(pool.map(function, chosen))
