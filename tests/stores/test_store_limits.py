"""Messages too large for the store: refused one by one, and the run goes on.

A database refuses a statement larger than its limit (MariaDB/MySQL's ``max_allowed_packet``,
16 MiB by default; SQLite's ``SQLITE_MAX_LENGTH``; PostgreSQL's 1 GB per field). The SQL store
raises :class:`~mailtrack.MessageRefusedError` for that one message and stays usable; the importer
leaves the message on the server, counts it as failed, names it in the report's notes on every
run, and imports the messages after it. A database that fails altogether still stops the run.

MariaDB's limit is lowered to 1 MiB for the tests that need it (``SET GLOBAL``, restored
afterwards), PostgreSQL's refusal is injected (a real one needs a 1 GB value), SQLite's length
limit is lowered per connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from _tally import audit
from mailtrack import (
    CommitResult,
    CreateRecord,
    ImportAction,
    Importer,
    ImportPolicy,
    MailInterface,
    MemoryRecordStore,
    MessageRefusedError,
    QuarantinedMessage,
    RecordStore,
    RunReport,
    SenderPolicy,
    StoreError,
)
from mailtrack.testing import FakeMailbox, POP3TestServer, build_message
from mailtrack.testing._builders import make_attachment, make_incoming

ANYONE = ImportPolicy(sender_policy=SenderPolicy.ANYONE)
#: MariaDB's max_allowed_packet for the tests (its smallest useful value is 1 KiB).
PACKET = 1024 * 1024
#: SQLite's SQLITE_LIMIT_LENGTH for the tests.
SQLITE_LENGTH = 200_000


def mailbox_with_a_huge_message(size: int) -> dict[str, bytes]:
    """Three messages by UID; the middle one has an attachment of *size* bytes."""
    content = bytes(range(256)) * (size // 256)
    return {
        "before": build_message(subject="before", text="first\n"),
        "huge": build_message(subject="HUGE", attachments=[("big.bin", "application/octet-stream", content)]),
        "after": build_message(subject="after", text="third\n"),
    }


def refusal_note(report: RunReport, uid: str, size: int) -> str:
    """The report's one note about the refused message *uid*."""
    [note] = [note for note in report.notes if f"(uid {uid})" in note]
    assert f"{size} bytes" in note
    assert "stays on the server" in note
    return note


def create(uid: str, **incoming: Any) -> tuple[str, str, ImportAction]:
    action = CreateRecord(message=make_incoming(**incoming), project="helpdesk", title=uid)
    return ("support", uid, action)


# -- the importer, with a store that refuses some messages -----------------------------------------


class RefusingStore(MemoryRecordStore):
    """Refuses messages with HUGE in the subject (commit) or the raw bytes (quarantine), as a
    database refuses a statement larger than its limit. ``commit_many`` is not all-or-nothing:
    the items before a refused one stay committed."""

    refuse_quarantine = True

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        message = getattr(action, "message", None)
        if message is not None and "HUGE" in message.subject:
            raise MessageRefusedError(f"the database refused message {uid!r}: too large")
        return super().commit(interface, uid, action)

    def commit_many(self, items: Sequence[tuple[str, str, ImportAction]]) -> list[CommitResult]:
        return [self.commit(*item) for item in items]

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
        if self.refuse_quarantine and b"HUGE" in raw:
            raise MessageRefusedError(f"the database refused message {uid!r}: too large")
        return super().quarantine(interface, uid, raw, error)


def fake_interface(**overrides: Any) -> MailInterface:
    values: dict[str, Any] = {"server": "pop.example.com", "login": "support", "policy": ANYONE}
    values.update(overrides, project="helpdesk")
    return MailInterface(name="support", **values)


@pytest.mark.parametrize("batch_size", [1, 10], ids=["one by one", "in a batch"])
def test_message_the_store_refuses_stays_on_the_server_and_the_run_goes_on(batch_size: int) -> None:
    store = RefusingStore()
    originals = mailbox_with_a_huge_message(1000)
    mailbox = FakeMailbox(originals)
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher, batch_size=batch_size)

    reports = [importer.run(fake_interface()) for _ in range(2)]

    first, second = reports
    assert (first.error, first.created, first.left_on_server) == (None, 2, 1)
    assert "message 2 (uid huge)" in refusal_note(first, "huge", len(originals["huge"]))
    assert mailbox.uids == ["huge"]
    assert store.list_quarantined() == []
    assert not store.is_imported("support", "huge")
    assert sorted(record.title for record in store.list_records()) == ["after", "before"]
    # Tried again on every run, and said so every time.
    assert (second.error, second.created, second.left_on_server) == (None, 0, 1)
    refusal_note(second, "huge", len(originals["huge"]))
    assert mailbox.uids == ["huge"]


def test_message_refused_whose_raw_bytes_fit_is_quarantined() -> None:
    store = RefusingStore()
    store.refuse_quarantine = False
    mailbox = FakeMailbox(mailbox_with_a_huge_message(1000))

    report = Importer(store=store, fetcher_factory=mailbox.fetcher).run(fake_interface())

    assert (report.error, report.created, report.quarantined) == (None, 2, 1)
    [held] = store.list_quarantined()
    assert held.uid == "huge"
    assert "the database refused message 'huge'" in held.error
    assert mailbox.uids == ["huge"]


# -- SQLite with a lowered length limit ------------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[RecordStore]:
    """A SQLite file store whose connections refuse values over SQLITE_LENGTH bytes."""
    sa = pytest.importorskip("sqlalchemy")
    if not hasattr(sqlite3.Connection, "setlimit"):
        pytest.skip("sqlite3.Connection.setlimit needs Python 3.11")
    from mailtrack.stores import SQLRecordStore

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'mailtrack.db'}")

    def limit(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_LENGTH)  # type: ignore[attr-defined]  # 3.11+

    sa.event.listen(engine, "connect", limit)
    with SQLRecordStore(engine) as store:
        yield store
    engine.dispose()


def test_sqlite_refusal_is_message_refused_and_the_store_stays_usable(sqlite_store: RecordStore) -> None:
    big = make_attachment(b"x" * (SQLITE_LENGTH + 1))

    with pytest.raises(MessageRefusedError, match=r"message 'big' of 'support'.*SQLITE_MAX_LENGTH"):
        sqlite_store.commit(*create("big", attachments=[big]))
    with pytest.raises(MessageRefusedError, match="SQLITE_MAX_LENGTH"):
        sqlite_store.quarantine("support", "big", b"x" * (SQLITE_LENGTH + 1), "too large")
    # A batch with the refused message in it is rolled back whole, and names it.
    with pytest.raises(MessageRefusedError, match="message 'big'"):
        sqlite_store.commit_many([create("a"), create("big", attachments=[big]), create("b")])

    assert sqlite_store.imported_uids("support", ["a", "big", "b"]) == set()
    assert sqlite_store.list_quarantined() == []
    assert sqlite_store.commit(*create("a")).record_id is not None
    assert sqlite_store.is_imported("support", "a")


@pytest.mark.parametrize("batch_size", [1, 10], ids=["one by one", "in a batch"])
def test_sqlite_importer_leaves_a_too_large_message_and_imports_the_rest(
    sqlite_store: RecordStore, batch_size: int
) -> None:
    originals = mailbox_with_a_huge_message(SQLITE_LENGTH * 2)
    with POP3TestServer(list(originals.items())) as server:
        interface = server.interface(name="support", project="helpdesk", policy=ANYONE)
        importer = Importer(store=sqlite_store, batch_size=batch_size)

        first, second = importer.run(interface), importer.run(interface)

        assert (first.error, first.created, first.left_on_server) == (None, 2, 1)
        assert "SQLITE_MAX_LENGTH" in refusal_note(first, "huge", len(originals["huge"]))
        assert (second.error, second.created, second.left_on_server) == (None, 0, 1)
        refusal_note(second, "huge", len(originals["huge"]))
        assert [uid for uid, _raw in server.mailbox] == ["huge"]
        result = audit(sqlite_store, "support", originals, ["huge"])
    assert (result.lost, result.duplicated, result.quarantined) == ((), (), frozenset())
    assert result.imported == {"before", "after"}


# -- MariaDB with max_allowed_packet lowered -------------------------------------------------------


@pytest.fixture
def small_packets(mariadb_url: Any) -> Iterator[Any]:
    """MariaDB's max_allowed_packet lowered to PACKET for new connections, restored afterwards.

    The setting is global: a named lock, held by this connection (and freed by the server if the
    test process dies), keeps two test runs on one server from lowering it at once and taking each
    other's lowered value for the one to restore."""
    import sqlalchemy as sa

    admin = sa.create_engine(mariadb_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            locked = conn.exec_driver_sql("SELECT GET_LOCK('mailtrack_tests_max_allowed_packet', 600)")
            if locked.scalar_one() != 1:
                pytest.fail("another test run held MariaDB's max_allowed_packet for 10 minutes")
            old = int(conn.exec_driver_sql("SELECT @@GLOBAL.max_allowed_packet").scalar_one())
            try:
                conn.exec_driver_sql(f"SET GLOBAL max_allowed_packet = {PACKET}")
            except sa.exc.DBAPIError as exc:
                pytest.skip(f"cannot lower MariaDB's max_allowed_packet: {exc.orig}")
            try:
                yield mariadb_url
            finally:
                conn.exec_driver_sql(f"SET GLOBAL max_allowed_packet = {old}")
    finally:
        admin.dispose()


@pytest.fixture(params=["url", "engine"], ids=["store's engine", "caller's engine without pre-ping"])
def mariadb_store(request: pytest.FixtureRequest, small_packets: Any) -> Iterator[RecordStore]:
    """A store on the scratch database, made after the limit was lowered; emptied first."""
    import sqlalchemy as sa

    from _sql_databases import empty_tables
    from mailtrack.stores import SQLRecordStore

    # No pool_pre_ping on the caller's engine: a connection the server dropped must not go back
    # into the pool.
    engine = sa.create_engine(small_packets)
    with SQLRecordStore(small_packets if request.param == "url" else engine) as store:
        empty_tables(store.engine)
        yield store
    engine.dispose()


def test_mariadb_packet_refusal_is_message_refused_and_the_store_stays_usable(
    mariadb_store: RecordStore,
) -> None:
    # Around the limit too: the server answers 1153 or just drops the connection, by timing.
    for size in (PACKET + 100, 2 * PACKET):
        with pytest.raises(MessageRefusedError, match=f"max_allowed_packet is {PACKET} bytes"):
            mariadb_store.commit(*create(f"big-{size}", attachments=[make_attachment(b"x" * size)]))
        with pytest.raises(MessageRefusedError, match=f"message 'big-{size}' of 'support'"):
            mariadb_store.quarantine("support", f"big-{size}", b"x" * size, "too large")
        assert mariadb_store.commit(*create(f"small-{size}")).record_id is not None
    with pytest.raises(MessageRefusedError, match="message 'big'"):
        mariadb_store.commit_many(
            [create("a"), create("big", attachments=[make_attachment(b"x" * 2 * PACKET)]), create("b")]
        )

    assert mariadb_store.imported_uids("support", ["a", "big", "b"]) == set()
    assert mariadb_store.list_quarantined() == []
    assert len(mariadb_store.list_records()) == 2


def test_mariadb_connection_lost_on_a_small_message_is_a_store_failure(mariadb_store: RecordStore) -> None:
    import sqlalchemy as sa

    from mailtrack.stores import SQLRecordStore

    assert isinstance(mariadb_store, SQLRecordStore)
    admin = sa.create_engine(mariadb_store.engine.url, isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    def kill(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The server drops the connection under the INSERT, as when it restarts.
        if not killed and statement.lstrip().upper().startswith("INSERT INTO MAILTRACK_QUARANTINE"):
            killed.append(conn.connection.dbapi_connection.thread_id())
            with admin.connect() as other:
                other.exec_driver_sql(f"KILL CONNECTION {killed[0]}")

    sa.event.listen(mariadb_store.engine, "before_cursor_execute", kill)
    try:
        with pytest.raises(StoreError) as raised:
            mariadb_store.quarantine("support", "small", b"a small message", "why")
    finally:
        sa.event.remove(mariadb_store.engine, "before_cursor_execute", kill)
        admin.dispose()

    assert killed
    assert not isinstance(raised.value, MessageRefusedError)
    assert mariadb_store.quarantine("support", "small", b"a small message", "why").uid == "small"


def test_mariadb_connection_refused_a_packet_is_not_pooled_again(mariadb_store: RecordStore) -> None:
    import sqlalchemy as sa

    from mailtrack.stores import SQLRecordStore

    pymysql = pytest.importorskip("pymysql")
    assert isinstance(mariadb_store, SQLRecordStore)
    engine = mariadb_store.engine
    invalidated: list[object] = []

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Error 1153, which the server sends before it closes the connection (by timing the
        # client may see only the dropped connection, which SQLAlchemy handles itself).
        if statement.lstrip().upper().startswith("INSERT INTO MAILTRACK_QUARANTINE"):
            raise pymysql.err.OperationalError(1153, "Got a packet bigger than 'max_allowed_packet' bytes")

    def note_invalidated(*args: Any) -> None:
        invalidated.append(args)

    sa.event.listen(engine, "before_cursor_execute", refuse)
    sa.event.listen(engine, "invalidate", note_invalidated)
    try:
        with pytest.raises(MessageRefusedError, match="Got a packet bigger"):
            mariadb_store.quarantine("support", "big", b"x", "too large")
    finally:
        sa.event.remove(engine, "before_cursor_execute", refuse)
        sa.event.remove(engine, "invalidate", note_invalidated)

    assert len(invalidated) == 1
    assert mariadb_store.quarantine("support", "big", b"x", "too large").uid == "big"


@pytest.mark.parametrize("batch_size", [1, 10], ids=["one by one", "in a batch"])
def test_mariadb_importer_leaves_a_message_over_max_allowed_packet_and_imports_the_rest(
    mariadb_store: RecordStore, batch_size: int
) -> None:
    originals = mailbox_with_a_huge_message(2 * PACKET)
    with POP3TestServer(list(originals.items())) as server:
        interface = server.interface(name="support", project="helpdesk", policy=ANYONE)
        importer = Importer(store=mariadb_store, batch_size=batch_size)

        first, second = importer.run(interface), importer.run(interface)

        assert (first.error, first.created, first.left_on_server) == (None, 2, 1)
        note = refusal_note(first, "huge", len(originals["huge"]))
        assert "message 2 (uid huge)" in note
        assert f"max_allowed_packet is {PACKET} bytes; raise it" in note
        assert (second.error, second.created, second.left_on_server) == (None, 0, 1)
        refusal_note(second, "huge", len(originals["huge"]))
        assert [uid for uid, _raw in server.mailbox] == ["huge"]
        result = audit(mariadb_store, "support", originals, ["huge"])
    assert (result.lost, result.duplicated, result.quarantined) == ((), (), frozenset())
    assert result.imported == {"before", "after"}
    # The store works on: the reports were saved, and it takes new messages.
    assert mariadb_store.last_run("support") == second
    assert mariadb_store.commit(*create("later")).record_id is not None


# -- PostgreSQL: a refusal injected ----------------------------------------------------------------


def test_postgresql_program_limit_is_message_refused_and_the_store_stays_usable() -> None:
    sa = pytest.importorskip("sqlalchemy")
    errors = pytest.importorskip("psycopg.errors")
    from _sql_databases import scratch_database
    from mailtrack.stores import SQLRecordStore

    def refuse(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        # What PostgreSQL answers to a value beyond its 1 GB per field (SQLSTATE 54000).
        if "huge" in str(parameters) and statement.lstrip().upper().startswith("INSERT"):
            raise errors.ProgramLimitExceeded("total size of value exceeds the maximum allowed")

    with scratch_database("postgresql") as url, SQLRecordStore(url) as store:
        sa.event.listen(store.engine, "before_cursor_execute", refuse)
        with pytest.raises(MessageRefusedError, match=r"message 'huge' of 'support'.*1 GB"):
            store.commit(*create("huge"))
        with pytest.raises(MessageRefusedError, match="1 GB"):
            store.quarantine("support", "huge", b"raw", "too large")
        assert store.commit(*create("small")).record_id is not None
        assert store.imported_uids("support", ["huge", "small"]) == {"small"}
