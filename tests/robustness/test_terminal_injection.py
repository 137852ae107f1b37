"""Issue 14.1: text from mail or a server never reaches the operator's terminal as controls.

A hostile message carries OSC 52 (clipboard), OSC 8 (hidden link), OSC 0 (window title), CSI 6n
(the terminal types a reply), ESC [2J, NUL, a C1 control and U+202E in its body, its header
block, its subject, its sender's name and an attachment name; its UID holds controls too. Every
command that shows stored text is run under a pseudo-terminal, and the raw bytes it wrote must
hold none of those controls (rich's own colour and cursor codes are allowed), while the text is
still there, visibly escaped.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pty
import re
import subprocess
import sys
from email.header import Header
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")
pytest.importorskip("sqlalchemy")

from _hostile import nested_multipart
from _scripted_pop3 import ScriptedPOP3
from _tally import record
from mailtrack._terminal import json_safe, terminal_safe

#: Everything a hostile sender puts into text, in one string.
HOSTILE = (
    "A\x1b]52;c;SGFja2Vk\x07"  # OSC 52: write the clipboard
    "B\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # OSC 8: a hidden link
    "C\x1b]0;PWNED\x07"  # OSC 0: the window title
    "D\x1b[6n"  # CSI 6n: the terminal types its cursor position
    "E\x1b[2J"  # clear the screen
    "F\x00G\x9b31mH"  # NUL, a C1 CSI
    "I\u202efdp.exe"  # right-to-left override
)
#: The same as raw header bytes (the header block is shown decoded as latin-1: 0x9B is C1 there).
HOSTILE_HEADER = b"A\x1b]52;c;SGFja2Vk\x07C\x1b]0;PWNED\x07D\x1b[6nE\x1b[2JG\x9b31mH\xe2\x80\xaeI"
HOSTILE_UID = b"ctl\x1b]0;T\x07\x1b[2J"
PASSWORD = "pty-test-password"

#: The controls of the sequences above that must never come out.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: What rich writes itself: SGR colours, erasing a line, moving and showing the cursor.
_RICH_CODES = re.compile(r"\x1b\[[0-9;]*[mKAG]|\x1b\[\?25[lh]")


def _encoded(text: str) -> str:
    return Header(text, "utf-8").encode()


def hostile_message() -> bytes:
    body = base64.encodebytes(("Hello\n" + HOSTILE + "\nbye\n").encode("utf-8"))
    attachment = base64.encodebytes(b"file content")
    return (
        b"From: " + _encoded("Mallory " + HOSTILE).encode() + b" <mallory@example.org>\r\n"
        b"To: support@example.com\r\n"
        b"Subject: " + _encoded("Invoice " + HOSTILE).encode() + b"\r\n"
        b"Message-ID: <hostile@example.org>\r\n"
        b"X-Evil: " + HOSTILE_HEADER + b"\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body.replace(b"\n", b"\r\n")
        + b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''"
        + "".join(f"%{byte:02X}" for byte in ("x" + HOSTILE + ".bin").encode()).encode()
        + b"\r\n\r\n"
        + attachment.replace(b"\n", b"\r\n")
        + b"--XX--\r\n"
    )


def unconvertible_message() -> bytes:
    """Quarantined: its MIME nests deeper than ParseLimits.max_depth."""
    return b"X-Evil: " + HOSTILE_HEADER + b"\r\nSubject: " + HOSTILE_HEADER + b"\r\n" + nested_multipart(60)


def under_pty(workdir: Path, *args: str) -> str:
    """Run ``mailtrack ARGS`` on a pseudo-terminal (200 columns); everything it wrote, as text."""
    main, child = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 200, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in {"NO_COLOR", "COLUMNS", "LINES"}}
    env.update(TERM="xterm-256color", MAILTRACK_PTY_PASSWORD=PASSWORD)
    process = subprocess.Popen(
        [sys.executable, "-c", "from mailtrack.cli import main; main()", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=workdir,
        env=env,
    )
    os.close(child)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(main)
        process.wait(timeout=120)
    output = b"".join(chunks)
    # A raw C1 byte or a stray 0x9B would not even be UTF-8.
    return output.decode("utf-8")


def assert_inert(output: str) -> None:
    for sequence in ("\x1b]", "\x1b[6n", "\x1b[2J", "\x1b\\", "\x07", "\x00"):
        assert sequence not in output, (sequence, output)
    left = _FORBIDDEN.findall(_RICH_CODES.sub("", output.replace("\r", "")))
    assert not left, (left, output)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the hostile message as a record and the unconvertible one in quarantine,
    imported by ``mailtrack run`` from a server with hostile UIDs (its output is kept)."""
    path = tmp_path_factory.mktemp("pty")
    mailbox = [(HOSTILE_UID, hostile_message()), (HOSTILE_UID + b"2", unconvertible_message())]
    with ScriptedPOP3(mailbox) as server:
        (path / "mailtrack.toml").write_text(
            f'store = "sqlite:///{path / "mailtrack.db"}"\n\n[[interfaces]]\nname = "support"\n'
            f'server = "127.0.0.1"\nport = {server.port}\nlogin = "support"\n'
            'password_env = "MAILTRACK_PTY_PASSWORD"\nsecurity = "none"\n',
            encoding="utf-8",
        )
        (path / "run.out").write_text(under_pty(path, "run"), encoding="utf-8")
        record(bad_inputs=2)
    return path


def test_run_output_holds_no_control_from_the_uids_or_the_mail(workdir: Path) -> None:
    output = (workdir / "run.out").read_text(encoding="utf-8")
    assert_inert(output)
    assert "quarantined" in output  # the note naming the UID was printed
    assert "uidl-sha256:" in output  # the non-conforming UID is keyed (and named) by its digest


@pytest.mark.parametrize(
    "args",
    [
        ("records", "list"),
        ("records", "show", "1"),
        ("records", "show", "1", "--headers"),
        ("quarantine", "list"),
        ("quarantine", "show", "1"),
        ("quarantine", "show", "1", "--raw"),
        ("interfaces", "list"),
    ],
    ids=" ".join,
)
def test_commands_showing_stored_text_write_no_control_to_the_terminal(
    workdir: Path, args: tuple[str, ...]
) -> None:
    output = under_pty(workdir, *args)
    assert_inert(output)
    record(bad_inputs=1)
    if args[:2] == ("records", "show"):
        assert "\\x1b]52;c;SGFja2Vk\\x07" in output  # shown, visibly escaped
        assert "\\u202efdp.exe" in output
    if args[-1] == "--headers" or (args[0] == "quarantine" and args[1] == "show"):
        assert "\\x9b31m" in output  # the header's C1 byte, escaped


def test_explain_writes_no_control_to_the_terminal(workdir: Path) -> None:
    (workdir / "hostile.eml").write_bytes(hostile_message())
    output = under_pty(workdir, "explain", "hostile.eml", "--interface", "support")
    assert_inert(output)
    record(bad_inputs=1)
    assert "\\u202e" in output  # the subject's bidi control, shown escaped
    assert "already a detail of #1" in output  # imported by the fixture's run


def test_explain_escapes_bidi_controls_in_a_message_id(workdir: Path) -> None:
    """The Message-ID is shown as it came (not through repr): its bidi controls must be escaped
    by the view itself."""
    raw = hostile_message().replace(
        b"Message-ID: <hostile@example.org>", "Message-ID: <h\u202e2\u2066@example.org>".encode()
    )
    (workdir / "bidi.eml").write_bytes(raw)
    output = under_pty(workdir, "explain", "bidi.eml", "--interface", "support")
    assert_inert(output)
    record(bad_inputs=1)
    assert "h\\u202e2\\u2066@example.org" in output


@pytest.mark.parametrize(
    "args",
    [
        ("records", "list", "--json"),
        ("records", "show", "1", "--json"),
        ("quarantine", "list", "--json"),
        ("quarantine", "show", "1", "--json"),
        ("run", "--json"),
    ],
    ids=" ".join,
)
def test_json_output_escapes_the_controls_and_keeps_the_text(workdir: Path, args: tuple[str, ...]) -> None:
    output = under_pty(workdir, *args)
    assert_inert(output)
    record(bad_inputs=1)
    decoded = json.loads(output.replace("\r\n", "\n"))
    if args[:2] == ("records", "show"):
        assert HOSTILE in decoded["details"][0]["text"]  # the same text, once parsed


def test_error_messages_are_terminal_safe(workdir: Path) -> None:
    output = under_pty(workdir, "records", "show", "99")
    assert "Error" in output
    assert_inert(output)


def test_the_cli_logs_warnings_with_the_controls_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from mailtrack.cli import log_warnings_safely

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # as in the console script: no logging configuration
    try:
        log_warnings_safely()
        try:
            raise ValueError(HOSTILE)
        except ValueError:
            logging.getLogger("mailtrack").warning("the converter failed on %s", HOSTILE, exc_info=True)
    finally:
        root.handlers[:] = saved
    written = capsys.readouterr().err
    assert "ValueError" in written
    assert "\\x1b]52" in written
    assert not _FORBIDDEN.search(written)


def test_terminal_safe_escapes_exactly_the_controls() -> None:
    assert terminal_safe("a\tb\nc\r\nd") == "a\tb\nc\nd"
    assert terminal_safe("\x1b[2J\x00\x7f\x85\u202e\u2066\u200f\u061c") == (
        "\\x1b[2J\\x00\\x7f\\x85\\u202e\\u2066\\u200f\\u061c"
    )
    assert terminal_safe("Grüße, 日本, emoji 🎉") == "Grüße, 日本, emoji 🎉"
    dumped = json.dumps({"a": "x\x9by\u202ez\x7f"}, ensure_ascii=False)
    assert json.loads(json_safe(dumped)) == {"a": "x\x9by\u202ez\x7f"}
    assert not _FORBIDDEN.search(json_safe(dumped))
