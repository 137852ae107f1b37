"""One IMAP connection: connect and secure it, log in, select the folder, list, fetch, and apply
``after_import`` to the committed messages.

:class:`IMAPSession` speaks the commands; :class:`~mailtrack.fetching.imap.IMAPFetcher` decides
when (and drops the connection on any error, so that nothing asked for is made final). Every
failure is raised in plain words naming the server and port, never the password.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import attrs

from .._deadlines import Deadline
from .._redaction import Redactor
from ..config import MailInterface, Security
from ..exceptions import AuthenticationError, FetchError, SecurityError, ServerBusyError
from ..models import MessageInfo
from ._errors import ReplyTooLarge, WireError, reply_text
from ._imapwire import Literal, Response, fetch_items, list_name, mailbox_name, quoted, read_response, uid_set
from ._session import open_wire, translate, where
from ._wire import Wire

__all__ = ["FETCH_SLACK", "IMAPSession", "StopSignal", "bodies_command", "imap_error"]

logger = logging.getLogger("mailtrack.fetching.imap")

#: Extra bytes allowed on top of twice ``max_message_bytes`` for one message's literal.
FETCH_SLACK = 64 * 1024
#: Slowest transfer a step of the session may make before its deadline (bytes per second).
SLOWEST_RATE = 16 * 1024
#: Longest folder name written into a ledger key as it is (a longer one is written as a digest).
FOLDER_IN_KEY = 128
#: What lists the selected folder.
LISTING_COMMAND = "UID FETCH 1:* (UID RFC822.SIZE)"


class StopSignal(Protocol):
    """What IDLE waits on besides the server (:class:`mailtrack._importing.stopping.StopRequest`)."""

    def is_set(self) -> bool: ...

    def fileno(self) -> int: ...

    def wait(self, timeout: float | None) -> bool: ...


_TEMPORARY = {"UNAVAILABLE", "INUSE", "LIMIT", "SERVERBUG", "CONTACTADMIN"}
_REFUSED_LOGIN = {"AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED"}


def imap_error(
    response: Response,
    *,
    where: str,
    command: str,
    login: str,
    logging_in: bool = False,
    redactor: Redactor | None = None,
) -> FetchError:
    """The plain-words error for a ``NO``, ``BAD`` or ``BYE`` *response* to *command* (RFC 5530
    response codes: a temporary problem is a :class:`~mailtrack.ServerBusyError`, a refused login
    an :class:`~mailtrack.AuthenticationError`); what the client sent (*redactor*'s secrets) is
    taken out of what the server said."""
    code = response.code
    name = code[0] if code else None
    text = redactor.bytes(response.text) if redactor is not None else response.text
    said = f" (the server said: {reply_text(text)})"
    if response.status == b"BYE" and not logging_in:
        return FetchError(f"{where}: the server ended the session during {command}{said}")
    if response.status == b"BYE" or name in _TEMPORARY:
        return ServerBusyError(f"{where}: the server cannot serve the mailbox now; will retry next run{said}")
    if name in _REFUSED_LOGIN or (logging_in and name is None and response.status == b"NO"):
        return AuthenticationError(
            f"{where}: the server refused the login for user {login!r}: check the login name and "
            f"password{said}"
        )
    if name == "OVERQUOTA":
        return FetchError(f"{where}: the mailbox is over its quota, so the server refused {command}{said}")
    if name == "NONEXISTENT":
        return FetchError(f"{where}: {command} names a folder that does not exist{said}")
    return FetchError(f"{where}: the server refused {command}{said}")


def bodies_command(tag: bytes, messages: list[MessageInfo]) -> str:
    """``TAG UID FETCH set BODY.PEEK[]`` (PEEK: the flags stay as they are)."""
    return f"{tag.decode('ascii')} UID FETCH {uid_set([info.number for info in messages])} BODY.PEEK[]"


@attrs.define
class IMAPSession:
    """What one connection learned: the wire, the capabilities (upper case), the folder's state."""

    interface: MailInterface
    wire: Wire
    capabilities: set[str] = attrs.field(factory=set)
    uidvalidity: int | None = None
    exists: int = 0
    #: ``[ALERT]`` texts the server sent (RFC 3501 says a user must see them), terminal-safe.
    alerts: list[str] = attrs.field(factory=list)
    _tags: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), repr=False)
    #: Tagged responses read while waiting for another tag (commands in a pipeline).
    _finished: dict[bytes, Response] = attrs.field(factory=dict, repr=False)
    #: Tags of the commands sent whose tagged response has not been read.
    _outstanding: set[bytes] = attrs.field(factory=set, repr=False)

    @classmethod
    def connect(cls, interface: MailInterface) -> IMAPSession:
        """Connect and, as the interface says, secure the connection; no login yet."""
        wire, context = open_wire(interface)
        session = cls(interface=interface, wire=wire)
        try:
            session.give(4 * interface.timeout)
            greeting = session.read()
            if greeting.tag != b"*" or greeting.status not in (b"OK", b"PREAUTH"):
                if greeting.tag == b"*" and greeting.status == b"BYE":
                    raise session.error(greeting, "the greeting", logging_in=True)
                raise FetchError(
                    f"{session.where}: the server's greeting is not an IMAP greeting "
                    f"(it said: {reply_text(greeting.text)}); is this an IMAP port?"
                )
            session.note_code(greeting)
            if interface.security is Security.STARTTLS:
                assert context is not None
                session._start_tls(context)
        except BaseException:
            wire.close()
            raise
        return session

    @property
    def where(self) -> str:
        return where(self.interface)

    def give(self, seconds: float) -> None:
        """Allow the next step of the session *seconds* in all, and start a new reply on the
        wire's clock (its per-reply deadline counts from here too; see ``ReplyClock.start``)."""
        self.wire.clock.start(within=seconds)

    # -- commands and responses --------------------------------------------------------------------

    def read(self, *, literal_limit: int | None = None) -> Response:
        if literal_limit is None:
            return read_response(self.wire)
        return read_response(self.wire, literal_limit=literal_limit)

    def next_tag(self) -> bytes:
        tag = f"M{next(self._tags)}".encode("ascii")
        self._outstanding.add(tag)
        return tag

    def send(self, command: str) -> bytes:
        """Send ``TAG command``; return the tag."""
        tag = self.next_tag()
        self.wire.send(f"{tag.decode('ascii')} {command}")
        return tag

    def finish(
        self,
        tag: bytes,
        what: str,
        *,
        on_data: Callable[[Response], None] | None = None,
        literal_limit: int | None = None,
        accept_no: bool = False,
        accept_bad: bool = False,
        logging_in: bool = False,
    ) -> Response:
        """Read responses until the tagged one for *tag*; untagged data goes to *on_data*.

        Raises:
            FetchError: the command was refused (``NO`` unless *accept_no*, ``BAD`` unless
                *accept_bad*) or the server said ``BYE``.
        """
        while tag not in self._finished:
            response = self.read(literal_limit=literal_limit)
            if response.tag == b"*":
                self._untagged(response, what, on_data)
            elif response.tag != b"+":
                if response.tag not in self._outstanding:
                    raise WireError(f"the server answered a command that was not sent: {response.tag[:20]!r}")
                self._outstanding.discard(response.tag)
                self._finished[response.tag] = response
        response = self._finished.pop(tag)
        if (
            response.status == b"OK"
            or (accept_no and response.status == b"NO")
            or (accept_bad and response.status == b"BAD")
        ):
            self.note_code(response)
            return response
        raise self.error(response, what, logging_in=logging_in)

    def step(self, tag: bytes, what: str) -> Response:
        """Read until a continuation request (``+``) or the tagged response to *tag* (SASL).

        Raises:
            FetchError: the server said ``BYE`` (a :class:`~mailtrack.ServerBusyError`).
            WireError: it answered a command that was not sent.
        """
        while True:
            response = self.read()
            if response.tag == b"+":
                return response
            if response.tag == tag:
                self._outstanding.discard(tag)
                return response
            if response.tag != b"*":
                raise WireError(f"the server answered a command that was not sent: {response.tag[:20]!r}")
            if response.status == b"BYE":
                raise self.error(response, what, logging_in=True)
            self._untagged(response, what, None)

    def error(self, response: Response, what: str, *, logging_in: bool = False) -> FetchError:
        """:func:`imap_error` for this session (secrets taken out of what the server said)."""
        return imap_error(
            response,
            where=self.where,
            command=what,
            login=self.interface.login,
            logging_in=logging_in,
            redactor=self.wire.secrets,
        )

    def simple(self, command: str, what: str) -> Response:
        return self.finish(self.send(command), what)

    def _untagged(self, response: Response, what: str, on_data: Callable[[Response], None] | None) -> None:
        status = response.status
        if status == b"BYE":
            raise self.error(response, what)
        if status:
            self.note_code(response)
            return
        number, kind = response.data_kind
        if kind == b"CAPABILITY":
            self.capabilities = set(b" ".join(response.words[1:]).decode("ascii", "replace").upper().split())
        elif kind == b"EXISTS" and number is not None:
            self.exists = number
        elif kind == b"EXPUNGE" and self.exists:
            self.exists -= 1
        if on_data is not None:
            on_data(response)

    def note_code(self, response: Response) -> None:
        code = response.code
        if code is None:
            return
        name, value = code
        if name == "ALERT":
            text = reply_text(self.wire.secrets.bytes(response.text.partition(b"]")[2]))
            self.alerts.append(text)
            logger.warning("%s: the server says: %s", self.where, text)
        elif name == "CAPABILITY":
            self.capabilities = set(value.upper().split())
        elif name == "UIDVALIDITY" and value.isdigit():
            self.uidvalidity = int(value)

    # -- security and login ------------------------------------------------------------------------

    def ask_capabilities(self) -> None:
        self.simple("CAPABILITY", "CAPABILITY (the server's capabilities)")

    def _start_tls(self, context: ssl.SSLContext) -> None:
        """STARTTLS, failing closed: nothing but CAPABILITY and STARTTLS is sent before TLS is up."""
        if not self.capabilities:
            self.ask_capabilities()
        if "STARTTLS" not in self.capabilities:
            raise SecurityError(
                f"{self.where}: the server does not offer STARTTLS, so the connection cannot be "
                f"encrypted; nothing was sent. Use security SSL if the server offers IMAPS (port "
                f"993), or ask its administrator to enable STARTTLS"
            )
        tag = self.send("STARTTLS")
        response = self.read()
        while response.tag == b"*" and response.status != b"BYE":
            response = self.read()
        if response.tag != tag or response.status != b"OK":
            raise SecurityError(
                f"{self.where}: the server refused STARTTLS (the server said: "
                f"{reply_text(response.text)}); nothing was sent"
            )
        try:
            self.wire.start_tls(context, self.interface.server)
        except WireError as exc:
            raise SecurityError(f"{self.where}: {exc}; nothing was sent") from exc
        except OSError as exc:
            raise translate(self.interface, exc, handshake=True) from exc
        # RFC 3501 6.2.1: forget what was learned before TLS.
        self.capabilities = set()

    def login(self, password: str) -> None:
        """AUTHENTICATE PLAIN where offered (UTF-8 safe), else LOGIN; then the capabilities."""
        if not self.capabilities:
            self.ask_capabilities()
        interface = self.interface
        what = "the login"
        if "AUTH=PLAIN" in self.capabilities:
            token = base64.b64encode(f"\0{interface.login}\0{password}".encode()).decode("ascii")
            self.wire.secrets.add(password)
            self.wire.secrets.add(token)
            if "SASL-IR" in self.capabilities:
                tag = self.send(f"AUTHENTICATE PLAIN {token}")
            else:
                tag = self.send("AUTHENTICATE PLAIN")
                response = self.step(tag, what)
                if response.tag != b"+":
                    self._finished[tag] = response  # the refusal: read by finish() below
                else:
                    self.wire.send(token)
        elif "LOGINDISABLED" in self.capabilities:
            raise AuthenticationError(
                f"{self.where}: the server does not allow a login on this connection (LOGINDISABLED); "
                f"use security SSL or STARTTLS"
            )
        elif password.isascii() and interface.login.isascii():
            self.wire.secrets.add(password)
            self.wire.secrets.add(quoted(password))
            tag = self.send(f"LOGIN {quoted(interface.login)} {quoted(password)}")
        else:
            raise AuthenticationError(
                f"{self.where}: the login name or password holds characters that this server's "
                f"LOGIN cannot take (it does not offer AUTHENTICATE PLAIN)"
            )
        # Most servers name their capabilities in the login's OK; ask only when this one does not.
        self.capabilities = set()
        self.finish(tag, what, logging_in=True)
        if not self.capabilities:
            self.ask_capabilities()

    # -- the folder ------------------------------------------------------------------------------------

    def select(self, folder: str, *, read_only: bool) -> None:
        """SELECT (or EXAMINE) *folder*: learn its UIDVALIDITY and message count."""
        command = "EXAMINE" if read_only else "SELECT"
        self.uidvalidity = None
        tag = self.send(f"{command} {mailbox_name(folder)}")
        self._selected(tag, folder, f"{command} of folder {folder!r}")

    def _selected(self, tag: bytes, folder: str, what: str) -> None:
        self.finish(tag, what)
        if self.uidvalidity is None:
            raise FetchError(f"{self.where}: the server did not tell the UIDVALIDITY of folder {folder!r}")

    def select_and_list(self, folder: str, *, read_only: bool) -> list[MessageInfo]:
        """SELECT (or EXAMINE) *folder* and list it (:meth:`listing`), both commands in one write:
        a round trip less. The server runs the listing only once the folder is selected; when it
        refuses the SELECT, the session fails on that refusal (and the listing's is never read)."""
        command = "EXAMINE" if read_only else "SELECT"
        select_tag, listing_tag = self.next_tag(), self.next_tag()
        self.uidvalidity = None
        self.wire.send(
            f"{select_tag.decode('ascii')} {command} {mailbox_name(folder)}",
            f"{listing_tag.decode('ascii')} {LISTING_COMMAND}",
        )
        self._selected(select_tag, folder, f"{command} of folder {folder!r}")
        return self._listed(listing_tag)

    def folder_exists(self, folder: str) -> bool:
        names: list[bytes] = []

        def collect(response: Response) -> None:
            if response.data_kind[1] == b"LIST":
                name = list_name(response)
                if name is not None:
                    names.append(name)

        self.finish(
            self.send(f'LIST "" {mailbox_name(folder)}'), f"LIST of folder {folder!r}", on_data=collect
        )
        return bool(names)

    def _listed(self, tag: bytes) -> list[MessageInfo]:
        """Every message of the selected folder as the listing *tag* (:data:`LISTING_COMMAND`)
        names them: UID and RFC822.SIZE, in UID order; the ledger key is
        ``FOLDER/UIDVALIDITY:UID`` (two folders may have the same UIDVALIDITY)."""
        found: dict[int, int] = {}

        def collect(response: Response) -> None:
            if response.data_kind[1] != b"FETCH":
                return
            items = fetch_items(response)
            uid, size = items.get(b"UID"), items.get(b"RFC822.SIZE")
            if isinstance(uid, bytes) and uid.isdigit() and isinstance(size, bytes) and size.isdigit():
                found[int(uid)] = int(size)
            else:
                logger.warning(
                    "%s: a listed message has no readable UID or size; it stays on the server", self.where
                )

        self.give(4 * self.interface.timeout + self.exists / 100)
        # An empty folder has no UID for "1:*"; some servers refuse the range rather than list nothing.
        empty = self.exists == 0
        self.finish(tag, "the listing (UID FETCH)", on_data=collect, accept_no=empty, accept_bad=empty)
        place = self.interface.folder
        if len(place.encode("utf-8")) > FOLDER_IN_KEY:
            place = "sha256:" + hashlib.sha256(place.encode("utf-8")).hexdigest()[:32]
        prefix = f"{place}/{self.uidvalidity}:"
        return [
            MessageInfo(number=uid, uid=f"{prefix}{uid}", size=size) for uid, size in sorted(found.items())
        ]

    # -- retrieval ---------------------------------------------------------------------------------------

    def receive_bodies(self, tag: bytes, messages: list[MessageInfo], bodies: dict[int, bytes]) -> None:
        """Read the responses to the FETCH *tag* into *bodies* (UID → raw bytes); bodies of other
        FETCHes still outstanding may arrive too and are kept there.

        A message that another client expunged meanwhile has no body; it is left out.

        Raises:
            FetchError: a literal larger than twice ``max_message_bytes`` was announced (nothing
                of it was read), or the server refused the FETCH.
        """
        limit = 2 * self.interface.max_message_bytes + FETCH_SLACK

        def collect(response: Response) -> None:
            if response.data_kind[1] != b"FETCH":
                return
            items = fetch_items(response)
            uid, body = items.get(b"UID"), items.get(b"BODY[]")
            if isinstance(uid, bytes) and uid.isdigit():
                if isinstance(body, Literal):
                    bodies[int(uid)] = body.data
                elif isinstance(body, bytes) and body.upper() != b"NIL":
                    bodies[int(uid)] = body

        announced = sum(info.size for info in messages)
        self.give(self.interface.timeout + announced / SLOWEST_RATE)
        try:
            self.finish(tag, "FETCH of the messages", on_data=collect, literal_limit=limit, accept_no=True)
        except ReplyTooLarge as exc:
            uids = uid_set([info.number for info in messages])
            raise FetchError(
                f"{self.where}: a message among UIDs {uids} is larger than announced ({exc}; the "
                f"limit is twice max_message_bytes); the session was ended"
            ) from exc

    # -- IDLE (RFC 2177) -------------------------------------------------------------------------------

    def idle(self, stop: StopSignal, seconds: float) -> bool:
        """IDLE for up to *seconds* or until *stop*; whether the server told of new mail
        (``EXISTS``/``RECENT``). The IDLE is ended with DONE, and its OK read, either way.

        Raises:
            FetchError: the server refused IDLE, said BYE, or the connection failed.
        """
        timeout = self.interface.timeout
        tag = self.send("IDLE")
        self.give(4 * timeout)
        response = self.read()
        while response.tag == b"*":
            self._untagged(response, "IDLE", None)
            response = self.read()
        if response.tag != b"+":
            raise self.error(response, "IDLE")
        news = False
        end = time.monotonic() + seconds
        while not news and not stop.is_set():
            remaining = end - time.monotonic()
            if remaining <= 0:
                break
            # An IDLE connection lives as long as the watch: run_timeout bounds runs, not it.
            self.wire.clock.run = Deadline.never()
            if not self.wire.readable(remaining, wake=stop.fileno()):
                continue
            self.give(4 * timeout)
            response = self.read()
            if response.tag == b"*":
                self._untagged(response, "IDLE", None)
                news = response.data_kind[1] in (b"EXISTS", b"RECENT")
        self.give(4 * timeout)
        self.wire.send("DONE")
        self.finish(tag, "IDLE")
        return news

    def logout(self) -> None:
        self.logged_out(self.send("LOGOUT"))

    def logged_out(self, tag: bytes) -> None:
        """Read up to the tagged response to the LOGOUT *tag* (its ``BYE`` is expected)."""
        self.give(self.interface.timeout)
        while True:
            response = self.read()
            if response.tag == tag:
                return
