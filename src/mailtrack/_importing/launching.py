"""Starting one conversion worker process, in one of three ways, and ending it.

- ``fork``: forked from the importer's process (the fastest; chosen automatically only while
  that process runs a single thread, since a lock another thread holds at the moment of the fork
  stays locked forever in the child);
- ``forkserver``: forked from mailtrack's fork server, a small process of its own started once
  per importer process as a new interpreter (see :mod:`.worker_process`);
- ``spawn``: each worker a new interpreter running mailtrack's worker entry point.

None of them imports the host's ``__main__``. :func:`launch` gives a :class:`Worker`: its pid and
the two pipes the importer talks to it through.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .worker_process import die_with_parent, isolate, receive, send, serve

__all__ = ["START_TIMEOUT", "STOP_TIMEOUT", "Items", "Outcomes", "Worker", "WorkersBroken", "launch"]

#: Seconds a worker may take to start (a new interpreter importing mailtrack: about 0.2 s).
START_TIMEOUT = 60.0
#: Seconds a worker may take to finish its chunk and leave when the pool closes; then it is killed.
STOP_TIMEOUT = 5.0

#: A new interpreter running mailtrack's worker entry point with the importer's ``sys.path``
#: (from the environment, so that nothing is imported from the current folder first).
_BOOT = (
    "import os, sys; sys.path[:] = os.environ.pop('MAILTRACK_WORKER_PATH').split(os.pathsep); "
    "from mailtrack._importing.worker_process import spawned_main; spawned_main()"
)

T = TypeVar("T")
#: A chunk of messages to convert, and what comes back for each (a message, an exception, or
#: :class:`~.worker_process.ConvertAgain`).
Items = list[tuple[bytes, datetime]]
Outcomes = list[Any]


class WorkersBroken(Exception):
    """The worker processes failed (one died, or they could not start)."""


def launch(method: str, converter: object) -> Worker:
    """Start one worker with *method* (``fork`` hands it *converter* in memory; the others are
    sent it by :meth:`Worker.handshake`)."""
    if method == "fork":
        return _fork(converter)
    if method == "spawn":
        return _spawn()
    return _ForkServer.get().fork()


class Worker:
    """A started worker: its pid, the pipe to send chunks on, the pipe its results come on."""

    def __init__(
        self, pid: int, commands: int, results: int, *, popen: subprocess.Popen[bytes] | None
    ) -> None:
        self.pid = pid
        self.commands = commands
        self.results = results
        self._popen = popen
        self._closed = False
        # Held while the process is signalled or reaped: a reaped pid may belong to anyone.
        self._state = threading.Lock()
        self._reaped = False

    def handshake(self, converter: bytes | None) -> None:
        """Send the converter (unless the worker was forked with it) and wait until it is ready."""
        if converter is not None:
            send(self.commands, ([entry for entry in sys.path if entry], converter))
        if not _readable(self.results, START_TIMEOUT):
            raise WorkersBroken(f"a conversion worker did not start within {START_TIMEOUT:g} seconds")
        answer = receive(self.results)
        if answer[0] != "ready":
            raise WorkersBroken(str(answer[1]))

    def convert(self, items: Items) -> tuple[Outcomes, list[logging.LogRecord]]:
        send(self.commands, items)
        outcomes, records = receive(self.results)
        return outcomes, records

    def finish(self, *, now: bool) -> None:
        """End the worker: let it finish its chunk and leave (or kill it *now*), then reap it."""
        if self._closed:
            return
        self._closed = True
        _close(self.commands)  # the worker leaves when it reads the end of its commands
        if now or not _ended(self.results, STOP_TIMEOUT):
            self.kill()
        _close(self.results)
        self._reap()

    def kill(self) -> None:
        with self._state:
            if self._reaped:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _reap(self) -> None:
        with self._state:
            if self._popen is not None:
                self._popen.wait()
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, 0)
            self._reaped = True


class _ServedWorker(Worker):
    """A worker forked by the fork server: its parent is the server, which kills and reaps it."""

    def __init__(self, pid: int, commands: int, results: int, server: _ForkServer) -> None:
        super().__init__(pid, commands, results, popen=None)
        self._server = server

    def kill(self) -> None:
        self._server.kill(self.pid)

    def _reap(self) -> None:
        pass


def _readable(fd: int, timeout: float) -> bool:
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        return bool(selector.select(timeout))


def _ended(fd: int, timeout: float) -> bool:
    """Whether the writer of pipe *fd* closed it within *timeout* (what it still wrote is dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not _readable(fd, left):
            return False
        try:
            if not os.read(fd, 1 << 16):
                return True
        except OSError:
            return True


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _with_pipes(start: Callable[[int, int], T]) -> tuple[T, int, int]:
    """Make a worker's two pipes and start it with its ends: ``start(commands, results)``.

    Returns what *start* returned and this side's ends (commands to write, results to read).
    """
    commands_read, commands_write = os.pipe()
    results_read, results_write = os.pipe()
    try:
        started = start(commands_read, results_write)
    except BaseException:
        _close(commands_write)
        _close(results_read)
        raise
    finally:
        os.close(commands_read)
        os.close(results_write)
    return started, commands_write, results_read


def _fork(converter: object) -> Worker:
    parent = os.getpid()

    def start(commands_read: int, results_write: int) -> int:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; covered by the tests through its effects
            try:
                die_with_parent(parent)
                commands, results = isolate((commands_read, results_write))
                serve(commands, results, converter)
            finally:
                os._exit(0)
        return pid

    pid, commands, results = _with_pipes(start)
    return Worker(pid, commands, results, popen=None)


def _interpreter(arguments: Sequence[str], pass_fds: Sequence[int]) -> subprocess.Popen[bytes]:
    """A new interpreter running mailtrack's worker entry point with *arguments*."""
    if not sys.executable:
        raise WorkersBroken("Python's executable is not known (sys.executable is empty)")
    package_root = str(Path(__file__).resolve().parents[2])
    path = [package_root, *(entry for entry in sys.path if entry)]
    env = {**os.environ, "MAILTRACK_WORKER_PATH": os.pathsep.join(path)}
    return subprocess.Popen(
        [sys.executable, "-c", _BOOT, str(os.getpid()), *arguments],
        pass_fds=tuple(pass_fds),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def _spawn() -> Worker:
    popen, commands, results = _with_pipes(
        lambda read, write: _interpreter([str(read), str(write)], (read, write))
    )
    return Worker(popen.pid, commands, results, popen=popen)


class _ForkServer:
    """mailtrack's fork server (see :mod:`.worker_process`), one per process, started on first use."""

    _lock = threading.Lock()
    _current: _ForkServer | None = None

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._popen = _interpreter(["--server", str(theirs.fileno())], (theirs.fileno(),))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        self._talking = threading.Lock()

    @classmethod
    def get(cls) -> _ForkServer:
        with cls._lock:
            server = cls._current
            if server is None or server._popen.poll() is not None:
                server = cls._current = _ForkServer()
            return server

    @classmethod
    def forget(cls, *, stop: bool) -> None:
        """Drop this process's server: closing the connection makes it leave (*stop*), or, in a
        child forked from the host, only this copy of the connection is closed."""
        server, cls._current = cls._current, None
        if server is not None:
            server._socket.close()
            if stop:
                try:
                    server._popen.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    server._popen.kill()

    def fork(self) -> Worker:
        pid, commands, results = _with_pipes(lambda read, write: self._ask(b"F", [read, write]))
        return _ServedWorker(pid, commands, results, self)

    def kill(self, pid: int) -> None:
        # A server that is gone took its workers with it.
        with contextlib.suppress(OSError, WorkersBroken):
            self._ask(b"K" + struct.pack("!q", pid), [])

    def _ask(self, request: bytes, fds: list[int]) -> int:
        with self._talking:
            try:
                socket.send_fds(self._socket, [request], fds)
                answer = b""
                while len(answer) < 8:
                    part = self._socket.recv(8 - len(answer))
                    if not part:
                        raise WorkersBroken("mailtrack's fork server ended")
                    answer += part
            except OSError as exc:
                raise WorkersBroken(f"mailtrack's fork server failed ({exc})") from exc
        (value,) = struct.unpack("!q", answer)
        return int(value)


atexit.register(_ForkServer.forget, stop=True)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _ForkServer.forget(stop=False))
