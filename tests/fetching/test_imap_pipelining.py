"""IMAPFetcher's round trips: the SELECT and the listing in one write, the commands of
``after_import`` and the LOGOUT in one write, a COPY confirmed before its messages are deleted,
and what a refusal in such a window leaves on the server (scripted server,
tests/support/_imapserver.py; ``batches`` tells which lines arrived together)."""

from __future__ import annotations

import time

import pytest

from _imapserver import ScriptedIMAPServer
from mailtrack import FetchError
from mailtrack.fetching import IMAPFetcher
from mailtrack.fetching._imapafter import UIDS_PER_COMMAND
from mailtrack.testing import build_message

WITHOUT_MOVE = ("IMAP4rev1", "AUTH=PLAIN", "SASL-IR", "UIDPLUS", "IDLE")


def fill(server: ScriptedIMAPServer, count: int) -> None:
    for n in range(count):
        server.add(build_message(subject=f"message {n}", text=f"body {n}\n", message_id=f"p{n}@imap.test"))


def delete_all(server: ScriptedIMAPServer, **settings: str) -> IMAPFetcher:
    """Open, note every message for ``after_import``, and return the fetcher (not yet closed)."""
    fetcher = IMAPFetcher(server.interface(**settings))
    for info in fetcher.open():
        fetcher.delete(info)
    return fetcher


@pytest.mark.parametrize("keep", [False, True], ids=["select", "examine"])
def test_the_select_and_the_listing_go_out_in_one_write(keep: bool) -> None:
    with ScriptedIMAPServer() as server:
        fill(server, 3)
        fetcher = IMAPFetcher(server.interface(after_import="keep" if keep else "delete"))
        listing = fetcher.open()
        fetcher.close(commit=False)
        (select,) = server.batch_of("EXAMINE" if keep else "SELECT")
    assert [info.number for info in listing] == [1, 2, 3]
    assert server.batch_of("UID FETCH 1:*") == [select]


@pytest.mark.parametrize("refusal", ["BAD Invalid uidset", "NO nothing to fetch"])
def test_an_empty_folder_lists_nothing_even_where_the_server_refuses_the_range(refusal: str) -> None:
    with ScriptedIMAPServer(refuse={"UID FETCH": refusal}) as server:
        fetcher = IMAPFetcher(server.interface())
        assert fetcher.open() == []
        fetcher.close(commit=True)


def test_a_refused_listing_of_a_folder_with_messages_is_an_error() -> None:
    with ScriptedIMAPServer(refuse={"UID FETCH": "BAD Invalid uidset"}) as server:
        fill(server, 2)
        with pytest.raises(FetchError, match="the listing"):
            IMAPFetcher(server.interface()).open()


def handled(server: ScriptedIMAPServer, command: str) -> list[int]:
    """The batches of *command*, once the server has handled it: the server notes a line when it
    handles it, which may be a moment after the client gave up (a liveness bound, not a timing)."""
    deadline = time.monotonic() + 10
    while not server.batch_of(command) and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.batch_of(command)


def test_a_refused_select_is_the_error_even_though_the_listing_went_with_it() -> None:
    with ScriptedIMAPServer() as server:
        with pytest.raises(FetchError, match="folder that does not exist"):
            IMAPFetcher(server.interface(folder="Nowhere")).open()
        assert handled(server, "UID FETCH 1:*") == server.batch_of("SELECT")


def test_deletions_of_many_chunks_and_the_logout_go_out_in_one_write() -> None:
    count = 2 * UIDS_PER_COMMAND + 1
    with ScriptedIMAPServer() as server:
        fill(server, count)
        delete_all(server).close(commit=True)
        assert server.raws() == []
        stores, expunges = server.batch_of("UID STORE"), server.batch_of("UID EXPUNGE")
        logout = server.batch_of("LOGOUT")
    assert len(stores) == len(expunges) == 3
    assert set(stores) | set(expunges) == set(logout)  # all seven commands: one write


def test_flags_and_moves_and_the_logout_go_out_in_one_write() -> None:
    with ScriptedIMAPServer() as server:
        server.folders["Done"] = []
        fill(server, 3)
        delete_all(server, after_import="flag").close(commit=True)
        assert server.batch_of("UID STORE") == server.batch_of("LOGOUT")
        delete_all(server, after_import="move:Done").close(commit=True)
        assert (server.raws(), len(server.raws("Done"))) == ([], 3)
    assert server.batch_of("UID MOVE") == server.batch_of("LOGOUT")[1:]


def test_without_move_each_copy_is_confirmed_before_its_messages_are_deleted() -> None:
    with ScriptedIMAPServer(capabilities=WITHOUT_MOVE) as server:
        server.folders["Done"] = []
        fill(server, 3)
        delete_all(server, after_import="move:Done").close(commit=True)
        assert (server.raws(), len(server.raws("Done"))) == ([], 3)
        (copy,) = server.batch_of("UID COPY")
        (store,) = server.batch_of("UID STORE")
    assert copy < store
    assert server.batch_of("UID EXPUNGE") == server.batch_of("LOGOUT") == [store]


def test_a_refused_copy_deletes_nothing() -> None:
    with ScriptedIMAPServer(capabilities=WITHOUT_MOVE, refuse={"UID COPY": "NO [OVERQUOTA] full"}) as server:
        server.folders["Done"] = []
        fill(server, 3)
        fetcher = delete_all(server, after_import="move:Done")
        with pytest.raises(FetchError, match="over its quota"):
            fetcher.close(commit=True)
        assert (len(server.raws()), server.raws("Done")) == (3, [])
    assert server.batch_of("UID STORE") == []


def test_a_refused_store_raises_and_the_expunge_sent_with_it_removes_nothing() -> None:
    with ScriptedIMAPServer(refuse={"UID STORE": "NO [SERVERBUG] cannot store"}) as server:
        fill(server, 3)
        fetcher = delete_all(server)
        with pytest.raises(FetchError, match="cannot serve the mailbox now"):
            fetcher.close(commit=True)
        assert handled(server, "UID EXPUNGE") == server.batch_of("UID STORE")  # it was on its way
        assert len(server.raws()) == 3  # after the EXPUNGE was handled
