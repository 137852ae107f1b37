"""Telling a TLS port from a plain one, for any line protocol (POP3 now, IMAP the same way).

A client that speaks plain text to a port that expects TLS from the first byte (POP3S 995, IMAPS
993) waits for a greeting that never comes: the server waits for a ClientHello. A client that
starts TLS on a plain port gets the server's text greeting where the handshake expected a TLS
record (``WRONG_VERSION_NUMBER``). Both look like something else (a dead server, a broken TLS
stack) unless asked about. The fetchers use these probes to say which setting and port to use:

* :func:`speaks_tls`, after a plain connection heard no greeting for :data:`GREETING_WAIT`
  seconds: a second connection tries a TLS handshake, certificates unchecked (it sends nothing
  but a ClientHello, and is closed at once).
* :func:`plain_greeting`, after a TLS handshake failed on something that is not TLS: a second,
  plain connection reads what the server says first (``+OK …`` from POP3, ``* OK …`` from IMAP).

Neither probe raises: a failure to learn anything is ``False`` or ``None``, and the caller goes
on with its own error.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl

__all__ = ["GREETING_WAIT", "PROBE_TIMEOUT", "greeting_arrives", "not_tls", "plain_greeting", "speaks_tls"]

#: Seconds of silence after connecting after which a plain connection asks whether the port speaks TLS.
GREETING_WAIT = 3.0
#: Most seconds a probe waits for the server.
PROBE_TIMEOUT = 5.0
#: Longest first line a probe reads.
_LINE_LIMIT = 1024

#: OpenSSL reasons for a peer that answered a ClientHello with something that is not TLS.
_NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "HTTP_REQUEST",
        "UNKNOWN_PROTOCOL",
        "PACKET_LENGTH_TOO_LONG",
    }
)


def not_tls(exc: BaseException) -> bool:
    """Whether a failed handshake means that the peer answered with something that is not TLS."""
    if not isinstance(exc, ssl.SSLError) or isinstance(exc, ssl.SSLCertVerificationError):
        return False
    reason = (exc.reason or "").upper()
    return reason in _NOT_TLS_REASONS or "WRONG_VERSION_NUMBER" in str(exc).upper()


def greeting_arrives(sock: socket.socket, seconds: float) -> bool:
    """Whether the server sends something on *sock* within *seconds* (nothing is read)."""
    try:
        readable, _, _ = select.select([sock], [], [], seconds)
    except (OSError, ValueError):
        return True  # cannot tell: let the normal read find out
    return bool(readable)


def speaks_tls(host: str, port: int, *, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether *host*:*port* answers a TLS ClientHello with TLS (a handshake, or a TLS alert)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only asking what the port speaks; nothing is sent
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host),
        ):
            return True
    except ssl.SSLError as exc:
        # An alert is TLS talking (an old protocol version, no shared cipher); text is not.
        return not not_tls(exc) and not isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError)
    except (OSError, ValueError):
        return False


def plain_greeting(host: str, port: int, *, timeout: float = PROBE_TIMEOUT) -> bytes | None:
    """The first line *host*:*port* sends on a plain connection, or ``None`` if none comes."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            data = b""
            while b"\n" not in data and len(data) < _LINE_LIMIT:
                chunk = sock.recv(_LINE_LIMIT)
                if not chunk:
                    break
                data += chunk
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):
        return None
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    return line or None
