"""Property tests (hypothesis): whatever the mail and whatever fails, nothing crashes, nothing is lost
or duplicated.

* Random MIME trees (nested multiparts with random types, parameters, transfer encodings, header
  fields and bodies, boundaries left open or clashing) and random bytes: the converter returns
  a message or raises mailtrack's own ``ParseError``, nothing else.
* Random mailboxes (well-formed mail, random MIME trees, random bytes, the same bytes twice,
  machine mail) imported over runs with random faults (a retrieval failing, QUIT unconfirmed,
  the store refusing commits) and then a clean run: every message is in the ledger or the
  quarantine exactly once, no Message-ID has two details, and the mailbox holds exactly the
  quarantined messages (or, with ``leave_copy``, everything).
* The same over the real POP3 path (POP3TestServer + POP3Fetcher) with random server faults.

Profiles: ``MAILTRACK_HYPOTHESIS_PROFILE=ci`` (the default when ``$CI`` is set; ``.ci/run`` sets it)
is deterministic (derandomised, no example database); ``dev`` explores new examples each run.
"""

from __future__ import annotations

import base64
import quopri
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _hypothesis_profiles import BASE
from _tally import audit, record
from mailtrack import (
    CommitResult,
    FetchError,
    ImportAction,
    Importer,
    ImportPolicy,
    IncomingMessage,
    MailInterface,
    MailParserConverter,
    MemoryRecordStore,
    ParseError,
    QuarantinedMessage,
    SenderPolicy,
    StoreError,
)
from mailtrack.testing import FakeMailbox, Faults, POP3TestServer, build_message

RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CONVERTER = MailParserConverter()

# -- random MIME trees ---------------------------------------------------------------------------------

_words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
_ascii = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@st.composite
def header_values(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["ascii", "utf8", "encoded-word", "bytes", "folded"]))
    if kind == "ascii":
        return draw(_ascii).encode()
    if kind == "utf8":
        return draw(_words).encode("utf-8", "surrogatepass")
    if kind == "encoded-word":
        charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "x-unknown", "utf-7", "shift_jis"]))
        encoding = draw(st.sampled_from(["B", "Q", "X"]))
        payload = draw(st.binary(max_size=20))
        text = (
            base64.b64encode(payload) if encoding == "B" else quopri.encodestring(payload).replace(b"\n", b"")
        )
        return b"=?" + charset.encode() + b"?" + encoding.encode() + b"?" + text + b"?="
    if kind == "folded":
        return draw(_ascii).encode() + b"\r\n\t" + draw(_ascii).encode()
    return draw(st.binary(max_size=30)).replace(b"\n", b" ").replace(b"\r", b" ")


_field_names = st.sampled_from(
    [
        b"Subject",
        b"From",
        b"To",
        b"Cc",
        b"Reply-To",
        b"Date",
        b"Message-ID",
        b"In-Reply-To",
        b"References",
        b"Content-Disposition",
        b"Content-ID",
        b"Content-Description",
        b"Auto-Submitted",
        b"Return-Path",
        b"X-Random",
        b"MIME-Version",
    ]
)
_fields = st.lists(st.tuples(_field_names, header_values()), max_size=4)
_param_names = st.sampled_from(
    [b"charset", b"name", b"filename", b"filename*", b"name*0*", b"format", b"boundary"]
)
_params = st.lists(st.tuples(_param_names, header_values()), max_size=3)


@attrs.frozen
class Part:
    """A MIME entity: header lines and a body (a multipart's body is its rendered children)."""

    header: tuple[bytes, ...]
    body: bytes

    def render(self) -> bytes:
        return b"".join(line + b"\r\n" for line in self.header) + b"\r\n" + self.body


def _content_type(kind: bytes, params: Sequence[tuple[bytes, bytes]]) -> bytes:
    return b"Content-Type: " + kind + b"".join(b"; " + name + b'="' + value + b'"' for name, value in params)


@st.composite
def leaves(draw: st.DrawFn) -> Part:
    kind = draw(
        st.sampled_from(
            [b"text/plain", b"text/html", b"application/octet-stream", b"image/png", b"message/rfc822",
             b"message/delivery-status", b"text/x-unknown", b"application/ms-tnef", b"nonsense", b""]
        )
    )  # fmt: skip
    encoding = draw(
        st.sampled_from([None, b"base64", b"quoted-printable", b"7bit", b"8bit", b"binary", b"x-uue"])
    )
    body = draw(st.binary(max_size=300))
    if encoding == b"base64" and draw(st.booleans()):
        body = base64.encodebytes(body)
    elif encoding == b"quoted-printable" and draw(st.booleans()):
        body = quopri.encodestring(body)
    header = [_content_type(kind, draw(_params))]
    if encoding is not None:
        header.append(b"Content-Transfer-Encoding: " + encoding)
    header += [name + b": " + value for name, value in draw(_fields)]
    return Part(header=tuple(header), body=body)


@st.composite
def multiparts(draw: st.DrawFn, children: st.SearchStrategy[Part]) -> Part:
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"digest", b"signed"]))
    boundary = (
        draw(st.sampled_from([b"b", b"=_x", b"--", b"a b", b""])) + draw(st.binary(max_size=4)).hex().encode()
    )
    parts = draw(st.lists(children, max_size=5))
    body = draw(st.binary(max_size=20))  # the preamble
    for part in parts:
        body += b"\r\n--" + boundary + b"\r\n" + part.render()
    if draw(st.booleans()):  # closed, or left open
        body += b"\r\n--" + boundary + b"--\r\n" + draw(st.binary(max_size=20))
    header = [_content_type(b"multipart/" + subtype, [(b"boundary", boundary), *draw(_params)])]
    header += [name + b": " + value for name, value in draw(_fields)]
    return Part(header=tuple(header), body=body)


mime_trees = st.recursive(leaves(), lambda children: multiparts(children), max_leaves=25)


@st.composite
def mime_messages(draw: st.DrawFn) -> bytes:
    root = draw(mime_trees)
    top = b"".join(name + b": " + value + b"\r\n" for name, value in draw(_fields))
    return top + root.render()


def converts_or_refuses(raw: bytes) -> IncomingMessage | None:
    """The converter's one allowed failure is ParseError; a message it returns is well-formed."""
    try:
        message = CONVERTER.convert(raw, received_at=RECEIVED)
    except ParseError as exc:
        reason = str(exc)
        message = None
    if message is None:
        assert reason, "a ParseError must say why"
        return None
    assert message.message_id
    assert message.size == len(raw)
    for text in (message.subject, message.text, message.html or "", message.headers):
        text.encode("utf-8")
    assert "\n" not in message.subject
    for attachment in message.attachments:
        assert attachment.content is not None
        assert attachment.size == len(attachment.content)
        assert "/" not in attachment.filename
        assert "\\" not in attachment.filename
        assert "\x00" not in attachment.filename
    return message


@settings(BASE, max_examples=250)
@given(mime_messages())
def test_random_mime_trees_convert_or_raise_parse_error(raw: bytes) -> None:
    record(bad_inputs=1)
    converts_or_refuses(raw)


MAIL_SYNTAX = [b"\r\n", b"\n", b": ", b"--b", b"=?utf-8?b?", b"?=", b"Content-Type", b"\x00", b"From: "]


@settings(BASE, max_examples=150)
@given(st.lists(st.sampled_from(MAIL_SYNTAX) | st.binary(max_size=40), max_size=40))
def test_random_bytes_with_mail_syntax_convert_or_raise_parse_error(pieces: list[bytes]) -> None:
    record(bad_inputs=1)
    converts_or_refuses(b"".join(pieces))


# -- random mailboxes, random faults, the importer ------------------------------------------------------


class FlakyStore(MemoryRecordStore):
    """A memory store that goes down (a full disk) at its *down_from*-th commit: from then on,
    commits and quarantines fail until ``down_from`` is reset."""

    def __init__(self) -> None:
        super().__init__()
        self.down_from: int | None = None
        self.commits = 0

    def _down(self) -> bool:
        return self.down_from is not None and self.commits >= self.down_from

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        self.commits += 1
        if self._down():
            raise StoreError("database or disk is full")
        return super().commit(interface, uid, action)

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
        if self._down():
            raise StoreError("database or disk is full")
        return super().quarantine(interface, uid, raw, error)


@st.composite
def well_formed(draw: st.DrawFn, n: int) -> tuple[bytes, bool]:
    """A well-formed message from a person (True) or an auto-reply (False)."""
    person = draw(st.booleans())
    raw = build_message(
        subject=f"{draw(_ascii)} {n}",
        sender="Alice <alice@example.com>",
        headers={} if person else {"Auto-Submitted": "auto-replied"},
    )
    return raw, person


@attrs.frozen
class Mailbox:
    messages: dict[str, bytes]
    #: UIDs of well-formed mail from a person: each must end as exactly one detail.
    persons: frozenset[str]


@st.composite
def mailboxes(draw: st.DrawFn) -> Mailbox:
    count = draw(st.integers(min_value=1, max_value=8))
    raws: list[bytes] = []
    persons: set[str] = set()
    for n in range(count):
        kind = draw(st.sampled_from(["good", "good", "tree", "bytes", "again"]))
        if kind == "good" or (kind == "again" and not raws):
            raw, person = draw(well_formed(n))
            raws.append(raw)
            if person:
                persons.add(f"uid-{n}")
        elif kind == "tree":
            raws.append(draw(mime_messages()))
        elif kind == "bytes":
            raws.append(draw(st.binary(min_size=1, max_size=300)))
        else:
            raws.append(draw(st.sampled_from(raws)))  # the same bytes again, under another UID
    return Mailbox(messages={f"uid-{n}": raw for n, raw in enumerate(raws)}, persons=frozenset(persons))


@st.composite
def fault_plans(draw: st.DrawFn, count: int) -> list[dict[str, Any]]:
    """For each faulty run: which retrieval fails, whether QUIT fails, at which commit the store goes down."""
    runs = draw(st.integers(min_value=0, max_value=3))
    return [
        {
            "retrieve": draw(st.none() | st.integers(min_value=1, max_value=count)),
            "close": draw(st.booleans()),
            "store_down_at": draw(st.none() | st.integers(min_value=1, max_value=10)),
        }
        for _ in range(runs)
    ]


def persons_have_one_detail(store: MemoryRecordStore, box: Mailbox) -> None:
    details = [detail.message_id for r in store.list_records() for detail in r.details]
    assert len(details) == len(set(details))
    for uid in box.persons:
        message = converts_or_refuses(box.messages[uid])
        assert message is not None
        assert message.message_id in details


@settings(BASE, max_examples=120)
@given(data=st.data(), box=mailboxes(), leave_copy=st.booleans(), uidl=st.booleans())
def test_importer_never_loses_or_duplicates_a_message_whatever_fails(
    data: st.DataObject, box: Mailbox, leave_copy: bool, uidl: bool
) -> None:
    originals = box.messages
    mailbox = FakeMailbox(originals, uidl=uidl)
    store = FlakyStore()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    interface = MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        leave_copy=leave_copy,
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )
    plan = data.draw(fault_plans(len(originals)))
    for faults in plan:
        mailbox.fail_on_retrieve = (
            {faults["retrieve"]: FetchError("connection reset")} if faults["retrieve"] else {}
        )
        mailbox.fail_on_close = FetchError("QUIT not answered") if faults["close"] else None
        down = faults["store_down_at"]
        store.down_from = None if down is None else store.commits + down
        record(faults=sum(fault not in (None, False) for fault in faults.values()))
        importer.run(interface)
    mailbox.fail_on_retrieve, mailbox.fail_on_close, store.down_from = {}, None, None
    final = importer.run(interface)

    assert final.error is None
    persons_have_one_detail(store, box)
    if not uidl:
        # Without UIDL the ledger is keyed by content (the same bytes twice are one message): what
        # is left on the server tells the rest.
        left = {originals[uid] for uid in mailbox.uids}
        assert left == (
            set(originals.values()) if leave_copy else {held.raw for held in store.list_quarantined()}
        )
        return
    result = audit(store, "support", originals, mailbox.uids, details_expected=False)
    assert (result.lost, result.duplicated) == ((), ())
    assert result.imported | result.quarantined == set(originals)
    assert set(mailbox.uids) == (set(originals) if leave_copy else set(result.quarantined))


@pytest.mark.slow
@settings(BASE, max_examples=25)
@given(
    box=mailboxes(),
    drop=st.none()
    | st.tuples(st.integers(min_value=0, max_value=2000), st.integers(min_value=1, max_value=8)),
    quit_fault=st.sampled_from([None, "quit_error", "drop_after_dele", "drop_after_update"]),
)
def test_importer_over_pop3_with_random_server_faults_loses_and_duplicates_nothing(
    box: Mailbox, drop: tuple[int, int] | None, quit_fault: str | None
) -> None:
    originals = box.messages
    faults = Faults(
        drop_after_bytes=drop[0] if drop else None,
        drop_on_message=drop[1] if drop else None,
        quit_error=quit_fault == "quit_error",
        drop_after_dele=quit_fault == "drop_after_dele",
        drop_after_update=quit_fault == "drop_after_update",
    )
    record(faults=int(drop is not None) + int(quit_fault is not None))
    store = MemoryRecordStore()
    with POP3TestServer(list(originals.items()), faults=faults) as server:
        interface = server.interface(name="support", policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE))
        importer = Importer(store=store)
        importer.run(interface)
        server.faults = Faults()
        final = importer.run(interface)
        left = [uid for uid, _raw in server.mailbox]
        served = {uid: as_served(raw) for uid, raw in originals.items()}

    assert final.error is None
    persons_have_one_detail(store, box)
    result = audit(store, "support", served, left, details_expected=False)
    assert (result.lost, result.duplicated) == ((), ())
    assert result.imported | result.quarantined == set(originals)
    assert set(left) == set(result.quarantined)


def as_served(raw: bytes) -> bytes:
    """The bytes the server delivers for *raw* (CRLF line ends, a final CRLF)."""
    wire = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    return wire if wire.endswith(b"\r\n") else wire + b"\r\n"
