"""RFC 2449 PIPELINING in POP3Fetcher: RETR and DELE in windows, one command at a time without it,
the wire kept in step when a consumer stops early, and DELE only at the end of a committed session."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from mailtrack import FetchError, MessageInfo
from mailtrack.fetching import POP3Fetcher
from mailtrack.fetching._pipeline import Pipeline, Window
from mailtrack.testing import Faults, POP3TestServer

DOTTED = b"From: a@example.com\r\nSubject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nend\r\n"
MESSAGES = [DOTTED] + [
    b"From: b@example.com\r\nSubject: message %d\r\n\r\n" % n + b"line\r\n" * n for n in range(1, 12)
]


def batches(server: POP3TestServer, command: str) -> list[int]:
    """The read numbers that brought each *command* line (lines sharing one were pipelined)."""
    return [line.batch for line in server.received if line.command == command]


def test_retr_commands_go_out_in_one_window_and_every_message_arrives_whole() -> None:
    with POP3TestServer(MESSAGES) as server:
        fetcher = POP3Fetcher(server.interface())
        retrieved = list(fetcher.retrieve_many(fetcher.open()))
        fetcher.close(commit=False)
    assert [raw for _info, raw in retrieved] == MESSAGES
    assert len(set(batches(server, "RETR"))) == 1  # twelve RETRs, one write


def test_without_pipelining_each_command_waits_for_the_reply_before() -> None:
    with POP3TestServer(MESSAGES, pipelining=False) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        retrieved = list(fetcher.retrieve_many(listing))
        for info in listing:
            fetcher.delete(info)
        fetcher.close(commit=True)
        assert server.mailbox == []
    assert [raw for _info, raw in retrieved] == MESSAGES
    retr, dele = batches(server, "RETR"), batches(server, "DELE")
    assert len(set(retr)) == len(retr) == len(MESSAGES)
    assert len(set(dele)) == len(dele) == len(MESSAGES)


def test_deletions_go_out_in_one_window_before_quit_and_only_when_committing() -> None:
    with POP3TestServer(MESSAGES) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        for info, _raw in fetcher.retrieve_many(listing):
            if info.number % 2:
                fetcher.delete(info)
        assert "DELE" not in server.transcripts[0].commands  # marked, not sent yet
        fetcher.close(commit=True)
        assert [raw for _uid, raw in server.mailbox] == MESSAGES[1::2]
    (dele,) = set(batches(server, "DELE"))
    (quit_,) = batches(server, "QUIT")
    assert quit_ > dele  # QUIT only after every DELE was confirmed


def test_a_consumer_that_stops_early_leaves_the_session_in_step() -> None:
    with POP3TestServer(MESSAGES) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        messages = fetcher.retrieve_many(listing)
        assert isinstance(messages, Generator)  # POP3Fetcher's is a generator: it can be closed
        first, raw = next(messages)
        messages.close()  # eleven RETR replies were still on their way
        fetcher.delete(first)
        fetcher.close(commit=True)
        assert raw == DOTTED
        assert [raw for _uid, raw in server.mailbox] == MESSAGES[1:]


def test_a_refused_dele_ends_the_session_without_quit() -> None:
    with POP3TestServer(MESSAGES[:2]) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        fetcher.delete(listing[0])
        fetcher.delete(MessageInfo(number=99, uid="gone", size=1))
        with pytest.raises(FetchError, match="refused to delete message 99"):
            fetcher.close(commit=True)
        assert "QUIT" not in server.transcripts[0].commands
        assert len(server.mailbox) == 2


def test_a_connection_lost_in_a_window_deletes_nothing() -> None:
    with POP3TestServer(MESSAGES, faults=Faults(drop_after_bytes=30, drop_on_message=5)) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        retrieved: list[bytes] = []

        def retrieve_and_mark() -> None:
            for info, raw in fetcher.retrieve_many(listing):
                retrieved.append(raw)
                fetcher.delete(info)

        with pytest.raises(FetchError, match="closed the connection"):
            retrieve_and_mark()
        with pytest.raises(FetchError, match="4 deletion"):
            fetcher.close(commit=True)
        assert retrieved == MESSAGES[:4]
        assert len(server.mailbox) == len(MESSAGES)


# -- the window itself ------------------------------------------------------------------------------


class RecordingWire:
    """Stands in for the wire: remembers each write (a list of commands)."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, ...]] = []

    def send(self, *commands: str) -> None:
        self.writes.append(commands)


def run_pipeline(window: Window, sizes: list[int]) -> tuple[RecordingWire, list[int]]:
    wire = RecordingWire()
    outstanding: list[int] = []

    def read(item: int) -> int:
        sent = sum(len(write) for write in wire.writes)
        outstanding.append(sent - item)  # commands sent but not yet read, this one included
        return item

    pipeline = Pipeline(
        wire,  # type: ignore[arg-type]
        range(len(sizes)),
        command=lambda n: f"RETR {n + 1}",
        read=read,
        size=lambda n: sizes[n],
        window=window,
    )
    assert [item for item, _reply in pipeline] == list(range(len(sizes)))
    return wire, outstanding


def test_the_window_bounds_the_commands_ahead_of_the_replies() -> None:
    wire, outstanding = run_pipeline(Window(commands=8, size=10**9), [1] * 30)
    assert max(outstanding) <= 8
    assert [command for write in wire.writes for command in write] == [f"RETR {n}" for n in range(1, 31)]
    assert len(wire.writes) < 30  # several commands per write


def test_the_window_bounds_the_announced_bytes_but_one_command_always_goes() -> None:
    sizes = [60] * 6 + [500] + [10] * 3
    wire, outstanding = run_pipeline(Window(commands=64, size=100), sizes)
    assert max(outstanding[:6]) == 2  # 60 + 60 reaches the 100 bytes
    assert outstanding[6] == 1  # the 500-byte message went alone
    assert outstanding[7] == 3  # and then the small ones together
    assert ("RETR 7",) in wire.writes


def test_one_at_a_time_sends_one_command_per_write() -> None:
    wire, outstanding = run_pipeline(Window.one_at_a_time(), [5] * 5)
    assert wire.writes == [(f"RETR {n}",) for n in range(1, 6)]
    assert set(outstanding) == {1}


@pytest.mark.parametrize("pipelining", [True, False])
def test_uidl_and_list_share_a_round_trip_only_when_the_server_pipelines(pipelining: bool) -> None:
    with POP3TestServer(MESSAGES[:2], pipelining=pipelining) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        fetcher.close(commit=False)
    assert [info.number for info in listing] == [1, 2]
    (uidl,), (list_,) = batches(server, "UIDL"), batches(server, "LIST")
    assert (uidl == list_) is pipelining
