"""Mailgun retries a request it got no 2xx for with its original timestamp, token and signature:
the retry of the same message is taken (once), another message under that token is not."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import types
from typing import Any

import pytest
from starlette.testclient import TestClient

from _inbound import LockedOnce, locked_once_app, mailgun_fields, multipart
from mailtrack import MemoryRecordStore
from mailtrack.testing import build_message
from mailtrack.web.inbound import _delivery, _mailgun

RAW = build_message(subject="Retry me", message_id="<retry@example.com>")


class _Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(_mailgun, "time", types.SimpleNamespace(time=fake.time))
    return fake


def _client(store: MemoryRecordStore) -> tuple[TestClient, LockedOnce]:
    app, importer = locked_once_app(store, 1)
    return TestClient(app), importer


def _post(client: TestClient, fields: list[tuple[str, bytes | str]]) -> Any:
    body, content_type = multipart(fields)
    return client.post("/mailgun/mime", content=body, headers={"Content-Type": content_type})


def test_mailgun_retry_after_503_with_the_original_fields_is_imported_once(clock: _Clock) -> None:
    store = MemoryRecordStore()
    client, importer = _client(store)
    fields = mailgun_fields(RAW)
    first = _post(client, fields)
    assert first.status_code == 503
    assert store.list_records() == []
    clock.offset = 15 * 60  # Mailgun's first retry, the timestamp now far older than max_age
    retry = _post(client, fields)
    assert retry.status_code == 200, retry.text
    assert [record.title for record in store.list_records()] == ["Retry me"]
    again = _post(client, fields)  # the 2xx got lost: the same request once more
    assert again.status_code == 200, again.text
    assert [record.title for record in store.list_records()] == ["Retry me"]
    assert importer.calls == 2


def test_mailgun_token_of_a_failed_delivery_with_another_message_is_refused(clock: _Clock) -> None:
    store = MemoryRecordStore()
    client, _importer = _client(store)
    fields = mailgun_fields(RAW, token="b" * 50)
    assert _post(client, fields).status_code == 503
    clock.offset = 15 * 60
    other = build_message(subject="Forged", message_id="<forged@example.com>")
    forged = [(name, other if name == "body-mime" else value) for name, value in fields]
    assert _post(client, forged).status_code == 403
    assert store.list_records() == []


def test_mailgun_old_timestamp_with_an_unknown_token_is_still_refused(clock: _Clock) -> None:
    store = MemoryRecordStore()
    client, _importer = _client(store)
    fields = mailgun_fields(RAW)
    clock.offset = 15 * 60
    assert _post(client, fields).status_code == 403
    assert store.list_records() == []


def test_mailgun_retry_of_a_request_cut_off_while_delivering_is_taken(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dropped while the message was delivered (the request was cancelled before
    it was answered): Mailgun's retry, with its now old timestamp, is still taken, once."""
    store = MemoryRecordStore()
    app, _importer = locked_once_app(store, 0)  # the store never fails here
    client = TestClient(app)
    deliver = _delivery.Delivery.deliver

    async def cut_off(self: _delivery.Delivery, *args: Any) -> Any:
        monkeypatch.setattr(_delivery.Delivery, "deliver", deliver)
        raise asyncio.CancelledError

    monkeypatch.setattr(_delivery.Delivery, "deliver", cut_off)
    fields = mailgun_fields(RAW, token="c" * 50)
    # The test client hands the cancellation back through its portal as futures' CancelledError.
    with pytest.raises((asyncio.CancelledError, concurrent.futures.CancelledError)):
        _post(client, fields)
    assert store.list_records() == []
    clock.offset = 15 * 60
    retry = _post(client, fields)
    assert retry.status_code == 200, retry.text
    assert [record.title for record in store.list_records()] == ["Retry me"]
