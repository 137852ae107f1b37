"""Where each message of a run ends: committed, quarantined, skipped as known, or left where it
was found (on the server, in the archive: the tally's :class:`~.tally.Place`).

:class:`Outcomes` writes what the store and the server are told about one message and counts it
in the run's :class:`~.tally.Tally`: a committed message is counted and only then marked for
deletion; a message that cannot be imported is quarantined with its raw bytes (or, when the
store cannot hold it, left on the server and named in the report).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from ..abc import Fetcher, RecordStore
from ..config import MailInterface
from ..exceptions import FetchError, MessageRefusedError, ParseError, StoreError
from ..models import CommitResult, MessageInfo
from .attachments import kept_key
from .events import CommitListener, tell_listener
from .tally import Tally, label

if TYPE_CHECKING:
    from .crashes import CrashGuard

__all__ = [
    "Held",
    "LeaseLost",
    "Outcomes",
    "RunStopped",
    "conversion_failure",
    "where_held",
]

logger = logging.getLogger("mailtrack")


class RunStopped(Exception):
    """The run cannot go on (the store failed, the lease was lost); committed work stays valid."""


class LeaseLost(RunStopped):
    """Another worker took the mailbox over; the store still works."""


class Held(enum.Enum):
    """Where the store holds a message it has seen before."""

    LEDGER = "ledger"
    QUARANTINE = "quarantine"


def where_held(
    store: RecordStore,
    interface: str,
    key: str,
    imported: set[str] | None = None,
    quarantined: set[str] | None = None,
) -> Held | None:
    """Where the store holds message *key* of *interface*, or ``None``.

    Args:
        imported: the keys of the listing that the ledger holds, when they were looked up at
            once; otherwise the ledger is asked.
        quarantined: the same for the quarantine.

    Raises:
        RunStopped: the store failed.
    """
    try:
        if key in imported if imported is not None else store.is_imported(interface, key):
            return Held.LEDGER
        if quarantined is not None:
            return Held.QUARANTINE if key in quarantined else None
        return Held.QUARANTINE if store.is_quarantined(interface, key) else None
    except StoreError as exc:
        raise RunStopped(f"the record store failed: {exc}") from exc


def conversion_failure(exc: Exception) -> str:
    """The quarantine reason for a message the converter failed on."""
    if isinstance(exc, ParseError):
        return str(exc) or "the message could not be parsed"
    return f"the converter failed ({type(exc).__name__}: {exc})"


def _stopped(exc: StoreError, tally: Tally) -> RunStopped:
    return RunStopped(
        f"the record store failed ({exc}); the run stopped and messages not yet imported stay "
        f"{tally.kept.where}"
    )


@attrs.define
class Outcomes:
    """What becomes of the messages of one session, told to the store, the server and the tally."""

    store: RecordStore
    interface: MailInterface
    fetcher: Fetcher
    tally: Tally
    #: The importer's ``on_committed`` listener, told after each commit.
    on_committed: CommitListener | None = None
    #: Counts the conversion attempts (see :mod:`.crashes`); told when messages are done.
    guard: CrashGuard | None = None
    #: What the store said about the last message it committed (a delivery reports it).
    last_result: CommitResult | None = None

    def finished(self, keys: Sequence[str]) -> None:
        """The messages under *keys* were committed or quarantined: their attempts are over."""
        if self.guard is not None:
            self.guard.finished(keys)

    def goes_from_server(self, held: Held) -> bool:
        """Whether a message the store holds is to go from the server."""
        if held is Held.LEDGER:
            return not self.interface.keeps_messages
        return self.interface.policy.delete_quarantined

    def skip_if_held(self, info: MessageInfo, key: str) -> bool:
        """Skip (and maybe delete) a message whose key is in the ledger or the quarantine.

        Raises:
            RunStopped: the store failed.
        """
        held = where_held(self.store, self.interface.name, key)
        if held is None:
            return False
        self.count_held(held)
        if self.goes_from_server(held):
            self.fetcher.delete(info)
        return True

    def count_held(self, held: Held) -> None:
        """Count a message the store held before this run: imported before, or quarantined before
        and going from the server now (its deletion failed then). One quarantined before that
        stays is counted as left on the server."""
        if held is Held.LEDGER:
            self.tally.already_imported += 1
        elif self.goes_from_server(held):
            self.tally.quarantined += 1

    def committed(self, info: MessageInfo, key: str, result: CommitResult) -> None:
        """Count a committed message; only now may it be marked for deletion (or for the other
        actions of ``after_import``: an IMAP fetcher's :meth:`~mailtrack.abc.Fetcher.delete` moves
        or flags the message when the interface says so), and the ``on_committed`` listener be
        told (a failing listener is a note, nothing more)."""
        self.tally.count_commit(result.outcome)
        self.last_result = result
        if self.interface.after_import_action != "keep":
            self._mark_for_deletion(info)
        note = tell_listener(self.on_committed, self.store, self.interface.name, key, result)
        if note is not None:
            self.tally.note(f"{label(info, key)}: {note}")

    def conversion_failed(self, info: MessageInfo, key: str, raw: bytes, exc: Exception) -> None:
        """Quarantine a message the converter failed on.

        Raises:
            RunStopped: the store failed.
        """
        if not isinstance(exc, ParseError):
            logger.warning("the converter failed on %s", label(info, key), exc_info=exc)
        self.quarantine(info, key, raw, conversion_failure(exc))

    def quarantine(self, info: MessageInfo, key: str, raw: bytes, reason: str) -> None:
        """Keep a message that cannot be imported, with its raw bytes and *reason*.

        Raises:
            RunStopped: the store failed.
        """
        try:
            self.store.quarantine(self.interface.name, key, raw, reason)
        except MessageRefusedError as exc:
            # The store works but cannot hold this message, not even its raw bytes. It stays on
            # the server; in neither the ledger nor the quarantine, it is tried (and noted) again
            # on every run, until the store's limit or max_message_bytes is changed.
            logger.warning("%s could not be stored or quarantined (%s): %s", label(info, key), reason, exc)
            self.tally.note(
                f"{label(info, key)}, {len(raw)} bytes, was not imported and stays {self.tally.kept.where} "
                f"(tried again next run): the store cannot hold it: {exc}"
            )
            return
        except StoreError as exc:
            raise _stopped(exc, self.tally) from exc
        self.finished([key])
        self.tally.quarantined += 1
        self.tally.note(f"{label(info, key)} quarantined: {reason}")
        if self.interface.policy.delete_quarantined:
            self._mark_for_deletion(info)

    def keep_refused(self, info: MessageInfo, key: str, raw: bytes, reason: str) -> bool:
        """Keep the raw message in the quarantine for its refused attachments (before the message
        is committed without them); False when the store cannot hold it: then the message is
        not imported and stays on the server, so that nothing is lost.

        Raises:
            RunStopped: the store failed.
        """
        try:
            self.store.quarantine(self.interface.name, kept_key(key), raw, reason)
        except MessageRefusedError as exc:
            self.tally.note(
                f"{label(info, key)} was not imported and stays {self.tally.kept.where} "
                "(tried again next run): its refused attachments are to be kept in the quarantine, "
                f"which cannot hold it: {exc}"
            )
            return False
        except StoreError as exc:
            raise _stopped(exc, self.tally) from exc
        self.tally.note(f"{label(info, key)}: {reason}")
        return True

    def _mark_for_deletion(self, info: MessageInfo) -> None:
        """Mark a message the store holds for deletion. A session that failed cannot (what was
        retrieved before the failure is still committed); the message then stays on the server
        and the next run deletes it, by the ledger or the quarantine."""
        try:
            self.fetcher.delete(info)
        except FetchError:
            logger.debug("could not mark message %d for deletion", info.number, exc_info=True)
