"""POP3 ``AUTH XOAUTH2`` / ``AUTH OAUTHBEARER`` (RFC 5034 with RFC 7628), one refresh and retry.

A refused token comes back as a ``+`` error challenge, answered with the mechanism's empty
response (:func:`mailtrack.auth.sasl.error_acknowledgement`) before the server says ``-ERR``; the
token source is then asked once more (``refused=``) and the login retried once on the same
connection. A second refusal ends the session with a plain-words error. A ``-ERR`` with a
response code other than ``[AUTH]`` (``[SYS/TEMP]``: the server could not check the token) is
not a refused token: nothing is refreshed, the run ends with a "try later" error.
"""

from __future__ import annotations

import base64
import logging

from ..abc import TokenSource
from ..auth._scrub import scrub
from ..auth._signin import ask_token, refused_twice
from ..auth._tokens import AccessToken
from ..auth.sasl import choose_mechanism, error_acknowledgement, initial_response, read_challenge
from ..exceptions import AuthenticationError
from ._errors import reply_code, reply_text
from ._session import Session
from ._wire import Reply

__all__ = ["authenticate"]

logger = logging.getLogger("mailtrack.fetching.pop3")

#: RFC 5034 §4: an AUTH command with its initial response may not exceed 255 octets (CRLF included).
_AUTH_LINE_LIMIT = 255


def authenticate(
    session: Session, source: TokenSource, token: AccessToken, *, mechanism: str | None
) -> AccessToken:
    """Sign in with *token*; refresh once and retry once when refused. Returns the token that worked.

    Raises:
        AuthenticationError: the server refused the token twice, or offers no OAuth mechanism.
        TokenError: no new token could be had after the first refusal.
        ServerBusyError / FetchError: the server could not check the token, or broke the protocol.
    """
    if not session.capa_answered:
        session.capabilities, session.capa_answered = session.ask_capabilities()
    offered = session.capabilities.get("SASL")
    chosen = choose_mechanism(offered or (), mechanism)
    if mechanism is None and offered and chosen not in {name.upper() for name in offered}:
        raise AuthenticationError(
            f"{session.where}: the server offers no OAuth 2.0 sign-in (its SASL mechanisms are "
            f"{reply_text(' '.join(offered).encode())}; XOAUTH2 or OAUTHBEARER is needed)"
        )
    challenge = _attempt(session, chosen, token)
    if challenge is None:
        return token
    logger.info("%s: the access token was refused (%s); asking for a new one", session.where, challenge)
    token = ask_token(session.interface, source, refused=token)
    again = _attempt(session, chosen, token)
    if again is None:
        return token
    raise AuthenticationError(f"{session.where}: {refused_twice(session.interface, again)}")


def _attempt(session: Session, mechanism: str, token: AccessToken) -> str | None:
    """One AUTH exchange: ``None`` when signed in, else what the server said about the refusal."""
    wire = session.wire
    encoded = base64.b64encode(initial_response(mechanism, session.interface.login, token.value)).decode()
    secrets = (token.value, encoded)
    for secret in secrets:  # #14's redaction of everything the server sends back
        wire.secrets.add(secret)
    command = f"AUTH {mechanism} {encoded}"
    if len(command) + 2 <= _AUTH_LINE_LIMIT:
        wire.send(command)
    else:
        wire.send(f"AUTH {mechanism}")
        reply = wire.read_reply(continuation=True)
        if not reply.line.startswith(b"+ ") and reply.line != b"+":
            return _failed(session, _scrubbed(reply.line, secrets), "the server did not accept AUTH")
        wire.send(encoded)
    reply = wire.read_reply(continuation=True)
    if reply.ok:
        return None
    said = ""
    if reply.line.startswith(b"+"):
        said = read_challenge(reply.line[1:]).summary
        wire.send(base64.b64encode(error_acknowledgement(mechanism)).decode())
        reply = wire.read_reply()
        if reply.ok:  # a server that changed its mind
            return None
    return _failed(session, _scrubbed(reply.line, secrets), said)


def _scrubbed(line: bytes, secrets: tuple[str, ...]) -> bytes:
    """The reply, unless it repeats the token (then only its status and response code)."""
    code = reply_code(line)
    keep = b"-ERR " + (b"[" + code.encode() + b"] " if code else b"") if line.startswith(b"-ERR") else b""
    return scrub(line, secrets, keep=keep)


def _failed(session: Session, line: bytes, said: str) -> str:
    """Raise for a failure that is not a refused token; else return what to quote."""
    code = reply_code(line)
    if line.startswith(b"-ERR") and code not in (None, "AUTH"):
        session.expect_ok(Reply(line=line), "the sign-in (AUTH)")
    return said or reply_text(line)
