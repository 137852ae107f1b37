"""The seams of mailtrack: the record store contract and the pluggable parts of an import.

:class:`RecordStore` is an abstract base class whose docstrings are the contract every store
keeps; :class:`mailtrack.testing.RecordStoreContract` checks it. :class:`Fetcher`,
:class:`Matcher` and :class:`MessageConverter` are protocols: anything with those methods fits.

Optional capabilities make an import faster where a part has them, and have defaults: a store
may tell how many connections it has (:attr:`RecordStore.max_connections`) and which IDs its
next records get (:meth:`RecordStore.next_record_ids`), what the ledger knows of each message's
content (:meth:`RecordStore.ledger_digests`), who holds a lease and whether it can take
one over (:meth:`RecordStore.lease_holder`, :meth:`RecordStore.take_over_lease`); a fetcher may
say that marking a deletion touches no connection (:class:`MarksDeletionsLocally`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from typing_extensions import Self

# The protocols live in a module of their own (this one holds the store's contract); they are
# public here.
from ._protocols import (
    Fetcher,
    FetcherFactory,
    MarksDeletionsLocally,
    Matcher,
    MessageConverter,
    TokenSource,
)
from .config import MailInterface

if TYPE_CHECKING:
    from .auth import TokenCache
from .models import (
    CommitResult,
    ContentDigest,
    ImportAction,
    Lease,
    QuarantinedMessage,
    Record,
    RunReport,
)

__all__ = [
    "Fetcher",
    "FetcherFactory",
    "MarksDeletionsLocally",
    "Matcher",
    "MessageConverter",
    "RecordStore",
    "TokenSource",
]


class RecordStore(ABC):
    """Where records, details, the import ledger, the quarantine, saved interfaces and run
    reports live.

    The contract, checked by :class:`mailtrack.testing.RecordStoreContract`:

    * Every method returns copies: changing a returned object never changes the store.
    * :meth:`commit` is atomic: the record or detail, its attachments and the ledger row
      ``(interface, uid)`` are all written, or none is.
    * A given ``(interface, uid)`` is committed at most once, even by concurrent processes.
    * One Message-ID becomes at most one detail, whatever interface it came through.
    * Datetimes are timezone-aware (UTC) on the way out.
    * Driver errors are raised as :class:`~mailtrack.StoreError` with the original as ``__cause__``.

    A store is a context manager; :meth:`close` releases what the store opened itself.
    """

    # -- import ------------------------------------------------------------------------------

    @abstractmethod
    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        """Apply *action* and write the ledger row ``(interface, uid)`` in one transaction.

        * :class:`~mailtrack.CreateRecord` opens a record with the message as its first detail
          (outcome ``CREATED``).
        * :class:`~mailtrack.AppendToRecord` adds a detail and moves the record's ``updated_at``
          to the time of the commit (outcome ``APPENDED``).
        * :class:`~mailtrack.SkipMessage` writes only the ledger row (outcome ``SKIPPED``).
        * If a detail with the message's Message-ID exists already, only the ledger row is
          written (outcome ``DUPLICATE``, with that detail's record and detail IDs).
        * A store that keeps digests (:meth:`ledger_digests`): if the ledger of *interface*
          holds the action's ``digest`` under another UID (the same content: a rebuilt IMAP
          folder, a message delivered twice), only the ledger row is written, with the earlier
          row's outcome: ``DUPLICATE`` of its detail, or ``SKIPPED`` when it became none. This
          comes before the Message-ID and the action.
        * If the ledger holds ``(interface, uid)`` already, nothing is written (outcome
          ``ALREADY_IMPORTED``); a concurrent commit of the same pair gives the same result.

        Raises:
            RecordNotFoundError: an ``AppendToRecord`` names a record that does not exist
                (nothing is written).
            MessageRefusedError: the store cannot hold this message (the database refused it
                for its size) but works otherwise: nothing is written, and other messages can
                still be committed.
            StoreError: the transaction failed and was rolled back.
        """

    def next_record_ids(self, count: int) -> range | None:
        """The IDs the next *count* new records get when no one else opens records meanwhile, or
        ``None`` when the store cannot tell.

        Optional: the importer asks it before it commits a batch early for a message naming a
        record that does not exist yet (could the batch give one of its new records that
        number?). With ``None`` (the default) it assumes the batch could, which is always right
        but commits more often.
        """
        return None

    def conversion_attempts(self, interface: str, uids: Iterable[str]) -> dict[str, int]:
        """How many conversions of each of *uids* began and never finished (only those with
        any), for the importer's crash-loop guard.

        Optional, with :meth:`add_conversion_attempts` and :meth:`clear_conversion_attempts`:
        the importer counts an attempt before it converts a message and clears it once the
        message was committed or quarantined, so that a message that kills the process every
        time (out of memory, a crash in C code) is recognised after a few runs and quarantined
        without being parsed again. The counts must survive the process (that is their point).
        The default (``{}``, and nothing kept) means no such guard.
        """
        return {}

    def add_conversion_attempts(self, interface: str, uids: Sequence[str]) -> None:  # noqa: B027 - optional
        """Count one more conversion attempt for each of *uids* (all in one transaction; a UID
        named twice counts once).

        Optional: see :meth:`conversion_attempts`. The default keeps nothing.
        """

    def clear_conversion_attempts(self, interface: str, uids: Sequence[str]) -> None:  # noqa: B027 - optional
        """Forget the conversion attempts of *uids* (they finished).

        Optional: see :meth:`conversion_attempts`. The default keeps nothing.
        """

    def commit_many(self, items: Sequence[tuple[str, str, ImportAction]]) -> list[CommitResult]:
        """Commit several ``(interface, uid, action)`` items; one result per item, in order.

        Stores that can should do it in one transaction (all or nothing). The default commits
        them one by one. A ``RecordNotFoundError`` for one item must not undo the others:
        the default implementation reports it by raising after the earlier items are committed.
        A :class:`~mailtrack.MessageRefusedError` for one item ends the batch the same way
        (rolled back, or the earlier items committed); committing the items one by one then
        tells which one it was.

        The importer commits in batches by default, so a store that does something on every
        commit must do it here too. A subclass of a built-in store that overrides only
        :meth:`commit` is safe: the built-in ``commit_many`` then calls that ``commit`` for
        each item, as this default does.
        """
        return [self.commit(interface, uid, action) for interface, uid, action in items]

    @abstractmethod
    def is_imported(self, interface: str, uid: str) -> bool:
        """Whether the ledger holds ``(interface, uid)``."""

    @abstractmethod
    def imported_uids(self, interface: str, uids: Iterable[str]) -> set[str]:
        """The subset of *uids* the ledger holds for *interface* (one query for a whole listing)."""

    def ledger_digests(self, interface: str, uids: Iterable[str]) -> dict[str, ContentDigest]:
        """The :class:`~mailtrack.ContentDigest` the ledger keeps for each of *uids* of
        *interface* that it holds with one (one query for a whole listing).

        Optional: a store keeps the ``digest`` of the action it commits beside the ledger row.
        With it, the importer tells a message it imported from a new one under a UID the server
        reused, for certain and also with ``leave_copy``; without it (the default: ``{}``, and
        for rows written before digests were kept) it judges by the Message-ID as before.
        """
        return {}

    # -- records -------------------------------------------------------------------------------

    @abstractmethod
    def get_record(self, record_id: int, *, load_content: bool = True) -> Record:
        """The record with its details (oldest first) and their attachments.

        With ``load_content=False`` attachments come with ``content=None``.

        Raises:
            RecordNotFoundError: no record has that ID.
        """

    @abstractmethod
    def list_records(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        load_content: bool = False,
        updated_since: datetime | None = None,
        order: Literal["id", "updated"] = "id",
    ) -> list[Record]:
        """Records (of *project*, or all), with details, paged by *limit*/*offset*.

        Attachment content is left out (``None``) unless ``load_content=True``.

        Args:
            updated_since: only records whose ``updated_at`` is at or after this moment (a
                naive datetime is taken as UTC): what a host reads after each run to react to
                new records and follow-ups. Keep the newest ``updated_at`` you saw and pass it
                next time (a record updated at that very moment comes again: be idempotent).
            order: ``"id"``: newest ID first; ``"updated"``: most recently updated first (ties:
                newest ID first). Stores keep an index for both.

        Raises:
            ValueError: a negative *limit* or *offset*, or an unknown *order*.
        """

    @abstractmethod
    def has_record(self, record_id: int, project: str | None = None) -> bool:
        """Whether a record *record_id* exists (and belongs to *project*, when given)."""

    @abstractmethod
    def find_record_by_message_id(self, message_id: str) -> Record | None:
        """The record that holds a detail with this Message-ID, or ``None``."""

    def record_ids_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, int]:
        """The records holding details with these Message-IDs: Message-ID → record ID, for those
        found (exact match, as :meth:`find_record_by_message_id`).

        The importer follows a reply's In-Reply-To/References with it. Optional: the default
        asks :meth:`find_record_by_message_id` for each; a store should answer from an index
        in one query, without loading the records.
        """
        found: dict[str, int] = {}
        for message_id in message_ids:
            record = self.find_record_by_message_id(message_id)
            if record is not None:
                found[message_id] = record.id
        return found

    @abstractmethod
    def record_participants(self, record_id: int) -> set[str]:
        """Lower-case addresses that took part in the record (From, To and Cc of its details).

        Raises:
            RecordNotFoundError: no record has that ID.
        """

    @abstractmethod
    def get_attachment_content(self, attachment_id: int) -> bytes:
        """The bytes of one stored attachment.

        Raises:
            AttachmentNotFoundError: no attachment has that ID (any ``StoreError`` that is
                also a ``LookupError`` keeps the contract).
        """

    # -- quarantine ----------------------------------------------------------------------------

    @abstractmethod
    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
        """Keep a message that could not be imported, with its raw bytes and the reason.

        Quarantining the same ``(interface, uid)`` again updates the error and counts one more
        attempt instead of adding a second copy.

        Raises:
            MessageRefusedError: the raw bytes are too large for the store, which works
                otherwise (nothing is written).
            StoreError: the store failed.
        """

    @abstractmethod
    def is_quarantined(self, interface: str, uid: str) -> bool:
        """Whether ``(interface, uid)`` is in the quarantine."""

    def quarantined_uids(self, interface: str, uids: Iterable[str]) -> set[str]:
        """The subset of *uids* the quarantine holds for *interface*.

        Optional: the default asks :meth:`is_quarantined` for each; a store that can answer a
        whole listing at once (the SQL store: one query per 500 UIDs) overrides it.

        Raises:
            StoreError: the store failed.
        """
        return {uid for uid in uids if self.is_quarantined(interface, uid)}

    @abstractmethod
    def list_quarantined(self, interface: str | None = None) -> list[QuarantinedMessage]:
        """Quarantined messages (of *interface*, or all), oldest first."""

    @abstractmethod
    def get_quarantined(self, quarantine_id: int) -> QuarantinedMessage:
        """One quarantined message.

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
        """

    @abstractmethod
    def release_quarantined(self, quarantine_id: int) -> None:
        """Remove a message from the quarantine (after it was re-imported, or given up on).

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
        """

    # -- interfaces ----------------------------------------------------------------------------

    @abstractmethod
    def save_interface(self, interface: MailInterface) -> None:
        """Save (add or replace, by name) a mail interface, password included."""

    @abstractmethod
    def get_interface(self, name: str) -> MailInterface:
        """The saved interface named *name*.

        Raises:
            InterfaceNotFoundError: none is saved under that name.
        """

    @abstractmethod
    def list_interfaces(self) -> list[MailInterface]:
        """All saved interfaces, by name."""

    @abstractmethod
    def delete_interface(self, name: str) -> None:
        """Delete a saved interface (its ledger, records and run history stay).

        Raises:
            InterfaceNotFoundError: none is saved under that name.
        """

    # -- runs and leases -----------------------------------------------------------------------

    @abstractmethod
    def save_run(self, report: RunReport) -> None:
        """Append a run report to the interface's history."""

    @abstractmethod
    def last_run(self, name: str) -> RunReport | None:
        """The newest run report of interface *name*, or ``None`` when it never ran."""

    @abstractmethod
    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take (or renew, for the same *owner*) the lease on interface *name* for *seconds*.

        Returns False when another owner holds an unexpired lease. Atomic across processes.
        """

    @abstractmethod
    def release_lease(self, name: str, owner: str) -> None:
        """Give up the lease if *owner* holds it (otherwise do nothing)."""

    def lease_holder(self, name: str) -> Lease | None:
        """Who holds the lease on interface *name* and until when; ``None`` when nobody does.

        Optional: the importer uses it to say who holds a busy mailbox, and to take over the
        lease of a worker that is known to be dead (:meth:`take_over_lease`). The default
        returns ``None`` (not known): such a store's leases only ever expire.
        """
        return None

    def take_over_lease(self, name: str, owner: str, seconds: float, previous_owner: str) -> bool:
        """Give the lease on interface *name* to *owner* for *seconds*, but only if
        *previous_owner* still holds it (expired or not): a compare-and-swap, atomic across
        processes, so that of two workers taking over the same dead holder's lease one wins.

        Optional: the default returns False (the store cannot), and the lease expires on its own.

        Returns:
            True when *owner* now holds the lease.
        """
        return False

    def token_cache(self, interface_name: str) -> TokenCache | None:
        """Where the OAuth 2.0 tokens of the interface *interface_name*, saved in this store, are kept.

        Optional: workers that share the store then share a rotated refresh token. The cache
        holds secrets: they never appear in records, dumps or run reports. The default returns
        ``None``: the tokens are kept in a file (``oauth.token_file``).
        """
        return None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def max_connections(self) -> int | None:
        """How many threads can use the store at once, or ``None`` for no limit.

        Optional: :meth:`mailtrack.Importer.run_all` polls no more mailboxes at once than this
        (each run uses one connection at a time). The default is ``None``.
        """
        return None

    def close(self) -> None:  # noqa: B027 - a store without resources needs no close
        """Release what the store opened itself (never a caller's engine)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
