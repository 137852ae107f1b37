"""One archive import process for ``test_archive_sigkill``: ``mailtrack.Importer.import_archive``
of an mbox file and a Maildir into a SQLite file, then exit.

Run as ``python _archive_kill_worker.py DB_PATH ARCHIVE_FOLDER``. It uses a stable worker ID
and a one-second lease, as a service restarted by systemd would; the test kills it with SIGKILL
at a moment of its choosing. An import that ends on its own prints its report as JSON.
"""

from __future__ import annotations

import json
import sys

from mailtrack import Importer, ImportPolicy, MailInterface, MailProtocol, SenderPolicy

INTERFACE = MailInterface(
    name="archive",
    protocol=MailProtocol.DELIVER,
    project="old",
    policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
)


def main(db_path: str, folder: str) -> int:
    from mailtrack.stores.sql import SQLRecordStore

    with SQLRecordStore(f"sqlite:///{db_path}") as store:
        importer = Importer(store=store, worker_id="archive-kill-worker", lease_seconds=1.0)
        report = importer.import_archive([folder], INTERFACE)
    print(json.dumps({"created": report.created, "already": report.already_imported, "error": report.error}))
    return 0 if report.error is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
