"""What became of one delivered message: :class:`DeliveryReport`, and the key it is kept under."""

from __future__ import annotations

import enum

import attrs

from .._digest import content_digest

__all__ = ["DELIVERY_KEY_PREFIX", "DeliveryOutcome", "DeliveryReport", "delivery_key"]

#: The ledger keys of delivered messages start with this, followed by the content digest.
DELIVERY_KEY_PREFIX = "deliver:"


def delivery_key(raw: bytes) -> str:
    """The ledger key of a delivered message: its content digest, so that the same message
    delivered again (an MTA that retries after a lost answer) finds itself in the ledger."""
    return DELIVERY_KEY_PREFIX + content_digest(raw)


class DeliveryOutcome(str, enum.Enum):
    """What :meth:`mailtrack.Importer.deliver` did with the message."""

    #: A new record was opened for it.
    CREATED = "created"
    #: It was added to an existing record as a new detail.
    UPDATED = "updated"
    #: The policy skipped it (machine mail dropped, an auto-reply that names no record …).
    SKIPPED = "skipped"
    #: It was imported before: the same content delivered again, or a Message-ID that is a
    #: detail already (the same mail sent to two addresses); nothing new was written.
    ALREADY_IMPORTED = "already_imported"
    #: It could not be imported (unreadable, refused by policy or attachment rules): it is kept
    #: in the quarantine with its raw bytes and the reason.
    QUARANTINED = "quarantined"


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """What :meth:`mailtrack.Importer.deliver` did with one message."""

    #: The interface it was delivered to.
    interface: str
    #: The ledger key it is kept under (``deliver:`` and its content digest).
    key: str
    outcome: DeliveryOutcome
    #: The record it opened, was added to, or found holding it already (``None`` when skipped,
    #: quarantined, or when the ledger held this very delivery before).
    record_id: int | None = None
    #: The detail it became (or found holding its Message-ID), else ``None``.
    detail_id: int | None = None
    #: Lines worth telling the admin (damage found in the mail, the route taken, the reason it
    #: was quarantined …), as a run's report notes them. Text from the mail is not yet made
    #: terminal-safe here: print it with care.
    notes: tuple[str, ...] = ()
