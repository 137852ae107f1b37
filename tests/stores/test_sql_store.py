"""SQLRecordStore: the store contract on SQLite (file and memory), PostgreSQL and MariaDB, plus
what is particular to SQL: engines, lazy attachment content, fixed query counts.

PostgreSQL and MariaDB tests run in a scratch database per session (see ``conftest.py``) and
skip, saying why, when the server is unreachable.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")

import sqlalchemy as sa

from _sql_databases import empty_tables
from mailtrack import (
    AppendToRecord,
    CommitOutcome,
    CreateRecord,
    MailInterface,
    RecordStore,
    RunReport,
    SkipMessage,
    StoreError,
)
from mailtrack.stores import SQLRecordStore, store_from_url
from mailtrack.stores.sql import _schema as tables
from mailtrack.testing import RecordStoreContract
from mailtrack.testing._builders import ManualClock, make_attachment, make_incoming

UTC = timezone.utc
BACKENDS = ["sqlite", "postgresql", "mariadb"]


# -- servers ---------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.URL]:
    """The URL of an empty mailtrack database on each backend (tables may not exist yet)."""
    if request.param == "sqlite":
        yield sa.make_url(f"sqlite:///{tmp_path / 'mailtrack.db'}")
        return
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    empty_tables(engine)
    yield engine.url
    empty_tables(engine)  # also drops a schema version a test wrote


# -- the contract ----------------------------------------------------------------------------------


class TestSQLiteFile(RecordStoreContract):
    @pytest.fixture
    def store(self, clock: ManualClock, tmp_path: Path) -> Iterator[RecordStore]:
        with SQLRecordStore(f"sqlite:///{tmp_path / 'mailtrack.db'}", clock=clock) as store:
            yield store


class TestSQLiteMemory(RecordStoreContract):
    @pytest.fixture
    def store(self, clock: ManualClock) -> Iterator[RecordStore]:
        with SQLRecordStore("sqlite://", clock=clock) as store:
            yield store


@pytest.mark.integration
class TestPostgreSQL(RecordStoreContract):
    """On the caller's engine (the store never disposes of it)."""

    @pytest.fixture
    def store(self, clock: ManualClock, postgresql_engine: sa.Engine) -> Iterator[RecordStore]:
        empty_tables(postgresql_engine)
        with SQLRecordStore(postgresql_engine, clock=clock) as store:
            yield store


@pytest.mark.integration
class TestMariaDB(RecordStoreContract):
    """On the store's own engine, made from the URL."""

    @pytest.fixture
    def store(self, clock: ManualClock, mariadb_engine: sa.Engine) -> Iterator[RecordStore]:
        empty_tables(mariadb_engine)
        with SQLRecordStore(mariadb_engine.url, clock=clock) as store:
            yield store


# -- helpers ---------------------------------------------------------------------------------------


def _create(project: str = "default", **incoming: object) -> CreateRecord:
    return CreateRecord(message=make_incoming(**incoming), project=project, title="Printer on fire")  # type: ignore[arg-type]


def _append(record_id: int, **incoming: object) -> AppendToRecord:
    return AppendToRecord(message=make_incoming(**incoming), record_id=record_id)  # type: ignore[arg-type]


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Collect the SQL statements sent through *engine* while the block runs."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _selects(seen: list[str]) -> list[str]:
    return [statement for statement in seen if statement.upper().startswith("SELECT")]


# -- schema ----------------------------------------------------------------------------------------


def test_every_table_is_prefixed_and_reachable_as_metadata() -> None:
    assert SQLRecordStore.metadata is tables.metadata
    names = set(SQLRecordStore.metadata.tables)
    assert names == {
        "mailtrack_meta",
        "mailtrack_records",
        "mailtrack_details",
        "mailtrack_attachments",
        "mailtrack_ledger",
        "mailtrack_quarantine",
        "mailtrack_interfaces",
        "mailtrack_runs",
        "mailtrack_leases",
        "mailtrack_attempts",
        "mailtrack_oauth_tokens",
    }


def test_create_schema_is_idempotent(database: sa.URL) -> None:
    with SQLRecordStore(database) as store:
        store.commit("support", "uid-1", _create())
        store.create_schema()
        store.create_schema()
        assert store.is_imported("support", "uid-1")


# (Schema revisions, upgrades and refusals: test_migrations.py.)


# -- engines, URLs, errors -------------------------------------------------------------------------


def _closed_connections(engine: sa.Engine) -> list[object]:
    closed: list[object] = []
    sa.event.listen(engine, "close", lambda dbapi_connection, _record: closed.append(dbapi_connection))
    return closed


def test_close_disposes_of_the_engine_the_store_made(tmp_path: Path) -> None:
    store = SQLRecordStore(f"sqlite:///{tmp_path / 'own.db'}")
    closed = _closed_connections(store.engine)
    store.commit("support", "uid-1", _create())
    store.close()
    assert closed  # the pooled connections were closed


def test_close_leaves_the_callers_engine_alone(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    closed = _closed_connections(engine)
    with SQLRecordStore(engine) as store:
        assert store.engine is engine
        store.commit("support", "uid-1", _create())
    assert closed == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.ledger)).scalar_one() == 1
    engine.dispose()


@pytest.mark.integration
def test_repr_shows_the_url_without_the_password(postgresql_url: sa.URL) -> None:
    # The test server trusts every local login, so any password is accepted.
    url = postgresql_url.set(password="hunter2-secret")
    with SQLRecordStore(url) as store:
        assert "hunter2" not in repr(store)
        assert repr(store).startswith("SQLRecordStore('postgresql+psycopg://postgres:***@")
    engine = sa.create_engine(url)
    with SQLRecordStore(engine) as store:
        assert "hunter2" not in repr(store)
    engine.dispose()


def test_unreachable_database_is_a_store_error_with_the_cause() -> None:
    pytest.importorskip("psycopg")
    url = "postgresql+psycopg://mailtrack:hunter2-secret@127.0.0.1:9/nothing?connect_timeout=2"
    with pytest.raises(StoreError) as info:
        SQLRecordStore(url)
    assert isinstance(info.value.__cause__, sa.exc.DBAPIError)
    assert "hunter2" not in str(info.value)


def test_missing_driver_names_the_extra_to_install() -> None:
    with pytest.raises(StoreError, match=r"pip install 'mailtrack\[sql\]'"):
        SQLRecordStore("sqlite+nosuchdriver:///x.db")


def test_store_from_url_opens_sql_stores(tmp_path: Path) -> None:
    store = store_from_url(f"sqlite:///{tmp_path / 'via-url.db'}")
    assert isinstance(store, SQLRecordStore)
    store.close()


def test_sqlite_file_store_uses_wal(tmp_path: Path) -> None:
    with SQLRecordStore(f"sqlite:///{tmp_path / 'wal.db'}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_new_sqlite_file_gets_large_pages_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    with SQLRecordStore(f"sqlite:///{tmp_path / 'new.db'}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 16384
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as made:  # what an earlier mailtrack (SQLite's default) created
        made.execute("CREATE TABLE earlier (x INTEGER)")
    with SQLRecordStore(f"sqlite:///{old}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        store.quarantine("box", "u1", b"Subject: kept\r\n\r\nbody", "a reason")
        assert [item.uid for item in store.list_quarantined()] == ["u1"]


# -- reading without N+1 ---------------------------------------------------------------------------


_UIDS = itertools.count()


def _fill(store: SQLRecordStore, records: int, details: int, attachments: int) -> list[int]:
    ids = []
    for r in range(records):

        def files(n: int, r: int = r) -> list[object]:
            return [make_attachment(b"x" * 100, filename=f"{r}-{n}-{a}.bin") for a in range(attachments)]

        created = store.commit("support", f"{next(_UIDS)}", _create(attachments=files(0)))
        assert created.record_id is not None
        for n in range(1, details):
            store.commit("support", f"{next(_UIDS)}", _append(created.record_id, attachments=files(n)))
        ids.append(created.record_id)
    return ids


def test_get_record_takes_the_same_queries_however_many_details(database: sa.URL) -> None:
    with SQLRecordStore(database) as store:
        small, large = _fill(store, 1, 1, 0)[0], _fill(store, 1, 6, 3)[0]
        with statements(store.engine) as seen_small:
            store.get_record(small)
        with statements(store.engine) as seen_large:
            record = store.get_record(large)
    assert len(record.details) == 6
    assert sum(len(detail.attachments) for detail in record.details) == 18
    assert len(_selects(seen_large)) == len(_selects(seen_small)) == 3


def test_list_records_takes_the_same_queries_however_many_records(database: sa.URL) -> None:
    with SQLRecordStore(database) as store:
        _fill(store, 2, 2, 1)
        with statements(store.engine) as seen_few:
            assert len(store.list_records()) == 2
        _fill(store, 10, 3, 2)
        with statements(store.engine) as seen_many:
            assert len(store.list_records()) == 12
        with statements(store.engine) as seen_page:
            assert len(store.list_records("default", limit=5, offset=5)) == 5
    assert len(_selects(seen_few)) == len(_selects(seen_many)) == len(_selects(seen_page)) == 3


def test_listing_never_reads_attachment_content(database: sa.URL) -> None:
    with SQLRecordStore(database) as store:
        _fill(store, 2, 2, 2)
        with statements(store.engine) as listing:
            store.list_records()
        with statements(store.engine) as record:
            store.get_record(1, load_content=False)
        with statements(store.engine) as loaded:
            store.list_records(load_content=True)
    for seen in (listing, record):
        assert not any(re.search(r"mailtrack_attachments\.content\b", statement) for statement in seen)
    assert any(re.search(r"mailtrack_attachments\.content\b", statement) for statement in loaded)


def test_last_runs_gives_the_newest_report_of_each_interface(database: sa.URL) -> None:
    start = datetime(2024, 5, 1, 10, tzinfo=UTC)
    with SQLRecordStore(database) as store:
        assert store.last_runs() == {}
        for n, name in enumerate(["support", "sales", "support", "billing", "sales"]):
            store.save_run(RunReport(interface=name, started_at=start, finished_at=start, imported=n))
        with statements(store.engine) as seen:
            last = store.last_runs()
    assert {name: report.imported for name, report in last.items()} == {
        "support": 2,
        "billing": 3,
        "sales": 4,
    }
    assert list(last) == ["billing", "sales", "support"]
    assert len(_selects(seen)) == 1


# -- sizes and keys --------------------------------------------------------------------------------


@pytest.mark.slow
def test_large_attachment_and_body_round_trip(database: sa.URL) -> None:
    content = bytes(range(256)) * (6 * 1024 * 1024 // 256)  # 6 MiB: far beyond MariaDB's BLOB (64 KiB)
    text = "Zeile mit Umlauten äöü 🔥\n" * 20000  # far beyond TEXT's 64 KiB
    with SQLRecordStore(database) as store:
        result = store.commit("support", "uid-1", _create(text=text, attachments=[make_attachment(content)]))
        assert result.record_id is not None
        (detail,) = store.get_record(result.record_id).details
    assert detail.text == text
    assert detail.attachments[0].content == content


def test_long_message_ids_and_uids_stay_exact(database: sa.URL) -> None:
    long_id = "x" * 2000 + "@example.com"
    other_id = "x" * 2000 + "@example.org"
    long_uid = "U" * 400
    with SQLRecordStore(database) as store:
        first = store.commit("support", long_uid, _create(message_id=long_id))
        assert (
            store.commit("support", long_uid + "2", _create(message_id=other_id)).outcome
            is CommitOutcome.CREATED
        )
        assert store.commit("sales", "uid-1", _create(message_id=long_id)).outcome is CommitOutcome.DUPLICATE
        assert store.commit("support", long_uid, _create()).outcome is CommitOutcome.ALREADY_IMPORTED
        assert store.is_imported("support", long_uid)
        assert store.imported_uids("support", [long_uid, "U" * 401]) == {long_uid}
        found = store.find_record_by_message_id(long_id)
    assert found is not None
    assert found.id == first.record_id
    assert found.details[0].message_id == long_id


def test_nul_and_private_use_characters_round_trip(database: sa.URL) -> None:
    # PostgreSQL refuses NUL in text; mail bodies and raw headers may hold it.
    text = "body \x00 with NUL, \ue000 private use, \ue0000 both, \ue000\ue000\x00 and again\x00"
    headers = "X-Bad: a\x00b\r\nX-Odd: \ue000\r\n"
    with SQLRecordStore(database) as store:
        result = store.commit(
            "support",
            "uid-1",
            _create(subject="nul\x00here", text=text, html=f"<p>{text}</p>", headers=headers),
        )
        assert result.record_id is not None
        (detail,) = store.get_record(result.record_id).details
    assert (detail.subject, detail.text, detail.html, detail.headers) == (
        "nul\x00here",
        text,
        f"<p>{text}</p>",
        headers,
    )


def test_uids_and_message_ids_are_case_sensitive(database: sa.URL) -> None:
    # MariaDB compares case-insensitively by default; POP3 UIDs "ABC" and "abc" are two messages.
    with SQLRecordStore(database) as store:
        assert store.commit("support", "ABC", _create(message_id="m@x")).outcome is CommitOutcome.CREATED
        assert store.commit("support", "abc", _create(message_id="M@x")).outcome is CommitOutcome.CREATED
        assert (
            store.commit("support", "abc", SkipMessage(reason="again")).outcome
            is CommitOutcome.ALREADY_IMPORTED
        )
        store.save_interface(MailInterface(name="Support", server="pop.example.com", login="l"))
        store.save_interface(MailInterface(name="support", server="pop.example.com", login="l"))
        assert [interface.name for interface in store.list_interfaces()] == ["Support", "support"]


def test_saved_interface_keeps_the_password_in_the_store(database: sa.URL) -> None:
    interface = MailInterface(name="support", server="pop.example.com", login="l", password="s3cret")
    with SQLRecordStore(database) as store:
        store.save_interface(interface)
        assert store.get_interface("support").password == "s3cret"


# -- leases ----------------------------------------------------------------------------------------


def test_lease_seconds_must_be_positive(tmp_path: Path) -> None:
    with (
        SQLRecordStore(f"sqlite:///{tmp_path / 'l.db'}") as store,
        pytest.raises(ValueError, match="positive"),
    ):
        store.acquire_lease("support", "worker-1", 0)


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_lease_row_being_taken_by_another_worker_is_skipped_not_waited_for(
    request: pytest.FixtureRequest, backend: str
) -> None:
    """SELECT … FOR UPDATE SKIP LOCKED: a worker gets False at once while another holds the row."""
    engine: sa.Engine = request.getfixturevalue(f"{backend}_engine")
    empty_tables(engine)
    with SQLRecordStore(engine) as store:
        assert store.acquire_lease("support", "worker-1", 0.001)  # the row exists, the lease expires
        time.sleep(0.01)
        with engine.connect() as holder:
            holder.execute(
                sa.select(tables.leases).where(tables.leases.c.name == "support").with_for_update()
            ).all()
            results: list[bool] = []
            taker = threading.Thread(
                target=lambda: results.append(store.acquire_lease("support", "worker-2", 30))
            )
            taker.start()
            taker.join(timeout=20)
            finished_while_locked = not taker.is_alive()
            holder.rollback()
        taker.join()
        assert finished_while_locked, "acquire_lease waited for the row lock instead of skipping it"
        assert results == [False]
        assert store.acquire_lease("support", "worker-2", 30) is True


def test_commit_many_commits_in_one_transaction(database: sa.URL) -> None:
    items = [("support", f"uid-{n}", _create(message_id=f"m{n}@x")) for n in range(20)]
    with SQLRecordStore(database) as store:
        checkouts: list[object] = []
        sa.event.listen(store.engine, "checkout", lambda *args: checkouts.append(args))
        results = store.commit_many(items)
        assert len(checkouts) == 1  # one connection, one transaction, for 20 items
        assert [result.outcome for result in results] == [CommitOutcome.CREATED] * 20
        assert len(store.list_records()) == 20


@pytest.mark.integration
@pytest.mark.slow
def test_message_beyond_mariadb_max_allowed_packet_is_a_clear_store_error(mariadb_engine: sa.Engine) -> None:
    empty_tables(mariadb_engine)
    with mariadb_engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one())
    if limit > 64 * 1024 * 1024:
        pytest.skip(f"this server's max_allowed_packet ({limit} bytes) is too large to exceed cheaply")
    content = b"\x01" * (limit + 1024)
    with SQLRecordStore(mariadb_engine) as store:
        with pytest.raises(StoreError, match="max_allowed_packet"):
            store.commit("support", "uid-1", _create(attachments=[make_attachment(content)]))
        assert not store.is_imported("support", "uid-1")
        assert store.list_records() == []
