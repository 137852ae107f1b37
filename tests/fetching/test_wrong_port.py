"""A TLS port with a plain setting, and a plain port with the SSL setting: said in plain words,
with the setting and port to use, quickly, and without sending anything but a ClientHello.

Against POP3TestServer here, and against Dovecot's POP3 and POP3S ports in
``tests/integration/test_dovecot_fetcher.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import attrs
import pytest

from mailtrack import Importer, Security, SecurityError
from mailtrack.fetching import POP3Fetcher
from mailtrack.fetching._probe import plain_greeting, speaks_tls
from mailtrack.testing import POP3TestServer, build_message

PASSWORD = "s3cret-password-never-sent"


@pytest.mark.parametrize("security", [Security.NONE, Security.STARTTLS])
def test_a_plain_setting_on_a_tls_port_says_to_use_ssl(security: Security) -> None:
    with POP3TestServer([build_message()], tls="implicit", user="support", password=PASSWORD) as server:
        interface = attrs.evolve(server.interface(name="support"), security=security, timeout=60.0)
        started = time.monotonic()
        with pytest.raises(SecurityError) as caught:
            POP3Fetcher(interface).open()
        waited = time.monotonic() - started
        transcripts = list(server.transcripts)
        port = server.port
    message = str(caught.value)
    assert f"port {port}: this port expects TLS from the first byte (POP3S)" in message
    assert 'Set security = "ssl" for this port' in message
    assert "plain POP3 port (usually 110)" in message
    assert "no answer from the server" not in message
    assert waited < 30  # a liveness bound: not the whole 60-second timeout
    assert all(PASSWORD not in str(transcript) for transcript in transcripts)


@pytest.mark.parametrize("tls", [None, "stls"])
def test_the_ssl_setting_on_a_plain_port_says_to_use_starttls_or_port_995(tls: str | None) -> None:
    with POP3TestServer([build_message()], tls=tls, user="support", password=PASSWORD) as server:  # type: ignore[arg-type]
        interface = attrs.evolve(server.interface(name="support"), security=Security.SSL)
        check = Importer().check(interface)
        port = server.port
    assert check.error is not None
    assert f"port {port}: this port speaks plain POP3" in check.error
    assert "'+OK mailtrack POP3 test server ready'" in check.error
    assert 'Set security = "starttls"' in check.error
    assert "POP3S port (usually 995)" in check.error
    assert "WRONG_VERSION_NUMBER" not in check.error


def test_the_right_settings_still_work() -> None:
    for tls, security in ((None, Security.NONE), ("stls", Security.STARTTLS), ("implicit", Security.SSL)):
        with POP3TestServer([build_message()], tls=tls, user="support", password=PASSWORD) as server:  # type: ignore[arg-type]
            interface = attrs.evolve(server.interface(name="support"), security=security)
            assert Importer().check(interface).ok


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says anything (a dead or very slow server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for sock in accepted:
        sock.close()
    listener.close()


def test_a_silent_plain_port_is_not_taken_for_tls(silent_port: int) -> None:
    assert speaks_tls("127.0.0.1", silent_port, timeout=1.0) is False
    assert plain_greeting("127.0.0.1", silent_port, timeout=1.0) is None


def test_probes_of_a_closed_port_learn_nothing() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    assert speaks_tls("127.0.0.1", port, timeout=1.0) is False
    assert plain_greeting("127.0.0.1", port, timeout=1.0) is None
