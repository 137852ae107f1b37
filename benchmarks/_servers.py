"""Where the benchmark's mail comes from: a private Dovecot when installed, else POP3TestServer.

Both give mailboxes ``mailbox(index)`` that are (re)filled with a list of message files before
every measured run and tell afterwards how many messages are left on the server.

Dovecot is the integration suite's private instance (``tests/integration/dovecot/dovecot.sh``)
in a folder of its own, on free ports, with as many users as the benchmark needs; a Maildir is
filled with hard links to the generated files, so refilling costs nothing. POP3TestServer runs
in the benchmark's own process, one server per mailbox.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from mailtrack import POP3Fetcher
from mailtrack.testing import POP3TestServer

__all__ = ["Dovecot", "Mailbox", "Server", "TestServers", "dovecot_installed", "free_port"]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "integration" / "dovecot" / "dovecot.sh"
#: Dovecot lives in /usr/sbin, which is not on every user's PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
#: Dovecot refuses uid 0 for mail users: as root, the mail belongs to nobody.
MAIL_UID, MAIL_GID = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dovecot_installed() -> bool:
    return shutil.which("dovecot", path=SEARCH_PATH) is not None and SCRIPT.exists()


class Mailbox(Protocol):
    login: str
    password: str

    @property
    def port(self) -> int: ...

    def fill(self, files: Sequence[Path]) -> None: ...

    def left(self) -> int: ...


class Server(Protocol):
    name: str

    def mailbox(self, index: int) -> Mailbox: ...

    def close(self) -> None: ...


class _DovecotMailbox:
    def __init__(self, dovecot: Dovecot, index: int) -> None:
        self.dovecot = dovecot
        self.login = f"bench{index}"
        self.password = f"pw-bench{index}"
        self.path = dovecot.directory / "mail" / self.login

    @property
    def port(self) -> int:
        return self.dovecot.pop3_port

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    def fill(self, files: Sequence[Path]) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        for folder in ("cur", "new", "tmp"):
            (self.path / folder).mkdir(parents=True)
        for folder in (self.path, self.path / "cur", self.path / "new", self.path / "tmp"):
            os.chown(folder, MAIL_UID, MAIL_GID)
        for file in files:
            os.link(file, self.path / "new" / file.name)

    def left(self) -> int:
        return sum(len(os.listdir(self.path / folder)) for folder in ("new", "cur"))


class Dovecot:
    """A private Dovecot with ``users`` mailboxes (``bench0`` …), POP3 and IMAP on free ports."""

    name = "Dovecot"

    def __init__(self, directory: Path, users: int) -> None:
        self.directory = directory
        self.pop3_port = free_port()
        self.imap_port = free_port()
        self._env = {
            **os.environ,
            "PATH": SEARCH_PATH,
            "MAILTRACK_DOVECOT_DIR": str(directory),
            "MAILTRACK_DOVECOT_POP3_PORT": str(self.pop3_port),
            "MAILTRACK_DOVECOT_POP3S_PORT": str(free_port()),
            "MAILTRACK_DOVECOT_IMAP_PORT": str(self.imap_port),
            "MAILTRACK_DOVECOT_IMAPS_PORT": str(free_port()),
        }
        self._stop()
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        home = directory / "mail"
        lines = [
            f"bench{index}:{{PLAIN}}pw-bench{index}:{MAIL_UID}:{MAIL_GID}::{home / f'bench{index}'}::\n"
            for index in range(users)
        ]
        (directory / "users").write_text("".join(lines), encoding="ascii")
        subprocess.run([str(SCRIPT), "start"], env=self._env, check=True, stdout=subprocess.DEVNULL)

    def mailbox(self, index: int) -> Mailbox:
        return _DovecotMailbox(self, index)

    def _stop(self) -> None:
        if (self.directory / "run" / "master.pid").exists():
            subprocess.run([str(SCRIPT), "stop"], env=self._env, check=False, stdout=subprocess.DEVNULL)

    def close(self) -> None:
        self._stop()


class _TestMailbox:
    def __init__(self) -> None:
        self.login = "user"
        self.password = "secret"
        self.server = POP3TestServer([], user=self.login, password=self.password).start()

    @property
    def port(self) -> int:
        return self.server.port

    def fill(self, files: Sequence[Path]) -> None:
        if self.server.mailbox:  # a failed run left some: take them away with a session of our own
            fetcher = POP3Fetcher(self.server.interface())
            for info in fetcher.open():
                fetcher.delete(info)
            fetcher.close(commit=True)
        for file in files:
            self.server.add_message(file.read_bytes(), uid=file.name.split(",", 1)[0])

    def left(self) -> int:
        return len(self.server.mailbox)


class TestServers:
    """One :class:`~mailtrack.testing.POP3TestServer` per mailbox, in this process."""

    name = "POP3TestServer"

    def __init__(self) -> None:
        self._mailboxes: dict[int, _TestMailbox] = {}

    def mailbox(self, index: int) -> Mailbox:
        if index not in self._mailboxes:
            self._mailboxes[index] = _TestMailbox()
        return self._mailboxes[index]

    def close(self) -> None:
        for mailbox in self._mailboxes.values():
            mailbox.server.close()
