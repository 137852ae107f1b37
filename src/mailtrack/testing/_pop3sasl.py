"""``AUTH XOAUTH2`` / ``AUTH OAUTHBEARER`` in the POP3 test server, answered as Dovecot does.

A token the server's ``check_token`` callable refuses gets the RFC 7628 error challenge (``+``
and base64 JSON); the server waits for the client's answer to it and only then says ``-ERR
[AUTH]``. Every attempt is recorded as a :class:`SASLLogin` (with the token, and whether it came
over verified TLS), so that tests can assert where tokens went.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._pop3session import Session

__all__ = ["MECHANISMS", "SASLLogin", "TokenChecker", "authenticate", "parse_response"]

#: What the test server offers (``sasl_mechanisms``'s default).
MECHANISMS = ("XOAUTH2", "OAUTHBEARER")

#: ``check_token(user, token) -> bool``: whether *token* signs *user* in.
TokenChecker = Callable[[str, str], bool]

_CHALLENGES = {
    "XOAUTH2": {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"},
    "OAUTHBEARER": {"status": "invalid_token", "scope": "mail"},
}


@attrs.frozen(kw_only=True)
class SASLLogin:
    """One OAuth 2.0 sign-in attempt the test server saw."""

    mechanism: str
    user: str
    token: str = attrs.field(repr=False)
    accepted: bool
    #: Whether it came over TLS, and over TLS with a certificate a careful client accepts.
    tls: bool
    trusted: bool


def parse_response(mechanism: str, encoded: str) -> tuple[str, str] | None:
    """``(user, token)`` from a base64 initial response, or ``None`` when it is malformed."""
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    fields = text.split("\x01")
    if len(fields) < 3 or fields[-2:] != ["", ""]:
        return None
    user = ""
    token = ""
    first = fields[0]
    if mechanism == "OAUTHBEARER":
        head = first.split(",")
        if len(head) < 3 or head[0] not in ("n", "y"):
            return None
        for part in head[1:]:
            if part.startswith("a="):
                user = part[2:].replace("=2C", ",").replace("=3D", "=")
        pairs = fields[1:-2]
    else:
        pairs = fields[:-2]
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "user":
            user = value
        elif key == "auth" and value.startswith("Bearer "):
            token = value[len("Bearer ") :]
    return (user, token) if user and token else None


def error_challenge(mechanism: str) -> str:
    """The ``+ …`` line sent for a refused token."""
    return "+ " + base64.b64encode(json.dumps(_CHALLENGES[mechanism]).encode()).decode()


def authenticate(session: Session, args: list[str]) -> None:
    """The AUTH command: with the initial response, or ``+`` and the response on the next line."""
    offered = session.server.sasl_mechanisms if session.server.check_token is not None else ()
    if not args or args[0].upper() not in offered:
        session.reply("-ERR [AUTH] unsupported authentication mechanism")
        return
    mechanism = args[0].upper()
    if len(args) > 1:
        _respond(session, mechanism, args[1])
    else:
        session.reply("+ ")
        session.sasl_step = lambda line: _respond(session, mechanism, line.strip())


def _respond(session: Session, mechanism: str, encoded: str) -> None:
    server = session.server
    if encoded == "*":
        session.reply("-ERR [AUTH] authentication cancelled")
        return
    parsed = parse_response(mechanism, encoded)
    check = server.check_token
    accepted = parsed is not None and check is not None and bool(check(*parsed))
    if parsed is not None:
        login = SASLLogin(
            mechanism=mechanism,
            user=parsed[0],
            token=parsed[1],
            accepted=accepted,
            tls=session.tls,
            trusted=session.trusted,
        )
        with server._lock:
            server._sasl_logins.append(login)
    if parsed is None or server.faults.login_error is not None:
        session._login(False)  # the fault's error, or a malformed response
    elif accepted:
        session.user = parsed[0]
        session._login(True)
    else:
        # Dovecot's way: the error challenge first; -ERR only after the client's answer to it.
        session.reply(error_challenge(mechanism))
        session.sasl_step = lambda _line: session._login(False)
