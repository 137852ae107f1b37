"""A fast, flat scan of a raw message's MIME structure, before any parser sees it.

Python's ``email`` parser recurses once per nested multipart or ``message/*`` part, and some of its
header helpers are quadratic in the length of a parameter list. A hostile message (multiparts
nested 1,200 deep, 20,000 parts, 50,000 header fields, a ``Content-Type`` with 20,000 semicolons)
would crash it or keep it busy for minutes. :func:`scan` goes through the message once, without
recursion, following the same rules as ``email.feedparser`` (boundary lines, header blocks,
``message/*`` bodies, ``multipart/digest`` defaults), and raises :class:`~mailtrack.ParseError`
naming the limit as soon as one is passed. Its cost is linear in the size of the message, and
for a body it is mostly ``bytes.find``: only header lines and lines starting with ``--`` are
looked at one by one.

It also hands back where the bodies of the leaf parts are (:attr:`ScanResult.bodies`), so that
the converter can keep large bodies away from the line-by-line parser (see
:mod:`mailtrack.converting`).
"""

from __future__ import annotations

import re
import time
from email.message import Message

import attrs

from ..config import ParseLimits
from ..exceptions import ParseError

__all__ = ["MAX_MIME_PARAMETERS", "ScanResult", "Span", "check_time", "scan"]

#: A Content-Type or Content-Disposition with more parameters than this is refused: no mail needs
#: them, and ``email``'s parameter parser is quadratic in their number.
MAX_MIME_PARAMETERS = 1000

# The line a header field starts with, as email.feedparser recognises it.
_HEADER_START = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")
_BOUNDARY_PARAM = re.compile(rb"boundary\s*\*?", re.IGNORECASE)
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_CR_LF = frozenset(b"\r\n")
_DASH_LINE_AFTER_BREAK = re.compile(rb"[\r\n](--[^\r\n]*)")
_DASH_LINE = re.compile(rb"--[^\r\n]*")
_DASH_RUN_WINDOW = 64 * 1024
_DASH_LINE_RUN = re.compile(rb"(?:--[^\r\n]*(?:\r\n|\r|\n))*")


#: (start, end) offsets into the raw message.
Span = tuple[int, int]


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
    #: (start, end) offsets of the bodies of leaf entities (neither multipart nor ``message/*``),
    #: in order, each up to its first line starting with ``--`` (or the end of the message):
    #: no line inside one can be a boundary line.
    bodies: tuple[Span, ...] = ()


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
    """The scan over offsets into the raw bytes.

    Lines are the lines of ``raw.splitlines()`` (ended by CR LF, CR or LF, as ``email`` splits
    them), but only the lines that can matter are looked at: those of header blocks, and in a body
    only the lines starting with ``--`` (a boundary line always does), found with ``bytes.find``
    over the whole buffer. A body without ``-`` characters costs no Python work per line.
    """

    def __init__(self, raw: bytes, limits: ParseLimits, deadline: float) -> None:
        self.raw = raw
        self.limits = limits
        self.deadline = deadline
        self.pos = 0
        self.parts = 1
        self.depth = 0
        self.stack: list[_Container] = []
        self.boundaries: dict[bytes, int] = {}
        self.bodies: list[Span] = []
        # The last search for a line starting with "--": (from where, found where).
        self._dash_line: tuple[int, tuple[int, bytes] | None] = (-1, None)

    # -- lines ---------------------------------------------------------------------------------

    def _line(self, start: int) -> tuple[bytes, int]:
        """The line starting at *start* (without its line break) and where the next one starts."""
        found = _LINE_BREAK.search(self.raw, start)
        if found is None:
            return self.raw[start:], len(self.raw)
        return self.raw[start : found.start()], found.end()

    def _next_dash_line(self, start: int) -> tuple[int, bytes] | None:
        """The first line at or after *start* (a line start) that begins with ``--``: (where it
        starts, the line without its line break), or None.

        ``bytes.find`` looks for the first ``-`` (at ``memchr`` speed: base64 has none); only when
        that one does not start such a line does a regular expression go on from there.
        """
        if self._dash_line[0] == start:
            return self._dash_line[1]
        raw = self.raw
        found = raw.find(b"-", start)
        result: tuple[int, bytes] | None = None
        if found != -1:
            at_line_start = (
                _DASH_LINE.match(raw, found) if found == start or raw[found - 1] in _CR_LF else None
            )
            if at_line_start is not None:
                result = found, at_line_start.group()
            else:
                after_break = _DASH_LINE_AFTER_BREAK.search(raw, found)
                if after_break is not None:
                    result = after_break.start(1), after_break.group(1)
        self._dash_line = (start, result)
        return result

    def _skip_dash_lines(self) -> int:
        """Go past the lines starting with ``--`` that follow at once and are no boundary lines
        (split in windows of at most 64 KB, not found one by one); return how many."""
        run = _DASH_LINE_RUN.match(self.raw, self.pos, self.pos + _DASH_RUN_WINDOW)
        if run is None or run.end() == self.pos:
            return 0
        skipped = 0
        for line in self.raw[self.pos : run.end()].splitlines(keepends=True):
            if self._boundary_match(line.rstrip(b"\r\n")) is not None:
                break
            self.pos += len(line)
            skipped += 1
        return skipped

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
        values: dict[str, list[bytes]] = {}
        current: list[bytes] | None = None
        first = True
        end = len(self.raw)
        while self.pos < end:
            line, following = self._line(self.pos)
            if not line:
                self.pos = following
                break
            if self._boundary_match(line) is not None or not _HEADER_START.match(line):
                break
            if line[:1] in (b" ", b"\t"):
                if current is not None:
                    current.append(line.strip())
            else:
                if first and line.startswith(b"From "):
                    current = None
                else:
                    fields += 1
                    name, _, value = line.partition(b":")
                    key = name.strip().lower().decode("ascii", "replace")
                    if key in ("content-type", "content-disposition") and key not in values:
                        current = values[key] = [value.strip()]
                    else:
                        current = None
            first = False
            size += len(line) + 2
            self.pos = following
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
        joined = {key: b" ".join(pieces) for key, pieces in values.items()}
        for key, value in joined.items():
            if value.count(b";") > MAX_MIME_PARAMETERS:
                header = "Content-Type" if key == "content-type" else "Content-Disposition"
                raise ParseError(
                    f"the {header} header of {where} has more than {MAX_MIME_PARAMETERS} parameters"
                )
        return joined, fields, size, not first

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
            if kind != b"message/delivery-status":
                self._body(self.pos)
            return

    def _body(self, start: int) -> None:
        """Note the body of a leaf entity starting at *start*, up to its first ``--`` line."""
        dash_line = self._next_dash_line(start)
        self.bodies.append((start, len(self.raw) if dash_line is None else dash_line[0]))

    def run(self) -> ScanResult:
        values, fields, size, has_headers = self._header_block("the message")
        self._open(values, 0, b"text/plain")
        raw = self.raw
        checked = 0
        lines = checked_lines = 0
        while self.stack:
            dash_line = self._next_dash_line(self.pos)
            if dash_line is None:
                break
            start, line = dash_line
            end = start + len(line)
            self.pos = end + 2 if raw.startswith(b"\r\n", end) else min(end + 1, len(raw))
            lines += 1
            if lines - checked_lines >= 4096:
                checked_lines = lines
                check_time(self.deadline, self.limits.time_budget, "while scanning the MIME structure")
            match = self._boundary_match(line)
            if match is None:
                lines += self._skip_dash_lines()
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
            bodies=tuple(self.bodies),
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
