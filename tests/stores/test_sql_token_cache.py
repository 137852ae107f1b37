"""The SQL store's OAuth 2.0 token cache (``mailtrack_oauth_tokens``) on SQLite, PostgreSQL and
MariaDB: compare-and-swap, the refresh lease shared by workers on separate connections, and
interfaces saved in the store keeping a rotated refresh token there."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from _sql_databases import empty_tables
from mailtrack import Importer
from mailtrack.auth import AccessToken, Endpoint, RefreshTokenSource, TokenState
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import OAuthTestServer, POP3TestServer, build_message

BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.integration),
    pytest.param("mariadb", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailtrack.db'}"
        return
    engine = request.getfixturevalue(f"{request.param}_engine")
    empty_tables(engine)
    yield engine.url.render_as_string(hide_password=False)
    empty_tables(engine)


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(sign_in_as="support@example.com") as server:
        yield server


def test_compare_and_swap_in_the_table(url: str) -> None:
    with SQLRecordStore(url) as store:
        cache = store.token_cache("support")
        assert cache.load() is None
        first = cache.swap(None, TokenState(access_token="a1", refresh_token="r1"))
        assert first is not None
        assert cache.load() == first
        assert cache.swap(None, TokenState(access_token="late")) is None
        second = cache.swap(first, TokenState(access_token="a2", refresh_token="r2"))
        assert second is not None
        assert cache.swap(first, TokenState(access_token="stale", refresh_token="old-rotation")) is None
        with SQLRecordStore(url) as other:  # another worker, another connection pool
            assert other.token_cache("support").load() == second
            assert other.token_cache("sales").load() is None


def test_workers_on_separate_stores_refresh_once_and_keep_the_rotation(
    url: str, oauth: OAuthTestServer
) -> None:
    oauth.rotate = True
    oauth.delay = 0.3
    seed = oauth.refresh_token()
    results: list[AccessToken | BaseException] = []
    barrier = threading.Barrier(3)
    stores = [SQLRecordStore(url) for _ in range(3)]

    def worker(store: SQLRecordStore) -> None:
        source = RefreshTokenSource(
            Endpoint(url=oauth.token_url, ca_file=oauth.ca_file),
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            refresh_token=seed,
            cache=store.token_cache("support"),
        )
        barrier.wait()
        try:
            results.append(source.access_token())
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker, args=(store,)) for store in stores]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for store in stores:
            store.close()
    assert all(isinstance(result, AccessToken) for result in results), results
    assert len({result.value for result in results if isinstance(result, AccessToken)}) == 1
    assert [request.form.get("grant_type") for request in oauth.requests] == ["refresh_token"]
    with SQLRecordStore(url) as store:
        state = store.token_cache("support").load()
        assert state is not None
        assert state.refresh_token in oauth.live_refresh_tokens


def test_an_interface_saved_in_the_store_keeps_its_tokens_there(
    url: str, oauth: OAuthTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    oauth.rotate = True
    seed = tmp_path / "seed"
    seed.write_text(oauth.refresh_token())
    with (
        POP3TestServer(
            [build_message()], user="support@example.com", tls="implicit", check_token=oauth.check_token
        ) as pop,
        SQLRecordStore(url) as store,
    ):
        interface = pop.interface(oauth=oauth.oauth_settings(refresh_token_file=str(seed)))
        store.save_interface(interface)
        (report,) = Importer(store=store).run_all()
        assert (report.error, report.imported) == (None, 1)
        state = store.token_cache(interface.name).load()
        assert state is not None
        assert state.refresh_token in oauth.live_refresh_tokens
        assert not (tmp_path / "state").exists()  # no token file: the store holds them
        # Secrets stay out of what the store hands out.
        dumped = json.dumps([str(store.last_run(interface.name))])
        assert state.refresh_token not in dumped
        assert oauth.client_secret not in dumped
