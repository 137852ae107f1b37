"""Conversion worker processes: no message lost to a race, the host's script never run again,
no worker outliving the importer, no mailbox locked behind a dead holder.

The stress loops run ``$MAILTRACK_STRESS_ROUNDS`` rounds (2 by default; ``nox -s stress`` runs 20).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")

from _killing import ledger_size
from _tally import audit
from mailtrack import Importer, ImportPolicy, MailInterface, SenderPolicy
from mailtrack._importing.workers import available_start_methods
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import POP3TestServer, build_message

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="worker processes start automatically on Linux")
]

SUPPORT = Path(__file__).parents[1] / "support"
STOPPED_IMPORTER = SUPPORT / "_stopped_importer.py"
ROUNDS = int(os.environ.get("MAILTRACK_STRESS_ROUNDS", "2"))
MAILBOXES, PER_MAILBOX = 200, 20


def processes_in_group(group: int) -> list[int]:
    """The processes of a process group that still run (zombies waiting to be reaped are over)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(condition())  # type: ignore[operator]


# -- many mailboxes at once ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_servers() -> Iterator[list[POP3TestServer]]:
    servers = [POP3TestServer().start() for _ in range(MAILBOXES)]
    try:
        yield servers
    finally:
        for server in servers:
            server.close()


def fill(servers: list[POP3TestServer], round_number: int) -> dict[str, dict[str, bytes]]:
    """Twenty short messages in each mailbox, a third of them replies naming a record."""
    originals: dict[str, dict[str, bytes]] = {}
    for box, server in enumerate(servers):
        assert server.mailbox == []
        messages = originals[f"box-{box}"] = {}
        for n in range(PER_MAILBOX):
            subject = f"Re: [#{n % 7 + 1}] still broken" if n % 3 == 0 else f"Question {box}.{n}"
            raw = build_message(
                subject=subject,
                sender=f"customer{box}@example.com",
                text=f"round {round_number}, mailbox {box}, message {n}\n",
                message_id=f"r{round_number}.b{box}.m{n}@example.com",
            )
            messages[server.add_message(raw)] = raw
    return originals


def assert_all_imported_once(
    store: SQLRecordStore,
    servers: list[POP3TestServer],
    originals: dict[str, dict[str, bytes]],
    round_number: int,
) -> None:
    """Nothing quarantined, nothing left on a server, every message in the ledger and a detail once."""
    assert [held.error for held in store.list_quarantined()] == []
    assert [len(server.mailbox) for server in servers] == [0] * len(servers)
    for name, messages in originals.items():
        assert store.imported_uids(name, list(messages)) == set(messages)
    details = Counter(detail.message_id for record in store.list_records() for detail in record.details)
    assert details == {
        f"r{round_number}.b{box}.m{n}@example.com": 1
        for box in range(len(servers))
        for n in range(PER_MAILBOX)
    }


@pytest.mark.slow
def test_run_all_of_200_mailboxes_quarantines_nothing(
    many_servers: list[POP3TestServer], tmp_path: Path
) -> None:
    for round_number in range(ROUNDS):
        originals = fill(many_servers, round_number)
        interfaces = [server.interface(name=f"box-{n}") for n, server in enumerate(many_servers)]
        with SQLRecordStore(f"sqlite:///{tmp_path / f'round-{round_number}.db'}") as store:
            reports = Importer(store=store).run_all(interfaces)
            assert [report.error for report in reports if report.error] == []
            assert sum(report.failed for report in reports) == 0
            assert_all_imported_once(store, many_servers, originals, round_number)


def run_one_by_one(importer: Importer, group: list[MailInterface], errors: list[BaseException]) -> None:
    try:
        for interface in group:
            report = importer.run(interface)
            assert (report.error, report.failed) == (None, 0)
    except BaseException as exc:
        errors.append(exc)


def run_all_at_once(importer: Importer, group: list[MailInterface], errors: list[BaseException]) -> None:
    try:
        reports = importer.run_all(group)
        assert [(report.error, report.failed) for report in reports] == [(None, 0)] * len(group)
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.slow
def test_several_pools_and_runs_from_several_threads_quarantine_nothing(
    many_servers: list[POP3TestServer], tmp_path: Path
) -> None:
    for round_number in range(ROUNDS):
        originals = fill(many_servers, round_number)
        interfaces = [server.interface(name=f"box-{n}") for n, server in enumerate(many_servers)]
        groups = [interfaces[i::4] for i in range(4)]
        with SQLRecordStore(f"sqlite:///{tmp_path / f'round-{round_number}.db'}") as store:
            # Workers forced on: every run() starts a pool of its own, while run_all shares one.
            importer = Importer(store=store, conversion_workers=2)
            errors: list[BaseException] = []
            threads = [
                threading.Thread(target=run_one_by_one, args=(importer, group, errors))
                for group in groups[:3]
            ]
            threads.append(threading.Thread(target=run_all_at_once, args=(importer, groups[3], errors)))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            assert_all_imported_once(store, many_servers, originals, round_number)


# -- a host script without a __main__ guard ---------------------------------------------------------


def run_script(path: Path, text: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Write *text* to *path* and run it as a host's script; it must succeed."""
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, str(path), *arguments], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


UNGUARDED = textwrap.dedent(
    """
    import json, logging, sys
    with open(sys.argv[1], "a") as counter:  # the top level: it must run exactly once
        counter.write("ran\\n")

    from mailtrack import Importer, ImportPolicy, MemoryRecordStore, SenderPolicy
    from mailtrack.testing import POP3TestServer, build_message

    started = []
    class Started(logging.Handler):
        def emit(self, record):
            if "worker processes, started with" in record.getMessage():
                started.append(record.getMessage())
    logging.getLogger("mailtrack").addHandler(Started())
    logging.getLogger("mailtrack").setLevel(logging.DEBUG)

    mode = sys.argv[2]
    boxes = [POP3TestServer([build_message(subject=f"box {b} message {n}") for n in range(40)]).start()
             for b in range(2 if mode == "run_all" else 1)]
    anyone = ImportPolicy(sender_policy=SenderPolicy.ANYONE)
    interfaces = [server.interface(name=f"box-{b}", policy=anyone) for b, server in enumerate(boxes)]
    store = MemoryRecordStore()
    if mode == "run_all":
        reports = Importer(store=store).run_all(interfaces)
    else:
        method = None if mode == "auto" else mode
        importer = Importer(store=store, conversion_workers=2, conversion_start_method=method)
        reports = [importer.run(interfaces[0])]
    print(json.dumps({
        "created": sum(r.created for r in reports),
        "left": sum(len(server.mailbox) for server in boxes),
        "started": started,
    }))
    for server in boxes:
        server.close()
    """
)


@pytest.mark.parametrize("mode", ["auto", *available_start_methods(), "run_all"])
def test_a_script_without_a_main_guard_runs_once_and_still_uses_workers(tmp_path: Path, mode: str) -> None:
    counter = tmp_path / "counter"
    result = run_script(tmp_path / "unguarded.py", UNGUARDED, str(counter), mode)
    assert counter.read_text().splitlines() == ["ran"]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert (outcome["created"], outcome["left"]) == (40 * (2 if mode == "run_all" else 1), 0)
    expected = "forkserver" if mode in ("auto", "run_all") else mode  # the test servers run threads
    assert outcome["started"] == [f"converting in 2 worker processes, started with {expected!r}"]


NOISY = textwrap.dedent(
    """
    import json, logging, sys
    sys.path.insert(0, sys.argv[1])
    from _noisy_converter import NoisyConverter
    from mailtrack import Importer, ImportPolicy, MemoryRecordStore, SenderPolicy
    from mailtrack.testing import POP3TestServer, build_message

    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    with POP3TestServer([build_message(subject=f"m{n}") for n in range(20)]) as server:
        importer = Importer(
            store=MemoryRecordStore(), converter=NoisyConverter(),
            conversion_workers=2, conversion_start_method=sys.argv[2],
        )
        report = importer.run(server.interface(policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE)))
    print(json.dumps({"created": report.created}))
    """
)


@pytest.mark.parametrize("method", available_start_methods())
def test_workers_never_write_to_the_hosts_streams_and_their_log_comes_back(
    tmp_path: Path, method: str
) -> None:
    from _noisy_converter import LOGGED, PRINTED

    result = run_script(tmp_path / "noisy.py", NOISY, str(SUPPORT), method)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"created": 20}
    assert PRINTED not in result.stdout
    assert PRINTED not in result.stderr
    assert result.stderr.count(f"noisy: conversion worker: {LOGGED}") == 20


# -- an importer killed from outside ---------------------------------------------------------------

KILL_MESSAGES = 1500


def start_importer(db: Path, mode: str, ports: list[int]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(STOPPED_IMPORTER), str(db), mode, *map(str, ports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a group of its own: whatever it leaves behind is found there
    )


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("mode", [*available_start_methods(), "run_all"])
def test_a_killed_importer_leaves_no_worker_and_no_lock(
    tmp_path: Path, mode: str, signal_number: int
) -> None:
    boxes = 2 if mode == "run_all" else 1
    originals = [
        {
            f"b{box}-{n}": build_message(
                subject=f"box {box} message {n}", text="line\n" * 40, message_id=f"b{box}.{n}@example.com"
            )
            for n in range(KILL_MESSAGES // boxes)
        }
        for box in range(boxes)
    ]
    db = tmp_path / "mailtrack.db"
    servers = [POP3TestServer(list(messages.items())).start() for messages in originals]
    try:
        child = start_importer(db, mode, [server.port for server in servers])
        try:
            assert wait_until(lambda: ledger_size(db) >= 50, 60), "the importer did not get going"
            running = processes_in_group(child.pid)
            assert len(running) >= 3, "the importer ran no conversion workers"  # itself and 2 workers
            child.send_signal(signal_number)  # the importer alone, as the OOM killer or `kill` does
            killed_at = time.monotonic()
            # The caller's pipes close: no worker holds them open.
            child.communicate(timeout=5)
            assert wait_until(lambda: processes_in_group(child.pid) == [], 5 - (time.monotonic() - killed_at))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal_number
        committed = ledger_size(db)
        assert 0 < committed < KILL_MESSAGES

        # The next run starts at once: the dead importer's lease is taken over, not waited for.
        anyone = ImportPolicy(sender_policy=SenderPolicy.ANYONE)
        with SQLRecordStore(f"sqlite:///{db}") as store:
            names = ["support"] if mode != "run_all" else [f"box-{n}" for n in range(boxes)]
            interfaces = [
                servers[n].interface(name=name, policy=anyone, timeout=20.0) for n, name in enumerate(names)
            ]
            reports = Importer(store=store).run_all(interfaces)
            assert [(report.busy, report.error) for report in reports] == [(False, None)] * boxes
            assert any("took over the lease of" in note for report in reports for note in report.notes)
            for name, server, messages in zip(names, servers, originals, strict=True):
                result = audit(store, name, messages, (uid for uid, _raw in server.mailbox))
                assert (result.lost, result.duplicated) == ((), ())
                assert result.imported == set(messages)
                assert server.mailbox == []
    finally:
        for server in servers:
            server.close()


@pytest.mark.slow
def test_mailtrack_run_stops_on_sigterm_twice_and_the_next_run_imports_the_rest(tmp_path: Path) -> None:
    messages = {
        f"m{n}": build_message(subject=f"message {n}", text="line\n" * 40, message_id=f"m{n}@example.com")
        for n in range(KILL_MESSAGES)
    }
    db = tmp_path / "mailtrack.db"
    with POP3TestServer(list(messages.items())) as server:
        (tmp_path / "mailtrack.toml").write_text(
            textwrap.dedent(
                f"""
                store = "sqlite:///{db}"

                [[interfaces]]
                name = "support"
                server = "127.0.0.1"
                port = {server.port}
                login = "user"
                password_env = "MAILTRACK_TEST_PASSWORD"
                security = "none"
                policy = {{ sender_policy = "anyone" }}
                """
            )
        )
        command = [sys.executable, "-c", "from mailtrack.cli import main; main()", "run"]
        environment = {**os.environ, "MAILTRACK_TEST_PASSWORD": "secret", "COLUMNS": "200"}
        child = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            assert wait_until(lambda: ledger_size(db) >= 50, 60), "the import did not get going"
            child.send_signal(signal.SIGTERM)
            time.sleep(0.05)
            child.send_signal(signal.SIGTERM)  # again, while it shuts down
            output, _ = child.communicate(timeout=10)
            assert wait_until(lambda: processes_in_group(child.pid) == [], 5)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        text = output.decode(errors="replace")
        assert "Traceback" not in text, text
        # The second SIGTERM may come after the stop finished and the default handler is back:
        # then the process ends by that signal, which is also an orderly end (nothing was lost).
        assert child.returncode in (0, 1, 130, -signal.SIGTERM), text
        assert len(server.mailbox) > 0  # stopped before the end: the rest waits on the server

        again = subprocess.run(
            command, cwd=tmp_path, env=environment, capture_output=True, timeout=120, check=False
        )
        assert again.returncode == 0, again.stdout.decode(errors="replace")
        with SQLRecordStore(f"sqlite:///{db}") as store:
            result = audit(store, "support", messages, (uid for uid, _raw in server.mailbox))
        assert (result.lost, result.duplicated) == ((), ())
        assert result.imported == set(messages)
        assert server.mailbox == []
