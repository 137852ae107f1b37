"""Importer.watch against Dovecot's IMAP IDLE: a message delivered during the test is imported
within 5 seconds (the issue's bound; a liveness bound, the expected time is well under one)."""

from __future__ import annotations

import threading
import time

import pytest

from _dovecot import Mailbox
from mailtrack import Importer, MailProtocol, MemoryRecordStore, RunReport, Security
from mailtrack.testing import build_message

pytestmark = pytest.mark.integration

WITHIN = 5.0


def test_a_message_delivered_while_watching_is_imported_within_5_seconds(mailbox: Mailbox) -> None:
    store = MemoryRecordStore()
    importer = Importer(store=store)
    reports: list[RunReport] = []
    interface = mailbox.interface(Security.SSL, MailProtocol.IMAP)
    watch = threading.Thread(
        target=importer.watch, args=([interface],), kwargs={"every": 3600.0, "on_report": reports.append}
    )
    watch.start()
    try:
        deadline = time.monotonic() + 30
        while not reports and time.monotonic() < deadline:  # the first poll, at the start
            time.sleep(0.05)
        assert reports
        time.sleep(1.0)  # the IDLE connection is up by now (it is not what is measured)
        mailbox.deliver(build_message(subject="Delivered while watching"), "watched")
        delivered = time.monotonic()
        while not store.list_records() and time.monotonic() - delivered < WITHIN:
            time.sleep(0.02)
        assert [record.title for record in store.list_records()] == ["Delivered while watching"]
        assert time.monotonic() - delivered < WITHIN
    finally:
        importer.stop()
        watch.join(30)
    assert not watch.is_alive()
    assert mailbox.files() == set()
