"""One session's messages, from the listing to the store.

A :class:`MailboxRun` holds everything one session works with (fetcher, interface, tally,
lease, policy, batch, conversions); :mod:`.session` opens the session and hands it the listing.
The messages flow through it in one direction:

1. :meth:`MailboxRun.import_listing` sorts the listing: what the ledger or the quarantine holds
   is skipped (or rechecked, when the importer empties the mailbox), oversized mail is left.
2. :meth:`MailboxRun._stream` retrieves the rest (ahead, in a thread, for long listings) and
   starts converting each message (in worker processes where that pays).
3. :meth:`MailboxRun._settle` takes back finished conversions in order, and
   :meth:`MailboxRun._take` asks the policy; a decided message joins the batch, a quarantined
   one is kept with its raw bytes.
4. The batch is committed in one transaction when full, overdue, or before a message whose
   decision it may change; only then are its messages marked for deletion, and the session's
   end (QUIT) makes the deletions final.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Iterator, Sequence

import attrs

from ..abc import Fetcher, MarksDeletionsLocally
from ..config import MailInterface
from ..exceptions import FetchError, StoreError
from ..models import IncomingMessage, MessageInfo
from .attachments import screen
from .batch import Batch, Pending
from .conversions import Conversions, Ticket, start_pool
from .crashes import CrashGuard, crash_reason
from .lease import Lease
from .listing import sort_listing
from .outcome import Held, LeaseLost, Outcomes, RunStopped
from .policy import Decision, Policy, Quarantine
from .recheck import digest_of, recheck_key, reused_uid_note, same_message
from .settings import Setup
from .tally import Tally, defects_note, label
from .threads import Prefetch
from .workers import WorkerPool

__all__ = ["MailboxRun", "abandon"]

logger = logging.getLogger("mailtrack")

#: Most raw bytes handed to conversion workers and not yet taken back.
IN_FLIGHT_BYTES = 32 * 1024 * 1024
#: From this many messages to retrieve on, a thread retrieves ahead of the conversion and the
#: store (at most PREFETCH_MESSAGES / PREFETCH_BYTES ahead), so the network never waits for them.
PREFETCH_FROM = 16
PREFETCH_MESSAGES = 64
PREFETCH_BYTES = 16 * 1024 * 1024


def abandon(fetcher: Fetcher) -> None:
    """Drop the session without QUIT: the server keeps every message."""
    try:
        fetcher.close(commit=False)
    except Exception:
        logger.debug("dropping the session failed", exc_info=True)


@attrs.define
class _InFlight:
    """A retrieved message whose conversion has started."""

    info: MessageInfo
    key: str
    raw: bytes
    ticket: Ticket


@attrs.define
class MailboxRun:
    """One session with one mailbox: its messages between the listing and the store."""

    setup: Setup
    interface: MailInterface
    fetcher: Fetcher
    tally: Tally
    #: ``None`` for a message delivered by a host or an MTA (:mod:`.delivery`): deliveries run
    #: side by side, and the ledger keeps each once.
    lease: Lease | None
    policy: Policy
    outcomes: Outcomes
    batch: Batch
    guard: CrashGuard
    conversions: Conversions | None = None
    in_flight: collections.deque[_InFlight] = attrs.Factory(collections.deque)
    in_flight_bytes: int = 0

    @classmethod
    def start(
        cls,
        setup: Setup,
        interface: MailInterface,
        fetcher: Fetcher,
        tally: Tally,
        lease: Lease | None,
        *,
        recipient: str | None = None,
    ) -> MailboxRun:
        """The run of a session that is open and leased.

        Args:
            recipient: the envelope recipient the mail server delivered to (``deliver``), for
                routing and the own-address check.
        """
        store = setup.store
        policy = Policy(
            interface=interface,
            store=store,
            matcher=setup.matcher,
            sender_authorizer=setup.sender_authorizer,
            recipient=recipient,
        )
        guard = CrashGuard(store, interface.name, interface.policy.max_crashes)
        outcomes = Outcomes(
            store=store,
            interface=interface,
            fetcher=fetcher,
            tally=tally,
            on_committed=setup.on_committed,
            guard=guard,
        )
        batch = Batch(
            store=store,
            policy=policy,
            outcomes=outcomes,
            size=setup.throughput.batch_size,
            wait=setup.throughput.batch_wait,
        )
        return cls(setup, interface, fetcher, tally, lease, policy, outcomes, batch, guard)

    # -- the listing -----------------------------------------------------------------------------

    def import_listing(self, listing: Sequence[MessageInfo], pool: WorkerPool | None) -> None:
        """Import what the listing holds that the store does not, converting on *pool* (shared)
        or on worker processes of this run's own."""
        self.tally.listed = len(listing)
        wanted, recheck = sort_listing(listing, self.setup.store, self.interface, self.outcomes, self.tally)
        self.guard.look_up(
            [info.uid for info in wanted if info.uid is not None and info.number not in recheck]
        )
        if pool is not None:
            self.conversions = Conversions(self.setup.converter, pool, owns_pool=False)
        else:
            # Now, before the thread that retrieves ahead: how they start suits the process as it is.
            setup = self.setup
            workers = 0 if setup.stop.is_set() else setup.throughput.workers_for(len(wanted), setup.converter)
            own = start_pool(setup.converter, workers, setup.throughput.conversion_start_method)
            self.conversions = Conversions(setup.converter, own, owns_pool=True)
        interrupted = True
        try:
            self._stream(wanted, recheck)
            interrupted = False
        finally:
            self.conversions.close(now=interrupted)
            # Still alive: every conversion this run began has finished.
            self.guard.close()

    # -- the stream: retrieve, convert, decide, batch -----------------------------------------

    def _stream(self, wanted: list[MessageInfo], recheck: dict[int, Held]) -> None:
        """Retrieve, convert, decide and commit, the stages overlapping within bounds."""
        retrieved: Iterator[tuple[MessageInfo, bytes]] = self.fetcher.retrieve_many(wanted)
        fetcher = self.fetcher
        if (
            len(wanted) >= PREFETCH_FROM
            and isinstance(fetcher, MarksDeletionsLocally)
            and fetcher.marks_deletions_locally is True
        ):
            # Its delete() touches no connection (POP3Fetcher sends the DELEs at close), so
            # deletions may be marked here while that thread retrieves.
            retrieved = Prefetch(
                retrieved,
                size=lambda item: len(item[1]),
                max_items=PREFETCH_MESSAGES,
                max_bytes=PREFETCH_BYTES,
                name=f"mailtrack-retrieve-{self.interface.name}",
            )
        try:
            self._consume(retrieved, recheck)
        except (KeyboardInterrupt, SystemExit):
            # Drop the connection first, so that a thread waiting for a stalled server stops now.
            abandon(self.fetcher)
            raise
        finally:
            # Before the session ends: a pipelining fetcher reads the replies still on their way
            # (the connection stays in step for the DELEs), and the prefetching thread stops.
            close = getattr(retrieved, "close", None)
            if close is not None:
                close()

    def _consume(self, retrieved: Iterator[tuple[MessageInfo, bytes]], recheck: dict[int, Held]) -> None:
        try:
            for info, raw in retrieved:
                # The batch waited while this message came in: commit it first if that was long.
                if self.batch.overdue():
                    self.batch.commit()
                held = recheck.get(info.number)
                if held is None:
                    self._start(info, raw)
                else:
                    # Rare: looked at on its own, against a store holding everything before it.
                    self._settle(everything=True)
                    self.batch.commit()
                    self._recheck(info, raw, held)
                self._settle(everything=False)
                if self.setup.stop.is_set():
                    self.tally.stopped = True
                    where = self.tally.kept.where
                    self.tally.note(f"stopped on request; the messages not yet retrieved stay {where}")
                    break
                try:
                    if self.lease is not None:
                        self.lease.renew()
                except LeaseLost:
                    # The batch is committed all the same, as it would have been message by
                    # message: the ledger keeps each message once, whoever commits it too.
                    self.batch.commit()
                    raise
        except FetchError:
            # What was retrieved before the connection failed is imported all the same; its
            # deletions die with the session, and the next run deletes it by the ledger.
            self._settle(everything=True)
            self.batch.commit()
            raise
        self._settle(everything=True)
        self.batch.commit()

    def _start(self, info: MessageInfo, raw: bytes) -> None:
        """Start converting a retrieved message (unless its content key shows it was handled;
        a suspect of a crash is converted alone)."""
        assert self.conversions is not None
        if info.uid is not None:
            key = info.uid
        else:
            # Without UIDL the content is the key: the same bytes are the same message.
            key = "sha256:" + hashlib.sha256(raw).hexdigest()
            if self.outcomes.skip_if_held(info, key):
                return
            self.guard.learn(key)
        if self.guard.attempts(key):
            self._suspect(info, key, raw)
            return
        self.guard.before_converting(key)
        ticket = self.conversions.submit(raw, self.setup.clock())
        self.in_flight.append(_InFlight(info=info, key=key, raw=raw, ticket=ticket))
        self.in_flight_bytes += len(raw)

    def _settle(self, *, everything: bool) -> None:
        """Take back the conversions that are done (or all, or while too many are in flight)."""
        conversions = self.conversions
        assert conversions is not None
        while self.in_flight and (
            everything
            or conversions.done(self.in_flight[0].ticket)
            or len(self.in_flight) > conversions.most_in_flight
            or self.in_flight_bytes > IN_FLIGHT_BYTES
        ):
            item = self.in_flight.popleft()
            self.in_flight_bytes -= len(item.raw)
            try:
                message = conversions.result(item.ticket)
            except Exception as exc:
                self.outcomes.conversion_failed(item.info, item.key, item.raw, exc)
                continue
            pending = self._take(item.info, item.key, item.raw, message)
            if pending is not None:
                self.batch.add(pending)

    def _take(self, info: MessageInfo, key: str, raw: bytes, message: IncomingMessage) -> Pending | None:
        """The message with the action to commit, or ``None`` when it was quarantined."""
        screened = screen(message, self.interface.attachments)
        if screened.quarantine is not None:
            self.outcomes.quarantine(info, key, raw, screened.quarantine)
            return None
        if screened.keep_raw is not None and not self.outcomes.keep_refused(
            info, key, raw, screened.keep_raw
        ):
            return None
        message = screened.message
        if self.setup.history:
            # Old mail moved in: its own Date is its time, and it is marked as history.
            message = attrs.evolve(message, received_at=message.sent_at, history=True)
        if message.defects:
            self.tally.note(f"{label(info, key)}: {defects_note(message.defects)}")
        decision = self._decision(message, info, key)
        for note in decision.notes:
            self.tally.note(f"{label(info, key)}: {note}")
        if isinstance(decision.outcome, Quarantine):
            self.outcomes.quarantine(info, key, raw, decision.outcome.reason)
            return None
        # The ledger keeps the content's digest and listed size: a UID listed again is then told
        # apart for certain from a new message under a reused UID (see .recheck).
        action = attrs.evolve(decision.outcome, digest=digest_of(info, raw))
        return Pending(info=info, key=key, raw=raw, action=action)

    def _decision(
        self, message: IncomingMessage, info: MessageInfo, key: str, *, counted: bool = True
    ) -> Decision:
        """The policy's decision, taken after the batch's commit when the batch may change it;
        a failure to decide is a decision to quarantine.

        Args:
            counted: count the message's class in the tally.
        """
        policy = self.policy
        try:
            message_class = policy.classify(message)
            if counted:
                self.tally.count_class(message_class)
            reading = policy.read(message, message_class)
            if self.batch.may_change(reading):
                self.batch.commit()
                reading = policy.read(message, message_class)
            return policy.decide(reading)
        except RunStopped:
            raise
        except StoreError as exc:
            reason = f"the record store failed while looking up records: {exc}"
        except Exception as exc:
            logger.exception("deciding what to do with %s failed", label(info, key))
            reason = f"deciding what to do with it failed ({type(exc).__name__}: {exc})"
        return Decision(outcome=Quarantine(reason=reason))

    # -- the recheck of a UID the store holds ----------------------------------------------------

    def _recheck(self, info: MessageInfo, raw: bytes, held: Held) -> None:
        """Delete the message the store holds, or import a new one found under its UID."""
        key = recheck_key(info, raw)
        if self.outcomes.skip_if_held(info, key):
            return  # a message under a reused UID, handled in an earlier run
        assert info.uid is not None
        try:
            recorded = None
            if held is Held.LEDGER:
                recorded = self.setup.store.ledger_digests(self.interface.name, [info.uid]).get(info.uid)
            same, converted = same_message(
                raw,
                info,
                held,
                recorded,
                interface=self.interface.name,
                store=self.setup.store,
                converter=self.setup.converter,
                received_at=self.setup.clock(),
                decision=lambda message: self._decision(message, info, key, counted=False),
            )
        except StoreError as exc:
            raise RunStopped(f"the record store failed: {exc}") from exc
        if same:
            self.outcomes.count_held(held)
            if self.outcomes.goes_from_server(held):
                self.fetcher.delete(info)
            return
        certain = held is Held.QUARANTINE or recorded is not None
        self.tally.note(reused_uid_note(info, held, key, certain=certain))
        self._import_alone(info, key, raw, converted)

    def _suspect(self, info: MessageInfo, key: str, raw: bytes) -> None:
        """A message that was being converted when the importer died: converted alone, after
        everything before it was committed, so that a crash now is its own; quarantined unparsed
        once it crashed the importer ``max_crashes`` times (see :mod:`.crashes`)."""
        self._settle(everything=True)
        self.batch.commit()
        self._guarded_alone(info, key, raw)

    def import_one(self, info: MessageInfo, key: str, raw: bytes) -> None:
        """Import one message that came on its own (a delivery), here and now, in a transaction
        of its own, guarded as a run guards each message: one that crashed the importer
        ``max_crashes`` times is quarantined unparsed (an MTA retrying a message that kills
        ``mailtrack deliver`` would otherwise retry it for ever).

        Raises:
            RunStopped: the store failed.
        """
        self.guard.look_up([key])
        try:
            self._guarded_alone(info, key, raw)
        finally:
            self.guard.close()

    def _guarded_alone(self, info: MessageInfo, key: str, raw: bytes) -> None:
        attempts = self.guard.attempts(key)
        if self.guard.crashed_too_often(key):
            self.outcomes.quarantine(info, key, raw, crash_reason(attempts))
            return
        self.guard.before_converting(key)
        self._import_alone(info, key, raw)

    def _import_alone(
        self, info: MessageInfo, key: str, raw: bytes, converted: IncomingMessage | Exception | None = None
    ) -> None:
        """Convert (unless that was *converted* already), decide and commit one message here and
        now, in a transaction of its own."""
        try:
            if isinstance(converted, Exception):
                raise converted
            message = (
                converted
                if converted is not None
                else self.setup.converter.convert(raw, received_at=self.setup.clock())
            )
        except Exception as exc:
            self.outcomes.conversion_failed(info, key, raw, exc)
            return
        pending = self._take(info, key, raw, message)
        if pending is not None:
            self.batch.commit_alone(pending)
