"""A dead holder's lease does not block: taken over at once on the same host, never from the living."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from mailtrack import Importer, MailInterface, MemoryRecordStore
from mailtrack._importing.holders import default_worker_id, describe_holder, holder_is_gone, process_identity
from mailtrack._importing.lease import ANOTHER_WORKER
from mailtrack.testing import FakeMailbox, build_message

linux_only = pytest.mark.skipif(
    process_identity() is None, reason="process identities are read from /proc (Linux)"
)


def interface() -> MailInterface:
    return MailInterface(name="support", server="pop.example.com", login="support")


def owner_for(pid: int, *, identity: str | None = None, host: str | None = None) -> str:
    """A default-style worker ID for *pid*, with its real identity unless one is given."""
    identity = identity if identity is not None else process_identity(pid)
    assert identity is not None
    return f"{host or socket.gethostname()}:{pid}:0badc0de:{identity}"


def finished_process() -> tuple[int, str]:
    """The pid and identity of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    identity = process_identity(child.pid)
    assert identity is not None
    child.kill()
    child.wait()
    return child.pid, identity


def run_with_holder(owner: str) -> tuple[Importer, FakeMailbox, MemoryRecordStore]:
    store = MemoryRecordStore()
    assert store.acquire_lease("support", owner, 300)
    mailbox = FakeMailbox([build_message(subject="Printer on fire")])
    return Importer(store=store, fetcher_factory=mailbox.fetcher), mailbox, store


@linux_only
def test_the_default_worker_id_names_host_process_and_identity() -> None:
    worker_id = default_worker_id()
    host, pid, _random, identity = worker_id.split(":")
    assert (host, int(pid), identity) == (socket.gethostname(), os.getpid(), process_identity())
    assert describe_holder(worker_id) == f"{host}:{pid}"
    assert not holder_is_gone(worker_id)
    assert default_worker_id() != worker_id  # two importers of one process are two workers


@linux_only
def test_a_dead_holders_lease_is_taken_over_at_once_and_said_so() -> None:
    pid, identity = finished_process()
    dead = owner_for(pid, identity=identity)
    importer, mailbox, store = run_with_holder(dead)

    report = importer.run(interface())

    assert (report.busy, report.error, report.created) == (False, None, 1)
    assert f"took over the lease of {socket.gethostname()}:{pid}, which is no longer running" in report.notes
    assert len(mailbox) == 0
    assert store.lease_holder("support") is None  # released after the run


@linux_only
def test_a_live_holder_on_this_host_is_never_taken_over() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = owner_for(child.pid)
        importer, mailbox, store = run_with_holder(alive)

        report = importer.run(interface())

        assert report.busy
        assert report.error is not None
        assert report.error.startswith(f"{ANOTHER_WORKER} ({socket.gethostname()}:{child.pid}, lease until ")
        assert report.error.endswith(" UTC)")
        assert mailbox.sessions == []
        assert len(mailbox) == 1
        holder = store.lease_holder("support")
        assert holder is not None
        assert holder.owner == alive
    finally:
        child.kill()
        child.wait()
    # Once it is gone, the lease is taken over by the next run.
    assert importer.run(interface()).created == 1


@linux_only
def test_a_live_holder_in_this_very_process_is_never_taken_over() -> None:
    importer, mailbox, _store = run_with_holder(default_worker_id())
    assert importer.run(interface()).busy
    assert len(mailbox) == 1


@linux_only
def test_a_pid_reused_by_an_unrelated_process_is_not_taken_for_the_holder() -> None:
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = process_identity(unrelated.pid)
        assert identity is not None
        boot_and_namespace, _, started = identity.rpartition(".")
        # The holder had this pid once, but started earlier: the pid now belongs to another process.
        holder = owner_for(unrelated.pid, identity=f"{boot_and_namespace}.{int(started) - 1}")
        assert holder_is_gone(holder)
        importer, _mailbox, _store = run_with_holder(holder)
        report = importer.run(interface())
        assert (report.busy, report.created) == (False, 1)
        assert any("took over the lease" in note for note in report.notes)
    finally:
        unrelated.kill()
        unrelated.wait()


@linux_only
def test_a_zombie_holder_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped: a zombie
    try:
        if identity is None:
            pytest.skip("the child ended before its identity could be read")
        assert holder_is_gone(owner_for(child.pid, identity=identity))
    finally:
        child.wait()


@pytest.mark.parametrize(
    "owner",
    [
        "worker-elsewhere",  # an ID the host chose: nothing can be known
        "another-host:1:0badc0de:abc.123.456",  # another host
        f"{socket.gethostname()}:999999999:0badc0de",  # no identity (an old or non-Linux ID)
    ],
)
def test_holders_that_cannot_be_checked_here_wait_for_their_lease_to_expire(owner: str) -> None:
    assert not holder_is_gone(owner)
    importer, mailbox, _store = run_with_holder(owner)
    report = importer.run(interface())
    assert report.busy
    assert len(mailbox) == 1


@linux_only
def test_a_holder_in_another_pid_namespace_is_not_judged_from_here() -> None:
    pid, identity = finished_process()
    boot, _namespace, started = identity.split(".")
    assert not holder_is_gone(owner_for(pid, identity=f"{boot}.1.{started}"))
    assert not holder_is_gone(owner_for(pid, identity=f"000000000000.{_namespace}.{started}"))


@linux_only
def test_two_workers_taking_over_one_dead_holder_one_wins() -> None:
    pid, identity = finished_process()
    dead = owner_for(pid, identity=identity)
    store = MemoryRecordStore()
    assert store.acquire_lease("support", dead, 300)
    assert store.take_over_lease("support", "first", 300, dead)
    assert not store.take_over_lease("support", "second", 300, dead)
