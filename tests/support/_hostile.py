"""Hostile messages too big to keep as files, made on demand (the converter's and the end-to-end
hostile tests share them)."""

from __future__ import annotations

__all__ = ["many_header_fields", "many_parts", "nested_messages", "nested_multipart"]


def nested_multipart(depth: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth)
    )
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return (
        b"From: a@example.org\r\nSubject: deep\r\n"
        + opening
        + b"Content-Type: text/plain\r\n\r\nhi\r\n"
        + closing
    )


def nested_messages(depth: int) -> bytes:
    return (
        b"From: a@example.org\r\nSubject: deep\r\n"
        + b"Content-Type: message/rfc822\r\n\r\n" * depth
        + b"Subject: innermost\r\n\r\nhi\r\n"
    )


def many_parts(count: int) -> bytes:
    body = b"".join(b"--X\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count))
    return b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n" + body + b"--X--\r\n"


def many_header_fields(count: int) -> bytes:
    return (
        b"".join(b"X-Field-%d: value\r\n" % i for i in range(count)) + b"From: a@example.org\r\n\r\nbody\r\n"
    )
