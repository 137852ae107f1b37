"""``mailtrack web`` and ``mailtrack demo --web``: served on 127.0.0.1 behind the token, stopped by
Ctrl-C or SIGTERM."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("starlette")

from click.testing import CliRunner

from mailtrack.cli import cli

TOKEN = "a-token-for-the-cli-test"


def _get(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url)  # noqa: S310 - http://127.0.0.1 only
    if token is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"x:{token}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _serve(args: list[str], cwd: Path, token: str | None) -> tuple[subprocess.Popen[str], str, list[str]]:
    environment = {key: value for key, value in os.environ.items() if key != "MAILTRACK_WEB_TOKEN"}
    if token is not None:
        environment["MAILTRACK_WEB_TOKEN"] = token
    environment.update(COLUMNS="200", DISPLAY="")
    command = [sys.executable, "-c", "from mailtrack.cli import main; main()", *args, "--port", "0"]
    process = subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        match = re.search(r"The pages are at (http://127\.0\.0\.1:\d+/)", line)
        if match:
            return process, match.group(1), seen
    process.wait(60)
    raise AssertionError("the server never said where it listens:\n" + "".join(seen))


def test_web_refuses_to_start_without_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for token in (None, "short"):
        env = {"MAILTRACK_WEB_TOKEN": token}
        result = CliRunner().invoke(cli, ["--store", "memory://", "web"], env=env)
        assert result.exit_code == 1
        assert "set MAILTRACK_WEB_TOKEN" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_web_serves_the_store_behind_the_token_and_stops(tmp_path: Path, signal_number: int) -> None:
    store = f"sqlite:///{tmp_path / 'web.db'}"
    process, url, _seen = _serve(["--store", store, "web"], tmp_path, TOKEN)
    with process:
        try:
            assert url.startswith("http://127.0.0.1:")
            assert _get(url, None)[0] == 401
            assert _get(url, "the-wrong-token")[0] == 401
            status, page = _get(url + "records", TOKEN)
            assert status == 200
            assert "No records" in page
        finally:
            process.send_signal(signal_number)
            rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert "Traceback" not in rest
    assert TOKEN not in rest


@pytest.mark.slow
def test_demo_web_imports_then_shows_the_demo_records(tmp_path: Path) -> None:
    process, url, seen = _serve(["demo", "--web"], tmp_path, None)
    with process:
        try:
            match = re.search(r"user name demo and password (\S+)", "".join(seen))
            assert match is not None, "".join(seen)
            password = match.group(1)
            status, page = _get(url + "records?project=demo", password)
            assert status == 200
            assert re.search(r"<tr><td>1</td>", page)
            assert _get(url + "records/1", password)[0] == 200
            assert _get(url, None)[0] == 401
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=60)
    assert process.returncode == 0


INBOUND_TOML = """
store = "sqlite:///web.db"

[[interfaces]]
name = "support"
server = "pop.example.com"
login = "support"

[inbound]
catch_all = "support"

[inbound.relay]
user = "relay"
password_env = "TEST_RELAY_PASSWORD"
"""
RELAY_PASSWORD = "the relay's long password"


def _post_relay(url: str, password: str, raw: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url + "inbound/relay", data=raw, method="POST")  # noqa: S310
    credentials = base64.b64encode(f"relay:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {credentials}")
    request.add_header("Content-Type", "message/rfc822")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - http://127.0.0.1
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_web_serves_the_inbound_routes_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailtrack.stores import SQLRecordStore
    from mailtrack.testing import build_message

    (tmp_path / "mailtrack.toml").write_text(INBOUND_TOML)
    monkeypatch.setenv("TEST_RELAY_PASSWORD", RELAY_PASSWORD)
    process, url, seen = _serve(["web"], tmp_path, TOKEN)
    with process:
        try:
            assert "Inbound routes (relay) at /inbound/" in "".join(seen)
            # The route checks the relay's credentials, not the pages' token.
            status, _ = _post_relay(url, "not the relay password", build_message())
            assert status == 401
            assert _post_relay(url, TOKEN, build_message())[0] == 401
            assert _get(url + "records", None)[0] == 401  # the pages still need the token
            status, body = _post_relay(url, RELAY_PASSWORD, build_message(subject="Through the relay"))
            assert status == 200, body
        finally:
            process.send_signal(signal.SIGTERM)
            rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert RELAY_PASSWORD not in rest
    with SQLRecordStore(f"sqlite:///{tmp_path / 'web.db'}") as store:
        assert [record.title for record in store.list_records()] == ["Through the relay"]
