"""The MIME tree of a message, built by ``email``'s parser without feeding it large bodies line by line.

``email.feedparser.BytesFeedParser`` (policy ``compat32``, as mail-parser uses it) spends most of
its time on mail with attachments reading their bodies one line at a time. :func:`parse` hands it
each leaf body of :data:`OUT_OF_LINE` bytes or more that the pre-scan located (up to its first
line starting with ``--``, so that no line inside can be a boundary) as one marker line shaped
like a header field; after parsing, the body's text is put back into the part whose payload
starts with that marker. The tree is then exactly the one the whole message gives; if any marker
is not found where it must be (the parser read the message otherwise than the scan), the message
is parsed again whole.
"""

from __future__ import annotations

import secrets
from email import policy as email_policy
from email.feedparser import BytesFeedParser
from email.message import Message

from ._mimescan import Span

__all__ = ["OUT_OF_LINE", "feed", "parse", "parse_out_of_line"]

#: Leaf bodies at least this long are parsed out of line.
OUT_OF_LINE = 256


def feed(data: bytes) -> Message:
    """The MIME tree ``BytesFeedParser`` builds from *data*, line by line."""
    parser = BytesFeedParser(policy=email_policy.compat32)
    parser.feed(data)
    return parser.close()


def parse(raw: bytes, bodies: tuple[Span, ...], *, out_of_line: bool = True) -> Message:
    """The MIME tree of *raw*, exactly as :func:`feed` builds it.

    Args:
        bodies: the leaf body spans the pre-scan found (no line inside one starts with ``--``,
            so none can end a part).
        out_of_line: whether the large ones may be kept out of the parser (``False`` always
            parses the whole message line by line).
    """
    spans = [(start, end) for start, end in bodies if end - start >= OUT_OF_LINE]
    if spans and out_of_line:
        message = parse_out_of_line(raw, spans)
        if message is not None:
            return message
    return feed(raw)


def parse_out_of_line(raw: bytes, spans: list[Span]) -> Message | None:
    """The tree with each span replaced by a marker line and put back afterwards, or ``None``
    when a marker did not come back as the start of a leaf part's payload."""
    # A marker looks like a header field: a parser still reading a header block takes it as one,
    # and it is then missing from the payloads (never part of a wrong one).
    tag = f"X-Mailtrack-Body-{secrets.token_hex(8)}-"
    if tag.encode("ascii") in raw:
        return None
    markers: dict[str, tuple[Span, str]] = {}
    pieces: list[bytes] = []
    done = 0
    for number, (start, end) in enumerate(spans):
        ending = _line_break_at_end(raw, start, end)
        marker = f"{tag}{number}: body"
        markers[marker] = ((start, end), ending)
        pieces += (raw[done:start], marker.encode("ascii"), ending.encode("ascii"))
        done = end
    pieces.append(raw[done:])
    message = feed(b"".join(pieces))

    stack = [message]
    while stack:
        part = stack.pop()
        # The payload as the parser left it (get_payload() would decode raw 8-bit text).
        payload = getattr(part, "_payload", None)
        if isinstance(payload, list):
            stack.extend(child for child in payload if isinstance(child, Message))
            continue
        if not isinstance(payload, str) or not payload.startswith(tag):
            continue
        marker = payload[: payload.find(": body") + len(": body")]
        if marker not in markers:
            return None
        (start, end), ending = markers.pop(marker)
        if payload.startswith(marker + ending):
            # The span, then whatever lines of the same part followed it.
            text = raw[start:end].decode("ascii", "surrogateescape") + payload[len(marker + ending) :]
        elif ending and payload == marker:
            # The part ended right after the span: its last line break belongs to the boundary.
            text = raw[start : end - len(ending)].decode("ascii", "surrogateescape")
        else:
            return None
        part.set_payload(text)
    return None if markers else message


def _line_break_at_end(raw: bytes, start: int, end: int) -> str:
    if raw.endswith(b"\r\n", start, end):
        return "\r\n"
    if end > start and raw[end - 1] in b"\r\n":
        return chr(raw[end - 1])
    return ""
