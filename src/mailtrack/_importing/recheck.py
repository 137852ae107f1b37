"""The recheck of a listed UID the store knows, in a mailbox the importer empties.

Is it the same message (a run committed it but its deletion never happened: the run died before
QUIT, or QUIT failed), or a new message under a UID the server reused after deleting ours (RFC
1939 allows that)? Deleting it unread could lose a new message, so it is retrieved to tell. The
same message is deleted; another one is imported under ``<uid>#sha256:<digest>``
(:func:`recheck_key`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from ..abc import MessageConverter, RecordStore
from ..models import IncomingMessage, MessageInfo, SkipMessage
from .outcome import Held
from .policy import Decision
from .tally import label

__all__ = ["recheck_key", "reused_uid_note", "same_message"]


def recheck_key(info: MessageInfo, raw: bytes) -> str:
    """The key of a message found under a reused UID: the UID and a digest of its bytes."""
    return f"{info.uid}#sha256:{hashlib.sha256(raw).hexdigest()}"


def same_message(
    raw: bytes,
    info: MessageInfo,
    held: Held,
    *,
    interface: str,
    store: RecordStore,
    converter: MessageConverter,
    received_at: datetime,
    decision: Callable[[IncomingMessage], Decision],
) -> bool:
    """Whether *raw*, listed under a UID the store holds (*held*), is the message stored then.

    A quarantined message is compared byte for byte. For the ledger, it is the same when
    importing it would add nothing: a detail holds it already (found by its Message-ID, which
    the converter derives from the content when the mail has none), or the policy skips it
    (machine mail, dropped or referring to no record).

    Raises:
        StoreError: the store failed.
    """
    if held is Held.QUARANTINE:
        return any(kept.uid == info.uid and kept.raw == raw for kept in store.list_quarantined(interface))
    try:
        message = converter.convert(raw, received_at=received_at)
    except Exception:
        return False  # it cannot be what was committed; importing it quarantines it
    if store.find_record_by_message_id(message.message_id) is not None:
        return True
    return isinstance(decision(message).outcome, SkipMessage)


def reused_uid_note(info: MessageInfo, held: Held, key: str) -> str:
    """The report's note on a new message found under a reused UID."""
    return (
        f"{label(info, info.uid)}: the UID is in the {held.value}, but this message is not in the store "
        f"(the server reused the UID of a deleted message): imported under {key}"
    )
