"""What a store holds: records and their details."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from .._folding import folded_text
from ._messages import Attachment, EmailAddress, MessageClass, RefusedAttachment

__all__ = [
    "Detail",
    "Record",
]


@attrs.frozen(kw_only=True)
class Detail:
    """One message added to a record: the "details" section of the record view."""

    #: The store's ID of this detail.
    id: int
    #: The record the detail belongs to.
    record_id: int
    #: Message-ID without angle brackets (one detail per Message-ID in a store).
    message_id: str
    #: From (``None`` when the mail had no usable From).
    sender: EmailAddress | None
    to: tuple[EmailAddress, ...] = ()
    cc: tuple[EmailAddress, ...] = ()
    #: The Date of the mail (the time of receipt when it had none), timezone-aware UTC.
    sent_at: datetime
    #: When the importer retrieved the message.
    received_at: datetime
    #: The decoded subject.
    subject: str
    #: The plain-text body (``""`` when the mail had none).
    text: str = ""
    #: The HTML body exactly as sent, or ``None`` when the mail had none; show it with
    #: :func:`~mailtrack.display_html`.
    html: str | None = None
    #: The raw header block, to show the header exactly as received.
    headers: str = ""
    #: The files that came with the message, inline images included.
    attachments: tuple[Attachment, ...] = ()
    #: Normal mail, or the kind of machine mail it was recognised as.
    message_class: MessageClass = MessageClass.NORMAL
    #: Name of the interface the message came through.
    interface: str = ""
    #: What the converter noticed about damaged input (an unreadable Date, an unknown charset,
    #: a malformed part …), in plain words; empty for a clean message.
    defects: tuple[str, ...] = ()
    #: Attachments the interface refused by its attachment limits, in place of the files.
    refused_attachments: tuple[RefusedAttachment, ...] = ()
    #: The record fields this message changed: field name → ``(old value, new value)``, the
    #: old value ``None`` for a field the record did not have (keyword lines, trusted headers).
    field_changes: Mapping[str, tuple[str | None, str]] = attrs.field(factory=dict)
    #: Imported from an archive of old mail (``mailtrack import --history``): its
    #: :attr:`received_at` is its Date, and nobody needs to be told about it now.
    history: bool = False

    @property
    def folded_text(self) -> str:
        """:attr:`text` without the quoted history and the signature of a reply ("On … wrote:"
        and what follows, Outlook's "From: … Sent: …" block, ``>`` quotes at the end, the
        signature below a "-- " line; English, German, French and Spanish), for showing a
        thread compactly.
        Computed when read: the stored :attr:`text` stays exactly as sent."""
        return folded_text(self.text)


@attrs.frozen(kw_only=True)
class Record:
    """A trackable record (a ticket, an issue), with its details oldest first."""

    #: The record's number, the one a subject names as ``#123``.
    id: int
    #: The project of the interface that opened the record.
    project: str
    #: Made from the subject of the first message, without ``Re:`` and record tags.
    title: str
    #: Field values, from the interface's ``defaults`` when the record was opened.
    fields: Mapping[str, str] = attrs.field(factory=dict)
    #: When the record was opened (timezone-aware UTC).
    created_at: datetime
    #: When a detail was last added (timezone-aware UTC).
    updated_at: datetime
    #: The messages of the record, oldest first.
    details: tuple[Detail, ...] = ()
    #: The record this one was opened beside: its first message named that record, but its
    #: sender was not allowed to write there. A host can offer to merge the two.
    related: int | None = None
    #: Opened by a message imported from an archive of old mail (``mailtrack import
    #: --history``): :attr:`created_at` is that message's Date.
    history: bool = False
