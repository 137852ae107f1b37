"""Old mail moved in: ``Importer.import_archive`` (``mailtrack import``) of an mbox file and a
Maildir, with their own dates.

An archive (here an mbox file and a Maildir written by Python's ``mailbox`` module, as a mail
program would) is looked at first without writing anything (``explain_archive``, what
``mailtrack import --dry-run`` prints), then imported with ``history=True``: each record and
detail keeps the Date of its mail and is marked as history, and a reply in the archive joins
the record of the message it answers. A listener of ``on_committed`` leaves history out of its
notifications. Imported a second time, nothing is imported twice.

Run it with::

    python examples/import_archive.py
"""

from __future__ import annotations

import mailbox
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mailtrack import CommitEvent, Importer, ImportPolicy, MailInterface, MailProtocol, SenderPolicy
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import build_message

interface = MailInterface(
    name="archive",
    protocol=MailProtocol.DELIVER,
    project="helpdesk",
    policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
)
question = build_message(
    subject="Printer on fire",
    message_id="<q-2019@example.com>",
    date=datetime(2019, 3, 4, 9, 30, tzinfo=timezone.utc),
)
answer = build_message(
    subject="Re: Printer on fire",
    sender="Support <support@example.com>",
    message_id="<a-2019@example.com>",
    in_reply_to="<q-2019@example.com>",
    date=datetime(2019, 3, 4, 11, 0, tzinfo=timezone.utc),
)
notified: list[str] = []


def notify(event: CommitEvent) -> None:
    if not event.detail.history:  # nobody needs mail about a ticket from 2019
        notified.append(event.detail.subject)


with tempfile.TemporaryDirectory() as folder:
    archive = Path(folder) / "old-mail"
    archive.mkdir()
    box = mailbox.mbox(archive / "Inbox")
    box.add(question)
    box.close()
    maildir = mailbox.Maildir(archive / "Sent")
    maildir.add(answer)
    maildir.close()

    with SQLRecordStore(f"sqlite:///{folder}/mailtrack.db") as store:
        importer = Importer(store=store, on_committed=notify)
        for verdict in importer.explain_archive([str(archive)], interface):
            print(f"dry run: {verdict.key.rsplit('/', 1)[-1]}: {verdict.summary}")
        report = importer.import_archive([str(archive)], interface, history=True)
        print(f"imported: {report.created} record, {report.updated} follow-up")
        (record,) = store.list_records()
        full = store.get_record(record.id)
        opened = f"{full.created_at:%Y-%m-%d %H:%M}"
        print(f"record #{full.id} {full.title!r} opened {opened}, history={full.history}")
        assert full.created_at == datetime(2019, 3, 4, 9, 30, tzinfo=timezone.utc)
        assert [detail.history for detail in full.details] == [True, True]
        again = importer.import_archive([str(archive)], interface, history=True)
        print(f"again: {again.created} new, {again.already_imported} already imported")
        assert (again.created, again.already_imported) == (0, 2)
        assert notified == []
