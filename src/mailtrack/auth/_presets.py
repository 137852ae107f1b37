"""Provider presets (Microsoft 365, Google) and the token source an interface's settings describe."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..config import MailInterface, OAuthFlow, OAuthSettings
from ..exceptions import ConfigError, InterfaceNotFoundError, StoreError
from ._grants import Endpoint
from ._http import check_endpoint
from ._running import running_store
from ._sources import ClientCredentialsSource, RefreshTokenSource, ServiceAccountSource
from ._tokens import FileTokenCache, TokenCache

if TYPE_CHECKING:
    from ..abc import RecordStore

__all__ = ["Endpoints", "endpoints", "scopes", "token_cache", "token_file", "token_source"]

_MICROSOFT = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/"
#: Delegated access to one user's mailbox over POP and IMAP, a refresh token, and who signed in.
MICROSOFT_USER_SCOPES = (
    "https://outlook.office.com/POP.AccessAsUser.All",
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "offline_access",
    "openid",
    "email",
)
#: App-only access (client credentials): whatever the app was granted in Exchange.
MICROSOFT_APP_SCOPES = ("https://outlook.office365.com/.default",)
#: Full mail access, which Gmail requires for POP and IMAP.
GOOGLE_SCOPES = ("https://mail.google.com/", "openid", "email")
GOOGLE_SERVICE_SCOPES = ("https://mail.google.com/",)


@attrs.frozen(kw_only=True)
class Endpoints:
    token: str
    device_authorization: str | None = None
    authorization: str | None = None


def endpoints(settings: OAuthSettings) -> Endpoints:
    """The endpoints: each explicit setting, else the provider's."""
    if settings.provider == "microsoft":
        base = _MICROSOFT.format(tenant=settings.tenant)
        preset = Endpoints(
            token=base + "token", device_authorization=base + "devicecode", authorization=base + "authorize"
        )
    elif settings.provider == "google":
        # Google's device flow does not allow mail scopes: sign-in is by the loopback redirect.
        preset = Endpoints(
            token="https://oauth2.googleapis.com/token",  # noqa: S106 - a URL
            authorization="https://accounts.google.com/o/oauth2/v2/auth",
        )
    else:
        preset = Endpoints(token=settings.token_url or "")
    result = Endpoints(
        token=settings.token_url or preset.token,
        device_authorization=settings.device_authorization_url or preset.device_authorization,
        authorization=settings.authorization_url or preset.authorization,
    )
    check_endpoint(result.token, "oauth.token_url")
    for url, name in (
        (result.device_authorization, "device_authorization_url"),
        (result.authorization, "authorization_url"),
    ):
        if url:
            check_endpoint(url, f"oauth.{name}")
    return result


def scopes(settings: OAuthSettings) -> tuple[str, ...]:
    """The scopes asked for: the setting, else the provider's for the flow."""
    if settings.scopes:
        return settings.scopes
    if settings.provider == "microsoft":
        return (
            MICROSOFT_APP_SCOPES if settings.flow is OAuthFlow.CLIENT_CREDENTIALS else MICROSOFT_USER_SCOPES
        )
    if settings.provider == "google":
        return GOOGLE_SERVICE_SCOPES if settings.flow is OAuthFlow.SERVICE_ACCOUNT else GOOGLE_SCOPES
    return ()


def token_file(interface: MailInterface) -> Path:
    """Where the interface's tokens are kept: ``oauth.token_file``, else in the user's state folder."""
    settings = _settings(interface)
    if settings.token_file:
        return Path(settings.token_file).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in interface.name)
    return Path(state) / "mailtrack" / f"oauth-{safe}.json"


def token_cache(interface: MailInterface, store: RecordStore | None = None) -> TokenCache:
    """Where the interface's tokens are kept.

    An interface saved in the store (*store*, or the one the :class:`~mailtrack.Importer` is
    running with) keeps them in the store's table when the store has one and the interface names
    no ``token_file``; otherwise a :class:`~mailtrack.auth.FileTokenCache` at :func:`token_file`.
    """
    settings = _settings(interface)
    store = store if store is not None else running_store()
    if store is not None and not settings.token_file:
        try:
            saved: MailInterface | None = store.get_interface(interface.name)
        except (InterfaceNotFoundError, StoreError):
            saved = None
        if saved is not None and saved.oauth == settings:
            cache = store.token_cache(interface.name)
            if cache is not None:
                return cache
    return FileTokenCache(token_file(interface))


def token_source(
    interface: MailInterface, *, cache: TokenCache | None = None
) -> RefreshTokenSource | ClientCredentialsSource | ServiceAccountSource:
    """The token source the interface's ``oauth`` settings describe.

    Raises:
        ConfigError: the interface has no ``oauth`` table, or a secret cannot be read.
    """
    settings = _settings(interface)
    cache = cache if cache is not None else token_cache(interface)
    wanted = scopes(settings)
    if settings.flow is OAuthFlow.SERVICE_ACCOUNT:
        assert settings.service_account_file is not None
        source = ServiceAccountSource.from_key_file(
            settings.service_account_file,
            subject=interface.login,
            scopes=wanted,
            cache=cache,
            ca_file=settings.ca_file,
            timeout=settings.timeout,
        )
        if settings.token_url:
            source = attrs.evolve(source, endpoint=attrs.evolve(source.endpoint, url=settings.token_url))
        check_endpoint(source.endpoint.url, "the service account key file's token_uri")
        return source
    endpoint = Endpoint(url=endpoints(settings).token, ca_file=settings.ca_file, timeout=settings.timeout)
    assert settings.client_id is not None
    secret = settings.resolve_client_secret(interface.name)
    if settings.flow is OAuthFlow.CLIENT_CREDENTIALS:
        if not secret:
            raise ConfigError(f"{interface.name}: oauth.client_secret is empty")
        return ClientCredentialsSource(
            endpoint,
            client_id=settings.client_id,
            client_secret=secret,
            scopes=wanted,
            cache=cache,
            account=f"the app {settings.client_id} (for {interface.login})",
        )
    return RefreshTokenSource(
        endpoint,
        client_id=settings.client_id,
        client_secret=secret,
        refresh_token=settings.resolve_refresh_token(interface.name),
        scopes=wanted,
        cache=cache,
        account=interface.login,
    )


def _settings(interface: MailInterface) -> OAuthSettings:
    if interface.oauth is None:
        raise ConfigError(f"{interface.name}: the interface has no oauth settings")
    return interface.oauth
