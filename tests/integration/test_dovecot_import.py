"""Importing from a real Dovecot through mailtrack.Importer into MemoryRecordStore.

Delete mode empties the server of everything the store took (quarantined messages stay);
leave_copy keeps everything on the server, and a second run imports nothing twice.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from _dovecot import Mailbox
from mailtrack import Importer, MemoryRecordStore, Security
from mailtrack.testing import build_message

pytestmark = pytest.mark.integration

ATTACHMENT_SIZE = 5 * 1024 * 1024
LONG_LINE = "".join(f"{n:04d} " for n in range(2000))  # 10,000 characters, no break
CORPORA = ("cpython-test-email", "mail-parser")


@pytest.fixture(scope="module")
def attachments() -> dict[str, bytes]:
    """Two 5 MB files of random bytes (seeded: the same on every run)."""
    rng = random.Random(20240506)
    return {f"scan-{number}.bin": rng.randbytes(ATTACHMENT_SIZE) for number in range(2)}


def deliver_generated(mailbox: Mailbox, attachments: dict[str, bytes]) -> dict[str, str]:
    """The long-line message and one message per 5 MB attachment; returns file name → subject."""
    delivered = {}
    subject = "A very long line"
    raw = build_message(subject=subject, text=f"Before\n{LONG_LINE}\nafter\n", message_id="long@example.com")
    delivered[mailbox.deliver(raw, "long")] = subject
    for number, (filename, content) in enumerate(attachments.items()):
        subject = f"Scanned document {number}"
        raw = build_message(
            subject=subject,
            text="The scan is attached.\n",
            attachments=[(filename, "application/octet-stream", content)],
            message_id=f"scan-{number}@example.com",
        )
        delivered[mailbox.deliver(raw, filename)] = subject
    return delivered


def deliver_corpora(mailbox: Mailbox, corpora_dir: Path) -> dict[str, str]:
    """Every file of the corpora; returns Maildir file name → corpus file name."""
    delivered = {}
    for corpus in CORPORA:
        files = sorted(path for path in (corpora_dir / corpus).iterdir() if path.is_file())
        assert files, f"{corpora_dir / corpus} holds no files"
        for path in files:
            delivered[mailbox.deliver(path.read_bytes(), path.name)] = path.name
    return delivered


def check_generated_records(store: MemoryRecordStore, attachments: dict[str, bytes]) -> None:
    details = {
        detail.subject: detail
        for record in store.list_records(load_content=True)
        for detail in record.details
    }
    assert LONG_LINE in details["A very long line"].text
    for number, (filename, content) in enumerate(attachments.items()):
        (attachment,) = details[f"Scanned document {number}"].attachments
        assert attachment.filename == filename
        assert attachment.size == ATTACHMENT_SIZE
        assert attachment.content == content


def details_and_quarantine(store: MemoryRecordStore) -> tuple[list[str], list[tuple[str, int]]]:
    message_ids = [detail.message_id for record in store.list_records() for detail in record.details]
    quarantined = [(entry.uid, entry.attempts) for entry in store.list_quarantined()]
    return message_ids, quarantined


@pytest.mark.slow
def test_delete_mode_empties_the_server_and_keeps_attachments_intact(
    mailbox: Mailbox, attachments: dict[str, bytes]
) -> None:
    deliver_generated(mailbox, attachments)
    store = MemoryRecordStore()
    report = Importer(store=store).run(mailbox.interface(Security.STARTTLS))
    assert report.error is None, report.error
    assert (report.imported, report.created, report.failed) == (3, 3, 0)
    assert mailbox.files() == set()
    check_generated_records(store, attachments)


@pytest.mark.slow
def test_leave_copy_keeps_everything_and_imports_each_message_once(
    mailbox: Mailbox, attachments: dict[str, bytes]
) -> None:
    delivered = deliver_generated(mailbox, attachments)
    store = MemoryRecordStore()
    importer = Importer(store=store)
    interface = mailbox.interface(Security.SSL, leave_copy=True)

    first = importer.run(interface)
    assert first.error is None, first.error
    assert (first.imported, first.created) == (3, 3)
    assert mailbox.files() == set(delivered)
    check_generated_records(store, attachments)
    after_first = details_and_quarantine(store)

    second = importer.run(interface)
    assert second.error is None, second.error
    assert (second.imported, second.created, second.already_imported) == (0, 0, 3)
    assert mailbox.files() == set(delivered)
    assert details_and_quarantine(store) == after_first
    assert sorted(after_first[0]) == sorted({"long@example.com", "scan-0@example.com", "scan-1@example.com"})


@pytest.mark.slow
def test_corpora_in_delete_mode_leave_only_the_quarantined_on_the_server(
    mailbox: Mailbox, corpora_dir: Path
) -> None:
    delivered = deliver_corpora(mailbox, corpora_dir)
    store = MemoryRecordStore()
    report = Importer(store=store).run(mailbox.interface(Security.SSL))
    assert report.error is None, report.error
    # Every message ends as a record (or a duplicate of one) or in the quarantine.
    assert report.imported + report.already_imported + report.quarantined == len(delivered)
    assert report.offered == len(delivered)
    quarantined = store.list_quarantined()
    assert len(quarantined) == report.failed
    left = {delivered[name] for name in mailbox.files()}
    assert len(left) == len(quarantined)
    assert "mail_outlook_1.msg" in left
    # What stays on the server is exactly what the quarantine holds.
    kept = {
        (corpora_dir / corpus / name).read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n")
        for corpus in CORPORA
        for name in left
        if (corpora_dir / corpus / name).is_file()
    }
    assert {entry.raw.replace(b"\r\n", b"\n").rstrip(b"\n") for entry in quarantined} == kept


@pytest.mark.slow
def test_corpora_with_leave_copy_twice_import_each_message_once(mailbox: Mailbox, corpora_dir: Path) -> None:
    delivered = deliver_corpora(mailbox, corpora_dir)
    store = MemoryRecordStore()
    importer = Importer(store=store)
    interface = mailbox.interface(Security.NONE, leave_copy=True)

    first = importer.run(interface)
    assert first.error is None, first.error
    assert first.imported + first.already_imported + first.quarantined == len(delivered)
    assert first.offered == len(delivered)
    after_first = details_and_quarantine(store)
    message_ids, quarantined = after_first
    assert len(message_ids) == len(set(message_ids))
    assert len(quarantined) == first.failed

    second = importer.run(interface)
    assert second.error is None, second.error
    assert (second.imported, second.created, second.updated, second.failed) == (0, 0, 0, 0)
    # Known by the ledger, or quarantined by the first run and left on the server.
    assert (second.already_imported, second.left_on_server) == (
        len(delivered) - len(quarantined),
        len(quarantined),
    )
    assert mailbox.files() == set(delivered)
    assert details_and_quarantine(store) == after_first
