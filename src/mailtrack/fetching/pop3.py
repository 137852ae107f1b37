"""POP3 fetching: :class:`POP3Fetcher`.

The session speaks POP3 (RFC 1939, RFC 2449, RFC 2595) over our own small wire layer
(:mod:`._wire`) rather than through :class:`poplib.POP3`, for reasons that each matter here:
poplib refuses lines longer than 2048 bytes (real mail has longer ones, and raising the
module-wide ``poplib._MAXLINE`` would change every other user of poplib in the process), its TLS
defaults verify neither certificate nor host name, it leaks the socket when the greeting is
``-ERR``, and it cannot separate sending a command from reading its reply, which pipelining needs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import ClassVar

import attrs

from ..config import MailInterface, Security
from ..exceptions import FetchError, MailtrackError
from ..models import ConnectionCheck, MessageInfo
from ._errors import WireError, reply_text
from ._pipeline import Pipeline
from ._session import Session, password_of, translate, where

__all__ = ["POP3Fetcher"]

logger = logging.getLogger(__name__)


@attrs.define
class POP3Fetcher:
    """A :class:`~mailtrack.abc.Fetcher` for one POP3 mailbox.

    Security follows :attr:`MailInterface.security <mailtrack.MailInterface.security>`:

    * ``Security.SSL``: implicit TLS from the first byte (POP3S, port 995 by default).
    * ``Security.STARTTLS``: a plain connection upgraded with STLS before the login. When the
      server does not announce STLS in CAPA, or refuses it, :class:`~mailtrack.SecurityError` is
      raised and neither login name nor password has been sent.
    * ``Security.NONE``: no encryption; the password crosses the network in clear text.

    TLS always verifies the certificate chain (against :attr:`~mailtrack.MailInterface.ca_file`,
    else the system's trust store) and the host name. The login is USER/PASS, or APOP when
    :attr:`~mailtrack.MailInterface.apop` is set. :attr:`~mailtrack.MailInterface.timeout`
    bounds the connect and every single read and write.

    Listing: every message the server names in both UIDL and LIST, by number. A message that
    only one of the two names (a server whose mailbox changed between the two commands, or a
    broken one) is left out of this run and stays on the server; so is a second message with a
    UID already seen, because the UID is what the ledger remembers. A server without UIDL still
    works: every :class:`~mailtrack.MessageInfo` then has ``uid=None`` and the importer keys the
    ledger by a digest of the content. That costs a lot with ``leave_copy``: the importer has to
    download every message on the server on every run to learn its digest.

    Messages are yielded as the server sent them (CRLF line ends), with byte-stuffing undone
    and no limit on line length. Any error in the middle of a session ends it without QUIT, so
    that the server makes none of the deletions asked for.

    When the server announces PIPELINING (RFC 2449), RETR commands go out in windows (at most
    64 commands and 8 MB of announced message size ahead of the replies), and the deletions are
    sent in windows too, at the end of the session, followed by QUIT once every DELE was
    confirmed. Without PIPELINING every command waits for the reply to the one before.

    Args:
        interface: the mailbox to talk to.
    """

    #: :meth:`delete` only notes the message (the DELEs go out at ``close``): it may be called
    #: from another thread while :meth:`retrieve_many` runs, which lets the importer retrieve ahead.
    marks_deletions_locally: ClassVar[bool] = True

    _interface: MailInterface
    _session: Session | None = attrs.field(default=None, init=False, repr=False)
    #: Numbers of the messages marked for deletion; the DELEs go out at ``close(commit=True)``.
    _deletions: list[int] = attrs.field(factory=list, init=False, repr=False)
    _failure: str | None = attrs.field(default=None, init=False, repr=False)

    # -- Fetcher protocol -----------------------------------------------------------------------

    def open(self) -> Sequence[MessageInfo]:
        """Connect, secure the connection, log in and list the mailbox.

        Returns:
            The messages in the mailbox, by number.

        Raises:
            SecurityError: TLS failed or STLS is not available; nothing was sent.
            AuthenticationError: the server refused the login name or password.
            ServerBusyError: the mailbox is locked or the server asked to come back later.
            FetchError: any other connection or server problem.
            ConfigError: the password cannot be read (``password_env``, ``password_file``) or
                contains a line break; nothing was sent.
        """
        if self._session is not None:
            raise FetchError(f"{self._where}: the session is open already")
        self._deletions = []
        self._failure = None
        with self._failing():
            password = password_of(self._interface)
            self._session = session = Session.connect(self._interface)
            session.login(password)
            session.capabilities, session.capa_answered = session.ask_capabilities()
            return session.listing()

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        """Yield each given message with its raw bytes, in the given order.

        With PIPELINING the RETRs run a window ahead of the replies; a consumer that stops early
        leaves the session usable (the replies still outstanding are read and dropped).

        Raises:
            FetchError: the connection failed or the server refused a message, or a reply grew
                beyond twice ``max_message_bytes`` ("larger than announced"). Messages already
                yielded stay valid; the session is over.
        """
        session = self._require_session()
        pipeline = Pipeline(
            session.wire,
            messages,
            command=lambda info: f"RETR {info.number}",
            read=session.receive_message,
            size=lambda info: info.size,
            window=session.window,
        )
        finished = False
        try:
            while True:
                with self._failing():
                    item = next(pipeline, None)
                if item is None:
                    finished = True
                    return
                yield item
        finally:
            if not finished and self._session is session and pipeline.outstanding:
                try:
                    with self._failing():
                        pipeline.drain()
                except FetchError:
                    logger.debug("%s: reading the rest of a window failed", self._where, exc_info=True)

    def delete(self, message: MessageInfo) -> None:
        """Mark *message* for deletion; the server deletes it at ``close(commit=True)``.

        The DELE commands themselves are sent by ``close(commit=True)``, in windows when the
        server pipelines, just before QUIT: a DELE only marks a message, and only QUIT makes
        the marks final, so nothing changes on the server in between. This touches no socket,
        so it may be called while :meth:`retrieve_many` runs in another thread.

        Raises:
            FetchError: the session is not open (it ended after an error, or was never opened).
        """
        self._require_session()
        self._deletions.append(message.number)

    def close(self, *, commit: bool) -> None:
        """End the session.

        ``commit=True`` sends QUIT, which makes the deletions final. ``commit=False`` drops the
        connection without QUIT, so that the server keeps every message. Closing twice is harmless.

        Raises:
            FetchError: ``commit=True`` and the server answered QUIT with ``-ERR`` or the connection
                failed before its answer, or the session had failed earlier while deletions were
                pending: the deletions may not have happened.
        """
        session, self._session = self._session, None
        marked, self._deletions = self._deletions, []
        deletions = len(marked)
        if session is None:
            if commit and self._failure is not None and deletions:
                raise FetchError(
                    f"{self._where}: {deletions} deletion(s) were not made, because the session had "
                    f"failed: {self._failure}"
                )
            return
        if not commit:
            session.wire.close()
            return
        try:
            session.send_deletions(marked)
        except MailtrackError:
            session.wire.close()
            raise
        except (OSError, WireError) as exc:
            session.wire.close()
            raise FetchError(
                f"{self._translate(exc)}; the {deletions} deletion(s) asked for were not made"
            ) from exc
        try:
            session.wire.send("QUIT")
            reply = session.wire.read_reply()
        except (OSError, WireError) as exc:
            raise FetchError(
                f"{self._translate(exc)}; the {deletions} deletion(s) asked for may not have happened"
            ) from exc
        finally:
            session.wire.close()
        if not reply.ok:
            raise FetchError(
                f"{self._where}: the server did not confirm the end of the session (QUIT); the "
                f"{deletions} deletion(s) asked for may not have happened (the server said: "
                f"{reply_text(reply.line)})"
            )

    def check(self) -> ConnectionCheck:
        """Connect, secure the connection, log in, ask for CAPA and STAT, and log out.

        Never raises for connection, security or login problems: they are in the result's
        ``error``, in plain words.
        """
        interface = self._interface
        warnings: list[str] = []
        if interface.security is Security.NONE and interface.apop:
            warnings.append(
                'the connection is not encrypted (security = "none"): the messages cross the network '
                'in clear text, and APOP protects the password only weakly (MD5); use security = "ssl" '
                'or "starttls" if the server offers them'
            )
        elif interface.security is Security.NONE:
            warnings.append(
                'the password is sent unencrypted (security = "none"): anybody on the network path '
                'can read it; use security = "ssl" or "starttls" if the server offers them'
            )
        session: Session | None = None
        capabilities: dict[str, tuple[str, ...]] = {}
        capa_answered = False
        tls_version: str | None = None
        count: int | None = None
        size: int | None = None
        error: str | None = None
        try:
            password = password_of(interface)
            session = Session.connect(interface)
            tls_version = session.wire.tls_version
            capabilities, capa_answered = session.capabilities, session.capa_answered
            session.login(password)
            after_login, answered = session.ask_capabilities()
            if answered:
                capabilities, capa_answered = after_login, True
            count, size = session.stat()
            with contextlib.suppress(OSError, WireError):  # all was learned; QUIT is politeness
                session.wire.send("QUIT")
                session.wire.read_reply()
        except MailtrackError as exc:
            error = str(exc)
        except (OSError, WireError) as exc:
            error = str(self._translate(exc))
        finally:
            if session is not None:
                session.wire.close()
        expire = _expire(capabilities)
        if error is None:
            warnings.extend(self._check_warnings(capabilities, capa_answered, expire))
        return ConnectionCheck(
            interface=interface.name,
            ok=error is None,
            error=error,
            message_count=count,
            mailbox_bytes=size,
            capabilities=tuple(capabilities),
            expire=expire,
            tls_version=tls_version,
            warnings=tuple(warnings),
        )

    def _check_warnings(
        self, capabilities: dict[str, tuple[str, ...]], capa_answered: bool, expire: str | None
    ) -> list[str]:
        warnings: list[str] = []
        leave_copy = self._interface.leave_copy
        if leave_copy and expire == "0":
            warnings.append(
                "the server announces EXPIRE 0: it deletes every message once it was retrieved, "
                "so leave_copy cannot keep copies on the server"
            )
        elif leave_copy and expire is not None and expire.upper() != "NEVER":
            warnings.append(
                f"the server announces EXPIRE {expire}: it deletes retrieved messages after "
                f"{expire} day(s), whatever leave_copy says"
            )
        if capa_answered and "UIDL" not in capabilities:
            warnings.append(
                "the server does not announce UIDL: every message is downloaded on every run to "
                "tell old from new" + (", which leave_copy makes costly" if leave_copy else "")
            )
        return warnings

    # -- the session ------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return where(self._interface)

    def _translate(self, exc: OSError | WireError) -> FetchError:
        return translate(self._interface, exc)

    # -- errors -----------------------------------------------------------------------------------

    def _require_session(self) -> Session:
        if self._session is None:
            if self._failure is not None:
                raise FetchError(f"{self._where}: the session ended after an error: {self._failure}")
            raise FetchError(f"{self._where}: the session is not open (call open() first)")
        return self._session

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """Translate errors; on any error drop the connection without QUIT."""
        try:
            yield
        except MailtrackError as exc:
            self._abandon(str(exc))
            raise
        except (OSError, WireError) as exc:
            error = self._translate(exc)
            self._abandon(str(error))
            raise error from exc
        except BaseException:
            self._abandon("the session was interrupted")
            raise

    def _abandon(self, reason: str) -> None:
        self._failure = reason
        session, self._session = self._session, None
        if session is not None:
            session.wire.close()


def _expire(capabilities: dict[str, tuple[str, ...]]) -> str | None:
    args = capabilities.get("EXPIRE")
    return args[0] if args else None
