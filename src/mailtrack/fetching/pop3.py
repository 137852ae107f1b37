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
import hashlib
import logging
import re
import ssl
from collections.abc import Iterator, Sequence
from typing import ClassVar

import attrs

from ..config import MailInterface, Security
from ..exceptions import AuthenticationError, ConfigError, FetchError, MailtrackError, SecurityError
from ..models import ConnectionCheck, MessageInfo
from ._errors import ReplyTooLarge, WireError, connection_error, reply_code, reply_error, reply_text
from ._pipeline import Pipeline, Window
from ._wire import Reply, Wire

__all__ = ["POP3Fetcher"]

logger = logging.getLogger(__name__)

#: Extra bytes allowed on top of twice ``max_message_bytes`` when reading one RETR reply.
RETR_SLACK = 64 * 1024
#: Largest CAPA, UIDL or LIST reply accepted (a listing of a million messages fits).
LISTING_LIMIT = 64 * 1024 * 1024

_APOP_TIMESTAMP = re.compile(rb"<[^<>\s]*>")


@attrs.define
class _Session:
    """What one connection learned: the wire, the greeting and the capabilities (upper case)."""

    wire: Wire
    greeting: Reply
    capabilities: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    capa_answered: bool = False

    @property
    def window(self) -> Window:
        """How far commands may run ahead of their replies: RFC 2449 PIPELINING, or one at a time."""
        return Window() if "PIPELINING" in self.capabilities else Window.one_at_a_time()


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
    _session: _Session | None = attrs.field(default=None, init=False, repr=False)
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
            password = self._password()
            self._session = self._connect()
            self._login(self._session, password)
            self._session.capabilities, self._session.capa_answered = self._capabilities(self._session)
            return self._list(self._session)

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
            read=lambda info: self._receive_message(session, info),
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
            self._send_deletions(session, marked)
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
                "the connection is not encrypted (security is NONE): the messages cross the network "
                "in clear text, and APOP protects the password only weakly (MD5); use SSL or STARTTLS "
                "if the server offers them"
            )
        elif interface.security is Security.NONE:
            warnings.append(
                "the password is sent unencrypted (security is NONE): anybody on the network path "
                "can read it; use SSL or STARTTLS if the server offers them"
            )
        session: _Session | None = None
        capabilities: dict[str, tuple[str, ...]] = {}
        capa_answered = False
        tls_version: str | None = None
        count: int | None = None
        size: int | None = None
        error: str | None = None
        try:
            password = self._password()
            session = self._connect()
            tls_version = session.wire.tls_version
            capabilities, capa_answered = session.capabilities, session.capa_answered
            self._login(session, password)
            after_login, answered = self._capabilities(session)
            if answered:
                capabilities, capa_answered = after_login, True
            session.wire.send("STAT")
            reply = session.wire.read_reply()
            self._expect_ok(reply, "STAT (the mailbox size)")
            count, size = _parse_stat(reply)
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
        return f"{self._interface.server} port {self._interface.effective_port}"

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self._interface.ca_file
        try:
            return ssl.create_default_context(cafile=ca_file)
        except OSError as exc:  # ssl.SSLError too: not a PEM file
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            raise SecurityError(
                f"{self._where}: the CA file {ca_file!r} (ca_file) cannot be used: {reason}; nothing was sent"
            ) from exc

    def _connect(self) -> _Session:
        """Connect and, as the interface says, secure the connection; no login yet."""
        interface = self._interface
        security = interface.security
        context = self._tls_context() if security is not Security.NONE else None
        try:
            wire = Wire.connect(
                interface.server,
                interface.effective_port,
                timeout=interface.timeout,
                tls=context if security is Security.SSL else None,
            )
        except OSError as exc:
            raise self._translate(exc, handshake=True) from exc
        session = _Session(wire=wire, greeting=Reply(line=b"-ERR"))
        try:
            session.greeting = wire.read_reply()
            self._expect_ok(session.greeting, "the connection (its greeting)")
            if security is Security.STARTTLS:
                assert context is not None
                self._start_tls(session, context)
        except BaseException:
            wire.close()
            raise
        return session

    def _start_tls(self, session: _Session, context: ssl.SSLContext) -> None:
        """STLS, failing closed: nothing but CAPA and STLS is sent before TLS is up."""
        session.capabilities, session.capa_answered = self._capabilities(session)
        if "STLS" not in session.capabilities:
            raise SecurityError(
                f"{self._where}: the server does not offer STARTTLS (STLS), so the connection cannot "
                f"be encrypted; nothing was sent. Use security SSL if the server offers POP3S "
                f"(port 995), or ask its administrator to enable STARTTLS"
            )
        session.wire.send("STLS")
        reply = session.wire.read_reply()
        if not reply.ok:
            raise SecurityError(
                f"{self._where}: the server refused STARTTLS (the server said: {reply_text(reply.line)}); "
                f"nothing was sent"
            )
        try:
            session.wire.start_tls(context, self._interface.server)
        except WireError as exc:
            raise SecurityError(f"{self._where}: {exc}; nothing was sent") from exc
        except OSError as exc:
            raise self._translate(exc, handshake=True) from exc
        # RFC 2595: forget what was learned before TLS, ask again.
        session.capabilities, session.capa_answered = self._capabilities(session)

    def _capabilities(self, session: _Session) -> tuple[dict[str, tuple[str, ...]], bool]:
        """CAPA as ``{NAME: (args…)}`` and whether the server answered it at all."""
        session.wire.send("CAPA")
        reply = session.wire.read_reply()
        if not reply.ok:
            return {}, False
        block = session.wire.read_block(limit=LISTING_LIMIT)
        capabilities: dict[str, tuple[str, ...]] = {}
        for line in block.decode("utf-8", "replace").splitlines():
            words = line.split()
            if words:
                capabilities[words[0].upper()] = tuple(words[1:])
        return capabilities, True

    def _password(self) -> str:
        """The password, checked before anything is sent (ConfigError names the setting, never it)."""
        password = self._interface.resolve_password()
        if not password:
            raise ConfigError(
                f"{self._interface.name}: no password is configured; set password_env, password_file "
                f"or password"
            )
        if any(char in password for char in "\r\n\x00"):
            raise ConfigError(
                f"{self._interface.name}: the password contains a line break or NUL, which POP3 cannot send"
            )
        return password

    def _login(self, session: _Session, password: str) -> None:
        interface = self._interface
        wire = session.wire
        if interface.apop:
            timestamp = _APOP_TIMESTAMP.search(session.greeting.line)
            if timestamp is None:
                raise AuthenticationError(
                    f"{self._where}: the server does not offer APOP (its greeting has no timestamp); "
                    f"turn apop off to log in with USER and PASS"
                )
            digest = hashlib.md5(timestamp.group(0) + password.encode("utf-8"), usedforsecurity=False)
            wire.send(f"APOP {interface.login} {digest.hexdigest()}")
            self._expect_ok(wire.read_reply(), "the login", logging_in=True)
            return
        wire.send(f"USER {interface.login}")
        self._expect_ok(wire.read_reply(), "the login name", logging_in=True)
        wire.send(f"PASS {password}")
        self._expect_ok(wire.read_reply(), "the login", logging_in=True)

    def _list(self, session: _Session) -> list[MessageInfo]:
        wire = session.wire
        # Pipelined, UIDL and LIST cost one round trip instead of two.
        pipelined = "PIPELINING" in session.capabilities
        wire.send(*(("UIDL", "LIST") if pipelined else ("UIDL",)))
        reply = wire.read_reply()
        uids: dict[int, str] | None
        if reply.ok:
            uids = _parse_uidl(wire.read_block(limit=LISTING_LIMIT))
        else:
            # A busy or broken mailbox says so with a response code; a plain -ERR means "no UIDL".
            if reply_code(reply.line) is not None:
                self._expect_ok(reply, "UIDL (the unique IDs)")
            logger.info("%s: the server has no UIDL; messages are keyed by their content", self._where)
            uids = None
        if not pipelined:
            wire.send("LIST")
        self._expect_ok(wire.read_reply(), "LIST (the mailbox listing)")
        sizes = _parse_list(wire.read_block(limit=LISTING_LIMIT))
        if uids is None:
            return [MessageInfo(number=number, uid=None, size=size) for number, size in sorted(sizes.items())]
        listing: list[MessageInfo] = []
        seen: set[str] = set()
        for number in sorted(sizes.keys() | uids.keys()):
            uid, size = uids.get(number), sizes.get(number)
            if uid is None or size is None:
                logger.warning(
                    "%s: message %d is missing from %s; it stays on the server for a later run",
                    self._where,
                    number,
                    "UIDL" if uid is None else "LIST",
                )
            elif uid in seen:
                logger.warning(
                    "%s: message %d has the UID %r of an earlier message; it stays on the server",
                    self._where,
                    number,
                    uid,
                )
            else:
                seen.add(uid)
                listing.append(MessageInfo(number=number, uid=uid, size=size))
        return listing

    def _send_deletions(self, session: _Session, numbers: list[int]) -> None:
        """DELE each message (in windows when the server pipelines); every reply must be ``+OK``."""

        def confirmed(number: int) -> None:
            reply = session.wire.read_reply()
            if not reply.ok:
                raise FetchError(
                    f"{self._where}: the server refused to delete message {number} (the server said: "
                    f"{reply_text(reply.line)}); the session was ended without QUIT, so none of the "
                    f"{len(numbers)} deletion(s) asked for were made"
                )

        window = Window(commands=256) if session.window.commands > 1 else session.window
        pipeline = Pipeline(
            session.wire, numbers, command=lambda n: f"DELE {n}", read=confirmed, window=window
        )
        for _ in pipeline:
            pass

    def _receive_message(self, session: _Session, info: MessageInfo) -> bytes:
        self._expect_ok(session.wire.read_reply(), f"to send message {info.number}")
        limit = 2 * self._interface.max_message_bytes + RETR_SLACK
        try:
            return session.wire.read_block(limit=limit)
        except ReplyTooLarge as exc:
            raise FetchError(
                f"{self._where}: message {info.number} is larger than announced (LIST said "
                f"{info.size} bytes; stopped reading after {limit}); the session was ended"
            ) from exc

    # -- errors -----------------------------------------------------------------------------------

    def _require_session(self) -> _Session:
        if self._session is None:
            if self._failure is not None:
                raise FetchError(f"{self._where}: the session ended after an error: {self._failure}")
            raise FetchError(f"{self._where}: the session is not open (call open() first)")
        return self._session

    def _expect_ok(self, reply: Reply, command: str, *, logging_in: bool = False) -> None:
        if not reply.ok:
            raise reply_error(
                reply.line,
                where=self._where,
                command=command,
                login=self._interface.login,
                logging_in=logging_in,
            )

    def _translate(self, exc: OSError | WireError, *, handshake: bool = False) -> FetchError:
        """The plain-words error for a network failure or a protocol violation."""
        if isinstance(exc, WireError):
            return FetchError(f"{self._where}: {exc}")
        return connection_error(
            exc,
            server=self._interface.server,
            port=self._interface.effective_port,
            timeout=self._interface.timeout,
            handshake=handshake,
        )

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


def _parse_stat(reply: Reply) -> tuple[int | None, int | None]:
    words = reply.text.split()
    try:
        return int(words[0]), int(words[1])
    except (IndexError, ValueError):
        return None, None


def _listing_lines(block: bytes) -> Iterator[tuple[int, bytes]]:
    for line in block.split(b"\r\n"):
        words = line.split()
        if len(words) >= 2 and words[0].isdigit():
            yield int(words[0]), words[1]


def _parse_uidl(block: bytes) -> dict[int, str]:
    # latin-1 keeps every byte: the same UID always gives the same ledger key.
    return {number: uid.decode("latin-1") for number, uid in _listing_lines(block)}


def _parse_list(block: bytes) -> dict[int, int]:
    return {number: int(size) for number, size in _listing_lines(block) if size.isdigit()}
