"""Small helpers every built-in store shares (kept private; stores re-export nothing from here)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from ..exceptions import AttachmentNotFoundError
from ..models import Detail

# AttachmentNotFoundError is public in mailtrack.exceptions; still importable from here.
__all__ = ["AttachmentNotFoundError", "as_utc", "participant_addresses", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC (the default clock of the stores)."""
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """*moment* in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def participant_addresses(details: Iterable[Detail]) -> set[str]:
    """Lower-case addresses from the From, To and Cc of *details* (a missing From is ignored)."""
    found: set[str] = set()
    for detail in details:
        people = (detail.sender, *detail.to, *detail.cc)
        found.update(person.address.lower() for person in people if person is not None and person.address)
    return found
