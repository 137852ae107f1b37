"""The store contract: old mail moved in (``Importer.import_archive(history=True)``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs

from ...abc import RecordStore
from .._builders import make_incoming
from ._base import ContractBase, append_action, create_action, record_id_of

__all__ = ["HistoryContract"]

#: A Date years before any clock the contract uses.
_LONG_AGO = datetime(2019, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=2)))


class HistoryContract(ContractBase):
    """The part of the store contract on :attr:`~mailtrack.IncomingMessage.history`: a record
    opened by old mail is marked and dated by it, a detail of old mail is marked, and old mail
    added to a record moves its ``updated_at`` only forward."""

    def test_old_mail_opens_a_record_marked_and_dated_by_it(self, store: RecordStore) -> None:
        old = make_incoming(message_id="<old@example.com>", sent_at=_LONG_AGO, received_at=_LONG_AGO)
        record_id = record_id_of(
            store.commit("archive", "mbox:a@0", create_action(attrs.evolve(old, history=True)))
        )
        record = store.get_record(record_id)
        assert record.history is True
        assert record.created_at == _LONG_AGO
        assert record.updated_at == _LONG_AGO
        assert record.created_at.tzinfo is not None
        (detail,) = record.details
        assert detail.history is True
        assert detail.received_at == _LONG_AGO

    def test_new_mail_is_not_history(self, store: RecordStore) -> None:
        record_id = record_id_of(store.commit("support", "uid-1", create_action()))
        record = store.get_record(record_id)
        assert record.history is False
        assert [detail.history for detail in record.details] == [False]

    def test_old_mail_added_to_a_record_moves_its_time_only_forward(self, store: RecordStore) -> None:
        record_id = record_id_of(store.commit("support", "uid-1", create_action()))
        now = store.get_record(record_id).updated_at
        old = make_incoming(message_id="<older@example.com>", sent_at=_LONG_AGO, received_at=_LONG_AGO)
        store.commit("archive", "mbox:a@0", append_action(record_id, attrs.evolve(old, history=True)))
        record = store.get_record(record_id)
        assert record.updated_at == now  # older mail does not make the record look active
        assert [detail.history for detail in record.details] == [False, True]
        # Old mail added to a record opened by older mail moves it up to that mail's time.
        opened = make_incoming(message_id="<first@example.com>", sent_at=_LONG_AGO, received_at=_LONG_AGO)
        old_record = record_id_of(
            store.commit("archive", "mbox:a@1", create_action(attrs.evolve(opened, history=True)))
        )
        later = _LONG_AGO + timedelta(days=3)
        reply = make_incoming(message_id="<reply@example.com>", sent_at=later, received_at=later)
        store.commit("archive", "mbox:a@2", append_action(old_record, attrs.evolve(reply, history=True)))
        assert store.get_record(old_record).updated_at == later
