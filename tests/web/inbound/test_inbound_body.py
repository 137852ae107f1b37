"""Request bodies: held in memory while small, in a temporary file beyond that; refused when over
the limit before more than the limit was read; forms taken apart from the spool, bytes intact."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.types import Message

from _inbound import multipart
from mailtrack.web.inbound._body import SPOOL_IN_MEMORY, Body, BodyTooLarge, read_body


def _request(chunks: list[bytes], headers: dict[str, str], received: list[int]) -> Request:
    pending: Iterator[bytes] = iter(chunks)

    async def receive() -> Message:
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        received.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
    }
    return Request(scope, receive)


def _read(chunks: list[bytes], headers: dict[str, str], limit: int) -> tuple[Body, list[int]]:
    received: list[int] = []
    body = asyncio.run(read_body(_request(chunks, headers, received), limit))
    return body, received


def test_small_body_stays_in_memory_a_large_one_goes_to_a_file() -> None:
    small, _ = _read([b"x" * 1000], {}, 10_000_000)
    large, _ = _read([b"x" * 100_000] * 5, {}, 10_000_000)
    try:
        assert not small.spool._rolled  # type: ignore[attr-defined]
        assert large.spool._rolled  # type: ignore[attr-defined]
        assert large.size == 500_000 > SPOOL_IN_MEMORY
        assert large.raw() == b"x" * 500_000
    finally:
        small.close()
        large.close()


def test_announced_oversize_body_is_refused_before_any_of_it_is_read() -> None:
    received: list[int] = []
    request = _request([b"x" * 1000] * 20, {"Content-Length": "20000"}, received)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request, 10_000))
    assert received == []


def test_unannounced_oversize_body_is_refused_once_past_the_limit() -> None:
    received: list[int] = []
    request = _request([b"x" * 1000] * 1000, {}, received)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request, 10_000))
    assert sum(received) == 11_000  # the chunk that went past it, no further


def test_multipart_fields_keep_their_bytes_and_large_ones_go_to_files() -> None:
    message = b"Subject: caf\xc3\xa9\r\n\r\n" + bytes(range(256)) * 2000
    data, content_type = multipart([("recipient", "support@example.com"), ("body-mime", message)])
    body, _ = _read(
        [data[i : i + 65536] for i in range(0, len(data), 65536)], {"Content-Type": content_type}, 10**7
    )
    try:
        assert body.text("recipient") == "support@example.com"
        assert body.value("body-mime") == message
        assert body.fields()["body-mime"]._rolled  # type: ignore[attr-defined]
        assert body.value("absent") is None
    finally:
        body.close()


def test_url_encoded_fields_keep_8bit_bytes() -> None:
    data = b"recipient=support%40example.com&body-mime=Subject%3A+caf%C3%A9%0D%0A%0D%0A%FF%00"
    body, _ = _read([data], {"Content-Type": "application/x-www-form-urlencoded"}, 10_000)
    try:
        assert body.text("recipient") == "support@example.com"
        assert body.value("body-mime") == b"Subject: caf\xc3\xa9\r\n\r\n\xff\x00"
    finally:
        body.close()
