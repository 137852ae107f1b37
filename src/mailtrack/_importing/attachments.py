"""The attachments an interface refuses (:class:`~mailtrack.AttachmentLimits`), and what becomes of them.

:func:`screen` looks at a converted message's attachments: a file larger than ``max_bytes``, of
a refused content type or with a refused file name extension is taken out of the message and
noted in its place (:class:`~mailtrack.RefusedAttachment`, kept on the detail). By
``on_refused``, the whole raw message is also kept in the quarantine under the message's key
with :data:`KEPT_SUFFIX` (the file can be taken out of it), or the message is quarantined
instead of imported. Nothing is dropped without a trace.
"""

from __future__ import annotations

import attrs

from ..config import AttachmentAction, AttachmentLimits
from ..models import Attachment, IncomingMessage, RefusedAttachment

__all__ = ["KEPT_SUFFIX", "Screened", "kept_key", "screen"]

#: Added to a message's key for the quarantined copy that keeps its refused attachments.
KEPT_SUFFIX = "#refused-attachments"


def kept_key(key: str) -> str:
    """The quarantine key of the copy that keeps the refused attachments of message *key*."""
    return key + KEPT_SUFFIX


@attrs.frozen(kw_only=True)
class Screened:
    """A message after its attachments were screened."""

    #: The message without the refused attachments, which it lists instead.
    message: IncomingMessage
    #: ``None``, or why the whole message goes to the quarantine instead of being imported.
    quarantine: str | None = None
    #: ``None``, or the reason under which the raw message is also kept in the quarantine.
    keep_raw: str | None = None


def screen(message: IncomingMessage, limits: AttachmentLimits, *, retry: bool = False) -> Screened:
    """Take the attachments *limits* refuse out of *message*.

    Args:
        retry: a human re-imports the message from the quarantine: it is not quarantined again
            (``quarantine_message`` keeps the raw message in the quarantine instead).
    """
    if not limits.limits_anything or not message.attachments:
        return Screened(message=message)
    kept: list[Attachment] = []
    refused: list[tuple[Attachment, str]] = []
    for attachment in message.attachments:
        reason = refusal(attachment, limits)
        if reason is None:
            kept.append(attachment)
        else:
            refused.append((attachment, reason))
    if not refused:
        return Screened(message=message)
    action = limits.on_refused
    if action is AttachmentAction.QUARANTINE_MESSAGE and retry:
        action = AttachmentAction.KEEP_IN_QUARANTINE
    keep = action is AttachmentAction.KEEP_IN_QUARANTINE
    notes = tuple(_noted(attachment, reason, quarantined=keep) for attachment, reason in refused)
    summary = "; ".join(str(note) for note in notes)
    if action is AttachmentAction.QUARANTINE_MESSAGE:
        return Screened(
            message=message, quarantine=f"{summary} (attachments.on_refused = 'quarantine_message')"
        )
    screened = attrs.evolve(
        message,
        attachments=tuple(kept),
        refused_attachments=(*message.refused_attachments, *notes),
    )
    return Screened(message=screened, keep_raw=f"keeps the refused attachments: {summary}" if keep else None)


def refusal(attachment: Attachment, limits: AttachmentLimits) -> str | None:
    """Why *limits* refuse *attachment* (naming the setting), or ``None``."""
    if limits.max_bytes is not None and attachment.size > limits.max_bytes:
        return f"larger than attachments.max_bytes ({limits.max_bytes} bytes)"
    kind = attachment.content_type.split(";", 1)[0].strip().lower()
    for refused in limits.refuse_types:
        if kind == refused or (refused.endswith("/*") and kind.startswith(refused[:-1])):
            return f"its type {kind} is in attachments.refuse_types"
    names = {attachment.filename.lower().rstrip(". "), attachment.original_filename.lower().rstrip(". ")}
    for extension in limits.refuse_extensions:
        if any(name.endswith(extension) for name in names if name):
            return f"its name ends in {extension} (attachments.refuse_extensions)"
    return None


def _noted(attachment: Attachment, reason: str, *, quarantined: bool) -> RefusedAttachment:
    return RefusedAttachment(
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
        reason=reason,
        quarantined=quarantined,
    )
