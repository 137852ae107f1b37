"""The tools a user would pick instead of mailtrack, set up to download a mailbox and empty it.

Each peer is a command that retrieves every message over plain POP3 and deletes it on the
server, writing the mail where it costs least (fetchmail: one BSMTP file; getmail6 and mpop: a
Maildir). None of them parses or stores anything: these are download-only rates.

getmail6 refuses to deliver as root; as root it runs as ``nobody`` (``setpriv``), with its
files owned by that user.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import attrs

__all__ = ["Peer", "available", "peers"]

_NOBODY = 65534


@attrs.frozen
class Peer:
    name: str
    #: Makes the command (and extra environment) for one run into a fresh folder.
    prepare: Callable[[Path, int, str, str], tuple[list[str], dict[str, str]]]
    #: How many messages a finished run delivered into that folder.
    delivered: Callable[[Path], int]


def _private(path: Path, text: str, owner: int | None = None) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    if owner is not None:
        os.chown(path, owner, owner)


def _maildir(path: Path, owner: int | None = None) -> Path:
    for folder in ("cur", "new", "tmp"):
        (path / folder).mkdir(parents=True)
    if owner is not None:
        for folder in (path.parent, path, path / "cur", path / "new", path / "tmp"):
            os.chown(folder, owner, owner)
    return path


def _maildir_count(path: Path) -> int:
    return sum(len(os.listdir(path / "maildir" / folder)) for folder in ("new", "cur"))


def _fetchmail(work: Path, port: int, login: str, password: str) -> tuple[list[str], dict[str, str]]:
    rc = work / "fetchmailrc"
    _private(
        rc,
        "set no syslog\nset no bouncemail\n"
        f"poll 127.0.0.1 with service {port} protocol pop3 auth password:\n"
        f'  user "{login}" there with password "{password}" is root here\n'
        "  options fetchall nokeep sslproto ''\n",  # plain text like every other tool here
    )
    command = ["fetchmail", "-f", str(rc), "--nodetach", "--silent", "--bsmtp", str(work / "mail.bsmtp")]
    return command, {"FETCHMAILHOME": str(work)}


def _fetchmail_delivered(work: Path) -> int:
    path = work / "mail.bsmtp"
    if not path.exists():
        return 0
    with open(path, "rb") as stream:
        return sum(1 for line in stream if line.startswith(b"MAIL FROM"))


def _getmail(work: Path, port: int, login: str, password: str) -> tuple[list[str], dict[str, str]]:
    owner = _NOBODY if os.geteuid() == 0 else None
    if owner is not None:
        os.chown(work, owner, owner)
    maildir = _maildir(work / "maildir", owner)
    rc = work / "getmailrc"
    _private(
        rc,
        f"[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = {port}\n"
        f"username = {login}\npassword = {password}\n\n"
        f"[destination]\ntype = Maildir\npath = {maildir}/\n\n"
        "[options]\nverbose = 0\nread_all = true\ndelete = true\nmessage_log_syslog = false\n",
        owner,
    )
    command = ["getmail", "--getmaildir", str(work), "--rcfile", str(rc)]
    if owner is not None:
        command = ["setpriv", f"--reuid={owner}", f"--regid={owner}", "--clear-groups", *command]
    return command, {}


def _mpop(work: Path, port: int, login: str, password: str) -> tuple[list[str], dict[str, str]]:
    maildir = _maildir(work / "maildir")
    rc = work / "mpoprc"
    _private(
        rc,
        "defaults\ntls off\nauth user\naccount bench\nhost 127.0.0.1\n"
        f"port {port}\nuser {login}\npassword {password}\ndelivery maildir {maildir}\n"
        f"keep off\nonly_new off\nuidls_file {work}/uidls\nreceived_header off\npipelining auto\n",
    )
    return ["mpop", "-C", str(rc), "--all-accounts", "--quiet"], {}


def peers() -> list[Peer]:
    return [
        Peer("fetchmail", _fetchmail, _fetchmail_delivered),
        Peer("getmail6", _getmail, _maildir_count),
        Peer("mpop", _mpop, _maildir_count),
    ]


def available() -> tuple[list[Peer], list[str]]:
    """The installed peers, and a note for each one that is missing."""
    found: list[Peer] = []
    missing: list[str] = []
    for peer in peers():
        program = {"getmail6": "getmail"}.get(peer.name, peer.name)
        if shutil.which(program) is None:
            missing.append(f"{peer.name}: not installed")
        elif peer.name == "getmail6" and os.geteuid() == 0 and shutil.which("setpriv") is None:
            missing.append("getmail6: refuses to run as root and setpriv is missing")
        else:
            found.append(peer)
    return found, missing
