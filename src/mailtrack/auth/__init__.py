"""OAuth 2.0 sign-in for mail servers: token sources, token caches and the SASL mechanisms.

The fetchers ask a :class:`~mailtrack.abc.TokenSource` for an access token just before they
authenticate (``AUTH XOAUTH2`` / ``AUTH OAUTHBEARER``), and once more, with ``refused=``, after
the server refused one. The sources here get tokens from a token endpoint:

* :class:`RefreshTokenSource`: a user signed in once (``mailtrack oauth login``), RFC 6749 §6;
* :class:`ClientCredentialsSource`: app-only access (Microsoft 365), RFC 6749 §4.4;
* :class:`ServiceAccountSource`: a Google service account with domain-wide delegation, RFC 7523;
* :class:`CallableTokenSource`: the host application's own callable.

:func:`token_source` builds the one an interface's ``oauth`` settings describe, with the
``microsoft`` / ``google`` presets. The grants are prepared and read by oauthlib (and the JWT
signed by PyJWT): install the ``oauth`` extra. Importing this module needs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._grants import Endpoint
    from ._presets import endpoints, scopes, token_cache, token_file, token_source
    from ._sources import (
        EXPIRY_MARGIN,
        CallableTokenSource,
        ClientCredentialsSource,
        RefreshTokenSource,
        ServiceAccountSource,
        as_token_source,
    )
    from ._tokens import AccessToken, FileTokenCache, MemoryTokenCache, TokenCache, TokenState

__all__ = [
    "EXPIRY_MARGIN",
    "AccessToken",
    "CallableTokenSource",
    "ClientCredentialsSource",
    "Endpoint",
    "FileTokenCache",
    "MemoryTokenCache",
    "RefreshTokenSource",
    "ServiceAccountSource",
    "TokenCache",
    "TokenState",
    "as_token_source",
    "endpoints",
    "scopes",
    "token_cache",
    "token_file",
    "token_source",
]

# Each name is imported on first use: a fetcher that signs in with a password needs none of the
# grants (nor http.client), and the store's token table only TokenState.
if not TYPE_CHECKING:  # type checkers see the imports above instead
    __getattr__, __dir__ = lazy_exports(
        globals(),
        {
            "Endpoint": "._grants",
            "endpoints": "._presets",
            "scopes": "._presets",
            "token_cache": "._presets",
            "token_file": "._presets",
            "token_source": "._presets",
            "EXPIRY_MARGIN": "._sources",
            "CallableTokenSource": "._sources",
            "ClientCredentialsSource": "._sources",
            "RefreshTokenSource": "._sources",
            "ServiceAccountSource": "._sources",
            "as_token_source": "._sources",
            "AccessToken": "._tokens",
            "FileTokenCache": "._tokens",
            "MemoryTokenCache": "._tokens",
            "TokenCache": "._tokens",
            "TokenState": "._tokens",
        },
    )
