"""The ledger's content digest: a UID listed again is told apart for certain from a new message
under a UID the server reused, with ``leave_copy`` as in a mailbox the importer empties, and the
run's notes say what happened. Through a real POP3 session (POP3TestServer)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _hypothesis_profiles import BASE
from mailtrack import (
    ContentDigest,
    CreateRecord,
    Importer,
    ImportPolicy,
    IncomingMessage,
    MailParserConverter,
    MemoryRecordStore,
    RecordStore,
    SenderPolicy,
)
from mailtrack._digest import content_digest
from mailtrack.testing import POP3TestServer, build_message
from mailtrack.testing._builders import make_incoming
from mailtrack.testing._pop3mailbox import Faults

ANYONE = ImportPolicy(sender_policy=SenderPolicy.ANYONE)


def _interface(server: POP3TestServer, **overrides: Any) -> Any:
    values: dict[str, Any] = {"name": "support", "project": "helpdesk", "policy": ANYONE}
    values.update(overrides)
    return server.interface(**values)


def _retrieved(server: POP3TestServer) -> int:
    return sum(1 for line in server.received if line.command == "RETR")


def _titles(store: RecordStore) -> list[str]:
    return sorted(record.title for record in store.list_records())


# -- the content digest ------------------------------------------------------------------------------


def test_the_digest_is_the_same_whatever_the_transport_did() -> None:
    pop3 = b"From: a@example.com\r\nSubject: x\r\n\r\n.leading dot\r\nFrom the start\r\n"
    wire = b"From: a@example.com\r\nSubject: x\r\n\r\n..leading dot\r\nFrom the start\r\n"
    pipe = b"From: a@example.com\nSubject: x\n\n.leading dot\nFrom the start\n"
    mbox = b"From: a@example.com\nSubject: x\n\n.leading dot\n>From the start\n\n"
    digest = content_digest(pop3)
    assert content_digest(wire, dot_stuffed=True) == digest
    assert content_digest(pipe) == digest
    assert content_digest(mbox, mbox_quoted=True) == digest
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_the_digest_keeps_what_is_content() -> None:
    plain = b"Subject: x\r\n\r\nbody\r\n"
    assert content_digest(b"Subject: x\r\n\r\nbody.\r\n") != content_digest(plain)
    assert content_digest(b"Subject: x\r\n\r\nbo\rdy\r\n") != content_digest(b"Subject: x\r\n\r\nbody\r\n")
    # Undone only when asked: a line starting with ".." in a message that is not stuffed stays.
    stuffed_looking = b"Subject: x\r\n\r\n..two dots\r\n"
    assert content_digest(stuffed_looking) != content_digest(stuffed_looking, dot_stuffed=True)
    quoted_looking = b"Subject: x\n\n>From here\n"
    assert content_digest(quoted_looking) != content_digest(quoted_looking, mbox_quoted=True)
    # mboxrd: one level of quoting comes off.
    assert content_digest(b"S: x\n\n>>From a\n", mbox_quoted=True) == content_digest(b"S: x\n\n>From a\n")


def _digest_as_defined(raw: bytes, *, dot_stuffed: bool, mbox_quoted: bool) -> str:
    """The content digest as first written (the ledger keeps it): every digest must stay this."""
    text = raw.replace(b"\r\n", b"\n")
    if dot_stuffed:
        text = re.sub(rb"(?m)^\.\.", b".", text)
    if mbox_quoted:
        text = re.sub(rb"(?m)^>(>*From )", rb"\1", text)
    return hashlib.sha256(text.rstrip(b"\n")).hexdigest()


#: The bytes that line ends, stuffing and quoting are about: lone CRs, bare LFs, CRLFs, runs of
#: LFs longer than the tail the digest looks at, ``From `` and dots at line starts.
_PIECES = [b"\r\n", b"\r", b"\n", b"\r\r\n", b"\n" * 70, b"x", b"..", b">From ", b"From ", b"\xff"]
_LINE_END_HEAVY = st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join)


@settings(BASE, max_examples=500)
@given(raw=st.one_of(_LINE_END_HEAVY, st.binary()), dot_stuffed=st.booleans(), mbox_quoted=st.booleans())
def test_the_digest_is_the_one_the_ledger_keeps(raw: bytes, dot_stuffed: bool, mbox_quoted: bool) -> None:
    digest = content_digest(raw, dot_stuffed=dot_stuffed, mbox_quoted=mbox_quoted)
    assert digest == _digest_as_defined(raw, dot_stuffed=dot_stuffed, mbox_quoted=mbox_quoted)


def test_the_digest_of_crlf_mail_is_that_of_its_lf_form() -> None:
    crlf = b"Subject: x\r\n\r\nline\r\n\r\n"
    assert content_digest(crlf) == hashlib.sha256(b"Subject: x\n\nline").hexdigest()
    # A lone CR anywhere is content, kept as it is (the CRLFs beside it still become LFs).
    assert content_digest(b"S: x\r\n\r\na\rb\r\n") == hashlib.sha256(b"S: x\n\na\rb").hexdigest()
    assert content_digest(b"S: x\r\n\r\nab\r") == hashlib.sha256(b"S: x\n\nab\r").hexdigest()
    # However many line ends there are at the end, none is kept.
    assert content_digest(b"S: x\r\n\r\nab" + b"\r\n" * 100) == hashlib.sha256(b"S: x\n\nab").hexdigest()
    assert content_digest(b"\r\n" * 100) == content_digest(b"\n") == hashlib.sha256(b"").hexdigest()


# -- what the ledger keeps -------------------------------------------------------------------------


def test_the_ledger_keeps_the_digest_it_was_given(store: RecordStore) -> None:
    digest = ContentDigest(sha256="ab" * 32, listed_size=1234)
    action = CreateRecord(message=make_incoming(), project="p", title="t", digest=digest)
    store.commit("support", "uid-1", action)
    store.commit(
        "support", "uid-2", CreateRecord(message=make_incoming(message_id="<2@x>"), project="p", title="t")
    )
    found = store.ledger_digests("support", ["uid-1", "uid-2", "uid-3"])
    assert found == {"uid-1": digest}
    assert store.ledger_digests("sales", ["uid-1"]) == {}


def test_an_import_records_each_messages_digest_and_listed_size(store: RecordStore) -> None:
    raw = build_message(subject="Printer jammed")
    with POP3TestServer([("uid-1", raw)]) as server:
        Importer(store=store).run(_interface(server))
    found = store.ledger_digests("support", ["uid-1"])
    assert found == {"uid-1": ContentDigest(sha256=content_digest(raw), listed_size=len(raw))}


# -- leave_copy ------------------------------------------------------------------------------------


def test_with_leave_copy_a_new_message_under_a_reused_uid_is_imported(store: RecordStore) -> None:
    first = build_message(subject="first message", message_id="<first@example.com>")
    second = build_message(subject="the second, longer message", message_id="<second@example.com>")
    with POP3TestServer([("uid-1", first)]) as server:
        interface = _interface(server, leave_copy=True)
        importer = Importer(store=store)
        assert importer.run(interface).created == 1
        server.remove_message("uid-1")  # another client deletes it …
        server.add_message(second, uid="uid-1")  # … and the server gives its UID to new mail

        report = importer.run(interface)

        assert (report.created, report.error) == (1, None)
        assert _titles(store) == ["first message", "the second, longer message"]
        assert any("content differs from the one imported under it" in note for note in report.notes)
        assert [uid for uid, _ in server.mailbox] == ["uid-1"]  # leave_copy: still there
        again = importer.run(interface)
        assert (again.imported, again.already_imported, again.error) == (0, 1, None)
        assert _titles(store) == ["first message", "the second, longer message"]


def test_with_leave_copy_a_message_listed_again_is_not_retrieved(store: RecordStore) -> None:
    raw = build_message(subject="stays on the server")
    with POP3TestServer([("uid-1", raw)]) as server:
        interface = _interface(server, leave_copy=True)
        importer = Importer(store=store)
        importer.run(interface)
        retrieved = _retrieved(server)
        report = importer.run(interface)
        assert (report.imported, report.already_imported, report.notes) == (0, 1, ())
        assert _retrieved(server) == retrieved


def test_with_leave_copy_the_same_message_listed_with_another_size_is_not_imported_again(
    store: RecordStore,
) -> None:
    raw = build_message(subject="the server counts its size another way now")
    # Imported before, when the server listed it with another size.
    digest = ContentDigest(sha256=content_digest(raw), listed_size=len(raw) + 7)
    action = CreateRecord(message=make_incoming(), project="helpdesk", title="imported before", digest=digest)
    store.commit("support", "uid-1", action)
    with POP3TestServer([("uid-1", raw)]) as server:
        report = Importer(store=store).run(_interface(server, leave_copy=True))
        assert _retrieved(server) == 1  # looked at, since its size changed …
        assert [uid for uid, _ in server.mailbox] == ["uid-1"]
    assert (report.imported, report.already_imported, report.notes, report.error) == (0, 1, (), None)
    assert _titles(store) == ["imported before"]  # … and known by its digest


# -- a mailbox the importer empties -----------------------------------------------------------


def test_an_auto_reply_whose_uid_reappears_is_deleted_not_taken_for_a_reused_uid(store: RecordStore) -> None:
    auto = build_message(
        subject="Automatic reply: Printer jammed",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": "<orig@example.com>"},
        message_id="<auto@example.com>",
    )
    original = build_message(subject="Printer jammed", message_id="<orig@example.com>")
    with POP3TestServer([("uid-a", auto)]) as server:
        interface = _interface(server)
        importer = Importer(store=store)
        server.faults = Faults(quit_error=True)  # its deletions never happen
        first = importer.run(interface)
        assert first.skipped == 1  # it refers to no record yet
        server.add_message(original, uid="uid-o")
        second = importer.run(interface)
        assert second.created == 1  # now the record it refers to exists
        server.faults = Faults()

        report = importer.run(interface)

        assert report.error is None
        assert not any("reused" in note for note in report.notes), report.notes
        assert _titles(store) == ["Printer jammed"]
        [record] = store.list_records()
        assert [detail.message_id for detail in record.details] == ["orig@example.com"]
        assert server.mailbox == []


def test_a_reused_uid_in_a_mailbox_the_importer_empties_is_told_for_certain(store: RecordStore) -> None:
    with POP3TestServer([("uid-1", build_message(subject="first message"))]) as server:
        interface = _interface(server)
        importer = Importer(store=store)
        importer.run(interface)
        server.add_message(build_message(subject="second message"), uid="uid-1")
        report = importer.run(interface)
        assert report.created == 1
        assert any("content differs from the one imported under it" in note for note in report.notes)


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


class CountingConverter(MailParserConverter):
    """The default converter, counting the messages it converts by subject."""

    def __init__(self) -> None:
        super().__init__()
        self.converted: list[str] = []

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        message = super().convert(raw, received_at=received_at)
        self.converted.append(message.subject)
        return message


def test_a_message_checked_against_a_ledger_row_without_digest_is_converted_once() -> None:
    store = MemoryRecordStore()
    # A ledger row written before digests were kept: the recheck converts the message to tell.
    store.commit("support", "uid-1", CreateRecord(message=make_incoming(), project="helpdesk", title="old"))
    converter = CountingConverter()
    with POP3TestServer([("uid-1", build_message(subject="second message"))]) as server:
        report = Importer(store=store, converter=converter).run(_interface(server))
    assert report.created == 1
    assert any("without a content digest" in note for note in report.notes)
    assert converter.converted == ["second message"]  # converted to tell, and that result imported
    assert _titles(store) == ["old", "second message"]
