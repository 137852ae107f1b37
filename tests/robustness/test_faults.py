"""Faults end to end: POP3TestServer + POP3Fetcher + Importer + a SQLite file (and the memory store).

Every test injects faults (the connection drops, QUIT fails, the disk fills up, the server
stalls, a message is poison, UIDs are reused or listed twice, UIDL and LIST disagree), then
runs again without them, and looks at both sides: what the store holds, and what is left in the
server's mailbox. ``_tally.audit`` counts messages lost and duplicated; both must be 0.

(Drops at one place mid-RETR and before the QUIT answer are also in test_importer.py; here the
drop points are spread over the whole RETR answer, and the other faults of issue 5 follow.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
import pytest

from _tally import Audit, audit, record
from mailtrack import (
    Importer,
    ImportPolicy,
    IncomingMessage,
    MailInterface,
    MailParserConverter,
    RecordStore,
    RunReport,
    SenderPolicy,
)
from mailtrack._importing.session import UNCONFIRMED_DELETIONS
from mailtrack.testing import Faults, POP3TestServer, build_message

ANYONE = ImportPolicy(sender_policy=SenderPolicy.ANYONE)
#: An Outlook .msg file (OLE compound document) sent instead of a message: refused on every run.
#: (Without bare CR or LF, which POP3 would turn into CRLF: the quarantined copy is byte-identical.)
OUTLOOK_MSG = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(b for b in range(256) if b not in b"\r\n") * 8 + b"\r\n"
)


def messages(count: int, prefix: str = "message") -> dict[str, bytes]:
    return {
        f"{prefix}-{n}": build_message(subject=f"{prefix} {n}", text=f"body {n}\n" * 40) for n in range(count)
    }


@pytest.fixture(params=["sqlite-file", "memory"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """The stores of these tests (see ``store`` in conftest.py): a SQLite file and memory."""
    kind: str = request.param
    return kind


def interface_of(server: POP3TestServer, **overrides: Any) -> MailInterface:
    values: dict[str, Any] = {"name": "support", "project": "helpdesk", "policy": ANYONE}
    values.update(overrides)
    return server.interface(**values)


def uids_on(server: POP3TestServer) -> list[str]:
    return [uid for uid, _raw in server.mailbox]


def check_exactly_once(
    store: RecordStore, originals: Mapping[str, bytes], server: POP3TestServer, **kwargs: Any
) -> Audit:
    result = audit(store, "support", originals, uids_on(server), **kwargs)
    assert (result.lost, result.duplicated) == ((), ())
    return result


class OnConvert:
    """The real converter, calling *action* just before the *nth* conversion (1-based).

    What *action* changes in the database is in force for the commit of that message. What it
    changes in the server is in force from the next command the server reads: with PIPELINING
    the fetcher may have sent later RETRs already (``pipelining=False`` where that matters).
    """

    def __init__(self, nth: int, action: Callable[[], object]) -> None:
        self.nth = nth
        self.action = action
        self.calls = 0
        self.inner = MailParserConverter()

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        self.calls += 1
        if self.calls == self.nth:
            self.action()
        return self.inner.convert(raw, received_at=received_at)


def recovered(importer: Importer, interface: MailInterface, server: POP3TestServer) -> RunReport:
    """A run after the fault is gone: it must finish without error."""
    server.faults = Faults()
    report = importer.run(interface)
    assert report.error is None, report.error
    return report


# -- the connection drops ------------------------------------------------------------------------


def first_then_the_rest(
    importer: Importer, interface: MailInterface, server: POP3TestServer, *, first: int, left: list[str]
) -> None:
    """The first run creates *first* records and leaves the messages *left* on the server; the
    second run creates one record each for them and empties the mailbox."""
    report = importer.run(interface)
    assert (report.created, report.error) == (first, None)
    assert uids_on(server) == left
    report = importer.run(interface)
    assert (report.created, report.error) == (len(left), None)
    assert server.mailbox == []


def retr_answer_length(raw: bytes) -> int:
    wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return len(b"+OK %d octets\r\n" % len(wire)) + len(wire) + len(b".\r\n")


@pytest.mark.parametrize(
    "where",
    ["status line", "first body byte", "middle", "before the terminating dot", "before the last LF"],
)
def test_connection_dropped_anywhere_in_a_retr_answer_loses_and_doubles_nothing(
    store: RecordStore, where: str
) -> None:
    originals = messages(4)
    second = originals["message-1"]
    size = retr_answer_length(second)
    cut = {
        "status line": 3,
        "first body byte": size - len(second) - 3 + 1,
        "middle": size // 2,
        "before the terminating dot": size - 3,
        "before the last LF": size - 1,
    }[where]
    with POP3TestServer(list(originals.items())) as server:
        interface = interface_of(server)
        importer = Importer(store=store)
        server.faults = Faults(drop_after_bytes=cut, drop_on_message=2)
        record(faults=1)

        first = importer.run(interface)

        assert first.error is not None
        assert "closed the connection" in first.error or "connection" in first.error
        assert first.created == 1
        assert uids_on(server) == list(originals)  # no QUIT: nothing deleted
        assert store.imported_uids("support", list(originals)) == {"message-0"}

        second_run = recovered(importer, interface, server)

        assert (second_run.created, second_run.already_imported) == (3, 1)
        assert server.mailbox == []
        check_exactly_once(store, originals, server)
    assert sorted(record.title for record in store.list_records()) == [f"message {n}" for n in range(4)]


def test_connection_dropped_after_the_server_deleted_but_before_it_answered_quit(store: RecordStore) -> None:
    originals = messages(3)
    with POP3TestServer(list(originals.items()), faults=Faults(drop_after_update=True)) as server:
        interface = interface_of(server)
        importer = Importer(store=store)
        record(faults=1)

        first = importer.run(interface)

        assert first.error == UNCONFIRMED_DELETIONS
        assert first.created == 3
        assert server.mailbox == []  # the server did delete them

        second = recovered(importer, interface, server)

        assert (second.created, second.skipped, second.imported) == (0, 0, 0)
        check_exactly_once(store, originals, server)
    assert len(store.list_records()) == 3


def test_quit_answered_with_err_keeps_the_messages_and_the_next_run_only_deletes_them(
    store: RecordStore,
) -> None:
    originals = messages(3)
    with POP3TestServer(list(originals.items()), faults=Faults(quit_error=True)) as server:
        interface = interface_of(server)
        importer = Importer(store=store)
        record(faults=1)

        first = importer.run(interface)

        assert first.error == UNCONFIRMED_DELETIONS
        assert first.created == 3
        assert uids_on(server) == list(originals)

        second = recovered(importer, interface, server)

        assert (second.created, second.already_imported, second.imported) == (0, 3, 0)
        # Retrieved again only to tell them from new mail under reused UIDs, then deleted.
        assert server.transcripts[-1].commands.count("RETR") == 3
        assert server.mailbox == []
        check_exactly_once(store, originals, server)
    assert len(store.list_records()) == 3


@pytest.mark.parametrize("login_error", ["[IN-USE] mailbox locked", "[SYS/TEMP] try later", "[SYS/PERM] no"])
def test_login_refused_by_a_busy_server_imports_and_deletes_nothing(
    store: RecordStore, login_error: str
) -> None:
    originals = messages(2)
    with POP3TestServer(list(originals.items()), faults=Faults(login_error=login_error)) as server:
        interface = interface_of(server)
        importer = Importer(store=store)
        record(faults=1)

        first = importer.run(interface)

        assert first.error is not None
        assert login_error.split("] ")[1] in first.error
        assert store.list_records() == []
        assert uids_on(server) == list(originals)

        recovered(importer, interface, server)

        assert server.mailbox == []
        check_exactly_once(store, originals, server)


# -- slow and stalled servers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        Faults(stall="connect"),
        Faults(stall="greeting"),
        Faults(stall="retr"),
        Faults(stall="retr", drop_after_bytes=0),
        Faults(delay=1.0),
    ],
    ids=["never greets", "silent after greeting", "stalls mid-RETR", "stalls before RETR answer", "slow"],
)
def test_stalled_or_slow_server_hits_the_timeout_and_nothing_is_deleted(
    store: RecordStore, faults: Faults
) -> None:
    originals = messages(2)
    with POP3TestServer(list(originals.items()), faults=faults) as server:
        interface = interface_of(server, timeout=0.3)
        importer = Importer(store=store)
        record(faults=1)

        first = importer.run(interface)

        assert first.error is not None
        assert "no answer from the server within 0.3 seconds" in first.error
        assert store.list_records() == []
        assert store.list_quarantined() == []
        assert uids_on(server) == list(originals)

        recovered(importer, interface, server)

        assert server.mailbox == []
        check_exactly_once(store, originals, server)


def test_server_stalling_in_the_middle_of_a_run_keeps_what_was_committed_once(store: RecordStore) -> None:
    originals = messages(5)
    # No PIPELINING: one RETR at a time, so that the fault set while the 2nd message is being
    # converted hits the 3rd RETR (pipelined, all five would have been answered already).
    with POP3TestServer(list(originals.items()), pipelining=False) as server:
        interface = interface_of(server, timeout=0.3)

        def stall() -> None:
            server.faults = Faults(stall="retr")

        # Before converting the 2nd message: the 3rd RETR stalls.
        importer = Importer(store=store, converter=OnConvert(2, stall))
        record(faults=1)

        first = importer.run(interface)

        assert first.error is not None
        assert "no answer from the server within 0.3 seconds" in first.error
        assert first.created == 2
        assert uids_on(server) == list(originals)

        importer.converter = MailParserConverter()
        second = recovered(importer, interface, server)

        assert (second.created, second.already_imported) == (3, 2)
        assert server.mailbox == []
        check_exactly_once(store, originals, server)


# -- the store fails -------------------------------------------------------------------------------


def break_database(store: RecordStore, error: str, *, reads_too: bool) -> Callable[[bool], None]:
    """Make the SQLite database fail as it would with a full disk (writes) or when it is gone
    (every statement); returns a switch. The driver's own error goes through the store's own
    error handling, as a real one would."""
    import sqlalchemy as sa

    from mailtrack.stores.sql import SQLRecordStore

    assert isinstance(store, SQLRecordStore)
    broken = [False]

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if broken[0] and (reads_too or verb in {"INSERT", "UPDATE", "DELETE"}):
            raise sqlite3.OperationalError(error)

    sa.event.listen(store.engine, "before_cursor_execute", fail)

    def switch(on: bool) -> None:
        broken[0] = on

    return switch


#: Each message committed on its own, or in the default batches (here: the whole mailbox).
BATCHING = pytest.mark.parametrize("batch_size", [1, Importer().batch_size], ids=["one by one", "batched"])


@BATCHING
@pytest.mark.parametrize(
    ("error", "reads_too"),
    [("database or disk is full", False), ("unable to open database file", True)],
    ids=["disk full", "database gone"],
)
@pytest.mark.parametrize("store_kind", ["sqlite-file"])
def test_store_failing_mid_run_stops_the_run_deletes_only_what_was_committed_and_the_next_run_recovers(
    store: RecordStore, error: str, reads_too: bool, batch_size: int
) -> None:
    sql_store = store
    originals = messages(5)
    switch = break_database(sql_store, error, reads_too=reads_too)
    with POP3TestServer(list(originals.items())) as server:
        interface = interface_of(server)
        # The database breaks before the 3rd message is converted: one by one, two are
        # committed by then; batched, none (the batch would have been committed at the end).
        committed = 2 if batch_size == 1 else 0
        importer = Importer(
            store=sql_store, converter=OnConvert(3, lambda: switch(True)), batch_size=batch_size
        )
        record(faults=1)

        first = importer.run(interface)
        switch(False)

        assert first.error is not None
        assert error in first.error
        assert first.created == committed
        # The report could not be saved either; the caller still gets it, with a note.
        assert any("could not be saved" in note for note in first.notes)
        assert sql_store.list_quarantined() == []
        assert len(sql_store.list_records()) == committed
        assert uids_on(server) == list(originals)[committed:]

        importer.converter = MailParserConverter()
        second = recovered(importer, interface, server)

        assert second.created == 5 - committed
        assert server.mailbox == []
        check_exactly_once(sql_store, originals, server)
    assert len(sql_store.list_records()) == 5


@BATCHING
@pytest.mark.parametrize("store_kind", ["sqlite-file"])
def test_quarantine_copy_that_cannot_be_committed_is_not_deleted(store: RecordStore, batch_size: int) -> None:
    sql_store = store
    originals = {"good": build_message(subject="good"), "poison": OUTLOOK_MSG, "later": build_message()}
    switch = break_database(sql_store, "database or disk is full", reads_too=False)
    policy = attrs.evolve(ANYONE, delete_quarantined=True)
    with POP3TestServer(list(originals.items())) as server:
        interface = interface_of(server, policy=policy)
        # The poison message is the 2nd: the disk is full when its quarantine copy is written.
        # The good one before it is committed by then only if it was committed on its own.
        converter = OnConvert(2, lambda: switch(True))
        importer = Importer(store=sql_store, converter=converter, batch_size=batch_size)
        record(faults=1, bad_inputs=1)

        first = importer.run(interface)
        switch(False)

        assert first.error is not None
        assert "database or disk is full" in first.error
        assert uids_on(server) == (["poison", "later"] if batch_size == 1 else list(originals))
        assert sql_store.list_quarantined() == []

        importer.converter = MailParserConverter()
        recovered(importer, interface, server)

        [held] = sql_store.list_quarantined()
        assert (held.uid, held.raw) == ("poison", OUTLOOK_MSG)
        assert server.mailbox == []  # deleted only now that the quarantine copy is committed
        check_exactly_once(sql_store, originals, server)


# -- poison messages -------------------------------------------------------------------------------


@pytest.mark.parametrize("delete_quarantined", [False, True], ids=["stays", "deleted"])
def test_poison_message_is_quarantined_once_and_not_retried_on_later_runs(
    store: RecordStore, delete_quarantined: bool
) -> None:
    originals = {"before": build_message(subject="before"), "poison": OUTLOOK_MSG, "after": build_message()}
    policy = attrs.evolve(ANYONE, delete_quarantined=delete_quarantined)
    with POP3TestServer(list(originals.items())) as server:
        interface = interface_of(server, policy=policy)
        importer = Importer(store=store)
        record(bad_inputs=1)

        reports = [importer.run(interface) for _ in range(3)]

        assert [(r.created, r.failed, r.error) for r in reports] == [(2, 1, None), (0, 0, None), (0, 0, None)]
        [held] = store.list_quarantined()
        assert (held.uid, held.raw, held.attempts) == ("poison", OUTLOOK_MSG, 1)
        assert "Outlook" in held.error
        retrieved = [t.commands.count("RETR") for t in server.transcripts]
        assert retrieved == [3, 0, 0]
        assert uids_on(server) == ([] if delete_quarantined else ["poison"])
        check_exactly_once(store, originals, server)


# -- UIDs ------------------------------------------------------------------------------------------


def test_uidl_listing_one_uid_twice_leaves_the_second_message_for_a_later_run(store: RecordStore) -> None:
    originals = messages(3)
    with POP3TestServer(list(originals.items()), faults=Faults(duplicate_uid=True)) as server:
        interface = interface_of(server)
        importer = Importer(store=store)
        record(faults=1)

        # The fault stays: with one message left, the server lists its own UID.
        first_then_the_rest(importer, interface, server, first=2, left=["message-2"])
        check_exactly_once(store, originals, server)


@pytest.mark.parametrize("faults", [Faults(uidl_extra=True), Faults(list_extra=True)], ids=["UIDL", "LIST"])
def test_uidl_and_list_disagreeing_imports_the_messages_both_name(store: RecordStore, faults: Faults) -> None:
    originals = messages(3)
    with POP3TestServer(list(originals.items()), faults=faults) as server:
        interface = interface_of(server)
        importer = Importer(store=store)
        record(faults=1)

        report = importer.run(interface)

        assert (report.created, report.error) == (3, None)
        assert server.mailbox == []
        check_exactly_once(store, originals, server)
    assert len(store.list_records()) == 3


def test_mail_arriving_during_a_run_is_imported_by_the_next_run(store: RecordStore) -> None:
    originals = messages(3)
    late = build_message(subject="arrived during the run")
    with POP3TestServer(list(originals.items())) as server:
        interface = interface_of(server)
        importer = Importer(store=store, converter=OnConvert(1, lambda: server.add_message(late, uid="late")))
        record(faults=1)

        first_then_the_rest(importer, interface, server, first=3, left=["late"])
        check_exactly_once(store, {**originals, "late": late}, server)


def test_server_reusing_the_uid_of_a_deleted_message_for_a_new_one_imports_the_new_one(
    store: RecordStore,
) -> None:
    first_message = build_message(subject="first message", message_id="<first@example.com>")
    second_message = build_message(subject="second message", message_id="<second@example.com>")
    with POP3TestServer([("uid-1", first_message)]) as server:
        interface = interface_of(server)
        importer = Importer(store=store)
        importer.run(interface)
        assert server.mailbox == []

        server.add_message(second_message, uid="uid-1")  # RFC 1939 allows reuse once a message is gone
        record(faults=1)
        report = importer.run(interface)

        assert (report.created, report.error) == (1, None)
        assert sorted(record.title for record in store.list_records()) == ["first message", "second message"]
        assert server.mailbox == []


def test_reused_uid_of_a_quarantined_message_deleted_by_policy_imports_the_new_one(
    store: RecordStore,
) -> None:
    policy = attrs.evolve(ANYONE, delete_quarantined=True)
    with POP3TestServer([("uid-1", OUTLOOK_MSG)]) as server:
        interface = interface_of(server, policy=policy)
        importer = Importer(store=store)
        importer.run(interface)
        assert server.mailbox == []

        new = build_message(subject="new message under an old UID")
        server.add_message(new, uid="uid-1")
        record(faults=1, bad_inputs=1)
        report = importer.run(interface)

        assert (report.created, report.error) == (1, None)
        assert [r.title for r in store.list_records()] == ["new message under an old UID"]
        [held] = store.list_quarantined()
        assert held.raw == OUTLOOK_MSG
        assert server.mailbox == []


def test_message_under_a_reused_uid_whose_deletion_failed_is_not_imported_twice(store: RecordStore) -> None:
    with POP3TestServer([("uid-1", build_message(subject="first message"))]) as server:
        interface = interface_of(server)
        importer = Importer(store=store)
        importer.run(interface)
        second_message = build_message(subject="second message")
        server.add_message(second_message, uid="uid-1")
        server.faults = Faults(quit_error=True)
        record(faults=2)

        failed = importer.run(interface)

        assert (failed.created, failed.error) == (1, UNCONFIRMED_DELETIONS)
        assert [uid for uid, _raw in server.mailbox] == ["uid-1"]

        again = recovered(importer, interface, server)

        assert (again.created, again.already_imported) == (0, 1)
        assert sorted(r.title for r in store.list_records()) == ["first message", "second message"]
        assert server.mailbox == []


def test_dropped_machine_mail_whose_deletion_failed_is_deleted_without_a_second_ledger_row(
    store: RecordStore,
) -> None:
    own = build_message(subject="our own notice", headers={"X-Mailtrack-Loop": "helpdesk"})
    policy = attrs.evolve(ANYONE, loop_header_value="helpdesk")
    with POP3TestServer([("own", own)], faults=Faults(quit_error=True)) as server:
        interface = interface_of(server, policy=policy)
        importer = Importer(store=store)
        record(faults=1)

        first = importer.run(interface)
        second = recovered(importer, interface, server)

        assert (first.skipped, first.imported, first.classes) == (1, 1, {"own": 1})
        assert (second.already_imported, second.imported, second.created) == (1, 0, 0)
        assert store.list_records() == []
        assert server.mailbox == []
