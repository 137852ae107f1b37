"""IMAP fetching: :class:`IMAPFetcher`.

The session speaks IMAP4rev1 (RFC 3501) over mailtrack's own wire layer (:mod:`._wire`, shared
with POP3) rather than through :mod:`imaplib` or IMAPClient (which is built on imaplib), for
reasons that each matter here: imaplib reads every literal the server announces, whatever its
size, so a server that announces a 2 GB body makes the importer try to hold 2 GB (here a literal
beyond the limit is refused before a byte of it is read); it cannot send a command before the
reply to the one before has ended, which the batched retrieval pipelines; and it keeps no
deadline beyond the socket's timeout per read. The protocol subset mailtrack needs (login,
SELECT, UID FETCH, UID STORE/MOVE/EXPUNGE, IDLE) is small.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import ClassVar

import attrs

from ..config import MailInterface
from ..exceptions import FetchError, MailtrackError
from ..models import ConnectionCheck, MessageInfo
from ._credentials import Credentials, HostTokens
from ._errors import WireError
from ._guard import SessionGuard
from ._imapafter import apply_and_log_out
from ._imapauth import log_in
from ._imapcheck import check
from ._imapsession import IMAPSession, bodies_command
from ._imapwire import uid_set
from ._pipeline import Pipeline, Window

__all__ = ["IMAPFetcher"]

logger = logging.getLogger(__name__)

#: Most messages and announced bytes asked for in one ``UID FETCH``.
CHUNK_MESSAGES = 25
CHUNK_BYTES = 2 * 1024 * 1024
#: How many ``UID FETCH`` commands (and announced bytes) run ahead of the responses: at a round
#: trip of 50 ms, 8 commands (topped up when half of them are answered) left the connection idle
#: now and then; 16 keep it busy (the bytes stay in the server's and kernel's buffers, not ours).
WINDOW = Window(commands=16, size=32 * 1024 * 1024)


@attrs.define
class _Chunk:
    """The messages of one ``UID FETCH`` and its tag."""

    messages: list[MessageInfo]
    tag: bytes = b""

    @property
    def size(self) -> int:
        return sum(info.size for info in self.messages)


def _chunks(messages: Sequence[MessageInfo]) -> Iterator[_Chunk]:
    chunk: list[MessageInfo] = []
    size = 0
    for info in messages:
        if chunk and (len(chunk) >= CHUNK_MESSAGES or size + info.size > CHUNK_BYTES):
            yield _Chunk(chunk)
            chunk, size = [], 0
        chunk.append(info)
        size += info.size
    if chunk:
        yield _Chunk(chunk)


@attrs.define
class IMAPFetcher:
    """A :class:`~mailtrack.abc.Fetcher` for one IMAP folder (``protocol = "imap"``).

    Security follows :attr:`MailInterface.security <mailtrack.MailInterface.security>`, as for
    POP3: ``Security.SSL`` is IMAPS (port 993 by default); ``Security.STARTTLS`` upgrades a
    plain connection (port 143) and fails closed, before the login name or password is sent,
    when the server does not offer it; ``Security.NONE`` sends the password in clear text.
    Certificates and host names are always verified. The login is ``AUTHENTICATE PLAIN`` where
    the server offers it (any UTF-8 password), else ``LOGIN``.

    With :attr:`~mailtrack.MailInterface.oauth` set, or a *token_source* given, the login is
    ``AUTHENTICATE XOAUTH2`` or ``AUTHENTICATE OAUTHBEARER`` (whichever the server announces in
    ``AUTH=``; with the initial response when it announces ``SASL-IR``) with an access token from
    the source; a refused token is refreshed once and the login retried once. The token is asked
    for before connecting, and again for every connection (an IDLE watcher's reconnection too).

    Listing: the folder (:attr:`~mailtrack.MailInterface.folder`) is selected (read-only with
    ``after_import = "keep"``) and ``UID FETCH 1:* (UID RFC822.SIZE)`` lists it. Each message's
    ledger key is ``FOLDER/UIDVALIDITY:UID`` (``INBOX/1712345678:42``); the ``number`` of its
    :class:`~mailtrack.MessageInfo` is the UID.
    When the server gives the folder a new UIDVALIDITY (a rebuilt mailbox), every key is new: the
    messages are downloaded once more and the store matches them by the content digest its ledger
    keeps (and by their Message-ID), so none is imported twice.

    Retrieval: ``UID FETCH set BODY.PEEK[]`` for up to 25 messages or 2 MB at a time, with up to
    16 such commands (32 MB) on their way ahead of the responses, so a round trip of 50 ms costs
    little. The SELECT and the listing go out together, and so do the commands of
    ``after_import`` and the LOGOUT (a COPY is confirmed before its messages are deleted).
    A literal larger than twice ``max_message_bytes`` is refused before it is read (the session
    ends); the importer never asks for a message whose RFC822.SIZE exceeds ``max_message_bytes``.

    After the import (:attr:`~mailtrack.MailInterface.after_import`), at ``close(commit=True)``,
    for the messages the store committed: ``delete`` stores ``\\Deleted`` and expunges them
    (``UID EXPUNGE`` with UIDPLUS, else ``EXPUNGE``, which also removes what other clients
    marked deleted); ``move:FOLDER`` moves them (``UID MOVE``, RFC 6851, else COPY and delete);
    ``flag`` marks them ``\\Seen``; ``keep`` changes nothing. Any error before drops the
    connection, and nothing is changed on the server.

    Args:
        interface: the mailbox to talk to.
        token_source: where OAuth 2.0 access tokens come from (a
            :class:`~mailtrack.abc.TokenSource`, or a callable returning the token); ``None``:
            the one the interface's ``oauth`` settings describe, else a password login.
    """

    #: :meth:`delete` only notes the message (the commands go out at ``close``).
    marks_deletions_locally: ClassVar[bool] = True

    _interface: MailInterface
    _token_source: HostTokens | None = attrs.field(
        default=None, kw_only=True, repr=False, alias="token_source"
    )
    _guard: SessionGuard[IMAPSession] = attrs.field(init=False, repr=False)
    #: UIDs of the messages to act on at ``close(commit=True)``.
    _marked: list[int] = attrs.field(factory=list, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._guard = SessionGuard(self._interface)

    # -- Fetcher protocol -----------------------------------------------------------------------

    def open(self) -> Sequence[MessageInfo]:
        """Connect, secure the connection, log in, select the folder and list it.

        Raises:
            SecurityError: TLS failed or STARTTLS is not available; nothing was sent.
            AuthenticationError: the server refused the login.
            ServerBusyError: the server is unavailable for now (``BYE``, ``[UNAVAILABLE]``, ``[INUSE]``).
            FetchError: any other connection or server problem (the folder does not exist …).
            ConfigError: the password cannot be read or contains a line break; nothing was sent.
            TokenError: no OAuth 2.0 access token could be had; nothing was sent.
        """
        guard = self._guard
        if guard.session is not None:
            raise FetchError(f"{guard.where}: the session is open already")
        self._marked = []
        guard.failure = None
        interface = self._interface
        with guard.failing():
            credentials = Credentials.read(interface, self._token_source)
            guard.session = session = IMAPSession.connect(interface)
            session.give(4 * interface.timeout)
            log_in(session, credentials)
            return session.select_and_list(
                interface.folder, read_only=interface.after_import_action == "keep"
            )

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        """Yield each given message with its raw bytes, in the given order (see the class).

        A message that another client expunged while this session ran is left out.

        Raises:
            FetchError: the connection failed, the server refused the FETCH, or a body was
                larger than announced. Messages already yielded stay valid; the session is over.
        """
        guard = self._guard
        session = guard.require()
        bodies: dict[int, bytes] = {}

        def command(chunk: _Chunk) -> str:
            chunk.tag = session.next_tag()
            return bodies_command(chunk.tag, chunk.messages)

        def read(chunk: _Chunk) -> list[tuple[MessageInfo, bytes]]:
            session.receive_bodies(chunk.tag, chunk.messages, bodies)
            found = []
            for info in chunk.messages:
                raw = bodies.pop(info.number, None)
                if raw is None:
                    logger.warning(
                        "%s: message UID %d was expunged by another client meanwhile",
                        guard.where,
                        info.number,
                    )
                else:
                    found.append((info, raw))
            return found

        pipeline = Pipeline(
            session.wire, _chunks(messages), command=command, read=read, size=lambda c: c.size, window=WINDOW
        )
        with contextlib.closing(guard.replies(session, pipeline)) as replies:
            for _chunk, found in replies:
                yield from found

    def delete(self, message: MessageInfo) -> None:
        """Note *message* for ``after_import`` (delete, move or flag) at ``close(commit=True)``.

        This touches no socket, so it may be called while :meth:`retrieve_many` runs in another
        thread.

        Raises:
            FetchError: the session is not open.
        """
        self._guard.require()
        self._marked.append(message.number)

    def close(self, *, commit: bool) -> None:
        """End the session.

        ``commit=True`` applies ``after_import`` to the noted messages and logs out;
        ``commit=False`` drops the connection, and the server keeps every message as it was.
        Closing twice is harmless.

        Raises:
            FetchError: ``commit=True`` and the server refused the actions or the connection
                failed before they were confirmed (they may not have happened), or the session
                had failed earlier while actions were pending.
        """
        guard = self._guard
        session = guard.take()
        marked, self._marked = self._marked, []
        if session is None:
            if commit and guard.failure is not None and marked:
                raise FetchError(
                    f"{guard.where}: {len(marked)} deletion(s) were not made, because the session had "
                    f"failed: {guard.failure}"
                )
            return
        if not commit:
            session.wire.close()
            return
        interface = self._interface
        action = interface.after_import_action
        try:
            if marked and action != "keep":
                apply_and_log_out(session, action, marked, interface.move_to)
            else:
                with contextlib.suppress(OSError, WireError, MailtrackError):  # LOGOUT is politeness
                    session.logout()
        except MailtrackError as exc:
            raise FetchError(
                f"{exc}; the server may not have made the {len(marked)} change(s) asked for"
            ) from exc
        except (OSError, WireError) as exc:
            raise FetchError(
                f"{guard.translate(exc)}; the server may not have made the {len(marked)} change(s) asked for "
                f"({action} UIDs {uid_set(marked)})"
            ) from exc
        finally:
            session.wire.close()

    def check(self) -> ConnectionCheck:
        """Connect, secure the connection, log in, look at the folder (and the folder of
        ``move:FOLDER``), and log out.

        Never raises for connection, security or login problems: they are in the result's
        ``error``, in plain words. ``message_count`` is the folder's; ``capabilities`` those the
        server announced after the login. With OAuth 2.0, ``account`` and ``token_expires_at``
        tell whose token signed in and when it expires.
        """
        return check(self._interface, self._token_source)
