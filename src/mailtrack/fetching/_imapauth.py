"""IMAP ``AUTHENTICATE XOAUTH2`` / ``AUTHENTICATE OAUTHBEARER`` (RFC 3501 with RFC 7628), one
refresh and retry: the IMAP side of what :mod:`._pop3auth` does for POP3.

The mechanism is the one the server announces (``CAPABILITY AUTH=…``). The initial response goes
with the command when the server announces ``SASL-IR`` (RFC 4959), else after its ``+``
continuation request. A refused token comes back as a ``+`` error challenge (base64 JSON, RFC 7628
§3.2.2), answered with the empty response for XOAUTH2 and ``AQ==`` (``0x01``) for OAUTHBEARER
before the server says ``NO``; the token source is then asked once more and the login retried
once on the same connection (:func:`mailtrack.auth._signin.sign_in`, shared with POP3). A ``NO``
with a temporary response code (``[UNAVAILABLE]``: the server could not check the token now) is
not a refused token: nothing is refreshed, the run ends with a "retry next run" error and the
mailbox is untouched.

The token is never sent on a connection that is not encrypted and verified unless the interface
says ``security = "none"``: :meth:`IMAPSession.connect` has secured it (or failed closed) before.
"""

from __future__ import annotations

import base64

from ..abc import TokenSource
from ..auth._signin import sign_in
from ..auth._tokens import AccessToken
from ..auth.sasl import error_acknowledgement, initial_response, read_challenge
from ..exceptions import FetchError
from ._credentials import Credentials
from ._errors import reply_text
from ._imapsession import IMAPSession
from ._imapwire import Response

__all__ = ["authenticate", "log_in"]

#: Response codes of a ``NO`` that mean "this token (or login) is refused", RFC 5530.
_REFUSED = {None, "AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED"}


def log_in(session: IMAPSession, credentials: Credentials) -> AccessToken | None:
    """Log in with the password or the token; the OAuth token that worked (``None``: a password)."""
    if credentials.source is None:
        session.login(credentials.password)
        return None
    assert credentials.token is not None
    return authenticate(session, credentials.source, credentials.token)


def authenticate(session: IMAPSession, source: TokenSource, token: AccessToken) -> AccessToken:
    """Sign in with *token*; refresh once and retry once when refused. Returns the token that worked.

    Raises:
        AuthenticationError: the server refused the token twice, or offers no OAuth mechanism.
        TokenError: no new token could be had after the first refusal.
        ServerBusyError / FetchError: the server could not check the token now, or broke the protocol.
    """
    if not session.capabilities:
        session.ask_capabilities()
    sasl_ir = "SASL-IR" in session.capabilities
    token = sign_in(
        session.interface,
        source,
        token,
        lambda mechanism, candidate: _attempt(session, mechanism, candidate, sasl_ir=sasl_ir),
        offered=sorted(name[5:] for name in session.capabilities if name.startswith("AUTH=")),
        where=session.where,
    )
    if not session.capabilities:  # most servers name them in the login's OK
        session.ask_capabilities()
    return token


def _attempt(session: IMAPSession, mechanism: str, token: AccessToken, *, sasl_ir: bool) -> str | None:
    """One AUTHENTICATE exchange: ``None`` when signed in, else what the server said about the
    refusal (raises for a failure that is not a refused token)."""
    wire = session.wire
    encoded = base64.b64encode(initial_response(mechanism, session.interface.login, token.value)).decode()
    # #14's redaction of everything the server sends back: the token, and the whole response.
    wire.secrets.add(token.value)
    wire.secrets.add(encoded)
    what = f"the sign-in (AUTHENTICATE {mechanism})"
    session.capabilities = set()
    if sasl_ir:
        tag = session.send(f"AUTHENTICATE {mechanism} {encoded}")
    else:
        tag = session.send(f"AUTHENTICATE {mechanism}")
        response = session.step(tag, what)
        if response.tag != b"+":
            return _outcome(session, response, what, "")  # refused before the token was sent
        wire.send(encoded)
    response = session.step(tag, what)
    said = ""
    if response.tag == b"+":
        said = wire.secrets.text(read_challenge(response.text).summary)
        wire.send(base64.b64encode(error_acknowledgement(mechanism)).decode())
        response = session.step(tag, what)
        if response.tag == b"+":
            raise FetchError(
                f"{session.where}: the server asked for more after its error challenge to {what}; "
                f"the session was ended"
            )
    return _outcome(session, response, what, said)


def _outcome(session: IMAPSession, response: Response, what: str, said: str) -> str | None:
    """``None`` for an OK; what to quote for a refused token; raise for anything else."""
    if response.status == b"OK":
        session.note_code(response)
        return None
    code = response.code
    if response.status != b"NO" or (code[0] if code else None) not in _REFUSED:
        raise session.error(response, what, logging_in=True)
    return said or reply_text(session.wire.secrets.bytes(response.text))
