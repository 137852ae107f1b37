"""Attachments an interface refuses (by size, type or extension): noted on the detail, kept in
the quarantine, or the whole message quarantined, as configured; never dropped without a trace."""

from __future__ import annotations

import pytest

from mailtrack import (
    AttachmentAction,
    AttachmentLimits,
    ConfigError,
    Detail,
    Importer,
    ImportPolicy,
    MailInterface,
    MailtrackError,
    RecordStore,
    RefusedAttachment,
    SenderPolicy,
    load_config,
)
from mailtrack.testing import FakeMailbox, build_message

PDF = ("report.pdf", "application/pdf", b"%PDF-1.4 " + bytes(200))
EXE = ("invoice.pdf.EXE. ", "application/octet-stream", b"MZ" + bytes(100))
VIDEO = ("holiday.mp4", "video/mp4", bytes(300))
BIG = ("scan.tiff", "image/tiff", bytes(5000))


def interface(**limits: object) -> MailInterface:
    return MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
        attachments=AttachmentLimits(**limits),  # type: ignore[arg-type]
    )


def run(store: RecordStore, mailbox_interface: MailInterface, *attachments: tuple[str, str, bytes]) -> bytes:
    raw = build_message(subject="Files", message_id="<files@example.com>", attachments=attachments)
    mailbox = FakeMailbox([raw])
    report = Importer(store=store, fetcher_factory=mailbox.fetcher).run(mailbox_interface)
    assert report.error is None
    return raw


def only_detail(store: RecordStore) -> Detail:
    (record,) = store.list_records()
    (detail,) = record.details
    return detail


def test_without_limits_every_attachment_is_kept(store: RecordStore) -> None:
    run(store, interface(), PDF, EXE, VIDEO, BIG)
    detail = only_detail(store)
    assert len(detail.attachments) == 4
    assert detail.refused_attachments == ()


def test_refused_attachments_are_replaced_by_a_note_on_the_detail(store: RecordStore) -> None:
    limits = interface(max_bytes=1000, refuse_types=["video/*"], refuse_extensions=["exe"])
    run(store, limits, PDF, EXE, VIDEO, BIG)
    detail = only_detail(store)
    assert [attachment.filename for attachment in detail.attachments] == ["report.pdf"]
    refused = {note.filename: note for note in detail.refused_attachments}
    assert set(refused) == {"invoice.pdf.EXE", "holiday.mp4", "scan.tiff"}
    assert refused["invoice.pdf.EXE"].reason == "its name ends in .exe (attachments.refuse_extensions)"
    assert refused["holiday.mp4"].reason == "its type video/mp4 is in attachments.refuse_types"
    assert refused["scan.tiff"].reason == "larger than attachments.max_bytes (1000 bytes)"
    assert refused["scan.tiff"].size == 5000
    assert len(refused["scan.tiff"].sha256) == 64
    assert not any(note.quarantined for note in detail.refused_attachments)
    assert store.list_quarantined() == []


def test_keep_in_quarantine_imports_without_the_file_and_keeps_the_raw_message(store: RecordStore) -> None:
    limits = interface(refuse_extensions=[".exe"], on_refused=AttachmentAction.KEEP_IN_QUARANTINE)
    raw = run(store, limits, PDF, EXE)
    detail = only_detail(store)
    assert [attachment.filename for attachment in detail.attachments] == ["report.pdf"]
    (note,) = detail.refused_attachments
    assert note.quarantined
    (kept,) = store.list_quarantined()
    assert (kept.uid, kept.raw) == ("uid-1#refused-attachments", raw)
    assert "invoice.pdf.EXE" in kept.error
    assert store.is_imported("support", "uid-1")
    with pytest.raises(MailtrackError, match="only keeps the refused attachments"):
        Importer(store=store).retry_quarantined(kept.id, interface=limits)


def test_quarantine_message_keeps_the_whole_message_out(store: RecordStore) -> None:
    limits = interface(
        refuse_types=["application/octet-stream"], on_refused=AttachmentAction.QUARANTINE_MESSAGE
    )
    raw = run(store, limits, PDF, EXE)
    assert store.list_records() == []
    (kept,) = store.list_quarantined()
    assert (kept.uid, kept.raw) == ("uid-1", raw)
    assert "invoice.pdf.EXE (application/octet-stream, 102 bytes) refused" in kept.error
    assert "attachments.on_refused = 'quarantine_message'" in kept.error
    # A human's retry imports it with the note, and keeps the raw message for the file.
    Importer(store=store).retry_quarantined(kept.id, interface=limits)
    detail = only_detail(store)
    assert [attachment.filename for attachment in detail.attachments] == ["report.pdf"]
    assert [note.filename for note in detail.refused_attachments] == ["invoice.pdf.EXE"]
    (still_kept,) = store.list_quarantined()
    assert (still_kept.uid, still_kept.raw) == ("uid-1#refused-attachments", raw)


def test_the_limits_are_read_from_mailtrack_toml() -> None:
    config = load_config(
        """
        [[interfaces]]
        name = "support"
        server = "pop.example.com"
        login = "support"

        [interfaces.attachments]
        max_bytes = 10485760
        refuse_types = ["application/x-msdownload", "video/*"]
        refuse_extensions = ["EXE", ".js"]
        on_refused = "keep_in_quarantine"
        """,
        format="toml",
    )
    assert config.interfaces[0].attachments == AttachmentLimits(
        max_bytes=10485760,
        refuse_types=("application/x-msdownload", "video/*"),
        refuse_extensions=(".exe", ".js"),
        on_refused=AttachmentAction.KEEP_IN_QUARANTINE,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"on_refused": "drop"}, "interfaces[0].attachments.on_refused: 'drop' is not one of"),
        ({"max_bytes": 0}, "max_bytes: must be positive"),
        ({"refuse_types": ["exe"]}, "refuse_types: 'exe' is no content type"),
        ({"refuse_extensions": ["."]}, "refuse_extensions: '.' is no file name extension"),
    ],
)
def test_wrong_limits_are_refused_naming_the_setting(settings: dict[str, object], message: str) -> None:
    data = {"interfaces": [{"name": "s", "server": "pop.example.com", "login": "s", "attachments": settings}]}
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(data)


def test_a_refused_attachment_reads_in_plain_words() -> None:
    note = RefusedAttachment(
        filename="setup.exe", content_type="application/x-msdownload", size=10, reason="why", quarantined=True
    )
    assert str(note) == (
        "setup.exe (application/x-msdownload, 10 bytes) refused: why; the message is kept in the quarantine"
    )
