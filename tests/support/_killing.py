"""What the SIGKILL tests share: a worker process started in a session of its own, killed when
a moment is reached, the ledger read beside it, and the clean run by another worker after."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from mailtrack import Importer, MailInterface, RunReport
from mailtrack.stores.sql import SQLRecordStore

__all__ = ["CHILD_LIMIT", "clean_run", "kill_when", "ledger_size"]

#: Seconds a worker may take before the test calls it hung.
CHILD_LIMIT = 60.0


def ledger_size(db: Path) -> int:
    """Messages in the ledger, read beside the child (WAL lets a reader in while it writes)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            return int(conn.execute("SELECT count(*) FROM mailtrack_ledger").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet, or busy for a moment


def kill_when(
    arguments: Sequence[str], log: Path, label: str, reached: Callable[[float], bool], rng: random.Random
) -> int:
    """Run ``python ARGUMENTS``, kill it once ``reached(age)`` (plus up to 3 ms); its exit status.

    The child runs in a process group of its own, and SIGKILL goes to the whole group, as a
    service manager kills a service: conversion worker processes the importer forked die with
    it. Its output goes to *log*, which no orphan can hold open against us.
    """
    started = time.monotonic()
    with log.open("wb") as output:
        child = subprocess.Popen(
            [sys.executable, *arguments], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        while child.poll() is None:
            age = time.monotonic() - started
            if reached(age):
                time.sleep(rng.uniform(0.0, 0.003))
                break
            if age > CHILD_LIMIT:
                pytest.fail(f"the importer process hung; it was to be killed {label}")
            time.sleep(0.0005)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # the group the child leads, and only it
        child.wait(timeout=CHILD_LIMIT)
    if child.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"the importer process failed ({child.returncode}): {log.read_text(errors='replace')}")
    return child.returncode


def clean_run(db: Path, interface: MailInterface) -> RunReport:
    """A run by another worker: it waits for the killed worker's lease to expire (one second)."""
    with SQLRecordStore(f"sqlite:///{db}") as store:
        importer = Importer(store=store, worker_id="clean-run")
        deadline = time.monotonic() + 10
        while True:
            report = importer.run(interface)
            if not report.busy or time.monotonic() > deadline:
                return report
            time.sleep(0.1)
