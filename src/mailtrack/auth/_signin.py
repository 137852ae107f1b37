"""What every protocol's OAuth 2.0 sign-in shares (POP3 and IMAP): the mechanism, asking the
token source, one refresh and one retry after a refused token, and the plain-words errors of a
sign-in that does not work.

The protocol modules speak the SASL exchange (:mod:`mailtrack.auth.sasl` gives them the bytes)
in an *attempt* function; :func:`sign_in` decides when to try again, and the errors say, for the
interface at hand, what the user has to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from ..abc import TokenSource
from ..config import MailInterface, OAuthFlow
from ..exceptions import AuthenticationError, TokenError
from ..fetching._errors import reply_text
from ._tokens import AccessToken
from .sasl import choose_mechanism

__all__ = ["ask_token", "asks_to_sign_in_again", "mechanism_for", "refused_twice", "sign_in", "sign_in_again"]

logger = logging.getLogger("mailtrack.auth")


def sign_in_again(name: str) -> str:
    """What a user whose refresh token stopped working has to do, in the words every error uses."""
    return f"sign in again with `mailtrack oauth login {name}`"


def asks_to_sign_in_again(interface: MailInterface, error: str | None) -> bool:
    """Whether *error* (a run's or a check's) says that *interface*'s sign-in must be done again."""
    return interface.oauth is not None and error is not None and sign_in_again(interface.name) in error


def mechanism_for(offered: Collection[str] | None, wanted: str | None, *, where: str) -> str:
    """The SASL mechanism to use, from what the server announced (``None``: it did not say).

    Raises:
        AuthenticationError: the server announced mechanisms, none of them OAuth 2.0 (and the
            interface does not name one).
    """
    chosen = choose_mechanism(offered or (), wanted)
    if wanted is None and offered and chosen not in {name.upper() for name in offered}:
        raise AuthenticationError(
            f"{where}: the server offers no OAuth 2.0 sign-in (its SASL mechanisms are "
            f"{reply_text(' '.join(offered).encode())}; XOAUTH2 or OAUTHBEARER is needed)"
        )
    return chosen


def sign_in(
    interface: MailInterface,
    source: TokenSource,
    token: AccessToken,
    attempt: Callable[[str, AccessToken], str | None],
    *,
    offered: Collection[str] | None,
    where: str,
) -> AccessToken:
    """Sign in with *token*; when refused, ask *source* once more (``refused=``) and retry once.

    The mechanism is chosen by :func:`mechanism_for` from what the server *offered* and what the
    interface's ``oauth.mechanism`` names. *attempt(mechanism, token)* runs one SASL exchange on
    the connection: ``None`` when signed in, else what the server said about the refusal (it
    raises for anything that is not a refused token). Returns the token that worked.

    Raises:
        AuthenticationError: the server refused the token twice, or offers no OAuth mechanism.
        TokenError: no new token could be had after the first refusal.
    """
    wanted = interface.oauth.mechanism if interface.oauth is not None else None
    mechanism = mechanism_for(offered, wanted, where=where)
    said = attempt(mechanism, token)
    if said is None:
        return token
    logger.info("%s: the access token was refused (%s); asking for a new one", where, said)
    token = ask_token(interface, source, refused=token)
    again = attempt(mechanism, token)
    if again is None:
        return token
    raise AuthenticationError(f"{where}: {refused_twice(interface, again)}")


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
            f": {sign_in_again(interface.name)}"
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
    return f"{head}: {sign_in_again(interface.name)}"
