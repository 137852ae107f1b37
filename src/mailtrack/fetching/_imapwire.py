"""IMAP responses read off the wire: lines, literals of bounded size, and the few data items
mailtrack asks for.

A response is a line that may announce literals (``{123}`` at its end: that many bytes follow,
then the line goes on). :func:`read_response` reads one whole response, refusing a literal
larger than the caller allows *before* reading it, so a server cannot make the importer hold more
than it asked for. Lines have no length limit of their own beyond the wire's (64 KB), and a
literal may hold lines of any length (the message bodies do).

Only what mailtrack needs is parsed: the tag and status of a response, its response code
(``[UIDVALIDITY 7]``), the data of ``FETCH`` (``UID``, ``RFC822.SIZE``, ``BODY[]``), ``EXISTS``,
``CAPABILITY`` and ``LIST``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import attrs

from ._errors import ReplyTooLarge, WireError
from ._wire import Wire

__all__ = [
    "SMALL_LITERAL",
    "Literal",
    "Response",
    "fetch_items",
    "list_name",
    "mailbox_name",
    "quoted",
    "read_response",
    "uid_set",
]

#: Largest literal accepted outside message bodies (mailbox names, capability lists).
SMALL_LITERAL = 64 * 1024

_LITERAL = re.compile(rb"\{(\d{1,20})\+?\}$")
_CODE = re.compile(rb"^\[([A-Za-z0-9.-]+)(?: ([^\]]*))?\]")
_TOKEN = re.compile(
    rb'\s*(?:(?P<open>\()|(?P<close>\))|"(?P<quoted>(?:[^"\\]|\\.)*)"'
    rb"|(?P<atom>(?:[^\s()\"\[\]]|\[[^\]]*\])+))"
)


@attrs.frozen
class Literal:
    """The bytes of a literal, kept apart from the line around it."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")


@attrs.frozen(kw_only=True)
class Response:
    """One server response: ``tag`` is ``b"*"`` (untagged), ``b"+"`` (continuation) or a tag."""

    tag: bytes
    #: The line's text after the tag, literals left out (``b"OK [UIDVALIDITY 7] ok"``, ``b"3 EXISTS"``).
    text: bytes
    #: The line split at its literals: text pieces and :class:`Literal` pieces in order.
    parts: tuple[bytes | Literal, ...]

    @property
    def words(self) -> list[bytes]:
        return self.text.split(None, 2)

    @property
    def status(self) -> bytes:
        """``OK``, ``NO``, ``BAD``, ``BYE``, ``PREAUTH`` (upper case), or ``b""`` for data."""
        words = self.words
        head = words[0].upper() if words else b""
        return head if head in (b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH") else b""

    @property
    def code(self) -> tuple[str, str] | None:
        """The response code of a status response: ``("UIDVALIDITY", "7")``, upper-case name."""
        if not self.status:
            return None
        rest = self.text[len(self.status) :].lstrip()
        match = _CODE.match(rest)
        if match is None:
            return None
        return match.group(1).decode("ascii").upper(), (match.group(2) or b"").decode("utf-8", "replace")

    @property
    def data_kind(self) -> tuple[int | None, bytes]:
        """``(3, b"EXISTS")`` for ``* 3 EXISTS``, ``(None, b"CAPABILITY")`` for ``* CAPABILITY …``."""
        words = self.words
        if not words:
            return None, b""
        if words[0].isdigit() and len(words) > 1:
            return int(words[0]), words[1].upper()
        return None, words[0].upper()


def read_response(wire: Wire, *, literal_limit: int = SMALL_LITERAL) -> Response:
    """Read one response with its literals.

    Raises:
        ReplyTooLarge: a literal was announced larger than *literal_limit* (nothing of it read;
            the connection is out of step and must be dropped).
        WireError: the line is not an IMAP response, too long, or the server closed.
    """
    line = wire.read_line()
    tag, _, rest = line.partition(b" ")
    if not tag or (tag == b"+" and not line.startswith(b"+")):
        raise WireError(f"the server sent something that is not an IMAP response: {line[:80]!r}")
    parts: list[bytes | Literal] = []
    text = [rest]
    piece = rest
    while True:
        match = _LITERAL.search(piece)
        if match is None:
            parts.append(piece)
            break
        size = int(match.group(1))
        if size > literal_limit:
            raise ReplyTooLarge(
                f"the server announced {size} bytes where at most {literal_limit} were expected"
            )
        parts.append(piece[: match.start()])
        parts.append(Literal(wire.read_exact(size)))
        piece = wire.read_line()
        text.append(piece)
    return Response(tag=tag, text=b" ".join(text) if len(text) > 1 else rest, parts=tuple(parts))


def _tokens(parts: tuple[bytes | Literal, ...]) -> Iterator[bytes | Literal | None]:
    """Atoms and quoted strings as bytes, literals as :class:`Literal`, ``(`` as ``None`` and ``)``
    as ``b")"`` (a quoted ``")"`` comes unquoted, which the FETCH items never are)."""
    for part in parts:
        if isinstance(part, Literal):
            yield part
            continue
        position = 0
        while position < len(part):
            match = _TOKEN.match(part, position)
            if match is None:
                if part[position:].strip():
                    raise WireError(f"the server sent an unreadable response: {part[position:][:80]!r}")
                break
            position = match.end()
            if match.group("open"):
                yield None
            elif match.group("close"):
                yield b")"
            elif match.group("quoted") is not None:
                yield re.sub(rb"\\(.)", rb"\1", match.group("quoted"))
            else:
                yield match.group("atom")


def _nested(tokens: Iterator[bytes | Literal | None]) -> list[object]:
    items: list[object] = []
    for token in tokens:
        if token is None:
            items.append(_nested(tokens))
        elif token == b")":
            return items
        else:
            items.append(token)
    return items


def fetch_items(response: Response) -> dict[bytes, object]:
    """The data items of ``* n FETCH (…)``: ``{b"UID": b"7", b"BODY[]": Literal(…), …}`` (names
    upper case; a quoted body comes as bytes, ``NIL`` as ``b"NIL"``).

    Raises:
        WireError: the response has no list of data items.
    """
    tokens = _tokens(response.parts)
    for token in tokens:
        if token is None:
            values = _nested(tokens)
            break
    else:
        raise WireError(f"the server sent a FETCH response without data: {response.text[:80]!r}")
    items: dict[bytes, object] = {}
    for index in range(0, len(values) - 1, 2):
        name = values[index]
        if isinstance(name, bytes):
            items[name.upper()] = values[index + 1]
    return items


def list_name(response: Response) -> bytes | None:
    """The mailbox name of ``* LIST (flags) "/" name`` (``None`` when unreadable)."""
    values = _nested(_tokens(response.parts))
    name = values[-1] if len(values) >= 4 else None
    if isinstance(name, Literal):
        return name.data
    return name if isinstance(name, bytes) else None


def quoted(text: str) -> str:
    """*text* as an IMAP quoted string (the caller makes sure it holds no CR, LF or NUL)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def uid_set(uids: list[int]) -> str:
    """``1:3,7,9:10`` for ``[1, 2, 3, 7, 9, 10]`` (sorted, ranges joined)."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    start = previous = ordered[0] if ordered else 0
    for uid in ordered[1:]:
        if uid != previous + 1:
            ranges.append(f"{start}:{previous}" if previous != start else str(start))
            start = uid
        previous = uid
    if ordered:
        ranges.append(f"{start}:{previous}" if previous != start else str(start))
    return ",".join(ranges)


def mailbox_name(name: str) -> str:
    """*name* as RFC 3501 wants a mailbox name on the wire: modified UTF-7, quoted."""
    encoded: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            encoded.append("&" + raw.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if "\x20" <= char <= "\x7e":
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return quoted("".join(encoded))
