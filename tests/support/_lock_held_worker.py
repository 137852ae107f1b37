"""One importer process for ``test_concurrency``: conversion workers start while another thread
holds a lock that the converter takes.

Run as ``python _lock_held_worker.py START_METHOD`` (``auto`` for the importer's own choice). A
thread takes :data:`LOCK` and keeps it for the whole run, as a thread of a host application holds
a lock at some moment; then 20 messages are imported with two conversion worker processes and a
converter that takes the same lock. A worker forked at that moment inherits the lock locked, and
nobody in it will ever release it: its first conversion waits forever (so does the run). A
worker that does not come from a fork of this process has a lock of its own. The run's result is
printed as JSON: what it imported, the start method it used, the warnings mailtrack logged.
"""

from __future__ import annotations

import json
import logging
import sys
import threading

# In a module of its own: worker processes never import this script (it is ``__main__``).
from _locking_converter import LOCK, LockingConverter
from mailtrack import (
    Importer,
    ImportPolicy,
    MailInterface,
    MemoryRecordStore,
    SenderPolicy,
)
from mailtrack.testing import FakeMailbox, build_message


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelno, record.getMessage()))


MESSAGES = 20


def main(method: str) -> int:
    collect = Collect()
    log = logging.getLogger("mailtrack")
    log.addHandler(collect)
    log.setLevel(logging.DEBUG)

    holding, finished = threading.Event(), threading.Event()

    def hold() -> None:
        with LOCK:
            holding.set()
            finished.wait()

    holder = threading.Thread(target=hold, name="lock-holder", daemon=True)
    holder.start()
    holding.wait()

    mailbox = FakeMailbox([build_message(subject=f"message {n}") for n in range(MESSAGES)])
    store = MemoryRecordStore()
    importer = Importer(
        store=store,
        fetcher_factory=mailbox.fetcher,
        converter=LockingConverter(),
        conversion_workers=2,
        conversion_start_method=None if method == "auto" else method,
    )
    interface = MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )
    report = importer.run(interface)
    finished.set()
    holder.join()
    started = [text for _level, text in collect.messages if "worker processes, started with" in text]
    print(
        json.dumps(
            {
                "created": report.created,
                "error": report.error,
                "left": len(mailbox),
                "titles": sorted(record.title for record in store.list_records()),
                "started": started,
                "warnings": [text for level, text in collect.messages if level >= logging.WARNING],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
