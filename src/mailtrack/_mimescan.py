"""A fast, flat scan of a raw message's MIME structure, before any parser sees it.

Python's ``email`` parser recurses once per nested multipart or ``message/*`` part, and some of its
header helpers are quadratic in the length of a parameter list. A hostile message (multiparts
nested 1,200 deep, 20,000 parts, 50,000 header fields, a ``Content-Type`` with 20,000 semicolons)
would crash it or keep it busy for minutes. :func:`scan` walks the lines once, without recursion,
following the same rules as ``email.feedparser`` (boundary lines, header blocks, ``message/*``
bodies, ``multipart/digest`` defaults), and raises :class:`~mailtrack.ParseError` naming the limit
as soon as one is passed. Its cost is linear in the size of the message.
"""

from __future__ import annotations

import re
import time
from email.message import Message

import attrs

from .config import ParseLimits
from .exceptions import ParseError

__all__ = ["MAX_MIME_PARAMETERS", "ScanResult", "check_time", "scan"]

#: A Content-Type or Content-Disposition with more parameters than this is refused: no mail needs
#: them, and ``email``'s parameter parser is quadratic in their number.
MAX_MIME_PARAMETERS = 1000

# The line a header field starts with, as email.feedparser recognises it.
_HEADER_START = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")
_BOUNDARY_PARAM = re.compile(rb"boundary\s*\*?", re.IGNORECASE)


@attrs.frozen(kw_only=True)
class ScanResult:
    """What the scan found (all within the limits)."""

    #: Fields in the top-level header block.
    header_fields: int
    #: Bytes of the top-level header block.
    header_bytes: int
    #: MIME entities, the message itself included.
    parts: int
    #: Deepest nesting of multipart and message parts (0 for a single-part message).
    depth: int
    #: Whether the first line looked like a header field at all.
    has_headers: bool


def check_time(deadline: float, budget: float, phase: str) -> None:
    """Raise :class:`ParseError` when *deadline* (``time.monotonic()``) has passed."""
    if time.monotonic() > deadline:
        raise ParseError(
            f"converting the message took more than {budget:g} seconds (limit time_budget); stopped {phase}"
        )


@attrs.frozen
class _Container:
    boundary: bytes
    depth: int
    digest: bool


class _Scanner:
    def __init__(self, raw: bytes, limits: ParseLimits, deadline: float) -> None:
        self.lines = raw.splitlines()
        self.limits = limits
        self.deadline = deadline
        self.pos = 0
        self.parts = 1
        self.depth = 0
        self.stack: list[_Container] = []
        self.boundaries: dict[bytes, int] = {}

    # -- boundaries ----------------------------------------------------------------------------

    def _boundary_match(self, line: bytes) -> tuple[int, bool] | None:
        """(index in the stack, closing?) when *line* is a boundary line of an open multipart."""
        if not self.stack or not line.startswith(b"--"):
            return None
        text = line[2:].rstrip(b" \t")
        index = self.boundaries.get(text)
        if index is not None:
            return index, False
        if text.endswith(b"--"):
            index = self.boundaries.get(text[:-2])
            if index is not None:
                return index, True
        return None

    def _truncate_stack(self, length: int) -> None:
        del self.stack[length:]
        self.boundaries = {entry.boundary: index for index, entry in enumerate(self.stack)}

    # -- header blocks -------------------------------------------------------------------------

    def _header_block(self, where: str) -> tuple[dict[str, bytes], int, int, bool]:
        """Read one header block; return (Content-* values, field count, byte count, had headers)."""
        fields = 0
        size = 0
        values: dict[str, bytes] = {}
        current: str | None = None
        first = True
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if not line:
                self.pos += 1
                break
            if self._boundary_match(line) is not None or not _HEADER_START.match(line):
                break
            if line[:1] in (b" ", b"\t"):
                if current is not None:
                    values[current] += b" " + line.strip()
            else:
                if first and line.startswith(b"From "):
                    current = None
                else:
                    fields += 1
                    name, _, value = line.partition(b":")
                    key = name.strip().lower().decode("ascii", "replace")
                    if key in ("content-type", "content-disposition") and key not in values:
                        values[key] = value.strip()
                        current = key
                    else:
                        current = None
            first = False
            size += len(line) + 2
            self.pos += 1
            if fields > self.limits.max_header_fields:
                raise ParseError(
                    f"{where} has more than {self.limits.max_header_fields} header fields "
                    "(limit max_header_fields)"
                )
            if size > self.limits.max_header_bytes:
                raise ParseError(
                    f"{where} has a header block larger than {self.limits.max_header_bytes} bytes "
                    "(limit max_header_bytes)"
                )
        for key, value in values.items():
            if value.count(b";") > MAX_MIME_PARAMETERS:
                header = "Content-Type" if key == "content-type" else "Content-Disposition"
                raise ParseError(
                    f"the {header} header of {where} has more than {MAX_MIME_PARAMETERS} parameters"
                )
        return values, fields, size, not first

    # -- structure -----------------------------------------------------------------------------

    def _count_part(self) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise ParseError(f"message has more than {self.limits.max_parts} MIME parts (limit max_parts)")

    def _nest(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise ParseError(
                f"message nests MIME parts more than {self.limits.max_depth} deep (limit max_depth)"
            )
        self.depth = max(self.depth, depth)

    def _open(self, values: dict[str, bytes], depth: int, default: bytes) -> None:
        """Enter the body of an entity whose header block was just read (at nesting *depth*)."""
        while True:
            content_type = values.get("content-type", default)
            kind = content_type.split(b";", 1)[0].strip().lower()
            if kind.startswith(b"message/") and kind != b"message/delivery-status":
                # email.feedparser reads the body of any message/* part as a whole message.
                depth += 1
                self._nest(depth)
                self._count_part()
                values, _, _, _ = self._header_block(f"the message in part {self.parts - 1}")
                default = b"text/plain"
                continue
            if kind.startswith(b"multipart/") and _BOUNDARY_PARAM.search(content_type):
                boundary = _boundary(content_type)
                if boundary:
                    depth += 1
                    self._nest(depth)
                    self.stack.append(_Container(boundary, depth, kind == b"multipart/digest"))
                    self.boundaries[boundary] = len(self.stack) - 1
            return

    def run(self) -> ScanResult:
        values, fields, size, has_headers = self._header_block("the message")
        self._open(values, 0, b"text/plain")
        lines = self.lines
        checked = 0
        while self.pos < len(lines):
            line = lines[self.pos]
            self.pos += 1
            match = self._boundary_match(line)
            if match is None:
                continue
            index, closing = match
            container = self.stack[index]
            if closing:
                self._truncate_stack(index)
                continue
            self._truncate_stack(index + 1)
            self._count_part()
            if self.parts - checked >= 256:
                checked = self.parts
                check_time(self.deadline, self.limits.time_budget, "while scanning the MIME structure")
            part_values, _, _, _ = self._header_block(f"part {self.parts - 1}")
            default = b"message/rfc822" if container.digest else b"text/plain"
            self._open(part_values, container.depth, default)
        return ScanResult(
            header_fields=fields,
            header_bytes=size,
            parts=self.parts,
            depth=self.depth,
            has_headers=has_headers,
        )


def _boundary(content_type: bytes) -> bytes:
    # email's own parameter parsing (RFC 2231 continuations, quoting) decides the boundary; the
    # value was checked above to have a bounded number of parameters.
    probe = Message()
    probe["Content-Type"] = content_type.decode("ascii", "surrogateescape")
    boundary = probe.get_boundary()
    if not boundary:
        return b""
    return boundary.encode("ascii", "surrogateescape") if _is_ascii_safe(boundary) else b""


def _is_ascii_safe(text: str) -> bool:
    try:
        text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def scan(raw: bytes, limits: ParseLimits, deadline: float) -> ScanResult:
    """Scan *raw* and check it against *limits*.

    Raises:
        ParseError: a limit is passed (the text names it), or *deadline* passed while scanning.
    """
    return _Scanner(raw, limits, deadline).run()
