"""A small scripted IMAP server for the fault tests: real sockets on 127.0.0.1, one thread per
connection, one shared mailbox, and faults switched on by attribute.

Test-only (users do not get it; Dovecot is the real server of the integration suite). It speaks
the subset :class:`mailtrack.fetching.IMAPFetcher` uses: CAPABILITY, AUTHENTICATE PLAIN (SASL-IR),
AUTHENTICATE XOAUTH2 / OAUTHBEARER (with ``check_token``; the RFC 7628 error challenge), LOGIN,
SELECT/EXAMINE, LIST, UID FETCH (UID, RFC822.SIZE, BODY.PEEK[]), UID STORE, UID EXPUNGE,
EXPUNGE, UID MOVE, UID COPY, IDLE, NOOP, LOGOUT. Every command line received is kept in
``commands`` (passwords included: the tests look for them where they must not be).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from mailtrack import MailInterface, MailProtocol, Security
from mailtrack.testing import SASLLogin
from mailtrack.testing._pop3sasl import error_challenge, parse_response


@attrs.define
class Message:
    uid: int
    raw: bytes
    flags: set[str] = attrs.field(factory=set)


@attrs.define
class ScriptedIMAPServer:
    """Use as a context manager; ``interface()`` gives a MailInterface for it."""

    user: str = "support"
    password: str = "secret-pw"
    uidvalidity: int = 1000
    capabilities: tuple[str, ...] = ("IMAP4rev1", "AUTH=PLAIN", "SASL-IR", "UIDPLUS", "MOVE", "IDLE")
    # -- faults ---------------------------------------------------------------------------------
    #: The greeting line (after ``* ``); ``BYE …`` refuses every connection.
    greeting: str = "OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] scripted IMAP ready"
    #: The tagged reply to a right login (after the tag), e.g. ``NO [UNAVAILABLE] …``;
    #: ``{command}`` in it is replaced by the login command as received (a server that repeats it).
    login_reply: str = "OK [ALERT] logged in"
    #: OAuth 2.0: ``check_token(user, token)`` says whether a bearer token is good (XOAUTH2 and
    #: OAUTHBEARER answer only when it is set; name them in ``capabilities`` as ``AUTH=…``).
    check_token: Callable[[str, str], bool] | None = None
    #: The tagged reply to a good token instead of OK (``NO [UNAVAILABLE] …``: cannot check now);
    #: ``{command}`` in it is replaced by the command as received.
    token_reply: str | None = None
    #: Each OAuth sign-in attempt (as :class:`~mailtrack.testing.POP3TestServer` records them).
    sasl_logins: list[SASLLogin] = attrs.field(factory=list)
    #: The client's answers to the error challenges (decoded: ``b""`` XOAUTH2, ``b"\x01"`` OAUTHBEARER).
    challenge_answers: list[bytes] = attrs.field(factory=list)
    #: Drop the connection after sending this many message bodies in FETCH responses.
    drop_after_bodies: int | None = None
    #: Drop the connection when a command with this name (``"UID EXPUNGE"``, ``"UID MOVE"``) arrives,
    #: before doing it.
    drop_on: str | None = None
    #: Tagged reply to this command name instead of doing it (``{"UID MOVE": "NO [OVERQUOTA] full"}``).
    refuse: dict[str, str] = attrs.field(factory=dict)
    #: Announce each literal this many bytes larger than it is.
    overannounce: int = 0
    #: Send message bodies one byte at a time, this many seconds apart.
    trickle: float = 0.0
    #: UIDs that vanish (another client expunged them) once the listing was sent.
    expunged_meanwhile: set[int] = attrs.field(factory=set)
    # -- state ----------------------------------------------------------------------------------
    folders: dict[str, list[Message]] = attrs.field(factory=lambda: {"INBOX": []})
    commands: list[str] = attrs.field(factory=list)
    #: For each line of ``commands``: the number of the socket read that brought it on its
    #: connection (lines that share one were sent together: pipelined).
    batches: list[int] = attrs.field(factory=list)
    #: Message bodies sent in FETCH responses, over all connections.
    bodies_total: int = 0
    next_uid: dict[str, int] = attrs.field(factory=lambda: {"INBOX": 1})
    _sock: socket.socket | None = None
    _threads: list[threading.Thread] = attrs.field(factory=list)
    _clients: list[socket.socket] = attrs.field(factory=list)
    _lock: threading.RLock = attrs.field(factory=threading.RLock)
    _idlers: list[threading.Event] = attrs.field(factory=list)

    # -- the mailbox ----------------------------------------------------------------------------

    def add(self, raw: bytes, folder: str = "INBOX") -> int:
        """Deliver *raw* (LF or CRLF; stored with CRLF) to *folder*; returns its UID."""
        with self._lock:
            uid = self.next_uid.setdefault(folder, 1)
            self.next_uid[folder] = uid + 1
            crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            self.folders.setdefault(folder, []).append(Message(uid, crlf))
            for idler in self._idlers:
                idler.set()
            return uid

    def rebuild(self) -> None:
        """A rebuilt mailbox: a new UIDVALIDITY and new UIDs for the same messages."""
        with self._lock:
            self.uidvalidity += 1
            for folder, messages in self.folders.items():
                for number, message in enumerate(messages, start=1):
                    message.uid = number + 100
                self.next_uid[folder] = len(messages) + 101

    def note(self, line: str, batch: int) -> None:
        """Keep a line the client sent, and the read that brought it."""
        self.commands.append(line)
        self.batches.append(batch)

    def batch_of(self, command: str) -> list[int]:
        """The batches (see ``batches``) of the lines whose command (after the tag) starts with *command*."""
        return [
            batch
            for line, batch in zip(self.commands, self.batches, strict=True)
            if line.partition(" ")[2].startswith(command)
        ]

    def raws(self, folder: str = "INBOX") -> list[bytes]:
        with self._lock:
            return [message.raw for message in self.folders.get(folder, [])]

    def interface(self, **overrides: Any) -> MailInterface:
        assert self._sock is not None
        values: dict[str, Any] = {
            "name": "scripted",
            "protocol": MailProtocol.IMAP,
            "server": "127.0.0.1",
            "port": self._sock.getsockname()[1],
            "login": self.user,
            "password": self.password,
            "security": Security.NONE,
            "timeout": 5.0,
        }
        values.update(overrides)
        return MailInterface(**values)

    # -- serving --------------------------------------------------------------------------------

    def __enter__(self) -> ScriptedIMAPServer:
        self._sock = socket.create_server(("127.0.0.1", 0))
        thread = threading.Thread(target=self._accept, daemon=True, name="scripted-imap")
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._sock is not None
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread waiting in accept()
        self._sock.close()
        with self._lock:
            for client in self._clients:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                client.close()
            for idler in self._idlers:
                idler.set()
        for thread in self._threads:
            thread.join(10)

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._clients.append(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        try:
            with client:
                _Connection(self, client, _Lines(client)).run()
        except (OSError, _Dropped):
            pass


class _Dropped(Exception):
    pass


@attrs.define
class _Lines:
    """Lines off a socket; a read may time out without losing what came so far."""

    sock: socket.socket
    buffer: bytes = b""
    #: Reads that brought data so far.
    reads: int = 0

    def readline(self, timeout: float | None = None) -> bytes:
        """A line with its CRLF, ``b""`` when the client closed, ``None`` on *timeout*."""
        self.sock.settimeout(timeout)
        while b"\n" not in self.buffer:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return b"\0"
            if not chunk:
                return b""
            self.reads += 1
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"


@attrs.define
class _Connection:
    server: ScriptedIMAPServer
    client: socket.socket
    reader: _Lines
    folder: str | None = None
    read_only: bool = False
    bodies_sent: int = 0

    def send(self, line: str | bytes) -> None:
        data = line.encode() if isinstance(line, str) else line
        self.client.sendall(data + b"\r\n")

    def run(self) -> None:
        server = self.server
        self.send(f"* {server.greeting}")
        if server.greeting.startswith("BYE"):
            return
        while True:
            line = self.reader.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            server.note(text, self.reader.reads)
            tag, _, command = text.partition(" ")
            name = (
                " ".join(command.split()[:2]).upper()
                if command.upper().startswith("UID ")
                else command.split(" ")[0].upper()
            )
            if server.drop_on == name:
                self.client.shutdown(socket.SHUT_RDWR)
                raise _Dropped
            if name in server.refuse:
                self.send(f"{tag} {server.refuse[name]}")
                continue
            if not self.handle(tag, name, command):
                return

    def handle(self, tag: str, name: str, command: str) -> bool:
        server = self.server
        words = command.split(" ")
        if name == "CAPABILITY":
            self.send("* CAPABILITY " + " ".join(server.capabilities))
            self.send(f"{tag} OK done")
        elif name == "AUTHENTICATE" and words[1].upper() in ("XOAUTH2", "OAUTHBEARER"):
            return self.bearer(tag, words[1].upper(), words[2] if len(words) > 2 else None, command)
        elif name == "AUTHENTICATE":
            user, password = base64.b64decode(words[2]).split(b"\0")[1:]
            right = user.decode() == server.user and password.decode() == server.password
            return self.logged_in(tag, right, command)
        elif name == "LOGIN":
            return self.logged_in(tag, command == f'LOGIN "{server.user}" "{server.password}"', command)
        elif name in ("SELECT", "EXAMINE"):
            folder = words[1].strip('"')
            if folder not in server.folders:
                self.send(f"{tag} NO [NONEXISTENT] Mailbox doesn't exist: {folder}")
                return True
            self.folder, self.read_only = folder, name == "EXAMINE"
            with server._lock:
                count = len(server.folders[folder])
                self.send(f"* {count} EXISTS")
                self.send(f"* OK [UIDVALIDITY {server.uidvalidity}] UIDs valid")
            self.send(f"{tag} OK [{'READ-ONLY' if self.read_only else 'READ-WRITE'}] done")
        elif name == "LIST":
            folder = words[2].strip('"')
            if folder in server.folders:
                self.send(f'* LIST () "." "{folder}"')
            self.send(f"{tag} OK done")
        elif name == "UID FETCH":
            self.fetch(tag, command)
        elif name == "UID STORE":
            flag = "\\Deleted" if "\\Deleted" in command else "\\Seen"
            for message in self.messages(words[2]):
                message.flags.add(flag)
            self.send(f"{tag} OK done")
        elif name == "UID EXPUNGE":
            self.expunge(
                tag, {message.uid for message in self.messages(words[2]) if "\\Deleted" in message.flags}
            )
        elif name == "EXPUNGE":
            self.expunge(
                tag, {message.uid for message in self.messages("1:*") if "\\Deleted" in message.flags}
            )
        elif name in ("UID MOVE", "UID COPY"):
            target = words[3].strip('"')
            if target not in server.folders:
                self.send(f"{tag} NO [TRYCREATE] no such folder")
                return True
            chosen = self.messages(words[2])
            for message in chosen:
                server.add(message.raw, target)
            if name == "UID MOVE":
                self.expunge(tag, {message.uid for message in chosen})
            else:
                self.send(f"{tag} OK done")
        elif name == "IDLE":
            self.idle(tag)
        elif name == "NOOP":
            self.send(f"{tag} OK done")
        elif name == "LOGOUT":
            self.send("* BYE logging out")
            self.send(f"{tag} OK done")
            return False
        else:
            self.send(f"{tag} BAD unknown command")
        return True

    def logged_in(self, tag: str, right: bool, command: str) -> bool:
        if not right:
            self.send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
            return True
        self.send(f"{tag} {self.server.login_reply.replace('{command}', command)}")
        return not self.server.login_reply.startswith(("NO", "BAD"))

    def bearer(self, tag: str, mechanism: str, initial: str | None, command: str) -> bool:
        """XOAUTH2 / OAUTHBEARER (read as POP3TestServer reads them): the initial response with
        the command (SASL-IR) or after ``+``; a refused token gets the error challenge first."""
        server = self.server
        if server.check_token is None or f"AUTH={mechanism}" not in server.capabilities:
            self.send(f"{tag} NO [CANNOT] mechanism not offered")
            return True
        if initial is None:
            self.send("+ ")
            line = self.reader.readline()
            if not line:
                return False
            initial = line.decode().strip()
            server.note(initial, self.reader.reads)
        parsed = parse_response(mechanism, initial)
        if parsed is None:
            self.send(f"{tag} BAD malformed SASL response")
            return True
        accepted = server.check_token(*parsed)
        login = SASLLogin(
            mechanism=mechanism, user=parsed[0], token=parsed[1], accepted=accepted, tls=False, trusted=False
        )
        server.sasl_logins.append(login)
        if not accepted:
            self.send(error_challenge(mechanism))
            line = self.reader.readline()
            if not line:
                return False
            server.note(line.decode().rstrip("\r\n"), self.reader.reads)
            server.challenge_answers.append(base64.b64decode(line.strip()))
            self.send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
            return True
        if server.token_reply is not None:
            self.send(f"{tag} {server.token_reply.replace('{command}', command)}")
            return True
        return self.logged_in(tag, True, command)

    def messages(self, uid_set: str) -> list[Message]:
        server = self.server
        with server._lock:
            messages = list(server.folders[self.folder or "INBOX"])
        top = max((message.uid for message in messages), default=0)
        wanted: set[int] = set()
        for part in uid_set.split(","):
            low, _, high = part.partition(":")
            first = top if low == "*" else int(low)
            last = first if not high else (top if high == "*" else int(high))
            wanted.update(range(min(first, last), max(first, last) + 1))
        return [message for message in messages if message.uid in wanted]

    def fetch(self, tag: str, command: str) -> None:
        server = self.server
        chosen = self.messages(command.split(" ")[2])
        listing = "RFC822.SIZE" in command.upper()
        for number, message in enumerate(chosen, start=1):
            if listing:
                self.send(f"* {number} FETCH (UID {message.uid} RFC822.SIZE {len(message.raw)})")
                continue
            if message.uid in server.expunged_meanwhile:
                continue
            if server.drop_after_bodies is not None and self.bodies_sent >= server.drop_after_bodies:
                self.client.shutdown(socket.SHUT_RDWR)
                raise _Dropped
            announced = len(message.raw) + server.overannounce
            head = f"* {number} FETCH (UID {message.uid} BODY[] {{{announced}}}\r\n".encode()
            if server.trickle:
                self.client.sendall(head)
                for byte in message.raw:
                    self.client.sendall(bytes([byte]))
                    time.sleep(server.trickle)
                self.send(b")")
            else:
                self.send(head + message.raw + b")")
            self.bodies_sent += 1
            server.bodies_total += 1
        if listing:
            with server._lock:
                folder = server.folders[self.folder or "INBOX"]
                folder[:] = [message for message in folder if message.uid not in server.expunged_meanwhile]
        elif server.expunged_meanwhile:
            self.send(f"{tag} NO [EXPUNGEISSUED] Some of the requested messages no longer exist")
            return
        self.send(f"{tag} OK done")

    def expunge(self, tag: str, uids: set[int]) -> None:
        server = self.server
        with server._lock:
            messages = server.folders[self.folder or "INBOX"]
            for number in range(len(messages), 0, -1):
                if messages[number - 1].uid in uids:
                    del messages[number - 1]
                    self.send(f"* {number} EXPUNGE")
        self.send(f"{tag} OK done")

    def idle(self, tag: str) -> None:
        server = self.server
        event = threading.Event()
        with server._lock:
            server._idlers.append(event)
        self.send("+ idling")
        try:
            while True:
                if event.is_set():  # a message was added
                    event.clear()
                    with server._lock:
                        count = len(server.folders[self.folder or "INBOX"])
                    self.send(f"* {count} EXISTS")
                line = self.reader.readline(0.05)
                if line == b"\0":
                    continue
                if not line:
                    raise _Dropped
                server.note(line.decode().rstrip("\r\n"), self.reader.reads)
                if line.strip().upper() == b"DONE":
                    break
        finally:
            with server._lock:
                server._idlers.remove(event)
        self.send(f"{tag} OK idle done")
