"""RunReport's counts add up to what the server offered, each message in exactly one of them.

New records, follow-ups, skipped by policy, already imported, quarantined and left on the
server: a first run, a second run over the same mailbox, and runs that stopped early.
"""

from __future__ import annotations

import attrs
import pytest

from mailtrack import FetchError, ImportPolicy, MailInterface, RecordStore, RunReport, SenderPolicy
from mailtrack.testing import FakeMailbox, build_message

#: created, updated, skipped, already_imported, quarantined, left_on_server
COUNTS = ("created", "updated", "skipped", "already_imported", "quarantined", "left_on_server")

BROKEN = (
    b"From: a@example.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
    + b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n) for n in range(60))
    + b"x\r\n"
)


def interface(**overrides: object) -> MailInterface:
    values: dict[str, object] = {
        "server": "pop.example.com",
        "login": "support",
        "password": "s3cret",
        "policy": ImportPolicy(sender_policy=SenderPolicy.ANYONE),
        "max_message_bytes": 20_000,
    }
    values.update(overrides)
    return MailInterface(name="support", **values)  # type: ignore[arg-type]


def counts(report: RunReport) -> tuple[int, ...]:
    return tuple(getattr(report, name) for name in COUNTS)


def mixed_mailbox() -> FakeMailbox:
    """Two new requests, a follow-up to #1, an auto-reply naming no record, a broken message
    and one larger than max_message_bytes."""
    mailbox = FakeMailbox()
    mailbox.add(build_message(subject="Printer jammed", message_id="<a@example.com>"), uid="new-1")
    mailbox.add(build_message(subject="VPN down", message_id="<b@example.com>"), uid="new-2")
    mailbox.add(build_message(subject="Re: [#1] Printer jammed", message_id="<c@example.com>"), uid="reply")
    mailbox.add(
        build_message(
            subject="Out of office",
            message_id="<d@example.com>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        uid="auto",
    )
    mailbox.add(BROKEN, uid="broken")
    mailbox.add(build_message(subject="Huge", text="x" * 30_000, message_id="<e@example.com>"), uid="huge")
    return mailbox


def test_a_first_run_counts_each_offered_message_once(store: RecordStore) -> None:
    from mailtrack import Importer

    mailbox = mixed_mailbox()
    report = Importer(store=store, fetcher_factory=mailbox.fetcher).run(interface())

    assert report.error is None, report.error
    assert counts(report) == (2, 1, 1, 0, 1, 1)
    assert report.offered == 6
    assert report.imported == report.created + report.updated + report.skipped == 4
    assert report.failed == report.quarantined  # the former name still works


def test_a_second_run_tells_already_imported_from_left_on_the_server(store: RecordStore) -> None:
    from mailtrack import Importer

    mailbox = mixed_mailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    importer.run(interface(leave_copy=True))

    second = importer.run(interface(leave_copy=True))

    # The four imported are known; the quarantined and the huge one are still on the server.
    assert counts(second) == (0, 0, 0, 4, 0, 2)
    assert (second.offered, second.imported) == (6, 0)
    assert store.last_run("support") == second


@pytest.mark.parametrize("fail_at", [1, 3, 5])
def test_messages_not_reached_are_left_on_the_server(store: RecordStore, fail_at: int) -> None:
    from mailtrack import Importer

    mailbox = mixed_mailbox()
    mailbox.fail_on_retrieve = {fail_at: FetchError("connection reset by peer")}

    report = Importer(store=store, fetcher_factory=mailbox.fetcher).run(interface())

    assert report.error is not None
    assert report.offered == 6
    assert report.left_on_server >= 6 - (fail_at - 1)
    assert sum(counts(report)) == 6
    assert store.last_run("support") == report


def test_the_same_message_id_from_another_mailbox_counts_as_already_imported(store: RecordStore) -> None:
    from mailtrack import Importer

    raw = build_message(subject="Sent to both", message_id="<both@example.com>")
    boxes = {"support": FakeMailbox([raw]), "sales": FakeMailbox([raw])}
    importer = Importer(store=store, fetcher_factory=lambda i: boxes[i.name].fetcher(i))

    first = importer.run(interface())
    second = importer.run(attrs.evolve(interface(), name="sales"))

    assert counts(first) == (1, 0, 0, 0, 0, 0)
    assert counts(second) == (0, 0, 0, 1, 0, 0)
