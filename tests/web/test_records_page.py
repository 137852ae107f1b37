"""The records list, the record page, its sandboxed HTML frame, the raw header and the downloads."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from _webpages import PNG, REPORT, fill, make_app
from mailtrack import MemoryRecordStore, RecordStore
from mailtrack.stores import SQLRecordStore
from mailtrack.web._records import FRAME_POLICY, content_disposition, text_blocks


def test_the_record_page_shows_the_details_in_order(client: TestClient) -> None:
    page = client.get("/records/1").text
    positions = [
        page.index(marker) for marker in ("From: Alice", "Date: ", "New text", "/html", "report.pdf")
    ]
    assert positions == sorted(positions)
    assert "Raw header" in page


def test_quoted_history_is_folded(client: TestClient) -> None:
    page = client.get("/records/1").text
    assert re.search(
        r"<details class=\"quoted\"><summary>Quoted text \(2 lines\)</summary><pre>&gt; quoted", page
    )


def test_text_blocks() -> None:
    assert text_blocks("a\n> b\n> c\nd") == [
        {"quoted": False, "text": "a", "count": 1},
        {"quoted": True, "text": "> b\n> c", "count": 2},
        {"quoted": False, "text": "d", "count": 1},
    ]


def test_a_bidi_title_is_shown_escaped(client: TestClient) -> None:
    for path in ("/records", "/records/1"):
        page = client.get(path).text
        assert "\u202e" not in page
        assert "Printer \\u202eexe.pdf on fire" in page


def test_the_page_has_no_script_and_the_html_is_only_in_the_frame(client: TestClient) -> None:
    page = client.get("/records/1").text
    assert "<script" not in page.lower()
    assert "alert(" not in page
    assert re.search(r'<iframe [^>]*sandbox="allow-popups allow-popups-to-escape-sandbox"', page)


def test_the_frame_is_sanitised_and_sandboxed(client: TestClient) -> None:
    response = client.get("/records/1/details/1/html")
    assert response.headers["content-security-policy"] == FRAME_POLICY
    frame = response.text
    assert "<script" not in frame
    assert "javascript:" not in frame
    assert "onclick" not in frame
    assert "tracker.example" not in frame
    assert 'src="/records/1/attachments/1/image"' in frame
    assert "Hello" in frame


def test_view_header_shows_the_raw_header_block(client: TestClient) -> None:
    page = client.get("/records/1/details/1/headers").text
    assert "Subject: Printer =?utf-8?q?=E2=80=AEexe=2Epdf?= on fire" in page
    assert "Message-ID: &lt;" in page
    assert "boundary=&#34;=====" in page


def test_an_attachment_downloads_byte_identical(client: TestClient) -> None:
    response = client.get("/records/1/attachments/2")
    assert response.content == REPORT
    assert response.headers["content-disposition"].startswith('attachment; filename="report.pdf"')
    assert response.headers["content-type"] == "application/octet-stream"


def test_active_content_is_only_ever_a_download(client: TestClient) -> None:
    response = client.get("/records/1/attachments/3")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert client.get("/records/1/attachments/3/image").status_code == 404
    assert client.get("/records/1/attachments/2/image").status_code == 404


def test_an_inline_image_is_served_for_the_frame(client: TestClient) -> None:
    response = client.get("/records/1/attachments/1/image")
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    "path",
    [
        "/records/2",
        "/records/x",
        "/records/1/details/9/html",
        "/records/1/details/9/headers",
        "/records/1/attachments/9",
    ],
)
def test_unknown_records_details_and_attachments_are_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in {400, 404}
    assert "Error" in response.text


def test_an_attachment_of_another_record_is_not_served_under_this_one() -> None:
    store = MemoryRecordStore()
    fill(store)
    from mailtrack import Importer, MailInterface
    from mailtrack.testing import FakeMailbox, build_message

    interface = MailInterface(name="other", server="pop.example.com", login="x")
    Importer(store=store, fetcher_factory=FakeMailbox([build_message(subject="Second")]).fetcher).run(
        interface
    )
    with TestClient(make_app(store)) as client:
        assert client.get("/records/2/attachments/2").status_code == 404
        assert client.get("/records/1/attachments/2").status_code == 200


def test_content_disposition_keeps_the_name_and_an_ascii_fallback() -> None:
    value = content_disposition("attachment", 'Grüße "quoted".pdf')
    assert value == (
        "attachment; filename=\"Gr__e _quoted_.pdf\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22quoted%22.pdf"
    )


def _records(store: RecordStore, count: int) -> None:
    from mailtrack import Importer, MailInterface
    from mailtrack.testing import FakeMailbox, build_message

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    messages = [build_message(subject=f"Request {n}", date=start + timedelta(hours=n)) for n in range(count)]
    for project in ("alpha", "beta"):
        interface = MailInterface(name=project, server="pop.example.com", login="x", project=project)
        store.save_interface(interface)
        Importer(store=store, fetcher_factory=FakeMailbox(messages).fetcher).run(interface)


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_the_records_list_filters_by_project_and_pages_newest_activity_first(store: RecordStore) -> None:
    _records(store, 3)
    # A follow-up to the oldest record makes it the most recently active one.
    from mailtrack import Importer, MailInterface
    from mailtrack.testing import FakeMailbox, build_message

    oldest = min(r.id for r in store.list_records("alpha"))
    interface = MailInterface(name="alpha", server="pop.example.com", login="x", project="alpha")
    follow_up = build_message(subject=f"Re: [#{oldest}] Request 0", message_id="follow-up@example")
    Importer(store=store, fetcher_factory=FakeMailbox([follow_up]).fetcher).run(interface)
    with TestClient(make_app(store, page_size=2)) as client:
        first = client.get("/records?project=alpha").text
        second = client.get("/records?project=alpha&page=2").text
        assert client.get("/records?page=x").status_code == 400
    ids = [int(i) for i in re.findall(r"<tr><td>(\d+)</td>", first)]
    assert ids[0] == oldest
    assert len(ids) == 2
    assert "Older" in first
    later = [int(i) for i in re.findall(r"<tr><td>(\d+)</td>", second)]
    assert len(later) == 1
    assert "Newer" in second
    assert "Older" not in second
    assert {r.id for r in store.list_records("alpha")} == set(ids + later)


def test_the_sql_store_works_behind_the_pages(tmp_path: object) -> None:
    with SQLRecordStore("sqlite://") as store:
        fill(store)
        with TestClient(make_app(store)) as client:
            assert client.get("/records/1/attachments/2").content == REPORT
            assert "report.pdf" in client.get("/records/1").text


def test_mounted_under_a_prefix_links_and_cookie_follow_it(filled: MemoryRecordStore) -> None:
    host = Starlette(routes=[Mount("/admin/mail", app=make_app(filled))])
    with TestClient(host) as client:
        response = client.get("/admin/mail/records/1")
        assert response.status_code == 200
        assert 'href="/admin/mail/records/1/details/1/headers"' in response.text
        assert 'href="/admin/mail/static/style.css"' in response.text
        assert "Path=/admin/mail/" in response.headers["set-cookie"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/mail/").text)
        assert token is not None
        deleted = client.post(
            "/admin/mail/interfaces/support/delete",
            data={"csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert deleted.headers["location"] == "/admin/mail/?notice=deleted%3Asupport"
        assert client.get("/admin/mail/static/style.css").status_code == 200
