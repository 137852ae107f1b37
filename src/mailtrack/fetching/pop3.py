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
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import attrs

from ..auth._tokens import AccessToken
from ..config import MailInterface, Security
from ..exceptions import FetchError, MailtrackError
from ..models import ConnectionCheck, MessageInfo
from ._credentials import Credentials, HostTokens, clear_text_warning
from ._errors import WireError, reply_text
from ._guard import SessionGuard
from ._pipeline import Pipeline
from ._session import Session

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
    bounds the connect and every single wait for the server; each reply as a whole has
    twice ``timeout`` plus one second per :attr:`~mailtrack.MailInterface.min_transfer_rate` bytes it
    carries, and the session :attr:`~mailtrack.MailInterface.run_timeout`: past a deadline the
    session ends without QUIT, so the server keeps every message not yet imported.

    Listing: every message the server names in both UIDL and LIST, by number, held compactly
    (some 16 bytes plus the UID per message). A message that only one of the two names (a
    server whose mailbox changed between the two commands, or a broken one) is left out of this
    run and stays on the server. A UID that RFC 1939 does not allow (control characters, spaces,
    more than 70 characters) is replaced by ``uidl-sha256:`` and its digest, the same on every
    run. (A second message with a UID already seen is left on the server by the importer,
    because the UID is what the ledger remembers.) A server without UIDL still
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

    With :attr:`~mailtrack.MailInterface.oauth` set, or a *token_source* given, the login is
    ``AUTH XOAUTH2`` or ``AUTH OAUTHBEARER`` (whichever the server announces) with an access
    token from the source; a refused token is refreshed once and the login retried once.

    Args:
        interface: the mailbox to talk to.
        token_source: where OAuth 2.0 access tokens come from (a
            :class:`~mailtrack.abc.TokenSource`, or a callable returning the token); ``None``:
            the one the interface's ``oauth`` settings describe, else a password login.
    """

    #: :meth:`delete` only notes the message (the DELEs go out at ``close``): it may be called
    #: from another thread while :meth:`retrieve_many` runs, which lets the importer retrieve ahead.
    marks_deletions_locally: ClassVar[bool] = True

    _interface: MailInterface
    _token_source: HostTokens | None = attrs.field(
        default=None, kw_only=True, repr=False, alias="token_source"
    )
    _guard: SessionGuard[Session] = attrs.field(init=False, repr=False)
    #: Numbers of the messages marked for deletion; the DELEs go out at ``close(commit=True)``.
    _deletions: list[int] = attrs.field(factory=list, init=False, repr=False)
    #: The access token of the last OAuth 2.0 sign-in (for ``check``).
    _token: AccessToken | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._guard = SessionGuard(self._interface)

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
        guard = self._guard
        if guard.session is not None:
            raise FetchError(f"{guard.where}: the session is open already")
        self._deletions = []
        guard.failure = None
        with guard.failing():
            guard.session = session = self._signed_in()
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
        guard = self._guard
        session = guard.require()
        pipeline = Pipeline(
            session.wire,
            messages,
            command=lambda info: f"RETR {info.number}",
            read=session.receive_message,
            size=lambda info: info.size,
            window=session.window,
        )
        with contextlib.closing(guard.replies(session, pipeline)) as replies:
            yield from replies

    def delete(self, message: MessageInfo) -> None:
        """Mark *message* for deletion; the server deletes it at ``close(commit=True)``.

        The DELE commands themselves are sent by ``close(commit=True)``, in windows when the
        server pipelines, just before QUIT: a DELE only marks a message, and only QUIT makes
        the marks final, so nothing changes on the server in between. This touches no socket,
        so it may be called while :meth:`retrieve_many` runs in another thread.

        Raises:
            FetchError: the session is not open (it ended after an error, or was never opened).
        """
        self._guard.require()
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
        guard = self._guard
        session = guard.take()
        marked, self._deletions = self._deletions, []
        deletions = len(marked)
        if session is None:
            if commit and guard.failure is not None and deletions:
                raise FetchError(
                    f"{guard.where}: {deletions} deletion(s) were not made, because the session had "
                    f"failed: {guard.failure}"
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
                f"{guard.translate(exc)}; the {deletions} deletion(s) asked for were not made"
            ) from exc
        try:
            session.wire.send("QUIT")
            reply = session.wire.read_reply()
        except (OSError, WireError) as exc:
            raise FetchError(
                f"{guard.translate(exc)}; the {deletions} deletion(s) asked for may not have happened"
            ) from exc
        finally:
            session.wire.close()
        if not reply.ok:
            raise FetchError(
                f"{guard.where}: the server did not confirm the end of the session (QUIT); the "
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
        else:
            warnings.extend(filter(None, [clear_text_warning(interface, self._token_source)]))
        session: Session | None = None
        capabilities: dict[str, tuple[str, ...]] = {}
        capa_answered = False
        tls_version: str | None = None
        count: int | None = None
        size: int | None = None
        error: str | None = None
        opened: list[Session] = []
        self._token = None
        try:
            session = self._signed_in(on_session=opened.append)
            tls_version = session.wire.tls_version
            capabilities, capa_answered = session.capabilities, session.capa_answered
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
            error = str(self._guard.translate(exc))
        finally:
            if session is None and opened:
                tls_version = opened[0].wire.tls_version
                capabilities, capa_answered = opened[0].capabilities, opened[0].capa_answered
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
            account=self._token.account if self._token else None,
            token_expires_at=self._token.expires_at if self._token else None,
        )

    def _check_warnings(
        self, capabilities: dict[str, tuple[str, ...]], capa_answered: bool, expire: str | None
    ) -> list[str]:
        warnings: list[str] = []
        leave_copy = self._interface.keeps_messages  # leave_copy, or after_import = "keep"
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

    def _signed_in(self, *, on_session: Callable[[Session], None] | None = None) -> Session:
        """Connect, secure the connection and log in (password, or OAuth 2.0 token)."""
        interface = self._interface
        credentials = Credentials.read(interface, self._token_source)
        session = Session.connect(interface)
        try:
            if on_session is not None:
                on_session(session)
            if credentials.source is None:
                session.login(credentials.password)
            else:
                from ._pop3auth import authenticate  # SASL: only for an OAuth 2.0 sign-in

                assert credentials.token is not None
                self._token = authenticate(session, credentials.source, credentials.token)
        except BaseException:
            session.wire.close()
            raise
        return session


def _expire(capabilities: dict[str, tuple[str, ...]]) -> str | None:
    args = capabilities.get("EXPIRE")
    return args[0] if args else None
