"""Issue 14.4: the listing is held compactly, and one run's work is bounded.

Memory is measured here as what the listing keeps (tracemalloc, not time): under 100 bytes per
listed message. How fast a million-message mailbox starts retrieving is measured by
``benchmarks/bench_listing.py``, not by a test.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from _scripted_pop3 import ScriptedPOP3
from _sigkill_worker import make_interface
from mailtrack import Importer, MailInterface, MemoryRecordStore, MessageInfo
from mailtrack.fetching import POP3Fetcher
from mailtrack.fetching._listing import ledger_uid, listing_of, parse_list, parse_uidl
from mailtrack.testing import POP3TestServer, build_message


def test_a_listed_message_costs_under_100_bytes() -> None:
    count = 100_000
    with ScriptedPOP3(count=count) as server:
        fetcher = POP3Fetcher(make_interface(server.port, leave_copy=False))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            listing = fetcher.open()
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            fetcher.close(commit=False)
    assert len(listing) == count
    assert listing[0] == MessageInfo(number=1, uid="uid-1", size=1000)
    assert listing[-1] == MessageInfo(number=count, uid=f"uid-{count}", size=1000)
    # The session's own buffers and objects are in *kept* too; the listing dominates.
    assert kept / count < 100, f"{kept / count:.0f} bytes per listed message"


def test_the_listing_reads_like_a_sequence_of_message_infos() -> None:
    uidl = parse_uidl(b"1 a\r\n2 b\r\n3 c\r\n")
    listing = listing_of(uidl, parse_list(b"1 10\r\n2 20\r\n3 30\r\n"), "here")
    assert list(listing) == [
        MessageInfo(number=1, uid="a", size=10),
        MessageInfo(number=2, uid="b", size=20),
        MessageInfo(number=3, uid="c", size=30),
    ]
    assert listing[1:] == [MessageInfo(number=2, uid="b", size=20), MessageInfo(number=3, uid="c", size=30)]
    assert listing[-1].uid == "c"
    assert len(listing) == 3
    assert listing_of(None, parse_list(b"2 20\r\n1 10\r\n"), "here") == [
        MessageInfo(number=1, uid=None, size=10),
        MessageInfo(number=2, uid=None, size=20),
    ]


def test_messages_only_uidl_or_list_names_are_left_out() -> None:
    listing = listing_of(
        parse_uidl(b"1 a\r\n2 b\r\n4 d\r\n"), parse_list(b"1 10\r\n3 30\r\n4 40\r\n"), "here"
    )
    assert [(info.number, info.uid) for info in listing] == [(1, "a"), (4, "d")]


def test_malformed_lines_are_skipped_and_the_rest_is_read() -> None:
    uidl = parse_uidl(b"1 a\r\ngarbage\r\n 2   b  extra\r\n3\r\n4 d\r\n")
    sizes = parse_list(b"1 10\r\n2 x\r\n2 20\r\n4 40\r\n")
    assert [(info.number, info.uid, info.size) for info in listing_of(uidl, sizes, "here")] == [
        (1, "a", 10),
        (2, "b", 20),
        (4, "d", 40),
    ]


@pytest.mark.parametrize(
    "uid", [b"ctl\x1b]0;T\x07", b"x" * 71, b"\xe2\x80\xaeexe", b"\x00"], ids=["esc", "long", "bidi", "nul"]
)
def test_a_uid_rfc_1939_does_not_allow_is_keyed_by_its_digest(uid: bytes) -> None:
    key = ledger_uid(uid)
    assert key.startswith(b"uidl-sha256:")
    assert len(key) == 12 + 64
    assert key == ledger_uid(uid)  # the same key on every run
    [info] = listing_of(parse_uidl(b"1 " + uid + b"\r\n"), parse_list(b"1 10\r\n"), "here")
    assert info.uid == key.decode()
    assert ledger_uid(b"x" * 70) == b"x" * 70


def test_max_messages_per_run_imports_the_oldest_first_and_the_rest_next_run() -> None:
    messages = [build_message(subject=f"m{n}", message_id=f"<m{n}@example.org>") for n in range(25)]
    with POP3TestServer(messages) as server, MemoryRecordStore() as store:
        importer = Importer(store=store)
        interface = server.interface(max_messages_per_run=10)
        first = importer.run(interface)
        assert first.created == 10
        assert any("max_messages_per_run (10) reached: 15 more" in note for note in first.notes)
        assert [raw for _uid, raw in server.mailbox] == messages[10:]  # the oldest went first
        second, third = importer.run(interface), importer.run(interface)
        assert (second.created, third.created) == (10, 5)
        assert not any("max_messages_per_run" in note for note in third.notes)
        assert len(server.mailbox) == 0
    assert MailInterface(name="x", server="s", login="l").max_messages_per_run == 2000


def test_the_importer_leaves_a_second_message_under_a_listed_uid() -> None:
    first, second = (build_message(subject=s, message_id=f"<{s}@example.org>") for s in ("one", "two"))
    with ScriptedPOP3([(b"same", first), (b"same", second)]) as server, MemoryRecordStore() as store:
        report = Importer(store=store).run(make_interface(server.port, leave_copy=False))
        assert report.created == 1
        assert server.deleted == {1}  # the second stays for a later run
