"""The OAuth 2.0 settings the sign-in tests start from: a refresh token that the test
authorization server issued (as after ``mailtrack oauth login``), in a file, and the token cache
in the test's own folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailtrack import OAuthSettings
from mailtrack.testing import OAuthTestServer


def seeded_settings(
    oauth: OAuthTestServer, tmp_path: Path, *, user: str | None = None, **settings: Any
) -> OAuthSettings:
    """Settings for *oauth* whose refresh token (for *user*, default the server's ``sign_in_as``)
    is in ``tmp_path/refresh-token`` (written once) and whose cache is ``tmp_path/tokens.json``;
    keyword arguments override."""
    seed = tmp_path / "refresh-token"
    if not seed.exists():
        seed.write_text(oauth.refresh_token(user) + "\n")
    settings.setdefault("refresh_token_file", str(seed))
    settings.setdefault("token_file", str(tmp_path / "tokens.json"))
    settings_object: OAuthSettings = oauth.oauth_settings(**settings)
    return settings_object
