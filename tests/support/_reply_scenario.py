"""One scenario, run against the POP3 test server and a real Dovecot: the host sends a
notification with outgoing_headers, and the replies come back through a real POP3 session.

* a reply whose subject was rewritten, with no tag and no References, but written to the signed
  Reply-To address, joins its record;
* a reply with only References (to the customer's own first message) joins its record;
* a reply to a forged token (an altered signature) opens a new record, noted.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from mailtrack import Importer, ImportPolicy, MailInterface, RecordStore, SenderPolicy, outgoing_headers
from mailtrack.testing import build_message

KEY = "a reply key of sixteen chars or more"
CUSTOMER = "Carol Customer <carol@customer.example>"


def with_reply_tokens(interface: MailInterface) -> MailInterface:
    policy = ImportPolicy(
        sender_policy=SenderPolicy.PARTICIPANTS, reply_keys=[KEY], reply_address="support@example.com"
    )
    return attrs.evolve(interface, tag="[ACME #{id}]", project="helpdesk", policy=policy)


def replies_find_their_records(
    store: RecordStore, interface: MailInterface, deliver: Callable[[bytes], object]
) -> None:
    """Run the scenario; *deliver* puts a raw message into the mailbox *interface* reads."""
    interface = with_reply_tokens(interface)
    importer = Importer(store=store)

    def run() -> tuple[int, int, tuple[str, ...]]:
        report = importer.run(interface)
        assert report.error is None, report.error
        return report.created, report.updated, report.notes

    deliver(build_message(subject="Printer jammed", sender=CUSTOMER, message_id="<first@customer.example>"))
    deliver(build_message(subject="VPN down", sender=CUSTOMER, message_id="<vpn@customer.example>"))
    assert run()[:2] == (2, 0)
    printer, vpn = sorted(record.id for record in store.list_records())

    # The host's notification about the printer record.
    sent = outgoing_headers(
        interface, record_id=printer, subject="Printer jammed", auto_submitted="auto-generated"
    )
    assert sent["Subject"] == f"[ACME #{printer}] Printer jammed"

    # A phone rewrote the subject and dropped the References; the Reply-To carried the token.
    deliver(build_message(subject="sent from my phone", sender=CUSTOMER, to=sent["Reply-To"]))
    assert run()[:2] == (0, 1)
    # A reply with only References.
    deliver(build_message(subject="any news?", sender=CUSTOMER, references=["<vpn@customer.example>"]))
    assert run()[:2] == (0, 1)
    # A forged token: the signature altered by one character.
    local, _, domain = sent["Reply-To"].partition("@")
    forged = f"{local[:-1]}{'b' if local[-1] != 'b' else 'c'}@{domain}"
    deliver(build_message(subject="let me in", sender="Mallory <mallory@evil.example>", to=forged))
    created, updated, notes = run()
    assert (created, updated) == (1, 0)
    assert any("forged or altered reply token" in note for note in notes)

    assert len(store.get_record(printer).details) == 2
    assert len(store.get_record(vpn).details) == 2
    assert len(store.list_records()) == 3
