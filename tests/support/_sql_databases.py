"""Scratch databases on the PostgreSQL and MariaDB servers, for the SQL store's tests.

Each test session gets its own database (``mailtrack_t_<pid>_<random>``), dropped at the end, so
that parallel runs never see each other's rows. The servers are found at the URLs in
``MAILTRACK_TEST_POSTGRESQL_URL`` and ``MAILTRACK_TEST_MYSQL_URL`` (defaults: the CI machine's
127.0.0.1:5432 and 127.0.0.1:3306); a test skips, saying why, when its server is unreachable.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")

import sqlalchemy as sa

from mailtrack.stores.sql import _schema as _sql_schema

SERVERS = {
    "postgresql": (
        "MAILTRACK_TEST_POSTGRESQL_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "psycopg",
    ),
    "mariadb": ("MAILTRACK_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test", "pymysql"),
}


#: The columns that revisions after the baseline added, by table: the tables of mailtrack before
#: migrations are the models without these. A revision that adds columns adds them here.
ADDED_SINCE_BASELINE: dict[str, set[str]] = {
    "mailtrack_ledger": {"content_sha256", "listed_size"},
    "mailtrack_details": {"defects", "refused_attachments", "field_changes", "history"},
    "mailtrack_records": {"related_record_id", "history"},
    "mailtrack_runs": {"already_imported", "left_on_server"},
}
#: The tables that revisions after the baseline added (whole tables, with their columns).
TABLES_ADDED_SINCE_BASELINE: set[str] = {"mailtrack_attempts", "mailtrack_oauth_tokens"}
#: The indexes that revisions after the baseline added, by table.
INDEXES_ADDED_SINCE_BASELINE: dict[str, set[str]] = {
    "mailtrack_records": {"ix_mailtrack_records_updated_at"},
    "mailtrack_ledger": {"ix_mailtrack_ledger_content"},
}


def server_url(kind: str) -> sa.URL:
    variable, default, _ = SERVERS[kind]
    return sa.make_url(os.environ.get(variable, default))


@contextmanager
def scratch_database(kind: str) -> Iterator[sa.URL]:
    """Create an empty database on the *kind* server, yield its URL, drop it afterwards."""
    variable, _, driver = SERVERS[kind]
    if importlib.util.find_spec(driver) is None:
        pytest.skip(f"the {driver} driver is not installed (pip install 'mailtrack[{kind}]')")
    admin_url = server_url(kind)
    timeout = {"connect_timeout": 3}
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args=timeout)
    where = f"{admin_url.host}:{admin_url.port}"
    try:
        conn = admin.connect()
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"{kind} is not reachable at {where} (set {variable} to use another server): {exc.orig}")
    name = f"mailtrack_t_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        if kind == "mariadb":
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        else:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield admin_url.set(database=name)
    finally:
        if kind == "postgresql":
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.close()
        admin.dispose()


def empty_tables(engine: sa.Engine) -> None:
    """Delete every mailtrack row and restart the ID counters (tables must exist)."""
    names = [table.name for table in _sql_schema.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
        elif engine.dialect.name in {"mysql", "mariadb"}:
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
            for name in names:
                conn.exec_driver_sql(f"TRUNCATE TABLE {name}")
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
        else:
            for name in reversed(names):
                conn.exec_driver_sql(f"DELETE FROM {name}")  # noqa: S608 - our own table names


def tables_before_migrations(url: str | sa.URL | sa.Engine, *, version_row: bool = True) -> None:
    """Make the tables of mailtrack before migrations in an empty database: the baseline
    revision's tables and its ``schema_version`` row (or none), without an Alembic version table."""
    from mailtrack.stores.sql import _versions, upgrade

    upgrade(url, _versions.BASELINE)
    engine = url if isinstance(url, sa.Engine) else sa.create_engine(url)
    try:
        _versions.version_table.drop(engine)
        if not version_row:
            with engine.begin() as conn:
                conn.execute(sa.delete(_sql_schema.meta))
    finally:
        if engine is not url:
            engine.dispose()
