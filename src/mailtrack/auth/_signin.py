"""What every protocol's OAuth 2.0 sign-in shares (POP3 now, IMAP next): asking the token source,
and the plain-words errors of a sign-in that does not work.

The protocol modules speak the SASL exchange (:mod:`mailtrack.auth.sasl` gives them the bytes);
these two functions say, for the interface at hand, what the user has to do.
"""

from __future__ import annotations

from ..abc import TokenSource
from ..config import MailInterface, OAuthFlow
from ..exceptions import TokenError
from ..fetching._errors import reply_text
from ._tokens import AccessToken

__all__ = ["ask_token", "refused_twice"]


def ask_token(
    interface: MailInterface, source: TokenSource, *, refused: AccessToken | None = None
) -> AccessToken:
    """The source's token; a refused grant's error says what to do, for this interface."""
    try:
        return source.access_token(refused=refused)
    except TokenError as exc:
        if exc.retry_later:
            raise TokenError(f"{interface.name}: {exc}", retry_later=True) from exc
        oauth = interface.oauth
        hint = (
            f": sign in again with `mailtrack oauth login {interface.name}`"
            if oauth is not None and oauth.flow is OAuthFlow.REFRESH_TOKEN
            else ""
        )
        raise TokenError(f"{interface.name}: {exc}{hint}; nothing was fetched") from exc


def refused_twice(interface: MailInterface, said: str) -> str:
    """The error for a token the mail server refused twice: what it said, and what to do."""
    login = reply_text(interface.login.encode())
    head = f"the token for {login} was refused (the server said: {said})"
    oauth = interface.oauth
    if oauth is None:
        return f"{head}, also after a new one was asked for: the application's token source gave no valid one"
    if oauth.flow is OAuthFlow.CLIENT_CREDENTIALS:
        return (
            f"{head}, also after a new one was fetched: check that the app has access to this mailbox "
            f"(Exchange: Add-MailboxPermission for the app's service principal)"
        )
    if oauth.flow is OAuthFlow.SERVICE_ACCOUNT:
        return (
            f"{head}, also after a new one was fetched: check the service account's domain-wide "
            f"delegation for the scope https://mail.google.com/"
        )
    return f"{head}: sign in again with `mailtrack oauth login {interface.name}`"
