"""Turning what went wrong on the wire into errors a help-desk admin understands.

Every message names the server and port, says what happened in plain words and, where it helps,
what to do about it. None contains a password: the only things quoted are the server's own reply
texts (shortened, control characters removed) and the login name.
"""

from __future__ import annotations

import re
import socket
import ssl

from .._deadlines import DeadlineExceeded
from ..exceptions import (
    AuthenticationError,
    FetchError,
    SecurityError,
    ServerBusyError,
)

__all__ = [
    "ReplyTooLarge",
    "WireError",
    "connection_error",
    "reply_code",
    "reply_error",
    "reply_text",
    "tls_error",
]

#: Longest piece of a server reply quoted in an error message.
_QUOTE_LIMIT = 200

_CODE = re.compile(rb"^-ERR\s*\[([^\]\s]+)[^\]]*\]", re.IGNORECASE)

# OpenSSL verify codes (X509_V_ERR_*) that mean "the name does not match".
_NAME_MISMATCH = {62, 64}
_EXPIRED = {10}
_NOT_YET_VALID = {9}


class WireError(Exception):
    """The server broke the protocol (a malformed reply, a reply beyond a limit, an early close).

    Internal: :class:`~mailtrack.fetching.POP3Fetcher` turns it into a :class:`FetchError`
    that names the server.
    """


class ReplyTooLarge(WireError):
    """A multi-line reply went on beyond the limit the reader was given."""


def reply_text(reply: bytes) -> str:
    """The printable part of a server reply, shortened for quoting in an error message."""
    text = reply.decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if len(text) > _QUOTE_LIMIT:
        text = text[: _QUOTE_LIMIT - 1] + "…"
    return text


def reply_code(reply: bytes) -> str | None:
    """The RFC 2449 response code of an ``-ERR`` reply (``"IN-USE"``, ``"SYS/TEMP"`` …), upper case."""
    match = _CODE.match(reply)
    return match.group(1).decode("ascii", "replace").upper() if match else None


def reply_error(reply: bytes, *, where: str, command: str, login: str, logging_in: bool) -> FetchError:
    """The error for an ``-ERR`` *reply* to *command* (never the command's secret argument).

    Args:
        reply: the server's status line.
        where: ``"host port N"``.
        command: what was asked, for the message (``"RETR 3"``, ``"the login"``).
        login: the login name (named in authentication errors).
        logging_in: whether the reply answers USER, PASS or APOP: an ``-ERR`` without a
            response code there means the login was refused.
    """
    code = reply_code(reply)
    said = f" (the server said: {reply_text(reply)})"
    if code == "IN-USE":
        return ServerBusyError(
            f"{where}: the mailbox is in use by another client; will retry next run (another mail "
            f"program or a second importer holds it){said}"
        )
    if code == "LOGIN-DELAY":
        return ServerBusyError(
            f"{where}: the server allows a new login only after a waiting time (LOGIN-DELAY); "
            f"will retry next run{said}"
        )
    if code == "SYS/TEMP":
        return ServerBusyError(f"{where}: the server has a temporary problem; will retry next run{said}")
    if code == "SYS/PERM":
        return FetchError(
            f"{where}: the server has a permanent problem with this mailbox; the mail server's "
            f"administrator has to fix it{said}"
        )
    if code == "AUTH" or (logging_in and code is None):
        return AuthenticationError(
            f"{where}: the server refused the login for user {login!r}: check the login name and "
            f"password{said}"
        )
    return FetchError(f"{where}: the server refused {command}{said}")


def connection_error(
    exc: OSError, *, server: str, port: int, timeout: float, handshake: bool = False
) -> FetchError:
    """The error for a failed connection or a network problem during a session.

    Args:
        handshake: whether *exc* came from a TLS handshake (then nothing was sent yet).
    """
    where = f"{server} port {port}"
    if isinstance(exc, DeadlineExceeded):
        return FetchError(f"{where}: {exc}; the session was ended without QUIT")
    if isinstance(exc, ssl.SSLError) and (handshake or isinstance(exc, ssl.SSLCertVerificationError)):
        return tls_error(exc, server=server, port=port)
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return FetchError(f"{where}: the server closed the connection unexpectedly")
    if isinstance(exc, ssl.SSLError):
        return FetchError(f"{where}: the encrypted connection broke ({exc.reason or exc})")
    if isinstance(exc, socket.gaierror):
        return FetchError(
            f"the server name {server!r} could not be found (DNS lookup failed): check the server name"
        )
    if isinstance(exc, ConnectionRefusedError):
        return FetchError(
            f"could not connect to {where}: connection refused (is the POP3 server running, and is "
            f"the port right?)"
        )
    if isinstance(exc, TimeoutError):
        return FetchError(f"{where}: no answer from the server within {timeout:g} seconds")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return FetchError(f"{where}: the server closed the connection unexpectedly")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return FetchError(f"{where}: network error: {reason}")


def tls_error(exc: ssl.SSLError, *, server: str, port: int) -> SecurityError:
    """The error for a failed TLS handshake (nothing has been sent over the connection)."""
    where = f"{server} port {port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        detail = exc.verify_message or exc.reason or "verification failed"
        if code in _NAME_MISMATCH:
            return SecurityError(
                f"{where}: the server's certificate is not valid for the name {server!r} (host name "
                f"mismatch: {detail}); nothing was sent. Use the server name the certificate was "
                f"issued for"
            )
        if code in _EXPIRED:
            return SecurityError(f"{where}: the server's certificate has expired; nothing was sent")
        if code in _NOT_YET_VALID:
            return SecurityError(
                f"{where}: the server's certificate is not valid yet (check the clocks); nothing was sent"
            )
        return SecurityError(
            f"{where}: the server's certificate is not trusted ({detail}); nothing was sent. If the "
            f"server uses a private certificate authority, set ca_file to that authority's certificate"
        )
    reason = exc.reason or str(exc)
    return SecurityError(f"{where}: the TLS handshake failed ({reason}); nothing was sent")
