"""Token sources: where the access token for XOAUTH2 / OAUTHBEARER comes from.

Each source answers :meth:`~mailtrack.abc.TokenSource.access_token`: the cached token while it
has more than :data:`EXPIRY_MARGIN` seconds left, else a new one from the token endpoint. With
``refused=`` (the mail server just refused that token) the source never hands the same token
back. Every new state goes into the cache by compare-and-swap; a source that loses the race takes
the winner's state, so a refresh token rotated by one worker is never overwritten by another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ..exceptions import ConfigError, TokenError
from ._grants import Endpoint, GrantRefused, oauthlib, request_token
from ._tokens import AccessToken, MemoryTokenCache, TokenCache, TokenState

__all__ = [
    "EXPIRY_MARGIN",
    "CallableTokenSource",
    "ClientCredentialsSource",
    "RefreshTokenSource",
    "ServiceAccountSource",
]

#: Seconds before its expiry at which a cached access token is no longer used.
EXPIRY_MARGIN = 120.0


def _scopes(value: Sequence[str] | str) -> tuple[str, ...]:
    return tuple(value.split()) if isinstance(value, str) else tuple(value)


@attrs.define
class _CachingSource:
    """What every grant shares: the cache, compare-and-swap, one retry after a lost race."""

    endpoint: Endpoint
    cache: TokenCache = attrs.field(factory=MemoryTokenCache, kw_only=True)
    #: The account the tokens are for (shown by ``check`` when the endpoint does not say).
    account: str | None = attrs.field(default=None, kw_only=True)

    def access_token(self, *, refused: AccessToken | None = None) -> AccessToken:
        """A token to send now; never *refused* again.

        Raises:
            TokenError: the endpoint refused the grant (``retry_later`` False: sign in again)
                or could not be reached (``retry_later`` True).
        """
        state = self.cache.load()
        if state is not None and _fresh(state, refused):
            return self._token(state)
        with self.cache.refreshing():
            for _attempt in range(3):
                # Another worker may have refreshed while this one waited for the lock.
                state = self.cache.load()
                if state is not None and _fresh(state, refused):
                    return self._token(state)
                try:
                    new = self._grant(state)
                except GrantRefused:
                    # Another worker may have used (and rotated) the same refresh token a moment ago.
                    again = self.cache.load()
                    if (
                        again is not None
                        and _generation(again) != _generation(state)
                        and _fresh(again, refused)
                    ):
                        return self._token(again)
                    raise
                stored = self.cache.swap(state, new)
                if stored is not None:
                    return self._token(stored)
        raise TokenError("the token cache kept changing while a new token was fetched; will retry next run")

    def _token(self, state: TokenState) -> AccessToken:
        token = state.to_access_token()
        return token if token.account else attrs.evolve(token, account=self.account)

    def _grant(self, state: TokenState | None) -> TokenState:
        raise NotImplementedError


def _fresh(state: TokenState, refused: AccessToken | None) -> bool:
    if refused is not None and state.access_token == refused.value:
        return False
    return state.usable(margin=EXPIRY_MARGIN)


def _generation(state: TokenState | None) -> int:
    return -1 if state is None else state.generation


@attrs.define
class RefreshTokenSource(_CachingSource):
    """Access tokens from a refresh token (RFC 6749 §6), for a user who signed in once.

    The refresh token is the newest one in the cache (a rotated one is saved there), else
    *refresh_token*. ``mailtrack oauth login`` puts the first one into the cache.

    Args:
        endpoint: the token endpoint.
        client_id: the app's client ID.
        client_secret: the app's secret (``None`` for a public client, as an installed app is).
        refresh_token: the refresh token to start from when the cache has none.
        scopes: the scopes asked for.
        cache: where the state lives between runs.
    """

    client_id: str = attrs.field(kw_only=True)
    client_secret: str | None = attrs.field(default=None, kw_only=True, repr=False)
    refresh_token: str | None = attrs.field(default=None, kw_only=True, repr=False)
    scopes: tuple[str, ...] = attrs.field(default=(), kw_only=True, converter=_scopes)

    def _grant(self, state: TokenState | None) -> TokenState:
        refresh = (state.refresh_token if state else None) or self.refresh_token
        if not refresh:
            raise GrantRefused(
                "there is no refresh token yet: sign in once with `mailtrack oauth login`",
                error="no_refresh_token",
            )
        client = oauthlib().Client(self.client_id)
        body = client.prepare_refresh_body(
            refresh_token=refresh,
            scope=list(self.scopes) or None,
            client_id=self.client_id,
            client_secret=self.client_secret,
        )
        return request_token(self.endpoint, body, what="the refresh token", previous=state)


@attrs.define
class ClientCredentialsSource(_CachingSource):
    """App-only access tokens (RFC 6749 §4.4): no user, no refresh token.

    Microsoft 365's POP and IMAP accept them for mailboxes the app was given access to
    (``Add-MailboxPermission``); the scope is ``https://outlook.office365.com/.default``.
    """

    client_id: str = attrs.field(kw_only=True)
    client_secret: str = attrs.field(kw_only=True, repr=False)
    scopes: tuple[str, ...] = attrs.field(default=(), kw_only=True, converter=_scopes)

    def _grant(self, state: TokenState | None) -> TokenState:
        client = oauthlib().BackendApplicationClient(self.client_id)
        body = client.prepare_request_body(
            scope=list(self.scopes) or None,
            include_client_id=True,
            client_secret=self.client_secret,
        )
        return request_token(self.endpoint, body, what="the client credentials", previous=state)


@attrs.define
class ServiceAccountSource(_CachingSource):
    """Access tokens for a Google service account with domain-wide delegation (RFC 7523).

    A JWT signed with the account's private key (RS256) asks for a token on behalf of *subject*
    (the mailbox's address). :meth:`from_key_file` reads Google's JSON key file.
    """

    issuer: str = attrs.field(kw_only=True)
    private_key: str = attrs.field(kw_only=True, repr=False)
    subject: str = attrs.field(kw_only=True)
    scopes: tuple[str, ...] = attrs.field(default=(), kw_only=True, converter=_scopes)
    key_id: str | None = attrs.field(default=None, kw_only=True)

    @classmethod
    def from_key_file(
        cls,
        path: str,
        *,
        subject: str,
        scopes: Sequence[str] | str,
        cache: TokenCache | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ) -> ServiceAccountSource:
        """A source from a Google service-account key file (``"type": "service_account"``)."""
        import json

        try:
            with open(path, encoding="utf-8") as stream:
                key = json.load(stream)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the service account key file {path!r}: {exc}") from None
        missing = [name for name in ("client_email", "private_key", "token_uri") if not key.get(name)]
        if not isinstance(key, dict) or missing:
            raise ConfigError(f"the service account key file {path!r} lacks {', '.join(missing)}")
        return cls(
            Endpoint(url=key["token_uri"], ca_file=ca_file, timeout=timeout),
            issuer=key["client_email"],
            private_key=key["private_key"],
            key_id=key.get("private_key_id"),
            subject=subject,
            scopes=scopes,
            cache=cache or MemoryTokenCache(),
            account=subject,
        )

    def _grant(self, state: TokenState | None) -> TokenState:
        client = oauthlib().ServiceApplicationClient(self.issuer)
        try:
            body = client.prepare_request_body(
                private_key=self.private_key,
                issuer=self.issuer,
                subject=self.subject,
                audience=self.endpoint.url,
                scope=" ".join(self.scopes) or None,
                extra_claims=None,
            )
        except ImportError as exc:
            raise ConfigError(
                "the service account's signed assertion needs PyJWT (the 'oauth' extra): "
                "pip install 'mailtrack[oauth]'"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"the service account's private key cannot sign: {exc}") from None
        return request_token(
            self.endpoint, body, what="the service account's signed assertion", previous=state
        )


@attrs.define
class CallableTokenSource:
    """Tokens from the host application's own callable (it may already hold them).

    *get* is called with no arguments before each login and once more after a refused token;
    it returns the token as a string or an :class:`AccessToken`.
    """

    get: Callable[[], str | AccessToken]

    def access_token(self, *, refused: AccessToken | None = None) -> AccessToken:
        token = self.get()
        result = token if isinstance(token, AccessToken) else AccessToken(value=token)
        if refused is not None and result.value == refused.value:
            raise TokenError("the host application's token source returned the token the server just refused")
        return result


def as_token_source(value: Any) -> Any:
    """A token source from a source or a plain callable (wrapped in :class:`CallableTokenSource`)."""
    if hasattr(value, "access_token"):
        return value
    if callable(value):
        return CallableTokenSource(value)
    raise TypeError(f"expected a token source or a callable, not {type(value).__name__}")
