"""MemoryRecordStore: the store contract, plus what is particular to the in-memory store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from mailtrack import CreateRecord, MemoryRecordStore, RecordStore
from mailtrack.testing import ManualClock, RecordStoreContract, make_attachment, make_incoming


class TestMemoryRecordStore(RecordStoreContract):
    @pytest.fixture
    def store(self, clock: ManualClock) -> Iterator[RecordStore]:
        with MemoryRecordStore(clock=clock) as store:
            yield store


class TestMemoryRecordStoreOnRealTime(RecordStoreContract):
    """The contract's path for stores that read the real time (``controls_time = False``)."""

    controls_time = False

    @pytest.fixture
    def store(self) -> Iterator[RecordStore]:
        with MemoryRecordStore() as store:
            yield store


class _WithoutOptionalLeaseMethods(MemoryRecordStore):
    """A store that keeps the ABC's defaults for the optional lease methods, as a third-party
    store written before them does."""

    lease_holder = RecordStore.lease_holder
    take_over_lease = RecordStore.take_over_lease


class TestAStoreWithoutTheOptionalMethods(RecordStoreContract):
    """The contract holds such a store to the documented defaults (nobody known, no take-over)."""

    @pytest.fixture
    def store(self, clock: ManualClock) -> Iterator[RecordStore]:
        with _WithoutOptionalLeaseMethods(clock=clock) as store:
            yield store

    def test_the_importer_waits_for_the_lease_to_expire(self, store: RecordStore) -> None:
        from mailtrack import Importer, MailInterface
        from mailtrack._importing.holders import default_worker_id
        from mailtrack.testing import FakeMailbox, build_message

        assert store.acquire_lease("support", default_worker_id(), 300)
        mailbox = FakeMailbox([build_message()])
        report = Importer(store=store, fetcher_factory=mailbox.fetcher).run(
            MailInterface(name="support", server="pop.example.com", login="support")
        )
        assert report.busy
        assert report.error == "another worker is importing this mailbox"
        assert len(mailbox) == 1


def _create(**incoming: object) -> CreateRecord:
    return CreateRecord(message=make_incoming(**incoming), project="default", title="t")  # type: ignore[arg-type]


def test_ids_count_from_one_per_kind() -> None:
    store = MemoryRecordStore()
    first = store.commit(
        "support", "uid-1", _create(attachments=[make_attachment(b"a"), make_attachment(b"b")])
    )
    second = store.commit("support", "uid-2", _create(attachments=[make_attachment(b"c")]))
    assert (first.record_id, first.detail_id) == (1, 1)
    assert (second.record_id, second.detail_id) == (2, 2)
    attachments = [
        attachment.id for record in store.list_records()[::-1] for attachment in record.details[0].attachments
    ]
    assert attachments == [1, 2, 3]
    assert store.quarantine("support", "uid-3", b"raw", "bad").id == 1
    assert store.quarantine("support", "uid-4", b"raw", "bad").id == 2


def test_default_clock_is_aware_utc_now() -> None:
    before = datetime.now(timezone.utc)
    store = MemoryRecordStore()
    result = store.commit("support", "uid-1", _create())
    assert result.record_id is not None
    created = store.get_record(result.record_id).created_at
    assert created.tzinfo is not None
    assert before <= created <= datetime.now(timezone.utc)


def test_failed_append_leaves_no_trace_in_ids() -> None:
    store = MemoryRecordStore()
    from mailtrack import AppendToRecord, RecordNotFoundError

    with pytest.raises(RecordNotFoundError, match="record #99 does not exist"):
        store.commit("support", "uid-1", AppendToRecord(message=make_incoming(), record_id=99))
    assert store.commit("support", "uid-1", _create()).record_id == 1


def test_repr_shows_no_secrets() -> None:
    from mailtrack import MailInterface

    store = MemoryRecordStore()
    store.save_interface(
        MailInterface(name="support", server="pop.example.com", login="l", password="hunter2")
    )
    assert "hunter2" not in repr(store)
    assert repr(store) == "MemoryRecordStore(records=0, interfaces=1)"


def test_many_threads_mixing_every_method() -> None:
    store = MemoryRecordStore()
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for n in range(50):
                store.commit(f"i{index % 3}", f"{index}-{n}", _create())
                store.list_records(limit=5)
                store.quarantine(f"i{index}", str(n), b"raw", "bad")
                store.acquire_lease("support", f"w{index}", 1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.list_records()) == 300
    assert len(store.list_quarantined()) == 300
