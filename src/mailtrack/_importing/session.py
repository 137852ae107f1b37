"""The run of one mailbox, from the lease to the session's end.

:func:`run_mailbox` is :meth:`mailtrack.Importer.run`: it checks the sender policy, takes the
mailbox's lease, opens the session and hands the listing to a :class:`~.run.MailboxRun` (which
takes each message from the listing to the store). The session's end (QUIT) makes the deletions
final; a session that failed or was interrupted is dropped without it, so that the server keeps
every message. The run's report is saved last.
"""

from __future__ import annotations

import logging

from ..abc import Fetcher
from ..config import MailInterface
from ..exceptions import ConfigError, FetchError, StoreError
from ..models import RunReport
from .lease import Lease, take_lease
from .outcome import RunStopped
from .policy import check_sender_policy
from .run import MailboxRun, abandon
from .settings import Setup
from .tally import Tally, log_summary, save_report
from .workers import WorkerPool

__all__ = ["UNCONFIRMED_DELETIONS", "run_mailbox"]

logger = logging.getLogger("mailtrack")

UNCONFIRMED_DELETIONS = "the server did not confirm the deletions; they will be retried next run"


def run_mailbox(
    setup: Setup,
    interface: MailInterface,
    pool: WorkerPool | None,
    *,
    tally: Tally | None = None,
    lease_name: str | None = None,
) -> RunReport:
    """Import the new messages of *interface*, converting on *pool* when it is given (shared by
    the runs of ``run_all``); see :meth:`mailtrack.Importer.run`.

    Args:
        tally: the run's tally, when the caller made it (to let its fetcher add notes).
        lease_name: the lease the run takes (by default the interface's name; an archive
            import takes ``NAME#import``, so that it does not keep the mailbox's polls waiting).
    """
    if tally is None:
        tally = Tally(interface=interface.name, started_at=setup.clock())
    if setup.stop.is_set():
        tally.stopped = True
        tally.note("not started: the importer was asked to stop")
        return tally.report(setup.clock())
    try:
        _run_leased(setup, interface, tally, pool, lease_name or interface.name)
    except (KeyboardInterrupt, SystemExit):
        tally.error = f"the run was interrupted; messages not yet imported stay {tally.kept.where}"
        save_report(setup.store, tally.report(setup.clock()))
        raise
    except Exception as exc:
        logger.exception("unexpected error while importing from interface %r", interface.name)
        tally.error = f"unexpected error while importing ({type(exc).__name__}: {exc}); see the log"
    report = tally.report(setup.clock())
    if report.busy:
        # The worker holding the lease saves the report that counts; this one did nothing.
        logger.info("interface %r: %s; skipped", report.interface, report.error)
        return report
    report = save_report(setup.store, report)
    log_summary(report)
    return report


def _run_leased(
    setup: Setup, interface: MailInterface, tally: Tally, pool: WorkerPool | None, lease_name: str
) -> None:
    try:
        check_sender_policy(interface, setup.sender_authorizer)
    except ConfigError as exc:
        tally.error = str(exc)
        return
    try:
        lease = take_lease(setup.store, lease_name, setup.worker_id, setup.lease_seconds, tally)
    except StoreError as exc:
        tally.error = f"the record store failed, nothing was imported: {exc}"
        return
    if lease is None:
        return
    try:
        _session(setup, interface, tally, lease, pool)
    finally:
        lease.release()


def _session(
    setup: Setup, interface: MailInterface, tally: Tally, lease: Lease, pool: WorkerPool | None
) -> None:
    fetcher: Fetcher | None = None
    try:
        fetcher = setup.fetcher_factory(interface)
        listing = fetcher.open()
    except (FetchError, ConfigError) as exc:
        tally.error = str(exc)
        if fetcher is not None:
            abandon(fetcher)
        return
    except BaseException:
        if fetcher is not None:
            abandon(fetcher)
        raise
    try:
        MailboxRun.start(setup, interface, fetcher, tally, lease).import_listing(listing, pool)
    except FetchError as exc:
        abandon(fetcher)
        tally.error = (
            f"the connection to the mail server failed during the import: {exc}; "
            f"messages not yet imported stay {tally.kept.where} for the next run"
        )
        return
    except RunStopped as stop:
        tally.error = str(stop)
    except BaseException:
        abandon(fetcher)
        raise
    # Only messages the store committed were marked for deletion, so QUIT is safe even
    # after the store failed.
    try:
        fetcher.close(commit=True)
    except Exception as exc:
        if not isinstance(exc, FetchError):
            logger.exception("closing the session of interface %r failed", interface.name)
        if tally.error is None:
            tally.error = UNCONFIRMED_DELETIONS
        else:
            tally.note(UNCONFIRMED_DELETIONS)
