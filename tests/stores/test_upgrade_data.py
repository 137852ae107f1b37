"""Upgrading a database of mailtrack from before migrations, holding real data, to the newest
schema on SQLite, PostgreSQL and MariaDB: every row stays, byte for byte; the upgraded store
keeps the store contract; an import afterwards imports nothing twice.

The data is ``fixtures/schema-0001.db``, written by mailtrack before migrations
(``fixtures/make_schema_0001.py``): records, details, attachments, ledger rows, quarantined
messages, runs, saved interfaces and a lease. On PostgreSQL and MariaDB the baseline revision
makes the tables and the rows are copied in, as mailtrack of then wrote them.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("alembic", reason="migrations need Alembic (pip install 'mailtrack[sql]')")

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from _sql_databases import (
    ADDED_SINCE_BASELINE,
    TABLES_ADDED_SINCE_BASELINE,
    empty_tables,
    scratch_database,
    tables_before_migrations,
)
from mailtrack import Importer, RecordStore
from mailtrack._demo import demo_messages
from mailtrack.stores.sql import SCHEMA_VERSION, SQLRecordStore, current, upgrade
from mailtrack.stores.sql import _schema as tables
from mailtrack.stores.sql import _versions as versions
from mailtrack.testing import POP3TestServer, RecordStoreContract, build_message
from mailtrack.testing._builders import ManualClock

FIXTURE = Path(__file__).parent / "fixtures" / "schema-0001.db"
BACKENDS = ["sqlite", "postgresql", "mariadb"]
ADDED = ADDED_SINCE_BASELINE
#: Added columns whose value for the rows there were is known, not guessed: nothing written
#: before revision 0009 came from an archive import with --history.
KNOWN_FOR_OLD_ROWS: dict[str, Any] = {"history": False}


def _fixture_rows() -> dict[str, list[dict[str, Any]]]:
    """The fixture's rows, table by table, read as mailtrack reads them."""
    engine = sa.create_engine(f"sqlite:///{FIXTURE}")
    rows: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            if table.name in TABLES_ADDED_SINCE_BASELINE:
                continue  # the fixture is older than the table
            columns = [column for column in table.columns if column.name not in ADDED.get(table.name, set())]
            rows[table.name] = [dict(row._mapping) for row in conn.execute(sa.select(*columns))]
    engine.dispose()
    return rows


def _old_database(kind: str, tmp_path: Path) -> Generator[sa.URL, None, None]:
    """A database of mailtrack from before migrations, holding the fixture's data."""
    if kind == "sqlite":
        copy = tmp_path / "old.db"
        shutil.copyfile(FIXTURE, copy)
        yield sa.make_url(f"sqlite:///{copy}")
        return
    with scratch_database(kind) as url:
        tables_before_migrations(url, version_row=False)  # the rows come from the fixture
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for name, rows in _fixture_rows().items():
                if rows:
                    conn.execute(sa.insert(tables.metadata.tables[name]), rows)
            if kind == "postgresql":  # rows copied with their IDs: move the counters past them
                for name in ("records", "details", "attachments", "ledger", "quarantine", "runs"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('mailtrack_{name}', 'id'), "  # noqa: S608 - our table names
                        f"(SELECT coalesce(max(id), 0) + 1 FROM mailtrack_{name}), false)"
                    )
        engine.dispose()
        yield url


@pytest.fixture(params=BACKENDS)
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.URL]:
    yield from _old_database(request.param, tmp_path)


def _snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every mailtrack table, as the database gives it (the tables as they are now)."""
    reflected = sa.MetaData()
    reflected.reflect(engine, only=lambda name, _meta: name in tables.metadata.tables)
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, table in sorted(reflected.tables.items()):
            order = list(table.primary_key.columns)
            found[name] = [tuple(row) for row in conn.execute(sa.select(table).order_by(*order))]
    return found


def _columns(engine: sa.Engine, name: str) -> list[str]:
    return [column["name"] for column in sa.inspect(engine).get_columns(name)]


@pytest.mark.integration
def test_upgrading_keeps_every_row_byte_for_byte(old_db: sa.URL) -> None:
    engine = sa.create_engine(old_db)
    before = _snapshot(engine)
    old_columns = {name: _columns(engine, name) for name in before}
    assert {name: len(rows) for name, rows in before.items()} == {
        "mailtrack_attachments": 5,
        "mailtrack_details": 8,
        "mailtrack_interfaces": 2,
        "mailtrack_leases": 1,
        "mailtrack_ledger": 18,
        "mailtrack_meta": 1,
        "mailtrack_quarantine": 2,
        "mailtrack_records": 6,
        "mailtrack_runs": 2,
    }
    assert current(engine) == versions.BASELINE

    assert upgrade(engine) == versions.BASELINE

    assert current(engine) == SCHEMA_VERSION
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": versions.VERSION_TABLE})
        assert list(compare_metadata(context, tables.metadata)) == []
    after = _snapshot(engine)
    for name, rows in before.items():
        kept = [column for column in _columns(engine, name) if column in old_columns[name]]
        assert kept == old_columns[name], name
        added = [column for column in _columns(engine, name) if column not in old_columns[name]]
        assert set(added) == ADDED.get(name, set()), name
        positions = [_columns(engine, name).index(column) for column in kept]
        now = [tuple(row[i] for i in positions) for row in after[name]]
        if name == "mailtrack_meta":
            assert now == [("schema_version", versions.MIGRATED_MARK)]
            continue
        assert now == rows, name  # every row, every old column, as it was
        unknown = [column for column in added if column not in KNOWN_FOR_OLD_ROWS]
        extra = [
            tuple(row[_columns(engine, name).index(column)] for column in unknown) for row in after[name]
        ]
        assert all(value is None for values in extra for value in values), name  # unknown, not guessed
        for column in set(added) & set(KNOWN_FOR_OLD_ROWS):
            values = {row[_columns(engine, name).index(column)] for row in after[name]}
            assert values <= {KNOWN_FOR_OLD_ROWS[column]}, (name, column)
    engine.dispose()


@pytest.mark.integration
def test_the_upgraded_store_reads_the_old_data(old_db: sa.URL) -> None:
    upgrade(old_db)
    with SQLRecordStore(old_db, create_schema=False) as store:
        records = store.list_records(load_content=True)
        assert len(records) == 6
        attachments = [a for record in records for d in record.details for a in d.attachments]
        assert len(attachments) == 5
        assert all(a.content is not None and len(a.content) == a.size for a in attachments)
        assert len(store.list_quarantined()) == 2
        assert all(item.raw for item in store.list_quarantined())
        assert sorted(i.name for i in store.list_interfaces()) == ["sales", "support"]
        assert store.last_run("support") is not None
        holder = store.lease_holder("support")
        assert holder is not None
        assert holder.owner == "fixture-worker"
        assert store.ledger_digests("support", [f"uid-{n}" for n in range(30)]) == {}


def _served(server: POP3TestServer) -> list[str]:
    return [uid for uid, _ in server.mailbox]


@pytest.mark.integration
def test_an_import_after_the_upgrade_imports_nothing_twice(old_db: sa.URL) -> None:
    upgrade(old_db)
    messages = [raw for _, raw in demo_messages()]
    late = build_message(subject="arrived after the upgrade", message_id="<late@example.com>")
    with SQLRecordStore(old_db, create_schema=False) as store:
        store.release_lease("support", "fixture-worker")
        records, details = _counts(store)
        importer = Importer(store=store)
        # support keeps its mail on the server: the same messages again, and one new.
        with POP3TestServer([*messages, late]) as server:
            report = importer.run(server.interface(name="support", leave_copy=True, project="helpdesk"))
            assert (report.imported, report.created, report.error) == (1, 1, None)
            assert len(_served(server)) == len(messages) + 1
        assert _counts(store) == (records + 1, details + 1)
        # sales empties its mailbox: its deletions "failed", so the same messages are back.
        with POP3TestServer(messages) as server:
            report = importer.run(server.interface(name="sales", project="sales"))
            assert (report.imported, report.error) == (0, None)
            assert not any("reused" in note for note in report.notes), report.notes
            assert len(_served(server)) == 1  # the quarantined one stays (delete_quarantined is off)
        assert _counts(store) == (records + 1, details + 1)
        assert len(store.list_quarantined()) == 2


def _counts(store: RecordStore) -> tuple[int, int]:
    records = store.list_records()
    return len(records), sum(len(record.details) for record in records)


# -- the store contract on upgraded databases --------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def upgraded_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.URL]:
    """A database upgraded from the fixture's, for the contract suite (emptied by each test)."""
    databases = _old_database(request.param, tmp_path_factory.mktemp("upgraded"))
    url = next(databases)
    upgrade(url)
    yield url
    databases.close()


class TestUpgradedStore(RecordStoreContract):
    @pytest.fixture
    def store(self, clock: ManualClock, upgraded_url: sa.URL) -> Iterator[RecordStore]:
        engine = sa.create_engine(upgraded_url)
        empty_tables(engine)
        engine.dispose()
        with SQLRecordStore(upgraded_url, clock=clock, create_schema=False) as store:
            yield store
