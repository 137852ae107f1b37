"""store_from_url: memory:// gives a MemoryRecordStore, SQL URLs the SQL store, others a ConfigError."""

from __future__ import annotations

import re
import sys

import pytest

from mailtrack import ConfigError, MemoryRecordStore, store_from_url


def test_memory_url_gives_a_new_empty_memory_store() -> None:
    first = store_from_url("memory://")
    second = store_from_url("memory://")
    assert isinstance(first, MemoryRecordStore)
    assert first is not second
    assert first.list_records() == []


def test_memory_url_with_a_path_is_refused() -> None:
    with pytest.raises(ConfigError, match="memory:// takes nothing"):
        store_from_url("memory://somewhere")


@pytest.mark.parametrize("url", ["redis://localhost/0", "mongodb+srv://host/db", "file:///tmp/x"])
def test_unknown_scheme_is_a_config_error_naming_it(url: str) -> None:
    scheme = url.partition("://")[0]
    with pytest.raises(ConfigError, match=re.escape(f"unknown URL scheme {scheme!r}")) as info:
        store_from_url(url)
    assert str(info.value).startswith("store: ")
    assert "memory://" in str(info.value)


@pytest.mark.parametrize("url", ["", "mailtrack.db", "sqlite:/x.db"])
def test_text_that_is_not_a_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="not a store URL"):
        store_from_url(url)


def test_error_never_repeats_a_password_in_the_url() -> None:
    with pytest.raises(ConfigError) as info:
        store_from_url("oracle://scott:tiger-secret@db.example.com/orcl")
    assert "tiger-secret" not in str(info.value)


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql+psycopg://u:pw@h/db", "mariadb://h/db"])
def test_sql_url_without_sqlalchemy_says_what_to_install(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes "import sqlalchemy" fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    monkeypatch.delitem(sys.modules, "mailtrack.stores.sql", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'mailtrack\[sql\]'") as info:
        store_from_url(url)
    assert isinstance(info.value.__cause__, ImportError)
    assert "pw@" not in str(info.value)


def test_sqlite_url_gives_the_sql_store(tmp_path: pytest.TempPathFactory) -> None:
    pytest.importorskip("sqlalchemy", reason="SQLAlchemy (mailtrack[sql]) is not installed")
    try:
        from mailtrack.stores.sql import SQLRecordStore
    except ImportError as exc:  # pragma: no cover - while the SQL store is not there yet
        pytest.skip(f"mailtrack.stores.sql is not importable yet: {exc}")
    store = store_from_url(f"sqlite:///{tmp_path}/mailtrack.db")
    try:
        assert isinstance(store, SQLRecordStore)
        assert store.list_records() == []
    finally:
        store.close()


def test_stores_module_names_the_sql_store_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import mailtrack.stores

    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    monkeypatch.delitem(sys.modules, "mailtrack.stores.sql", raising=False)
    with pytest.raises(ConfigError, match="SQLAlchemy"):
        mailtrack.stores.SQLRecordStore  # noqa: B018 - the attribute access is the test
    with pytest.raises(AttributeError):
        mailtrack.stores.NoSuchStore  # noqa: B018
