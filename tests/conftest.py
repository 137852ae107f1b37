"""Shared fixtures for the mailtrack test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def corpora_dir() -> Path:
    """The third-party e-mail corpora (``$MAILTRACK_CORPORA``); skips when unset or absent."""
    location = os.environ.get("MAILTRACK_CORPORA")
    if not location:
        pytest.skip("MAILTRACK_CORPORA is not set (it names the folder of third-party e-mail corpora)")
    path = Path(location)
    if not path.is_dir():
        pytest.skip(f"MAILTRACK_CORPORA={location} is not a folder")
    return path
