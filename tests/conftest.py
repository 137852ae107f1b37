"""Shared fixtures for the mailtrack test suite.

The helper modules and the scripts that tests run in child processes are in ``tests/support``,
which is put on ``sys.path`` here (child processes started by ``spawn`` inherit it; the scripts
find their neighbours because Python puts a script's folder first on their path).

``store`` is a fresh record store for each test, of each kind the test module's ``store_kind``
fixture names: by default the in-memory store and the SQL store on in-memory SQLite. A module
narrows or widens that by overriding ``store_kind`` (``"memory"``, ``"sqlite"``,
``"sqlite-file"``), and gives the stores a clock of its own by overriding ``store_clock``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from mailtrack import MemoryRecordStore, RecordStore

SUPPORT = Path(__file__).parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))


@pytest.fixture(scope="session")
def corpora_dir() -> Path:
    """The third-party e-mail corpora (``$MAILTRACK_CORPORA``); skips when unset or absent."""
    location = os.environ.get("MAILTRACK_CORPORA")
    if not location:
        pytest.skip("MAILTRACK_CORPORA is not set (it names the folder of third-party e-mail corpora)")
    path = Path(location)
    if not path.is_dir():
        pytest.skip(f"MAILTRACK_CORPORA={location} is not a folder")
    return path


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which stores ``store`` gives: override in a module with other ``params``."""
    kind: str = request.param
    return kind


@pytest.fixture
def store_clock() -> Callable[[], datetime] | None:
    """The clock of the stores ``store`` gives (``None``: the real time)."""
    return None


@pytest.fixture
def store(
    store_kind: str, store_clock: Callable[[], datetime] | None, tmp_path: Path
) -> Iterator[RecordStore]:
    """A fresh, empty store of the kind ``store_kind`` names, closed afterwards."""
    if store_kind == "memory":
        yield MemoryRecordStore() if store_clock is None else MemoryRecordStore(clock=store_clock)
        return
    pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")
    from mailtrack.stores.sql import SQLRecordStore

    url = {"sqlite": "sqlite://", "sqlite-file": f"sqlite:///{tmp_path / 'mailtrack.db'}"}[store_kind]
    with SQLRecordStore(url) if store_clock is None else SQLRecordStore(url, clock=store_clock) as sql_store:
        yield sql_store
