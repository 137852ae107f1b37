"""Value objects: what a message is, what a record holds, what a run did.

All are frozen attrs classes; stores hand out copies, so changing one never changes the store.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime

import attrs

from ._folding import folded_text

__all__ = [
    "AppendToRecord",
    "Attachment",
    "CommitEvent",
    "CommitOutcome",
    "CommitResult",
    "ConnectionCheck",
    "ContentDigest",
    "CreateRecord",
    "Detail",
    "EmailAddress",
    "ImportAction",
    "IncomingMessage",
    "MessageClass",
    "MessageInfo",
    "QuarantinedMessage",
    "Record",
    "RefusedAttachment",
    "RunReport",
    "SkipMessage",
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


@attrs.frozen(kw_only=True)
class MessageInfo:
    """One entry of a mailbox listing."""

    #: Message number in this session (1-based, only valid in this session).
    number: int
    #: The server's unique ID (UIDL), or ``None`` when the server has no UIDL.
    uid: str | None
    #: Size in octets as the server reports it (LIST).
    size: int


@attrs.frozen(kw_only=True)
class ContentDigest:
    """What the import ledger keeps about a message's content beside its ``(interface, UID)``:
    enough to tell, when the UID is listed again, whether it is still that message."""

    #: SHA-256 of the raw message (64 hex digits), with what its transport did undone first
    #: (line ends, POP3 dot-stuffing, mbox ``From`` quoting): the same message has the same
    #: digest however it arrived.
    sha256: str
    #: The size the server listed for the message when it was imported (``None``: not listed).
    listed_size: int | None = None


@attrs.frozen(kw_only=True)
class CreateRecord:
    """Import action: open a new record with the message as its first detail."""

    message: IncomingMessage
    project: str
    title: str
    fields: Mapping[str, str] = attrs.field(factory=dict)
    message_class: MessageClass = MessageClass.NORMAL
    #: What the ledger keeps about the raw message (the importer fills it in; ``None``: unknown).
    digest: ContentDigest | None = None
    #: Fields the message itself sets, over :attr:`fields` (recorded on the detail as changes).
    set_fields: Mapping[str, str] = attrs.field(factory=dict)
    #: The record the message named but could not write into (:attr:`Record.related`).
    related: int | None = None


@attrs.frozen(kw_only=True)
class AppendToRecord:
    """Import action: add the message to an existing record as a new detail."""

    message: IncomingMessage
    record_id: int
    message_class: MessageClass = MessageClass.NORMAL
    #: What the ledger keeps about the raw message (the importer fills it in; ``None``: unknown).
    digest: ContentDigest | None = None
    #: Fields the message sets on the record (recorded on the detail with their old values).
    set_fields: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SkipMessage:
    """Import action: write only the ledger row (the message is handled, but makes no detail)."""

    reason: str
    message_id: str | None = None
    message_class: MessageClass = MessageClass.NORMAL
    #: What the ledger keeps about the raw message (the importer fills it in; ``None``: unknown).
    digest: ContentDigest | None = None


#: What the importer asks a store to do with one message (see :meth:`~mailtrack.abc.RecordStore.commit`).
ImportAction = CreateRecord | AppendToRecord | SkipMessage


class CommitOutcome(str, enum.Enum):
    """What :meth:`~mailtrack.abc.RecordStore.commit` did."""

    CREATED = "created"
    APPENDED = "appended"
    SKIPPED = "skipped"
    #: The Message-ID was already a detail (the same mail sent to two mailboxes):
    #: only the ledger row was written.
    DUPLICATE = "duplicate"
    #: The ledger already held (interface, uid): nothing was written.
    ALREADY_IMPORTED = "already_imported"


@attrs.frozen(kw_only=True)
class CommitResult:
    """What :meth:`~mailtrack.abc.RecordStore.commit` did with one message."""

    outcome: CommitOutcome
    #: The record created or appended to, or holding the duplicate; else ``None``.
    record_id: int | None = None
    #: The detail written, or the existing one for a duplicate; else ``None``.
    detail_id: int | None = None


@attrs.frozen(kw_only=True)
class QuarantinedMessage:
    """A message that could not be imported, kept with its raw bytes and the reason."""

    id: int
    interface: str
    uid: str
    raw: bytes = attrs.field(repr=False)
    error: str
    quarantined_at: datetime
    #: How many runs failed on it.
    attempts: int = 1


@attrs.frozen(kw_only=True)
class Lease:
    """Who holds the lease on a mailbox, and until when (:meth:`~mailtrack.abc.RecordStore.lease_holder`)."""

    interface: str
    #: The holder's worker ID (by default ``HOST:PID:…``).
    owner: str
    #: When the lease ends unless its holder renews it (UTC).
    expires_at: datetime


@attrs.frozen(kw_only=True)
class RunReport:
    """What one pass over one mailbox did: the statistics of its last run.

    Every message the server offered is counted in exactly one of :attr:`created`,
    :attr:`updated`, :attr:`skipped`, :attr:`already_imported`, :attr:`quarantined` and
    :attr:`left_on_server`; :attr:`offered` is their sum.
    """

    interface: str
    started_at: datetime
    finished_at: datetime
    #: Messages this run imported: ``created + updated + skipped`` (each now in the ledger).
    imported: int = 0
    #: New records opened.
    created: int = 0
    #: Follow-ups: details added to existing records.
    updated: int = 0
    #: Skipped by policy: machine mail dropped, or naming no record (in the ledger, no detail).
    skipped: int = 0
    #: Already imported: by an earlier run, another worker, or (the same Message-ID) another mailbox.
    already_imported: int = 0
    #: Quarantined by this run (the reasons are in :attr:`notes`).
    quarantined: int = 0
    #: Not imported and still on the server: larger than ``max_message_bytes``, too large for
    #: the store, quarantined by an earlier run, or not reached (the run failed or was stopped).
    left_on_server: int = 0
    #: ``None``, or the plain-words reason that stopped the run.
    error: str | None = None
    #: Counts per :class:`MessageClass` value of the messages handled.
    classes: Mapping[str, int] = attrs.field(factory=dict)
    #: Lines worth telling the admin (a message too large, a message quarantined …).
    notes: tuple[str, ...] = ()
    #: True when another worker held this mailbox's lease: nothing was done, ``error`` says so,
    #: and the report was not saved (the working worker saves its own).
    busy: bool = False
    #: True when the run ended early because :meth:`~mailtrack.Importer.stop` was called: what
    #: was converted is committed, the rest stays on the server. Not an error.
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """True when the run was not stopped by an error."""
        return self.error is None

    def raise_for_error(self) -> None:
        """Raise :class:`~mailtrack.RunFailedError` when the run stopped on an error (``not ok``:
        an unset password variable, an unreachable server, a failing store, a mailbox another
        worker holds), so that a script fails loudly; do nothing otherwise.

        Example:
            >>> from datetime import datetime, timezone
            >>> now = datetime.now(timezone.utc)
            >>> RunReport(interface="support", started_at=now, finished_at=now).raise_for_error()
            >>> failed = RunReport(interface="support", started_at=now, finished_at=now, error="no route")
            >>> failed.raise_for_error()
            Traceback (most recent call last):
            ...
            mailtrack.exceptions.RunFailedError: interface 'support': no route
        """
        if self.error is not None:
            from .exceptions import RunFailedError

            raise RunFailedError(self)

    @property
    def offered(self) -> int:
        """The messages the server listed: the sum of the six counts above."""
        return (
            self.created
            + self.updated
            + self.skipped
            + self.already_imported
            + self.quarantined
            + self.left_on_server
        )

    @property
    def failed(self) -> int:
        """The former name of :attr:`quarantined`, kept so that code using it still works."""
        return self.quarantined


@attrs.frozen(kw_only=True)
class ConnectionCheck:
    """Result of :meth:`~mailtrack.Importer.check`: the test of a mail interface's connection."""

    interface: str
    ok: bool
    #: Plain-words reason when ``ok`` is False.
    error: str | None = None
    #: Messages waiting (STAT), when the login worked.
    message_count: int | None = None
    mailbox_bytes: int | None = None
    #: Capability names the server announced (CAPA), upper case.
    capabilities: tuple[str, ...] = ()
    #: The value of the EXPIRE capability ("0", "NEVER", a number of days) or ``None``.
    expire: str | None = None
    #: TLS version in use (``None`` on a plain connection).
    tls_version: str | None = None
    warnings: tuple[str, ...] = ()
    #: OAuth 2.0 only: the account the access token belongs to, when known.
    account: str | None = None
    #: OAuth 2.0 only: when the access token that signed in expires (refresh tokens have no known expiry).
    token_expires_at: datetime | None = None

    @property
    def uidl(self) -> bool:
        return "UIDL" in self.capabilities

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.capabilities

    @property
    def stls(self) -> bool:
        return "STLS" in self.capabilities


@attrs.frozen(kw_only=True)
class CommitEvent:
    """What one commit did, as the ``on_committed`` listener of an :class:`~mailtrack.Importer`
    hears it: after the commit, once per message that opened a record or added to one."""

    #: The interface the message came through.
    interface: str
    #: The message's key in the ledger (its UID, or ``sha256:…`` without UIDL).
    uid: str
    #: ``CREATED`` (a new record) or ``APPENDED`` (a follow-up on an existing one).
    outcome: CommitOutcome
    #: The record as the commit left it; attachment content is not loaded (``None``).
    record: Record
    #: The detail the commit wrote (also the last of ``record.details``).
    detail: Detail
    #: The fields the commit set: a new record's fields; for an append, those the message changed
    #: (keyword lines, trusted headers: old values in ``detail.field_changes``), else empty.
    changed_fields: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def created(self) -> bool:
        """True when the message opened a new record."""
        return self.outcome is CommitOutcome.CREATED
