"""The POP3 wire: one connection, commands sent and replies read as separate steps.

Sending and reading are apart on purpose: RFC 2449 PIPELINING writes a window of commands in
one go and then reads the replies in order, which this class allows without change.

Replies are read from one buffer of our own, not line by line: a multi-line reply ends at the
first ``CRLF . CRLF``, byte-stuffing (a leading ``.`` doubled) is undone in one pass, and there is
no limit on the length of a line (poplib stops at 2048 bytes), only on the size of a whole reply.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

import attrs

from ._errors import ReplyTooLarge, WireError
from ._probe import greeting_arrives

__all__ = ["Reply", "Wire"]

_CRLF = b"\r\n"
_TERMINATOR = b"\r\n.\r\n"
_STUFFED = b"\r\n.."
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
    """A connected socket (plain or TLS) speaking the POP3 line protocol."""

    _sock: socket.socket
    _buffer: bytearray = attrs.field(factory=bytearray, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    @classmethod
    def connect(cls, host: str, port: int, *, timeout: float, tls: ssl.SSLContext | None = None) -> Wire:
        """Open a TCP connection (with implicit TLS when *tls* is given); nothing is sent."""
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        return cls(sock)

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
        self._sock = context.wrap_socket(self._sock, server_hostname=host)

    def close(self) -> None:
        """Drop the connection without a word to the server."""
        if not self._closed:
            self._closed = True
            self._buffer.clear()
            # shutdown() first: it also wakes a thread blocked reading this socket.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()

    # -- sending ------------------------------------------------------------------------------

    def send(self, *commands: str) -> None:
        """Send one or more command lines in a single write."""
        self._sock.sendall(b"".join(command.encode("utf-8") + _CRLF for command in commands))

    # -- reading ------------------------------------------------------------------------------

    def readable_within(self, seconds: float) -> bool:
        """Whether the server sends something within *seconds* (nothing is read)."""
        return bool(self._buffer) or greeting_arrives(self._sock, seconds)

    def _fill(self) -> None:
        chunk = self._sock.recv(_RECV_SIZE)
        if not chunk:
            raise WireError("the server closed the connection unexpectedly")
        self._buffer += chunk

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

    def read_reply(self) -> Reply:
        """Read one status line.

        Raises:
            WireError: the line is neither ``+OK`` nor ``-ERR``, too long, or the server closed.
        """
        end = self._line_end()
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        if not (line.startswith(b"+OK") or line.startswith(b"-ERR")):
            raise WireError(f"the server sent something that is not a POP3 reply: {line[:80]!r}")
        return Reply(line=line)

    def read_block(self, *, limit: int) -> bytes:
        """Read the data of a multi-line reply (after its ``+OK`` line) up to ``CRLF . CRLF``.

        Returns the lines with their CRLFs, the terminating line removed and byte-stuffing undone.

        Raises:
            ReplyTooLarge: the data grew beyond *limit* bytes before it ended.
            WireError: the server closed the connection.
        """
        # Search from a virtual CRLF before the data, so that an empty block (".\r\n" at once)
        # and a stuffed first line are found by the same two patterns as everywhere else.
        self._buffer[0:0] = _CRLF
        start = 0
        while True:
            end = self._buffer.find(_TERMINATOR, start)
            if end >= 0:
                break
            if len(self._buffer) - 2 > limit:
                del self._buffer[:2]
                raise ReplyTooLarge(f"the reply grew beyond {limit} bytes")
            start = max(0, len(self._buffer) - len(_TERMINATOR) + 1)
            try:
                self._fill()
            except BaseException:
                del self._buffer[:2]
                raise
        if end - 2 > limit:
            del self._buffer[:2]
            raise ReplyTooLarge(f"the reply grew beyond {limit} bytes")
        block = bytes(self._buffer[: end + 2])
        del self._buffer[: end + len(_TERMINATOR)]
        if _STUFFED in block:
            block = block.replace(_STUFFED, b"\r\n.")
        return block[2:]
