"""An OAuth 2.0 authorization server on 127.0.0.1 per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailtrack.testing import OAuthTestServer


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(sign_in_as="support@example.com") as server:
        yield server
