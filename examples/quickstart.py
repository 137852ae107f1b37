"""Quickstart: import a mailbox into records, with no mail server and no database.

Shows the whole import in a few lines: four realistic messages wait in a
:class:`~mailtrack.testing.FakeMailbox` (a new request, a follow-up naming ``#1`` in its
subject, an HTML mail with a PDF attached, and a Latin-1 message from an old mail client); the
:class:`~mailtrack.Importer` opens records for the new ones, adds the follow-up to record 1 as a
second detail, deletes what it committed from the mailbox, and returns the run report.

Swap ``FakeMailbox`` for the default POP3 fetcher and ``MemoryRecordStore`` for
``SQLRecordStore("sqlite:///mailtrack.db")`` and the same code imports a real mailbox.

Run it with::

    python examples/quickstart.py
"""

from __future__ import annotations

from mailtrack import Importer, MailInterface, MemoryRecordStore
from mailtrack.testing import FakeMailbox, build_message

CUSTOMER = "Carol Customer <carol@customer.example>"


def main() -> None:
    mailbox = FakeMailbox(
        [
            build_message(
                subject="Printer on the 2nd floor jams",
                sender=CUSTOMER,
                text="Hello,\n\nthe printer jams on every second page since Monday.\n\nCarol\n",
                message_id="<request-1@customer.example>",
            ),
            build_message(
                subject="Re: [#1] Printer on the 2nd floor jams",
                sender=CUSTOMER,
                text="It also prints everything in pink now.\n",
                in_reply_to="<request-1@customer.example>",
            ),
            build_message(
                subject="Invoice 2024-117 is wrong",
                sender="Bob Buyer <bob@shop.example>",
                text="Please see the attached invoice.\n",
                html="<p>Please see the <b>attached</b> invoice.</p>",
                attachments=[("invoice-2024-117.pdf", "application/pdf", b"%PDF-1.4\n% a tiny PDF\n")],
            ),
            build_message(
                subject="Kaffeemaschine defekt",
                sender="Jürgen Müller <juergen@firma.example>",
                text="Grüße aus dem Büro: die Kaffeemaschine läuft über.\n",
                charset="iso-8859-1",
            ),
        ]
    )
    store = MemoryRecordStore()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    interface = MailInterface(
        name="support",
        server="pop.example.com",
        login="support@example.com",
        password_env="SUPPORT_POP_PASSWORD",
        project="helpdesk",
        defaults={"priority": "normal", "category": "e-mail"},
    )

    report = importer.run(interface)

    for record in reversed(store.list_records(load_content=True)):
        print(f"#{record.id} [{record.project}] {record.title}  {dict(record.fields)}")
        for detail in record.details:
            files = ", ".join(f"{a.filename} ({a.size} bytes)" for a in detail.attachments) or "no files"
            first_line = detail.text.strip().splitlines()[0] if detail.text.strip() else ""
            print(f"    from {detail.sender}: {first_line!r}; html: {detail.html is not None}; {files}")
    print()
    print(
        f"run of {report.interface!r}: {report.offered} offered: {report.created} new records, "
        f"{report.updated} follow-ups, {report.skipped} skipped by policy, "
        f"{report.already_imported} already imported, {report.quarantined} quarantined, "
        f"{report.left_on_server} left on the server; error: {report.error}"
    )
    print(f"messages left in the mailbox: {len(mailbox)}")


if __name__ == "__main__":
    main()
