"""What a message is once converted: its addresses, its class, its attachments (kept or refused)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime

import attrs

__all__ = [
    "Attachment",
    "EmailAddress",
    "IncomingMessage",
    "MessageClass",
    "RefusedAttachment",
]


@attrs.frozen(kw_only=True)
class EmailAddress:
    """An address with its display name (``name`` is ``""`` when the mail gave none)."""

    address: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


class MessageClass(str, enum.Enum):
    """What kind of mail a message is, as far as loops are concerned."""

    NORMAL = "normal"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OWN = "own"


@attrs.frozen(kw_only=True)
class Attachment:
    """A file that came with a message.

    ``content`` is byte-identical to the decoded MIME part. It is ``None`` only where a store was
    asked not to load attachment content (``load_content=False``); fetch it then with
    :meth:`~mailtrack.abc.RecordStore.get_attachment_content`.
    """

    #: A name safe to use as a file name (no directories, control or bidi characters, reserved names).
    filename: str
    #: The name as the sender gave it (decoded), or ``""`` when the part had none.
    original_filename: str = ""
    content_type: str = "application/octet-stream"
    #: The Content-ID without angle brackets (for ``cid:`` references in HTML), or ``None``.
    content_id: str | None = None
    #: ``"attachment"`` or ``"inline"``.
    disposition: str = "attachment"
    size: int = 0
    #: Hex SHA-256 of the content.
    sha256: str = ""
    content: bytes | None = attrs.field(default=None, repr=False)
    #: The store's ID, ``None`` before it was stored.
    id: int | None = None

    @property
    def active_content(self) -> bool:
        """True for types a browser would run (HTML, SVG, XML, JavaScript, web archives, Flash).

        Serve those as downloads (``Content-Disposition: attachment``), never inline. Both the
        content type (parameters ignored) and the file names (safe and as sent) are looked at.
        """
        kind = self.content_type.split(";", 1)[0].strip().lower()
        names = (self.filename.lower(), self.original_filename.lower())
        return (
            kind in _ACTIVE_CONTENT_TYPES
            or kind.endswith(("+xml", "javascript", "ecmascript"))
            or any(name.rstrip(". ").endswith(_ACTIVE_CONTENT_SUFFIXES) for name in names)
        )


_ACTIVE_CONTENT_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "text/javascript",
        "application/javascript",
        "multipart/related",
        "message/rfc822",
        "application/x-mimearchive",
        "application/x-shockwave-flash",
    }
)
_ACTIVE_CONTENT_SUFFIXES = (
    ".html", ".htm", ".shtml", ".xhtml", ".xht", ".svg", ".svgz", ".xml", ".xsl", ".xslt",
    ".js", ".mjs", ".mht", ".mhtml", ".swf",
)  # fmt: skip


@attrs.frozen(kw_only=True)
class RefusedAttachment:
    """An attachment the interface's :class:`~mailtrack.AttachmentLimits` refused: what the
    detail keeps of it instead of the file (its bytes are not stored with the detail)."""

    #: The name it would have been stored under (safe to show and to use as a file name).
    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    #: Hex SHA-256 of the content, to recognise the file later.
    sha256: str = ""
    #: Why it was refused, naming the setting (``larger than attachments.max_bytes …``).
    reason: str = ""
    #: True when the whole raw message was kept in the quarantine, so the file can be taken out
    #: (``on_refused = "keep_in_quarantine"``).
    quarantined: bool = False

    def __str__(self) -> str:
        kept = "; the message is kept in the quarantine" if self.quarantined else ""
        return f"{self.filename} ({self.content_type}, {self.size} bytes) refused: {self.reason}{kept}"


@attrs.frozen(kw_only=True)
class IncomingMessage:
    """A raw message turned into values, by a :class:`~mailtrack.abc.MessageConverter`."""

    #: Message-ID without angle brackets; derived from the content when the mail had none.
    message_id: str
    #: Decoded subject, with line breaks removed.
    subject: str
    #: From (``None`` when the mail had no usable From).
    sender: EmailAddress | None
    to: tuple[EmailAddress, ...] = ()
    cc: tuple[EmailAddress, ...] = ()
    reply_to: tuple[EmailAddress, ...] = ()
    #: Timezone-aware; the time of receipt when the Date header was missing or unreadable.
    sent_at: datetime
    #: When the importer retrieved the message.
    received_at: datetime
    #: The plain-text body ("" when the mail had none).
    text: str = ""
    #: The HTML body exactly as sent, or ``None`` when the mail had none.
    html: str | None = None
    #: The raw header block, decoded as latin-1 so that no byte is lost (to show it as received).
    headers: str = ""
    #: Header fields by lower-case name, every value in order (decoded), for policies.
    header_fields: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, repr=False)
    attachments: tuple[Attachment, ...] = ()
    #: In-Reply-To and References, message IDs without angle brackets.
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    #: Problems found while parsing, in plain words (the message was still usable).
    defects: tuple[str, ...] = ()
    #: Size of the raw message in bytes.
    size: int = 0
    #: Attachments the interface's attachment limits refused (left out of :attr:`attachments`).
    refused_attachments: tuple[RefusedAttachment, ...] = ()
    #: Old mail moved in (``import_archive(history=True)``): :attr:`received_at` is its Date.
    history: bool = False

    def header(self, name: str) -> str | None:
        """The first value of header field *name* (any case), or ``None``."""
        values = self.header_fields.get(name.lower())
        return values[0] if values else None
