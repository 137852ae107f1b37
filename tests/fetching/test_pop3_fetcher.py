"""POP3Fetcher against POP3TestServer: security modes, refusing before the password, long lines,
APOP, listings, errors in plain words, and what the server keeps or deletes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailtrack import (
    AuthenticationError,
    ConfigError,
    Fetcher,
    FetchError,
    MailInterface,
    MessageInfo,
    Security,
    SecurityError,
    ServerBusyError,
)
from mailtrack._deadlines import ReplyClock
from mailtrack.fetching import POP3Fetcher
from mailtrack.fetching._wire import Wire
from mailtrack.testing import Faults, POP3TestServer

PASSWORD = "s3cret pass-phrase"
FIRST = (
    b"From: a@example.com\r\nSubject: first\r\n\r\nhello\r\n.starts with a dot\r\n..two dots\r\n.\r\nbye\r\n"
)
SECOND = b"From: b@example.com\r\nSubject: second\r\n\r\nline 1\r\nline 2\r\n"
LONG_LINE = b"x" * 9_990 + b"0123456789"
LONG = b"From: c@example.com\r\nSubject: long line\r\n\r\n" + LONG_LINE + b"\r\n.last\r\n"

Tls = Literal["implicit", "stls"] | None


def serve(messages: list[bytes] | None = None, **options: Any) -> POP3TestServer:
    options.setdefault("password", PASSWORD)
    return POP3TestServer([FIRST, SECOND] if messages is None else messages, **options)


def fetch_all(fetcher: POP3Fetcher) -> list[tuple[MessageInfo, bytes]]:
    listing = fetcher.open()
    return list(fetcher.retrieve_many(listing))


@pytest.fixture
def plain() -> Iterator[POP3TestServer]:
    with serve() as server:
        yield server


# -- security modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tls", "security"),
    [(None, Security.NONE), ("implicit", Security.SSL), ("stls", Security.STARTTLS)],
)
def test_each_security_mode_retrieves_the_messages(tls: Tls, security: Security) -> None:
    with serve(tls=tls) as server:
        interface = server.interface()
        assert interface.security is security
        fetcher = POP3Fetcher(interface)
        retrieved = fetch_all(fetcher)
        fetcher.close(commit=False)
        assert [raw for _, raw in retrieved] == [FIRST, SECOND]
        assert [info.uid for info, _ in retrieved] == [uid for uid, _ in server.mailbox]
        assert [info.size for info, _ in retrieved] == [len(FIRST), len(SECOND)]
        (password_line,) = [line for line in server.received if line.command == "PASS"]
        assert password_line.tls is (tls is not None)
        assert not (tls and server.password_exposed)


def test_stls_upgrades_before_the_login_and_asks_capa_again() -> None:
    with serve(tls="stls") as server:
        fetcher = POP3Fetcher(server.interface())
        fetcher.open()
        fetcher.close(commit=False)
        (transcript,) = server.transcripts
        assert transcript.commands[:5] == ["CAPA", "STLS", "CAPA", "USER", "PASS"]
        assert [line.tls for line in transcript.lines[:3]] == [False, False, True]


@pytest.mark.parametrize("tls", ["implicit", "stls"])
@pytest.mark.parametrize(
    ("certificate", "words"),
    [
        ("wrong-host", "host name mismatch"),
        ("untrusted", "not trusted"),
        ("expired", "expired"),
    ],
)
def test_a_bad_certificate_is_refused_before_the_login_is_sent(
    tls: Literal["implicit", "stls"], certificate: Any, words: str
) -> None:
    with serve(tls=tls, certificate=certificate) as server:
        fetcher = POP3Fetcher(server.interface())
        with pytest.raises(SecurityError, match=words) as caught:
            fetcher.open()
        assert "nothing was sent" in str(caught.value)
        assert f"port {server.port}" in str(caught.value)
        commands = [line.command for line in server.received]
        assert "USER" not in commands
        assert "PASS" not in commands
        assert commands == ([] if tls == "implicit" else ["CAPA", "STLS"])


def test_the_system_trust_store_does_not_trust_a_private_ca() -> None:
    with serve(tls="implicit") as server:
        fetcher = POP3Fetcher(server.interface(ca_file=None))
        with pytest.raises(SecurityError, match="not trusted"):
            fetcher.open()
        assert server.received == []


def test_stripped_stls_is_refused_before_the_login_is_sent() -> None:
    with serve(tls="stls", faults=Faults(hide_stls=True)) as server:
        with pytest.raises(SecurityError, match="does not offer STARTTLS"):
            POP3Fetcher(server.interface()).open()
        assert [line.command for line in server.received] == ["CAPA"]


def test_refused_stls_is_refused_before_the_login_is_sent() -> None:
    with serve(tls="stls", faults=Faults(refuse_stls=True)) as server:
        with pytest.raises(SecurityError, match="refused STARTTLS"):
            POP3Fetcher(server.interface()).open()
        assert [line.command for line in server.received] == ["CAPA", "STLS"]


def test_starttls_against_a_server_without_tls_sends_no_login() -> None:
    with serve() as server:
        interface = server.interface(security=Security.STARTTLS)
        with pytest.raises(SecurityError):
            POP3Fetcher(interface).open()
        assert not any(line.command in {"USER", "PASS"} for line in server.received)


def test_an_unreadable_ca_file_is_a_security_error(tmp_path: Any) -> None:
    with serve(tls="implicit") as server:
        interface = server.interface(ca_file=str(tmp_path / "missing.pem"))
        with pytest.raises(SecurityError, match=r"CA file .*missing\.pem"):
            POP3Fetcher(interface).open()
        assert server.received == []


# -- retrieving -------------------------------------------------------------------------------------


def test_a_10000_byte_line_is_retrieved_intact() -> None:
    with serve([LONG]) as server:
        fetcher = POP3Fetcher(server.interface())
        [(info, raw)] = fetch_all(fetcher)
        fetcher.close(commit=False)
        assert raw == LONG
        assert LONG_LINE + b"\r\n" in raw
        assert info.size == len(LONG)


def test_byte_stuffing_is_undone() -> None:
    with serve([FIRST]) as server:
        fetcher = POP3Fetcher(server.interface())
        [(_, raw)] = fetch_all(fetcher)
        fetcher.close(commit=False)
        assert b"\r\n.starts with a dot\r\n..two dots\r\n.\r\nbye\r\n" in raw


def test_a_large_message_arrives_whole() -> None:
    body = b"".join(b"%07d " % n + b"y" * 70 + b"\r\n" for n in range(40_000))  # 3.1 MB
    message = b"Subject: big\r\n\r\n" + body
    with serve([message]) as server:
        fetcher = POP3Fetcher(server.interface())
        [(_, raw)] = fetch_all(fetcher)
        fetcher.close(commit=False)
        assert raw == message


def test_an_empty_listing_and_no_messages() -> None:
    with serve([]) as server:
        fetcher = POP3Fetcher(server.interface())
        assert fetcher.open() == []
        fetcher.close(commit=True)
        assert server.transcripts[0].commands[-1] == "QUIT"


def test_a_reply_larger_than_announced_ends_the_session_without_quit() -> None:
    # Twice max_message_bytes plus 64 KiB of slack is the most the fetcher reads for one reply.
    huge = b"Subject: huge\r\n\r\n" + b"z" * 200_000 + b"\r\n"
    with serve([huge]) as server:
        fetcher = POP3Fetcher(server.interface(max_message_bytes=1000))
        listing = fetcher.open()
        with pytest.raises(FetchError, match="message 1 is larger than announced"):
            list(fetcher.retrieve_many(listing))
        fetcher.close(commit=True)
        assert "QUIT" not in server.transcripts[0].commands


def test_apop_logs_in_without_sending_the_password() -> None:
    with serve(apop=True) as server:
        fetcher = POP3Fetcher(server.interface(apop=True))
        assert [raw for _, raw in fetch_all(fetcher)] == [FIRST, SECOND]
        fetcher.close(commit=False)
        assert server.transcripts[0].commands[:1] == ["APOP"]
        assert not any(PASSWORD in line.text for line in server.received)


def test_apop_with_a_wrong_password_is_an_authentication_error() -> None:
    with (
        serve(apop=True) as server,
        pytest.raises(AuthenticationError, match="refused the login for user 'user'"),
    ):
        POP3Fetcher(server.interface(apop=True, password="wrong")).open()


def test_apop_on_a_server_without_timestamp_sends_nothing() -> None:
    with serve(apop=False) as server:
        with pytest.raises(AuthenticationError, match="does not offer APOP"):
            POP3Fetcher(server.interface(apop=True)).open()
        assert server.received == []


def test_a_server_without_uidl_gives_messages_without_uid() -> None:
    with serve(uidl=False) as server:
        fetcher = POP3Fetcher(server.interface())
        retrieved = fetch_all(fetcher)
        fetcher.close(commit=False)
        assert [info.uid for info, _ in retrieved] == [None, None]
        assert [raw for _, raw in retrieved] == [FIRST, SECOND]


@pytest.mark.parametrize("faults", [Faults(uidl_extra=True), Faults(list_extra=True)])
def test_messages_missing_from_uidl_or_list_are_left_out(faults: Faults) -> None:
    with serve(faults=faults) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        fetcher.close(commit=False)
        assert [info.number for info in listing] == [1, 2]


def test_a_duplicate_uid_is_listed_and_left_to_the_importer() -> None:
    """The importer leaves the second message of a UID on the server (tests/robustness/test_faults.py)."""
    with serve([FIRST, SECOND, LONG], faults=Faults(duplicate_uid=True)) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        fetcher.close(commit=False)
        assert [info.number for info in listing] == [1, 2, 3]
        assert listing[0].uid == listing[2].uid


# -- deleting and ending the session -------------------------------------------------------------


def test_close_without_commit_keeps_every_message(plain: POP3TestServer) -> None:
    fetcher = POP3Fetcher(plain.interface())
    for info, _raw in fetch_all(fetcher):
        fetcher.delete(info)
    fetcher.close(commit=False)
    assert [raw for _, raw in plain.mailbox] == [FIRST, SECOND]
    # DELE only marks; the marks go out just before QUIT, so an abandoned session sends none.
    assert plain.transcripts[0].commands == ["USER", "PASS", "CAPA", "UIDL", "LIST", "RETR", "RETR"]


def test_close_with_commit_deletes_what_was_deleted(plain: POP3TestServer) -> None:
    fetcher = POP3Fetcher(plain.interface())
    listing = fetcher.open()
    fetcher.delete(listing[0])
    fetcher.close(commit=True)
    assert [raw for _, raw in plain.mailbox] == [SECOND]


def test_closing_twice_is_harmless(plain: POP3TestServer) -> None:
    fetcher = POP3Fetcher(plain.interface())
    fetcher.open()
    fetcher.close(commit=True)
    fetcher.close(commit=True)
    assert plain.transcripts[0].commands.count("QUIT") == 1


def test_quit_answered_with_err_raises(plain: POP3TestServer) -> None:
    plain.faults = Faults(quit_error=True)
    fetcher = POP3Fetcher(plain.interface())
    listing = fetcher.open()
    fetcher.delete(listing[0])
    with pytest.raises(FetchError, match="may not have happened"):
        fetcher.close(commit=True)
    assert len(plain.mailbox) == 2


def test_a_connection_lost_at_quit_raises(plain: POP3TestServer) -> None:
    plain.faults = Faults(drop_after_dele=True)
    fetcher = POP3Fetcher(plain.interface())
    fetcher.delete(fetcher.open()[0])
    with pytest.raises(FetchError, match="may not have happened"):
        fetcher.close(commit=True)
    assert len(plain.mailbox) == 2


def test_an_error_in_the_middle_ends_the_session_without_quit(plain: POP3TestServer) -> None:
    plain.faults = Faults(drop_after_bytes=40, drop_on_message=2)
    fetcher = POP3Fetcher(plain.interface())
    listing = fetcher.open()
    messages = fetcher.retrieve_many(listing)
    info, raw = next(messages)
    assert raw == FIRST
    fetcher.delete(info)
    with pytest.raises(FetchError, match="closed the connection"):
        next(messages)
    with pytest.raises(FetchError, match="1 deletion"):
        fetcher.close(commit=True)
    assert "QUIT" not in plain.transcripts[0].commands
    assert len(plain.mailbox) == 2
    with pytest.raises(FetchError, match="session ended after an error"):
        fetcher.delete(listing[0])


def test_a_tls_connection_dropped_in_the_middle_is_no_security_error() -> None:
    with serve(tls="implicit", faults=Faults(drop_after_bytes=40)) as server:
        fetcher = POP3Fetcher(server.interface())
        listing = fetcher.open()
        with pytest.raises(FetchError, match="closed the connection unexpectedly") as caught:
            list(fetcher.retrieve_many(listing))
        assert not isinstance(caught.value, SecurityError)
        assert "QUIT" not in server.transcripts[0].commands


def test_a_server_that_stops_answering_times_out(plain: POP3TestServer) -> None:
    plain.faults = Faults(stall="retr")
    fetcher = POP3Fetcher(plain.interface(timeout=0.5))
    listing = fetcher.open()
    with pytest.raises(FetchError, match=r"no answer from the server within 0\.5 seconds"):
        list(fetcher.retrieve_many(listing))
    fetcher.close(commit=True)
    assert "QUIT" not in plain.transcripts[0].commands


def test_retrieving_before_open_says_so(plain: POP3TestServer) -> None:
    fetcher = POP3Fetcher(plain.interface())
    with pytest.raises(FetchError, match="not open"):
        list(fetcher.retrieve_many([MessageInfo(number=1, uid="x", size=1)]))


# -- errors in plain words ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login_error", "error_type", "words"),
    [
        ("[IN-USE] mailbox locked", ServerBusyError, "in use by another client; will retry next run"),
        ("[LOGIN-DELAY] wait 5 minutes", ServerBusyError, "LOGIN-DELAY"),
        ("[SYS/TEMP] try later", ServerBusyError, "temporary problem; will retry next run"),
        ("[SYS/PERM] mailbox broken", FetchError, "permanent problem"),
        ("[AUTH] no such user", AuthenticationError, "refused the login for user 'user'"),
        ("invalid password", AuthenticationError, "check the login name and password"),
    ],
)
def test_server_refusals_read_in_plain_words(
    plain: POP3TestServer, login_error: str, error_type: type[FetchError], words: str
) -> None:
    plain.faults = Faults(login_error=login_error)
    with pytest.raises(FetchError, match=words) as caught:
        POP3Fetcher(plain.interface()).open()
    assert type(caught.value) is error_type
    assert f"127.0.0.1 port {plain.port}" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_a_wrong_password_is_an_authentication_error_without_the_password(plain: POP3TestServer) -> None:
    with pytest.raises(AuthenticationError, match="check the login name and password") as caught:
        POP3Fetcher(plain.interface(password="wrong-secret")).open()
    assert "wrong-secret" not in str(caught.value)
    assert "wrong-secret" not in repr(caught.value)
    assert plain.transcripts[0].commands[-1] == "PASS"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def interface_for(server: str, port: int, **overrides: Any) -> MailInterface:
    values: dict[str, Any] = {
        "name": "unreachable",
        "server": server,
        "port": port,
        "login": "user",
        "password": PASSWORD,
        "timeout": 5.0,
    }
    values.update(overrides)
    return MailInterface(**values)


def test_connection_refused_names_the_server_and_port() -> None:
    port = closed_port()
    with pytest.raises(FetchError, match=f"could not connect to 127.0.0.1 port {port}: connection refused"):
        POP3Fetcher(interface_for("127.0.0.1", port)).open()


def test_an_unknown_host_says_the_name_was_not_found() -> None:
    with pytest.raises(FetchError, match=r"'no-such-host\.invalid' could not be found") as caught:
        POP3Fetcher(interface_for("no-such-host.invalid", 995)).open()
    assert caught.value.__cause__ is not None


def test_a_silent_server_times_out_on_the_greeting() -> None:
    with (
        serve(faults=Faults(stall="greeting")) as server,
        pytest.raises(FetchError, match=r"no answer from the server within 0\.3 seconds"),
    ):
        POP3Fetcher(server.interface(timeout=0.3)).open()


def test_a_password_with_a_line_break_is_never_sent(plain: POP3TestServer) -> None:
    with pytest.raises(ConfigError, match="line break"):
        POP3Fetcher(plain.interface(password="secret\r\nDELE 1")).open()
    assert plain.transcripts == []


def test_opening_twice_is_refused(plain: POP3TestServer) -> None:
    fetcher = POP3Fetcher(plain.interface())
    fetcher.open()
    with pytest.raises(FetchError, match="open already"):
        fetcher.open()
    fetcher.close(commit=False)
    assert len(plain.transcripts) == 1


# -- check ---------------------------------------------------------------------------------------


def test_check_reports_the_mailbox_and_the_capabilities() -> None:
    with serve(tls="implicit") as server:
        result = POP3Fetcher(server.interface()).check()
        assert result.ok, result.error
        assert result.error is None
        assert result.interface == "pop3-test"
        assert result.message_count == 2
        assert result.mailbox_bytes == len(FIRST) + len(SECOND)
        assert {"UIDL", "PIPELINING", "TOP", "RESP-CODES"} <= set(result.capabilities)
        assert all(name == name.upper() for name in result.capabilities)
        assert result.tls_version is not None
        assert result.tls_version.startswith("TLSv1.")
        assert result.warnings == ()
        assert server.transcripts[0].commands[-1] == "QUIT"
        assert len(server.mailbox) == 2


def test_check_warns_when_expire_0_defeats_leave_copy() -> None:
    with serve(expire=0) as server:
        result = POP3Fetcher(server.interface(leave_copy=True)).check()
        assert result.ok
        assert result.expire == "0"
        assert any("EXPIRE 0" in warning and "leave_copy" in warning for warning in result.warnings)


def test_check_warns_that_security_none_sends_the_password_unencrypted(plain: POP3TestServer) -> None:
    result = POP3Fetcher(plain.interface()).check()
    assert result.ok
    assert result.tls_version is None
    assert any("password is sent unencrypted" in warning for warning in result.warnings)


def test_check_with_apop_over_plain_text_warns_about_the_connection() -> None:
    with serve(apop=True) as server:
        result = POP3Fetcher(server.interface(apop=True)).check()
        assert result.ok, result.error
        assert any("not encrypted" in warning and "APOP" in warning for warning in result.warnings)


def test_check_warns_about_a_server_without_uidl() -> None:
    with serve(uidl=False) as server:
        result = POP3Fetcher(server.interface(leave_copy=True)).check()
        assert result.ok
        assert not result.uidl
        assert any("UIDL" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    ("interface", "words"),
    [
        (interface_for("127.0.0.1", closed_port()), "connection refused"),
        (interface_for("no-such-host.invalid", 995), "could not be found"),
    ],
)
def test_check_reports_connection_problems_instead_of_raising(interface: MailInterface, words: str) -> None:
    result = POP3Fetcher(interface).check()
    assert not result.ok
    assert result.error is not None
    assert words in result.error
    assert result.message_count is None


def test_check_reports_a_refused_login(plain: POP3TestServer) -> None:
    result = POP3Fetcher(plain.interface(password="wrong")).check()
    assert not result.ok
    assert result.error is not None
    assert "refused the login" in result.error


def test_check_reports_a_bad_certificate() -> None:
    with serve(tls="stls", certificate="wrong-host") as server:
        result = POP3Fetcher(server.interface()).check()
        assert not result.ok
        assert result.error is not None
        assert "host name mismatch" in result.error
        assert not any(line.command in {"USER", "PASS"} for line in server.received)


def test_check_reports_a_missing_password_variable(plain: POP3TestServer) -> None:
    interface = plain.interface(password="", password_env="MAILTRACK_TEST_UNSET_PASSWORD_VARIABLE")
    result = POP3Fetcher(interface).check()
    assert not result.ok
    assert result.error is not None
    assert "MAILTRACK_TEST_UNSET_PASSWORD_VARIABLE" in result.error


# -- the protocol and the repr --------------------------------------------------------------------


def test_pop3_fetcher_is_a_fetcher_and_keeps_the_password_out_of_its_repr(plain: POP3TestServer) -> None:
    fetcher = POP3Fetcher(plain.interface())
    assert isinstance(fetcher, Fetcher)
    assert PASSWORD not in repr(fetcher)


# -- the reader, chunk boundaries anywhere -------------------------------------------------------


class ChunkedSocket:
    """A socket stand-in whose ``recv_into`` hands out the given chunks, one per call."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def recv_into(self, buffer: memoryview) -> int:
        chunk = self.chunks.pop(0) if self.chunks else b""
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def settimeout(self, value: float | None) -> None:
        pass

    def shutdown(self, how: int) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_close_from_another_thread_while_the_buffer_is_copied_closes_the_socket() -> None:
    # The thread reading ahead may be in the middle of copying a reply out of the buffer (a
    # memoryview of it is held) when the importer drops the connection from its own thread.
    sock = ChunkedSocket([b"+OK here\r\n"])
    wire = Wire(sock, ReplyClock(timeout=60))  # type: ignore[arg-type]
    assert wire.read_reply().ok
    sock.chunks.append(b"more data")
    wire._fill()
    with memoryview(wire._buffer):
        wire.close()
    assert sock.closed
    assert wire.closed


def stuffed(body: bytes) -> bytes:
    return (b"\r\n" + body).replace(b"\r\n.", b"\r\n..")[2:]


lines = st.lists(
    st.sampled_from([b"", b".", b"..", b"...", b".x", b"x.", b"abc", b"\r", b"\n", b" . ", b".\r"]),
    max_size=12,
)


@given(
    bodies=st.lists(
        lines.map(lambda parts: b"".join(part + b"\r\n" for part in parts)), min_size=1, max_size=3
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40),
)
def test_the_reader_finds_each_reply_wherever_the_chunks_break(bodies: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(b"+OK here\r\n" + stuffed(body) + b".\r\n" for body in bodies) + b"+OK bye\r\n"
    chunks, position = [], 0
    for cut in cuts * (len(stream) // len(cuts) + 1):
        if position >= len(stream):
            break
        chunks.append(stream[position : position + cut])
        position += cut
    wire = Wire(ChunkedSocket(chunks), ReplyClock(timeout=60))  # type: ignore[arg-type]
    for body in bodies:
        assert wire.read_reply().ok
        assert wire.read_block(limit=10_000) == body
    assert wire.read_reply().line == b"+OK bye"


def test_no_password_configured_is_said_before_connecting(plain: POP3TestServer) -> None:
    result = POP3Fetcher(plain.interface(password="")).check()
    assert not result.ok
    assert result.error is not None
    assert "no password is configured" in result.error
    assert not any(line.command in {"USER", "PASS"} for line in plain.received)
