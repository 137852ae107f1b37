"""Fixtures of the web tests: a filled store and a test client of its pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from _webpages import fill, make_app
from mailtrack import MemoryRecordStore


@pytest.fixture
def filled() -> MemoryRecordStore:
    store = MemoryRecordStore()
    fill(store)
    return store


@pytest.fixture
def client(filled: MemoryRecordStore) -> Iterator[TestClient]:
    with TestClient(make_app(filled)) as test_client:
        yield test_client
