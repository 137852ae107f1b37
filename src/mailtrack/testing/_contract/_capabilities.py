"""The store contract: the optional capabilities the importer uses, with their defaults."""

from __future__ import annotations

import attrs

from ...abc import RecordStore
from ...models import CommitOutcome, CommitResult, ContentDigest, SkipMessage
from .._builders import make_incoming
from ._base import ContractBase, append_action, create_action, record_id_of

__all__ = ["CapabilitiesContract"]


class CapabilitiesContract(ContractBase):
    """The part of the store contract on :attr:`~mailtrack.abc.RecordStore.max_connections`,
    :meth:`~mailtrack.abc.RecordStore.next_record_ids` and
    :meth:`~mailtrack.abc.RecordStore.ledger_digests` (a store that does not provide them keeps
    the defaults, ``None`` and ``{}``)."""

    def test_max_connections_is_none_or_a_positive_number(self, store: RecordStore) -> None:
        limit = store.max_connections
        if not self.provides(store, "max_connections"):
            assert limit is None
            return
        assert limit is None or (type(limit) is int and limit >= 1)

    def test_as_many_threads_as_max_connections_use_the_store_at_once(self, store: RecordStore) -> None:
        created = record_id_of(store.commit("support", "uid-0", create_action()))
        limit = store.max_connections
        threads = self.concurrency if limit is None else min(limit, self.concurrency)
        found = self.run_in_threads(
            threads, lambda index: (store.has_record(created), store.is_imported("support", "uid-0"))
        )
        assert found == [(True, True)] * threads

    def test_conversion_attempts_are_counted_until_cleared(self, store: RecordStore) -> None:
        store.add_conversion_attempts("support", ["uid-1", "uid-2"])
        store.add_conversion_attempts("support", ["uid-1"])
        store.add_conversion_attempts("sales", ["uid-1"])
        found = store.conversion_attempts("support", ["uid-1", "uid-2", "uid-3"])
        if not self.provides(store, "conversion_attempts"):
            assert found == {}
            return
        assert found == {"uid-1": 2, "uid-2": 1}
        store.clear_conversion_attempts("support", ["uid-1", "uid-3"])
        assert store.conversion_attempts("support", ["uid-1", "uid-2"]) == {"uid-2": 1}
        assert store.conversion_attempts("sales", ["uid-1"]) == {"uid-1": 1}
        long_uid = "u" * 300  # longer than a key column
        store.add_conversion_attempts("support", [long_uid, long_uid])
        assert store.conversion_attempts("support", [long_uid]) == {long_uid: 1}

    def test_next_record_ids_are_the_ids_the_next_records_get(self, store: RecordStore) -> None:
        store.commit("support", "uid-0", create_action())
        ids = store.next_record_ids(3)
        if not self.provides(store, "next_record_ids"):
            assert ids is None
            return
        if ids is None:  # the database cannot tell (it may skip numbers)
            return
        assert isinstance(ids, range)
        assert len(ids) == 3
        opened = [record_id_of(store.commit("support", f"uid-{n}", create_action())) for n in (1, 2, 3)]
        assert opened == list(ids)

    def test_ledger_digests_are_what_each_commit_was_given(self, store: RecordStore) -> None:
        first = ContentDigest(sha256="0" * 64, listed_size=2048)
        second = ContentDigest(sha256="f" * 64, listed_size=None)
        skipped = ContentDigest(sha256="a" * 64, listed_size=10)
        created = record_id_of(store.commit("support", "uid-1", attrs.evolve(create_action(), digest=first)))
        appended = attrs.evolve(
            append_action(created, make_incoming(message_id="<2@example.com>")), digest=second
        )
        store.commit("support", "uid-2", appended)
        store.commit("support", "uid-3", SkipMessage(reason="bounce", digest=skipped))
        store.commit("support", "uid-4", create_action(make_incoming(message_id="<4@example.com>")))
        # The pair was imported already: its digest stays the first one's.
        store.commit("support", "uid-1", attrs.evolve(create_action(), digest=second))
        found = store.ledger_digests("support", ["uid-1", "uid-2", "uid-3", "uid-4", "uid-5"])
        if not self.provides(store, "ledger_digests"):
            assert found == {}
            return
        assert found == {"uid-1": first, "uid-2": second, "uid-3": skipped}
        assert store.ledger_digests("sales", ["uid-1"]) == {}
        assert store.ledger_digests("support", []) == {}

    def test_content_in_the_ledger_under_another_key_is_not_imported_again(self, store: RecordStore) -> None:
        if not self.provides(store, "ledger_digests"):
            return  # a store that keeps no digests matches by Message-ID only
        kept = ContentDigest(sha256="1" * 64, listed_size=100)
        skipped = ContentDigest(sha256="2" * 64, listed_size=100)
        first = store.commit("support", "INBOX/1:7", attrs.evolve(create_action(), digest=kept))
        store.commit("support", "INBOX/1:8", SkipMessage(reason="auto-reply", digest=skipped))
        # The folder was rebuilt: new keys, the same bytes (converted again: new Message-IDs
        # where the mail had none, another decision now that a record exists).
        again = store.commit(
            "support",
            "INBOX/2:1",
            attrs.evolve(create_action(make_incoming(message_id="<new@example.com>")), digest=kept),
        )
        now_appended = attrs.evolve(
            append_action(record_id_of(first), make_incoming(message_id="<auto@example.com>")),
            digest=skipped,
        )
        skipped_again = store.commit("support", "INBOX/2:2", now_appended)
        assert again == CommitResult(
            outcome=CommitOutcome.DUPLICATE, record_id=first.record_id, detail_id=first.detail_id
        )
        assert skipped_again == CommitResult(outcome=CommitOutcome.SKIPPED)
        assert store.imported_uids("support", ["INBOX/2:1", "INBOX/2:2"]) == {"INBOX/2:1", "INBOX/2:2"}
        assert store.ledger_digests("support", ["INBOX/2:1"]) == {"INBOX/2:1": kept}
        assert len(store.get_record(record_id_of(first)).details) == 1
        assert len(store.list_records()) == 1
        # Another interface's ledger is its own.
        other = store.commit("sales", "1", attrs.evolve(create_action(), digest=kept))
        assert other.outcome is CommitOutcome.CREATED

    def test_commit_many_recognises_content_in_the_ledger_and_in_the_same_batch(
        self, store: RecordStore
    ) -> None:
        if not self.provides(store, "ledger_digests"):
            return  # a store that keeps no digests matches by Message-ID only
        kept = ContentDigest(sha256="3" * 64, listed_size=100)
        fresh = ContentDigest(sha256="4" * 64, listed_size=100)
        first = store.commit("support", "INBOX/1:1", attrs.evolve(create_action(), digest=kept))
        results = store.commit_many(
            [
                (
                    "support",
                    "INBOX/2:1",
                    attrs.evolve(create_action(make_incoming(message_id="<a@x>")), digest=kept),
                ),
                (
                    "support",
                    "INBOX/2:2",
                    attrs.evolve(create_action(make_incoming(message_id="<b@x>")), digest=fresh),
                ),
                (
                    "support",
                    "INBOX/2:3",
                    attrs.evolve(create_action(make_incoming(message_id="<c@x>")), digest=fresh),
                ),
            ]
        )
        assert results[0] == CommitResult(
            outcome=CommitOutcome.DUPLICATE, record_id=first.record_id, detail_id=first.detail_id
        )
        assert results[1].outcome is CommitOutcome.CREATED
        assert results[2] == CommitResult(
            outcome=CommitOutcome.DUPLICATE, record_id=results[1].record_id, detail_id=results[1].detail_id
        )
        assert len(store.list_records()) == 2
        assert store.imported_uids("support", ["INBOX/2:1", "INBOX/2:2", "INBOX/2:3"]) == {
            "INBOX/2:1",
            "INBOX/2:2",
            "INBOX/2:3",
        }
