"""IMAP IDLE (RFC 2177): a thread per watched folder that says when new mail arrived.

:class:`IdleWatcher` keeps one connection of its own (the folder is EXAMINEd, read-only: it
never changes anything), re-issues IDLE before the 29 minutes after which a server may drop an
idle client, and reconnects after a dropped connection with a growing pause (1 s doubling up to
5 minutes). It only tells (``on_mail``); the import itself is an ordinary run on a session of its
own, with the ledger, the lease and the batches as always.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import attrs

from ..config import MailInterface
from ..exceptions import MailtrackError
from ._credentials import Credentials, HostTokens
from ._errors import WireError
from ._imapauth import log_in
from ._imapsession import IMAPSession, StopSignal
from ._session import translate

__all__ = ["IDLE_RENEW", "IdleWatcher"]

logger = logging.getLogger("mailtrack.fetching.imap")

#: IDLE is ended and issued again after this many seconds (servers may drop a client idle for 30 min).
IDLE_RENEW = 25 * 60.0
BACKOFF_FIRST = 1.0
BACKOFF_MOST = 300.0


@attrs.define
class IdleWatcher:
    """Calls *on_mail* (from its own thread) when the folder of *interface* gets new mail.

    Args:
        interface: an IMAP interface.
        stop: ends the watcher (its IDLE is ended with DONE, its connection closed).
        on_mail: called after new mail arrived, and after a reconnection (mail may have arrived
            while the connection was down).
    """

    interface: MailInterface
    stop: StopSignal
    on_mail: Callable[[], None]
    #: The host application's OAuth 2.0 token source (``None``: as the interface's settings say).
    token_source: HostTokens | None = attrs.field(default=None, kw_only=True, repr=False)
    #: Whether an IDLE connection is up (False while connecting, after a failure, or when the
    #: server has no IDLE: the folder is then only polled).
    idling: bool = attrs.field(default=False, init=False)
    #: Why the last connection failed, or why there is no IDLE; ``None`` while all is well.
    problem: str | None = attrs.field(default=None, init=False)
    _thread: threading.Thread | None = attrs.field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._watch, name=f"mailtrack-idle-{self.interface.name}", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _watch(self) -> None:
        backoff = BACKOFF_FIRST
        connected_before = False
        while not self.stop.is_set():
            try:
                if not self._idle_session(catch_up=connected_before):
                    return  # no IDLE on this server: polled only
                connected_before = True
                backoff = BACKOFF_FIRST
            except MailtrackError as exc:
                self.problem = str(exc)
            except (OSError, WireError) as exc:
                self.problem = str(translate(self.interface, exc))
            except Exception as exc:  # a watcher thread must never die silently
                logger.exception("the IDLE watcher of interface %r failed", self.interface.name)
                self.problem = f"{type(exc).__name__}: {exc}"
            self.idling = False
            if self.stop.is_set():
                return
            logger.warning(
                "interface %r: the IDLE connection failed (%s); reconnecting in %g s",
                self.interface.name,
                self.problem,
                backoff,
            )
            if self.stop.wait(backoff):
                return
            backoff = min(2 * backoff, BACKOFF_MOST)

    def _idle_session(self, *, catch_up: bool) -> bool:
        """One connection: IDLE until stopped; False when the server has no IDLE.

        The credentials are read anew for every connection: an OAuth 2.0 access token that
        expired while the last connection idled is refreshed before the reconnection signs in.
        """
        interface = self.interface
        credentials = Credentials.read(interface, self.token_source)
        session = IMAPSession.connect(interface)
        try:
            session.give(4 * interface.timeout)
            log_in(session, credentials)
            session.select(interface.folder, read_only=True)
            if "IDLE" not in session.capabilities:
                self.problem = "the server does not offer IDLE; the folder is polled"
                logger.info("interface %r: %s", interface.name, self.problem)
                return False
            self.idling, self.problem = True, None
            if catch_up:
                self.on_mail()
            while not self.stop.is_set():
                if session.idle(self.stop, IDLE_RENEW):
                    self.on_mail()
            return True
        finally:
            self.idling = False
            session.wire.close()
