"""Importer.watch against the scripted IMAP server: IDLE starts a run at once, interfaces added,
edited and disabled while it runs are taken up, a dropped IDLE connection is made again, a server
without IDLE is polled, and stop() ends it.

The bounds here are liveness bounds (many times the expected time), never speed measurements.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import attrs
import pytest

from _imapserver import ScriptedIMAPServer
from mailtrack import Importer, MailInterface, MemoryRecordStore, RunReport
from mailtrack.testing import build_message

#: Liveness bound for something expected within about a second.
BOUND = 10.0
#: Polls far apart: only IDLE (or a changed interface) can start a run within BOUND.
RARELY = 3600.0


def eventually(condition: Callable[[], bool], bound: float = BOUND) -> bool:
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@attrs.define
class Watching:
    importer: Importer
    store: MemoryRecordStore
    interfaces: list[MailInterface]
    reports: list[RunReport]
    thread: threading.Thread

    def subjects(self) -> set[str]:
        return {detail.subject for record in self.store.list_records() for detail in record.details}


@pytest.fixture
def watching() -> Iterator[Callable[..., Watching]]:
    started: list[Watching] = []

    def start(
        interfaces: list[MailInterface], *, every: float = RARELY, store: MemoryRecordStore | None = None
    ) -> Watching:
        store = store if store is not None else MemoryRecordStore()
        importer = Importer(store=store, worker_id=f"worker-{len(started)}")
        reports: list[RunReport] = []
        thread = threading.Thread(
            target=importer.watch,
            args=(lambda: list(interfaces),),
            kwargs={"every": every, "refresh": 0.2, "on_report": reports.append},
            daemon=True,
        )
        watch = Watching(importer, store, interfaces, reports, thread)
        thread.start()
        started.append(watch)
        return watch

    yield start
    for watch in started:
        watch.importer.stop()
        watch.thread.join(BOUND)
        assert not watch.thread.is_alive(), "watch did not end after stop()"


def test_new_mail_is_imported_at_once_through_idle(watching: Callable[..., Watching]) -> None:
    with ScriptedIMAPServer() as server:
        server.add(build_message(subject="before"))
        watch = watching([server.interface()])
        assert eventually(lambda: watch.subjects() == {"before"})
        runs = len(watch.reports)
        assert eventually(lambda: any(line.endswith(" IDLE") for line in server.commands))
        server.add(build_message(subject="during"))
        assert eventually(lambda: watch.subjects() == {"before", "during"})
        assert eventually(lambda: len(watch.reports) > runs)  # on_report comes after the commit
        assert server.raws() == []


def test_interfaces_added_edited_and_disabled_while_watching(watching: Callable[..., Watching]) -> None:
    with ScriptedIMAPServer() as server:
        server.add(build_message(subject="first"))
        watch = watching([])
        time.sleep(0.5)
        assert watch.subjects() == set()
        watch.interfaces.append(server.interface(after_import="keep"))  # added
        assert eventually(lambda: watch.subjects() == {"first"})
        server.folders["Other"] = []
        server.add(build_message(subject="elsewhere"), folder="Other")
        watch.interfaces[0] = server.interface(after_import="keep", folder="Other")  # edited
        assert eventually(lambda: watch.subjects() == {"first", "elsewhere"})
        watch.interfaces[0] = server.interface(after_import="keep", folder="Other", enabled=False)
        assert eventually(lambda: server.commands[-1].endswith("LOGOUT") or "DONE" in server.commands[-1])
        time.sleep(0.5)
        server.add(build_message(subject="ignored"), folder="Other")
        time.sleep(1.0)
        assert watch.subjects() == {"first", "elsewhere"}  # disabled: not watched


def test_a_dropped_idle_connection_is_made_again(watching: Callable[..., Watching]) -> None:
    with ScriptedIMAPServer() as server:
        watch = watching([server.interface()])
        assert eventually(lambda: any(line.endswith(" IDLE") for line in server.commands))
        logins = sum("AUTHENTICATE" in line for line in server.commands)
        with server._lock:
            for client in server._clients:
                with contextlib.suppress(OSError):  # closed already
                    client.shutdown(socket.SHUT_RDWR)
        assert eventually(lambda: sum("AUTHENTICATE" in line for line in server.commands) > logins)
        assert eventually(lambda: server.commands[-1].endswith(" IDLE"))
        server.add(build_message(subject="after the drop"))
        assert eventually(lambda: watch.subjects() == {"after the drop"})


def test_a_server_without_idle_is_polled(watching: Callable[..., Watching]) -> None:
    capabilities = ("IMAP4rev1", "AUTH=PLAIN", "SASL-IR", "UIDPLUS")
    with ScriptedIMAPServer(capabilities=capabilities, greeting="OK ready") as server:
        watch = watching([server.interface()], every=0.3)
        assert eventually(lambda: len(watch.reports) >= 1)
        server.add(build_message(subject="polled"))
        assert eventually(lambda: watch.subjects() == {"polled"})
        assert not any(line.endswith(" IDLE") for line in server.commands)


def test_stop_ends_the_watch_and_closes_the_idle_connection(watching: Callable[..., Watching]) -> None:
    with ScriptedIMAPServer() as server:
        watch = watching([server.interface()])
        assert eventually(lambda: any(line.endswith(" IDLE") for line in server.commands))
        watch.importer.stop()
        watch.thread.join(BOUND)
        assert not watch.thread.is_alive()
        assert eventually(lambda: "DONE" in server.commands[-1] or server.commands[-1].endswith("LOGOUT"))


def test_idle_is_issued_again_on_the_same_connection_before_the_server_would_drop_it(
    watching: Callable[..., Watching], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailtrack.fetching import _imapidle

    monkeypatch.setattr(_imapidle, "IDLE_RENEW", 0.3)  # 25 minutes in real life
    with ScriptedIMAPServer() as server:
        watching([server.interface()])
        assert eventually(lambda: sum(line.endswith(" IDLE") for line in server.commands) >= 3)
        logins = sum("AUTHENTICATE" in line for line in server.commands)
        assert logins == 2  # the first poll's run, and the one IDLE connection: no reconnection
        assert sum(line.strip() == "DONE" for line in server.commands) >= 2


def test_two_workers_on_one_store_keep_one_idle_connection_and_the_other_takes_over(
    watching: Callable[..., Watching],
) -> None:
    store = MemoryRecordStore()
    with ScriptedIMAPServer() as server:
        first = watching([server.interface()], store=store)
        assert eventually(lambda: len(server._idlers) == 1)
        second = watching([server.interface()], store=store)
        assert eventually(lambda: len(second.reports) >= 1)  # it polls the folder
        time.sleep(1.0)  # several refreshes of both
        assert len(server._idlers) == 1
        first.importer.stop()
        first.thread.join(BOUND)
        assert eventually(lambda: len(server._idlers) == 1)  # the second worker's now
        server.add(build_message(subject="for the second worker"))
        assert eventually(lambda: second.subjects() == {"for the second worker"})
