"""A private Dovecot for the integration tests: started once per test session on free loopback ports.

``tests/integration/dovecot/dovecot.sh`` does the work (config from ``dovecot.conf.in``, a
private CA made with openssl, Maildirs under a temporary folder); the fixtures here call it, add a
fresh user with an empty Maildir per test, and stop Dovecot at the end.

Without a ``dovecot`` binary the tests skip, saying so; with ``MAILTRACK_DOVECOT=required`` (set
by ``.ci/run``) they fail instead, so that CI cannot pass without having run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from _dovecot import SCRIPT, SEARCH_PATH, Dovecot, Mailbox, free_port, write_users
from mailtrack.testing import OAuthTestServer


def _run_script(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="session")
def authorization_server() -> Iterator[OAuthTestServer]:
    """The OAuth 2.0 authorization server whose introspection endpoint Dovecot's oauth2 passdb asks."""
    with OAuthTestServer(http=True) as server:
        yield server


@pytest.fixture
def oauth(authorization_server: OAuthTestServer) -> Iterator[OAuthTestServer]:
    """The session's authorization server, its switches reset after the test."""
    yield authorization_server
    authorization_server.rotate = authorization_server.down = False
    authorization_server.delay = 0.0
    authorization_server.access_token_lifetime = 3600.0


@pytest.fixture(scope="session")
def dovecot(authorization_server: OAuthTestServer) -> Iterator[Dovecot]:
    """A private Dovecot on 127.0.0.1 for the whole test session."""
    if shutil.which("dovecot", path=SEARCH_PATH) is None:
        reason = "Dovecot is not installed (apt-get install dovecot-pop3d dovecot-imapd); .ci/run installs it"
        if os.environ.get("MAILTRACK_DOVECOT") == "required":
            pytest.fail(f"MAILTRACK_DOVECOT=required, but {reason}")
        pytest.skip(reason)
    # Not pytest's tmp_path: its folders are private (0700), and Dovecot's mail processes run as
    # another user that must reach the Maildirs.
    directory = Path(tempfile.mkdtemp(prefix="mailtrack-dovecot-"))
    directory.chmod(0o755)
    env = {
        **os.environ,
        "PATH": SEARCH_PATH,
        "MAILTRACK_DOVECOT_DIR": str(directory),
        "MAILTRACK_DOVECOT_POP3_PORT": str(free_port()),
        "MAILTRACK_DOVECOT_POP3S_PORT": str(free_port()),
        "MAILTRACK_DOVECOT_IMAP_PORT": str(free_port()),
        "MAILTRACK_DOVECOT_IMAPS_PORT": str(free_port()),
        "MAILTRACK_DOVECOT_OAUTH2_URL": f"http://127.0.0.1:{authorization_server.http_port}",
    }
    write_users(directory)
    try:
        started = _run_script("start", env)
    except BaseException:
        _run_script("stop", env)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    if started.returncode != 0:
        _run_script("stop", env)
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"the private Dovecot did not start:\n{started.stdout}{started.stderr}")
    try:
        yield Dovecot(
            directory=directory,
            pop3_port=int(env["MAILTRACK_DOVECOT_POP3_PORT"]),
            pop3s_port=int(env["MAILTRACK_DOVECOT_POP3S_PORT"]),
            imap_port=int(env["MAILTRACK_DOVECOT_IMAP_PORT"]),
            imaps_port=int(env["MAILTRACK_DOVECOT_IMAPS_PORT"]),
        )
    finally:
        _run_script("stop", env)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    """A fresh, empty mailbox on the private Dovecot."""
    return dovecot.new_mailbox()
