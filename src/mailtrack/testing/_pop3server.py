"""An in-process POP3 server (RFC 1939, RFC 2449, RFC 2595 STLS) for tests and benchmarks.

:class:`POP3TestServer` listens on 127.0.0.1 (an ephemeral port), serves one thread per
connection and holds its mailbox in memory. Deletions take effect only when a session ends with
QUIT; a dropped connection deletes nothing, as on a real server. :class:`Faults` makes it
misbehave on purpose, and it can be replaced while the server runs (``server.faults = …``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Literal

import attrs
from typing_extensions import Self

from ..config import MailInterface, Security
from ._certs import CertificateKind, ca_file, server_context

__all__ = ["ClientLine", "Faults", "POP3TestServer", "Transcript"]

_HOST = "127.0.0.1"
_MAX_LINE = 8192  # RFC 2449 allows 255 octets per command; be lenient but bounded.
_FLUSH_AT = 256 * 1024  # pipelined answers are sent in one write, up to this size at a time
_BARE_LF = re.compile(rb"(?<!\r)\n")
_UID_CHARS = re.compile(r"[\x21-\x7e]{1,70}")


@attrs.frozen(kw_only=True)
class Faults:
    """Ways in which the server misbehaves on purpose. The default misbehaves in no way.

    Replace a running server's faults with ``server.faults = Faults(...)``; each session reads them
    as it goes, so the next command already sees the change.
    """

    #: Close the connection after this many bytes of a RETR answer (status line included).
    drop_after_bytes: int | None = None
    #: Only the RETR of this message number drops (with :attr:`drop_after_bytes`); ``None``: every RETR.
    drop_on_message: int | None = None
    #: At QUIT of a session that marked messages deleted, close the connection without answering
    #: and without deleting anything (the connection died between DELE and QUIT).
    drop_after_dele: bool = False
    #: At QUIT, delete the marked messages but close the connection without answering.
    drop_after_update: bool = False
    #: QUIT answers ``-ERR`` and deletes nothing.
    quit_error: bool = False
    #: PASS and APOP answer ``-ERR`` followed by this text, e.g. ``"[IN-USE] mailbox locked"``,
    #: ``"[LOGIN-DELAY] wait 5 minutes"``, ``"[SYS/TEMP] try again later"``, ``"[SYS/PERM] no"``.
    login_error: str | None = None
    #: Seconds to wait before each answer.
    delay: float = 0.0
    #: Stop answering: ``"connect"`` (accept, never greet), ``"greeting"`` (greet, then answer
    #: nothing), ``"retr"`` (a RETR answer stops after :attr:`drop_after_bytes` bytes, or half
    #: way, and the connection stays open and silent). A stalled session ends when the server closes.
    stall: Literal["connect", "greeting", "retr"] | None = None
    #: Neither advertise nor answer UIDL (like ``uidl=False``).
    no_uidl: bool = False
    #: UIDL gives the last message the UID of the first one.
    duplicate_uid: bool = False
    #: UIDL lists one message more than LIST (as if one had arrived in between); RETR of it fails.
    uidl_extra: bool = False
    #: LIST lists one message more than UIDL; RETR of it fails.
    list_extra: bool = False
    #: CAPA advertises STLS, but STLS answers ``-ERR``.
    refuse_stls: bool = False
    #: CAPA does not advertise STLS, though STLS works when sent (with ``tls="stls"``).
    hide_stls: bool = False


@attrs.frozen(kw_only=True)
class ClientLine:
    """One line a client sent, without its line ending."""

    text: str
    #: Whether the line came over TLS.
    tls: bool
    #: Whether it came over TLS with a certificate a careful client accepts (``certificate="valid"``).
    #: A line with ``tls`` but not ``trusted`` reached the server only because the client did not
    #: verify the certificate or the host name.
    trusted: bool
    #: Number of the read that brought the line: lines sharing it were pipelined.
    batch: int

    @property
    def command(self) -> str:
        """The command word, upper case (``"PASS"`` for ``"pass secret"``)."""
        return self.text.split(" ", 1)[0].upper()


@attrs.frozen(kw_only=True)
class Transcript:
    """What one client session sent, in order."""

    #: 1 for the first connection to the server, and so on.
    session: int
    lines: tuple[ClientLine, ...]
    #: The TLS handshake error, when a handshake failed (e.g. the client refused the certificate).
    tls_error: str | None = None

    @property
    def commands(self) -> list[str]:
        """The command words sent, upper case."""
        return [line.command for line in self.lines]


@attrs.define(eq=False)
class _Message:
    uid: str
    raw: bytes
    #: CRLF line endings, ending with CRLF: what LIST counts and TOP cuts.
    wire: bytes
    #: :attr:`wire` byte-stuffed, ready to follow a ``+OK`` line and precede ``.\r\n``.
    stuffed: bytes

    @classmethod
    def make(cls, uid: str, raw: bytes) -> _Message:
        wire = _BARE_LF.sub(b"\r\n", raw)
        if not wire.endswith(b"\r\n"):
            wire += b"\r\n"
        return cls(uid=uid, raw=raw, wire=wire, stuffed=_byte_stuff(wire))


def _byte_stuff(wire: bytes) -> bytes:
    """Double the dot that starts a line (RFC 1939 section 3); no copy when there is none."""
    if not wire.startswith(b".") and b"\r\n." not in wire:
        return wire  # most messages: raw, wire and stuffed are then one object in memory
    return (b"\r\n" + wire).replace(b"\r\n.", b"\r\n..")[2:]


def _digest_uid(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


def _check_uid(uid: str) -> str:
    if not isinstance(uid, str) or not _UID_CHARS.fullmatch(uid):
        raise ValueError(f"a POP3 UID is 1 to 70 printable ASCII characters without spaces, not {uid!r}")
    return uid


def _as_messages(value: object) -> list[_Message]:
    """Turn raw messages (a sequence of bytes or ``(uid, bytes)`` pairs, or a uid → bytes mapping)."""
    pairs: list[tuple[str | None, bytes]] = []
    items: Iterable[object] = value.items() if isinstance(value, Mapping) else value  # type: ignore[assignment]
    if isinstance(value, bytes | str):
        raise TypeError(
            "messages must be a sequence of raw messages or a mapping uid -> bytes, not one message"
        )
    for item in items:
        if isinstance(item, bytes | bytearray | memoryview):
            pairs.append((None, bytes(item)))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes | bytearray):
            pairs.append((_check_uid(item[0]), bytes(item[1])))
        else:
            raise TypeError(f"a message must be bytes or a (uid, bytes) pair, not {type(item).__name__}")
    taken = {uid for uid, _ in pairs if uid is not None}
    result = []
    for uid, raw in pairs:
        if uid is None:
            uid = _unique_uid(raw, taken)
            taken.add(uid)
        result.append(_Message.make(uid, raw))
    return result


def _unique_uid(raw: bytes, taken: set[str]) -> str:
    """A UID from the message's digest: the same content gets the same UID on every server."""
    base = _digest_uid(raw)
    uid, counter = base, 1
    while uid in taken:
        counter += 1
        uid = f"{base}-{counter}"
    return uid


class _Drop(Exception):
    """Close the connection now, without a word."""


class _Stall(Exception):
    """Stop answering; keep the connection open until the server closes."""


class _Quit(Exception):
    """The session ended with QUIT; the answer is queued."""


class _StartTLS(Exception):
    """Upgrade the connection after the queued answer is sent."""


@attrs.define(eq=False)
class _Record:
    """Mutable record of one session, turned into a :class:`Transcript` on demand."""

    session: int
    lines: list[ClientLine] = attrs.field(factory=list)
    tls_error: str | None = None

    def freeze(self) -> Transcript:
        return Transcript(session=self.session, lines=tuple(self.lines), tls_error=self.tls_error)


@attrs.define
class POP3TestServer:
    """A real POP3 server on 127.0.0.1, in a thread, holding the given messages.

    Use it as a context manager (or call :meth:`start` and :meth:`close`)::

        with POP3TestServer([raw1, raw2], tls="implicit") as server:
            fetcher = POP3Fetcher(server.interface())
            ...
            assert server.mailbox == []

    Args:
        messages: A sequence of raw messages (UIDs are made from their SHA-256, so the same
            message has the same UID on every server), or of ``(uid, raw)`` pairs, or a mapping
            of UID to raw message. Bare LF line endings are served as CRLF.
        user: The login name the server accepts.
        password: The password it accepts (also the APOP secret).
        tls: ``None`` (plain text), ``"implicit"`` (TLS from the first byte, like port 995) or
            ``"stls"`` (plain text, upgraded with STLS).
        certificate: Which certificate TLS presents: ``"valid"``, ``"wrong-host"``,
            ``"untrusted"`` (signed by a CA not in :attr:`ca_file`) or ``"expired"``.
        uidl: Whether UIDL is supported.
        pipelining: Whether CAPA advertises PIPELINING (commands are always read in order).
        apop: Whether the greeting carries an APOP timestamp and APOP is accepted.
        expire: The EXPIRE capability's value (``0``, a number of days or ``"NEVER"``), or
            ``None`` for none. With ``0`` a session's retrieved messages are deleted at QUIT.
        faults: How the server misbehaves on purpose (see :class:`Faults`).
    """

    _initial: list[_Message] = attrs.field(default=(), converter=_as_messages, alias="messages")
    user: str = attrs.field(default="user", kw_only=True)
    password: str = attrs.field(default="secret", kw_only=True, repr=False)
    tls: Literal["implicit", "stls"] | None = attrs.field(
        default=None, kw_only=True, validator=attrs.validators.in_((None, "implicit", "stls"))
    )
    certificate: CertificateKind = attrs.field(
        default="valid",
        kw_only=True,
        validator=attrs.validators.in_(("valid", "wrong-host", "untrusted", "expired")),
    )
    uidl: bool = attrs.field(default=True, kw_only=True)
    pipelining: bool = attrs.field(default=True, kw_only=True)
    apop: bool = attrs.field(default=False, kw_only=True)
    expire: int | str | None = attrs.field(default=None, kw_only=True)
    faults: Faults = attrs.field(factory=Faults, kw_only=True)

    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _mailbox: list[_Message] = attrs.field(init=False, factory=list, repr=False)
    _listener: socket.socket | None = attrs.field(init=False, default=None, repr=False)
    _acceptor: threading.Thread | None = attrs.field(init=False, default=None, repr=False)
    _stopping: threading.Event = attrs.field(init=False, factory=threading.Event, repr=False)
    _sessions: dict[int, tuple[threading.Thread, list[socket.socket]]] = attrs.field(
        init=False, factory=dict, repr=False
    )
    _records: list[_Record] = attrs.field(init=False, factory=list, repr=False)
    _errors: list[BaseException] = attrs.field(init=False, factory=list, repr=False)
    _port: int = attrs.field(init=False, default=0, repr=False)

    def __attrs_post_init__(self) -> None:
        self._mailbox = list(self._initial)
        self._initial = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening and serving (in background threads); returns the server itself."""
        if self._listener is not None:
            raise RuntimeError("POP3TestServer is already running")
        if self.tls is not None:
            server_context(self.certificate)  # fail here, not in a session thread
        self._stopping.clear()
        self._listener = socket.create_server((_HOST, 0), backlog=256)
        self._port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"POP3TestServer:{self._port}", daemon=True
        )
        self._acceptor.start()
        return self

    def close(self) -> None:
        """Stop serving: open sessions are cut (deleting nothing) and the threads joined.

        Raises:
            RuntimeError: a session thread failed with an unexpected exception (a bug in the
                server), so that it does not go unnoticed.
        """
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):  # wake the acceptor, which is blocked in accept()
            socket.create_connection((_HOST, self._port), timeout=5).close()
        if self._acceptor is not None:
            self._acceptor.join()
        listener.close()
        with self._lock:  # sessions add their TLS socket under the lock, see _Session._start_tls
            sessions = list(self._sessions.values())
            for _thread, holder in sessions:
                for sock in holder:
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for thread, _holder in sessions:
            thread.join(timeout=10)
        if self._errors:
            errors, self._errors = self._errors, []
            raise RuntimeError(f"POP3TestServer: a session failed: {errors[0]!r}") from errors[0]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            with contextlib.suppress(RuntimeError):  # the test's own exception matters more
                self.close()

    # -- what tests look at ------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``"127.0.0.1"``."""
        return _HOST

    @property
    def port(self) -> int:
        """The port the server listens on (valid after :meth:`start`)."""
        if self._listener is None:
            raise RuntimeError("POP3TestServer is not running: use it in a with block or call start()")
        return self._port

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the server's certificate (unless ``certificate="untrusted"``)."""
        return ca_file()

    @property
    def mailbox(self) -> list[tuple[str, bytes]]:
        """The messages now on the server, as ``(uid, raw)`` pairs (deletions apply at QUIT)."""
        with self._lock:
            return [(message.uid, message.raw) for message in self._mailbox]

    @property
    def transcripts(self) -> list[Transcript]:
        """What each client session sent, one :class:`Transcript` per connection, oldest first."""
        with self._lock:
            return [record.freeze() for record in self._records]

    @property
    def received(self) -> list[ClientLine]:
        """Every line any client sent, in order of sessions."""
        return [line for transcript in self.transcripts for line in transcript.lines]

    @property
    def password_exposed(self) -> bool:
        """Whether a PASS or AUTH command ever came over plain text or an untrustworthy TLS link."""
        return any(line.command in {"PASS", "AUTH"} and not line.trusted for line in self.received)

    def add_message(self, raw: bytes, uid: str | None = None) -> str:
        """Put a message into the mailbox (mail arriving); returns its UID.

        Sessions that are logged in already do not see it (their listing was fixed at login).
        """
        with self._lock:
            if uid is None:
                uid = _unique_uid(raw, {message.uid for message in self._mailbox})
            else:
                _check_uid(uid)
            self._mailbox.append(_Message.make(uid, bytes(raw)))
        return uid

    def interface(self, **overrides: object) -> MailInterface:
        """A :class:`~mailtrack.MailInterface` for this server; keyword arguments override fields.

        Security follows ``tls`` (``SSL``, ``STARTTLS`` or ``NONE``) and ``ca_file`` is the
        test CA when TLS is on.
        """
        security = {None: Security.NONE, "implicit": Security.SSL, "stls": Security.STARTTLS}[self.tls]
        values: dict[str, object] = {
            "name": "pop3-test",
            "server": _HOST,
            "port": self.port,
            "login": self.user,
            "password": self.password,
            "security": security,
            "ca_file": self.ca_file if self.tls is not None else None,
            "timeout": 10.0,
        }
        values.update(overrides)
        return MailInterface(**values)  # type: ignore[arg-type]

    # -- serving -----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        number = 0
        while True:
            try:
                conn, _address = listener.accept()
            except OSError:
                return
            if self._stopping.is_set():
                conn.close()
                return
            number += 1
            record = _Record(session=number)
            holder = [conn]
            thread = threading.Thread(
                target=self._serve, args=(conn, record, holder), name=f"POP3 session {number}", daemon=True
            )
            with self._lock:
                self._records.append(record)
                self._sessions[number] = (thread, holder)
            thread.start()

    def _serve(self, conn: socket.socket, record: _Record, holder: list[socket.socket]) -> None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _Session(self, conn, record, holder).run()
        except (OSError, _Drop):
            pass
        except Exception as exc:  # a bug in the server: report it at close()
            self._errors.append(exc)
        finally:
            for sock in holder:
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._sessions.pop(record.session, None)

    def _snapshot(self) -> list[_Message]:
        with self._lock:
            return list(self._mailbox)

    def _update(self, deleted: Iterable[_Message]) -> None:
        gone = {id(message) for message in deleted}
        with self._lock:
            self._mailbox = [message for message in self._mailbox if id(message) not in gone]


class _Session:
    """One connection: the RFC 1939 state machine over a buffered socket."""

    def __init__(
        self, server: POP3TestServer, sock: socket.socket, record: _Record, holder: list[socket.socket]
    ) -> None:
        self.server = server
        self.sock = sock
        self.record = record
        self.holder = holder
        self.out = bytearray()
        self.tls = False
        self.state = "authorization"
        self.user: str | None = None
        self.maildrop: list[_Message] = []
        self.deleted: set[int] = set()
        self.retrieved: set[int] = set()
        self.timestamp = f"<{os.getpid()}.{time.time_ns()}.{record.session}@mailtrack.test>"

    # -- I/O ---------------------------------------------------------------------------------

    def run(self) -> None:
        faults = self.server.faults
        if faults.stall == "connect":
            self._wait()
            return
        if self.server.tls == "implicit" and not self._start_tls():
            return
        self.pause()
        greeting = "+OK mailtrack POP3 test server ready"
        if self.server.apop:
            greeting += " " + self.timestamp
        self.reply(greeting)
        self.flush()
        if self.server.faults.stall == "greeting":
            self._wait()
            return
        self._loop()

    def _wait(self) -> None:
        """Stall until the server closes."""
        self.server._stopping.wait()

    def _start_tls(self) -> bool:
        context = server_context(self.server.certificate)
        secure = context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        # Registered before the handshake, so that close() can cut a client that never shakes hands.
        with self.server._lock:
            self.holder.append(secure)
            if self.server._stopping.is_set():
                raise _Drop
        self.sock = secure
        try:
            secure.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            self.record.tls_error = str(exc)
            return False
        self.tls = True
        return True

    def _loop(self) -> None:
        buffer = bytearray()
        batch = 0
        while True:
            data = self.sock.recv(65536)
            if not data:
                return  # dropped by the client: nothing is deleted
            buffer += data
            batch += 1
            while True:
                end = buffer.find(b"\n")
                if end < 0:
                    if len(buffer) > _MAX_LINE:
                        self.reply("-ERR line too long")
                        self.flush()
                        return
                    break
                line = bytes(buffer[:end]).rstrip(b"\r")
                del buffer[: end + 1]
                try:
                    self.handle(line, batch)
                except (_Quit, _Drop):
                    self.flush()  # what was answered before goes out; then the connection closes
                    return
                except _Stall:
                    self._wait()
                    return
                except _StartTLS:
                    self.flush()
                    # Plain text sent after STLS must not be taken as if it came over TLS.
                    buffer.clear()
                    if not self._start_tls():
                        return
                    break
                if len(self.out) >= _FLUSH_AT:
                    self.flush()
            self.flush()

    def reply(self, line: str) -> None:
        self.out += line.encode("utf-8") + b"\r\n"

    def pause(self) -> None:
        """Wait :attr:`Faults.delay` seconds before an answer (what was answered before goes out first)."""
        delay = self.server.faults.delay
        if delay > 0:
            self.flush()
            self.server._stopping.wait(delay)

    def flush(self) -> None:
        if self.out:
            self.sock.sendall(self.out)
            self.out.clear()

    # -- commands ----------------------------------------------------------------------------

    def handle(self, raw_line: bytes, batch: int) -> None:
        text = raw_line.decode("utf-8", errors="replace")
        self.record.lines.append(
            ClientLine(
                text=text,
                tls=self.tls,
                trusted=self.tls and self.server.certificate == "valid",
                batch=batch,
            )
        )
        command, _, argument = text.partition(" ")
        command = command.upper()
        args = argument.split()
        method = getattr(self, f"cmd_{command.lower()}", None) if command.isalpha() else None
        self.pause()
        if method is None:
            self.reply(f"-ERR unknown command {command[:20]!r}")
            return
        allowed = _STATES.get(command, ())
        if self.state not in allowed:
            self.reply(f"-ERR {command} is not allowed in the {self.state.upper()} state")
            return
        method(args)

    def cmd_capa(self, args: list[str]) -> None:
        faults = self.server.faults
        lines = ["+OK capability list follows", "TOP", "USER"]
        if self.server.uidl and not faults.no_uidl:
            lines.append("UIDL")
        if self.server.pipelining:
            lines.append("PIPELINING")
        if self.server.tls == "stls" and not self.tls and not faults.hide_stls:
            lines.append("STLS")
        if self.server.expire is not None:
            lines.append(f"EXPIRE {self.server.expire}")
        lines += ["RESP-CODES", "AUTH-RESP-CODE", "IMPLEMENTATION mailtrack-POP3TestServer", "."]
        for line in lines:
            self.reply(line)

    def cmd_stls(self, args: list[str]) -> None:
        if self.server.tls != "stls" or self.tls:
            self.reply("-ERR STLS not available")
        elif self.server.faults.refuse_stls:
            self.reply("-ERR [SYS/TEMP] TLS is not available right now")
        elif self.user is not None:
            self.reply("-ERR STLS only before USER")
        else:
            self.reply("+OK begin TLS negotiation")
            raise _StartTLS

    def cmd_user(self, args: list[str]) -> None:
        if len(args) != 1:
            self.reply("-ERR USER takes one argument")
            return
        self.user = args[0]
        self.reply("+OK send PASS")

    def cmd_pass(self, args: list[str]) -> None:
        if self.user is None:
            self.reply("-ERR USER first")
            return
        # The password is the rest of the line: it may contain spaces.
        text = self.record.lines[-1].text
        password = text.partition(" ")[2]
        self._login(self.user == self.server.user and password == self.server.password)

    def cmd_apop(self, args: list[str]) -> None:
        if not self.server.apop:
            self.reply("-ERR APOP not supported")
            return
        if len(args) != 2:
            self.reply("-ERR APOP takes a name and a digest")
            return
        expected = hashlib.md5(  # noqa: S324 - APOP is defined with MD5
            (self.timestamp + self.server.password).encode("utf-8")
        ).hexdigest()
        self._login(args[0] == self.server.user and args[1].lower() == expected)

    def _login(self, ok: bool) -> None:
        error = self.server.faults.login_error
        if error is not None:
            self.user = None
            self.reply(f"-ERR {error}")
        elif not ok:
            self.user = None
            self.reply("-ERR [AUTH] invalid login name or password")
        else:
            self.maildrop = self.server._snapshot()
            self.state = "transaction"
            self.reply(f"+OK {len(self.maildrop)} messages")

    def _number(self, args: list[str], *, count: int = 1) -> tuple[int, _Message] | None:
        """The message the first argument names; on failure the -ERR is already queued."""
        if len(args) != count:
            self.reply(f"-ERR expected {count} argument{'s' if count > 1 else ''}")
            return None
        try:
            number = int(args[0])
        except ValueError:
            self.reply(f"-ERR not a message number: {args[0][:20]!r}")
            return None
        if not 1 <= number <= len(self.maildrop):
            self.reply(f"-ERR no such message {number}")
            return None
        if number in self.deleted:
            self.reply(f"-ERR message {number} already deleted")
            return None
        return number, self.maildrop[number - 1]

    def _live(self) -> list[tuple[int, _Message]]:
        return [(n, m) for n, m in enumerate(self.maildrop, 1) if n not in self.deleted]

    def cmd_stat(self, args: list[str]) -> None:
        live = self._live()
        self.reply(f"+OK {len(live)} {sum(len(m.wire) for _, m in live)}")

    def cmd_list(self, args: list[str]) -> None:
        if args:
            found = self._number(args)
            if found is not None:
                self.reply(f"+OK {found[0]} {len(found[1].wire)}")
            return
        live = self._live()
        self.reply(f"+OK {len(live)} messages")
        for number, message in live:
            self.reply(f"{number} {len(message.wire)}")
        if self.server.faults.list_extra:
            self.reply(f"{len(self.maildrop) + 1} 1000")
        self.reply(".")

    def _uid(self, number: int) -> str:
        if self.server.faults.duplicate_uid and number == len(self.maildrop) and number > 1:
            return self.maildrop[0].uid
        return self.maildrop[number - 1].uid

    def cmd_uidl(self, args: list[str]) -> None:
        if not self.server.uidl or self.server.faults.no_uidl:
            self.reply("-ERR UIDL not supported")
            return
        if args:
            found = self._number(args)
            if found is not None:
                self.reply(f"+OK {found[0]} {self._uid(found[0])}")
            return
        self.reply("+OK unique-id listing follows")
        for number, _message in self._live():
            self.reply(f"{number} {self._uid(number)}")
        if self.server.faults.uidl_extra:
            extra = len(self.maildrop) + 1
            self.reply(f"{extra} arrived-in-between-{extra}")
        self.reply(".")

    def cmd_retr(self, args: list[str]) -> None:
        found = self._number(args)
        if found is None:
            return
        number, message = found
        response = b"+OK %d octets\r\n%s.\r\n" % (len(message.wire), message.stuffed)
        faults = self.server.faults
        cut = faults.drop_after_bytes
        if faults.drop_on_message is not None and faults.drop_on_message != number:
            cut = None
        if faults.stall == "retr":
            self._send_part(response, cut if cut is not None else len(response) // 2)
            raise _Stall
        if cut is not None:
            self._send_part(response, cut)
            raise _Drop
        self.retrieved.add(number)
        self._queue(response)

    def _queue(self, response: bytes) -> None:
        if len(response) >= _FLUSH_AT:
            self.flush()
            self.sock.sendall(response)
        else:
            self.out += response

    def _send_part(self, response: bytes, size: int) -> None:
        self.flush()
        if size > 0:
            self.sock.sendall(response[:size])

    def cmd_top(self, args: list[str]) -> None:
        found = self._number(args, count=2)
        if found is None:
            return
        message = found[1]
        try:
            lines = int(args[1])
        except ValueError:
            lines = -1
        if lines < 0:
            self.reply("-ERR the line count must be a number 0 or more")
            return
        wire = message.wire
        split = wire.find(b"\r\n\r\n")
        if split < 0:
            part = wire  # all header, no body
        else:
            body_lines = wire[split + 4 :].split(b"\r\n")[:-1]
            part = wire[: split + 4] + b"".join(line + b"\r\n" for line in body_lines[:lines])
        self._queue(b"+OK top of message follows\r\n%s.\r\n" % _byte_stuff(part))

    def cmd_dele(self, args: list[str]) -> None:
        found = self._number(args)
        if found is not None:
            self.deleted.add(found[0])
            self.reply(f"+OK message {found[0]} deleted")

    def cmd_rset(self, args: list[str]) -> None:
        self.deleted.clear()
        self.reply(f"+OK {len(self.maildrop)} messages")

    def cmd_noop(self, args: list[str]) -> None:
        self.reply("+OK")

    def cmd_quit(self, args: list[str]) -> None:
        if self.state == "authorization":
            self.reply("+OK bye")
            raise _Quit
        faults = self.server.faults
        if faults.drop_after_dele and self.deleted:
            raise _Drop
        if faults.quit_error:
            self.reply("-ERR [SYS/TEMP] some deleted messages not removed")
            raise _Quit
        self.state = "update"
        gone = set(self.deleted)
        if self.server.expire in (0, "0"):
            gone |= self.retrieved
        self.server._update(self.maildrop[number - 1] for number in gone)
        if faults.drop_after_update:
            raise _Drop
        self.reply(f"+OK bye ({len(gone)} messages deleted)")
        raise _Quit


_BOTH = ("authorization", "transaction")
_STATES: dict[str, tuple[str, ...]] = {
    "CAPA": _BOTH,
    "QUIT": _BOTH,
    "STLS": ("authorization",),
    "USER": ("authorization",),
    "PASS": ("authorization",),
    "APOP": ("authorization",),
    "STAT": ("transaction",),
    "LIST": ("transaction",),
    "UIDL": ("transaction",),
    "RETR": ("transaction",),
    "TOP": ("transaction",),
    "DELE": ("transaction",),
    "RSET": ("transaction",),
    "NOOP": ("transaction",),
}
