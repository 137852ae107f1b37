"""Replies that find their record: the host sends a notification, the customer answers.

Shows the round trip of a help desk's mail. A customer's request opens record 1. The host
application sends the customer a notification about it, with the header fields
:func:`mailtrack.outgoing_headers` gives: the tagged subject ``[ACME #1] …``, a ``Message-ID``
and a ``Reply-To`` that carry a signed reply token, and the fields that keep auto-responders
quiet. The customer answers from a phone that drops the subject's tag and the References; the
answer still joins record 1, because it was written to the signed Reply-To address. A forged
token does not get in. :meth:`mailtrack.Importer.explain` says why, before anything is imported.

The mail goes through a real POP3 session with :class:`mailtrack.testing.POP3TestServer` (a POP3
server on 127.0.0.1 in a thread); the host's outgoing mail is built with the standard library's
:class:`email.message.EmailMessage` and would be handed to ``smtplib`` in a real application.

Run it with::

    python examples/replies.py
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from mailtrack import Importer, ImportPolicy, MailInterface, MemoryRecordStore, outgoing_headers
from mailtrack.testing import POP3TestServer, build_message

CUSTOMER = "Carol Customer <carol@customer.example>"


def notification(interface: MailInterface, record_id: int, title: str) -> EmailMessage:
    """The mail the host sends about a record: the fields outgoing_headers gives, and a text."""
    mail = EmailMessage()
    mail["From"] = "ACME Support <support@example.com>"
    mail["To"] = CUSTOMER
    for name, value in outgoing_headers(
        interface, record_id=record_id, subject=title, auto_submitted="auto-generated"
    ).items():
        mail[name] = value
    mail.set_content(f"We are on it. Just reply to this mail to add to request #{record_id}.\n")
    return mail


def main() -> None:
    store = MemoryRecordStore()
    importer = Importer(store=store)
    with POP3TestServer([], user="support", password="secret") as server:
        interface = server.interface(
            name="support",
            tag="[ACME #{id}]",
            policy=ImportPolicy(
                # In a real configuration: a long random secret from a file or the environment.
                reply_keys=["example key, keep the real one secret"],
                reply_address="support@example.com",
                own_addresses=["support@example.com"],
            ),
        )

        server.add_message(build_message(subject="Printer jams on every page", sender=CUSTOMER))
        importer.run(interface)
        [record] = store.list_records()
        sent = notification(interface, record.id, record.title)
        print(f"The host sends: Subject: {sent['Subject']}")
        print(f"                Reply-To: {sent['Reply-To']}")

        # The customer's phone drops the tag and the References; the Reply-To carries the token.
        reply = build_message(
            subject="Re: printer",
            sender=CUSTOMER,
            to=sent["Reply-To"],
            message_id=make_msgid(domain="customer.example"),
            text="Still jamming, and now it smells of smoke.\n",
        )
        told = importer.explain(interface, reply)
        print(f"explain: {told.summary}, because {told.reasons[0]} and {told.reasons[1]}")
        server.add_message(reply)

        # Someone who guesses the address format, but not the signature.
        local, _, domain = str(sent["Reply-To"]).partition("@")
        forged = f"{local[:-4]}abcd@{domain}"
        server.add_message(build_message(subject="let me in", sender="mallory@evil.example", to=forged))

        report = importer.run(interface)
        print(f"second run: {report.updated} follow-up, {report.created} new record")
        for note in report.notes:
            print(f"  note: {note}")

    record = store.get_record(record.id)
    print(f"#{record.id} {record.title}: {len(record.details)} details")
    assert len(record.details) == 2
    assert report.created == 1, "the forged token must not get into record 1"


if __name__ == "__main__":
    main()
