"""Record stores: where mailtrack keeps records, the import ledger, the quarantine and run history.

* :class:`MemoryRecordStore` — dicts in memory, for tests and short-lived tools.
* ``SQLRecordStore`` — SQLite, PostgreSQL or MariaDB/MySQL through SQLAlchemy Core
  (``pip install 'mailtrack[sql]'``).
* :func:`store_from_url` — the store a URL names (``memory://``, ``sqlite:///mailtrack.db`` …).

Every store keeps the contract of :class:`mailtrack.abc.RecordStore`, checked by
:class:`mailtrack.testing.RecordStoreContract`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..abc import RecordStore
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from .memory import MemoryRecordStore
    from .sql import SQLRecordStore  # type: ignore[import-not-found, unused-ignore]

__all__ = ["MemoryRecordStore", "SQLRecordStore", "store_from_url"]

#: URL schemes (before any ``+driver``) that name an SQL database.
_SQL_SCHEMES = frozenset({"sqlite", "postgresql", "postgres", "mysql", "mariadb"})


def store_from_url(url: str) -> RecordStore:
    """Open the store a URL names.

    * ``memory://`` — a new, empty :class:`MemoryRecordStore`.
    * ``sqlite:///path.db``, ``postgresql://…``, ``mysql+pymysql://…``, ``mariadb://…`` — an
      ``SQLRecordStore`` (needs ``pip install 'mailtrack[sql]'`` and the database's driver).

    Args:
        url: The store URL, as in :attr:`mailtrack.Config.store`.

    Raises:
        ConfigError: the URL is malformed, its scheme is unknown, or SQLAlchemy is missing.
            The message never repeats the URL (it may hold a password).
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError("store: not a store URL; expected e.g. memory:// or sqlite:///mailtrack.db")
    scheme, _, rest = url.partition("://")
    dialect = scheme.lower().partition("+")[0]
    if dialect == "memory":
        if rest:
            raise ConfigError("store: memory:// takes nothing after the scheme")
        from .memory import MemoryRecordStore

        return MemoryRecordStore()
    if dialect not in _SQL_SCHEMES:
        known = "memory://, sqlite://, postgresql://, mysql:// or mariadb://"
        raise ConfigError(f"store: unknown URL scheme {scheme!r}; use {known}")
    open_sql_store: Callable[[str], RecordStore] = _sql_store_class()
    return open_sql_store(url)


def _sql_store_class() -> Any:
    try:
        importlib.import_module("sqlalchemy")
    except ImportError as exc:
        raise ConfigError(
            "store: SQL stores need SQLAlchemy, which is not installed; run: pip install 'mailtrack[sql]'"
        ) from exc
    return importlib.import_module(".sql", __name__).SQLRecordStore


def __getattr__(name: str) -> Any:
    # The stores are imported on first use: a program loads only the one it uses, and
    # ``mailtrack.stores`` works without SQLAlchemy (SQLRecordStore needs it).
    if name == "SQLRecordStore":
        return _sql_store_class()
    if name == "MemoryRecordStore":
        from .memory import MemoryRecordStore

        return MemoryRecordStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # SQLRecordStore is left out, as before: looking at it without SQLAlchemy is an error.
    return sorted({*globals(), "MemoryRecordStore"})
