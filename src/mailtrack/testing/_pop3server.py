"""An in-process POP3 server (RFC 1939, RFC 2449, RFC 2595 STLS) for tests and benchmarks.

:class:`POP3TestServer` listens on 127.0.0.1 (an ephemeral port), serves one thread per
connection (:mod:`._pop3session`) and holds its mailbox in memory (:mod:`._pop3mailbox`).
Deletions take effect only when a session ends with QUIT; a dropped connection deletes nothing,
as on a real server. :class:`Faults` makes it misbehave on purpose, and it can be replaced while
the server runs (``server.faults = …``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Literal

import attrs
from typing_extensions import Self

from ..config import MailInterface, Security
from ._certs import CertificateKind, ca_file, server_context
from ._pop3mailbox import (
    ClientLine,
    Faults,
    ServedMessage,
    SessionRecord,
    Transcript,
    as_messages,
    check_uid,
    unique_uid,
)
from ._pop3session import Drop, Session

__all__ = ["POP3TestServer"]

_HOST = "127.0.0.1"


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

    _initial: list[ServedMessage] = attrs.field(default=(), converter=as_messages, alias="messages")
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
    _mailbox: list[ServedMessage] = attrs.field(init=False, factory=list, repr=False)
    _listener: socket.socket | None = attrs.field(init=False, default=None, repr=False)
    _acceptor: threading.Thread | None = attrs.field(init=False, default=None, repr=False)
    _stopping: threading.Event = attrs.field(init=False, factory=threading.Event, repr=False)
    _sessions: dict[int, tuple[threading.Thread, list[socket.socket]]] = attrs.field(
        init=False, factory=dict, repr=False
    )
    _records: list[SessionRecord] = attrs.field(init=False, factory=list, repr=False)
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
        with self._lock:  # sessions add their TLS socket under the lock, see Session._start_tls
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
                uid = unique_uid(raw, {message.uid for message in self._mailbox})
            else:
                check_uid(uid)
            self._mailbox.append(ServedMessage.make(uid, bytes(raw)))
        return uid

    def remove_message(self, uid: str) -> None:
        """Take the message with this UID out of the mailbox (another client deleting it).

        Raises:
            KeyError: no message has that UID.
        """
        with self._lock:
            kept = [message for message in self._mailbox if message.uid != uid]
            if len(kept) == len(self._mailbox):
                raise KeyError(uid)
            self._mailbox = kept

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
            record = SessionRecord(session=number)
            holder = [conn]
            thread = threading.Thread(
                target=self._serve, args=(conn, record, holder), name=f"POP3 session {number}", daemon=True
            )
            with self._lock:
                self._records.append(record)
                self._sessions[number] = (thread, holder)
            thread.start()

    def _serve(self, conn: socket.socket, record: SessionRecord, holder: list[socket.socket]) -> None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            Session(self, conn, record, holder).run()
        except (OSError, Drop):
            pass
        except Exception as exc:  # a bug in the server: report it at close()
            self._errors.append(exc)
        finally:
            for sock in holder:
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._sessions.pop(record.session, None)

    def _snapshot(self) -> list[ServedMessage]:
        with self._lock:
            return list(self._mailbox)

    def _update(self, deleted: Iterable[ServedMessage]) -> None:
        gone = {id(message) for message in deleted}
        with self._lock:
            self._mailbox = [message for message in self._mailbox if id(message) not in gone]
