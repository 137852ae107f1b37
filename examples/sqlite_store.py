"""Exactly once with a SQLite file: a crash between import and deletion loses nothing, doubles nothing.

Shows the guarantee the store's ledger gives. A POP3 test server holds three messages. The first
run imports them, but the connection dies at QUIT, so the server deletes nothing (as a real
server would). A second run, from a new store object on the same SQLite file (as after a
restart), finds the three messages again: the ledger knows them, so they are deleted on the
server and not imported a second time. Then a new message arrives and a third run imports just
that one.

Run it with (needs ``pip install 'mailtrack[sql]'``)::

    python examples/sqlite_store.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mailtrack import Importer, MailInterface
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import Faults, POP3TestServer, build_message


def run_once(database: Path, interface: MailInterface, label: str) -> None:
    """One import with a fresh store object, as a new process would make it."""
    with SQLRecordStore(f"sqlite:///{database}") as store:
        report = Importer(store=store).run(interface)
        records = store.list_records()
    print(
        f"{label}: {report.imported} imported, {report.skipped} skipped, "
        f"{len(records)} records in the store; error: {report.error}"
    )


def main() -> None:
    messages = [
        build_message(subject="Printer jams", message_id="<1@customer.example>"),
        build_message(subject="VPN drops every hour", message_id="<2@customer.example>"),
        build_message(subject="Re: [#1] Printer jams", message_id="<3@customer.example>"),
    ]
    with tempfile.TemporaryDirectory() as folder, POP3TestServer(messages) as server:
        database = Path(folder) / "tracker.db"
        interface = server.interface(name="support")

        server.faults = Faults(drop_after_dele=True)  # the connection dies at QUIT
        run_once(database, interface, "run 1 (connection lost at QUIT)")
        print(f"  messages still on the server: {len(server.mailbox)}")
        assert len(server.mailbox) == 3

        server.faults = Faults()
        run_once(database, interface, "run 2 (after a restart)")
        print(f"  messages still on the server: {len(server.mailbox)}")
        assert server.mailbox == []

        server.add_message(
            build_message(subject="Re: [#2] VPN drops every hour", message_id="<4@customer.example>")
        )
        run_once(database, interface, "run 3 (one new message)")

        with SQLRecordStore(f"sqlite:///{database}") as store:
            for record in reversed(store.list_records()):
                print(f"  #{record.id} {record.title}: {len(record.details)} detail(s)")
            assert [len(record.details) for record in store.list_records()] == [2, 2]


if __name__ == "__main__":
    main()
