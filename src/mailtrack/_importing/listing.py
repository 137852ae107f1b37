"""The listing sorted: which messages a run retrieves, and which it looks at again.

:func:`sort_listing` goes through the listing oldest first, a slice at a time (so that a listing
of a million messages is never copied whole, and the ledger is asked a slice at a time), and
stops at ``max_messages_per_run``: what the ledger or the quarantine holds is skipped (or
rechecked, when the importer empties the mailbox), oversized mail is left, and a second message
under a UID already taken waits for a later run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..abc import RecordStore
from ..config import MailInterface
from ..exceptions import StoreError
from ..models import ContentDigest, MessageInfo
from .outcome import Held, Outcomes, RunStopped, where_held
from .tally import Tally, label

__all__ = ["LEDGER_SLICE", "sort_listing"]

logger = logging.getLogger("mailtrack")

#: Listed messages looked up in the ledger at once.
LEDGER_SLICE = 1000


def sort_listing(
    listing: Sequence[MessageInfo],
    store: RecordStore,
    interface: MailInterface,
    outcomes: Outcomes,
    tally: Tally,
) -> tuple[list[MessageInfo], dict[int, Held]]:
    """The messages to retrieve, oldest first and at most ``max_messages_per_run``, and among
    them (by number) those whose UID the store holds already, to be looked at again (see
    :mod:`.recheck`). The ledger is asked a slice of the listing at a time, so that a long
    listing is never copied whole."""
    name = interface.name
    cap = interface.max_messages_per_run
    wanted: list[MessageInfo] = []
    recheck: dict[int, Held] = {}
    #: UIDs of the messages to retrieve: a second message under one of them waits.
    taken: set[str] = set()
    for start in range(0, len(listing), LEDGER_SLICE):
        part = listing[start : start + LEDGER_SLICE]
        try:
            known = [info.uid for info in part if info.uid is not None]
            imported = store.imported_uids(name, known) if known else set()
            # Left on the server: what the ledger recorded of each, to see a UID the server reused.
            left = store.ledger_digests(name, imported) if imported and interface.keeps_messages else {}
            quarantined = store.quarantined_uids(name, [uid for uid in known if uid not in imported])
        except StoreError as exc:
            raise RunStopped(f"the record store failed, nothing was imported: {exc}") from exc
        for position, info in enumerate(part):
            if cap is not None and len(wanted) >= cap:
                tally.note(
                    f"max_messages_per_run ({cap}) reached: {len(listing) - start - position} more "
                    f"listed message(s) were not looked at; they stay {tally.kept.where} for the next run"
                )
                return wanted, recheck
            if info.uid is not None:
                if info.uid in taken:
                    logger.warning(
                        "%s has the UID of an earlier message; it stays %s",
                        label(info, info.uid),
                        tally.kept.where,
                    )
                    continue
                held = where_held(store, name, info.uid, imported, quarantined)
                if held is not None:
                    if not outcomes.goes_from_server(held) and not _resized(info, left.get(info.uid)):
                        # Left on the server by leave_copy (imported before) or by the quarantine
                        # policy (quarantined before: counted as left on the server).
                        if held is Held.LEDGER:
                            tally.already_imported += 1
                        continue
                    recheck[info.number] = held
            if info.size > interface.max_message_bytes:
                tally.note(
                    f"{label(info, info.uid)} is {info.size} bytes, more than max_message_bytes "
                    f"({interface.max_message_bytes}): not imported, left {tally.kept.where}"
                )
                continue
            if info.uid is not None:
                taken.add(info.uid)
            wanted.append(info)
    return wanted, recheck


def _resized(info: MessageInfo, recorded: ContentDigest | None) -> bool:
    """Whether a message left on the server is listed with another size than the ledger recorded
    for its UID: then the server may have reused the UID, and the message is looked at again."""
    return recorded is not None and recorded.listed_size is not None and recorded.listed_size != info.size
