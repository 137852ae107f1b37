"""The one HTTP request an OAuth 2.0 grant needs: a form POST to an HTTPS endpoint, JSON back.

oauthlib prepares the request bodies and reads the answers (RFC 6749 §5); this module only
carries them, with the standard library's :mod:`http.client`: TLS always verified (against
``ca_file`` or the system's store), ``https://`` only, no proxy, no redirects followed (a
redirect could carry the client secret elsewhere), and every failure in plain words naming the
endpoint but never what was sent.

Its deadlines are :mod:`mailtrack._deadlines`', as for the mail servers: ``timeout`` bounds the
connect and each wait for a byte, the request as a whole ``2 * timeout`` plus one second (an
answer is a few KB), and a watchdog ends the request at that deadline whatever it is waiting for (an endpoint
that sends its headers one byte at a time cannot hold a run).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from typing import Any

from .._deadlines import DEFAULT_MIN_RATE, Deadline, DeadlineExceeded, ReplyClock
from .._redaction import Redactor
from ..exceptions import ConfigError, TokenError
from ..fetching._errors import reply_text

__all__ = ["check_endpoint", "post_form", "sent_secrets"]

#: Largest answer read from a token endpoint.
_ANSWER_LIMIT = 1024 * 1024
#: The size a token endpoint's answer is given time for (a few KB in practice): 1 s at 64 KB/s.
_ANSWER_TIME_BYTES = 64 * 1024
#: How much of an answer that is not JSON is looked at for the error message.
_QUOTED = 4096


def check_endpoint(url: str, what: str) -> str:
    """*url* if it is an ``https://`` URL with a host; else ConfigError naming *what*."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"{what}: must be an https:// URL (secrets are never sent without verified TLS), not {url!r}"
        )
    return url


def _context(ca_file: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except OSError as exc:
        raise ConfigError(f"the CA file {ca_file!r} (oauth.ca_file) cannot be used: {exc}") from None


def post_form(
    url: str, body: str, *, ca_file: str | None, timeout: float, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST *body* (form-encoded) to *url*; the HTTP status and the JSON object answered.

    A 4xx answer with a JSON body is returned (it carries the OAuth ``error``); anything else
    that is not a 200 with JSON raises :class:`~mailtrack.TokenError` with ``retry_later`` set.
    """
    check_endpoint(url, "token endpoint")
    where = _where(url)
    parts = urllib.parse.urlsplit(url)
    budget = 2 * timeout + _ANSWER_TIME_BYTES / DEFAULT_MIN_RATE
    clock = ReplyClock(
        timeout=timeout, run=Deadline.after(budget, f"the answer of the token endpoint {where}")
    )
    connection = http.client.HTTPSConnection(
        parts.hostname or "", parts.port or 443, timeout=clock.send_wait(), context=_context(ca_file)
    )
    watchdog = threading.Timer(budget, _shut, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST",
            urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
            body=body.encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                **(headers or {}),
            },
        )
        clock.start()
        _sock(connection).settimeout(clock.wait())
        response = connection.getresponse()
        status, raw = response.status, _read(connection, response, clock)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if not watchdog.is_alive() and not isinstance(exc, ssl.SSLCertVerificationError):
            exc = DeadlineExceeded(f"no complete answer within {budget:.0f} seconds")
        raise _network_error(where, exc, timeout) from None
    finally:
        watchdog.cancel()
        connection.close()
    try:
        answer = json.loads(raw) if len(raw) <= _ANSWER_LIMIT else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        quoted = reply_text(Redactor(sent_secrets(body), pieces=True).bytes(raw[:_QUOTED])[:120])
        raise TokenError(
            f"the token endpoint {where} answered HTTP {status} without a JSON object "
            f"({quoted!r}); will retry next run",
            retry_later=True,
        )
    if status == 200 or 400 <= status < 500:
        return status, answer
    raise TokenError(
        f"the token endpoint {where} failed (HTTP {status}); will retry next run", retry_later=True
    )


def _sock(connection: http.client.HTTPSConnection) -> socket.socket:
    sock = connection.sock
    if sock is None:
        raise http.client.HTTPException("the connection closed")
    return sock


def _read(
    connection: http.client.HTTPSConnection, response: http.client.HTTPResponse, clock: ReplyClock
) -> bytes:
    """The answer's body (at most one byte beyond the limit), each read within *clock*."""
    raw = bytearray()
    while len(raw) <= _ANSWER_LIMIT:
        _sock(connection).settimeout(clock.wait())
        chunk = response.read1(64 * 1024)
        if not chunk:
            break
        clock.received(len(chunk))
        raw += chunk
    return bytes(raw[: _ANSWER_LIMIT + 1])


def _shut(connection: http.client.HTTPSConnection) -> None:
    """The watchdog: wake whatever waits on the connection (a read, the TLS handshake)."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # closed already
            sock.shutdown(socket.SHUT_RDWR)


#: Form fields that are not secret (a reply may quote them).
_PUBLIC_FIELDS = frozenset({"grant_type", "scope", "client_id", "redirect_uri"})


def sent_secrets(body: str) -> list[str]:
    """The secret values a form sent (a refresh token, a client secret, an assertion, a code …)."""
    return [value for name, value in urllib.parse.parse_qsl(body) if value and name not in _PUBLIC_FIELDS]


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _network_error(where: str, reason: object, timeout: float) -> TokenError:
    if isinstance(reason, DeadlineExceeded):
        text = str(reason)
    elif isinstance(reason, TimeoutError | socket.timeout):
        text = f"no answer within {timeout:g} seconds"
    elif isinstance(reason, ssl.SSLCertVerificationError):
        text = (
            f"its TLS certificate is not trusted ({reason.verify_message}); nothing was sent. Set "
            f"oauth.ca_file if the endpoint uses a private certificate authority"
        )
    elif isinstance(reason, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(reason, socket.gaierror):
        text = "its host name could not be found (DNS lookup failed)"
    elif isinstance(reason, OSError):
        text = f"network error: {reason.strerror or reason}"
    else:
        text = f"network error: {reason}"
    return TokenError(
        f"the token endpoint {where} cannot be reached: {text}; will retry next run", retry_later=True
    )
