"""The database servers of the store tests: one scratch database per session on each.

PostgreSQL and MariaDB tests run in a scratch database made for the session (see
``support/_sql_databases.py``), with the mailtrack tables created once, and skip, saying why,
when the server is unreachable. SQLAlchemy is imported only when a test asks for a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import sqlalchemy as sa


def _scratch(kind: str) -> Iterator[sa.URL]:
    pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")
    from _sql_databases import scratch_database
    from mailtrack.stores.sql import SQLRecordStore

    with scratch_database(kind) as url:
        SQLRecordStore(url).close()  # the tables, once per session
        yield url


def _engine(url: sa.URL) -> Iterator[sa.Engine]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[sa.URL]:
    """A scratch PostgreSQL database holding the mailtrack tables (emptied by each test that uses it)."""
    yield from _scratch("postgresql")


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[sa.URL]:
    """A scratch MariaDB database holding the mailtrack tables (emptied by each test that uses it)."""
    yield from _scratch("mariadb")


@pytest.fixture(scope="session")
def postgresql_engine(postgresql_url: sa.URL) -> Iterator[sa.Engine]:
    yield from _engine(postgresql_url)


@pytest.fixture(scope="session")
def mariadb_engine(mariadb_url: sa.URL) -> Iterator[sa.Engine]:
    yield from _engine(mariadb_url)
