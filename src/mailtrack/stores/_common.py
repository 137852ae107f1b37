"""Small helpers every built-in store shares (kept private; stores re-export nothing from here)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from ..abc import RecordStore
from ..exceptions import AttachmentNotFoundError
from ..models import Detail

# AttachmentNotFoundError is public in mailtrack.exceptions; still importable from here.
__all__ = ["AttachmentNotFoundError", "as_utc", "commit_overridden", "participant_addresses", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC (the default clock of the stores)."""
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """*moment* in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def commit_overridden(store: RecordStore, base: type[RecordStore]) -> bool:
    """Whether *store*'s class overrides ``commit`` of the built-in *base* but not
    ``commit_many``: then a batch must go through that ``commit``, item by item, or what the
    subclass does on every commit would be skipped for batches (the importer's default)."""
    kind = type(store)
    return kind.commit is not base.commit and kind.commit_many is base.commit_many


def participant_addresses(details: Iterable[Detail]) -> set[str]:
    """Lower-case addresses from the From, To and Cc of *details* (a missing From is ignored)."""
    found: set[str] = set()
    for detail in details:
        people = (detail.sender, *detail.to, *detail.cc)
        found.update(person.address.lower() for person in people if person is not None and person.address)
    return found
