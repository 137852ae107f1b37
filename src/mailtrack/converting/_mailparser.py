"""The standard converter, :class:`MailParserConverter`: the only module that imports mail-parser.

:func:`convert_message` reads one message in the four steps described in
:mod:`mailtrack.converting`: the pre-scan, the parse (large bodies out of line), the top-level
address and Date fields through mail-parser's own functions for them, and the walk of the parts.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from datetime import datetime, timezone
from email.message import Message
from email.policy import compat32
from email.utils import parsedate_to_datetime

import attrs
from mailparser.dates import parse_mail_date
from mailparser.utils import get_addresses

from ..config import ParseLimits
from ..exceptions import ParseError
from ..models import EmailAddress, IncomingMessage
from ._defects import Defects
from ._htmltext import html_to_text
from ._mailtext import decode_header, one_line
from ._mimescan import check_time, scan
from ._outofline import parse
from ._parts import MAX_ID_LENGTH, Parts

__all__ = ["MailParserConverter", "convert_message"]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
#: Most characters of an HTML-only body that its text is made from (the HTML is kept whole).
HTML_TEXT_CHARS = 2_000_000
#: The line break that ends the header block, from its LF (starting with one lets ``re`` look for
#: it at ``memchr`` speed): see :func:`_header_end`.
_BLANK_LINE = re.compile(rb"\n\r?\n")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
#: The address fields mail-parser reads, in the order its ``MailParser`` reads them (sorted).
_ADDRESS_FIELDS = ("cc", "from", "reply-to", "to")
#: How many address field values (each of at most :data:`CACHED_ADDRESS_CHARS` characters) are
#: kept with what mail-parser read from them, per process.
ADDRESS_CACHE_SIZE = 1024
CACHED_ADDRESS_CHARS = 1000
#: (name, address) pairs.
_Addresses = tuple[tuple[str, str], ...]


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
      a message with only HTML gets a plain-text rendering of it (links kept as text);
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
        return convert_message(raw, received_at=received_at, limits=self._limits)


def convert_message(
    raw: bytes, *, received_at: datetime, limits: ParseLimits, out_of_line: bool = True
) -> IncomingMessage:
    """:meth:`MailParserConverter.convert`.

    Args:
        out_of_line: whether large bodies may be kept out of the line-by-line parser
            (``False`` parses every message whole; the result is the same).

    Raises:
        ParseError: the only exception raised; its text says why in plain words.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise ParseError(f"a raw message must be bytes, not {type(raw).__name__}")
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=timezone.utc)
    try:
        return _Conversion(bytes(raw), received_at, limits, out_of_line=out_of_line).run()
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

    def __init__(self, raw: bytes, received_at: datetime, limits: ParseLimits, *, out_of_line: bool) -> None:
        self.raw = raw
        self.received_at = received_at
        self.limits = limits
        self.out_of_line = out_of_line
        self.deadline = time.monotonic() + limits.time_budget
        self.defects = Defects()

    def _check_time(self, phase: str) -> None:
        check_time(self.deadline, self.limits.time_budget, phase)

    def run(self) -> IncomingMessage:
        raw = self.raw
        if not raw or raw.isspace():  # nothing but white space: not raw.strip(), which copies it
            raise ParseError("message is empty")
        if raw.startswith(_OLE_MAGIC):
            raise ParseError("message is an Outlook .msg file, not an RFC 5322 message")
        structure = scan(raw, self.limits, self.deadline)
        self._check_time("after scanning the MIME structure")

        message = parse(raw, structure.bodies, out_of_line=self.out_of_line)
        self._check_time("after parsing the MIME structure")
        parsed = _ParsedFields.read(message)
        self._check_time("after reading the headers")

        if not structure.has_headers:
            self.defects.add("message has no header fields; all of it was read as text")
        fields = self._header_fields(message)
        texts, htmls, attachments = Parts(raw, self.limits, self.defects, self._check_time).walk(message)
        for header, reason in parsed.address_defects:
            self.defects.add(f"the {header.title()} header is malformed: {reason}")

        return IncomingMessage(
            message_id=self._message_id(fields),
            subject=fields.get("subject", ("",))[0],
            sender=next(iter(self._addresses("From", parsed.addresses["from"])), None),
            to=self._addresses("To", parsed.addresses["to"]),
            cc=self._addresses("Cc", parsed.addresses["cc"]),
            reply_to=self._addresses("Reply-To", parsed.addresses["reply-to"]),
            sent_at=self._sent_at(parsed.date, message),
            received_at=self.received_at,
            text="\n".join(texts) if texts or not htmls else self._text_of_html(htmls),
            html="\n".join(htmls) if htmls else None,
            headers=self._header_block(structure.has_headers),
            header_fields=fields,
            attachments=tuple(attachments),
            in_reply_to=_message_ids(fields.get("in-reply-to", ())),
            references=_message_ids(fields.get("references", ())),
            defects=self.defects.result(),
            size=len(raw),
        )

    def _text_of_html(self, htmls: list[str]) -> str:
        """The text of a message that has only HTML (made by core code, see ``_htmltext``)."""
        html = "\n".join(htmls)
        if len(html) > HTML_TEXT_CHARS:
            self.defects.add(
                f"the HTML body has {len(html)} characters; "
                f"its text was made from the first {HTML_TEXT_CHARS}"
            )
            html = html[:HTML_TEXT_CHARS]
        text = html_to_text(html)
        self._check_time("after making text of the HTML body")
        return text

    # -- headers ---------------------------------------------------------------------------------

    def _header_block(self, has_headers: bool) -> str:
        if not has_headers:
            return ""
        end = _header_end(self.raw)
        block = self.raw[:end] if end is not None else self.raw.rstrip(b"\r\n")
        return block.decode("latin-1")

    def _message_id(self, fields: dict[str, tuple[str, ...]]) -> str:
        values = fields.get("message-id", ())
        if not values or not values[0]:
            self.defects.add("message has no Message-ID; using one derived from its content")
            return self._derived_message_id()
        found = _MESSAGE_ID.search(values[0])
        candidate = found.group(1) if found else values[0].strip("<> ")
        if not candidate or " " in candidate or len(candidate) > MAX_ID_LENGTH:
            self.defects.add(
                f"the Message-ID {values[0][:80]!r} is unusable; using one derived from the content"
            )
            return self._derived_message_id()
        return candidate

    def _derived_message_id(self) -> str:
        return f"{hashlib.sha256(self.raw).hexdigest()}@mailtrack.invalid"

    def _sent_at(self, value: datetime | None, message: Message) -> datetime:
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

    def _header_fields(self, message: Message) -> dict[str, tuple[str, ...]]:
        fields: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            key = one_line(decode_header(name)).lower()
            notes: list[str] = []
            fields.setdefault(key, []).append(one_line(decode_header(value, notes)))
            for note in notes:
                self.defects.add(f"the {key.title()} header {note}")
        return {key: tuple(values) for key, values in fields.items()}

    def _addresses(self, header: str, pairs: _Addresses) -> tuple[EmailAddress, ...]:
        """The addresses mail-parser read from *header*; a name it left encoded (a charset it
        does not know) is decoded here, never shown raw."""
        found: list[EmailAddress] = []
        for pair in pairs:
            name, address = (str(item) for item in pair)
            if "=?" in name:
                notes: list[str] = []
                name = decode_header(name, notes)
                for note in notes:
                    self.defects.add(f"the {header} header {note}")
            name, address = one_line(name), one_line(address)
            if address:
                found.append(EmailAddress(address=address, name="" if name == address else name))
        return tuple(found)


@attrs.frozen(kw_only=True)
class _ParsedFields:
    """What mail-parser reads from the top-level From, To, Cc, Reply-To and Date fields.

    The values its ``MailParser`` would give for them (``from_``, ``to``, ``cc``, ``reply_to``,
    ``date``, ``address_header_defects``), read by the same functions it calls for them, on
    the same values, and nothing else of its machinery. An address value read lately is not
    read again (:data:`_address_field_seen`).
    """

    #: Per address field (lower case): the (name, address) pairs of its first occurrence.
    addresses: dict[str, _Addresses]
    #: The first Date field's time (UTC), or ``None`` when there is none or it is unreadable.
    date: datetime | None
    #: (field, reason) of every address problem mail-parser noted, in its order.
    address_defects: list[tuple[str, str]]

    @classmethod
    def read(cls, message: Message) -> _ParsedFields:
        """Read the fields of *message*'s own header block (not of its parts)."""
        values: dict[str, list[object]] = {name: [] for name in _ADDRESS_FIELDS}
        date_value: str | None = None
        for name, value in message.raw_items():
            key = name.lower()
            if key in values:
                # As MailParser reads them: Message.items() gives a value with raw 8-bit bytes
                # as an email.header.Header, which get_addresses decodes on its own terms.
                values[key].append(compat32.header_fetch_parse(name, value))
            elif key == "date" and date_value is None:
                date_value = value
        addresses: dict[str, _Addresses] = {}
        problems: list[tuple[str, str]] = []
        for key, occurrences in values.items():
            addresses[key] = ()
            for occurrence, field in enumerate(occurrences):
                if isinstance(field, str) and len(field) <= CACHED_ADDRESS_CHARS:
                    pairs, reasons = _address_field_seen(field)
                else:
                    pairs, reasons = _address_field(field)
                if occurrence == 0:
                    addresses[key] = pairs
                problems.extend((key, reason) for reason in reasons)
        date = parse_mail_date(date_value).value if date_value is not None else None
        return cls(addresses=addresses, date=date, address_defects=problems)


def _address_field(value: object) -> tuple[_Addresses, tuple[str, ...]]:
    """The (name, address) pairs mail-parser reads from one address field's *value*, as its
    ``MailParser`` hands them out, and the reasons of the problems it noted, in plain words."""
    diagnostics: list[dict[str, object]] = []
    pairs = get_addresses(value, defects=diagnostics, decode_names=True)
    addresses = tuple(
        ("" if display == address else display, address) for display, address in pairs if address
    )
    reasons = tuple(
        str(diagnostic.get("reason", "malformed")).replace("-", " ") for diagnostic in diagnostics
    )
    return addresses, reasons


#: :func:`_address_field` for the values read most recently: senders and recipients come back
#: from message to message, and mail-parser's reading of a value depends on the value alone.
_address_field_seen = functools.lru_cache(maxsize=ADDRESS_CACHE_SIZE)(_address_field)


def _header_end(raw: bytes) -> int | None:
    r"""Where the first match of ``\r?\n\r?\n`` in *raw* starts (the header block's last line
    break and the empty line), or ``None``: the first LF followed by ``\r?\n``, with the CR
    before it if there is one."""
    found = _BLANK_LINE.search(raw)
    if found is None:
        return None
    start = found.start()
    return start - 1 if start and raw[start - 1] == 13 else start  # 13: CR


def _message_ids(values: tuple[str, ...]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for value in values:
        for match in _MESSAGE_ID.finditer(value):
            if len(match.group(1)) <= MAX_ID_LENGTH:
                found.setdefault(match.group(1), None)
    return tuple(found)
