"""What the POP3 test server holds and records: its faults, its messages, what clients sent."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

__all__ = [
    "ClientLine",
    "Faults",
    "ServedMessage",
    "SessionRecord",
    "Transcript",
    "as_messages",
    "byte_stuff",
    "check_uid",
    "unique_uid",
]

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
    #: Whether the line carries a secret: PASS, AUTH, or a response in a SASL exchange.
    secret: bool = attrs.field(default=False, eq=False)

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
class ServedMessage:
    uid: str
    raw: bytes
    #: CRLF line endings, ending with CRLF: what LIST counts and TOP cuts.
    wire: bytes
    #: :attr:`wire` byte-stuffed, ready to follow a ``+OK`` line and precede ``.\r\n``.
    stuffed: bytes

    @classmethod
    def make(cls, uid: str, raw: bytes) -> ServedMessage:
        wire = _BARE_LF.sub(b"\r\n", raw)
        if not wire.endswith(b"\r\n"):
            wire += b"\r\n"
        return cls(uid=uid, raw=raw, wire=wire, stuffed=byte_stuff(wire))


def byte_stuff(wire: bytes) -> bytes:
    """Double the dot that starts a line (RFC 1939 section 3); no copy when there is none."""
    if not wire.startswith(b".") and b"\r\n." not in wire:
        return wire  # most messages: raw, wire and stuffed are then one object in memory
    return (b"\r\n" + wire).replace(b"\r\n.", b"\r\n..")[2:]


def digest_uid(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


def check_uid(uid: str) -> str:
    if not isinstance(uid, str) or not _UID_CHARS.fullmatch(uid):
        raise ValueError(f"a POP3 UID is 1 to 70 printable ASCII characters without spaces, not {uid!r}")
    return uid


def as_messages(value: object) -> list[ServedMessage]:
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
            pairs.append((check_uid(item[0]), bytes(item[1])))
        else:
            raise TypeError(f"a message must be bytes or a (uid, bytes) pair, not {type(item).__name__}")
    taken = {uid for uid, _ in pairs if uid is not None}
    result = []
    for uid, raw in pairs:
        if uid is None:
            uid = unique_uid(raw, taken)
            taken.add(uid)
        result.append(ServedMessage.make(uid, raw))
    return result


def unique_uid(raw: bytes, taken: set[str]) -> str:
    """A UID from the message's digest: the same content gets the same UID on every server."""
    base = digest_uid(raw)
    uid, counter = base, 1
    while uid in taken:
        counter += 1
        uid = f"{base}-{counter}"
    return uid


@attrs.define(eq=False)
class SessionRecord:
    """Mutable record of one session, turned into a :class:`Transcript` on demand."""

    session: int
    lines: list[ClientLine] = attrs.field(factory=list)
    tls_error: str | None = None

    def freeze(self) -> Transcript:
        return Transcript(session=self.session, lines=tuple(self.lines), tls_error=self.tls_error)
