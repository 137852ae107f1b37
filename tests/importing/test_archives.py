"""Importer.import_archive and explain_archive: .eml files, mbox files, Maildir folders, folders.

The archives are written by Python's ``mailbox`` module (Dovecot's own delivery is in
tests/integration/test_dovecot_archive.py); bad input is made on the spot.
"""

from __future__ import annotations

import mailbox
import os
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import pytest

from mailtrack import (
    CommitEvent,
    DeliveryOutcome,
    Importer,
    ImportPolicy,
    MailInterface,
    MailProtocol,
    MemoryRecordStore,
    RecordStore,
    SenderPolicy,
)
from mailtrack.exceptions import MessageRefusedError, StoreError
from mailtrack.models import CommitResult, ImportAction, QuarantinedMessage
from mailtrack.testing import FakeMailbox, build_message

INTERFACE = MailInterface(
    name="archive",
    protocol=MailProtocol.DELIVER,
    project="old",
    policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
)


def lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


def message(number: int, **overrides: object) -> bytes:
    settings: dict[str, object] = {
        "subject": f"archived {number}",
        "message_id": f"archived-{number}@example.com",
        "text": f"message {number}\nFrom the start of the line, unquoted by the writer\n",
    }
    settings.update(overrides)
    return lf(build_message(**settings))  # type: ignore[arg-type]


def write_mbox(path: Path, raws: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    box = mailbox.mbox(path)
    for raw in raws:
        box.add(raw)
    box.close()
    return path


def write_maildir(path: Path, raws: list[bytes]) -> Path:
    box = mailbox.Maildir(path)
    for raw in raws:
        box.add(raw)
    box.close()
    return path


def subjects(store: RecordStore) -> list[str]:
    return sorted(
        detail.subject for record in store.list_records() for detail in store.get_record(record.id).details
    )


def test_mbox_maildir_and_eml_are_imported_each_once(store: RecordStore, tmp_path: Path) -> None:
    write_mbox(tmp_path / "old.mbox", [message(n) for n in range(5)])
    write_maildir(tmp_path / "Maildir", [message(n) for n in range(5, 8)])
    (tmp_path / "loose.eml").write_bytes(
        build_message(subject="archived 8", message_id="archived-8@example.com")
    )
    report = Importer(store=store).import_archive([str(tmp_path)], INTERFACE)
    assert (report.created, report.quarantined, report.error) == (9, 0, None), report
    assert subjects(store) == [f"archived {n}" for n in range(9)]
    again = Importer(store=store).import_archive([str(tmp_path)], INTERFACE)
    assert (again.created, again.already_imported) == (0, 9)
    assert len(store.list_records()) == 9


def test_mbox_from_quoting_is_undone(store: RecordStore, tmp_path: Path) -> None:
    raw = message(1)
    write_mbox(tmp_path / "quoted.mbox", [raw])
    assert b"\n>From the start" in (tmp_path / "quoted.mbox").read_bytes()  # mailbox quoted it
    Importer(store=store).import_archive([str(tmp_path / "quoted.mbox")], INTERFACE)
    (record,) = store.list_records()
    (detail,) = store.get_record(record.id).details
    assert "\nFrom the start of the line" in detail.text
    assert ">From" not in detail.text


def test_the_same_message_by_another_way_is_not_imported_twice(store: RecordStore, tmp_path: Path) -> None:
    raw = message(1)
    importer = Importer(store=store)
    assert importer.deliver(INTERFACE, raw).outcome is DeliveryOutcome.CREATED
    write_mbox(tmp_path / "a.mbox", [raw])
    write_mbox(tmp_path / "copy.mbox", [raw])  # the same archive twice, under another path
    report = importer.import_archive([str(tmp_path)], INTERFACE)
    assert (report.created, report.already_imported) == (0, 2)
    assert len(store.list_records()) == 1


def test_a_maildir_message_that_moved_and_got_flags_is_not_imported_again(
    store: RecordStore, tmp_path: Path
) -> None:
    folder = write_maildir(tmp_path / "Maildir", [message(1), message(2)])
    Importer(store=store).import_archive([str(folder)], INTERFACE)
    for name in os.listdir(folder / "new"):  # a mail program read them
        os.rename(folder / "new" / name, folder / "cur" / f"{name}:2,S")
    again = Importer(store=store).import_archive([str(folder)], INTERFACE)
    assert (again.created, again.already_imported) == (0, 2)


def test_maildir_subfolders_are_imported_and_the_servers_files_left_alone(
    store: RecordStore, tmp_path: Path
) -> None:
    folder = write_maildir(tmp_path / "Maildir", [message(1)])
    write_maildir(folder / ".Sent", [message(2)])
    (folder / "dovecot-uidlist").write_bytes(b"3 V1 N2\n")
    (folder / "dovecot.index.log").write_bytes(b"\x00\x01binary index\xff")
    report = Importer(store=store).import_archive([str(folder)], INTERFACE)
    assert (report.created, report.notes) == (2, ())


def test_bad_input_gets_a_line_each_and_the_rest_is_imported(store: RecordStore, tmp_path: Path) -> None:
    good = write_mbox(tmp_path / "good.mbox", [message(n) for n in range(3)])
    # Cut short in the middle of its last message, and with a From line in a body not quoted.
    cut = tmp_path / "cut.mbox"
    cut.write_bytes(
        b"From alice@example.com Mon May  6 09:30:00 2024\nSubject: unquoted\nMessage-ID: <u@x>\n\n"
        b"first line\n\nFrom here on the writer forgot to quote\nlast line\n\n"
        b"From bob@example.com Mon May  6 09:31:00 2024\nSubject: cut short\nMessage-ID: <c@x>\n\nhalf a li"
    )
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "empty.eml").write_bytes(b"")
    os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
    os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
    os.mkfifo(tmp_path / "a-pipe")
    huge = tmp_path / "huge.eml"  # 2 GB, sparse: nothing is read of it
    with huge.open("wb") as stream:
        stream.write(b"Subject: huge\n\n")
        stream.truncate(2 * 1024**3)
    report = Importer(store=store).import_archive(
        [str(tmp_path), "/dev/null", str(tmp_path / "missing.mbox")], INTERFACE
    )
    assert report.error is None
    assert report.created == 5  # 3 good, the unquoted one, the one cut short
    notes = "\n".join(report.notes)
    for expected in (
        f"{cut}: line 7: a 'From ' line inside a message was not quoted",
        f"{cut}: the file ends in the middle of a line",
        f"{tmp_path / 'picture.png'}: no mail",
        f"{tmp_path / 'empty.eml'}: empty",
        f"{tmp_path / 'loop-a'}: a loop of symbolic links",
        f"{tmp_path / 'a-pipe'}: not a file or a folder",
        "/dev/null: not a file or a folder",
        f"{huge}: 2147483648 bytes, more than max_message_bytes",
        f"{tmp_path / 'missing.mbox'}: does not exist",
    ):
        assert expected in notes
    (unquoted,) = [record for record in store.list_records() if record.title == "unquoted"]
    assert "From here on the writer forgot to quote" in store.get_record(unquoted.id).details[0].text
    assert good.exists()


def test_a_maildir_file_that_vanishes_is_named_and_the_rest_imported(
    store: RecordStore, tmp_path: Path
) -> None:
    folder = write_maildir(tmp_path / "Maildir", [message(n) for n in range(3)])
    _first, moved, gone = sorted(os.listdir(folder / "new"))

    def meanwhile(done: int, total: int) -> None:
        if done == 0:  # listed, not read yet: a mail program moves one and deletes another
            os.rename(folder / "new" / moved, folder / "cur" / f"{moved}:2,S")
            os.unlink(folder / "new" / gone)

    report = Importer(store=store).import_archive([str(folder)], INTERFACE, on_progress=meanwhile)
    assert report.created == 2  # the moved one is found under its new name
    assert any(f"{gone}: vanished before it was read" in note for note in report.notes)


def test_history_keeps_the_date_and_marks_records_and_details(store: RecordStore, tmp_path: Path) -> None:
    date = datetime(2015, 7, 8, 9, 10, 11, tzinfo=timezone.utc)
    write_mbox(tmp_path / "2015.mbox", [message(1, date=date)])
    events: list[CommitEvent] = []
    Importer(store=store, on_committed=events.append).import_archive(
        [str(tmp_path / "2015.mbox")], INTERFACE, history=True
    )
    (record,) = store.list_records()
    stored = store.get_record(record.id)
    assert (stored.history, stored.created_at, stored.updated_at) == (True, date, date)
    (detail,) = stored.details
    assert (detail.history, detail.received_at, detail.sent_at) == (True, date, date)
    assert [event.detail.history for event in events] == [True]  # a host can leave it out


def test_without_history_the_time_is_the_import(store: RecordStore, tmp_path: Path) -> None:
    write_mbox(tmp_path / "a.mbox", [message(1, date=datetime(2015, 7, 8, tzinfo=timezone.utc))])
    Importer(store=store).import_archive([str(tmp_path / "a.mbox")], INTERFACE)
    (record,) = store.list_records()
    assert record.history is False
    assert record.created_at.year > 2015


def test_files_are_deleted_only_with_delete_after_and_only_when_committed(
    store: RecordStore, tmp_path: Path
) -> None:
    kept = write_mbox(tmp_path / "kept" / "a.mbox", [message(1)])
    report = Importer(store=store).import_archive([str(kept)], INTERFACE)
    assert report.created == 1
    assert kept.exists()
    gone = tmp_path / "gone"
    write_mbox(gone / "b.mbox", [message(2), message(3)])
    write_maildir(gone / "Maildir", [message(4)])
    (gone / "c.eml").write_bytes(message(5))
    (gone / "junk.bin").write_bytes(b"\x00\x01\x02")
    report = Importer(store=store).import_archive([str(gone)], INTERFACE, delete_after=True)
    assert report.created == 4
    assert not (gone / "b.mbox").exists()
    assert not (gone / "c.eml").exists()
    assert os.listdir(gone / "Maildir" / "new") == []
    assert (gone / "junk.bin").exists()  # not mail: not imported, so not deleted


def test_an_mbox_with_a_message_left_behind_is_not_deleted(store: RecordStore, tmp_path: Path) -> None:
    raws = [message(1), message(2, text="x" * 5000)]
    path = write_mbox(tmp_path / "a.mbox", raws)
    small = MailInterface(name="archive", protocol=MailProtocol.DELIVER, max_message_bytes=3000)
    report = Importer(store=store).import_archive([str(path)], small, delete_after=True)
    assert report.created == 1
    assert path.exists()


def test_an_interrupted_import_continues_where_it_stopped(store: RecordStore, tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "a.mbox", [message(n) for n in range(40)])
    importer = Importer(store=store, batch_size=5)

    def stop_at_20(done: int, total: int) -> None:
        if done == 20:
            importer.stop()

    first = importer.import_archive([str(path)], INTERFACE, on_progress=stop_at_20)
    assert first.stopped
    assert 0 < first.created < 40
    assert "stopped on request; the messages not yet retrieved stay in the archive" in first.notes
    assert not any("server" in note for note in first.notes)
    second = Importer(store=store).import_archive([str(path)], INTERFACE)
    assert first.created + second.created == 40
    assert second.already_imported == first.created
    assert subjects(store) == sorted(f"archived {n}" for n in range(40))


def test_the_dry_run_writes_nothing(store: RecordStore, tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "a.mbox", [message(1), message(2, subject="Re: [#1] archived 1")])
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01")
    notes: list[str] = []
    verdicts = list(Importer(store=store).explain_archive([str(tmp_path)], INTERFACE, on_note=notes.append))
    assert [verdict.summary for verdict in verdicts] == ["new record", "new record"]
    assert verdicts[0].key == f"mbox:{path}@0"
    assert any("junk.bin: no mail" in note for note in notes)
    assert store.list_records() == []
    assert not store.is_imported("archive", verdicts[0].key)
    assert store.last_run("archive") is None
    Importer(store=store).import_archive([str(path)], INTERFACE)
    again = list(Importer(store=store).explain_archive([str(path)], INTERFACE))
    assert [verdict.summary for verdict in again] == ["already imported", "already imported"]


def test_an_archive_import_runs_beside_a_poll_of_the_interface(store: RecordStore, tmp_path: Path) -> None:
    """It holds the lease NAME#import, not the mailbox's own."""
    assert store.acquire_lease("archive", "a poller", 60)
    path = write_mbox(tmp_path / "a.mbox", [message(1)])
    report = Importer(store=store).import_archive([str(path)], INTERFACE)
    assert (report.busy, report.created) == (False, 1)


@pytest.mark.parametrize("count", [1, 17, 64])
def test_large_and_small_archives_convert_alike(store: RecordStore, tmp_path: Path, count: int) -> None:
    """From 16 messages on the importer converts in worker processes: the result is the same."""
    path = write_mbox(tmp_path / "a.mbox", [message(n) for n in range(count)])
    report = Importer(store=store).import_archive([str(path)], INTERFACE)
    assert report.created == count
    assert subjects(store) == sorted(f"archived {n}" for n in range(count))


def test_maildir_messages_are_imported_in_the_order_of_delivery(store: RecordStore, tmp_path: Path) -> None:
    folder = write_maildir(tmp_path / "Maildir", [])
    # Microseconds are not zero-padded in Maildir names: 99 came before 100.
    for name, number in (
        ("1733320000.M100P7.host", 2),
        ("1733320000.M99P7.host", 1),
        ("1733319999.M5P7.host", 0),
    ):
        (folder / "new" / name).write_bytes(message(number))
    Importer(store=store).import_archive([str(folder)], INTERFACE)
    records = sorted(store.list_records(), key=lambda record: record.id)
    assert [record.title for record in records] == ["archived 0", "archived 1", "archived 2"]


class _SmallStore(MemoryRecordStore):
    """A store too small for messages over 3,000 bytes, in the records and the quarantine alike
    (as MariaDB's max_allowed_packet is); its quarantine fails altogether once :attr:`down` is set."""

    down = False

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        message = getattr(action, "message", None)
        if message is not None and message.size > 3000:
            raise MessageRefusedError("larger than max_allowed_packet")
        return super().commit(interface, uid, action)

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
        if self.down:
            raise StoreError("the database is unavailable (connection refused)")
        if len(raw) > 3000:
            raise MessageRefusedError("larger than max_allowed_packet")
        return super().quarantine(interface, uid, raw, error)


def test_what_an_import_leaves_is_left_in_the_archive_not_on_a_server(tmp_path: Path) -> None:
    raws = [message(1), message(2, text="x" * 5000)]
    path = write_mbox(tmp_path / "a.mbox", raws)
    report = Importer(store=_SmallStore(), conversion_workers=0).import_archive([str(path)], INTERFACE)
    assert (report.created, report.left_on_server) == (1, 1)
    (note,) = [note for note in report.notes if "not imported" in note]
    assert "stays in the archive" in note
    assert not any("server" in note for note in report.notes)
    # A poll of a mailbox tells the same of its server.
    mailbox_run = Importer(store=_SmallStore(), fetcher_factory=FakeMailbox(raws).fetcher).run(
        MailInterface(name="support", server="pop.example.com", login="support")
    )
    assert any("stays on the server" in note for note in mailbox_run.notes)


def test_a_store_failing_during_an_import_names_the_archive(tmp_path: Path) -> None:
    store = _SmallStore()
    store.down = True
    malformed = (resources.files("mailtrack._demo") / "messages" / "10-nested-too-deep.eml").read_bytes()
    path = write_mbox(tmp_path / "a.mbox", [lf(malformed)])  # to be quarantined, which fails
    report = Importer(store=store, conversion_workers=0).import_archive([str(path)], INTERFACE)
    assert report.error is not None
    assert report.error.endswith("messages not yet imported stay in the archive"), report.error


def test_an_interrupted_import_saves_a_report_naming_the_archive(tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "a.mbox", [message(n) for n in range(4)])
    store = MemoryRecordStore()

    def interrupt_at_the_second(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt  # Ctrl-C while the archive is read

    with pytest.raises(KeyboardInterrupt):
        Importer(store=store, conversion_workers=0).import_archive(
            [str(path)], INTERFACE, on_progress=interrupt_at_the_second
        )
    saved = store.last_run(INTERFACE.name)
    assert saved is not None
    assert saved.error == "the run was interrupted; messages not yet imported stay in the archive"
