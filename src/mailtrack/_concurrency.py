"""Doing several things at once, within bounds: conversion in worker processes, runs in threads.

:class:`Conversions` converts raw messages either right away in the calling thread or in a pool
of worker processes, handing back futures; the importer keeps a bounded number of them in
flight, so retrieval and storage go on while the workers parse. :func:`map_bounded` runs a
function over items in a bounded pool of threads (``Importer.run_all``).

How the worker processes start (:func:`choose_start_method`): a process with other threads is
never forked, since a lock another thread holds at that moment stays locked forever in the
child; the workers then come from a forkserver, a clean process started for the purpose.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Generic, TypeVar

from .abc import MessageConverter
from .models import IncomingMessage

__all__ = [
    "START_METHODS",
    "Conversions",
    "Prefetch",
    "Ticket",
    "automatic_workers",
    "available_start_methods",
    "choose_start_method",
    "map_bounded",
]

logger = logging.getLogger("mailtrack")

T = TypeVar("T")
R = TypeVar("R")

#: Most worker processes the automatic setting starts.
MAX_AUTOMATIC_WORKERS = 4
#: The ways of starting worker processes one may ask for (multiprocessing's names).
START_METHODS = ("fork", "forkserver", "spawn")

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

    Only on Linux, where a worker starts in milliseconds (forked, or forked from a forkserver;
    see :func:`choose_start_method`); elsewhere every worker would start a fresh interpreter.
    """
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cpus < 2 else min(cpus, MAX_AUTOMATIC_WORKERS)


def available_start_methods() -> list[str]:
    """The :data:`START_METHODS` this platform offers."""
    offered = multiprocessing.get_all_start_methods()
    return [method for method in START_METHODS if method in offered]


def choose_start_method(requested: str | None) -> str:
    """How to start worker processes now: *requested*, or (``None``) the safe choice for this
    process at this moment.

    The automatic choice, on Linux: ``fork`` while this process runs a single thread (nothing
    can then hold a lock the child would inherit locked; the fastest start, and it needs
    neither a picklable converter nor an ``if __name__ == "__main__"`` guard), else
    ``forkserver`` (the workers are forked from a clean server process, as Python 3.14 does by
    default). Elsewhere ``spawn``, Python's default on macOS and Windows.
    """
    if requested is not None:
        return requested
    available = multiprocessing.get_all_start_methods()
    if sys.platform != "linux":
        return "spawn"
    if "fork" in available and _thread_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in available else "spawn"


def _thread_count() -> int:
    """The threads of this process, those that no Python code started included."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _preload_in_forkserver(modules: Sequence[str]) -> None:
    """Have the forkserver import *modules* once when it starts, so that every worker forked
    from it starts with them imported (rather than importing mailtrack itself: 0.2 s each).

    Added to what the host asked for (by default ``__main__``); no effect once the forkserver
    runs. ``__main__`` is never added: the host's script is imported only as Python decides.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    current = list(getattr(server, "_preload_modules", None) or ["__main__"])
    wanted = current + [name for name in modules if name != "__main__" and name not in current]
    if wanted != current:
        multiprocessing.get_context("forkserver").set_forkserver_preload(wanted)


def _picklable(converter: MessageConverter, method: str) -> bool:
    try:
        pickle.dumps(converter)
    except Exception as exc:
        logger.warning(
            "the converter cannot be handed to worker processes started with %r (%s: %s); "
            "converting in the importing thread",
            method,
            type(exc).__name__,
            exc,
        )
        return False
    return True


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
        converter: the converter; with workers it runs in the worker processes. Unless they
            are forked, it is pickled to them: a converter that cannot be pickled is used in
            the calling thread instead (with a warning in the log).
        workers: worker processes; 0 converts in the thread that calls :meth:`submit`.
        start_method: how to start them (:data:`START_METHODS`); ``None`` chooses
            (:func:`choose_start_method`). Call :meth:`start` right away, before starting
            threads of your own: the automatic choice is made for the process as it is now.

    Messages go to the workers in chunks (:data:`CHUNK_MESSAGES`, :data:`CHUNK_BYTES`). A
    worker that dies (killed for its memory, say) breaks the pool: from then on every message,
    including those that were in the broken pool, is converted in the calling thread. So does
    a pool that cannot start.
    """

    def __init__(self, converter: MessageConverter, workers: int, start_method: str | None = None) -> None:
        self._converter = converter
        self._pool: ProcessPoolExecutor | None = None
        self._open = _Chunk()
        #: How the workers were started (``None`` without workers).
        self.start_method: str | None = None
        method = choose_start_method(start_method) if workers > 0 else None
        if method not in (None, "fork") and not _picklable(converter, method):
            method, workers = None, 0
        if method is not None:
            self.start_method = method
            logger.debug("converting in %d worker processes, started with %r", workers, method)
            if method == "forkserver":
                _preload_in_forkserver([__name__, type(converter).__module__])
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_start_worker,
                initargs=(converter,),
            )
        self.workers = workers

    def start(self) -> None:
        """Start the worker processes now rather than at the first message."""
        if self._pool is None:
            return
        try:
            self._pool.submit(_ready).result()
        except Exception:
            logger.warning("the conversion worker processes could not start", exc_info=True)
            self._give_up_pool()

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
            except Exception:
                # A broken pool, or one whose processes could not start.
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
                "the conversion worker processes failed (one died, or they could not start); "
                "converting in the importer's process from now on"
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
