"""Embedding mailtrack in an application, with the in-memory store.

``HelpDesk`` is a small stand-in for your tracker. It owns an :class:`~mailtrack.Importer` on a
:class:`~mailtrack.MemoryRecordStore` and shows what an embedding application usually adds:

* **Who may write into a ticket** is the application's call: the interface's sender policy is
  ``callback``, and ``HelpDesk.may_write`` allows the ticket's participants and the staff.
* **Acknowledgements without mail loops**: for each new ticket the desk "sends" an answer with
  :func:`mailtrack.outgoing_headers` on it. When that answer comes back (a forward, a
  mis-configured alias), mailtrack knows it as the desk's own mail and drops it; an
  out-of-office reply to it opens no ticket either.
* **Showing mail HTML safely** with :func:`mailtrack.display_html` (scripts and remote images
  removed, ``cid:`` images pointed at the application's own URLs). Needs ``mailtrack[html]``.

The mailbox is a :class:`~mailtrack.testing.FakeMailbox`, so no mail server is needed; with a
real one, leave ``fetcher_factory`` out and the POP3 fetcher is used.

Run it with::

    python examples/embed_memory.py
"""

from __future__ import annotations

from mailtrack import (
    Importer,
    ImportPolicy,
    IncomingMessage,
    MailInterface,
    MemoryRecordStore,
    Record,
    SenderPolicy,
    display_html,
    outgoing_headers,
)
from mailtrack.testing import FakeMailbox, build_message

DESK_ADDRESS = "support@desk.example"
STAFF = {"agent@desk.example"}


class HelpDesk:
    """The application: tickets are mailtrack records; mail is imported on each poll."""

    def __init__(self, mailbox: FakeMailbox) -> None:
        self.store = MemoryRecordStore()
        self.outbox = mailbox  # in this demo, what the desk sends lands back in its own mailbox
        self.importer = Importer(
            store=self.store, fetcher_factory=mailbox.fetcher, sender_authorizer=self.may_write
        )
        self.policy = ImportPolicy(
            sender_policy=SenderPolicy.CALLBACK,
            own_addresses=(DESK_ADDRESS,),
            loop_header_value="desk.example",
        )
        self.interface = MailInterface(
            name="support",
            server="pop.desk.example",
            login=DESK_ADDRESS,
            password_env="DESK_POP_PASSWORD",
            project="helpdesk",
            defaults={"status": "open"},
            policy=self.policy,
        )
        self.acknowledged: set[int] = set()

    def may_write(self, record: Record, message: IncomingMessage) -> bool:
        """Staff may write into any ticket; customers only into the ones they take part in."""
        sender = message.sender.address.lower() if message.sender else ""
        return sender in STAFF or sender in self.store.record_participants(record.id)

    def poll(self) -> None:
        report = self.importer.run(self.interface)
        print(
            f"poll: {report.created} new, {report.updated} follow-ups, {report.skipped} skipped"
            + "".join(f"\n  note: {note}" for note in report.notes)
        )
        for record in self.store.list_records("helpdesk"):
            if record.id not in self.acknowledged:
                self.acknowledge(record)

    def acknowledge(self, record: Record) -> None:
        """Answer a new ticket; the headers keep responders quiet and mark it as the desk's own."""
        customer = record.details[0].sender
        headers = outgoing_headers(self.policy)
        self.acknowledged.add(record.id)
        print(f"  sent to {customer}: 'Re: [#{record.id}] {record.title}' with {sorted(headers)}")
        self.outbox.add(
            build_message(
                subject=f"Re: [#{record.id}] {record.title}",
                sender=f"Help Desk <{DESK_ADDRESS}>",
                to=str(customer),
                text=f"We received your request; its number is #{record.id}.\n",
                headers=headers,
            )
        )


def main() -> None:
    mailbox = FakeMailbox(
        [
            build_message(
                subject="Printer prints only blank pages",
                sender="Carol Customer <carol@customer.example>",
                text="Since today every page comes out blank.\n",
                html='<p>Since today every page comes out <b>blank</b>.</p><img src="https://tracker.example/pixel.gif">'
                '<script>alert("hi")</script>',
            )
        ]
    )
    desk = HelpDesk(mailbox)
    desk.poll()  # opens ticket #1 and sends the acknowledgement (which lands in the mailbox)

    mailbox.add(
        build_message(
            subject="Automatic reply: Re: [#1] Printer prints only blank pages",
            sender="Carol Customer <carol@customer.example>",
            headers={"Auto-Submitted": "auto-replied"},
            text="I am out of the office until Monday.\n",
        )
    )
    mailbox.add(
        build_message(
            subject="Re: [#1] Printer prints only blank pages",
            sender="Mallory <mallory@elsewhere.example>",
            text="Please send the invoice to my address instead.\n",
        )
    )
    mailbox.add(
        build_message(
            subject="Re: [#1] Printer prints only blank pages",
            sender="Agent <agent@desk.example>",
            text="A technician will come by at 3 pm.\n",
        )
    )
    desk.poll()  # own mail dropped, auto-reply filed on #1, the stranger opens #2, the agent writes into #1

    for record in reversed(desk.store.list_records()):
        print(f"#{record.id} {record.title} {dict(record.fields)}")
        for detail in record.details:
            print(f"  {detail.message_class.value:>10}  {detail.sender}: {detail.text.strip()}")
    first = desk.store.get_record(1).details[0]
    print("HTML for the web page:", display_html(first, cid_url=lambda a: f"/attachments/{a.id}"))

    ticket = desk.store.get_record(1)
    assert [detail.sender.address for detail in ticket.details if detail.sender] == [
        "carol@customer.example",
        "carol@customer.example",
        "agent@desk.example",
    ]
    assert desk.store.get_record(2).details[0].sender.address == "mallory@elsewhere.example"  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
