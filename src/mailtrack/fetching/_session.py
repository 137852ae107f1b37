"""One POP3 connection: connect and secure it, log in, list the mailbox, retrieve, delete.

:class:`Session` speaks the commands; :class:`~mailtrack.fetching.pop3.POP3Fetcher` decides when
(and ends the session without QUIT on any error). Every failure is raised in plain words
(:mod:`._errors`) naming the server and port, never the password.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
from collections.abc import Iterator

import attrs

from ..config import MailInterface, Security
from ..exceptions import AuthenticationError, ConfigError, FetchError, SecurityError
from ..models import MessageInfo
from ._errors import ReplyTooLarge, WireError, connection_error, reply_code, reply_error, reply_text
from ._pipeline import Pipeline, Window
from ._probe import GREETING_WAIT, not_tls, plain_greeting, speaks_tls
from ._wire import Reply, Wire

__all__ = ["LISTING_LIMIT", "RETR_SLACK", "Session", "password_of", "translate", "where"]

logger = logging.getLogger("mailtrack.fetching.pop3")

#: Extra bytes allowed on top of twice ``max_message_bytes`` when reading one RETR reply.
RETR_SLACK = 64 * 1024
#: Largest CAPA, UIDL or LIST reply accepted (a listing of a million messages fits).
LISTING_LIMIT = 64 * 1024 * 1024

_APOP_TIMESTAMP = re.compile(rb"<[^<>\s]*>")


def where(interface: MailInterface) -> str:
    """How errors name the server: ``host port N``."""
    return f"{interface.server} port {interface.effective_port}"


def translate(interface: MailInterface, exc: OSError | WireError, *, handshake: bool = False) -> FetchError:
    """The plain-words error for a network failure or a protocol violation."""
    if isinstance(exc, WireError):
        return FetchError(f"{where(interface)}: {exc}")
    return connection_error(
        exc,
        server=interface.server,
        port=interface.effective_port,
        timeout=interface.timeout,
        handshake=handshake,
    )


def password_of(interface: MailInterface) -> str:
    """The password, checked before anything is sent (ConfigError names the setting, never it)."""
    password = interface.resolve_password()
    if not password:
        raise ConfigError(
            f"{interface.name}: no password is configured; set password_env, password_file or password"
        )
    if any(char in password for char in "\r\n\x00"):
        raise ConfigError(
            f"{interface.name}: the password contains a line break or NUL, which POP3 cannot send"
        )
    return password


@attrs.define
class Session:
    """What one connection learned: the wire, the greeting and the capabilities (upper case)."""

    interface: MailInterface
    wire: Wire
    greeting: Reply
    capabilities: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    capa_answered: bool = False

    @classmethod
    def connect(cls, interface: MailInterface) -> Session:
        """Connect and, as the interface says, secure the connection; no login yet."""
        security = interface.security
        context = _tls_context(interface) if security is not Security.NONE else None
        try:
            wire = Wire.connect(
                interface.server,
                interface.effective_port,
                timeout=interface.timeout,
                tls=context if security is Security.SSL else None,
            )
        except OSError as exc:
            if security is Security.SSL and not_tls(exc):
                _refuse_plain_port(interface, exc)
            raise translate(interface, exc, handshake=True) from exc
        session = cls(interface=interface, wire=wire, greeting=Reply(line=b"-ERR"))
        try:
            if (
                security is not Security.SSL
                and interface.timeout > GREETING_WAIT
                and not wire.readable_within(GREETING_WAIT)
                and speaks_tls(interface.server, interface.effective_port)
            ):
                raise SecurityError(
                    f"{where(interface)}: this port expects TLS from the first byte (POP3S) and "
                    f"sends no greeting to a plain connection; nothing was sent. Set security = "
                    f'"ssl" for this port, or keep security = "{interface.security.value}" and '
                    f"use the plain POP3 port (usually 110)"
                )
            session.greeting = wire.read_reply()
            session.expect_ok(session.greeting, "the connection (its greeting)")
            if security is Security.STARTTLS:
                assert context is not None
                session._start_tls(context)
        except BaseException:
            wire.close()
            raise
        return session

    @property
    def where(self) -> str:
        return where(self.interface)

    @property
    def window(self) -> Window:
        """How far commands may run ahead of their replies: RFC 2449 PIPELINING, or one at a time."""
        return Window() if "PIPELINING" in self.capabilities else Window.one_at_a_time()

    def _start_tls(self, context: ssl.SSLContext) -> None:
        """STLS, failing closed: nothing but CAPA and STLS is sent before TLS is up."""
        self.capabilities, self.capa_answered = self.ask_capabilities()
        if "STLS" not in self.capabilities:
            raise SecurityError(
                f"{self.where}: the server does not offer STARTTLS (STLS), so the connection cannot "
                f'be encrypted; nothing was sent. Use security = "ssl" if the server offers POP3S '
                f"(port 995), or ask its administrator to enable STARTTLS"
            )
        self.wire.send("STLS")
        reply = self.wire.read_reply()
        if not reply.ok:
            raise SecurityError(
                f"{self.where}: the server refused STARTTLS (the server said: {reply_text(reply.line)}); "
                f"nothing was sent"
            )
        try:
            self.wire.start_tls(context, self.interface.server)
        except WireError as exc:
            raise SecurityError(f"{self.where}: {exc}; nothing was sent") from exc
        except OSError as exc:
            raise translate(self.interface, exc, handshake=True) from exc
        # RFC 2595: forget what was learned before TLS, ask again.
        self.capabilities, self.capa_answered = self.ask_capabilities()

    def ask_capabilities(self) -> tuple[dict[str, tuple[str, ...]], bool]:
        """CAPA as ``{NAME: (args…)}`` and whether the server answered it at all."""
        self.wire.send("CAPA")
        reply = self.wire.read_reply()
        if not reply.ok:
            return {}, False
        block = self.wire.read_block(limit=LISTING_LIMIT)
        capabilities: dict[str, tuple[str, ...]] = {}
        for line in block.decode("utf-8", "replace").splitlines():
            words = line.split()
            if words:
                capabilities[words[0].upper()] = tuple(words[1:])
        return capabilities, True

    def login(self, password: str) -> None:
        """USER/PASS, or APOP when the interface says so."""
        interface = self.interface
        wire = self.wire
        if interface.apop:
            timestamp = _APOP_TIMESTAMP.search(self.greeting.line)
            if timestamp is None:
                raise AuthenticationError(
                    f"{self.where}: the server does not offer APOP (its greeting has no timestamp); "
                    f"turn apop off to log in with USER and PASS"
                )
            digest = hashlib.md5(timestamp.group(0) + password.encode("utf-8"), usedforsecurity=False)
            wire.send(f"APOP {interface.login} {digest.hexdigest()}")
            self.expect_ok(wire.read_reply(), "the login", logging_in=True)
            return
        wire.send(f"USER {interface.login}")
        self.expect_ok(wire.read_reply(), "the login name", logging_in=True)
        wire.send(f"PASS {password}")
        self.expect_ok(wire.read_reply(), "the login", logging_in=True)

    def stat(self) -> tuple[int | None, int | None]:
        """STAT: the number of messages and their bytes (``None`` where the reply is unreadable)."""
        self.wire.send("STAT")
        reply = self.wire.read_reply()
        self.expect_ok(reply, "STAT (the mailbox size)")
        words = reply.text.split()
        try:
            return int(words[0]), int(words[1])
        except (IndexError, ValueError):
            return None, None

    def listing(self) -> list[MessageInfo]:
        """Every message UIDL and LIST both name, by number (see ``POP3Fetcher``)."""
        wire = self.wire
        # Pipelined, UIDL and LIST cost one round trip instead of two.
        pipelined = "PIPELINING" in self.capabilities
        wire.send(*(("UIDL", "LIST") if pipelined else ("UIDL",)))
        reply = wire.read_reply()
        uids: dict[int, str] | None
        if reply.ok:
            uids = _parse_uidl(wire.read_block(limit=LISTING_LIMIT))
        else:
            # A busy or broken mailbox says so with a response code; a plain -ERR means "no UIDL".
            if reply_code(reply.line) is not None:
                self.expect_ok(reply, "UIDL (the unique IDs)")
            logger.info("%s: the server has no UIDL; messages are keyed by their content", self.where)
            uids = None
        if not pipelined:
            wire.send("LIST")
        self.expect_ok(wire.read_reply(), "LIST (the mailbox listing)")
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
                    self.where,
                    number,
                    "UIDL" if uid is None else "LIST",
                )
            elif uid in seen:
                logger.warning(
                    "%s: message %d has the UID %r of an earlier message; it stays on the server",
                    self.where,
                    number,
                    uid,
                )
            else:
                seen.add(uid)
                listing.append(MessageInfo(number=number, uid=uid, size=size))
        return listing

    def receive_message(self, info: MessageInfo) -> bytes:
        """Read the reply to ``RETR``: the message, bounded by twice ``max_message_bytes``."""
        self.expect_ok(self.wire.read_reply(), f"to send message {info.number}")
        limit = 2 * self.interface.max_message_bytes + RETR_SLACK
        try:
            return self.wire.read_block(limit=limit)
        except ReplyTooLarge as exc:
            raise FetchError(
                f"{self.where}: message {info.number} is larger than announced (LIST said "
                f"{info.size} bytes; stopped reading after {limit}); the session was ended"
            ) from exc

    def send_deletions(self, numbers: list[int]) -> None:
        """DELE each message (in windows when the server pipelines); every reply must be ``+OK``."""

        def confirmed(number: int) -> None:
            reply = self.wire.read_reply()
            if not reply.ok:
                raise FetchError(
                    f"{self.where}: the server refused to delete message {number} (the server said: "
                    f"{reply_text(reply.line)}); the session was ended without QUIT, so none of the "
                    f"{len(numbers)} deletion(s) asked for were made"
                )

        window = Window(commands=256) if self.window.commands > 1 else self.window
        for _ in Pipeline(self.wire, numbers, command=lambda n: f"DELE {n}", read=confirmed, window=window):
            pass

    def expect_ok(self, reply: Reply, command: str, *, logging_in: bool = False) -> None:
        """Raise the plain-words error for a ``-ERR`` reply to *command*."""
        if not reply.ok:
            raise reply_error(
                reply.line,
                where=self.where,
                command=command,
                login=self.interface.login,
                logging_in=logging_in,
            )


def _refuse_plain_port(interface: MailInterface, exc: OSError) -> None:
    """Raise the error for TLS started on a port that answers in plain POP3, if it does."""
    greeting = plain_greeting(interface.server, interface.effective_port)
    if greeting is None or not greeting.startswith((b"+OK", b"-ERR")):
        return
    raise SecurityError(
        f"{where(interface)}: this port speaks plain POP3 (it greets with "
        f"{reply_text(greeting)!r}), not TLS from the first byte; nothing was sent. Set security = "
        f'"starttls" to encrypt on this port (if the server offers STLS; `mailtrack check` tells), '
        f'or keep security = "ssl" and use the POP3S port (usually 995)'
    ) from exc


def _tls_context(interface: MailInterface) -> ssl.SSLContext:
    ca_file = interface.ca_file
    try:
        return ssl.create_default_context(cafile=ca_file)
    except OSError as exc:  # ssl.SSLError too: not a PEM file
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise SecurityError(
            f"{where(interface)}: the CA file {ca_file!r} (ca_file) cannot be used: {reason}; "
            "nothing was sent"
        ) from exc


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
