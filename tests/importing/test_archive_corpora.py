"""Real mail in archives: the third-party corpora written into an mbox file and a Maildir by
Python's ``mailbox`` module, imported; every message ends once, as a record or quarantined, and
becomes what the POP3 path makes of the same message."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from mailtrack import Importer, ImportPolicy, MailInterface, MailProtocol, RecordStore, SenderPolicy
from mailtrack.stores import MemoryRecordStore
from mailtrack.testing import FakeMailbox

POLICY = ImportPolicy(sender_policy=SenderPolicy.ANYONE)


def corpus(corpora_dir: Path) -> list[bytes]:
    files = sorted(
        path for folder in ("cpython-test-email", "mail-parser") for path in (corpora_dir / folder).iterdir()
    )
    return [path.read_bytes() for path in files if path.suffix != ".msg"]


def details(store: RecordStore) -> list[tuple[str, str, str]]:
    """What the details hold; a Message-ID mailtrack derived from the content (the mail had
    none) is left out: it depends on the line ends the message came with."""
    return sorted(
        (
            "" if detail.message_id.endswith("@mailtrack.invalid") else detail.message_id,
            detail.subject,
            detail.text,
        )
        for record in store.list_records()
        for detail in store.get_record(record.id).details
    )


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_the_corpora_in_an_archive_become_what_pop3_makes_of_them(
    corpora_dir: Path, tmp_path: Path, kind: str
) -> None:
    raws = corpus(corpora_dir)
    box: mailbox.Mailbox[mailbox.Message] = (
        mailbox.mbox(tmp_path / "corpus.mbox") if kind == "mbox" else mailbox.Maildir(tmp_path / "Maildir")
    )
    for raw in raws:
        box.add(raw)
    box.close()
    archived = MemoryRecordStore()
    interface = MailInterface(name="archive", protocol=MailProtocol.DELIVER, policy=POLICY)
    report = Importer(store=archived).import_archive([str(tmp_path)], interface)
    assert report.error is None, report
    handled = report.created + report.updated + report.skipped + report.already_imported + report.quarantined
    assert handled == len(raws) == report.offered
    assert len(archived.list_quarantined()) == report.quarantined
    # The same messages by POP3.
    polled = MemoryRecordStore()
    fetched = FakeMailbox([raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for raw in raws])
    pop3 = MailInterface(
        name="pop", server="pop.example.com", login="x", policy=POLICY, max_messages_per_run=None
    )
    run = Importer(store=polled, fetcher_factory=fetched.fetcher).run(pop3)
    assert (run.created, run.quarantined) == (report.created, report.quarantined)
    assert details(archived) == details(polled)
    # Imported again: nothing new.
    again = Importer(store=archived).import_archive([str(tmp_path)], interface)
    assert (again.created, again.updated, again.already_imported) == (0, 0, len(raws) - report.quarantined)


def test_the_outlook_file_in_a_folder_is_named_not_imported(corpora_dir: Path) -> None:
    interface = MailInterface(name="archive", protocol=MailProtocol.DELIVER, policy=POLICY)
    msg = corpora_dir / "mail-parser" / "mail_outlook_1.msg"
    report = Importer().import_archive([str(msg)], interface)
    assert report.created == 0
    assert report.error is None
    assert report.notes == (f"{msg}: no mail: it does not start with a header line: skipped",)
