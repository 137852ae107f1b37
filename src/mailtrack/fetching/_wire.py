"""The wire: one connection, commands sent and replies read as separate steps.

Sending and reading are apart on purpose: RFC 2449 PIPELINING writes a window of commands in
one go and then reads the replies in order, which this class allows without change.

Replies are read from one buffer of our own, not line by line: a multi-line reply ends at the
first ``CRLF . CRLF``, byte-stuffing (a leading ``.`` doubled) is undone in one pass, and there is
no limit on the length of a line (poplib stops at 2048 bytes), only on the size of a whole reply.
IMAP (:mod:`._imapwire`) reads its lines and literals through :meth:`Wire.read_line` and
:meth:`Wire.read_exact` from the same buffer.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl

import attrs

from .._deadlines import ReplyClock, recv_within
from .._redaction import Redactor
from ._errors import ReplyTooLarge, WireError
from ._probe import greeting_arrives

__all__ = ["Reply", "Wire"]

_CRLF = b"\r\n"
_TERMINATOR = b"\r\n.\r\n"
_STUFFED = b"\r\n.."
#: The start of a line that starts with a dot.
_DOT_LINE = b"\r\n."
#: A multi-line reply without data: its terminating line at once.
_EMPTY_BLOCK = b".\r\n"
_RECV_SIZE = 256 * 1024
#: Longest status line accepted (RFC 1939 allows 512 octets; servers are generous with greetings).
MAX_STATUS_LINE = 64 * 1024


@attrs.frozen(kw_only=True)
class Reply:
    """A status line: ``+OK …`` or ``-ERR …`` (without the CRLF)."""

    line: bytes

    @property
    def ok(self) -> bool:
        return self.line.startswith(b"+OK")

    @property
    def text(self) -> bytes:
        """The line after ``+OK`` / ``-ERR``."""
        head, _, rest = self.line.partition(b" ")
        return rest if head in (b"+OK", b"-ERR") else self.line


@attrs.define
class Wire:
    """A connected socket (plain or TLS) speaking a CRLF line protocol (POP3, IMAP)."""

    _sock: socket.socket
    #: The deadlines of each reply and of the run (see :mod:`mailtrack._deadlines`).
    clock: ReplyClock
    _buffer: bytearray = attrs.field(factory=bytearray, init=False)
    #: What one read from the socket lands in before it joins the buffer (allocated once).
    _chunk: memoryview = attrs.field(
        factory=lambda: memoryview(bytearray(_RECV_SIZE)), init=False, repr=False
    )
    _closed: bool = attrs.field(default=False, init=False)
    #: The secrets sent on this connection: status lines come back with them taken out, so that
    #: a server repeating the password cannot make mailtrack repeat it.
    secrets: Redactor = attrs.field(factory=Redactor, init=False, repr=False)

    @classmethod
    def connect(cls, host: str, port: int, *, clock: ReplyClock, tls: ssl.SSLContext | None = None) -> Wire:
        """Open a TCP connection (with implicit TLS when *tls* is given) within *clock*'s
        deadlines; nothing is sent."""
        sock = socket.create_connection((host, port), timeout=clock.send_wait())
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        return cls(sock, clock)

    # -- state --------------------------------------------------------------------------------

    @property
    def tls_version(self) -> str | None:
        """``"TLSv1.3"`` and the like, or ``None`` on a plain connection."""
        return self._sock.version() if isinstance(self._sock, ssl.SSLSocket) else None

    @property
    def closed(self) -> bool:
        return self._closed

    def start_tls(self, context: ssl.SSLContext, host: str) -> None:
        """Upgrade to TLS after the server's ``+OK`` to STLS.

        Raises:
            WireError: the server sent data beyond its ``+OK`` before the handshake (those bytes
                could be injected by an attacker, RFC 2595 section 2.2 spirit).
        """
        if self._buffer:
            raise WireError("the server sent unexpected data right after agreeing to STLS")
        self._sock.settimeout(self.clock.send_wait())
        self._sock = context.wrap_socket(self._sock, server_hostname=host)

    def close(self) -> None:
        """Drop the connection without a word to the server."""
        if not self._closed:
            self._closed = True
            # shutdown() first: it also wakes a thread blocked reading this socket.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            # Another thread (the one reading ahead) may be copying out of the buffer right now.
            with contextlib.suppress(BufferError):
                self._buffer.clear()

    # -- sending ------------------------------------------------------------------------------

    def send(self, *commands: str) -> None:
        """Send one or more command lines in a single write."""
        self._sock.settimeout(self.clock.send_wait())
        self._sock.sendall(b"".join(command.encode("utf-8") + _CRLF for command in commands))

    # -- reading ------------------------------------------------------------------------------

    def readable_within(self, seconds: float) -> bool:
        """Whether the server sends something within *seconds* (nothing is read)."""
        return bool(self._buffer) or greeting_arrives(self._sock, seconds)

    def _fill(self) -> None:
        count = recv_within(self._sock, self._chunk, self.clock)
        if not count:
            raise WireError("the server closed the connection unexpectedly")
        self._buffer += self._chunk[:count]

    def _take(self, size: int, *, drop: int = 0) -> bytes:
        """The first *size* bytes of the buffer (one copy), removed from it with *drop* more."""
        with memoryview(self._buffer) as view:
            taken = bytes(view[:size])
        del self._buffer[: size + drop]  # from the front: no bytes move
        return taken

    def _line_end(self) -> int:
        """Index of the CRLF ending the first line in the buffer (reading as needed)."""
        start = 0
        while True:
            end = self._buffer.find(_CRLF, start)
            if end >= 0:
                if end > MAX_STATUS_LINE:
                    raise WireError(f"the server sent a reply line longer than {MAX_STATUS_LINE} bytes")
                return end
            if len(self._buffer) > MAX_STATUS_LINE:
                raise WireError(f"the server sent a reply line longer than {MAX_STATUS_LINE} bytes")
            start = max(0, len(self._buffer) - 1)
            self._fill()

    def read_reply(self, *, expected: int = 0, continuation: bool = False) -> Reply:
        """Read one status line; the reply (with the data that may follow) is to carry about
        *expected* bytes, which extends its deadline (see :class:`~mailtrack._deadlines.ReplyClock`).
        With *continuation*, a SASL ``+ …`` line is a reply too (RFC 5034).

        Raises:
            WireError: the line is neither ``+OK`` nor ``-ERR``, too long, or the server closed.
            DeadlineExceeded: the reply or the run took too long.
        """
        self.clock.start(expected)
        line = self.read_line()
        if continuation and (line == b"+" or line.startswith(b"+ ")):
            return Reply(line=line)  # a SASL challenge (base64): decoded and judged by the caller
        for status in (b"+OK", b"-ERR"):
            if line.startswith(status):
                # The status itself is never redacted (a password "OK" must not break the protocol).
                return Reply(line=status + self.secrets.bytes(line[len(status) :]))
        line = self.secrets.bytes(line)
        raise WireError(f"the server sent something that is not a POP3 reply: {line[:80]!r}")

    def readable(self, timeout: float, *, wake: int | None = None) -> bool:
        """Wait up to *timeout* seconds until the server sent something (an IMAP IDLE waits so);
        a descriptor *wake* that becomes readable ends the wait early (False).
        """
        if self._buffer or (isinstance(self._sock, ssl.SSLSocket) and self._sock.pending()):
            return True
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ, "server")
            if wake is not None:
                selector.register(wake, selectors.EVENT_READ, "wake")
            events = selector.select(timeout)
        return any(key.data == "server" for key, _ in events)

    def read_line(self) -> bytes:
        """Read one line of any kind, without its CRLF (at most :data:`MAX_STATUS_LINE` bytes).

        Raises:
            WireError: the line is too long, or the server closed the connection.
        """
        return self._take(self._line_end(), drop=2)

    def read_exact(self, size: int) -> bytes:
        """Read exactly *size* bytes (an IMAP literal).

        Raises:
            WireError: the server closed the connection first.
        """
        while len(self._buffer) < size:
            self._fill()
        return self._take(size)

    def read_block(self, *, limit: int) -> bytes:
        """Read the data of a multi-line reply (after its ``+OK`` line) up to ``CRLF . CRLF``.

        Returns the lines with their CRLFs, the terminating line removed and byte-stuffing undone.

        Raises:
            ReplyTooLarge: the data grew beyond *limit* bytes before it ended.
            WireError: the server closed the connection.
        """
        buffer = self._buffer
        while len(buffer) < len(_EMPTY_BLOCK) and _EMPTY_BLOCK.startswith(buffer):
            self._fill()  # what came may yet be the terminating line alone
        if buffer.startswith(_EMPTY_BLOCK):
            del buffer[: len(_EMPTY_BLOCK)]
            return b""
        # One pass over the data for a line starting with ".": the terminating line ". CRLF" or a
        # stuffed line ".." (any other is the server's mistake, left as it came, as before).
        # The data ends at the CRLF before the terminating line.
        start = 0
        stuffed = False  # a stuffed line after the first
        while True:
            end = buffer.find(_DOT_LINE, start)
            if end >= 0 and len(buffer) >= end + len(_TERMINATOR):
                if buffer.startswith(_TERMINATOR, end):
                    break
                stuffed = stuffed or buffer.startswith(_STUFFED, end)
                start = end + len(_DOT_LINE)
                continue
            if len(buffer) > limit:
                raise ReplyTooLarge(f"the reply grew beyond {limit} bytes")
            if end < 0:
                start = max(start, len(buffer) - len(_DOT_LINE) + 1)
            self._fill()
        if end > limit:
            raise ReplyTooLarge(f"the reply grew beyond {limit} bytes")
        block = self._take(end + 2, drop=len(_TERMINATOR) - 2)
        if block.startswith(b".."):
            block = block[1:]  # a stuffed first line (no CRLF before it to match below)
        if stuffed:
            block = block.replace(_STUFFED, b"\r\n.")
        return block
