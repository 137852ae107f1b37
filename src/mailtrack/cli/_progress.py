"""Watching a run from the outside: a progress bar per interface, and a clean stop on Ctrl-C.

The progress works through the :class:`~mailtrack.abc.Fetcher` seam: the importer is given
fetchers that wrap the real ones and count the messages as they are retrieved. The stop is the
importer's own (:meth:`~mailtrack.Importer.stop`): the message in hand is still committed (and
deleted on the server), and the session ends with QUIT as usual, so nothing is lost and nothing
is imported twice.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ..abc import Fetcher, FetcherFactory
from ..config import MailInterface
from ..models import ConnectionCheck, MessageInfo

__all__ = ["RunMonitor", "stop_on_interrupt"]


@attrs.define
class RunMonitor:
    """Wraps the fetchers of a run to show its progress.

    Args:
        progress: A rich progress display, or ``None`` to show none.
    """

    progress: Progress | None = None

    def wrap(self, factory: FetcherFactory) -> FetcherFactory:
        """A fetcher factory whose fetchers report to this monitor."""

        def make(interface: MailInterface) -> Fetcher:
            return ObservedFetcher(factory(interface), interface.name, self)

        return make

    @staticmethod
    def display(console: Console) -> Progress:
        """A progress display with one bar and a message count per interface."""
        return Progress(
            TextColumn("{task.description}", markup=False, style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("messages"),
            TimeElapsedColumn(),
            console=console,
        )


@attrs.define
class ObservedFetcher:
    """A :class:`~mailtrack.abc.Fetcher` that reports its progress."""

    _inner: Fetcher
    _name: str
    _monitor: RunMonitor
    _task: TaskID | None = None

    def open(self) -> Sequence[MessageInfo]:
        listing = self._inner.open()
        if self._monitor.progress is not None:
            self._task = self._monitor.progress.add_task(self._name, total=len(listing))
        return listing

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        if not messages:
            return
        # Closing the inner iterator (when the importer stops early) lets a fetcher that
        # pipelines its requests end the batch in an orderly way.
        answers = self._inner.retrieve_many(messages)
        try:
            for item in answers:
                yield item
                self._advance(1)
        finally:
            close = getattr(answers, "close", None)
            if close is not None:
                close()

    def delete(self, message: MessageInfo) -> None:
        self._inner.delete(message)

    def close(self, *, commit: bool) -> None:
        try:
            self._inner.close(commit=commit)
        finally:
            progress, task = self._monitor.progress, self._task
            if progress is not None and task is not None:
                # Messages imported before were listed but never retrieved: fill the bar.
                total = progress.tasks[task].total
                progress.update(task, completed=total)

    def check(self) -> ConnectionCheck:
        return self._inner.check()

    def _advance(self, count: int) -> None:
        if self._monitor.progress is not None and self._task is not None:
            self._monitor.progress.advance(self._task, count)


@contextmanager
def stop_on_interrupt(console: Console, stop_importer: Callable[[], None]) -> Iterator[threading.Event]:
    """Turn the first Ctrl-C (or SIGTERM) into a stop request (*stop_importer* is called, the
    event set); a second one aborts at once (the session is dropped, nothing lost).

    Outside the main thread (where signal handlers cannot be set) the event is only returned.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop_importer()
        stop.set()
        console.print("Stopping after the message in hand (press Ctrl-C again to abort at once) …")

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
