"""Maildir trees written by Dovecot's own delivery (``doveadm save``, ``dovecot-lda``), imported
as an archive: every corpus message once; again after Dovecot renamed the files (flags) and
moved one to another folder, nothing new."""

from __future__ import annotations

import subprocess
from pathlib import Path

from _dovecot import SEARCH_PATH, Dovecot
from mailtrack import Importer, ImportPolicy, MailInterface, MailProtocol, SenderPolicy
from mailtrack.stores import MemoryRecordStore

INTERFACE = MailInterface(
    name="archive", protocol=MailProtocol.DELIVER, policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE)
)


def dovecot_tool(dovecot: Dovecot, program: str, *args: str, stdin: bytes | None = None) -> None:
    """Run one of Dovecot's programs (``doveadm``, ``dovecot-lda``) on the private Dovecot's config."""
    done = subprocess.run(
        [program, "-c", str(dovecot.directory / "dovecot.conf"), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env={"PATH": SEARCH_PATH},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def doveadm(dovecot: Dovecot, *args: str, stdin: bytes | None = None) -> None:
    dovecot_tool(dovecot, "doveadm", *args, stdin=stdin)


def lda(dovecot: Dovecot, login: str, raw: bytes) -> None:
    """Dovecot's local delivery agent, as a mail server runs it for one recipient."""
    dovecot_tool(dovecot, "/usr/lib/dovecot/dovecot-lda", "-d", login, stdin=raw)


def test_a_maildir_written_by_dovecot_is_imported_once(dovecot: Dovecot, corpora_dir: Path) -> None:
    mailbox = dovecot.new_mailbox()
    raws = [path.read_bytes() for path in sorted((corpora_dir / "cpython-test-email").iterdir())]
    for raw in raws[:20]:
        doveadm(dovecot, "save", "-u", mailbox.login, stdin=raw)
    for raw in raws[20:]:
        lda(dovecot, mailbox.login, raw)
    written = sum(1 for part in ("cur", "new") for _ in (mailbox.path / part).iterdir())
    assert written == len(raws)
    store = MemoryRecordStore()
    report = Importer(store=store).import_archive([str(mailbox.path)], INTERFACE)
    assert report.error is None, report
    handled = report.created + report.updated + report.skipped + report.already_imported + report.quarantined
    assert handled == report.offered == len(raws)
    # Dovecot's own files beside the messages (dovecot-uidlist, indexes) are left alone.
    assert [note for note in report.notes if "skipped" in note or "dovecot" in note] == []
    # Dovecot renames the files as flags change, and moves messages to other folders.
    doveadm(dovecot, "flags", "add", "-u", mailbox.login, "\\Seen", "mailbox", "INBOX", "ALL")
    doveadm(dovecot, "mailbox", "create", "-u", mailbox.login, "Archive")
    doveadm(dovecot, "move", "-u", mailbox.login, "Archive", "mailbox", "INBOX", "UID", "1")
    again = Importer(store=store).import_archive([str(mailbox.path)], INTERFACE)
    assert again.error is None, again
    assert (again.created, again.updated) == (0, 0)
    assert again.already_imported + again.quarantined == len(raws)
