"""One importer process for ``test_crash_loops``: a run whose converter kills the process on one
message, as running out of memory or a crash in C code would.

Run as ``python _crash_loop_worker.py DB_PATH PORT WORKERS``. It imports from the
POP3TestServer on 127.0.0.1:PORT (user ``user``, password ``secret``) into a SQLite file, with a
stable worker ID (a service restarted by systemd) and *WORKERS* conversion worker processes
(``0``: converting in the importing process). The converter sends SIGKILL to the process it
runs in when a message carries ``X-Crash: yes``; a worker process that dies that way makes the
importer convert the message itself, so the importer dies too. A run that ends prints its
report as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime

from _sigkill_worker import make_interface
from mailtrack import (
    Importer,
    IncomingMessage,
    MailParserConverter,
)

CRASH_MARK = b"X-Crash: yes"


class CrashingConverter(MailParserConverter):
    """Kills its own process on a message with ``X-Crash: yes``."""

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        if CRASH_MARK in raw:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().convert(raw, received_at=received_at)


def main(db_path: str, port: int, workers: int) -> int:
    from mailtrack.stores.sql import SQLRecordStore

    with SQLRecordStore(f"sqlite:///{db_path}") as store:
        importer = Importer(
            store=store,
            converter=CrashingConverter(),
            worker_id="crash-loop-worker",
            lease_seconds=1.0,
            batch_size=10,
            conversion_workers=workers or None,
        )
        report = importer.run(make_interface(port, leave_copy=False))
    print(
        json.dumps(
            {
                "created": report.created,
                "quarantined": report.quarantined,
                "error": report.error,
                "notes": report.notes,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
