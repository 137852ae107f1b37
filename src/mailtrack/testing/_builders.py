"""Builders for value objects in tests: parsed messages, attachments, a clock you move by hand.

They make the objects a :class:`~mailtrack.abc.MessageConverter` would have made, without any
raw mail, so that store and policy tests stay short::

    message = make_incoming(subject="Printer on fire #12", sender="Alice <alice@example.com>")
    store.commit("support", "uid-1", AppendToRecord(message=message, record_id=12))
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from email.utils import parseaddr

import attrs

from ..models import Attachment, EmailAddress, IncomingMessage

__all__ = ["ManualClock", "make_address", "make_attachment", "make_incoming"]

#: Where a :class:`ManualClock` starts unless told otherwise (a whole second, in UTC).
DEFAULT_START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)

_SENT_AT = datetime(2024, 5, 1, 9, 30, 0, tzinfo=timezone.utc)


@attrs.define
class ManualClock:
    """A clock that stands still until :meth:`advance` moves it; pass it as a store's ``clock``.

    Calling it returns the current (timezone-aware, UTC) time. Thread-safe.
    """

    _now: datetime = attrs.field(default=DEFAULT_START, alias="start")
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def __attrs_post_init__(self) -> None:
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock *seconds* forward and return the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


def make_address(value: str | EmailAddress) -> EmailAddress:
    """An :class:`~mailtrack.EmailAddress` from ``"Name <addr>"``, ``"addr"`` or an address."""
    if isinstance(value, EmailAddress):
        return value
    name, address = parseaddr(value)
    return EmailAddress(address=address or value, name=name)


def make_attachment(
    content: bytes,
    *,
    filename: str = "attachment.bin",
    content_type: str = "application/octet-stream",
    content_id: str | None = None,
    disposition: str = "attachment",
    original_filename: str | None = None,
) -> Attachment:
    """An :class:`~mailtrack.Attachment` holding *content*, with its size and SHA-256 filled in."""
    return Attachment(
        filename=filename,
        original_filename=filename if original_filename is None else original_filename,
        content_type=content_type,
        content_id=content_id,
        disposition=disposition,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=bytes(content),
    )


def make_incoming(
    *,
    message_id: str | None = None,
    subject: str = "Printer on fire",
    sender: str | EmailAddress | None = "Alice Example <alice@example.com>",
    to: Iterable[str | EmailAddress] = ("support@example.com",),
    cc: Iterable[str | EmailAddress] = (),
    text: str = "The printer on floor 3 is on fire.\n",
    html: str | None = None,
    headers: str | None = None,
    attachments: Iterable[Attachment] = (),
    sent_at: datetime = _SENT_AT,
    received_at: datetime | None = None,
    header_fields: Mapping[str, tuple[str, ...]] | None = None,
) -> IncomingMessage:
    """An :class:`~mailtrack.IncomingMessage` as a converter would make it.

    Every argument has a realistic default; ``message_id`` defaults to a new unique ID and
    ``headers`` to a header block made from the other values.
    """
    if message_id is None:
        message_id = f"{uuid.uuid4().hex}@mailtrack.test"
    sender_address = None if sender is None else make_address(sender)
    to_addresses = tuple(make_address(item) for item in to)
    cc_addresses = tuple(make_address(item) for item in cc)
    if headers is None:
        lines = []
        if sender_address is not None:
            lines.append(f"From: {sender_address}")
        if to_addresses:
            lines.append("To: " + ", ".join(str(item) for item in to_addresses))
        if cc_addresses:
            lines.append("Cc: " + ", ".join(str(item) for item in cc_addresses))
        lines += [f"Subject: {subject}", f"Message-ID: <{message_id}>"]
        headers = "".join(line + "\r\n" for line in lines)
    if header_fields is None:
        header_fields = {
            "subject": (subject,),
            "message-id": (f"<{message_id}>",),
            **({"from": (str(sender_address),)} if sender_address is not None else {}),
        }
    attachments = tuple(attachments)
    return IncomingMessage(
        message_id=message_id,
        subject=subject,
        sender=sender_address,
        to=to_addresses,
        cc=cc_addresses,
        sent_at=sent_at,
        received_at=sent_at + timedelta(minutes=1) if received_at is None else received_at,
        text=text,
        html=html,
        headers=headers,
        header_fields=dict(header_fields),
        attachments=attachments,
        size=len(headers.encode("utf-8"))
        + len(text.encode("utf-8"))
        + sum(attachment.size for attachment in attachments),
    )
