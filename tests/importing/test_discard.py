"""Importer.discard_quarantined: the message leaves the quarantine and is never imported again."""

from __future__ import annotations

import pytest

from mailtrack import Importer, MailInterface, QuarantineNotFoundError, RecordStore
from mailtrack._demo import demo_messages
from mailtrack.testing import FakeMailbox, build_message

NESTED = dict(demo_messages())["10-nested-too-deep.eml"]


@pytest.mark.parametrize("leave_copy", [False, True])
@pytest.mark.parametrize("uidl", [True, False])
def test_a_discarded_message_is_not_imported_again(store: RecordStore, leave_copy: bool, uidl: bool) -> None:
    mailbox = FakeMailbox([build_message(subject="Fine"), NESTED], uidl=uidl)
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    interface = MailInterface(
        name="support", server="pop.example.com", login="support", leave_copy=leave_copy
    )
    first = importer.run(interface)
    [item] = store.list_quarantined()
    assert first.quarantined == 1

    importer.discard_quarantined(item.id)
    second = importer.run(interface)

    assert store.list_quarantined() == []
    assert (second.quarantined, second.created) == (0, 0)
    assert second.already_imported == (2 if leave_copy else 1)
    assert len(mailbox) == (2 if leave_copy else 0)  # deleted now, unless copies are left
    assert [record.title for record in store.list_records()] == ["Fine"]


def test_discarding_a_missing_entry_raises(store: RecordStore) -> None:
    with pytest.raises(QuarantineNotFoundError):
        Importer(store=store).discard_quarantined(42)
