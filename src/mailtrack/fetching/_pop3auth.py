"""POP3 ``AUTH XOAUTH2`` / ``AUTH OAUTHBEARER`` (RFC 5034 with RFC 7628), one refresh and retry.

A refused token comes back as a ``+`` error challenge, answered with the mechanism's empty
response (:func:`mailtrack.auth.sasl.error_acknowledgement`) before the server says ``-ERR``; the
token source is then asked once more (``refused=``) and the login retried once on the same
connection (:func:`mailtrack.auth._signin.sign_in`, shared with IMAP). A second refusal ends the
session with a plain-words error. A ``-ERR`` with a response code other than ``[AUTH]``
(``[SYS/TEMP]``: the server could not check the token) is not a refused token: nothing is
refreshed, the run ends with a "try later" error.

The token goes into the wire's :class:`~mailtrack._redaction.Redactor` before it is sent, so a
server that repeats it (in any encoding) is quoted with it taken out.
"""

from __future__ import annotations

import base64

from ..abc import TokenSource
from ..auth._signin import sign_in
from ..auth._tokens import AccessToken
from ..auth.sasl import error_acknowledgement, initial_response, read_challenge
from ._errors import reply_code, reply_text
from ._session import Session
from ._wire import Reply

__all__ = ["authenticate"]

#: RFC 5034 §4: an AUTH command with its initial response may not exceed 255 octets (CRLF included).
_AUTH_LINE_LIMIT = 255


def authenticate(session: Session, source: TokenSource, token: AccessToken) -> AccessToken:
    """Sign in with *token*; refresh once and retry once when refused. Returns the token that worked.

    Raises:
        AuthenticationError: the server refused the token twice, or offers no OAuth mechanism.
        TokenError: no new token could be had after the first refusal.
        ServerBusyError / FetchError: the server could not check the token, or broke the protocol.
    """
    if not session.capa_answered:
        session.capabilities, session.capa_answered = session.ask_capabilities()
    return sign_in(
        session.interface,
        source,
        token,
        lambda mechanism, candidate: _attempt(session, mechanism, candidate),
        offered=session.capabilities.get("SASL"),
        where=session.where,
    )


def _attempt(session: Session, mechanism: str, token: AccessToken) -> str | None:
    """One AUTH exchange: ``None`` when signed in, else what the server said about the refusal."""
    wire = session.wire
    encoded = base64.b64encode(initial_response(mechanism, session.interface.login, token.value)).decode()
    # #14's redaction of everything the server sends back: the token, and the whole response.
    wire.secrets.add(token.value)
    wire.secrets.add(encoded)
    command = f"AUTH {mechanism} {encoded}"
    if len(command) + 2 <= _AUTH_LINE_LIMIT:
        wire.send(command)
    else:
        wire.send(f"AUTH {mechanism}")
        reply = wire.read_reply(continuation=True)
        if not reply.line.startswith(b"+ ") and reply.line != b"+":
            return _failed(session, reply.line, "the server did not accept AUTH")
        wire.send(encoded)
    reply = wire.read_reply(continuation=True)
    if reply.ok:
        return None
    said = ""
    if reply.line.startswith(b"+"):
        said = wire.secrets.text(read_challenge(reply.line[1:]).summary)
        wire.send(base64.b64encode(error_acknowledgement(mechanism)).decode())
        reply = wire.read_reply()
        if reply.ok:  # a server that changed its mind
            return None
    return _failed(session, reply.line, said)


def _failed(session: Session, line: bytes, said: str) -> str:
    """Raise for a failure that is not a refused token; else return what to quote."""
    line = session.wire.secrets.bytes(line)  # a continuation line is not redacted by the wire
    code = reply_code(line)
    if line.startswith(b"-ERR") and code not in (None, "AUTH"):
        session.expect_ok(Reply(line=line), "the sign-in (AUTH)")
    return said or reply_text(line)
