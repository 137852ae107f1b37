"""For the web tests: a store with one of everything the pages show, the app, a form's CSRF token."""

from __future__ import annotations

import re

from starlette.applications import Starlette

from mailtrack import Config, Importer, MailInterface, Record, RecordStore
from mailtrack.testing import FakeMailbox, build_message
from mailtrack.web import create_app

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
REPORT = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
HOSTILE_HTML = (
    '<p onclick="steal()">Hello <script>alert(1)</script>'
    '<a href="javascript:alert(2)">click</a> <img src="https://tracker.example/p.gif" alt="pixel">'
    ' <img src="cid:logo@example" alt="logo"></p>'
)
SAVED = MailInterface(name="support", server="pop.example.com", login="support", password="s3cret-Saved!")
FROM_FILE = MailInterface(name="sales", server="pop.example.org", login="sales", project="sales")


def fill(store: RecordStore) -> Record:
    """A saved interface, a record with HTML, an inline image and attachments, one quarantined message."""
    mailbox = FakeMailbox(
        [
            build_message(
                subject="Printer \u202eexe.pdf on fire",
                text="New text\n> quoted history\n> more history\nBye\n",
                html=HOSTILE_HTML,
                attachments=[
                    ("report.pdf", "application/pdf", REPORT),
                    ("page.html", "text/html", b"<script>"),
                ],
                inline_images=[("logo@example", "image/png", PNG)],
            )
        ]
    )
    store.save_interface(SAVED)
    Importer(store=store, fetcher_factory=mailbox.fetcher).run(SAVED)
    store.quarantine("support", "uid-q1", build_message(subject="Kept back"), "the converter failed: boom")
    [record] = store.list_records()
    return record


def csrf(page: str) -> str:
    """The CSRF token of the first form on *page*."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def make_app(store: RecordStore, **kwargs: object) -> Starlette:
    """The pages of *store*, everyone authorized, with ``sales`` defined in the configuration file."""
    options: dict[str, object] = {"authorize": lambda request: True, "config": Config(interfaces=[FROM_FILE])}
    options.update(kwargs)
    return create_app(store=store, **options)  # type: ignore[arg-type]
