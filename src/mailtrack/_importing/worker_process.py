"""What runs inside a conversion worker process, and inside mailtrack's fork server.

A worker reads chunks of raw messages from one pipe and writes the converted messages (or the
exceptions the converter raised) to another, each as a length-prefixed pickle. However it was
started (forked from the importer, forked from the fork server, or as a new interpreter running
:func:`spawned_main`), it

- never imports the host's ``__main__`` (a script without ``if __name__ == "__main__":`` runs
  exactly once, in the host);
- never writes to the host's stdout or stderr: both point to ``/dev/null``, and what it logs
  goes back with the results (:class:`LogRelay`) and is logged again by the importer;
- dies with the process that started it: on Linux ``PR_SET_PDEATHSIG`` (checked against the
  parent's pid right after, for the race where the parent died first), everywhere the end of
  its command pipe, which the kernel closes when the parent dies;
- ignores Ctrl-C, which the terminal sends to the whole process group: the importer decides
  when its workers stop.

The fork server (:func:`serve_forks`) is a small process of mailtrack's own, started like a
spawned worker, that forks a worker on request: workers then start in milliseconds even when the
importer's process runs other threads (forking it then could copy a lock another thread holds).
It leaves with its last connection to the importer, killing the workers it forked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "ConvertAgain",
    "LogRelay",
    "die_with_parent",
    "isolate",
    "receive",
    "send",
    "serve",
    "serve_forks",
    "spawned_main",
]

_LENGTH = struct.Struct("!Q")
#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
_PR_SET_PDEATHSIG = 1
#: Log records a worker sends back with each result: WARNING and above.
RELAYED_LEVEL = logging.WARNING


class ConvertAgain:
    """Stands for an exception that cannot be pickled: the importer converts the message again
    in its own process, where the exception needs no pickling."""

    def __init__(self, description: str) -> None:
        self.description = description


def send(fd: int, value: object) -> None:
    """Write *value* to *fd* as a length-prefixed pickle (the pickle is not copied again to
    put the length before it)."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _LENGTH.pack(len(payload)))
    _write_all(fd, payload)


def receive(fd: int) -> Any:
    """Read one value written by :func:`send`; ``EOFError`` when the other side closed."""
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size))
    return pickle.loads(_read_into(fd, length))  # noqa: S301 - from our own worker or importer


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left:
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            raise EOFError("the other end of the pipe closed")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _read_into(fd: int, size: int) -> bytearray:
    """*size* bytes from *fd*, read straight into one buffer (not read in parts, then joined)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    with open(fd, "rb", buffering=0, closefd=False) as pipe:
        while done < size:
            count = pipe.readinto(view[done:])
            if not count:
                raise EOFError("the other end of the pipe closed")
            done += count
    return buffer


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); exit now if it has."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent_pid:
        os._exit(0)  # the parent died before the signal was asked for


def isolate(keep: tuple[int, ...]) -> tuple[int, ...]:
    """Leave the host's files alone: every descriptor but *keep* closed, stdin, stdout and stderr
    on ``/dev/null``, Ctrl-C ignored, SIGTERM fatal, the host's log handlers gone.

    Returns the kept descriptors, moved above 2 where they were 0..2.
    """
    moved = tuple(os.dup(fd) if fd <= 2 else fd for fd in keep)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    low = 3
    for fd in sorted(set(moved)):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _open_max())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A forked worker inherits the host's handlers (a log file, a socket): write nowhere near them.
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers.clear()
    return moved


def _open_max() -> int:
    try:
        return max(os.sysconf("SC_OPEN_MAX"), 256)
    except (ValueError, OSError):  # pragma: no cover
        return 65536


class LogRelay(logging.Handler):
    """Collects the worker's log records, made picklable, to send back with the next results."""

    def __init__(self) -> None:
        super().__init__(RELAYED_LEVEL)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args, record.exc_info = record.getMessage(), None, None
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        taken, self.records = self.records, []
        return taken


def _picklable(outcome: object) -> object:
    try:
        pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return ConvertAgain(f"{type(outcome).__name__} that cannot be sent back ({type(exc).__name__})")
    return outcome


def serve(commands: int, results: int, converter: Any = None) -> None:
    """The worker's loop: set up (unless *converter* came with a fork), then convert chunks
    until the command pipe ends.

    The first message is ``(sys.path, pickled converter)`` unless the converter is given; the
    worker answers ``("ready", pid)`` or ``("failed", reason)``. Each later message is a list of
    ``(raw, received_at)``; the answer is ``(outcomes, log records)``.
    """
    relay = LogRelay()
    logging.getLogger().addHandler(relay)
    try:
        if converter is None:
            path, pickled = receive(commands)
            sys.path[:] = [entry for entry in path if entry]
            try:
                converter = pickle.loads(pickled)  # noqa: S301 - sent by our own importer
            except Exception as exc:
                send(results, ("failed", f"the converter could not be loaded ({type(exc).__name__}: {exc})"))
                return
        send(results, ("ready", os.getpid()))
        convert: Callable[..., object] = converter.convert
        while True:
            try:
                items = receive(commands)
            except EOFError:
                return
            outcomes: list[object] = []
            for raw, received_at in items:
                try:
                    outcomes.append(convert(raw, received_at=received_at))
                except Exception as exc:
                    outcomes.append(exc)
            try:
                send(results, (outcomes, relay.take()))
            except (pickle.PicklingError, TypeError, AttributeError):
                send(results, ([_picklable(outcome) for outcome in outcomes], relay.take()))
    except (EOFError, BrokenPipeError):
        return  # the importer went away


def spawned_main() -> None:
    """Entry point of a worker (or fork server) started as a new interpreter.

    ``argv``: ``PARENT_PID COMMANDS_FD RESULTS_FD`` for a worker, ``PARENT_PID --server FD``
    for the fork server.
    """
    parent = int(sys.argv[1])
    if sys.argv[2] == "--server":
        (control,) = isolate((int(sys.argv[3]),))
        # No PR_SET_PDEATHSIG here: it fires when the *thread* that started the server ends,
        # which in a host may be long before its process. The server leaves when its
        # connection to the importer ends instead (the kernel closes it when the importer dies).
        serve_forks(control, parent)
        return
    die_with_parent(parent)
    commands, results = isolate((int(sys.argv[2]), int(sys.argv[3])))
    serve(commands, results)


def serve_forks(control: int, importer_pid: int) -> None:
    """The fork server's loop: for each request on the *control* socket, fork a worker.

    Requests: ``b"F"`` with two descriptors (the worker's command and result pipes), answered
    with the worker's pid; ``b"K" + pid`` kills a worker forked here. The workers' own parent is
    this server: they die with it, and it kills them when the importer's connection ends.
    """
    from mailtrack import converting  # noqa: F401 - loaded once here, so every worker starts with it

    sock = socket.socket(fileno=control)
    children: set[int] = set()
    try:
        while True:
            _reap(children)
            try:
                message, fds, _flags, _address = socket.recv_fds(sock, 64, 2)
            except OSError:
                return
            if not message:
                return  # the importer closed the connection or died
            if message[:1] == b"F" and len(fds) == 2:
                server = os.getpid()
                pid = os.fork()
                if pid == 0:
                    try:
                        sock.close()
                        die_with_parent(server)
                        commands, results = isolate(tuple(fds))
                        serve(commands, results)
                    finally:
                        os._exit(0)
                children.add(pid)
                for fd in fds:
                    os.close(fd)
                sock.sendall(struct.pack("!q", pid))
            else:
                for fd in fds:
                    os.close(fd)
                if message[:1] == b"K" and len(message) == 9:
                    (victim,) = struct.unpack("!q", message[1:])
                    if victim in children:  # still ours: not reaped, so not reused
                        _kill(victim)
    finally:
        for pid in children:
            _kill(pid)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(children: set[int]) -> None:
    for pid in list(children):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done == pid:
            children.discard(pid)


if __name__ == "__main__":  # pragma: no cover - the tests start workers with -c
    spawned_main()
