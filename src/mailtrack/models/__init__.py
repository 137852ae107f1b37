"""Value objects: what a message is, what a record holds, what a run did.

All are frozen attrs classes; stores hand out copies, so changing one never changes the store.
"""

from __future__ import annotations

from ._actions import (
    AppendToRecord,
    CommitEvent,
    CommitOutcome,
    CommitResult,
    ContentDigest,
    CreateRecord,
    ImportAction,
    SkipMessage,
)
from ._messages import Attachment, EmailAddress, IncomingMessage, MessageClass, RefusedAttachment
from ._records import Detail, Record
from ._runs import ConnectionCheck, Lease, MessageInfo, QuarantinedMessage, RunReport

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
    "Lease",
    "MessageClass",
    "MessageInfo",
    "QuarantinedMessage",
    "Record",
    "RefusedAttachment",
    "RunReport",
    "SkipMessage",
]
