"""OAuth 2.0 sign-in settings of an interface (the ``oauth`` table) and reading a secret given
inline, by environment variable or by file.
"""

from __future__ import annotations

import enum
import os
from typing import Any

import attrs

from ..exceptions import ConfigError
from ._validators import as_str_tuple, fail, instance_of, non_empty, positive

__all__ = [
    "OAuthFlow",
    "OAuthSettings",
    "read_secret",
]


class OAuthFlow(str, enum.Enum):
    """How an OAuth 2.0 interface gets its access tokens."""

    #: A user signed in once (``mailtrack oauth login``); a refresh token renews the access token.
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type
    #: App-only access with the app's own secret (Microsoft 365), no user at the keyboard.
    CLIENT_CREDENTIALS = "client_credentials"
    #: A Google service account with domain-wide delegation (a signed JWT, RFC 7523).
    SERVICE_ACCOUNT = "service_account"


def _as_flow(value: object) -> OAuthFlow:
    try:
        return OAuthFlow(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in OAuthFlow)
        raise ConfigError(f"oauth.flow: must be one of {allowed}, not {value!r}") from None


def _tenant(_instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    # It becomes part of the token endpoint's URL path.
    if not all(ch.isascii() and (ch.isalnum() or ch in ".-_") for ch in value):
        raise fail(attribute, f"must be a domain or a tenant ID, not {value!r}")


def read_secret(owner: str, field: str, value: str, env: str | None, path: str | None) -> str:
    """A secret given inline, by environment variable or by file (first line), as passwords are."""
    if value:
        return value
    if env:
        found = os.environ.get(env)
        if found is None:
            raise ConfigError(f"{owner}: environment variable {env} ({field}_env) is not set")
        return found
    if path:
        try:
            with open(path, encoding="utf-8") as stream:
                return stream.readline().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{owner}: cannot read {field}_file {path!r}: {exc.strerror}") from None
    return ""


@attrs.frozen(kw_only=True)
class OAuthSettings:
    """OAuth 2.0 sign-in for an interface (the ``oauth`` table): XOAUTH2 / OAUTHBEARER.

    Secrets (the client secret, a refresh token) come from ``*_env`` or ``*_file`` settings, as
    passwords do; an inline :attr:`client_secret` is kept out of ``repr`` and dumps. Needs the
    ``oauth`` extra. See :mod:`mailtrack.auth`.
    """

    #: ``"microsoft"`` or ``"google"`` (the endpoints and scopes follow), or ``None`` with :attr:`token_url`.
    provider: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(("microsoft", "google")))
    )
    flow: OAuthFlow = attrs.field(default=OAuthFlow.REFRESH_TOKEN, converter=_as_flow)
    #: Microsoft Entra tenant (a domain or ID); ``"organizations"`` suits a user sign-in.
    tenant: str = attrs.field(default="organizations", validator=[non_empty, _tenant])
    #: The app's client ID (from the app registration).
    client_id: str | None = attrs.field(default=None)
    client_secret: str = attrs.field(default="", repr=False, validator=instance_of(str))
    client_secret_env: str | None = attrs.field(default=None)
    client_secret_file: str | None = attrs.field(default=None)
    #: A refresh token to start from, when there is none in :attr:`token_file` yet.
    refresh_token_env: str | None = attrs.field(default=None)
    refresh_token_file: str | None = attrs.field(default=None)
    #: Google service-account key file (JSON), for ``flow = "service_account"``.
    service_account_file: str | None = attrs.field(default=None)
    #: Scopes; empty means the provider's (mail over POP and IMAP).
    scopes: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)
    #: Endpoints; each defaults to the provider's.
    token_url: str | None = attrs.field(default=None)
    device_authorization_url: str | None = attrs.field(default=None)
    authorization_url: str | None = attrs.field(default=None)
    #: Where the access token and the newest refresh token are kept (mode 0600). Default:
    #: ``$XDG_STATE_HOME/mailtrack/oauth-NAME.json`` (``~/.local/state/…``).
    token_file: str | None = attrs.field(default=None)
    #: CA certificates to trust for the token endpoint instead of the system's.
    ca_file: str | None = attrs.field(default=None)
    #: Seconds to wait for the token endpoint.
    timeout: float = attrs.field(default=30.0, validator=positive)
    #: ``"XOAUTH2"`` or ``"OAUTHBEARER"``; ``None``: what the server announces.
    mechanism: str | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.in_(("XOAUTH2", "OAUTHBEARER"))),
    )

    def __attrs_post_init__(self) -> None:
        if self.provider is None and not self.token_url:
            raise ConfigError("oauth.token_url: required when no provider is named")
        if self.flow is OAuthFlow.SERVICE_ACCOUNT:
            if not self.service_account_file:
                raise ConfigError("oauth.service_account_file: required for flow 'service_account'")
        elif not self.client_id:
            raise ConfigError("oauth.client_id: required")
        if self.flow is OAuthFlow.CLIENT_CREDENTIALS and not (
            self.client_secret or self.client_secret_env or self.client_secret_file
        ):
            raise ConfigError(
                "oauth.client_secret_env: flow 'client_credentials' needs the app's secret "
                "(client_secret_env or client_secret_file)"
            )

    def resolve_client_secret(self, owner: str) -> str | None:
        """The client secret, or ``None`` for a public client (ConfigError names the setting)."""
        value = read_secret(
            owner, "oauth.client_secret", self.client_secret, self.client_secret_env, self.client_secret_file
        )
        return value or None

    def resolve_refresh_token(self, owner: str) -> str | None:
        """The configured first refresh token, or ``None``."""
        value = read_secret(owner, "oauth.refresh_token", "", self.refresh_token_env, self.refresh_token_file)
        return value or None
