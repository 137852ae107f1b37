"""A Mandrill batch delivers every event whatever became of the others: 503 when one asked for a
retry (the retry imports the others once), else 200, each refusal logged."""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

import pytest
from starlette.testclient import TestClient

from _inbound import MANDRILL_KEY, MANDRILL_URL, locked_once_app
from mailtrack import MemoryRecordStore
from mailtrack.testing import build_message
from mailtrack.web.inbound import mandrill_signature

RAWS = [build_message(subject=f"batch {n}", message_id=f"<batch{n}@example.com>") for n in range(3)]


def _client(store: MemoryRecordStore, fail_nth: int = 0) -> TestClient:
    return TestClient(locked_once_app(store, fail_nth)[0])


def _post(client: TestClient, events: list[dict[str, Any]]) -> Any:
    params = [("mandrill_events", json.dumps(events))]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Mandrill-Signature": mandrill_signature(MANDRILL_KEY, MANDRILL_URL, params),
    }
    return client.post("/mandrill", content=urllib.parse.urlencode(params).encode("ascii"), headers=headers)


def _event(raw: bytes | None, email: str) -> dict[str, Any]:
    msg: dict[str, Any] = {"email": email}
    if raw is not None:
        msg["raw_msg"] = raw.decode("utf-8")
    return {"event": "inbound", "msg": msg}


def _titles(store: MemoryRecordStore) -> list[str]:
    return sorted(record.title for record in store.list_records())


def test_mandrill_batch_delivers_every_event_past_refused_ones(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryRecordStore()
    events = [
        _event(RAWS[0], "support@example.com"),
        _event(None, "support@example.com"),
        _event(RAWS[1], "nobody@elsewhere.example"),
        _event(RAWS[2], "sales@example.com"),
    ]
    with caplog.at_level(logging.WARNING, logger="mailtrack.inbound"):
        answer = _post(_client(store), events)
    assert answer.status_code == 200, answer.text
    assert _titles(store) == ["batch 0", "batch 2"]
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any("without msg.raw_msg" in message for message in refusals)
    assert any("nobody@elsewhere.example" in message for message in refusals)


def test_mandrill_batch_with_a_failed_event_asks_for_a_retry_that_imports_each_once() -> None:
    store = MemoryRecordStore()
    client = _client(store, fail_nth=2)
    events = [_event(raw, "support@example.com") for raw in RAWS]
    first = _post(client, events)
    assert first.status_code == 503
    assert first.headers["Retry-After"]
    assert _titles(store) == ["batch 0", "batch 2"]  # the one after the failure was delivered too
    retry = _post(client, events)
    assert retry.status_code == 200, retry.text
    assert _titles(store) == ["batch 0", "batch 1", "batch 2"]
