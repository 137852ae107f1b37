"""Asking a token endpoint for tokens: the body from oauthlib, the answer read by oauthlib.

Everything that touches oauthlib is here, imported on first use, so that ``import mailtrack``
works without the ``oauth`` extra.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import attrs

from .._redaction import Redactor
from ..exceptions import ConfigError, TokenError
from ..fetching._errors import reply_text
from ._http import post_form, sent_secrets
from ._tokens import TokenState

__all__ = ["Endpoint", "GrantRefused", "oauthlib", "request_token"]


def oauthlib() -> Any:
    """The ``oauthlib.oauth2`` module.

    Raises:
        ConfigError: it is not installed (a run then ends in plain words, not a traceback).
    """
    try:
        import oauthlib.oauth2
    except ImportError as exc:
        raise ConfigError(
            "OAuth 2.0 sign-in needs the 'oauth' extra, which is not installed: "
            "pip install 'mailtrack[oauth]'"
        ) from exc
    return oauthlib.oauth2


@attrs.frozen(kw_only=True)
class Endpoint:
    """A token endpoint and how to reach it."""

    url: str
    ca_file: str | None = None
    timeout: float = 30.0


class GrantRefused(TokenError):
    """The endpoint answered with an OAuth error (``invalid_grant``, ``invalid_client`` …)."""

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error


def request_token(endpoint: Endpoint, body: str, *, what: str, previous: TokenState | None) -> TokenState:
    """POST the grant *body*; the new state (a refresh token not returned is kept from *previous*).

    Raises:
        GrantRefused: the endpoint refused (the error code is in ``.error``).
        TokenError: the endpoint failed or could not be reached (``retry_later``).
    """
    oauth2 = oauthlib()
    status, answer = post_form(endpoint.url, body, ca_file=endpoint.ca_file, timeout=endpoint.timeout)
    try:
        token = oauth2.rfc6749.parameters.parse_token_response(json.dumps(answer), scope=None)
    except oauth2.OAuth2Error as exc:
        redactor = Redactor(sent_secrets(body), pieces=True)
        code = reply_text(redactor.text(str(exc.error or "error")).encode("utf-8"))
        description = reply_text(redactor.text(str(exc.description or "")).encode("utf-8"))
        said = f"{code}: {description}" if description else code
        if code in {"temporarily_unavailable", "server_error"}:
            raise TokenError(
                f"the token endpoint {endpoint.url} is not available ({said}); will retry next run",
                retry_later=True,
            ) from None
        raise GrantRefused(f"the token endpoint refused {what} ({said})", error=code) from None
    if status != 200:
        raise TokenError(f"the token endpoint answered HTTP {status} to {what}", retry_later=True)
    value = token.get("access_token")
    if not isinstance(value, str) or not value or any(ch in value for ch in "\x00\x01\r\n"):
        raise TokenError(f"the token endpoint returned no usable access token for {what}", retry_later=True)
    expires_in = token.get("expires_in")
    refresh = token.get("refresh_token")
    if not (isinstance(refresh, str) and refresh):
        refresh = previous.refresh_token if previous else None
    account = _account(token.get("id_token")) or (previous.account if previous else None)
    return TokenState(
        access_token=value,
        expires_at=time.time() + expires_in if isinstance(expires_in, int | float) else None,
        refresh_token=refresh,
        account=account,
        generation=previous.generation if previous else 0,
    )


def _account(id_token: object) -> str | None:
    """Who an ID token names (shown by ``check`` only; its signature does not matter for that)."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    for name in ("email", "preferred_username", "upn", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return reply_text(value.encode("utf-8"))
    return None
