"""What an anonymous request can make the server hold before any signature is checked is bounded:
the form's shape, /ses's body size, Mandrill's signature header, JSON nesting."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from _inbound import MANDRILL_KEY, MANDRILL_URL, FakeSNS, make_app, multipart
from mailtrack import MemoryRecordStore
from mailtrack.web import inbound
from mailtrack.web.inbound import mandrill_signature
from mailtrack.web.inbound._body import MAX_FIELD_NAME, MAX_FIELDS, MAX_PART_HEADER, read_body


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app(MemoryRecordStore(), FakeSNS()), raise_server_exceptions=False) as test_client:
        yield test_client


def _post_form(client: TestClient, body: bytes, content_type: str) -> Any:
    return client.post("/mailgun/mime", content=body, headers={"Content-Type": content_type})


def test_multipart_with_too_many_fields_is_malformed(client: TestClient) -> None:
    body, content_type = multipart((f"f{n}", "") for n in range(MAX_FIELDS + 1))
    answer = _post_form(client, body, content_type)
    assert answer.status_code == 400
    assert f"more than {MAX_FIELDS} fields" in answer.json()["message"]


def test_multipart_with_as_many_fields_as_allowed_is_read(client: TestClient) -> None:
    body, content_type = multipart((f"f{n}", "") for n in range(MAX_FIELDS))
    answer = _post_form(client, body, content_type)
    assert answer.status_code == 401  # read, then refused for want of a signature


def test_multipart_field_name_too_long_is_malformed(client: TestClient) -> None:
    body, content_type = multipart([("n" * (MAX_FIELD_NAME + 1), "v")])
    answer = _post_form(client, body, content_type)
    assert answer.status_code == 400
    assert "field name longer" in answer.json()["message"]


def test_multipart_part_header_too_long_is_malformed(client: TestClient) -> None:
    header = b"X-" + b"a" * MAX_PART_HEADER + b": v"
    body = b'--B\r\nContent-Disposition: form-data; name="x"\r\n' + header + b"\r\n\r\nv\r\n--B--\r\n"
    answer = _post_form(client, body, "multipart/form-data; boundary=B")
    assert answer.status_code == 400
    assert "header longer" in answer.json()["message"]


def test_urlencoded_with_too_many_fields_is_malformed(client: TestClient) -> None:
    body = urllib.parse.urlencode([(f"f{n}", "") for n in range(MAX_FIELDS + 1)]).encode()
    answer = _post_form(client, body, "application/x-www-form-urlencoded")
    assert answer.status_code == 400
    assert f"more than {MAX_FIELDS} fields" in answer.json()["message"]


def test_ses_body_over_its_own_limit_is_refused_before_it_is_read(client: TestClient) -> None:
    body = b" " * (inbound.SES_BODY_LIMIT + 1)
    answer = client.post("/ses", content=body, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 413


def test_deeply_nested_json_to_ses_is_malformed(client: TestClient) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    answer = client.post("/ses", content=body, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["message"]


def test_deeply_nested_mandrill_events_are_malformed(client: TestClient) -> None:
    params = [("mandrill_events", "[" * 100_000 + "]" * 100_000)]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Mandrill-Signature": mandrill_signature(MANDRILL_KEY, MANDRILL_URL, params),
    }
    answer = client.post("/mandrill", content=urllib.parse.urlencode(params).encode(), headers=headers)
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["message"]


def test_mandrill_without_signature_header_is_refused_before_the_body_is_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = read_body

    async def counting(request: Any, limit: int) -> Any:
        reads.append(limit)
        return await real(request, limit)

    monkeypatch.setattr(inbound, "read_body", counting)
    body = urllib.parse.urlencode([("mandrill_events", json.dumps([{"event": "inbound"}]))]).encode()
    answer = client.post(
        "/mandrill", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 401
    assert reads == []
