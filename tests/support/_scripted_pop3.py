"""A POP3 server whose misbehaviour a test writes: the hostile servers of issue 14.

:class:`ScriptedPOP3` serves a mailbox (UIDs as raw bytes, so that a UID may hold control
characters ``POP3TestServer`` refuses) on 127.0.0.1 and answers each command with a default that
a test replaces per command: ``answers["PASS"] = lambda args: b"-ERR you said " + args + b"\\r\\n"``.
An answer may be bytes or an iterable of bytes chunks, sent one by one (a generator may sleep
between them: a server that drips a RETR). The listing may be given as a function instead of
messages, so that a benchmark can list a million messages without holding them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType

__all__ = ["Answer", "ScriptedPOP3"]

Answer = Callable[[bytes], "bytes | Iterable[bytes]"]


def _block(lines: Iterable[bytes]) -> Iterator[bytes]:
    yield b"+OK\r\n"
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line + b"\r\n")
        if len(chunk) >= 4096:
            yield b"".join(chunk)
            chunk = []
    yield b"".join(chunk) + b".\r\n"


class ScriptedPOP3:
    """A POP3 server on 127.0.0.1 in threads; use as a context manager.

    Args:
        messages: ``(uid, raw)`` pairs, raw with CRLF line ends (numbered from 1).
        count: instead of messages, a mailbox of this many that exist only in the listing
            (UID ``uid-N``, size 1000); RETR of one gives a small message.
        capabilities: the CAPA lines.
    """

    def __init__(
        self,
        messages: Sequence[tuple[bytes, bytes]] = (),
        *,
        count: int | None = None,
        capabilities: Sequence[bytes] = (b"USER", b"UIDL", b"PIPELINING"),
    ) -> None:
        self.messages = list(messages)
        self.count = count
        self.capabilities = list(capabilities)
        self.answers: dict[str, Answer] = {}
        self.deleted: set[int] = set()
        self.commands: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._closing = threading.Event()

    @property
    def port(self) -> int:
        port: int = self._listener.getsockname()[1]
        return port

    def __enter__(self) -> ScriptedPOP3:
        thread = threading.Thread(target=self._accept, daemon=True, name="scripted-pop3")
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self._listener.close()
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        for thread in self._threads:
            thread.join(timeout=10)

    # -- the mailbox ------------------------------------------------------------------------------

    def _numbers(self) -> Iterator[int]:
        total = self.count if self.count is not None else len(self.messages)
        return (number for number in range(1, total + 1) if number not in self.deleted)

    def _uid(self, number: int) -> bytes:
        return b"uid-%d" % number if self.count is not None else self.messages[number - 1][0]

    def _raw(self, number: int) -> bytes:
        if self.count is not None:
            return b"From: a@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n" % (number, number)
        return self.messages[number - 1][1]

    def _size(self, number: int) -> int:
        return 1000 if self.count is not None else len(self._raw(number))

    def default(self, command: str, args: bytes) -> bytes | Iterable[bytes]:
        """The well-behaved answer to *command*."""
        if command in ("USER", "PASS", "NOOP", "RSET"):
            return b"+OK\r\n"
        if command == "CAPA":
            return _block(self.capabilities)
        if command == "STAT":
            numbers = list(self._numbers())
            return b"+OK %d %d\r\n" % (len(numbers), sum(self._size(n) for n in numbers))
        if command == "UIDL":
            return _block(b"%d %s" % (n, self._uid(n)) for n in self._numbers())
        if command == "LIST":
            return _block(b"%d %d" % (n, self._size(n)) for n in self._numbers())
        if command == "RETR":
            raw = self._raw(int(args))
            stuffed = (b"\r\n" + raw).replace(b"\r\n.", b"\r\n..")[2:]
            return [b"+OK\r\n", stuffed if stuffed.endswith(b"\r\n") else stuffed + b"\r\n", b".\r\n"]
        if command == "DELE":
            self.deleted.add(int(args))
            return b"+OK\r\n"
        return b"-ERR unknown command\r\n"

    # -- the wire ---------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: socket.socket) -> None:
        marked: set[int] = set()
        try:
            connection.sendall(b"+OK scripted POP3 server <1.2@example.org>\r\n")
            buffer = b""
            while not self._closing.is_set():
                while b"\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                line, buffer = buffer.split(b"\r\n", 1)
                self.commands.append(line)
                command, _, args = line.partition(b" ")
                name = command.decode("ascii", "replace").upper()
                if name == "QUIT":
                    self.deleted |= marked
                    connection.sendall(b"+OK bye\r\n")
                    return
                answer = self.answers.get(name)
                reply = answer(args) if answer is not None else self.default(name, args)
                if name == "DELE" and answer is None:
                    # Deletions take effect at QUIT only.
                    self.deleted.discard(int(args))
                    marked.add(int(args))
                for chunk in [reply] if isinstance(reply, bytes) else reply:
                    connection.sendall(chunk)
        except OSError:
            return
        finally:
            connection.close()
