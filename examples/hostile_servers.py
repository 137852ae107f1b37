"""Hostile servers and forged senders: what mailtrack does about them, in one run each.

Shows three of the guards of "Guarantees and limits":

* a server that repeats the password in its refusal: the run report says ``[redacted]``;
* a mailbox larger than one run should take: ``max_messages_per_run`` imports the oldest
  messages first and leaves the rest for the next run (``run_timeout`` and
  ``min_transfer_rate`` bound the time the same way);
* a forged ``From:`` of the help desk's own login address: own mail, dropped, never a follow-up.

Everything runs against :class:`~mailtrack.testing.POP3TestServer` on 127.0.0.1. Run it with::

    python examples/hostile_servers.py
"""

from __future__ import annotations

from mailtrack import Importer, MemoryRecordStore
from mailtrack.testing import Faults, POP3TestServer, build_message

PASSWORD = "correct horse battery staple"


def main() -> None:
    # 1. A server that echoes the password.
    with POP3TestServer([], password=PASSWORD) as server:
        server.faults = Faults(login_error=f"[AUTH] you said {PASSWORD}")
        report = Importer().run(server.interface())
        print(f"refused login, as reported: {report.error}")
        assert report.error is not None
        assert PASSWORD not in report.error
        assert "[redacted]" in report.error

    # 2. A full mailbox, three messages per run; 3. a forgery of the login address.
    messages = [
        build_message(
            subject=f"Request {n}", sender="Carol <carol@customer.example>", to="support@example.com"
        )
        for n in range(5)
    ]
    messages.append(
        build_message(
            subject="Re: [#1] closed, pay here",
            sender="Support <support@example.com>",
            to="carol@customer.example",
        )
    )
    store = MemoryRecordStore()
    importer = Importer(store=store)
    with POP3TestServer(messages, user="support@example.com", password=PASSWORD) as server:
        interface = server.interface(name="support", max_messages_per_run=3, run_timeout=600)
        for number in (1, 2):
            report = importer.run(interface)
            print(f"run {number}: {report.created} created, {report.skipped} skipped; notes: {report.notes}")
        print(f"left on the server: {len(server.mailbox)}; kinds of mail: {report.classes}")
    assert len(store.list_records()) == 5
    assert all(len(record.details) == 1 for record in store.list_records())  # the forgery joined none


if __name__ == "__main__":
    main()
