"""Hostile and broken mail end to end: POP3TestServer + POP3Fetcher + Importer + SQLite file.

Each bad message is served with a well-formed one behind it. It must end as a record or as a
quarantined message with a clear reason, the run must go on to the good message, and the
mailbox must hold afterwards exactly the quarantined messages (or nothing, with
``delete_quarantined``). The memory a run takes is bounded (tracemalloc's peak); time is not
asserted (the converter's ``time_budget`` bounds it, see test_hostile_mail.py).

(The converter alone meets the same inputs in test_hostile_mail.py and test_converting.py.)
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from _hostile import many_header_fields, many_parts, nested_messages, nested_multipart
from _tally import audit, record
from mailtrack import Detail, Importer, ImportPolicy, RecordStore, SenderPolicy
from mailtrack.testing import POP3TestServer, build_message

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")


MALFORMED = Path(__file__).parents[1] / "messages" / "malformed"
ANYONE = ImportPolicy(sender_policy=SenderPolicy.ANYONE)
GOOD = build_message(subject="a well-formed message after the bad one", message_id="<good@example.com>")
#: Bytes a run may allocate (at its peak) beyond ten times the hostile message's size.
MEMORY_SLACK = 16 * 1024 * 1024


def malformed(name: str) -> bytes:
    return (MALFORMED / f"{name}.eml").read_bytes()


def hostile_attachment_names() -> bytes:
    """Attachments named with a path, a NUL, a right-to-left override, a device name, 500 characters."""
    names = [
        'filename="../../../etc/passwd"',
        "filename*=utf-8''evil%00.txt",
        "filename*=utf-8''invoice%E2%80%AEfdp.exe",
        'filename="CON"',
        'filename="con.txt"',
        f'filename="{"a" * 500}.pdf"',
        "filename*=utf-8''..%2F..%2F%00%E2%80%AE",
    ]
    parts = b"".join(
        b"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        + name.encode()
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"
        for name in names
    )
    return (
        b"From: mallory@example.net\r\nTo: support@example.com\r\nSubject: files\r\n"
        b"Message-ID: <names@example.net>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        b"Nasty names.\r\n" + parts + b"--B--\r\n"
    )


def safe_names(detail: Detail) -> None:
    names = [attachment.filename for attachment in detail.attachments]
    assert len(names) == 7
    assert len(set(names)) == 7
    for name in names:
        assert name
        assert not re.search(r"[/\\\x00-\x1f\u202a-\u202e\u2066-\u2069]", name), name
        assert not name.startswith(".")
        assert name.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}, name
        assert len(name) <= 255
    assert all(attachment.content == b"hello" for attachment in detail.attachments)


def expect_text(text: str) -> Callable[[Detail], None]:
    def check(detail: Detail) -> None:
        assert text in detail.text

    return check


def crlf_bcc(detail: Detail) -> None:
    assert "\r" not in detail.subject
    assert "\n" not in detail.subject
    assert "Bcc" in detail.subject  # kept as harmless text in the one-line subject
    assert [address.address for address in detail.to] == ["support@example.com"]


def nested_comments(depth: int) -> bytes:
    return (
        b"From: "
        + b"(" * depth
        + b"x"
        + b")" * depth
        + b" a@example.org\r\nSubject: comments\r\n\r\nbody\r\n"
    )


def sender_is(address: str) -> Callable[[Detail], None]:
    def check(detail: Detail) -> None:
        assert detail.sender is not None
        assert detail.sender.address == address

    return check


def no_sender(detail: Detail) -> None:
    assert detail.sender is None
    assert "It should still become a message." in detail.text


def invalid_base64(detail: Detail) -> None:
    [attachment] = detail.attachments
    assert attachment.content is not None
    assert attachment.content.startswith(b"Hello World")


@attrs.frozen
class Case:
    raw: Callable[[], bytes]
    #: A regular expression the quarantine reason must match, or None: the message becomes a record.
    quarantined: str | None = None
    #: For a record: checks on its detail.
    check: Callable[[Detail], None] | None = None


CASES: dict[str, Case] = {
    "no headers": Case(lambda: malformed("no_headers"), check=no_sender),
    "empty message": Case(lambda: b"", quarantined="message is empty"),
    "only blank lines": Case(lambda: b"\r\n\r\n\r\n", quarantined="message is empty"),
    "multipart nested 1,200 deep": Case(lambda: nested_multipart(1200), quarantined=r"limit max_depth"),
    "message/rfc822 nested 1,200 deep": Case(lambda: nested_messages(1200), quarantined=r"limit max_depth"),
    "20,000 parts": Case(
        lambda: many_parts(20_000), quarantined=r"more than 1000 MIME parts \(limit max_parts\)"
    ),
    "50,000 header fields": Case(
        lambda: many_header_fields(50_000),
        quarantined=r"more than 2000 header fields \(limit max_header_fields\)",
    ),
    "Content-Type with 20,000 semicolons": Case(
        lambda: b"From: a@example.org\r\nContent-Type: text/plain" + b";" * 20_000 + b"\r\n\r\nbody\r\n",
        quarantined="Content-Type header of the message has more than 1000 parameters",
    ),
    "address with 5,000 nested comments": Case(
        lambda: nested_comments(5000), check=sender_is("a@example.org")
    ),
    "invalid base64": Case(lambda: malformed("invalid_base64"), check=invalid_base64),
    "undeclared 8-bit text": Case(lambda: malformed("undeclared_8bit"), check=expect_text("Déjà vu, naïve.")),
    "unknown charset": Case(lambda: malformed("unknown_charset"), check=expect_text("Café £ 5")),
    "encoded-word decoding to CR/LF + Bcc:": Case(lambda: malformed("encoded_crlf_subject"), check=crlf_bcc),
    "attachment names ../, NUL, U+202E, CON, 500 characters": Case(
        hostile_attachment_names, check=safe_names
    ),
    "Outlook .msg file": Case(lambda: malformed("outlook_magic"), quarantined=r"Outlook \.msg file"),
    "a 100,000-byte line": Case(
        lambda: b"From: a@example.org\r\nSubject: long\r\n\r\n" + b"x" * 100_000 + b"\r\n",
        check=lambda detail: None if detail.text.rstrip("\n") == "x" * 100_000 else pytest.fail("line cut"),
    ),
    "NUL and control bytes in the body": Case(
        lambda: b"From: a@example.org\r\nSubject: nul\r\n\r\nbefore\x00\x01\x1b[31mafter\r\n",
        check=expect_text("before"),
    ),
}


@pytest.fixture
def store_kind() -> str:
    """The store of these tests (see ``store`` in conftest.py): a SQLite file."""
    return "sqlite-file"


def import_through_pop3(raw: bytes, store: RecordStore, **policy: Any) -> tuple[Any, list[str], int]:
    """Serve the bad message and a good one, run the importer once; (report, UIDs left, peak bytes)."""
    with POP3TestServer([("bad", raw), ("good", GOOD)]) as server:
        interface = server.interface(
            name="support", project="helpdesk", policy=attrs.evolve(ANYONE, **policy)
        )
        importer = Importer(store=store)
        tracemalloc.start()
        try:
            report = importer.run(interface)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        left = [uid for uid, _raw in server.mailbox]
        served = {uid: wire for uid, wire in server_wire(raw)}
    audited = audit(store, "support", served, left)
    assert (audited.lost, audited.duplicated) == ((), ())
    return report, left, peak


def as_served(data: bytes) -> bytes:
    """What the server delivers for a message: bare LF served as CRLF, a final CRLF added."""
    data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def server_wire(raw: bytes) -> list[tuple[str, bytes]]:
    return [("bad", as_served(raw)), ("good", as_served(GOOD))]


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_message_ends_as_a_record_or_quarantined_and_the_run_goes_on(
    store: RecordStore, name: str
) -> None:
    case = CASES[name]
    raw = case.raw()
    record(bad_inputs=1)

    report, left, peak = import_through_pop3(raw, store)

    assert report.error is None, report.error
    assert peak < 10 * len(raw) + MEMORY_SLACK
    good = store.find_record_by_message_id("good@example.com")
    assert good is not None, "the run did not go on to the good message"
    if case.quarantined is not None:
        [held] = store.list_quarantined()
        assert held.uid == "bad"
        assert re.search(case.quarantined, held.error), held.error
        assert held.raw == server_wire(raw)[0][1]
        assert (report.created, report.failed) == (1, 1)
        assert any("uid bad" in note and "quarantined" in note for note in report.notes)
        assert left == ["bad"]
    else:
        assert store.list_quarantined() == []
        assert (report.created, report.failed) == (2, 0)
        [bad_record] = [r for r in store.list_records(load_content=True) if r.id != good.id]
        [detail] = bad_record.details
        assert case.check is not None
        case.check(detail)
        assert left == []


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.quarantined])
def test_hostile_message_is_deleted_once_quarantined_when_the_policy_says_so(
    store: RecordStore, name: str
) -> None:
    raw = CASES[name].raw()
    record(bad_inputs=1)

    report, left, _peak = import_through_pop3(raw, store, delete_quarantined=True)

    assert (report.created, report.failed, report.error) == (1, 1, None)
    [held] = store.list_quarantined()
    assert held.raw == server_wire(raw)[0][1]
    assert left == []


# -- loops, sender policy and HTML end to end, with the default policy -----------------------------

MACHINE = Path(__file__).parents[1] / "messages" / "machine"
#: The default ImportPolicy, told only who "we" are (as every deployment must).
DEFAULT_POLICY = ImportPolicy(own_addresses=("support@example.com",), loop_header_value="mailtrack-tests")
CUSTOMER = "Carol Customer <carol@customer.example>"


def default_interface(server: POP3TestServer) -> Any:
    return server.interface(name="support", project="helpdesk", policy=DEFAULT_POLICY)


def test_machine_mail_never_opens_a_record_by_default_and_own_mail_is_dropped(store: RecordStore) -> None:
    samples = {path.stem: path.read_bytes() for path in sorted(MACHINE.glob("*.eml"))}
    machine = [name for name in samples if not name.startswith("normal-")]
    with POP3TestServer(list(samples.items())) as server:
        record(bad_inputs=len(machine))

        report = Importer(store=store).run(default_interface(server))

        assert report.error is None
        assert report.failed == 0
        titles = sorted(r.title for r in store.list_records())
        # Only the two samples that are a person's mail open records.
        assert len(titles) == len(samples) - len(machine) == 2
        assert report.created == 2
        assert report.skipped == len(machine)
        assert report.classes["own"] == len([name for name in machine if name.startswith("own-")])
        assert server.mailbox == []  # handled: in the ledger and deleted
        check = audit(
            store,
            "support",
            {uid: as_served(raw) for uid, raw in samples.items()},
            [],
            details_expected=False,
        )
        assert (check.lost, check.duplicated) == ((), ())
        assert check.imported == set(samples)


def test_auto_replies_bounces_own_mail_and_strangers_naming_a_record_never_write_into_it(
    store: RecordStore,
) -> None:
    from mailtrack.classifying import outgoing_headers

    with POP3TestServer([("first", build_message(subject="Printer jammed", sender=CUSTOMER))]) as server:
        importer = Importer(store=store)
        interface = default_interface(server)
        importer.run(interface)
        [ticket] = store.list_records()
        tag = f"[#{ticket.id}]"
        ours = outgoing_headers(DEFAULT_POLICY)  # what our acknowledgement carried
        arriving = {
            # The customer's out-of-office answers our acknowledgement: appended, no new record.
            "customer-ooo": build_message(
                subject=f"Out of office: Re: {tag} Printer jammed",
                sender=CUSTOMER,
                headers={"Auto-Submitted": "auto-replied"},
            ),
            # Our own acknowledgement comes back through a forward: dropped.
            "own-echo": build_message(
                subject=f"FW: {tag} We received your request", sender="forward@customer.example", headers=ours
            ),
            # A bounce of our acknowledgement naming the record: the daemon is no participant, skipped.
            "bounce": build_message(
                subject=f"Undelivered Mail Returned to Sender: {tag}",
                sender="MAILER-DAEMON@mx.example.com",
                headers={"Auto-Submitted": "auto-replied", "Return-Path": "<>"},
            ),
            # A stranger's auto-reply naming the record: skipped, never a record.
            "stranger-ooo": build_message(
                subject=f"Automatic reply: {tag}",
                sender="Mallory <mallory@evil.example>",
                headers={"Auto-Submitted": "auto-replied"},
            ),
            # A stranger naming the record: a new record, the customer's stays untouched.
            "stranger": build_message(
                subject=f"Re: {tag} Printer jammed", sender="Mallory <mallory@evil.example>"
            ),
        }
        for uid, raw in arriving.items():
            server.add_message(raw, uid=uid)
        record(bad_inputs=len(arriving))

        report = importer.run(interface)

        assert report.error is None
        assert (report.created, report.updated, report.skipped, report.failed) == (1, 1, 3, 0)
        after = store.get_record(ticket.id)
        assert [d.sender.address for d in after.details if d.sender] == [
            "carol@customer.example",
            "carol@customer.example",
        ]
        [new] = [r for r in store.list_records() if r.id != ticket.id]
        assert [d.sender.address for d in new.details if d.sender] == ["mallory@evil.example"]
        assert server.mailbox == []
        check = audit(store, "support", arriving, [], details_expected=False)
        assert (check.lost, check.duplicated) == ((), ())
        assert check.imported == set(arriving)


def test_html_is_stored_as_sent_and_displayed_sanitised(store: RecordStore) -> None:
    pytest.importorskip("nh3")
    from mailtrack import display_html

    html = '<p onclick="steal()">Hi<script>alert(1)</script><img src="https://tracker.example/x.gif"></p>'
    with POP3TestServer([("html", build_message(subject="html", text=None, html=html))]) as server:
        record(bad_inputs=1)

        report = Importer(store=store).run(default_interface(server))

        assert (report.created, report.error) == (1, None)
        assert server.mailbox == []
    [detail] = store.list_records(load_content=True)[0].details
    assert detail.html is not None
    assert detail.html.strip() == html
    shown = display_html(detail)
    assert shown is not None
    assert "Hi" in shown
    for active in ("<script", "onclick", "tracker.example"):
        assert active not in shown
