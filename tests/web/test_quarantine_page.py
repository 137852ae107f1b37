"""The quarantine page: reasons, download as .eml, retry, discard after confirming."""

from __future__ import annotations

from datetime import datetime

from starlette.testclient import TestClient

from _webpages import csrf, make_app
from mailtrack import Importer, IncomingMessage, MemoryRecordStore
from mailtrack.testing import build_message


def test_the_list_shows_each_message_with_its_reason(client: TestClient) -> None:
    page = client.get("/quarantine").text
    assert 'data-id="1"' in page
    assert "the converter failed: boom" in page
    assert 'href="/quarantine/1.eml"' in page


def test_download_as_eml_is_byte_identical(client: TestClient, filled: MemoryRecordStore) -> None:
    response = client.get("/quarantine/1.eml")
    assert response.content == filled.get_quarantined(1).raw
    assert response.headers["content-disposition"].startswith('attachment; filename="quarantined-1.eml"')
    assert response.headers["content-type"] == "message/rfc822"


def test_retry_imports_the_message_and_it_leaves_the_quarantine(
    client: TestClient, filled: MemoryRecordStore
) -> None:
    page = client.post("/quarantine/1/retry", data={"csrf_token": csrf(client.get("/quarantine").text)}).text
    assert "Message 1 was imported." in page
    assert "The quarantine is empty." in page
    assert "Kept back" in [r.title for r in filled.list_records()]


class _StillBroken:
    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        raise ValueError("still broken <b>here</b>")


def test_a_retry_that_fails_again_says_why_and_keeps_the_message(filled: MemoryRecordStore) -> None:
    importer = Importer(store=filled, converter=_StillBroken())
    with TestClient(make_app(filled, importer=importer)) as client:
        response = client.post(
            "/quarantine/1/retry", data={"csrf_token": csrf(client.get("/quarantine").text)}
        )
    assert response.status_code == 409
    assert "Message 1 still cannot be imported" in response.text
    assert "still broken &lt;b&gt;here&lt;/b&gt;" in response.text
    assert len(filled.list_quarantined()) == 1


def test_a_retry_of_a_message_whose_interface_is_gone_says_so(filled: MemoryRecordStore) -> None:
    filled.quarantine("gone", "uid-g", build_message(subject="Orphan"), "boom")
    with TestClient(make_app(filled)) as client:
        response = client.post(
            "/quarantine/2/retry", data={"csrf_token": csrf(client.get("/quarantine").text)}
        )
    assert "interface &#39;gone&#39; is no longer configured" in response.text
    assert len(filled.list_quarantined()) == 2


def test_discard_asks_first_then_gives_the_message_up(client: TestClient, filled: MemoryRecordStore) -> None:
    confirm = client.get("/quarantine/1/discard").text
    assert "download the .eml" in confirm
    assert len(filled.list_quarantined()) == 1
    page = client.post("/quarantine/1/discard", data={"csrf_token": csrf(confirm)}).text
    assert "Message 1 was discarded" in page
    assert filled.list_quarantined() == []
    assert filled.is_imported("support", "uid-q1")


def test_an_unknown_message_is_404(client: TestClient) -> None:
    assert client.get("/quarantine/7.eml").status_code == 404
    assert client.get("/quarantine/7/discard").status_code == 404
