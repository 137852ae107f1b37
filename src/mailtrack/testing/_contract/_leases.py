"""The store contract: leases, the optional lease methods, and sharing a store between threads."""

from __future__ import annotations

from ...abc import RecordStore
from ...models import (
    CommitOutcome,
    CommitResult,
)
from .._builders import ManualClock, make_incoming
from ._base import (
    ContractBase,
    append_action,
    create_action,
)

__all__ = ["LeasesContract"]


class LeasesContract(ContractBase):
    """The part of the store contract on leases (with the optional lease methods) and on sharing
    one store between threads."""

    # -- leases --------------------------------------------------------------------------------

    def test_free_lease_is_granted(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds) is True

    def test_lease_held_by_another_owner_is_refused(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        assert store.acquire_lease("support", "worker-2", seconds) is False

    def test_same_owner_renews_its_lease(self, store: RecordStore, clock: ManualClock) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        self.wait(clock, seconds * 0.6)
        assert store.acquire_lease("support", "worker-1", seconds) is True
        # Past the first lease's end (1.2 > 1.0), inside the renewed one (1.2 < 1.6).
        self.wait(clock, seconds * 0.6)
        assert store.acquire_lease("support", "worker-2", seconds) is False
        self.wait(clock, seconds * 0.5)
        assert store.acquire_lease("support", "worker-2", seconds) is True

    def test_expired_lease_goes_to_another_owner(self, store: RecordStore, clock: ManualClock) -> None:
        seconds, outlast = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        self.wait(clock, outlast)
        assert store.acquire_lease("support", "worker-2", seconds) is True
        assert store.acquire_lease("support", "worker-1", seconds) is False

    def test_released_lease_is_free(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        store.release_lease("support", "worker-1")
        assert store.acquire_lease("support", "worker-2", seconds) is True

    def test_release_by_another_owner_does_nothing(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        store.release_lease("support", "worker-2")
        store.release_lease("sales", "worker-1")
        assert store.acquire_lease("support", "worker-2", seconds) is False
        store.release_lease("nobody", "worker-1")  # no lease at all: no error

    def test_leases_are_per_interface(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        assert store.acquire_lease("sales", "worker-2", seconds) is True
        assert store.acquire_lease("sales", "worker-1", seconds) is False

    def test_lease_holder_names_the_owner_and_the_end(self, store: RecordStore, clock: ManualClock) -> None:
        seconds, outlast = self.lease_window()
        assert store.lease_holder("support") is None
        assert store.acquire_lease("support", "worker-1", seconds)
        holder = store.lease_holder("support")
        if not self.provides(store, "lease_holder"):
            assert holder is None  # the default: not known
            return
        assert holder is not None
        assert (holder.interface, holder.owner) == ("support", "worker-1")
        assert holder.expires_at > clock()
        self.wait(clock, outlast)
        assert store.lease_holder("support") is None  # expired: nobody holds it
        assert store.acquire_lease("sales", "worker-2", seconds)
        store.release_lease("sales", "worker-2")
        assert store.lease_holder("sales") is None

    def test_take_over_lease_only_from_the_owner_named(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "dead-worker", seconds)
        assert store.take_over_lease("support", "worker-2", seconds, "someone-else") is False
        assert store.acquire_lease("support", "worker-2", seconds) is False
        if not self.provides(store, "take_over_lease"):
            # The default: never taken over; the lease stays with its holder until it expires.
            assert store.take_over_lease("support", "worker-2", seconds, "dead-worker") is False
            assert store.acquire_lease("support", "worker-2", seconds) is False
            return
        assert store.take_over_lease("support", "worker-2", seconds, "dead-worker") is True
        assert store.acquire_lease("support", "dead-worker", seconds) is False
        assert store.acquire_lease("support", "worker-2", seconds) is True  # its own lease: renewed
        # The second of two workers taking over the same holder finds it gone.
        assert store.take_over_lease("support", "worker-3", seconds, "dead-worker") is False
        assert store.take_over_lease("nothing-held", "worker-2", seconds, "dead-worker") is False

    def test_concurrent_take_overs_of_one_lease_have_one_winner(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "dead-worker", seconds)
        won = self.run_in_threads(
            self.concurrency,
            lambda index: store.take_over_lease("support", f"worker-{index}", seconds, "dead-worker"),
        )
        assert won.count(True) == (1 if self.provides(store, "take_over_lease") else 0)

    # -- concurrency ---------------------------------------------------------------------------

    def test_concurrent_commits_of_one_pair_create_one_record(self, store: RecordStore) -> None:
        def work(index: int) -> CommitResult:
            return store.commit("support", "uid-1", create_action(make_incoming(subject=f"try {index}")))

        results = self.run_in_threads(self.concurrency, work)
        outcomes = sorted(result.outcome.value for result in results)
        assert outcomes.count(CommitOutcome.CREATED.value) == 1
        assert outcomes.count(CommitOutcome.ALREADY_IMPORTED.value) == self.concurrency - 1
        (record,) = store.list_records()
        assert len(record.details) == 1

    def test_concurrent_commits_of_one_message_id_make_one_detail(self, store: RecordStore) -> None:
        message = make_incoming()

        def work(index: int) -> CommitResult:
            return store.commit(f"mailbox-{index}", "uid-1", create_action(message))

        results = self.run_in_threads(self.concurrency, work)
        outcomes = [result.outcome for result in results]
        assert outcomes.count(CommitOutcome.CREATED) == 1
        assert outcomes.count(CommitOutcome.DUPLICATE) == self.concurrency - 1
        (record,) = store.list_records()
        assert len(record.details) == 1
        assert {result.record_id for result in results} == {record.id}
        assert all(store.is_imported(f"mailbox-{index}", "uid-1") for index in range(self.concurrency))

    def test_concurrent_commits_of_different_pairs_all_land(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-0", create_action())
        assert first.record_id is not None
        record_id = first.record_id

        def work(index: int) -> list[CommitResult]:
            return [
                store.commit("support", f"uid-{index}-create", create_action()),
                store.commit("support", f"uid-{index}-append", append_action(record_id)),
            ]

        results = [result for pair in self.run_in_threads(self.concurrency, work) for result in pair]
        assert sorted(result.outcome.value for result in results) == sorted(
            [CommitOutcome.CREATED.value, CommitOutcome.APPENDED.value] * self.concurrency
        )
        assert len(store.list_records()) == self.concurrency + 1
        assert len(store.get_record(record_id).details) == self.concurrency + 1
        detail_ids = [result.detail_id for result in results]
        assert len(set(detail_ids)) == len(detail_ids)

    def test_concurrent_lease_requests_have_one_winner(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()

        def work(index: int) -> bool:
            return store.acquire_lease("support", f"worker-{index}", seconds)

        assert self.run_in_threads(self.concurrency, work).count(True) == 1

    # -- lifecycle -----------------------------------------------------------------------------

    def test_store_is_a_context_manager_and_close_can_be_repeated(self, store: RecordStore) -> None:
        with store as entered:
            assert entered is store
        store.close()
