"""The choices a configuration names: connection security, protocol, sender policy, what becomes
of machine mail and of refused attachments.
"""

from __future__ import annotations

import enum

__all__ = [
    "AttachmentAction",
    "ClassAction",
    "MailProtocol",
    "SenderPolicy",
    "Security",
]


class Security(str, enum.Enum):
    """How the connection to the mail server is secured."""

    #: Implicit TLS from the first byte (POP3S, port 995 by default).
    SSL = "ssl"
    #: Plain connection upgraded with STLS before login; fails closed when the server does not offer it.
    STARTTLS = "starttls"
    #: No encryption at all. The password crosses the network in clear text: only on explicit request.
    NONE = "none"


class MailProtocol(str, enum.Enum):
    """How mailtrack reads an interface's mailbox."""

    #: POP3 (RFC 1939): the messages of one mailbox, deleted after import unless ``leave_copy``.
    POP3 = "pop3"
    #: IMAP4rev1 (RFC 3501): the messages of one folder; ``after_import`` says what becomes of them.
    IMAP = "imap"
    #: No mailbox: a mail server hands each message over (``mailtrack deliver``), or the host does
    #: (:meth:`~mailtrack.Importer.deliver`), or it comes from an archive (``mailtrack import``).
    #: Such an interface needs no server or login, and runs and watches pass it by.
    DELIVER = "deliver"


class SenderPolicy(str, enum.Enum):
    """Who may add a message to an existing record by naming its ``#ID``."""

    #: Anybody who knows the ID, a participant of the record or not.
    ANYONE = "anyone"
    #: Only addresses that already took part in the record (From, To or Cc of its details).
    PARTICIPANTS = "participants"
    #: The ``sender_authorizer`` callable given to the :class:`~mailtrack.Importer` decides.
    CALLBACK = "callback"


class ClassAction(str, enum.Enum):
    """What the importer does with machine mail (auto-replies, bounces, our own mail)."""

    #: Treat it like any other message (may open a new record).
    NORMAL = "normal"
    #: Add it to the record it names; when it names none, skip it. Never opens a record.
    APPEND_OR_IGNORE = "append_or_ignore"
    #: Skip it (it is recorded in the ledger and deleted unless ``leave_copy``).
    DROP = "drop"
    #: Put it into the quarantine for a human to look at.
    QUARANTINE = "quarantine"


class AttachmentAction(str, enum.Enum):
    """What becomes of an attachment the interface's :class:`AttachmentLimits` refuse."""

    #: The message is imported without the file; the detail notes what was refused and why.
    NOTE = "note"
    #: As ``NOTE``, and the whole raw message is also kept in the quarantine (under the
    #: message's UID with ``#refused-attachments`` added), so the file can be taken out.
    KEEP_IN_QUARANTINE = "keep_in_quarantine"
    #: The whole message is quarantined instead of imported; the reason names the file.
    QUARANTINE_MESSAGE = "quarantine_message"
