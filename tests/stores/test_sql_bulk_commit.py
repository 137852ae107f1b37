"""The SQL store commits a batch in a handful of statements, with the results, records, details,
attachments, field changes and ledger rows that committing its items one by one gives."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")

import attrs
import sqlalchemy as sa

from _sql_databases import empty_tables
from mailtrack import (
    AppendToRecord,
    ContentDigest,
    CreateRecord,
    ImportAction,
    IncomingMessage,
    SkipMessage,
)
from mailtrack.stores import SQLRecordStore
from mailtrack.stores.sql import _schema as tables
from mailtrack.testing._builders import ManualClock, make_attachment, make_incoming

Items = list[tuple[str, str, ImportAction]]


def _batch(open_record: int) -> Items:
    """A batch whose items depend on each other and on a stored record (#*open_record*)."""
    mail = make_incoming(message_id="twice@example.com", subject="Paper jam")
    with_files = make_incoming(
        message_id="files@example.com",
        attachments=[make_attachment(b"%PDF-1.4 one", filename="a.pdf"), make_attachment(b"\x00" * 300)],
    )
    return [
        (
            "support",
            "u1",
            CreateRecord(message=mail, project="default", title="Paper jam", fields={"a": "1"}),
        ),
        ("support", "u2", CreateRecord(message=with_files, project="default", title="Files")),
        (
            "support",
            "u3",
            AppendToRecord(
                message=make_incoming(message_id="m1@example.com"),
                record_id=open_record,
                set_fields={"s": "w"},
            ),
        ),
        (
            "support",
            "u4",
            AppendToRecord(
                message=make_incoming(message_id="m2@example.com"),
                record_id=open_record,
                set_fields={"s": "c"},
            ),
        ),
        (
            "support",
            "u5",
            AppendToRecord(message=make_incoming(message_id="m3@example.com"), record_id=open_record),
        ),
        ("sales", "u1", CreateRecord(message=mail, project="default", title="Paper jam again")),
        (
            "support",
            "u1",
            CreateRecord(
                message=make_incoming(message_id="m4@example.com"), project="default", title="Reused UID"
            ),
        ),
        ("support", "u6", SkipMessage(reason="bounce")),
        (
            "support",
            "u7",
            CreateRecord(
                message=make_incoming(message_id="m5@example.com"),
                project="p",
                title="T",
                set_fields={"x": "y"},
            ),
        ),
        ("support", "u8", AppendToRecord(message=mail, record_id=open_record)),  # a duplicate first
        # Content digests: the same content again in the batch, after a skip, through another
        # interface, and content the ledger held before the batch.
        (
            "support",
            "u9",
            CreateRecord(message=_incoming("m10"), project="p", title="C", digest=_digest("1")),
        ),
        (
            "support",
            "u10",
            CreateRecord(message=_incoming("m11"), project="p", title="C", digest=_digest("1")),
        ),
        ("support", "u11", SkipMessage(reason="bounce", digest=_digest("2"))),
        (
            "support",
            "u12",
            CreateRecord(message=_incoming("m12"), project="p", title="C", digest=_digest("2")),
        ),
        ("sales", "u13", CreateRecord(message=_incoming("m13"), project="p", title="C", digest=_digest("1"))),
        (
            "support",
            "u14",
            AppendToRecord(message=_incoming("m15"), record_id=open_record, digest=_digest("3")),
        ),
    ]


def _incoming(name: str) -> IncomingMessage:
    return make_incoming(message_id=f"{name}@example.com")


def _digest(digit: str) -> ContentDigest:
    return ContentDigest(sha256=digit * 64, listed_size=100)


def _state(store: SQLRecordStore) -> dict[str, Any]:
    with store.engine.connect() as conn:
        ledger = sorted(
            tuple(row)[1:]
            for row in conn.execute(sa.select(tables.ledger).order_by(tables.ledger.c.id)).all()
        )
    return {"records": store.list_records(), "ledger": ledger}


def _run(store: SQLRecordStore, *, bulk: bool) -> tuple[list[Any], dict[str, Any]]:
    opened = store.commit(
        "support",
        "u0",
        CreateRecord(message=make_incoming(message_id="m6@example.com"), project="default", title="Open"),
    )
    assert opened.record_id is not None
    store.commit(
        "support",
        "u0b",
        AppendToRecord(
            message=make_incoming(message_id="m7@example.com"),
            record_id=opened.record_id,
            set_fields={"s": "o"},
        ),
    )
    store.commit(
        "support", "u0c", CreateRecord(message=_incoming("m14"), project="p", title="D", digest=_digest("3"))
    )
    items = _batch(opened.record_id)
    results = store.commit_many(items) if bulk else [store.commit(*item) for item in items]
    return results, _state(store)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.integration),
        pytest.param("mariadb", marks=pytest.mark.integration),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> sa.Engine:
    if request.param == "sqlite":
        return sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


def test_a_batch_gives_what_its_items_give_one_by_one(engine: sa.Engine) -> None:
    outcomes = []
    for bulk in (False, True):
        SQLRecordStore(engine).close()  # the tables (they exist already on the servers)
        empty_tables(engine)
        with SQLRecordStore(engine, clock=ManualClock()) as store:
            outcomes.append(_run(store, bulk=bulk))
    (one_by_one, one_state), (batched, batch_state) = outcomes
    assert [result.outcome.value for result in batched] == [
        "created",
        "created",
        "appended",
        "appended",
        "appended",
        "duplicate",
        "already_imported",
        "skipped",
        "created",
        "duplicate",
        "created",  # u9
        "duplicate",  # u10: u9's content
        "skipped",  # u11
        "skipped",  # u12: u11's content, skipped again
        "created",  # u13: the same content through another interface
        "duplicate",  # u14: content the ledger held before the batch
    ]
    assert batched[11].detail_id == batched[10].detail_id
    assert batched == one_by_one
    assert batch_state == one_state
    record = next(record for record in batch_state["records"] if record.title == "Open")
    assert [detail.field_changes for detail in record.details] == [
        {},
        {"s": (None, "o")},
        {"s": ("o", "w")},
        {"s": ("w", "c")},
        {},
    ]
    assert record.fields == {"s": "c"}


def test_a_batch_takes_the_same_statements_whatever_its_size(tmp_path: Path) -> None:
    def count(size: int, name: str) -> int:
        engine = sa.create_engine(f"sqlite:///{tmp_path / name}")
        seen: list[str] = []
        with SQLRecordStore(engine) as store:
            opened = store.commit(
                "x",
                "open",
                CreateRecord(message=make_incoming(message_id="m8@example.com"), project="p", title="t"),
            )
            assert opened.record_id is not None
            items: Items = []
            for n in range(size):
                message = make_incoming(attachments=[make_attachment(b"data %d" % n)])
                items.append(("x", f"c{n}", CreateRecord(message=message, project="p", title="t")))
                items.append(
                    (
                        "x",
                        f"a{n}",
                        AppendToRecord(
                            message=make_incoming(message_id=f"a{n}@example.com"),
                            record_id=opened.record_id,
                            set_fields={"n": str(n)},
                        ),
                    )
                )
                items.append(("x", f"s{n}", SkipMessage(reason="bounce")))
            sa.event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
            results = store.commit_many(items)
            assert len(results) == 3 * size
            assert len(store.get_record(opened.record_id).details) == size + 1
        engine.dispose()
        return len(seen)

    assert count(5, "small.db") == count(60, "large.db")


def _old(name: str, day: int) -> IncomingMessage:
    """Old mail moved in (``history``): its time is its Date."""
    moment = datetime(2020, 1, day, 9, 0, tzinfo=timezone.utc)
    return attrs.evolve(_incoming(name), history=True, received_at=moment, sent_at=moment)


def _history_batches(open_record: int) -> list[Items]:
    return [
        # Old mail opening records beside new mail (the batch is written in bulk) ...
        [
            ("support", "h1", CreateRecord(message=_old("h1", 2), project="p", title="old")),
            ("support", "h2", CreateRecord(message=_incoming("h2"), project="p", title="new")),
            ("support", "h3", AppendToRecord(message=_incoming("h3"), record_id=open_record)),
        ],
        # ... and old mail appended to a record (its updated_at moves only forward).
        [
            ("support", "h4", AppendToRecord(message=_old("h4", 3), record_id=open_record)),
            ("support", "h5", CreateRecord(message=_old("h5", 4), project="p", title="old too")),
        ],
    ]


def test_old_mail_in_a_batch_gives_what_it_gives_one_by_one(engine: sa.Engine) -> None:
    outcomes = []
    for bulk in (False, True):
        SQLRecordStore(engine).close()
        empty_tables(engine)
        clock = ManualClock()
        with SQLRecordStore(engine, clock=clock) as store:
            opened = store.commit(
                "support", "h0", CreateRecord(message=_incoming("h0"), project="p", title="o")
            )
            assert opened.record_id is not None
            results = []
            for items in _history_batches(opened.record_id):
                clock.advance(60)
                results += store.commit_many(items) if bulk else [store.commit(*item) for item in items]
            outcomes.append((results, _state(store)))
    (one_by_one, one_state), (batched, batch_state) = outcomes
    assert batched == one_by_one
    assert batch_state == one_state
    by_title = {record.title: record for record in batch_state["records"]}
    assert by_title["old"].history
    assert by_title["old"].created_at.year == 2020
    assert not by_title["new"].history
    assert by_title["o"].updated_at.year == 2024  # moved by new mail, not back by old mail
