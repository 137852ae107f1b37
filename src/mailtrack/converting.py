"""Raw RFC 5322 bytes into an :class:`~mailtrack.IncomingMessage`: :class:`MailParserConverter`.

This is the only module that imports mail-parser. How a message is read:

1. Cheap checks on the bytes, before any parser: empty input and Outlook ``.msg`` files are
   refused, and a flat scan (:mod:`mailtrack._mimescan`) checks the :class:`~mailtrack.ParseLimits`
   (header fields and bytes, MIME parts, nesting depth, parameters per MIME header) in time
   linear in the size of the message.
2. ``email.feedparser.BytesFeedParser`` (policy ``compat32``, as mail-parser uses it) builds the
   MIME tree, but it is not fed the lines of large leaf bodies one by one (most of its time on
   mail with attachments): each body of 256 bytes or more that the scan located, up to its first
   line starting with ``--`` (so that no line inside can be a boundary), is replaced by a single
   marker line shaped like a header field, and after parsing the body's text is put back into
   the part whose payload starts with that marker. The tree is then exactly the one the whole
   message gives; if any marker is not found where it must be (the parser read the message
   otherwise than the scan), the message is parsed again whole.
3. ``mailparser.MailParser`` is given a header-only ``Message`` holding the top-level From, To,
   Cc, Reply-To and Date fields (their raw values, in order) and reads what mailtrack takes from
   mail-parser: the addresses (with its recovery of malformed address lists), the Date, and its
   address defects. It is not given the whole message: its own walk of the parts (decoding,
   base64 re-encoding and randomly naming attachments, decoding every header twice, parsing the
   Received chain) is about half of its time, and step 4 would throw all of it away. The
   Subject, the Message-ID and the other header values are decoded here (RFC 2047 and raw
   8-bit bytes, see :mod:`mailtrack._mailtext`).
4. This module walks the same tree, without recursion, for the body text, the HTML and the
   attachments, because mail-parser names unnamed parts randomly, re-encodes attachment bytes
   and drops undecodable text; here attachment content is the decoded MIME part byte for byte,
   names are deterministic and safe, and text in an unknown or wrong charset is decoded
   without loss where possible (with a defect saying so).

The time budget (``ParseLimits.time_budget``) is checked during the pre-scan, after every
phase and before every MIME part; an overrun raises :class:`~mailtrack.ParseError` naming
``time_budget``. A phase is not interrupted in the middle (no signals or threads: the converter
may run in any thread), so what bounds a single phase is the pre-scan: with the parts, depth,
header and parameter counts within the limits, each phase costs about linear time in the size
of the message, and a conversion ends at most one phase (or one part) after its budget.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
import time
from datetime import datetime, timezone
from email import policy as email_policy
from email.feedparser import BytesFeedParser
from email.generator import BytesGenerator
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

import attrs
import mailparser

from ._filenames import extension_for, safe_filename, unique_filename
from ._mailtext import clean_text, decode_body, decode_header, one_line, unescape_raw
from ._mimescan import Span, check_time, scan
from .config import ParseLimits
from .exceptions import ParseError
from .models import Attachment, EmailAddress, IncomingMessage

__all__ = ["MailParserConverter"]

# mail-parser logs a warning for every part type it does not handle itself (we handle them):
# without a handler of its own, Python's last-resort handler would print them on stderr.
logging.getLogger("mailparser").addHandler(logging.NullHandler())

_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_NEWLINES = re.compile(r"\r\n?")
_MAX_ID_LENGTH = 998
_MAX_DEFECTS = 50
_BODY_TYPES = ("text/plain", "text/html")
#: Leaf bodies at least this long are parsed out of line (see the module docstring and _parse).
_OUT_OF_LINE = 256
#: Whether _parse may cut large bodies out at all (tests set it False to get the plain full parse).
_CUT_OUT_BODIES = True
#: The fields mail-parser reads (see the module docstring); it is given these alone.
_PARSER_FIELDS = frozenset({"from", "to", "cc", "reply-to", "date"})


class _Defects:
    """Problems found, in plain words, in order, each once, at most ``_MAX_DEFECTS``."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def add(self, text: str) -> None:
        self._seen.setdefault(one_line(text), None)

    def result(self) -> tuple[str, ...]:
        items = list(self._seen)
        if len(items) > _MAX_DEFECTS:
            rest = len(items) - _MAX_DEFECTS + 1
            items = [*items[: _MAX_DEFECTS - 1], f"... and {rest} more problems"]
        return tuple(items)


@attrs.define
class MailParserConverter:
    """The standard :class:`~mailtrack.abc.MessageConverter`, built on mail-parser.

    Args:
        limits: Bounds for one message; a message beyond any of them raises
            :class:`~mailtrack.ParseError` naming the limit.

    What it decides:

    * Empty input (nothing but white space) and Outlook ``.msg`` files raise ``ParseError``.
      Input without any header field gives a message with all of it as text and a defect.
    * ``subject``, names and header values are decoded (RFC 2047, raw 8-bit as UTF-8 else
      windows-1252) and made one line: an encoded CR/LF cannot add a header or a line.
    * ``sent_at`` is timezone-aware UTC; a missing or unreadable Date gives ``received_at`` and
      a defect.
    * A missing or unusable Message-ID is replaced by ``<sha256 of the raw bytes>@mailtrack.invalid``.
    * ``headers`` is the raw header block (the bytes before the first empty line, without the
      last line break) decoded as latin-1, which maps every byte to one character: no byte is
      lost, and ``headers.encode("latin-1")`` gives the bytes back.
    * ``text`` is every ``text/plain`` body part joined by a newline, line endings made ``\\n``;
      ``html`` the ``text/html`` body part exactly as decoded, line endings untouched (several
      are joined by a newline), or ``None``.
    * Every other part is an attachment (inline images with a Content-ID too); a text part with
      a file name or ``Content-Disposition: attachment`` is an attachment, not body text. A
      ``message/*`` part (a forwarded mail, a delivery report) is one attachment holding the
      embedded message (re-serialised by ``email``'s generator without refolding).
      Unnamed parts are named ``part-<index><extension>``, the index counting every MIME entity
      depth first (0 is the message itself). Names are made safe and unique within the message.
    """

    _limits: ParseLimits = attrs.field(factory=ParseLimits)

    @property
    def limits(self) -> ParseLimits:
        """The bounds this converter applies to each message."""
        return self._limits

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        """Parse *raw* into an :class:`~mailtrack.IncomingMessage`.

        Args:
            raw: The message as retrieved, line endings as they came.
            received_at: When it was retrieved (a naive value is taken as UTC).

        Raises:
            ParseError: the only exception raised; its text says why in plain words.
        """
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise ParseError(f"a raw message must be bytes, not {type(raw).__name__}")
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=timezone.utc)
        try:
            return _Conversion(bytes(raw), received_at, self._limits).run()
        except ParseError:
            raise
        except RecursionError as exc:
            raise ParseError("message is nested too deeply to parse") from exc
        except MemoryError as exc:
            raise ParseError("message needs more memory to parse than is available") from exc
        except Exception as exc:
            detail = one_line(str(exc))[:200]
            raise ParseError(f"message could not be parsed ({type(exc).__name__}: {detail})") from exc


class _Conversion:
    """The state of converting one message."""

    def __init__(self, raw: bytes, received_at: datetime, limits: ParseLimits) -> None:
        self.raw = raw
        self.received_at = received_at
        self.limits = limits
        self.deadline = time.monotonic() + limits.time_budget
        self.defects = _Defects()

    def _check_time(self, phase: str) -> None:
        check_time(self.deadline, self.limits.time_budget, phase)

    def run(self) -> IncomingMessage:
        raw = self.raw
        if not raw.strip():
            raise ParseError("message is empty")
        if raw.startswith(_OLE_MAGIC):
            raise ParseError("message is an Outlook .msg file, not an RFC 5322 message")
        structure = scan(raw, self.limits, self.deadline)
        self._check_time("after scanning the MIME structure")

        message = _parse(raw, structure.bodies)
        self._check_time("after parsing the MIME structure")
        parser = mailparser.MailParser(_parser_fields(message))
        self._check_time("after reading the headers")

        if not structure.has_headers:
            self.defects.add("message has no header fields; all of it was read as text")
        fields = _header_fields(message)
        texts, htmls, attachments = self._walk(message)
        self._collect_parser_defects(parser)

        return IncomingMessage(
            message_id=self._message_id(fields),
            subject=fields.get("subject", ("",))[0],
            sender=next(iter(_addresses(parser.from_)), None),
            to=_addresses(parser.to),
            cc=_addresses(parser.cc),
            reply_to=_addresses(parser.reply_to),
            sent_at=self._sent_at(parser, message),
            received_at=self.received_at,
            text="\n".join(texts),
            html="\n".join(htmls) if htmls else None,
            headers=self._header_block(structure.has_headers),
            header_fields=fields,
            attachments=tuple(attachments),
            in_reply_to=_message_ids(fields.get("in-reply-to", ())),
            references=_message_ids(fields.get("references", ())),
            defects=self.defects.result(),
            size=len(raw),
        )

    # -- headers ---------------------------------------------------------------------------------

    def _header_block(self, has_headers: bool) -> str:
        if not has_headers:
            return ""
        end = _HEADER_END.search(self.raw)
        block = self.raw[: end.start()] if end else self.raw.rstrip(b"\r\n")
        return block.decode("latin-1")

    def _message_id(self, fields: dict[str, tuple[str, ...]]) -> str:
        values = fields.get("message-id", ())
        if not values or not values[0]:
            self.defects.add("message has no Message-ID; using one derived from its content")
            return self._derived_message_id()
        found = _MESSAGE_ID.search(values[0])
        candidate = found.group(1) if found else values[0].strip("<> ")
        if not candidate or " " in candidate or len(candidate) > _MAX_ID_LENGTH:
            self.defects.add(
                f"the Message-ID {values[0][:80]!r} is unusable; using one derived from the content"
            )
            return self._derived_message_id()
        return candidate

    def _derived_message_id(self) -> str:
        return f"{hashlib.sha256(self.raw).hexdigest()}@mailtrack.invalid"

    def _sent_at(self, parser: Any, message: Message) -> datetime:
        value = parser.date
        raw_date = message.get("date")
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if raw_date is None:
            self.defects.add("message has no Date header; using the time it was received")
            return self.received_at
        text = one_line(decode_header(raw_date))
        try:
            fallback = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            fallback = None
        if fallback is not None:
            return fallback if fallback.tzinfo else fallback.replace(tzinfo=timezone.utc)
        self.defects.add(f"the Date header {text[:80]!r} could not be read; using the time it was received")
        return self.received_at

    def _collect_parser_defects(self, parser: Any) -> None:
        for defect in parser.address_header_defects or ():
            if not isinstance(defect, dict):
                continue
            header = str(defect.get("header", "address"))
            if header in ("from", "to", "cc", "reply-to"):
                reason = str(defect.get("reason", "malformed")).replace("-", " ")
                self.defects.add(f"the {header.title()} header is malformed: {reason}")

    # -- body and attachments --------------------------------------------------------------------

    def _walk(self, message: Message) -> tuple[list[str], list[str], list[Attachment]]:
        texts: list[str] = []
        htmls: list[str] = []
        attachments: list[Attachment] = []
        taken: set[str] = set()
        for index, part, embedded in self._entities(message):
            self._check_time(f"at MIME part {index}")
            if embedded:
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                if part.get_content_maintype() == "message":
                    attachments.append(self._attachment(index, part, taken))
                continue
            content_type = self._content_type(index, part)
            if _is_body(part, content_type):
                text = self._body_text(index, part, content_type)
                if content_type == "text/html":
                    htmls.append(text)
                elif text:
                    texts.append(_NEWLINES.sub("\n", text))
            else:
                attachments.append(self._attachment(index, part, taken))
        for index, part, embedded in self._entities(message):
            if embedded:
                continue
            where = "the message" if index == 0 else f"part {index} ({part.get_content_type()})"
            for defect in part.defects:
                doc = (type(defect).__doc__ or type(defect).__name__).strip().splitlines()[0]
                self.defects.add(f"{where}: {doc}")
        return texts, htmls, attachments

    def _entities(self, message: Message) -> list[tuple[int, Message, bool]]:
        """Every MIME entity depth first: (index, part, inside a message/* attachment?).

        Iterative, and checked against ``max_parts`` / ``max_depth`` again (the authority is
        the tree ``email`` built, the pre-scan only kept that from going wild).
        """
        found: list[tuple[int, Message, bool]] = []
        stack: list[tuple[Message, int, bool]] = [(message, 0, False)]
        while stack:
            part, depth, embedded = stack.pop()
            found.append((len(found), part, embedded))
            if len(found) > self.limits.max_parts:
                raise ParseError(
                    f"message has more than {self.limits.max_parts} MIME parts (limit max_parts)"
                )
            if depth > self.limits.max_depth:
                raise ParseError(
                    f"message nests MIME parts more than {self.limits.max_depth} deep (limit max_depth)"
                )
            children = part.get_payload()
            if isinstance(children, list):
                inner = embedded or part.get_content_maintype() == "message"
                stack.extend(
                    (child, depth + 1, inner) for child in reversed(children) if isinstance(child, Message)
                )
        return found

    def _content_type(self, index: int, part: Message) -> str:
        kind = part.get_content_type()
        if kind.startswith("multipart/"):
            # A multipart without (a usable) boundary: email keeps its body as text.
            return "text/plain"
        if not _CONTENT_TYPE.fullmatch(kind):
            self.defects.add(f"part {index} has an unreadable Content-Type; treated as binary data")
            return "application/octet-stream"
        return kind

    def _body_text(self, index: int, part: Message, content_type: str) -> str:
        data = self._content(index, part)
        text, note = decode_body(data, _charset(part))
        if note:
            self.defects.add(f"the {content_type} part {index} {note}")
        return text

    def _content(self, index: int, part: Message) -> bytes:
        children = part.get_payload()
        if isinstance(children, list):
            return b"".join(
                _flatten(child, _line_ending(self.raw)) for child in children if isinstance(child, Message)
            )
        try:
            data = part.get_payload(decode=True)
        except Exception:  # any decoder failure: keep the raw bytes
            self.defects.add(f"part {index} could not be decoded; its raw content was kept")
            text = part.get_payload()
            return text.encode("ascii", "surrogateescape") if isinstance(text, str) else b""
        return data if isinstance(data, bytes) else b""

    def _attachment(self, index: int, part: Message, taken: set[str]) -> Attachment:
        content_type = (
            part.get_content_type()
            if part.get_content_maintype() == "message"
            else self._content_type(index, part)
        )
        original = _filename(part)
        name = safe_filename(original, fallback=f"part-{index}{extension_for(content_type)}")
        name = unique_filename(name, taken)
        taken.add(name.casefold())
        content = self._content(index, part)
        content_id = _content_id(part)
        disposition = part.get_content_disposition()
        inline = disposition == "inline" or (disposition is None and content_id is not None)
        return Attachment(
            filename=name,
            original_filename=original,
            content_type=content_type,
            content_id=content_id,
            disposition="inline" if inline else "attachment",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            content=content,
        )


def _feed(data: bytes) -> Message:
    feed = BytesFeedParser(policy=email_policy.compat32)
    feed.feed(data)
    return feed.close()


def _parse(raw: bytes, bodies: tuple[Span, ...]) -> Message:
    """The MIME tree of *raw*, exactly as ``BytesFeedParser`` builds it, without feeding it the
    lines of large leaf bodies one by one.

    Each body span the scan found (no line inside it starts with ``--``, so none can end a part)
    is replaced by one marker line before parsing; every marker must come back as the start of a
    leaf part's payload, which is then given the span's text. Otherwise (the parser did not see
    the body where the scan did) the message is parsed again whole.
    """
    spans = [(start, end) for start, end in bodies if end - start >= _OUT_OF_LINE]
    if spans and _CUT_OUT_BODIES:
        message = _parse_out_of_line(raw, spans)
        if message is not None:
            return message
    return _feed(raw)


def _parse_out_of_line(raw: bytes, spans: list[Span]) -> Message | None:
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
    message = _feed(b"".join(pieces))

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


def _parser_fields(message: Message) -> Message:
    """A message holding only the top-level fields mail-parser reads for us, values untouched."""
    fields = Message()
    for name, value in message.raw_items():
        if name.lower() in _PARSER_FIELDS:
            fields[name] = value
    fields.set_payload("")
    return fields


def _header_fields(message: Message) -> dict[str, tuple[str, ...]]:
    fields: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        key = one_line(decode_header(name)).lower()
        fields.setdefault(key, []).append(one_line(decode_header(value)))
    return {key: tuple(values) for key, values in fields.items()}


def _addresses(pairs: object) -> tuple[EmailAddress, ...]:
    found: list[EmailAddress] = []
    if not isinstance(pairs, list):
        return ()
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            continue
        name, address = (one_line(str(item)) for item in pair)
        if address:
            found.append(EmailAddress(address=address, name="" if name == address else name))
    return tuple(found)


def _message_ids(values: tuple[str, ...]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for value in values:
        for match in _MESSAGE_ID.finditer(value):
            if len(match.group(1)) <= _MAX_ID_LENGTH:
                found.setdefault(match.group(1), None)
    return tuple(found)


def _is_body(part: Message, content_type: str) -> bool:
    return (
        content_type in _BODY_TYPES and part.get_content_disposition() != "attachment" and not _filename(part)
    )


def _charset(part: Message) -> str | None:
    charset = part.get_param("charset")
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    if not isinstance(charset, str):
        return None
    charset = one_line(decode_header(charset)).strip("\"' ")
    return charset or None


def _filename(part: Message) -> str:
    # email hands out a header with raw 8-bit bytes as a Header that turns them into U+FFFD;
    # a probe holding the same fields as real text keeps the name (UTF-8, else windows-1252).
    probe = Message()
    for field, value in part.raw_items():
        if field.lower() in ("content-disposition", "content-type"):
            probe[field] = unescape_raw(str(value))
    try:
        name = probe.get_filename()
    except (ValueError, LookupError, TypeError):
        return ""
    if not name:
        return ""
    return clean_text(decode_header(name)).replace("\x00", "")


def _content_id(part: Message) -> str | None:
    value = part.get("content-id")
    if value is None:
        return None
    text = one_line(decode_header(value))
    found = re.search(r"<([^<>]*)>", text)
    text = (found.group(1) if found else text).strip()
    return text[:_MAX_ID_LENGTH] or None


def _line_ending(raw: bytes) -> str:
    return "\r\n" if b"\r\n" in raw[:4096] else "\n"


def _flatten(message: Message, linesep: str) -> bytes:
    buffer = io.BytesIO()
    generator = BytesGenerator(
        buffer, mangle_from_=False, maxheaderlen=0, policy=email_policy.compat32.clone(linesep=linesep)
    )
    generator.flatten(message, linesep=linesep)
    return buffer.getvalue()
