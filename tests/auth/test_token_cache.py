"""Token caches: compare-and-swap, a 0600 file replaced atomically, nothing secret in repr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailtrack import ConfigError
from mailtrack.auth import FileTokenCache, MemoryTokenCache, TokenCache, TokenState

SECRET_RT = "rt-very-secret-refresh-token"


@pytest.fixture(params=["memory", "file"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> TokenCache:
    if request.param == "memory":
        return MemoryTokenCache()
    return FileTokenCache(tmp_path / "state" / "tokens.json")


def test_an_empty_cache_holds_nothing(cache: TokenCache) -> None:
    assert cache.load() is None


def test_a_swap_from_the_state_loaded_stores_the_next_generation(cache: TokenCache) -> None:
    first = cache.swap(None, TokenState(access_token="a1", refresh_token="r1"))
    assert first is not None
    second = cache.swap(first, TokenState(access_token="a2", refresh_token="r2"))
    assert second is not None
    assert second.generation == first.generation + 1
    assert cache.load() == second


def test_a_swap_from_a_stale_state_writes_nothing(cache: TokenCache) -> None:
    first = cache.swap(None, TokenState(access_token="a1", refresh_token="r1"))
    assert first is not None
    winner = cache.swap(first, TokenState(access_token="a2", refresh_token="rotated-by-worker-1"))
    # Worker 2 loaded `first` too, refreshed, and now tries to store an older rotation.
    assert cache.swap(first, TokenState(access_token="a3", refresh_token="rotated-by-worker-2")) is None
    assert cache.swap(None, TokenState(access_token="a4")) is None
    assert cache.load() == winner


def test_the_state_never_shows_its_secrets() -> None:
    state = TokenState(access_token="at-very-secret", refresh_token=SECRET_RT)
    assert "at-very-secret" not in repr(state)
    assert SECRET_RT not in repr(state)


def test_the_file_is_private_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "new-folder" / "tokens.json"
    cache = FileTokenCache(path)
    stored = cache.swap(None, TokenState(access_token="a1", refresh_token=SECRET_RT, expires_at=1.5))
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert cache.swap(stored, TokenState(access_token="a2", refresh_token="r2")) is not None
    assert path.stat().st_mode & 0o777 == 0o600
    leftovers = {entry.name for entry in path.parent.iterdir()} - {"tokens.json", "tokens.json.lock"}
    assert leftovers == set()
    assert FileTokenCache(path).load() == cache.load()


def test_an_existing_file_keeps_mode_0600_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        cache = FileTokenCache(tmp_path / "tokens.json")
        cache.swap(None, TokenState(refresh_token=SECRET_RT))
    finally:
        os.umask(old)
    assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600


def test_a_file_that_is_not_a_token_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("this is not json")
    with pytest.raises(ConfigError, match=r"not a mailtrack token file.*mailtrack oauth login"):
        FileTokenCache(path).load()
