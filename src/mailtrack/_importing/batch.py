"""The batch: decided messages waiting to be committed together, in one store transaction.

A message joins the batch once the policy decided it. The batch is committed when it is full
(``batch_size`` messages or :data:`BATCH_BYTES`), when its first message waited ``batch_wait``,
and before a message whose decision it may change (:meth:`Batch.may_change`): one whose evidence
names a record the batch adds to (its participants may grow) or may open, or one that answers a
message of the batch (In-Reply-To/References). So batching never changes what becomes of a message.
Only after the commit are the messages marked for deletion.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

import attrs

from ..abc import RecordStore
from ..exceptions import RecordNotFoundError, StoreError
from ..models import (
    AppendToRecord,
    CommitOutcome,
    CommitResult,
    CreateRecord,
    ImportAction,
    MessageInfo,
    SkipMessage,
)
from .outcome import Outcomes, RunStopped
from .policy import Policy, Reading
from .tally import label

__all__ = ["BATCH_BYTES", "Batch", "Pending", "commit_or_open"]

logger = logging.getLogger("mailtrack")

#: Most raw bytes of one batch: a batch of large messages is committed before it has batch_size.
BATCH_BYTES = 32 * 1024 * 1024


@attrs.define
class Pending:
    """A converted and decided message waiting for the commit of its batch."""

    info: MessageInfo
    key: str
    raw: bytes
    action: ImportAction


def commit_or_open(
    store: RecordStore, policy: Policy, name: str, key: str, action: ImportAction
) -> tuple[CommitResult, str | None]:
    """Commit *action* under ``(name, key)``; when the record it appends to was deleted between
    the decision and the commit, open a new record by *policy* instead (and say so in a note).

    Raises:
        StoreError: the store failed (``MessageRefusedError``: it cannot hold this message).
    """
    try:
        return store.commit(name, key, action), None
    except RecordNotFoundError:
        if not isinstance(action, AppendToRecord):
            raise
    note = f"record #{action.record_id} disappeared before the commit; opened a new record"
    opened = policy.new_record(action.message, action.message_class, set_fields=action.set_fields)
    opening = attrs.evolve(opened, digest=action.digest)
    return store.commit(name, key, opening), note


@attrs.define
class Batch:
    """The decided messages of one run that are not committed yet."""

    store: RecordStore
    policy: Policy
    outcomes: Outcomes
    #: Messages that fill the batch (``batch_size``), and the longest wait of its first.
    size: int
    wait: float
    _items: list[Pending] = attrs.Factory(list)
    _bytes: int = 0
    #: What :meth:`may_change` asks of the items, kept as they are added: the records they
    #: append to, how many records they open, the Message-IDs they store.
    _touched: set[int] = attrs.Factory(set)
    _opens: int = 0
    _message_ids: set[str] = attrs.Factory(set)
    #: time.monotonic() when the first message of the batch was added.
    _started: float = 0.0
    #: The store's answer to :meth:`~mailtrack.abc.RecordStore.next_record_ids`, asked once per
    #: batch (see :meth:`_may_open`); ``None`` before it was asked.
    _next_ids: range | Literal["unknown"] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def overdue(self) -> bool:
        """Whether the first message waited long enough: the batch is to be committed now."""
        return bool(self._items) and time.monotonic() - self._started >= self.wait

    def add(self, pending: Pending) -> None:
        """Add a decided message; a batch that is full now is committed."""
        if not self._items:
            self._started = time.monotonic()
        self._items.append(pending)
        self._bytes += len(pending.raw)
        action = pending.action
        if isinstance(action, AppendToRecord):
            self._touched.add(action.record_id)
        elif isinstance(action, CreateRecord):
            self._opens += 1
        if not isinstance(action, SkipMessage):
            self._message_ids.add(action.message.message_id)
        if len(self._items) >= self.size or self._bytes >= BATCH_BYTES:
            self.commit()

    def may_change(self, reading: Reading) -> bool:
        """Whether committing the batch may change the decision on the message *reading* is
        about: its evidence names a record the batch adds to, or one that does not exist (yet)
        while the batch opens records that may get its ID; or its In-Reply-To/References name a
        message of the batch. Such a message is decided after the batch's commit."""
        touched, opens = self._touched, self._opens
        if not touched and not opens:
            return False
        for evidence in reading.found.evidence:
            if evidence.record_id in touched or (
                opens and not evidence.found and self._may_open(evidence.record_id, opens)
            ):
                return True
        return not self._message_ids.isdisjoint(reading.thread)

    def _may_open(self, record_id: int, opens: int) -> bool:
        """Whether a batch opening *opens* records may give one of them the ID *record_id*.

        Stores that know the IDs of their next records (:meth:`~mailtrack.abc.RecordStore.next_record_ids`)
        tell, asked once per batch (its records get the IDs from the first on); for others it
        may. Another writer opening records meanwhile (another run of ``run_all``, another
        process) shifts those IDs, the same race as its commit landing just before or after a
        message is decided.
        """
        if self._next_ids is None:
            ids = self.store.next_record_ids(1)
            self._next_ids = ids if isinstance(ids, range) else "unknown"
        if self._next_ids == "unknown":
            return True
        first = self._next_ids.start
        return first <= record_id < first + opens

    def commit(self) -> None:
        """Commit the batch in one transaction, then mark its messages for deletion.

        A batch the store refuses is committed again one message at a time, so that one bad
        message is quarantined alone.

        Raises:
            RunStopped: the store failed.
        """
        batch, self._items, self._bytes = self._items, [], 0
        self._touched, self._opens, self._message_ids = set(), 0, set()
        self._next_ids = None
        if not batch:
            return
        if len(batch) == 1:
            self.commit_alone(batch[0])
            return
        name = self.policy.interface.name
        try:
            results = self.store.commit_many([(name, item.key, item.action) for item in batch])
        except (StoreError, RecordNotFoundError):
            logger.info("committing a batch of %d failed; committing its messages one by one", len(batch))
            for item in batch:
                try:
                    done = self.store.is_imported(name, item.key)
                except StoreError as exc:
                    raise RunStopped(f"the record store failed: {exc}") from exc
                if done:  # committed by the batch before it failed (stores that are not all-or-nothing)
                    self.outcomes.committed(item.info, item.key, _assumed_result(item.action))
                else:
                    self.commit_alone(item)
            return
        self.outcomes.finished([item.key for item in batch])
        for item, result in zip(batch, results, strict=True):
            self.outcomes.committed(item.info, item.key, result)

    def commit_alone(self, item: Pending) -> None:
        """Commit one message in a transaction of its own (quarantined when the store fails).

        Raises:
            RunStopped: the store failed for the quarantine too.
        """
        self._next_ids = None
        try:
            name = self.policy.interface.name
            result, note = commit_or_open(self.store, self.policy, name, item.key, item.action)
        except StoreError as exc:
            reason = f"the record store could not save it: {exc}"
            self.outcomes.quarantine(item.info, item.key, item.raw, reason)
            return
        if note is not None:
            self.outcomes.tally.note(f"{label(item.info, item.key)}: {note}")
        self.outcomes.finished([item.key])
        self.outcomes.committed(item.info, item.key, result)


def _assumed_result(action: ImportAction) -> CommitResult:
    """The outcome of an action a failed batch had committed before it failed (its own result
    was lost with the batch): what the action asked for. A Message-ID that was a detail already
    (``DUPLICATE``) is then counted as created or appended; the store is right either way."""
    if isinstance(action, SkipMessage):
        return CommitResult(outcome=CommitOutcome.SKIPPED)
    if isinstance(action, AppendToRecord):
        return CommitResult(outcome=CommitOutcome.APPENDED, record_id=action.record_id)
    return CommitResult(outcome=CommitOutcome.CREATED)
