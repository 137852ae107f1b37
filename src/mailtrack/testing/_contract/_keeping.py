"""The store contract: the quarantine, saved interfaces and run reports."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ...abc import RecordStore
from ...config import ImportPolicy, Security
from ...exceptions import (
    InterfaceNotFoundError,
    QuarantineNotFoundError,
)
from ...models import (
    RunReport,
)
from .._builders import ManualClock
from ._base import (
    ALL_BYTES,
    UTC,
    ContractBase,
    an_interface,
    create_action,
    is_utc,
)

__all__ = ["KeepingContract"]


class KeepingContract(ContractBase):
    """The part of the store contract on the quarantine, saved interfaces and run reports."""

    # -- quarantine ----------------------------------------------------------------------------

    def test_quarantine_keeps_raw_bytes_and_error(self, store: RecordStore, clock: ManualClock) -> None:
        raw = b"From: x\r\n\r\n" + ALL_BYTES * 4096  # 1 MiB, every byte value
        kept = store.quarantine("support", "uid-1", raw, "the message has no header block")
        assert isinstance(kept.id, int)
        assert kept.interface == "support"
        assert kept.uid == "uid-1"
        assert kept.raw == raw
        assert kept.error == "the message has no header block"
        assert kept.attempts == 1
        assert is_utc(kept.quarantined_at)
        if self.controls_time:
            assert kept.quarantined_at == clock()
        assert store.get_quarantined(kept.id) == kept

    def test_quarantining_again_counts_one_more_attempt(self, store: RecordStore, clock: ManualClock) -> None:
        first = store.quarantine("support", "uid-1", b"raw", "first error")
        self.wait(clock, 10 if self.controls_time else 0)
        second = store.quarantine("support", "uid-1", b"raw", "second error")
        third = store.quarantine("support", "uid-1", b"raw", "third error")
        assert second.id == third.id == first.id
        assert third.attempts == 3
        assert third.error == "third error"
        assert third.quarantined_at == first.quarantined_at
        assert store.list_quarantined() == [third]
        assert store.get_quarantined(first.id) == third

    def test_is_quarantined(self, store: RecordStore) -> None:
        store.quarantine("support", "uid-1", b"raw", "bad")
        assert store.is_quarantined("support", "uid-1")
        assert not store.is_quarantined("support", "uid-2")
        assert not store.is_quarantined("sales", "uid-1")

    def test_quarantined_uids(self, store: RecordStore) -> None:
        store.quarantine("support", "uid-1", b"raw", "bad")
        store.quarantine("support", "x" * 300, b"raw", "bad")  # longer than a key column
        store.quarantine("sales", "uid-2", b"raw", "bad")
        uids = iter(["uid-1", "uid-2", "x" * 300, "uid-3"])  # any iterable, consumed once
        assert store.quarantined_uids("support", uids) == {"uid-1", "x" * 300}
        assert store.quarantined_uids("support", []) == set()

    def test_quarantine_is_separate_from_the_ledger(self, store: RecordStore) -> None:
        store.quarantine("support", "uid-1", b"raw", "bad")
        assert not store.is_imported("support", "uid-1")
        assert store.list_records() == []

    def test_list_quarantined_oldest_first_and_by_interface(self, store: RecordStore) -> None:
        a = store.quarantine("support", "uid-1", b"1", "e1")
        b = store.quarantine("sales", "uid-1", b"2", "e2")
        c = store.quarantine("support", "uid-2", b"3", "e3")
        assert [kept.id for kept in store.list_quarantined()] == [a.id, b.id, c.id]
        assert store.list_quarantined("support") == [a, c]
        assert store.list_quarantined("sales") == [b]
        assert store.list_quarantined("nobody") == []
        assert len({a.id, b.id, c.id}) == 3

    def test_get_quarantined_of_a_missing_id_raises(self, store: RecordStore) -> None:
        with pytest.raises(QuarantineNotFoundError):
            store.get_quarantined(4711)
        with pytest.raises(LookupError):
            store.get_quarantined(4711)

    def test_release_quarantined(self, store: RecordStore) -> None:
        kept = store.quarantine("support", "uid-1", b"raw", "bad")
        other = store.quarantine("support", "uid-2", b"raw", "bad")
        store.release_quarantined(kept.id)
        assert not store.is_quarantined("support", "uid-1")
        assert store.list_quarantined() == [other]
        with pytest.raises(QuarantineNotFoundError):
            store.get_quarantined(kept.id)
        with pytest.raises(QuarantineNotFoundError):
            store.release_quarantined(kept.id)

    def test_quarantine_after_release_starts_again(self, store: RecordStore) -> None:
        kept = store.quarantine("support", "uid-1", b"raw", "bad")
        store.quarantine("support", "uid-1", b"raw", "bad")
        store.release_quarantined(kept.id)
        again = store.quarantine("support", "uid-1", b"raw", "worse")
        assert again.attempts == 1
        assert again.error == "worse"
        assert store.list_quarantined() == [again]

    # -- interfaces ----------------------------------------------------------------------------

    def test_save_and_get_interface_keeps_every_value(self, store: RecordStore) -> None:
        interface = an_interface(
            "support",
            port=1995,
            security=Security.STARTTLS,
            ca_file="/etc/ssl/private-ca.pem",
            leave_copy=True,
            project="helpdesk",
            defaults={"priority": "normal", "queue": "Grüße 🔥"},
            timeout=12.5,
            max_message_bytes=1234567,
            enabled=False,
            policy=ImportPolicy(own_addresses=("support@example.com",), delete_quarantined=True),
        )
        store.save_interface(interface)
        got = store.get_interface("support")
        assert got == interface
        assert got.password == "s3cret-support"  # noqa: S105 - a test value

    def test_changing_a_returned_interface_does_not_change_the_store(self, store: RecordStore) -> None:
        store.save_interface(an_interface("support", defaults={"priority": "normal"}))
        defaults: Any = store.get_interface("support").defaults
        defaults["priority"] = "urgent"
        assert dict(store.get_interface("support").defaults) == {"priority": "normal"}

    def test_save_interface_replaces_by_name(self, store: RecordStore) -> None:
        store.save_interface(an_interface("support"))
        changed = an_interface("support", server="pop2.example.com", password="new-pw")  # noqa: S106
        store.save_interface(changed)
        assert store.get_interface("support") == changed
        assert store.list_interfaces() == [changed]

    def test_get_interface_of_a_missing_name_raises(self, store: RecordStore) -> None:
        with pytest.raises(InterfaceNotFoundError):
            store.get_interface("nobody")
        with pytest.raises(LookupError):
            store.get_interface("nobody")

    def test_list_interfaces_by_name(self, store: RecordStore) -> None:
        assert store.list_interfaces() == []
        for name in ("support", "billing", "sales"):
            store.save_interface(an_interface(name))
        assert [interface.name for interface in store.list_interfaces()] == ["billing", "sales", "support"]
        assert store.list_interfaces()[0] == an_interface("billing")

    def test_delete_interface_keeps_its_ledger_and_records(self, store: RecordStore) -> None:
        store.save_interface(an_interface("support"))
        store.save_interface(an_interface("sales"))
        store.commit("support", "uid-1", create_action())
        store.delete_interface("support")
        assert [interface.name for interface in store.list_interfaces()] == ["sales"]
        with pytest.raises(InterfaceNotFoundError):
            store.get_interface("support")
        assert store.is_imported("support", "uid-1")
        assert len(store.list_records()) == 1

    def test_delete_interface_of_a_missing_name_raises(self, store: RecordStore) -> None:
        with pytest.raises(InterfaceNotFoundError):
            store.delete_interface("nobody")

    # -- runs ----------------------------------------------------------------------------------

    def test_last_run_of_an_interface_that_never_ran(self, store: RecordStore) -> None:
        assert store.last_run("support") is None

    def test_last_run_is_the_newest_report_of_that_interface(self, store: RecordStore) -> None:
        start = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
        older = RunReport(interface="support", started_at=start, finished_at=start + timedelta(seconds=3))
        newer = RunReport(
            interface="support",
            started_at=start + timedelta(minutes=5),
            finished_at=start + timedelta(minutes=5, seconds=2),
            imported=4,
            created=2,
            updated=1,
            skipped=1,
            already_imported=3,
            quarantined=1,
            left_on_server=2,
            error="the server closed the connection",
            classes={"normal": 3, "bounce": 1},
            notes=("message 7 is larger than max_message_bytes", "message 9 was quarantined"),
        )
        plus_two = timezone(timedelta(hours=2))
        other = RunReport(
            interface="sales",
            started_at=datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=plus_two),
            finished_at=datetime(2024, 5, 1, 12, 0, 1, 500000, tzinfo=plus_two),
            imported=9,
        )
        store.save_run(older)
        store.save_run(newer)
        store.save_run(other)
        assert store.last_run("support") == newer
        assert store.last_run("sales") == other
        last = store.last_run("support")
        assert last is not None
        assert is_utc(last.started_at)
        assert is_utc(last.finished_at)
        sales = store.last_run("sales")
        assert sales is not None
        assert is_utc(sales.started_at)
        assert sales.started_at.hour == 10
        assert sales.started_at.microsecond == 250000

    def test_changing_a_returned_run_report_does_not_change_the_store(self, store: RecordStore) -> None:
        moment = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
        classes = {"normal": 1}
        store.save_run(RunReport(interface="support", started_at=moment, finished_at=moment, classes=classes))
        classes["normal"] = 99
        got = store.last_run("support")
        assert got is not None
        got_classes: Any = got.classes
        got_classes["bounce"] = 5
        again = store.last_run("support")
        assert again is not None
        assert dict(again.classes) == {"normal": 1}
