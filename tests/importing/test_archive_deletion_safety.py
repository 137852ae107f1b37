"""``import_archive(delete_after=True)`` deletes only what it listed and imported, unchanged.

Symbolic links below the paths given are never followed (a link planted in a drop folder must
not import, or delete, a file elsewhere); a link given to import is read but neither it nor its
target is deleted; a file replaced or written after it was listed is kept; the files of a
Maildir get the same "is this mail" check as a folder's.
"""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

from mailtrack import Importer, ImportPolicy, MailInterface, MailProtocol, RecordStore, SenderPolicy
from mailtrack.testing import build_message

INTERFACE = MailInterface(
    name="archive",
    protocol=MailProtocol.DELIVER,
    policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
)


def message(subject: str) -> bytes:
    return build_message(subject=subject, message_id=f"<{subject.replace(' ', '-')}@example.com>").replace(
        b"\r\n", b"\n"
    )


def mbox_entry(subject: str) -> bytes:
    return b"From alice@example.com Thu Dec  4 12:00:00 2026\n" + message(subject) + b"\n"


def titles(store: RecordStore) -> list[str]:
    return sorted(record.title for record in store.list_records())


def test_a_symbolic_link_planted_in_a_folder_is_skipped_and_its_target_never_deleted(
    store: RecordStore, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = elsewhere / "config.eml"
    secret.write_bytes(message("secret looking like mail"))
    (elsewhere / "other.eml").write_bytes(message("other secret"))
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "real.eml").write_bytes(message("real"))
    (drop / "planted.eml").symlink_to(secret)
    (drop / "folder").symlink_to(elsewhere, target_is_directory=True)
    report = Importer(store=store).import_archive([str(drop)], INTERFACE, delete_after=True)
    assert titles(store) == ["real"]
    assert secret.read_bytes() == message("secret looking like mail")
    assert (elsewhere / "other.eml").exists()
    assert not (drop / "real.eml").exists()
    for link in ("planted.eml", "folder"):
        assert f"{drop / link}: a symbolic link inside the folder given: skipped" in "\n".join(report.notes)


def test_a_symbolic_link_in_a_maildir_is_skipped_and_its_target_never_deleted(
    store: RecordStore, tmp_path: Path
) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_bytes(message("shadow"))
    folder = tmp_path / "Maildir"
    mailbox.Maildir(folder).add(message("delivered"))
    (folder / "cur" / "123.M1P1.host").symlink_to(shadow)
    report = Importer(store=store).import_archive([str(folder)], INTERFACE, delete_after=True)
    assert titles(store) == ["delivered"]
    assert shadow.exists()
    assert any("123.M1P1.host: a symbolic link inside the folder given" in note for note in report.notes)


def test_a_maildir_file_that_is_no_mail_is_skipped_as_in_a_folder(store: RecordStore, tmp_path: Path) -> None:
    folder = tmp_path / "Maildir"
    mailbox.Maildir(folder).add(message("delivered"))
    (folder / "new" / "1.M2P2.host").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR binary\xff")
    (folder / "new" / "1.M3P3.host").write_bytes(b"")
    report = Importer(store=store).import_archive([str(folder)], INTERFACE, delete_after=True)
    assert titles(store) == ["delivered"]
    assert (folder / "new" / "1.M2P2.host").exists()
    assert (folder / "new" / "1.M3P3.host").exists()
    notes = "\n".join(report.notes)
    assert "1.M2P2.host: no mail: binary (a NUL byte in its first 4096 bytes): skipped" in notes
    assert "1.M3P3.host: empty: skipped" in notes


def test_a_symbolic_link_given_is_imported_but_neither_it_nor_its_target_deleted(
    store: RecordStore, tmp_path: Path
) -> None:
    target = tmp_path / "target.eml"
    target.write_bytes(message("given through a link"))
    link = tmp_path / "link.eml"
    link.symlink_to(target)
    report = Importer(store=store).import_archive([str(link)], INTERFACE, delete_after=True)
    assert titles(store) == ["given through a link"]
    assert target.exists()
    assert link.is_symlink()
    assert any(
        f"{link}: imported; a symbolic link given to import: --delete-after deletes neither" in note
        for note in report.notes
    )


def test_a_file_replaced_by_a_link_after_the_listing_is_not_read_and_the_target_is_kept(
    store: RecordStore, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.eml"
    secret.write_bytes(message("secret"))
    drop = tmp_path / "drop"
    drop.mkdir()
    listed = drop / "a.eml"
    listed.write_bytes(message("listed"))

    def swap(done: int, total: int) -> None:
        if done == 0:  # listed, not read yet: someone puts a link in its place
            listed.unlink()
            listed.symlink_to(secret)

    report = Importer(store=store).import_archive([str(drop)], INTERFACE, delete_after=True, on_progress=swap)
    assert titles(store) == []
    assert secret.exists()
    assert any(f"{listed}: replaced by a symbolic link since it was listed" in note for note in report.notes)


def test_a_file_replaced_after_it_was_read_is_kept(store: RecordStore, tmp_path: Path) -> None:
    listed = tmp_path / "a.eml"
    listed.write_bytes(message("first"))

    def replace(done: int, total: int) -> None:
        if done == total:  # read: another program puts a new file in its place
            (tmp_path / "new.eml").write_bytes(message("second"))
            os.replace(tmp_path / "new.eml", listed)

    report = Importer(store=store).import_archive(
        [str(listed)], INTERFACE, delete_after=True, on_progress=replace
    )
    assert titles(store) == ["first"]
    assert listed.read_bytes() == message("second")
    assert f"{listed}: changed while it was imported: kept" in "\n".join(report.notes)


def test_an_mbox_appended_to_during_the_import_is_kept_and_the_new_message_imported_later(
    store: RecordStore, tmp_path: Path
) -> None:
    path = tmp_path / "inbox"
    path.write_bytes(mbox_entry("one") + mbox_entry("two"))

    def deliver_one_more(done: int, total: int) -> None:
        if done == total:  # every listed message read: the mail server appends one
            with path.open("ab") as stream:
                stream.write(mbox_entry("three, arrived meanwhile"))

    first = Importer(store=store).import_archive(
        [str(path)], INTERFACE, delete_after=True, on_progress=deliver_one_more
    )
    assert first.created == 2
    assert path.exists()
    assert f"{path}: changed while it was imported: kept" in "\n".join(first.notes)
    second = Importer(store=store).import_archive([str(path)], INTERFACE, delete_after=True)
    assert (second.created, second.already_imported) == (1, 2)
    assert titles(store) == ["one", "three, arrived meanwhile", "two"]
    assert not path.exists()
