"""One importer process for ``test_sigkill``: a single run into a SQLite file, then exit.

Run as ``python _sigkill_worker.py DB_PATH PORT LEAVE_COPY [imap]``. It imports from the
POP3TestServer (or, with ``imap``, the scripted IMAP server) the test runs on 127.0.0.1:PORT
(plain text, user ``user``, password ``secret``) with a stable
worker ID, as a service restarted by systemd would, and a one-second lease. The test kills it
with SIGKILL at a moment of its choosing; a run that ends on its own prints its report as JSON.
"""

from __future__ import annotations

import json
import sys

from mailtrack import Importer, ImportPolicy, MailInterface, MailProtocol, Security, SenderPolicy


def make_interface(port: int, leave_copy: bool, protocol: MailProtocol = MailProtocol.POP3) -> MailInterface:
    """The interface of the test's server (shared by the killed worker and the clean run)."""
    return MailInterface(
        protocol=protocol,
        name="support",
        server="127.0.0.1",
        port=port,
        login="user",
        password="secret",
        security=Security.NONE,
        project="helpdesk",
        leave_copy=leave_copy,
        timeout=10.0,
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )


def main(db_path: str, port: int, leave_copy: bool, protocol: MailProtocol) -> int:
    from mailtrack.stores.sql import SQLRecordStore

    interface = make_interface(port, leave_copy, protocol)
    with SQLRecordStore(f"sqlite:///{db_path}") as store:
        importer = Importer(store=store, worker_id="sigkill-worker", lease_seconds=1.0)
        report = importer.run(interface)
    print(json.dumps({"created": report.created, "skipped": report.skipped, "error": report.error}))
    return 0


if __name__ == "__main__":
    protocol = MailProtocol(sys.argv[4]) if len(sys.argv) > 4 else MailProtocol.POP3
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", protocol))
