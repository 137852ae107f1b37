"""The private Dovecot of the integration tests: where it runs, and its users' Maildirs.

The fixtures in ``conftest.py`` start it with ``dovecot/dovecot.sh``; tests import
:class:`Mailbox` from here for type hints.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from mailtrack import MailInterface, MailProtocol, Security

SCRIPT = Path(__file__).parent / "dovecot" / "dovecot.sh"
#: Dovecot lives in /usr/sbin, which is not on every user's PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
#: Dovecot refuses uid 0 for mail users: as root, the mail belongs to nobody.
MAIL_UID, MAIL_GID = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())


#: A line of 10,000 bytes without a break, in a message with lines that start with dots.
LONG_LINE = b"".join(b"%04d " % n for n in range(2000))
LONG = (
    b"From: Alice <alice@example.com>\nTo: support@example.com\nSubject: a very long line\n"
    b"Message-ID: <long-line@example.com>\n\n" + LONG_LINE + b"\n.a line starting with a dot\n..and two\n"
)


def crlf(raw: bytes) -> bytes:
    """*raw* with CRLF line ends, as POP3 and IMAP deliver it."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.define
class Mailbox:
    """One Dovecot user with its own Maildir."""

    dovecot: Dovecot
    login: str
    password: str = attrs.field(repr=False)
    path: Path
    _counter: Iterator[int] = attrs.field(factory=itertools.count, init=False, repr=False)

    def deliver(self, raw: bytes, label: str = "message") -> str:
        """Put *raw* into the Maildir's ``new/`` as a mail server would; returns its file name."""
        slug = "".join(ch if ch.isalnum() else "_" for ch in label)[:60]
        name = f"{int(time.time())}.M{next(self._counter)}P{os.getpid()}_{slug}.mailtrack"
        temporary = self.path / "tmp" / name
        temporary.write_bytes(raw)
        os.chown(temporary, MAIL_UID, MAIL_GID)
        temporary.rename(self.path / "new" / name)
        return name

    def files(self) -> set[str]:
        """The names under which the messages now on the server were delivered."""
        return {
            entry.name.split(":", 1)[0]
            for folder in ("new", "cur")
            for entry in (self.path / folder).iterdir()
            if entry.is_file()
        }

    def folder(self, name: str) -> Path:
        """Make the (Maildir++) folder *name*, e.g. the target of ``after_import = "move:…"``."""
        path = self.path / f".{name}"
        for sub in (path, path / "cur", path / "new", path / "tmp"):
            sub.mkdir(exist_ok=True)
            os.chown(sub, MAIL_UID, MAIL_GID)
        return path

    def files_in(self, folder: Path) -> set[str]:
        """The delivery names of the messages now in *folder* (a path from :meth:`folder`)."""
        return {entry.name.split(":", 1)[0] for sub in ("new", "cur") for entry in (folder / sub).iterdir()}

    def flags(self) -> dict[str, str]:
        """Delivery name → Maildir flags (``"S"`` for seen, ``"T"`` for deleted) of the messages."""
        return {
            entry.name.split(":", 1)[0]: entry.name.partition(":2,")[2]
            for folder in ("new", "cur")
            for entry in (self.path / folder).iterdir()
            if entry.is_file()
        }

    def interface(
        self, security: Security = Security.SSL, protocol: MailProtocol = MailProtocol.POP3, **overrides: Any
    ) -> MailInterface:
        """A :class:`MailInterface` for this mailbox (POP3S by default), trusting the test CA."""
        dovecot = self.dovecot
        if protocol is MailProtocol.IMAP:
            port = dovecot.imaps_port if security is Security.SSL else dovecot.imap_port
        else:
            port = dovecot.pop3s_port if security is Security.SSL else dovecot.pop3_port
        values: dict[str, Any] = {
            "protocol": protocol,
            "name": f"dovecot-{self.login}",
            "server": "127.0.0.1",
            "port": port,
            "login": self.login,
            "password": self.password,
            "security": security,
            "ca_file": str(self.dovecot.ca_file),
            "timeout": 30.0,
        }
        values.update(overrides)
        return MailInterface(**values)


#: Users written to the passwd-file before Dovecot starts. Dovecot looks at the file at most once
#: a second, so a user added while it runs may not be known for a moment: a pool avoids that.
POOL_SIZE = 100


def password_of(login: str) -> str:
    """The test password of *login* (test-only: not a secret)."""
    return f"pw-{login}-mailtrack"


def write_users(directory: Path) -> None:
    """The passwd-file with :data:`POOL_SIZE` users (``login:{PLAIN}password:uid:gid::home::``)."""
    lines = [
        f"{login}:{{PLAIN}}{password_of(login)}:{MAIL_UID}:{MAIL_GID}::{directory / 'mail' / login}::\n"
        for login in (f"user{number}" for number in range(POOL_SIZE))
    ]
    (directory / "users").write_text("".join(lines), encoding="ascii")


@attrs.define
class Dovecot:
    """A running private Dovecot."""

    directory: Path
    pop3_port: int
    pop3s_port: int
    imap_port: int
    imaps_port: int
    _users: Iterator[int] = attrs.field(factory=itertools.count, init=False, repr=False)

    @property
    def ca_file(self) -> Path:
        """The private CA that signed the server's certificate (pass it as ``ca_file``)."""
        return self.directory / "tls" / "ca.pem"

    def new_mailbox(self) -> Mailbox:
        """An unused user of the pool, with an empty Maildir."""
        number = next(self._users)
        if number >= POOL_SIZE:
            raise RuntimeError(f"more than {POOL_SIZE} mailboxes in one session: raise POOL_SIZE")
        login = f"user{number}"
        path = self.directory / "mail" / login
        for name in ("cur", "new", "tmp"):
            (path / name).mkdir(parents=True)
        for folder in (path, path / "cur", path / "new", path / "tmp"):
            os.chown(folder, MAIL_UID, MAIL_GID)
        return Mailbox(dovecot=self, login=login, password=password_of(login), path=path)
