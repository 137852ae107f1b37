"""The Postfix relay script of docs/howto/inbound.md, read from the page and run by ``sh`` with
the real ``curl`` against the relay route on a real uvicorn server: its exit status is what the
mail server acts on (0 done, 75 kept and retried, 77 / 69 bounced)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

import attrs
import pytest

from _browser import served
from _inbound import PASSWORD, SALES, SUPPORT, settings
from mailtrack import Importer, MailInterface, MemoryRecordStore
from mailtrack.testing import build_message
from mailtrack.web.inbound import create_inbound_app

HOWTO = Path(__file__).resolve().parents[3] / "docs" / "howto" / "inbound.md"
EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM = 0, 69, 75, 77

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def relay_script() -> str:
    """The one ``sh`` block of the how-to that is the relay script, exactly as printed."""
    scripts: list[str] = [
        block
        for block in re.findall(r"^```sh\n(.*?)^```", HOWTO.read_text(encoding="utf-8"), re.M | re.S)
        if block.startswith("#!/bin/sh\n# /usr/local/bin/mailtrack-relay ")
    ]
    assert len(scripts) == 1, "docs/howto/inbound.md must print the relay script once"
    return scripts[0]


def run_script(tmp_path: Path, url: str, password: str, recipient: str, raw: bytes) -> tuple[int, str]:
    config = tmp_path / "relay.curlrc"
    config.write_text(f'url = "{url}/relay"\nuser = "relay:{password}"\n', encoding="utf-8")
    script = tmp_path / "mailtrack-relay"
    script.write_text(relay_script(), encoding="utf-8")
    done = subprocess.run(
        ["sh", str(script), recipient],
        input=raw,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "MAILTRACK_RELAY_CONFIG": str(config)},
        timeout=120,
        check=False,
    )
    return done.returncode, done.stderr.decode("utf-8", "replace")


def serve(store: MemoryRecordStore, support: MailInterface = SUPPORT) -> AbstractContextManager[str]:
    importer = Importer(store=store, conversion_workers=0)
    return served(create_inbound_app(importer=importer, settings=settings(), interfaces=[support, SALES]))


def test_imported_is_exit_0_and_a_retry_imports_nothing_twice(tmp_path: Path) -> None:
    store = MemoryRecordStore()
    raw = build_message(subject="Relayed by Postfix")
    with serve(store) as url:
        assert run_script(tmp_path, url, PASSWORD, "support@example.com", raw)[0] == EX_OK
        assert run_script(tmp_path, url, PASSWORD, "support@example.com", raw)[0] == EX_OK
    assert [record.title for record in store.list_records()] == ["Relayed by Postfix"]


def test_a_disabled_interface_is_75_so_the_mail_server_keeps_the_mail(tmp_path: Path) -> None:
    store = MemoryRecordStore()
    with serve(store, attrs.evolve(SUPPORT, enabled=False)) as url:
        status, stderr = run_script(tmp_path, url, PASSWORD, "support@example.com", build_message())
    assert status == EX_TEMPFAIL
    assert "HTTP 503" in stderr
    assert "'support' is disabled" in stderr
    assert store.list_records() == []


def test_a_wrong_password_is_77_a_bounce_with_the_reason(tmp_path: Path) -> None:
    store = MemoryRecordStore()
    with serve(store) as url:
        status, stderr = run_script(tmp_path, url, "not the relay password", "support@example.com", b"x")
    assert status == EX_NOPERM
    assert "HTTP 401" in stderr
    assert store.list_records() == []


def test_an_address_no_interface_takes_is_69_a_bounce(tmp_path: Path) -> None:
    store = MemoryRecordStore()
    with serve(store) as url:
        status, stderr = run_script(tmp_path, url, PASSWORD, "nobody@example.org", build_message())
    assert status == EX_UNAVAILABLE
    assert "HTTP 400" in stderr
    assert "nobody@example.org" in stderr


def test_a_server_that_is_down_is_75(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, stderr = run_script(
        tmp_path, f"http://127.0.0.1:{port}", PASSWORD, "support@example.com", build_message()
    )
    assert status == EX_TEMPFAIL
    assert "HTTP 000" in stderr
