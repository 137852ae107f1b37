"""Acting on quarantined messages, as methods of :class:`mailtrack.Importer`: import one again
(:meth:`~QuarantineMethods.retry_quarantined`) or give it up
(:meth:`~QuarantineMethods.discard_quarantined`).

:class:`QuarantineMethods` is a base class of :class:`~mailtrack.Importer`, as
:class:`~.intake_api.IntakeMethods` is: it holds the public methods, the rest of
:mod:`mailtrack._importing` the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from .._digest import content_digest
from ..abc import Matcher, MessageConverter, RecordStore
from ..config import MailInterface
from ..exceptions import MailtrackError, ParseError
from ..models import CommitResult, ContentDigest, SkipMessage
from .attachments import KEPT_SUFFIX, kept_key, screen
from .batch import commit_or_open
from .events import CommitListener, tell_listener
from .outcome import conversion_failure
from .policy import Policy, Quarantine, SenderAuthorizer, check_sender_policy

__all__ = ["QuarantineMethods"]

logger = logging.getLogger("mailtrack")


class QuarantineMethods:
    """:meth:`retry_quarantined` and :meth:`discard_quarantined` of :class:`~mailtrack.Importer`."""

    store: RecordStore
    converter: MessageConverter
    matcher: Matcher
    sender_authorizer: SenderAuthorizer | None
    clock: Callable[[], datetime]
    on_committed: CommitListener | None

    def retry_quarantined(
        self, quarantine_id: int, *, interface: MailInterface | None = None
    ) -> CommitResult:
        """Import a quarantined message again (after a fix, or when a human says it is fine).

        The raw bytes are converted again and committed under the quarantined
        ``(interface, uid)``, then the message leaves the quarantine. The policy is not allowed
        to quarantine it a second time: machine mail whose class action is ``QUARANTINE`` is
        treated as ``NORMAL``, a sender refused by the sender policy opens a new record, and
        attachments the interface refuses are noted on the detail while the raw message stays
        in the quarantine (as with ``attachments.on_refused = "keep_in_quarantine"``).

        Args:
            quarantine_id: the quarantined message's ID.
            interface: the interface whose project, defaults and policy apply; by default the
                one saved in the store under the quarantined message's interface name.

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
            InterfaceNotFoundError: *interface* was not given and none is saved under that name.
            ConfigError: the interface's sender policy needs a ``sender_authorizer``.
            ParseError: the message still cannot be converted (its quarantine error is updated).
            MailtrackError: the entry only keeps the refused attachments of a message imported
                already (nothing to import).
            MailtrackError: the ``sender_authorizer`` failed (its quarantine error is updated).
            StoreError: the store failed.
        """
        quarantined = self.store.get_quarantined(quarantine_id)
        if quarantined.uid.endswith(KEPT_SUFFIX):
            raise MailtrackError(
                f"quarantined message {quarantine_id} only keeps the refused attachments of a message "
                "that was imported: export it to take the files out, or discard it"
            )
        if interface is None:
            interface = self.store.get_interface(quarantined.interface)
        check_sender_policy(interface, self.sender_authorizer)
        try:
            message = self.converter.convert(quarantined.raw, received_at=self.clock())
        except Exception as exc:
            reason = conversion_failure(exc)
            self.store.quarantine(quarantined.interface, quarantined.uid, quarantined.raw, reason)
            raise ParseError(reason) from exc
        screened = screen(message, interface.attachments, retry=True)
        if screened.keep_raw is not None:
            self.store.quarantine(
                quarantined.interface, kept_key(quarantined.uid), quarantined.raw, screened.keep_raw
            )
        message = screened.message
        policy = Policy(
            interface=interface,
            store=self.store,
            matcher=self.matcher,
            sender_authorizer=self.sender_authorizer,
            retry=True,
        )
        decision = policy.decision(message)
        if isinstance(decision.outcome, Quarantine):
            reason = decision.outcome.reason
            self.store.quarantine(quarantined.interface, quarantined.uid, quarantined.raw, reason)
            raise MailtrackError(reason)
        # Committed under the quarantined message's own interface name, with *interface*'s rules.
        result, _note = commit_or_open(
            self.store, policy, quarantined.interface, quarantined.uid, decision.outcome
        )
        self.store.release_quarantined(quarantine_id)
        note = tell_listener(self.on_committed, self.store, quarantined.interface, quarantined.uid, result)
        if note is not None:
            logger.warning("retrying quarantined message %d: %s", quarantine_id, note)
        return result

    def discard_quarantined(self, quarantine_id: int) -> None:
        """Give up on a quarantined message: it leaves the quarantine and is never imported.

        Its ``(interface, uid)`` is written to the ledger as skipped first, so that the next run
        deletes the message on the server (unless ``leave_copy``) instead of importing it again;
        then it is removed from the quarantine with its raw bytes (save them first with
        ``store.get_quarantined(quarantine_id).raw`` if they may be wanted).

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
            StoreError: the store failed (a discard that failed halfway can be repeated).
        """
        quarantined = self.store.get_quarantined(quarantine_id)
        if not quarantined.uid.endswith(KEPT_SUFFIX):  # a kept copy: its message was imported
            # The digest tells the next run that the message under this UID is this one.
            digest = ContentDigest(sha256=content_digest(quarantined.raw))
            skip = SkipMessage(reason="discarded from the quarantine", digest=digest)
            self.store.commit(quarantined.interface, quarantined.uid, skip)
        self.store.release_quarantined(quarantine_id)
