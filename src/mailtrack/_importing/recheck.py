"""The recheck of a listed UID the store knows.

Is it the same message (a run committed it but its deletion never happened: the run died before
QUIT, or QUIT failed; or it is left on the server by ``leave_copy``), or a new message under a
UID the server reused after deleting ours (RFC 1939 allows that)? In a mailbox the importer
empties, deleting it unread could lose a new message, so it is retrieved to tell. With
``leave_copy``, a UID whose listed size differs from the one the ledger recorded is retrieved.
The same message is deleted (or left); another one is imported under ``<uid>#sha256:<digest>``
(:func:`recheck_key`).

The ledger's content digest (:class:`~mailtrack.ContentDigest`) tells for certain. Ledger rows
written before digests were kept have none: the message is then judged by its Message-ID and
the policy, and the note says that it could not be told for certain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from .._digest import content_digest
from ..abc import MessageConverter, RecordStore
from ..models import ContentDigest, IncomingMessage, MessageInfo, SkipMessage
from .outcome import Held
from .policy import Decision
from .tally import label

__all__ = ["digest_of", "recheck_key", "reused_uid_note", "same_message"]


def digest_of(info: MessageInfo, raw: bytes) -> ContentDigest:
    """What the ledger keeps about a retrieved message's content."""
    return ContentDigest(sha256=content_digest(raw), listed_size=info.size)


def recheck_key(info: MessageInfo, raw: bytes) -> str:
    """The key of a message found under a reused UID: the UID and a digest of its bytes."""
    return f"{info.uid}#sha256:{hashlib.sha256(raw).hexdigest()}"


def same_message(
    raw: bytes,
    info: MessageInfo,
    held: Held,
    recorded: ContentDigest | None,
    *,
    interface: str,
    store: RecordStore,
    converter: MessageConverter,
    received_at: datetime,
    decision: Callable[[IncomingMessage], Decision],
) -> tuple[bool, IncomingMessage | Exception | None]:
    """Whether *raw*, listed under a UID the store holds (*held*), is the message stored then;
    and what converting it gave, when it was converted to tell (so that importing it does not
    convert it again), else ``None``.

    A quarantined message is compared byte for byte, a message in the ledger by the content
    digest the ledger *recorded*. Without one (a row from before digests), it is the same when
    importing it would add nothing: a detail holds it already (found by its Message-ID, which
    the converter derives from the content when the mail has none), or the policy skips it
    (machine mail, dropped or referring to no record).

    Raises:
        StoreError: the store failed.
    """
    if held is Held.QUARANTINE:
        kept = store.list_quarantined(interface)
        return any(item.uid == info.uid and item.raw == raw for item in kept), None
    if recorded is not None:
        return recorded.sha256 == content_digest(raw), None
    try:
        message = converter.convert(raw, received_at=received_at)
    except Exception as exc:
        return False, exc  # it cannot be what was committed; importing it quarantines it
    if store.find_record_by_message_id(message.message_id) is not None:
        return True, message
    return isinstance(decision(message).outcome, SkipMessage), message


def reused_uid_note(info: MessageInfo, held: Held, key: str, *, certain: bool) -> str:
    """The report's note on a new message found under a reused UID; *certain* when a digest or
    the quarantined bytes told it, not the Message-ID."""
    if certain:
        why = (
            f"the UID is in the {held.value}, but this message's content differs from the one "
            "imported under it (the server reused the UID of a deleted message)"
        )
    else:
        why = (
            f"the UID is in the {held.value} without a content digest (imported before mailtrack "
            "kept them), and no detail holds this message's Message-ID: taken for a new message "
            "under a reused UID (a message whose import adds no detail, such as an auto-reply "
            "that now finds its record, cannot be told apart for certain)"
        )
    return f"{label(info, info.uid)}: {why}: imported under {key}"
