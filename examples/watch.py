"""Keeping a help desk up to date with :meth:`mailtrack.Importer.watch`.

``watch`` keeps importing until :meth:`~mailtrack.Importer.stop` is called: IMAP folders whose
server offers IDLE within seconds of new mail (``protocol="imap"``), every other mailbox at
``every`` seconds. The interfaces are asked for again every ``refresh`` seconds, so a ticket
system can add, change or disable mailboxes while it runs (here: a second mailbox added after the
first report). The reports come to ``on_report``.

The mailboxes here are :class:`~mailtrack.testing.FakeMailbox` objects (no mail server needed),
so they are polled; with a real IMAP server, an interface like ``IMAP_EXAMPLE`` below is watched
over IDLE. A host that runs ``watch`` as a service stops it from a SIGTERM handler::

    signal.signal(signal.SIGTERM, lambda signum, frame: importer.stop())

Run it with::

    python examples/watch.py
"""

from __future__ import annotations

from mailtrack import Importer, MailInterface, MailProtocol, MemoryRecordStore, RunReport, Security
from mailtrack.abc import Fetcher
from mailtrack.testing import FakeMailbox, build_message

#: What an IMAP interface looks like (not used below: it needs a real server).
IMAP_EXAMPLE = MailInterface(
    name="billing",
    protocol=MailProtocol.IMAP,
    server="imap.example.com",
    login="billing@example.com",
    password_env="BILLING_PASSWORD",
    security=Security.SSL,
    folder="INBOX",
    after_import="move:Imported",
)


def main() -> None:
    mailboxes = {
        "support": FakeMailbox([build_message(subject="Printer on fire")]),
        "sales": FakeMailbox([build_message(subject="Quote for 40 chairs")]),
    }
    interfaces = [MailInterface(name="support", server="pop.example.com", login="support")]

    def fetcher_for(interface: MailInterface) -> Fetcher:
        return mailboxes[interface.name].fetcher(interface)

    store = MemoryRecordStore()
    importer = Importer(store=store, fetcher_factory=fetcher_for)

    def on_report(report: RunReport) -> None:
        print(f"{report.interface}: {report.created} new record(s)")
        if report.interface == "support":
            # The ticket system adds a mailbox while the watch runs.
            interfaces.append(MailInterface(name="sales", server="pop.example.com", login="sales"))
        if report.interface == "sales":
            importer.stop()  # in a service: from a SIGTERM handler

    importer.watch(lambda: list(interfaces), every=60.0, refresh=0.1, on_report=on_report)
    titles = sorted(record.title for record in store.list_records())
    print("records:", titles)
    assert titles == ["Printer on fire", "Quote for 40 chairs"]


if __name__ == "__main__":
    main()
