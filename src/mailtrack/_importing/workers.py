"""Conversion worker processes: a pool that several runs may share, that never runs the host's
program again, and that never outlives the process that started it.

The workers are mailtrack's own processes (:mod:`.worker_process`, started by
:mod:`.launching`), not ``multiprocessing``'s: its ``spawn`` and ``forkserver`` start methods
import the host's ``__main__`` module again in every worker (and in the fork server), which runs a
script's top level once more when it has no ``if __name__ == "__main__":`` guard.

:class:`WorkerPool` is safe to use from several threads: :meth:`~WorkerPool.submit` queues a
chunk of messages, a thread per worker hands it over and collects the result.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import sys
import threading
from concurrent.futures import Future

from .launching import Items, Outcomes, Worker, WorkersBroken, launch
from .worker_process import ConvertAgain

__all__ = [
    "ConvertAgain",
    "MAX_AUTOMATIC_WORKERS",
    "START_METHODS",
    "WorkerPool",
    "WorkersBroken",
    "automatic_workers",
    "available_start_methods",
    "choose_start_method",
]

logger = logging.getLogger("mailtrack")

#: Most worker processes the automatic setting starts.
MAX_AUTOMATIC_WORKERS = 4
#: CPUs from which a run of one mailbox converts in worker processes by itself.
SINGLE_RUN_WORKERS_FROM = 3
#: The ways of starting worker processes one may ask for.
START_METHODS = ("fork", "forkserver", "spawn")


def automatic_workers(*, shared: bool = False) -> int:
    """Worker processes that pay here: one per CPU (at most four), none on a single CPU.

    On two CPUs only a pool *shared* by several runs at once gets them: there the importer, the
    retrieval and usually the mail server share the two cores, and a run of one mailbox with two
    workers took 7-14 % more CPU than converting in its own thread and was not faster
    (docs/performance.md, "Conversion workers on two cores"). Only on Linux, where a worker starts
    in milliseconds (forked from the importer or from the fork server); elsewhere every worker
    would start a fresh interpreter.
    """
    if sys.platform != "linux":
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cpus < 2 or (cpus < SINGLE_RUN_WORKERS_FROM and not shared):
        return 0
    return min(cpus, MAX_AUTOMATIC_WORKERS)


def available_start_methods() -> list[str]:
    """The :data:`START_METHODS` this platform offers."""
    offered = multiprocessing.get_all_start_methods()
    return [method for method in START_METHODS if method in offered]


def choose_start_method(requested: str | None) -> str:
    """How to start worker processes now: *requested*, or (``None``) the safe choice for this
    process at this moment: on Linux ``fork`` while this process runs a single thread, else
    ``forkserver``; elsewhere ``spawn``."""
    if requested is not None:
        return requested
    if sys.platform != "linux":
        return "spawn"
    return "fork" if _thread_count() == 1 else "forkserver"


def _thread_count() -> int:
    """The threads of this process, those that no Python code started included."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


# -- the pool -----------------------------------------------------------------------------------


class WorkerPool:
    """Worker processes converting chunks of messages with one converter; thread-safe.

    Args:
        converter: the converter; sent to the workers by pickle unless they are forked.
        workers: how many processes.
        start_method: ``"fork"``, ``"forkserver"`` or ``"spawn"`` (see the module).

    Call :meth:`start` first; it says whether the workers could start. A worker that dies
    breaks the pool: every later :meth:`submit` (and the chunks waiting in the queue) raise
    :class:`WorkersBroken`, and the caller converts in its own thread.
    """

    def __init__(self, converter: object, workers: int, start_method: str) -> None:
        self.workers = workers
        self.start_method = start_method
        self._converter = converter
        self._jobs: queue.SimpleQueue[tuple[Items, Future[Outcomes]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._broken = False
        self._closed = False
        self._killing = False
        self._threads: list[threading.Thread] = []
        self._started: list[Worker] = []

    @property
    def broken(self) -> bool:
        return self._broken

    def start(self) -> bool:
        """Start the workers and wait until each is ready; False (and a warning) if they cannot."""
        try:
            converter = None if self.start_method == "fork" else _pickled(self._converter)
            for _ in range(self.workers):
                self._started.append(launch(self.start_method, self._converter))
            for worker in self._started:
                worker.handshake(converter)
        except Exception as exc:
            logger.warning(
                "the conversion worker processes could not start (%s); converting in the importer's "
                "process instead",
                exc,
            )
            self._broken = True
            for worker in self._started:
                worker.finish(now=True)
            return False
        for worker in self._started:
            thread = threading.Thread(
                target=self._serve, args=(worker,), name=f"mailtrack-worker-{worker.pid}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        logger.debug("converting in %d worker processes, started with %r", self.workers, self.start_method)
        return True

    def submit(self, items: Items) -> Future[Outcomes]:
        """Queue a chunk; its future gives the outcomes in order (a message, an exception, or
        :class:`~.worker_process.ConvertAgain`)."""
        future: Future[Outcomes] = Future()
        with self._lock:
            if self._broken or self._closed:
                raise WorkersBroken("the conversion worker processes are not running")
            self._jobs.put((items, future))
        return future

    def close(self, *, now: bool = False) -> None:
        """Stop the workers: after their chunk in hand, or at once (*now*: killed)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._killing = now
        if now:
            for worker in self._started:
                worker.kill()
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        for worker in self._started:
            worker.finish(now=True)  # those whose thread never ran (it does nothing otherwise)
        self._fail_queued()

    def _serve(self, worker: Worker) -> None:
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                items, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    outcomes, records = worker.convert(items)
                except Exception as exc:
                    self._break(worker, exc)
                    future.set_exception(WorkersBroken(f"conversion worker {worker.pid} died"))
                    return
                for record in records:
                    _relay(record)
                future.set_result(outcomes)
        finally:
            worker.finish(now=self._killing)

    def _break(self, worker: Worker, exc: Exception) -> None:
        with self._lock:
            first, self._broken = not self._broken, True
        if first and not self._closed:
            logger.warning(
                "conversion worker %d failed (%s: %s); converting in the importer's process from now on",
                worker.pid,
                type(exc).__name__,
                exc,
            )
        self._fail_queued()
        for _ in self._threads:
            self._jobs.put(None)  # the other workers finish their chunk in hand and leave

    def _fail_queued(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is None:
                continue
            _items, future = job
            if future.set_running_or_notify_cancel():
                future.set_exception(WorkersBroken("the conversion worker processes stopped"))


def _pickled(converter: object) -> bytes:
    if type(converter).__module__ == "__main__":
        raise WorkersBroken(
            f"the converter {type(converter).__name__} is defined in the main script, which worker "
            "processes never import; define it in a module to convert in worker processes"
        )
    try:
        return pickle.dumps(converter, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise WorkersBroken(
            f"the converter cannot be handed to worker processes ({type(exc).__name__}: {exc})"
        ) from exc


def _relay(record: logging.LogRecord) -> None:
    """Log a record a worker sent back, as if it had been logged here."""
    record.msg = f"conversion worker: {record.msg}"
    target = logging.getLogger(record.name)
    if target.isEnabledFor(record.levelno):
        target.handle(record)
