"""One importer process for ``test_worker_processes``: killed by the test in the middle of a run.

Run as ``python _stopped_importer.py DB_PATH MODE PORT...``. ``MODE`` is a start method
(``fork``, ``forkserver``, ``spawn``: one ``run`` of the first port's mailbox with two conversion
worker processes started that way) or ``run_all`` (every port's mailbox at once, sharing the
workers). It imports from the POP3TestServers the test runs on 127.0.0.1 (plain text, user
``user``, password ``secret``) into a SQLite file, with the default worker ID, as a host script
would; it has no signal handler of its own.
"""

from __future__ import annotations

import sys

from mailtrack import Importer, ImportPolicy, MailInterface, Security, SenderPolicy


def make_interface(port: int, name: str = "support") -> MailInterface:
    """The interface of one of the test's POP3TestServers (shared by the child and the next run)."""
    return MailInterface(
        name=name,
        server="127.0.0.1",
        port=port,
        login="user",
        password="secret",
        security=Security.NONE,
        timeout=20.0,
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )


def main(db_path: str, mode: str, ports: list[int]) -> int:
    from mailtrack.stores.sql import SQLRecordStore

    with SQLRecordStore(f"sqlite:///{db_path}") as store:
        if mode == "run_all":
            importer = Importer(store=store, conversion_workers=2)
            importer.run_all([make_interface(port, f"box-{n}") for n, port in enumerate(ports)])
        else:
            importer = Importer(store=store, conversion_workers=2, conversion_start_method=mode)
            importer.run(make_interface(ports[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], [int(port) for port in sys.argv[3:]]))
