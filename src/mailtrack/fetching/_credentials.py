"""How a session signs in, read before anything is sent: a password, or an OAuth 2.0 token
source and its first access token (POP3 and IMAP alike).

Both are read before connecting, so that a secret that cannot be read, or a token endpoint that
is down, ends the run without a connection to the mail server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..abc import TokenSource
from ..auth._tokens import AccessToken
from ..config import MailInterface, Security
from ._session import CLEAR_TEXT_WARNING, password_of

__all__ = ["CLEAR_TEXT_OAUTH_WARNING", "Credentials", "HostTokens", "clear_text_warning", "source_for"]

#: What the host application may pass as ``token_source``: a source, or a callable giving a token.
HostTokens = TokenSource | Callable[[], Any]

#: The connection check's warning for ``Security.NONE`` with OAuth 2.0.
CLEAR_TEXT_OAUTH_WARNING = (
    'the access token is sent unencrypted (security = "none"): anybody on the network path '
    'can read it and use it until it expires; use security = "ssl" or "starttls"'
)


def source_for(interface: MailInterface, token_source: HostTokens | None) -> TokenSource | None:
    """The token source: the host's, else the one the interface's ``oauth`` settings describe;
    ``None`` for a password login."""
    if token_source is not None:
        from ..auth import as_token_source

        return as_token_source(token_source)  # type: ignore[no-any-return]
    if interface.oauth is not None:
        from ..auth import token_source as from_settings

        return from_settings(interface)
    return None


def clear_text_warning(interface: MailInterface, token_source: HostTokens | None) -> str | None:
    """The check's warning for an unencrypted connection (``None`` when it is encrypted)."""
    if interface.security is not Security.NONE:
        return None
    if interface.oauth is not None or token_source is not None:
        return CLEAR_TEXT_OAUTH_WARNING
    return CLEAR_TEXT_WARNING


@attrs.frozen
class Credentials:
    """What the login sends: a password, or a token *source* and the *token* to try first."""

    password: str = attrs.field(repr=False)
    source: TokenSource | None = attrs.field(repr=False)
    token: AccessToken | None = attrs.field(repr=False)

    @classmethod
    def read(cls, interface: MailInterface, token_source: HostTokens | None = None) -> Credentials:
        """Read the password, or ask the token source for a token.

        Raises:
            ConfigError: the password (or an OAuth secret) cannot be read, or has a line break.
            TokenError: no access token could be had (in plain words, naming what to do).
        """
        source = source_for(interface, token_source)
        if source is None:
            return cls(password_of(interface), None, None)
        from ..auth._signin import ask_token  # with the SASL mechanisms: only for OAuth 2.0

        return cls("", source, ask_token(interface, source))
