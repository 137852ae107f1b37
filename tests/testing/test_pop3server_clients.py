"""Real POP3 clients (fetchmail, mpop) retrieve from POP3TestServer and get exactly what it served.

Each client is run as a program, over plain text, implicit TLS and STLS, verifying the test CA's
certificate; a certificate it must not accept stops it before the password is sent. Tests skip
when the program is not installed. (getmail6 is not used: it refuses to deliver when run as root,
which is how these tests run on the CI machines.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mailtrack.testing import Faults, POP3TestServer

pytestmark = pytest.mark.integration

MESSAGES = [
    b"From: a@example.com\nSubject: bare LF line endings\n\nhello\n.a line starting with a dot\n..two\n",
    b"From: b@example.com\r\nSubject: CRLF\r\n\r\nline 1\r\n.\r\nline 3\r\n",
    b"Subject: no final line break\r\n\r\nend",
    b"Subject: large\r\n\r\n" + b"".join(b"line %06d of a larger message .\r\n" % i for i in range(20000)),
]


def as_delivered(message: bytes) -> bytes:
    """What a client hands to its local delivery: LF line endings, ending with one."""
    text = message.replace(b"\r\n", b"\n")
    return text if text.endswith(b"\n") else text + b"\n"


EXPECTED = sorted(as_delivered(message) for message in MESSAGES)


def needs(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (apt install {program})")
    return path


# -- fetchmail ---------------------------------------------------------------------------------


def fetchmail(server: POP3TestServer, tmp_path: Path, *, options: str = "") -> tuple[int, list[bytes], str]:
    """Run fetchmail once against *server*; returns its status, the delivered messages and its log."""
    program = needs("fetchmail")
    out = tmp_path / "delivered"
    out.mkdir()
    deliver = tmp_path / "deliver.sh"
    deliver.write_text('#!/bin/sh\ncat > "$(mktemp "$1/msg.XXXXXX")"\n')
    deliver.chmod(0o755)
    rcfile = tmp_path / "fetchmailrc"
    rcfile.write_text(
        "set no syslog\n"
        f'poll localhost port {server.port} proto pop3 user "{server.user}" password "{server.password}"'
        f' is "{os.environ.get("USER", "root")}" here options fetchall no keep {options}'
        f' mda "{deliver} {out}"\n'
    )
    rcfile.chmod(0o600)
    result = subprocess.run(
        [program, "-f", str(rcfile), "--pidfile", str(tmp_path / "pid"), "-v", "--invisible", "--norewrite"],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    delivered = sorted(path.read_bytes() for path in out.iterdir())
    return result.returncode, delivered, result.stdout + result.stderr


def test_fetchmail_plain_text(tmp_path: Path) -> None:
    with POP3TestServer(MESSAGES) as server:
        status, delivered, log = fetchmail(server, tmp_path, options='sslproto ""')
        assert status == 0, log
        assert delivered == EXPECTED
        assert server.mailbox == []


@pytest.mark.parametrize(("tls", "ssl_option"), [("implicit", "ssl"), ("stls", "")])
def test_fetchmail_over_verified_tls(tmp_path: Path, tls: str, ssl_option: str) -> None:
    with POP3TestServer(MESSAGES, tls=tls) as server:  # type: ignore[arg-type]
        options = f'{ssl_option} sslcertck sslcertfile "{server.ca_file}" sslproto "TLS1.2+"'
        status, delivered, log = fetchmail(server, tmp_path, options=options)
        assert status == 0, log
        assert delivered == EXPECTED
        assert server.mailbox == []
        assert not server.password_exposed
        assert "PASS" in [line.command for line in server.received]


@pytest.mark.parametrize("certificate", ["wrong-host", "untrusted"])
def test_fetchmail_refuses_a_bad_certificate_before_the_password(tmp_path: Path, certificate: str) -> None:
    with POP3TestServer(MESSAGES, tls="implicit", certificate=certificate) as server:  # type: ignore[arg-type]
        options = f'ssl sslcertck sslcertfile "{server.ca_file}" sslproto "TLS1.2+"'
        status, delivered, log = fetchmail(server, tmp_path, options=options)
        assert status != 0, log
        assert delivered == []
        assert len(server.mailbox) == len(MESSAGES)
        assert not server.password_exposed


# -- mpop --------------------------------------------------------------------------------------


def mpop(server: POP3TestServer, tmp_path: Path, *tls: str) -> tuple[int, list[bytes], str]:
    """Run mpop once against *server*, delivering to a maildir; status, messages (in order) and log."""
    program = needs("mpop")
    maildir = tmp_path / "maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    result = subprocess.run(
        [
            program,
            "--host=localhost",
            f"--port={server.port}",
            f"--user={server.user}",
            f"--passwordeval=echo {server.password}",
            "--auth=user",
            *tls,
            f"--delivery=maildir,{maildir}",
            "--keep=off",
            f"--uidls-file={tmp_path / 'uidls'}",
            "--received-header=off",
            "--only-new=off",
            "--timeout=30",
        ],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    delivered = sorted((maildir / "new").iterdir())
    return result.returncode, [path.read_bytes() for path in delivered], result.stdout + result.stderr


def test_mpop_plain_text(tmp_path: Path) -> None:
    with POP3TestServer(MESSAGES) as server:
        status, delivered, log = mpop(server, tmp_path, "--tls=off")
        assert status == 0, log
        assert sorted(delivered) == EXPECTED
        assert server.mailbox == []


def test_mpop_pipelined_commands_are_all_answered(tmp_path: Path) -> None:
    # The delay lets mpop's pipelined RETRs pile up, so that the server reads them in one go.
    with POP3TestServer(MESSAGES, faults=Faults(delay=0.1)) as server:
        status, delivered, log = mpop(server, tmp_path, "--tls=off")
        assert status == 0, log
        assert sorted(delivered) == EXPECTED
        retrs = [line.batch for line in server.received if line.command == "RETR"]
        assert len(set(retrs)) < len(retrs)


@pytest.mark.parametrize("starttls", ["off", "on"])
def test_mpop_over_verified_tls(tmp_path: Path, starttls: str) -> None:
    tls = "implicit" if starttls == "off" else "stls"
    with POP3TestServer(MESSAGES, tls=tls) as server:  # type: ignore[arg-type]
        status, delivered, log = mpop(
            server, tmp_path, "--tls=on", f"--tls-starttls={starttls}", f"--tls-trust-file={server.ca_file}"
        )
        assert status == 0, log
        assert sorted(delivered) == EXPECTED
        assert server.mailbox == []
        assert not server.password_exposed


@pytest.mark.parametrize("certificate", ["wrong-host", "expired"])
def test_mpop_refuses_a_bad_certificate_before_the_password(tmp_path: Path, certificate: str) -> None:
    with POP3TestServer(MESSAGES, tls="stls", certificate=certificate) as server:  # type: ignore[arg-type]
        status, delivered, log = mpop(
            server, tmp_path, "--tls=on", "--tls-starttls=on", f"--tls-trust-file={server.ca_file}"
        )
        assert status != 0, log
        assert delivered == []
        assert len(server.mailbox) == len(MESSAGES)
        assert not server.password_exposed


def test_mpop_does_not_log_in_when_stls_is_refused(tmp_path: Path) -> None:
    with POP3TestServer(MESSAGES, tls="stls", faults=Faults(refuse_stls=True)) as server:
        status, _, log = mpop(
            server, tmp_path, "--tls=on", "--tls-starttls=on", f"--tls-trust-file={server.ca_file}"
        )
        assert status != 0, log
        assert not server.password_exposed
        assert "STLS" in [line.command for line in server.received]
