"""One lookup per decision: what the run asks the store while it imports a mailbox.

A record found to exist is not looked up again in the same run; the quarantine is asked once for
the listing, not once per message; the IDs the store gives its next records are asked once per
batch. The records made are those of an importer that asks every time (batch_size=1 commits
each message before the next is decided).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mailtrack import Importer, ImportPolicy, MailInterface, SenderPolicy
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import FakeMailbox, build_message


class CountingStore(SQLRecordStore):
    """A SQLite store that counts the lookups the importer makes."""

    asked: Counter[str]

    def has_record(self, record_id: int, project: str | None = None) -> bool:
        self.asked["has_record"] += 1
        return super().has_record(record_id, project)

    def is_quarantined(self, interface: str, uid: str) -> bool:
        self.asked["is_quarantined"] += 1
        return super().is_quarantined(interface, uid)

    def quarantined_uids(self, interface: str, uids: Any) -> set[str]:
        self.asked["quarantined_uids"] += 1
        return super().quarantined_uids(interface, uids)

    def next_record_ids(self, count: int) -> range | None:
        self.asked["next_record_ids"] += 1
        return super().next_record_ids(count)


def _run(tmp_path: Path, name: str, **options: Any) -> tuple[CountingStore, list[tuple[str, list[str]]]]:
    store = CountingStore(f"sqlite:///{tmp_path / name}")
    store.asked = Counter()
    messages = {"open": build_message(subject="Printer on fire")}
    # Ten replies to record #1, and ten messages naming records that do not exist (yet).
    messages.update({f"r{n}": build_message(subject=f"Re: [#1] Printer on fire ({n})") for n in range(10)})
    messages.update({f"n{n}": build_message(subject=f"About #{500 + n}") for n in range(10)})
    mailbox = FakeMailbox(messages)
    interface = MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        project="helpdesk",
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )
    report = Importer(store=store, fetcher_factory=mailbox.fetcher, **options).run(interface)
    assert report.error is None
    assert len(mailbox) == 0
    records = [
        (record.title, [detail.subject for detail in record.details])
        for record in sorted(store.list_records(), key=lambda record: record.id)
    ]
    return store, records


def test_a_record_found_once_is_not_looked_up_again(tmp_path: Path) -> None:
    store, records = _run(tmp_path, "batched.db", conversion_workers=0)
    _one_by_one, expected = _run(tmp_path, "one-by-one.db", batch_size=1, conversion_workers=0)
    assert records == expected
    assert len(records[0][1]) == 11  # the ten replies joined record #1
    # #1 twice (missing while the batch that opens it waits, found after its commit), then
    # never again; each of the ten missing records once.
    assert store.asked["has_record"] == 12
    store.close()
    _one_by_one.close()


def test_the_quarantine_is_asked_once_for_the_listing(tmp_path: Path) -> None:
    store, _records = _run(tmp_path, "store.db", conversion_workers=0)
    assert store.asked["quarantined_uids"] == 1
    assert store.asked["is_quarantined"] == 0
    store.close()


def test_the_next_record_ids_are_asked_once_per_batch(tmp_path: Path) -> None:
    store, _records = _run(tmp_path, "store.db", conversion_workers=0)
    # The messages naming missing records meet a batch that opens records: one question for the
    # batch, however many of them there are (the batch may be cut before #1's replies).
    assert 1 <= store.asked["next_record_ids"] <= 2
    store.close()
