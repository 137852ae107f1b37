"""Telling the host what a commit did: the ``on_committed`` listener of an :class:`~mailtrack.Importer`.

:func:`tell_listener` is called once per committed message, after the store's commit returned
(never before, so the listener never sees a record the store may still roll back), and only for
the outcomes that wrote a detail (``CREATED``, ``APPENDED``): a message the ledger held already,
a skipped one or a Message-ID that was a detail already tells nothing, so a message is told at
most once whatever worker commits it. A listener that fails changes nothing: the message stays
imported, and the failure becomes a note of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..abc import RecordStore
from ..exceptions import StoreError
from ..models import CommitEvent, CommitOutcome, CommitResult

__all__ = ["CommitListener", "tell_listener"]

logger = logging.getLogger("mailtrack")

#: Called after each commit that opened a record or added a detail (see :class:`~mailtrack.Importer`).
CommitListener = Callable[[CommitEvent], None]

_TOLD = (CommitOutcome.CREATED, CommitOutcome.APPENDED)


def tell_listener(
    listener: CommitListener | None, store: RecordStore, interface: str, key: str, result: CommitResult
) -> str | None:
    """Call *listener* with what committing message *key* of *interface* did.

    Returns:
        ``None``, or a note for the run saying why the listener failed or was not called.
    """
    if listener is None or result.outcome not in _TOLD:
        return None
    if result.record_id is None or result.detail_id is None:
        # Only after a batch that failed half-way in a store that is not all-or-nothing.
        return "the on_committed listener was not called: the store did not say which record it wrote"
    try:
        record = store.get_record(result.record_id, load_content=False)
    except StoreError as exc:
        return f"the on_committed listener was not called: reading record #{result.record_id} failed: {exc}"
    detail = next((detail for detail in record.details if detail.id == result.detail_id), None)
    if detail is None:  # the record was deleted or changed meanwhile
        return f"the on_committed listener was not called: record #{record.id} no longer holds the detail"
    event = CommitEvent(
        interface=interface,
        uid=key,
        outcome=result.outcome,
        record=record,
        detail=detail,
        changed_fields=(
            dict(record.fields)
            if result.outcome is CommitOutcome.CREATED
            else {name: new for name, (_old, new) in detail.field_changes.items()}
        ),
    )
    try:
        listener(event)
    except Exception as exc:
        logger.warning("the on_committed listener failed for record #%d", record.id, exc_info=True)
        return f"the on_committed listener failed for record #{record.id} ({type(exc).__name__}: {exc})"
    return None
