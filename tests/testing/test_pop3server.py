"""POP3TestServer speaks POP3 (RFC 1939, 2449, 2595) to poplib and raw sockets, and misbehaves on request."""

from __future__ import annotations

import contextlib
import hashlib
import poplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from mailtrack import MailInterface, Security
from mailtrack.testing import ClientLine, Faults, POP3TestServer, Transcript

FIRST = b"From: a@example.com\nSubject: first\n\nhello\n.starts with a dot\n..two dots\nbye\n"
SECOND = b"From: b@example.com\r\nSubject: second\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
THIRD = b"Subject: third, no final line break\r\n\r\nend"


class Raw:
    """A raw POP3 client: send bytes, read lines and multi-line answers."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")

    @classmethod
    def connect(cls, server: POP3TestServer, *, greeting: bool = True) -> Raw:
        raw = cls(socket.create_connection((server.host, server.port), timeout=5))
        if greeting:
            assert raw.line().startswith("+OK")
        return raw

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        return self.reader.readline().decode().rstrip("\r\n")

    def lines(self) -> list[bytes]:
        """The rest of a multi-line answer, undotted, without the terminator."""
        result = []
        while (line := self.reader.readline()) != b".\r\n":
            assert line.endswith(b"\r\n"), line
            result.append(line[1:-2] if line.startswith(b".") else line[:-2])
        return result

    def command(self, text: str) -> str:
        self.send(text.encode() + b"\r\n")
        return self.line()

    def login(self) -> None:
        assert self.command("USER user").startswith("+OK")
        assert self.command("PASS secret").startswith("+OK")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[POP3TestServer]:
    with POP3TestServer([FIRST, SECOND, THIRD]) as running:
        yield running


@pytest.fixture
def raw(server: POP3TestServer) -> Iterator[Raw]:
    client = Raw.connect(server)
    yield client
    client.close()


def login(server: POP3TestServer, *, context: ssl.SSLContext | None = None) -> poplib.POP3:
    client = poplib.POP3(server.host, server.port, timeout=5)
    if context is not None:
        client.stls(context)
    client.user("user")
    client.pass_("secret")
    return client


def crlf(message: bytes) -> bytes:
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# -- construction, mailbox, interface ------------------------------------------------------------


def test_listens_on_loopback_with_an_ephemeral_port(server: POP3TestServer) -> None:
    assert server.host == "127.0.0.1"
    assert server.port > 0
    with socket.create_connection((server.host, server.port), timeout=5):
        pass


def test_uids_come_from_the_content_so_two_servers_agree() -> None:
    with POP3TestServer([FIRST, SECOND]) as one, POP3TestServer([SECOND, FIRST]) as two:
        assert dict(one.mailbox) == dict(two.mailbox)
    uid = next(uid for uid, message in one.mailbox if message == FIRST)
    assert uid == hashlib.sha256(FIRST).hexdigest()[:32]


def test_the_same_message_twice_gets_two_different_uids() -> None:
    with POP3TestServer([FIRST, FIRST]) as server:
        uids = [uid for uid, _ in server.mailbox]
    assert len(set(uids)) == 2


def test_mapping_and_pairs_set_the_uids() -> None:
    with POP3TestServer({"uid-a": FIRST, "uid-b": SECOND}) as by_mapping:
        assert by_mapping.mailbox == [("uid-a", FIRST), ("uid-b", SECOND)]
    with POP3TestServer([("same", FIRST), ("same", SECOND)]) as by_pairs:
        assert [uid for uid, _ in by_pairs.mailbox] == ["same", "same"]


@pytest.mark.parametrize("uid", ["", "has space", "x" * 71, "tab\there"])
def test_an_invalid_uid_is_refused(uid: str) -> None:
    with pytest.raises(ValueError, match="UID"):
        POP3TestServer({uid: FIRST})


def test_a_lone_message_is_not_taken_for_a_sequence() -> None:
    with pytest.raises(TypeError, match="sequence"):
        POP3TestServer(FIRST)


def test_interface_points_at_the_server(server: POP3TestServer) -> None:
    interface = server.interface()
    assert isinstance(interface, MailInterface)
    assert (interface.server, interface.port, interface.login) == ("127.0.0.1", server.port, "user")
    assert interface.password == "secret"
    assert interface.security is Security.NONE
    assert interface.ca_file is None
    assert server.interface(name="other", leave_copy=True).leave_copy


@pytest.mark.parametrize(("tls", "security"), [("implicit", Security.SSL), ("stls", Security.STARTTLS)])
def test_interface_security_follows_tls(tls: str, security: Security) -> None:
    with POP3TestServer([], tls=tls) as server:  # type: ignore[arg-type]
        interface = server.interface()
        assert interface.security is security
        assert interface.ca_file == server.ca_file


def test_the_password_is_not_in_the_repr() -> None:
    server = POP3TestServer([], password="hunter2-secret")
    assert "hunter2-secret" not in repr(server)


def test_port_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = POP3TestServer([]).port


def test_start_and_close_without_with() -> None:
    server = POP3TestServer([FIRST]).start()
    try:
        client = login(server)
        assert client.stat()[0] == 1
        client.quit()
    finally:
        server.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server._port), timeout=5)


# -- the commands, with poplib ---------------------------------------------------------------------


def test_greeting_and_capabilities(server: POP3TestServer) -> None:
    client = poplib.POP3(server.host, server.port, timeout=5)
    assert client.getwelcome().startswith(b"+OK")
    capabilities = client.capa()
    assert set(capabilities) >= {"TOP", "UIDL", "USER", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE"}
    assert "STLS" not in capabilities
    assert "EXPIRE" not in capabilities
    assert capabilities["IMPLEMENTATION"] == ["mailtrack-POP3TestServer"]
    client.quit()


def test_capabilities_follow_the_options() -> None:
    with POP3TestServer([], uidl=False, pipelining=False, expire="NEVER") as server:
        client = poplib.POP3(server.host, server.port, timeout=5)
        capabilities = client.capa()
        client.quit()
    assert "UIDL" not in capabilities
    assert "PIPELINING" not in capabilities
    assert capabilities["EXPIRE"] == ["NEVER"]


def test_stat_list_and_uidl(server: POP3TestServer) -> None:
    client = login(server)
    sizes = [len(crlf(m)) for m in (FIRST, SECOND)] + [len(THIRD) + 2]
    assert client.stat() == (3, sum(sizes))
    _, listing, _ = client.list()
    assert listing == [f"{n} {size}".encode() for n, size in enumerate(sizes, 1)]
    single: object = client.list(2)  # typeshed has the wrong type for LIST with an argument
    assert single == f"+OK 2 {sizes[1]}".encode()
    _, uids, _ = client.uidl()
    assert uids == [f"{n} {uid}".encode() for n, (uid, _) in enumerate(server.mailbox, 1)]
    assert client.uidl(3) == f"+OK 3 {server.mailbox[2][0]}".encode()
    client.quit()


def test_retr_serves_crlf_and_undoes_byte_stuffing(server: POP3TestServer) -> None:
    client = login(server)
    for number, message in enumerate((FIRST, SECOND, THIRD), 1):
        answer, lines, _ = client.retr(number)
        served = b"\r\n".join(lines) + b"\r\n"
        expected = THIRD + b"\r\n" if message is THIRD else crlf(message)
        assert served == expected
        assert answer == f"+OK {len(served)} octets".encode()
    client.quit()


def test_top_gives_the_header_and_n_body_lines(server: POP3TestServer) -> None:
    client = login(server)
    assert client.top(2, 0)[1] == [b"From: b@example.com", b"Subject: second", b""]
    assert client.top(2, 2)[1] == [b"From: b@example.com", b"Subject: second", b"", b"line 1", b"line 2"]
    assert client.top(2, 99)[1][-1] == b"line 3"
    assert client.top(1, 2)[1][-2:] == [b"hello", b".starts with a dot"]
    client.quit()


def test_deletions_take_effect_only_at_quit(server: POP3TestServer) -> None:
    client = login(server)
    client.dele(1)
    client.dele(3)
    assert client.stat()[0] == 1
    assert [line.split()[0] for line in client.list()[1]] == [b"2"]
    assert len(server.mailbox) == 3
    client.quit()
    assert [message for _, message in server.mailbox] == [SECOND]


def test_rset_undoes_the_marks(server: POP3TestServer) -> None:
    client = login(server)
    client.dele(1)
    client.rset()
    assert client.stat()[0] == 3
    client.quit()
    assert len(server.mailbox) == 3


def test_a_dropped_connection_deletes_nothing(server: POP3TestServer, raw: Raw) -> None:
    raw.login()
    assert raw.command("DELE 1").startswith("+OK")
    raw.close()
    client = login(server)  # the next session sees all three
    assert client.stat()[0] == 3
    client.quit()
    assert len(server.mailbox) == 3


def test_noop(server: POP3TestServer) -> None:
    client = login(server)
    assert client.noop().startswith(b"+OK")
    client.quit()


def test_wrong_password_answers_auth_code(server: POP3TestServer) -> None:
    client = poplib.POP3(server.host, server.port, timeout=5)
    client.user("user")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("wrong")
    client.user("user")  # the session may try again
    client.pass_("secret")
    client.quit()


def test_unknown_user_is_refused_at_pass(server: POP3TestServer) -> None:
    client = poplib.POP3(server.host, server.port, timeout=5)
    assert client.user("nobody").startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("secret")


def test_password_with_spaces() -> None:
    with POP3TestServer([FIRST], password="a pass phrase") as server:
        client = poplib.POP3(server.host, server.port, timeout=5)
        client.user("user")
        assert client.pass_("a pass phrase").startswith(b"+OK")
        client.quit()


def test_apop_login() -> None:
    with POP3TestServer([FIRST], apop=True) as server:
        client = poplib.POP3(server.host, server.port, timeout=5)
        assert b"@mailtrack.test>" in client.getwelcome()
        assert client.apop("user", "secret").startswith(b"+OK")
        assert client.stat()[0] == 1
        client.quit()
        client = poplib.POP3(server.host, server.port, timeout=5)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.apop("user", "wrong")


def test_apop_is_refused_when_not_enabled(server: POP3TestServer, raw: Raw) -> None:
    assert raw.command("APOP user 0123456789abcdef0123456789abcdef").startswith("-ERR")


def test_messages_arriving_later_are_seen_by_the_next_session(server: POP3TestServer) -> None:
    client = login(server)
    uid = server.add_message(b"Subject: new\n\nnew\n")
    assert client.stat()[0] == 3  # the listing is fixed at login
    client.quit()
    client = login(server)
    assert client.stat()[0] == 4
    assert client.uidl(4).split()[-1] == uid.encode()
    client.quit()


def test_add_message_with_a_reused_uid(server: POP3TestServer) -> None:
    first_uid = server.mailbox[0][0]
    client = login(server)
    client.dele(1)
    client.quit()
    server.add_message(b"Subject: other\n\nother\n", uid=first_uid)
    assert server.mailbox[-1] == (first_uid, b"Subject: other\n\nother\n")


def test_two_sessions_at_once_share_the_mailbox(server: POP3TestServer) -> None:
    one, two = login(server), login(server)
    one.dele(1)
    two.dele(1)
    one.quit()
    assert two.quit().startswith(b"+OK")
    assert len(server.mailbox) == 2


# -- errors, with a raw socket ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["STAT", "LIST", "UIDL", "RETR 1", "TOP 1 0", "DELE 1", "RSET", "NOOP"])
def test_transaction_commands_before_login_are_refused(raw: Raw, command: str) -> None:
    assert raw.command(command).startswith("-ERR")


@pytest.mark.parametrize("command", ["USER user", "PASS secret", "APOP user x", "STLS"])
def test_authorization_commands_after_login_are_refused(raw: Raw, command: str) -> None:
    raw.login()
    assert raw.command(command).startswith("-ERR")


def test_pass_before_user_is_refused(raw: Raw) -> None:
    assert raw.command("PASS secret").startswith("-ERR")


def test_unknown_command(raw: Raw) -> None:
    assert raw.command("XYZZY").startswith("-ERR unknown command")


def test_commands_are_case_insensitive(raw: Raw) -> None:
    assert raw.command("user user").startswith("+OK")
    assert raw.command("pass secret").startswith("+OK")
    assert raw.command("stat").startswith("+OK 3 ")


@pytest.mark.parametrize(
    "command", ["RETR 0", "RETR 4", "RETR x", "RETR", "LIST 9", "UIDL 0", "DELE 4", "TOP 1"]
)
def test_bad_message_numbers_are_refused(raw: Raw, command: str) -> None:
    raw.login()
    assert raw.command(command).startswith("-ERR")


def test_a_deleted_message_is_refused(raw: Raw) -> None:
    raw.login()
    assert raw.command("DELE 2").startswith("+OK")
    for command in ("RETR 2", "DELE 2", "LIST 2", "UIDL 2", "TOP 2 0"):
        assert raw.command(command) == "-ERR message 2 already deleted"


def test_stls_without_tls_is_refused(raw: Raw) -> None:
    assert raw.command("STLS").startswith("-ERR")


def test_quit_before_login_deletes_nothing_and_closes(raw: Raw) -> None:
    assert raw.command("QUIT").startswith("+OK")
    assert raw.reader.readline() == b""


def test_an_overlong_line_is_refused_and_the_connection_closed(raw: Raw) -> None:
    raw.send(b"X" * 20000)
    assert raw.line() == "-ERR line too long"
    assert raw.reader.readline() == b""


def test_pipelined_commands_get_every_answer_in_order(server: POP3TestServer, raw: Raw) -> None:
    first_uid = server.mailbox[0][0]
    raw.send(
        b"USER user\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 2\r\n"
        b"UIDL 1\r\nDELE 1\r\nRETR 1\r\nNOOP\r\nQUIT\r\n"
    )
    assert raw.line() == "+OK send PASS"
    assert raw.line().startswith("+OK 3 messages")
    assert raw.line().startswith("+OK 3 ")
    assert raw.line().startswith("+OK")
    assert len(raw.lines()) == 3
    assert raw.line().startswith("+OK")
    assert b"\r\n".join(raw.lines()) + b"\r\n" == SECOND
    assert raw.line() == f"+OK 1 {first_uid}"
    assert raw.line() == "+OK message 1 deleted"
    assert raw.line() == "-ERR message 1 already deleted"
    assert raw.line() == "+OK"
    assert raw.line().startswith("+OK bye")
    lines = server.transcripts[0].lines
    assert {line.batch for line in lines} == {1}  # all in one read: the client pipelined


def test_many_pipelined_retrs_arrive_whole() -> None:
    big = b"Subject: big\r\n\r\n" + b"".join(b"line %06d .\r\n.leading dot\r\n" % i for i in range(20000))
    with POP3TestServer([big] * 20) as server:
        raw = Raw.connect(server)
        raw.login()
        raw.send(b"".join(b"RETR %d\r\n" % n for n in range(1, 21)))
        for _ in range(20):
            assert raw.line() == f"+OK {len(big)} octets"
            assert b"\r\n".join(raw.lines()) + b"\r\n" == big
        raw.close()


def test_lines_ending_in_lf_only_are_accepted(raw: Raw) -> None:
    raw.send(b"USER user\n")
    assert raw.line().startswith("+OK")


# -- TLS ---------------------------------------------------------------------------------------


def context_for(server: POP3TestServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_file)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_implicit_tls(host: str) -> None:
    with POP3TestServer([FIRST], tls="implicit") as server:
        client = poplib.POP3_SSL(host, server.port, context=context_for(server), timeout=5)
        client.user("user")
        client.pass_("secret")
        assert client.retr(1)[1][1] == b"Subject: first"
        client.quit()
        assert all(line.tls and line.trusted for line in server.received)
        assert not server.password_exposed


def test_implicit_tls_refuses_plain_text() -> None:
    with POP3TestServer([FIRST], tls="implicit") as server:
        raw = Raw.connect(server, greeting=False)
        raw.send(b"CAPA\r\n")
        with contextlib.suppress(OSError):
            assert not raw.reader.readline().startswith(b"+OK")
        raw.close()
        assert server.received == []


def test_stls_upgrades_and_is_no_longer_offered_after() -> None:
    with POP3TestServer([FIRST], tls="stls") as server:
        client = poplib.POP3(server.host, server.port, timeout=5)
        assert "STLS" in client.capa()
        client.stls(context_for(server))
        assert "STLS" not in client.capa()
        client.user("user")
        client.pass_("secret")
        assert client.stat()[0] == 1
        client.quit()
        lines = server.received
        # poplib asks for CAPA once more before STLS.
        assert [(line.command, line.tls) for line in lines[:4]] == [
            ("CAPA", False),
            ("CAPA", False),
            ("STLS", False),
            ("CAPA", True),
        ]
        assert not server.password_exposed


def test_stls_twice_is_refused() -> None:
    with POP3TestServer([], tls="stls") as server:
        raw = Raw.connect(server)
        assert raw.command("STLS").startswith("+OK")
        secure = Raw(context_for(server).wrap_socket(raw.sock, server_hostname="localhost"))
        assert secure.command("STLS").startswith("-ERR")
        secure.close()


def test_plain_text_pipelined_behind_stls_is_discarded() -> None:
    with POP3TestServer([FIRST], tls="stls") as server:
        raw = Raw.connect(server)
        raw.send(b"STLS\r\nUSER injected\r\n")
        assert raw.line().startswith("+OK")
        tls = context_for(server).wrap_socket(raw.sock, server_hostname="localhost")
        secure = Raw(tls)
        assert secure.command("PASS secret").startswith("-ERR")  # USER injected was never seen
        secure.close()
        assert "USER" not in [line.command for line in server.received]


def test_password_over_plain_text_is_visible_in_the_transcript(server: POP3TestServer) -> None:
    login(server).quit()
    assert server.password_exposed
    transcript = server.transcripts[0]
    assert isinstance(transcript, Transcript)
    assert transcript.commands == ["USER", "PASS", "QUIT"]
    assert transcript.lines[1] == ClientLine(text="PASS secret", tls=False, trusted=False, batch=2)


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [
        ("wrong-host", "match|mismatch"),
        ("untrusted", "unable to get local issuer|self.signed|verify failed"),
        ("expired", "expired"),
    ],
)
def test_bad_certificates_fail_verification(certificate: str, reason: str) -> None:
    with POP3TestServer([FIRST], tls="implicit", certificate=certificate) as server:  # type: ignore[arg-type]
        with pytest.raises(ssl.SSLCertVerificationError, match=reason):
            poplib.POP3_SSL("localhost", server.port, context=context_for(server), timeout=5)
        _wait_for(lambda: bool(server.transcripts) and server.transcripts[0].tls_error is not None)
        assert server.transcripts[0].tls_error
        assert not server.password_exposed


def test_a_client_ignoring_a_bad_certificate_shows_up_as_untrusted() -> None:
    with POP3TestServer([FIRST], tls="implicit", certificate="untrusted") as server:
        careless = ssl._create_unverified_context()  # noqa: S323 - the mistake this test catches
        client = poplib.POP3_SSL("localhost", server.port, context=careless, timeout=5)
        client.user("user")
        client.pass_("secret")
        client.quit()
        assert all(line.tls and not line.trusted for line in server.received)
        assert server.password_exposed


def _wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


# -- lifecycle ---------------------------------------------------------------------------------


def test_close_cuts_open_sessions_without_deleting() -> None:
    server = POP3TestServer([FIRST]).start()
    raw = Raw.connect(server)
    raw.login()
    raw.command("DELE 1")
    server.close()
    assert raw.reader.readline() == b""
    assert len(server.mailbox) == 1
    raw.close()


def test_many_servers_at_once() -> None:
    servers = [POP3TestServer([FIRST]).start() for _ in range(50)]
    try:
        assert len({server.port for server in servers}) == 50
        results: list[int] = []

        def fetch(server: POP3TestServer) -> None:
            client = login(server)
            results.append(client.stat()[0])
            client.quit()

        threads = [threading.Thread(target=fetch, args=(server,)) for server in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [1] * 50
    finally:
        for server in servers:
            server.close()


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["[IN-USE] mailbox locked", "[LOGIN-DELAY] wait", "[SYS/TEMP] later", "[SYS/PERM] never"]
)
def test_login_error_answers_pass_with_the_given_code(text: str) -> None:
    with POP3TestServer([FIRST], faults=Faults(login_error=text)) as server:
        client = poplib.POP3(server.host, server.port, timeout=5)
        client.user("user")
        with pytest.raises(poplib.error_proto) as caught:
            client.pass_("secret")
        assert caught.value.args[0] == f"-ERR {text}".encode()


def test_drop_after_bytes_cuts_retr_and_deletes_nothing() -> None:
    with POP3TestServer([FIRST, SECOND], faults=Faults(drop_after_bytes=30)) as server:
        raw = Raw.connect(server)
        raw.login()
        raw.send(b"DELE 1\r\nRETR 2\r\n")
        assert raw.line() == "+OK message 1 deleted"
        assert raw.reader.read() == (b"+OK %d octets\r\n" % len(SECOND) + SECOND)[:30]
        raw.close()
        assert len(server.mailbox) == 2


def test_drop_on_message_cuts_only_that_message() -> None:
    faults = Faults(drop_after_bytes=0, drop_on_message=2)
    with POP3TestServer([FIRST, SECOND, THIRD], faults=faults) as server:
        raw = Raw.connect(server)
        raw.login()
        raw.send(b"RETR 1\r\nRETR 2\r\nRETR 3\r\n")  # the answer to RETR 1 comes before the drop
        assert raw.line().startswith("+OK")
        assert b"\r\n".join(raw.lines()) + b"\r\n" == crlf(FIRST)
        assert raw.reader.read() == b""
        raw.close()


def test_with_poplib_a_drop_mid_retr_is_an_error() -> None:
    with POP3TestServer([SECOND], faults=Faults(drop_after_bytes=40)) as server:
        client = login(server)
        with pytest.raises((poplib.error_proto, OSError)):
            client.retr(1)
        client.close()


def test_drop_after_dele_drops_at_quit_and_deletes_nothing() -> None:
    with POP3TestServer([FIRST, SECOND], faults=Faults(drop_after_dele=True)) as server:
        raw = Raw.connect(server)
        raw.login()
        raw.send(b"DELE 1\r\nQUIT\r\n")
        assert raw.line() == "+OK message 1 deleted"
        assert raw.reader.read() == b""  # QUIT got no answer
        raw.close()
        assert len(server.mailbox) == 2


def test_drop_after_dele_leaves_a_session_without_deletions_alone() -> None:
    with POP3TestServer([FIRST], faults=Faults(drop_after_dele=True)) as server:
        assert login(server).quit().startswith(b"+OK")


def test_drop_after_update_deletes_then_drops() -> None:
    with POP3TestServer([FIRST, SECOND], faults=Faults(drop_after_update=True)) as server:
        raw = Raw.connect(server)
        raw.login()
        raw.send(b"DELE 1\r\nQUIT\r\n")
        assert raw.line() == "+OK message 1 deleted"
        assert raw.reader.read() == b""
        raw.close()
        assert [message for _, message in server.mailbox] == [SECOND]


def test_quit_error_answers_err_and_deletes_nothing() -> None:
    with POP3TestServer([FIRST], faults=Faults(quit_error=True)) as server:
        client = login(server)
        client.dele(1)
        with pytest.raises(poplib.error_proto, match="-ERR"):
            client.quit()
        assert server.mailbox == [(server.mailbox[0][0], FIRST)]


def test_delay_holds_back_every_answer() -> None:
    with POP3TestServer([FIRST], faults=Faults(delay=0.5)) as server:
        sock = socket.create_connection((server.host, server.port), timeout=0.05)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # the greeting is not there yet
        sock.settimeout(5)
        assert Raw(sock).line().startswith("+OK")
        sock.close()


@pytest.mark.parametrize("where", ["connect", "greeting"])
def test_stall_answers_nothing_until_the_server_closes(where: str) -> None:
    server = POP3TestServer([FIRST], faults=Faults(stall=where)).start()  # type: ignore[arg-type]
    raw = Raw.connect(server, greeting=False)
    if where == "greeting":
        assert raw.line().startswith("+OK")
    raw.send(b"CAPA\r\n")
    raw.sock.settimeout(0.1)
    with pytest.raises(TimeoutError):
        raw.sock.recv(100)
    server.close()  # ends the stalled session
    raw.sock.settimeout(5)
    try:
        ended = raw.sock.recv(100) == b""
    except ConnectionResetError:  # the unread CAPA makes the close a reset
        ended = True
    assert ended
    raw.close()


def test_stall_in_retr_sends_part_and_keeps_the_connection_open() -> None:
    server = POP3TestServer([SECOND], faults=Faults(stall="retr", drop_after_bytes=20)).start()
    raw = Raw.connect(server)
    raw.login()
    raw.send(b"RETR 1\r\n")
    expected = (b"+OK %d octets\r\n" % len(SECOND) + SECOND)[:20]
    received = b""
    while len(received) < 20:
        received += raw.sock.recv(100)
    assert received == expected
    raw.sock.settimeout(0.1)
    with pytest.raises(TimeoutError):
        raw.sock.recv(100)
    server.close()
    assert len(server.mailbox) == 1
    raw.close()


@pytest.mark.parametrize("options", [{"uidl": False}, {"faults": Faults(no_uidl=True)}])
def test_no_uidl(options: dict[str, object]) -> None:
    with POP3TestServer([FIRST], **options) as server:  # type: ignore[arg-type]
        client = login(server)
        assert "UIDL" not in client.capa()
        with pytest.raises(poplib.error_proto, match="-ERR"):
            client.uidl()
        with pytest.raises(poplib.error_proto, match="-ERR"):
            client.uidl(1)
        client.quit()


def test_duplicate_uid_repeats_the_first_uid_for_the_last_message() -> None:
    with POP3TestServer([FIRST, SECOND, THIRD], faults=Faults(duplicate_uid=True)) as server:
        client = login(server)
        uids = [line.split()[1] for line in client.uidl()[1]]
        assert uids[0] == uids[2] != uids[1]
        assert client.uidl(3).split()[-1] == uids[0]
        client.quit()


def test_uidl_extra_lists_a_message_that_list_does_not() -> None:
    with POP3TestServer([FIRST, SECOND], faults=Faults(uidl_extra=True)) as server:
        client = login(server)
        assert len(client.uidl()[1]) == 3
        assert len(client.list()[1]) == 2
        with pytest.raises(poplib.error_proto, match="no such message"):
            client.retr(3)
        client.quit()


def test_list_extra_lists_a_message_that_uidl_does_not() -> None:
    with POP3TestServer([FIRST, SECOND], faults=Faults(list_extra=True)) as server:
        client = login(server)
        assert len(client.list()[1]) == 3
        assert len(client.uidl()[1]) == 2
        client.quit()


def test_refuse_stls_advertises_it_but_answers_err() -> None:
    with POP3TestServer([FIRST], tls="stls", faults=Faults(refuse_stls=True)) as server:
        client = poplib.POP3(server.host, server.port, timeout=5)
        assert "STLS" in client.capa()
        with pytest.raises(poplib.error_proto, match="-ERR"):
            client.stls(context_for(server))
        client.quit()


def test_hide_stls_does_not_advertise_it_but_it_works() -> None:
    with POP3TestServer([FIRST], tls="stls", faults=Faults(hide_stls=True)) as server:
        raw = Raw.connect(server)
        raw.send(b"CAPA\r\n")
        assert raw.line().startswith("+OK")
        assert b"STLS" not in raw.lines()
        assert raw.command("STLS").startswith("+OK")
        secure = Raw(context_for(server).wrap_socket(raw.sock, server_hostname="localhost"))
        secure.login()
        secure.close()
        assert server.received[-1].tls


def test_faults_can_be_changed_while_running() -> None:
    with POP3TestServer([FIRST], faults=Faults(login_error="[IN-USE] busy")) as server:
        client = poplib.POP3(server.host, server.port, timeout=5)
        client.user("user")
        with pytest.raises(poplib.error_proto, match="IN-USE"):
            client.pass_("secret")
        server.faults = Faults()
        client.user("user")
        assert client.pass_("secret").startswith(b"+OK")
        client.quit()


def test_expire_zero_deletes_what_was_retrieved_at_quit() -> None:
    with POP3TestServer([FIRST, SECOND], expire=0) as server:
        client = login(server)
        assert client.capa()["EXPIRE"] == ["0"]
        client.retr(2)
        client.quit()
        assert [message for _, message in server.mailbox] == [FIRST]


def test_close_cuts_a_client_that_never_starts_the_tls_handshake() -> None:
    server = POP3TestServer([FIRST], tls="implicit").start()
    raw = Raw.connect(server, greeting=False)  # a plain-text client, waiting for a greeting
    _wait_for(lambda: bool(server.transcripts))
    server.close()  # returns although the handshake never began
    assert raw.sock.recv(100) == b""
    raw.close()


@pytest.mark.parametrize("options", [{"tls": "ssl"}, {"certificate": "self-signed"}])
def test_unknown_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be in"):
        POP3TestServer([], **options)  # type: ignore[arg-type]


def test_a_message_whose_first_line_starts_with_a_dot() -> None:
    message = b".first line\r\nsecond\r\n"
    with POP3TestServer([message]) as server:
        raw = Raw.connect(server)
        raw.login()
        assert raw.command("RETR 1") == f"+OK {len(message)} octets"
        assert raw.reader.readline() == b"..first line\r\n"
        assert raw.lines() == [b"second"]
        raw.close()
