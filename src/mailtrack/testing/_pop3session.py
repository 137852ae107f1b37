"""One session of the POP3 test server: the RFC 1939 state machine over a buffered socket."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._certs import server_context
from ._pop3mailbox import ClientLine, ServedMessage, SessionRecord, byte_stuff
from ._pop3sasl import authenticate

if TYPE_CHECKING:
    from ._pop3server import POP3TestServer

__all__ = ["Drop", "Session"]

_MAX_LINE = 8192  # RFC 2449 allows 255 octets per command; be lenient but bounded.
_FLUSH_AT = 256 * 1024  # pipelined answers are sent in one write, up to this size at a time


class Drop(Exception):
    """Close the connection now, without a word."""


class Stall(Exception):
    """Stop answering; keep the connection open until the server closes."""


class Quit(Exception):
    """The session ended with QUIT; the answer is queued."""


class StartTLS(Exception):
    """Upgrade the connection after the queued answer is sent."""


class Session:
    """One connection: the RFC 1939 state machine over a buffered socket."""

    def __init__(
        self, server: POP3TestServer, sock: socket.socket, record: SessionRecord, holder: list[socket.socket]
    ) -> None:
        self.server = server
        self.sock = sock
        self.record = record
        self.holder = holder
        self.out = bytearray()
        self.tls = False
        self.state = "authorization"
        self.user: str | None = None
        self.maildrop: list[ServedMessage] = []
        self.deleted: set[int] = set()
        self.retrieved: set[int] = set()
        self.timestamp = f"<{os.getpid()}.{time.time_ns()}.{record.session}@mailtrack.test>"
        #: The SASL step waiting for the client's next line (it is not a command).
        self.sasl_step: Callable[[str], None] | None = None

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
                raise Drop
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
                except (Quit, Drop):
                    self.flush()  # what was answered before goes out; then the connection closes
                    return
                except Stall:
                    self._wait()
                    return
                except StartTLS:
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
        command, _, argument = text.partition(" ")
        command = command.upper()
        step, self.sasl_step = self.sasl_step, None
        self.record.lines.append(
            ClientLine(
                text=text,
                tls=self.tls,
                trusted=self.trusted,
                batch=batch,
                secret=step is not None or command in {"PASS", "AUTH"},
            )
        )
        if step is not None:
            self.pause()
            step(text)
            return
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
        if self.server.check_token is not None and self.server.sasl_mechanisms:
            lines.append("SASL " + " ".join(self.server.sasl_mechanisms))
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
            raise StartTLS

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

    @property
    def trusted(self) -> bool:
        return self.tls and self.server.certificate == "valid"

    def cmd_auth(self, args: list[str]) -> None:
        """RFC 5034 AUTH with XOAUTH2 / OAUTHBEARER (see :mod:`._pop3sasl`)."""
        authenticate(self, args)

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

    def _number(self, args: list[str], *, count: int = 1) -> tuple[int, ServedMessage] | None:
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

    def _live(self) -> list[tuple[int, ServedMessage]]:
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
            raise Stall
        if cut is not None:
            self._send_part(response, cut)
            raise Drop
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
        self._queue(b"+OK top of message follows\r\n%s.\r\n" % byte_stuff(part))

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
            raise Quit
        faults = self.server.faults
        if faults.drop_after_dele and self.deleted:
            raise Drop
        if faults.quit_error:
            self.reply("-ERR [SYS/TEMP] some deleted messages not removed")
            raise Quit
        self.state = "update"
        gone = set(self.deleted)
        if self.server.expire in (0, "0"):
            gone |= self.retrieved
        self.server._update(self.maildrop[number - 1] for number in gone)
        if faults.drop_after_update:
            raise Drop
        self.reply(f"+OK bye ({len(gone)} messages deleted)")
        raise Quit


_BOTH = ("authorization", "transaction")
_STATES: dict[str, tuple[str, ...]] = {
    "CAPA": _BOTH,
    "QUIT": _BOTH,
    "STLS": ("authorization",),
    "USER": ("authorization",),
    "PASS": ("authorization",),
    "APOP": ("authorization",),
    "AUTH": ("authorization",),
    "STAT": ("transaction",),
    "LIST": ("transaction",),
    "UIDL": ("transaction",),
    "RETR": ("transaction",),
    "TOP": ("transaction",),
    "DELE": ("transaction",),
    "RSET": ("transaction",),
    "NOOP": ("transaction",),
}
