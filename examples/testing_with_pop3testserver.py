"""Testing your application's mail import against a real POP3 server: ``POP3TestServer``.

``POP3TestServer`` runs a real POP3 server on 127.0.0.1 in a thread, with TLS (certificates
from a test CA made by trustme), STLS, and faults on request: a connection that drops in the
middle of a message, a login refused because the mailbox is in use, and more. Your tests talk to
it through the same code path as production (the POP3 fetcher, TLS verification included),
without mocks.

The "application" here is ``import_support_mail``: it imports a help desk's mailbox and returns
a line for its dashboard. The tests below check it the way a tracker's own test suite would.

Run it with (needs ``pip install 'mailtrack[testing]' pytest``)::

    python examples/testing_with_pop3testserver.py
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from mailtrack import Importer, MailInterface, MemoryRecordStore, RecordStore
from mailtrack.testing import Faults, POP3TestServer, build_message

# -- the application under test ------------------------------------------------------------------


def import_support_mail(store: RecordStore, interface: MailInterface) -> str:
    """Import the support mailbox; the line the help desk's dashboard shows."""
    report = Importer(store=store).run(interface)
    if not report.ok:
        return f"mail import failed: {report.error}"
    return f"{report.created} new request(s), {report.updated} follow-up(s)"


# -- its tests -----------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[POP3TestServer]:
    """A POP3 server speaking TLS from the first byte (like port 995), with two messages."""
    messages = [
        build_message(subject="Printer jams", message_id="<1@customer.example>"),
        build_message(subject="Re: [#1] Printer jams", message_id="<2@customer.example>"),
    ]
    with POP3TestServer(messages, tls="implicit") as running:
        yield running


def test_new_requests_and_follow_ups_are_counted(server: POP3TestServer) -> None:
    store = MemoryRecordStore()
    # server.interface() is a MailInterface for this server: TLS on, the test CA trusted.
    line = import_support_mail(store, server.interface(name="support"))
    assert line == "1 new request(s), 1 follow-up(s)"
    assert server.mailbox == []  # imported, so deleted on the server
    [record] = store.list_records()
    assert [detail.subject for detail in record.details] == ["Printer jams", "Re: [#1] Printer jams"]


def test_an_untrusted_certificate_stops_the_import_before_the_password_is_sent() -> None:
    with POP3TestServer([build_message()], tls="implicit", certificate="untrusted") as server:
        line = import_support_mail(MemoryRecordStore(), server.interface(name="support"))
        assert line.startswith("mail import failed:")
        assert not server.password_exposed
        assert len(server.mailbox) == 1


def test_a_connection_lost_mid_message_loses_nothing(server: POP3TestServer) -> None:
    store = MemoryRecordStore()
    interface = server.interface(name="support")
    server.faults = Faults(drop_after_bytes=40, drop_on_message=2)
    assert import_support_mail(store, interface).startswith("mail import failed:")
    assert len(server.mailbox) == 2  # the session was dropped: nothing deleted

    server.faults = Faults()
    # Message 1 was committed before the drop: the ledger skips it, message 2 follows.
    assert import_support_mail(store, interface) == "0 new request(s), 1 follow-up(s)"
    assert len(store.get_record(1).details) == 2


def test_a_mailbox_in_use_is_reported_in_plain_words(server: POP3TestServer) -> None:
    server.faults = Faults(login_error="[IN-USE] mailbox locked by another client")
    line = import_support_mail(MemoryRecordStore(), server.interface(name="support"))
    assert line.startswith("mail import failed:")
    assert "in use" in line.lower() or "locked" in line.lower()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
