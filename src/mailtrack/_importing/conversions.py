"""One run's conversions: raw messages in, converted messages (or the converter's exception) out.

:class:`Conversions` converts either right away in the calling thread or on a
:class:`~.workers.WorkerPool`, handing back tickets; the importer keeps a bounded number of them in
flight, so retrieval and storage go on while the workers parse. Each run has its own
:class:`Conversions` (it is used by one thread); the pool behind it may be its own or shared by
the runs of :meth:`~mailtrack.Importer.run_all`.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime

from ..abc import MessageConverter
from ..models import IncomingMessage
from .worker_process import ConvertAgain
from .workers import WorkerPool, WorkersBroken, choose_start_method

__all__ = ["CHUNK_BYTES", "CHUNK_MESSAGES", "Conversions", "Ticket", "start_pool"]

#: Messages handed to a worker process in one go: one hand-over per message would cost a thread
#: switch in this process (up to ``sys.getswitchinterval()``, 5 ms) for every result.
CHUNK_MESSAGES = 8
#: ... unless they are large: a chunk holds at most this many raw bytes (one message always fits).
CHUNK_BYTES = 2 * 1024 * 1024

_Outcome = IncomingMessage | Exception


class _Chunk:
    """Messages converted together; ``future`` is set once the chunk went to the pool."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, datetime]] = []
        self.size = 0
        self.future: Future[list[object]] | None = None
        self.results: list[_Outcome] | None = None


class Ticket:
    """A message given to :meth:`Conversions.submit`: ask :meth:`Conversions.result` for it."""

    def __init__(self, chunk: _Chunk, index: int) -> None:
        self._chunk = chunk
        self._index = index


def start_pool(converter: MessageConverter, workers: int, start_method: str | None) -> WorkerPool | None:
    """A started pool of *workers* processes, or ``None`` when they could not start (logged).

    Call it before starting threads of your own: the automatic start method (``None``) is
    chosen for the process as it is now.
    """
    if workers <= 0:
        return None
    pool = WorkerPool(converter, workers, choose_start_method(start_method))
    return pool if pool.start() else None


class Conversions:
    """Converts one run's messages, in the calling thread or on *pool*.

    Args:
        converter: converts in the calling thread (when there is no pool, or it broke).
        pool: worker processes, or ``None``.
        owns_pool: whether :meth:`close` stops the pool (not when :meth:`~mailtrack.Importer.run_all`
            shares it between runs).

    A pool that breaks (a worker died) is left: that chunk and every later message are
    converted in the calling thread.
    """

    def __init__(self, converter: MessageConverter, pool: WorkerPool | None, *, owns_pool: bool) -> None:
        self._converter = converter
        self._pool = pool
        self._owned = pool if owns_pool else None
        self._open = _Chunk()
        #: How the workers were started (``None`` without workers).
        self.start_method = pool.start_method if pool is not None else None
        self.workers = pool.workers if pool is not None else 0

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
            chunk.results = self._collect(chunk)
            chunk.items = []  # the raw bytes are not needed any more
        outcome = chunk.results[ticket._index]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self, *, now: bool = False) -> None:
        """Stop the pool if it is this run's own (after the chunks in hand, or at once: *now*)."""
        owned, self._owned, self._pool = self._owned, None, None
        if owned is not None:
            owned.close(now=now)

    def _dispatch(self) -> None:
        chunk, self._open = self._open, _Chunk()
        if not chunk.items:
            return
        if self._pool is not None:
            try:
                chunk.future = self._pool.submit(chunk.items)
                return
            except WorkersBroken:
                self._pool = None
        chunk.results = self._convert_here(chunk.items)

    def _collect(self, chunk: _Chunk) -> list[_Outcome]:
        future = chunk.future
        if future is None:  # never dispatched: cannot happen, but converting it here is right
            return self._convert_here(chunk.items)
        try:
            outcomes = future.result()
        except WorkersBroken:
            self._pool = None
            return self._convert_here(chunk.items)
        return [
            self._convert_here([item])[0] if isinstance(outcome, ConvertAgain) else outcome  # type: ignore[misc]
            for item, outcome in zip(chunk.items, outcomes, strict=True)
        ]

    def _convert_here(self, items: list[tuple[bytes, datetime]]) -> list[_Outcome]:
        results: list[_Outcome] = []
        for raw, received_at in items:
            try:
                results.append(self._converter.convert(raw, received_at=received_at))
            except Exception as exc:
                results.append(exc)
        return results
