"""``Importer.watch``: keep importing until stopped, at once where IMAP IDLE tells of new mail.

Every interface is polled at ``every`` seconds (POP3, IMAP servers without IDLE, and IMAP folders
with IDLE too, as a safety net); an IMAP folder whose server offers IDLE is run as soon as its
:class:`~mailtrack.fetching._imapidle.IdleWatcher` tells of new mail. The list of interfaces is
read again every ``refresh`` seconds: interfaces added start being watched, edited ones are
watched with their new settings, disabled or removed ones are let go. Runs are ordinary runs
(one at a time, each under its lease), so several workers on one database never import one
mailbox at once; and an IDLE connection is kept only by the worker that holds the folder's
*watch lease* (``<interface>#idle`` in the store's leases, renewed at every ``refresh``): the
other workers poll that folder at ``every`` and take the watch over when its holder is gone.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from ..config import MailInterface, MailProtocol
from ..models import RunReport
from .session import run_mailbox
from .settings import Setup
from .stopping import StopRequest

if TYPE_CHECKING:
    from ..fetching._imapidle import IdleWatcher

__all__ = ["Watch"]

logger = logging.getLogger("mailtrack")

#: Longest the loop sleeps before it looks at the stop request again.
TICK = 0.5
#: The suffix of a watch lease's name (the interface's name is cut so that the whole fits a key).
WATCH_LEASE = "#idle"


def watch_lease(name: str) -> str:
    """The name of the lease that lets one worker keep the IDLE connection of interface *name*."""
    return name[: 255 - len(WATCH_LEASE)] + WATCH_LEASE


@attrs.define
class _Watched:
    interface: MailInterface
    next_poll: float
    stop: StopRequest | None = None
    watcher: IdleWatcher | None = None


@attrs.define
class Watch:
    """The watch loop of one importer (see the module)."""

    setup: Setup
    source: Callable[[], Iterable[MailInterface]]
    every: float
    refresh: float
    on_report: Callable[[RunReport], None] | None = None
    _watched: dict[str, _Watched] = attrs.field(factory=dict, init=False)
    _due: queue.SimpleQueue[str] = attrs.field(factory=queue.SimpleQueue, init=False)

    def run(self) -> None:
        """Watch until the importer is stopped."""
        stop = self.setup.stop
        next_refresh = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_refresh:
                    self._sync()
                    self._hold_watch_leases()
                    # Often enough that the watch leases never run out while this worker lives.
                    next_refresh = now + min(self.refresh, self.setup.lease_seconds / 3)
                for name in self._names_due(now):
                    if stop.is_set():
                        break
                    self._run(name)
                wake = min([next_refresh, *(watched.next_poll for watched in self._watched.values())])
                self._wait(max(0.0, min(wake - time.monotonic(), TICK)))
        finally:
            for watched in self._watched.values():
                self._let_go(watched)
            self._watched.clear()

    def _names_due(self, now: float) -> list[str]:
        names = [name for name, watched in self._watched.items() if watched.next_poll <= now]
        while True:
            try:
                names.append(self._due.get_nowait())
            except queue.Empty:
                return list(dict.fromkeys(names))

    def _wait(self, seconds: float) -> None:
        with contextlib.suppress(queue.Empty):
            self._due.put(self._due.get(timeout=seconds))  # back in, for _names_due

    def _run(self, name: str) -> None:
        watched = self._watched.get(name)
        if watched is None:
            return
        watched.next_poll = time.monotonic() + self.every
        report = run_mailbox(self.setup, watched.interface, None)
        if self.on_report is not None:
            try:
                self.on_report(report)
            except Exception:
                logger.exception("the on_report callback of watch failed")

    def _sync(self) -> None:
        """Take up the interfaces as they are now (added, edited, disabled, removed)."""
        try:
            current = {
                interface.name: interface
                for interface in self.source()
                if interface.enabled and interface.protocol is not MailProtocol.DELIVER  # nothing to poll
            }
        except Exception:
            logger.exception("the interfaces to watch could not be read; watching those known before")
            return
        for name in [name for name in self._watched if name not in current]:
            logger.info("interface %r is no longer watched (removed or disabled)", name)
            self._let_go(self._watched.pop(name))
        for name, interface in current.items():
            watched = self._watched.get(name)
            if watched is not None and watched.interface == interface:
                continue
            if watched is not None:
                logger.info("interface %r was changed; watching it with its new settings", name)
                self._let_go(watched)
            self._watched[name] = _Watched(interface=interface, next_poll=0.0)

    def _hold_watch_leases(self) -> None:
        """Renew the watch leases this worker holds; take those that are free, and start IDLE."""
        setup = self.setup
        for name, watched in self._watched.items():
            if watched.interface.protocol is not MailProtocol.IMAP:
                continue
            try:
                held = setup.store.acquire_lease(watch_lease(name), setup.worker_id, setup.lease_seconds)
            except Exception:
                logger.exception("the watch lease of interface %r could not be taken or renewed", name)
                held = False
            if held and watched.watcher is None:
                self._start_idle(watched)
            elif not held and watched.watcher is not None:
                logger.warning("interface %r: another worker watches it now; polling it", name)
                self._let_go(watched)

    def _start_idle(self, watched: _Watched) -> None:
        from ..fetching._imapidle import IdleWatcher

        name = watched.interface.name
        watched.stop = StopRequest()
        watcher = IdleWatcher(watched.interface, watched.stop, lambda: self._due.put(name))
        watcher.start()
        watched.watcher = watcher

    def _let_go(self, watched: _Watched) -> None:
        """Stop the folder's IDLE watcher (if any) and give up its watch lease."""
        if watched.stop is not None:
            watched.stop.set()
        if watched.watcher is not None:
            watched.watcher.join(5 * watched.interface.timeout)
            watched.watcher, watched.stop = None, None
            setup = self.setup
            try:
                setup.store.release_lease(watch_lease(watched.interface.name), setup.worker_id)
            except Exception:
                logger.exception(
                    "the watch lease of interface %r could not be released", watched.interface.name
                )
