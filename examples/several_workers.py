"""Two workers share one store: each mailbox is imported by one of them, each message once.

Shows the lease per interface. Four POP3 test servers are saved as interfaces in a SQLite store;
two importers with their own ``worker_id`` (as on two hosts) call ``run_all()`` at the same
time, in two threads. Whoever comes first takes a mailbox; the other finds it ``busy`` and moves
on. In the end every message is in the store once, and every mailbox is empty.

On several machines, give each worker the same PostgreSQL or MariaDB URL instead of the SQLite
file (``postgresql+psycopg://mailtrack@db.internal/tracker``).

Run it with (needs ``pip install 'mailtrack[sql]'``)::

    python examples/several_workers.py
"""

from __future__ import annotations

import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

import attrs

from mailtrack import Importer, RunReport
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import POP3TestServer, build_message


def worker(store_url: str, worker_id: str) -> list[RunReport]:
    """One worker: its own store object and importer, polling the interfaces saved in the store."""
    with SQLRecordStore(store_url) as store:
        importer = Importer(store=store, worker_id=worker_id, lease_seconds=120)
        return importer.run_all()  # the enabled interfaces saved in the store


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, ExitStack() as servers:
        store_url = f"sqlite:///{Path(folder) / 'mailtrack.db'}"
        mailboxes: list[POP3TestServer] = []
        with SQLRecordStore(store_url) as store:
            for number in range(4):
                mail = [build_message(subject=f"Request {number}.{n}") for n in range(25)]
                server = servers.enter_context(POP3TestServer(mail, user=f"box{number}", password="secret"))
                mailboxes.append(server)
                # Loopback only: the plain connection of the test server is fine here.
                store.save_interface(attrs.evolve(server.interface(name=f"box{number}"), password="secret"))

        results: dict[str, list[RunReport]] = {}
        threads = [
            threading.Thread(target=lambda name=name: results.update({name: worker(store_url, name)}))
            for name in ("host-a", "host-b")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        for name, reports in sorted(results.items()):
            done = [f"{report.interface}: {report.created} new" for report in reports if not report.busy]
            busy = [report.interface for report in reports if report.busy]
            print(f"{name} — {'; '.join(done) or 'nothing'} — found busy: {', '.join(busy) or 'none'}")
        with SQLRecordStore(store_url) as store:
            titles = [record.title for record in store.list_records()]
        left = sum(len(server.mailbox) for server in mailboxes)
        assert len(set(titles)) == len(titles) == 100, "each message once"
        assert left == 0, "every mailbox emptied"
        print(f"{len(titles)} records, each message once; {left} messages left on the servers")


if __name__ == "__main__":
    main()
