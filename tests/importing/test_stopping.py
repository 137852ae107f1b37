"""Importer.stop(): a graceful stop for hosts, from another thread or a signal handler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mailtrack import Importer, ImportPolicy, MailInterface, MemoryRecordStore, SenderPolicy
from mailtrack.models import MessageInfo
from mailtrack.testing import FakeMailbox, POP3TestServer, build_message


def interface(name: str = "support") -> MailInterface:
    return MailInterface(
        name=name,
        server="pop.example.com",
        login="support",
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )


class StopsWhileHanding:
    """A fetcher factory around a FakeMailbox whose session calls *stop* while message *at* is in hand."""

    def __init__(self, mailbox: FakeMailbox, at: int) -> None:
        self.mailbox = mailbox
        self.at = at
        self.stop: Any = None

    def __call__(self, chosen: MailInterface) -> Any:
        inner = self.mailbox.fetcher(chosen)
        outer = self

        class Fetcher:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
                for index, item in enumerate(inner.retrieve_many(messages), 1):
                    if index == outer.at:
                        outer.stop()  # as a signal handler or another thread would, mid-run
                    yield item

        return Fetcher()


def test_a_stop_ends_the_run_after_the_message_in_hand() -> None:
    mailbox = FakeMailbox([build_message(subject=f"Request {n}") for n in range(1, 6)])
    factory = StopsWhileHanding(mailbox, at=2)
    importer = Importer(fetcher_factory=factory, conversion_workers=0)
    factory.stop = importer.stop

    report = importer.run(interface())

    assert report.ok
    assert report.stopped
    assert (report.imported, report.created) == (2, 2)  # the message in hand was committed …
    assert len(mailbox) == 3  # … and deleted; the others wait for the next run
    assert "stopped on request; the messages not yet retrieved stay on the server" in report.notes
    assert sorted(record.title for record in importer.store.list_records()) == ["Request 1", "Request 2"]
    # The lease was released: another importer goes on at once and imports the rest once.
    rest = Importer(store=importer.store, fetcher_factory=mailbox.fetcher).run(interface())
    assert (rest.created, rest.busy, rest.stopped) == (3, False, False)
    assert len(mailbox) == 0


def test_a_stopped_importer_stays_stopped() -> None:
    mailbox = FakeMailbox([build_message()])
    importer = Importer(fetcher_factory=mailbox.fetcher)
    importer.stop()

    assert importer.stopping
    report = importer.run(interface())
    reports = importer.run_all([interface("a"), interface("b")])

    assert (report.stopped, report.ok, report.imported) == (True, True, 0)
    assert mailbox.sessions == []  # not even connected
    assert [r.stopped for r in reports] == [True, True]
    assert importer.store.last_run("support") is None  # a run that never started saves no report


def test_a_stop_from_another_thread_ends_run_all_and_the_runs_not_started() -> None:
    boxes = {name: FakeMailbox([build_message(subject=f"{name} {n}") for n in range(4)]) for name in "abc"}
    started = threading.Event()

    def factory(chosen: MailInterface) -> Any:
        inner = boxes[chosen.name].fetcher(chosen)

        class Fetcher:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
                for item in inner.retrieve_many(messages):
                    started.set()
                    stopper.join()  # the stop arrives while this message is in hand
                    yield item

        return Fetcher()

    importer = Importer(fetcher_factory=factory, max_parallel_runs=1, conversion_workers=0)

    def stop_when_started() -> None:
        started.wait(10)
        importer.stop()

    stopper = threading.Thread(target=stop_when_started)
    stopper.start()
    reports = importer.run_all([interface(name) for name in "abc"])

    assert [r.stopped for r in reports] == [True, True, True]
    assert [r.imported for r in reports] == [1, 0, 0]
    assert [len(boxes[name]) for name in "abc"] == [3, 4, 4]
    assert boxes["b"].sessions == []
    assert boxes["c"].sessions == []


# A host script, as docs/howto/embed.md shows it: SIGTERM asks the importer to stop.
HOST_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from mailtrack import Importer, ImportPolicy, MailInterface, Security, SenderPolicy
    from mailtrack.stores import SQLRecordStore

    db, port, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    interface = MailInterface(
        name="support", server="127.0.0.1", port=port, login="user", password="secret",
        security=Security.NONE, policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )
    with SQLRecordStore(f"sqlite:///{db}") as store:
        importer = Importer(store=store, conversion_workers=2)
        signal.signal(signal.SIGTERM, lambda signum, frame: importer.stop())

        class Announce:  # tells the test that the run is under way, then gets out of the way
            def __init__(self, inner): self.inner = inner
            def __getattr__(self, name): return getattr(self.inner, name)
            def retrieve_many(self, messages):
                for number, item in enumerate(self.inner.retrieve_many(messages)):
                    if number == 50:
                        open(marker, "w").close()
                    yield item

        factory = importer.fetcher_factory
        importer.fetcher_factory = lambda chosen: Announce(factory(chosen))
        report = importer.run(interface)
    print(json.dumps({"stopped": report.stopped, "error": report.error, "imported": report.imported}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM handlers are POSIX")
def test_a_host_script_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    messages = [build_message(subject=f"m{n}", text="text\n" * 200) for n in range(3000)]
    script = tmp_path / "host.py"
    script.write_text(HOST_SCRIPT)
    marker = tmp_path / "under-way"
    with POP3TestServer(messages) as server:
        child = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "db.sqlite"), str(server.port), str(marker)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            while not marker.exists() and child.poll() is None:
                threading.Event().wait(0.01)
            child.send_signal(signal.SIGTERM)
            output, errors = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
        assert child.returncode == 0, errors
        result = json.loads(output.strip().splitlines()[-1])
        assert (result["stopped"], result["error"]) == (True, None)
        assert 0 < result["imported"] < len(messages)
        assert len(server.mailbox) == len(messages) - result["imported"]
        with pytest.raises(ProcessLookupError):
            os.killpg(child.pid, 0)  # no worker process left in its group

        # The next run starts at once (the lease was released) and imports the rest once.
        from mailtrack.stores import SQLRecordStore

        with SQLRecordStore(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
            rest = Importer(store=store).run(
                server.interface(
                    policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE), max_messages_per_run=None
                )
            )
            assert (rest.busy, rest.error) == (False, None)
            assert rest.created == len(messages) - result["imported"]
            assert len(store.list_records(limit=None)) == len(messages)
        assert server.mailbox == []


def test_a_store_left_by_a_stopped_run_is_consistent() -> None:
    store = MemoryRecordStore()
    mailbox = FakeMailbox([build_message(subject=f"Request {n}") for n in range(40)])
    factory = StopsWhileHanding(mailbox, at=17)
    importer = Importer(store=store, fetcher_factory=factory, batch_size=5, conversion_workers=0)
    factory.stop = importer.stop

    report = importer.run(interface())

    assert report.stopped
    assert report.created == 17
    assert len(store.list_records()) == 17
    assert len(mailbox) == 23
