"""A program loads only what it uses: the public names are imported on first use (PEP 562), and a
POP3 run into SQLite never loads the IMAP fetcher, the OAuth grants, the archive readers, the
configuration loader or the other stores. Each name is still found where it was, and ``dir()``
lists it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailtrack.testing import POP3TestServer, build_message

LIMIT = 120

#: Modules a POP3 run into SQLite with a password has no use for.
NOT_FOR_A_POP3_RUN = [
    "cattrs",
    "http.client",
    "mailtrack._html",
    "mailtrack._importing.archive",
    "mailtrack._importing.delivery",
    "mailtrack._importing.explaining",
    "mailtrack._importing.watching",
    "mailtrack._serde",
    "mailtrack.auth._grants",
    "mailtrack.auth._http",
    "mailtrack.auth._presets",
    "mailtrack.auth._signin",
    "mailtrack.auth._sources",
    "mailtrack.auth.sasl",
    "mailtrack.config._file",
    "mailtrack.config._inbound",
    "mailtrack.fetching.imap",
    "mailtrack.intake",
    "mailtrack.stores.memory",
    "sqlalchemy.dialects.postgresql",
    "tomllib",
]

#: A POP3 run into a SQLite file, as a program of its own writes it; prints what it imported and
#: which of NOT_FOR_A_POP3_RUN it loaded.
RUN = """
import json, sys
from mailtrack import Importer, MailInterface, Security
from mailtrack.stores import SQLRecordStore

port, database, unwanted = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
interface = MailInterface(
    name="support", server="127.0.0.1", port=port, login="support", password="secret",
    security=Security.NONE,
)
with SQLRecordStore(f"sqlite:///{database}") as store:
    report = Importer(store=store, conversion_workers=0).run(interface)
loaded = sorted(name for name in unwanted if name in sys.modules)
print(json.dumps({"created": report.created, "error": report.error, "loaded": loaded}))
"""


def test_a_pop3_run_into_sqlite_loads_only_what_it_uses(tmp_path: Path) -> None:
    messages = [("1", build_message(subject="Printer on fire")), ("2", build_message(subject="Out of paper"))]
    with POP3TestServer(messages, user="support", password="secret") as server:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                RUN,
                str(server.port),
                str(tmp_path / "m.db"),
                json.dumps(NOT_FOR_A_POP3_RUN),
            ],
            capture_output=True,
            text=True,
            timeout=LIMIT,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"created": 2, "error": None, "loaded": []}


@pytest.mark.parametrize("module", ["mailtrack", "mailtrack.auth", "mailtrack.config", "mailtrack.fetching"])
def test_every_lazily_exported_name_is_listed_and_found(module: str) -> None:
    imported = importlib.import_module(module)
    for name in imported.__all__:
        value = getattr(imported, name)
        # Once imported, the name is the module's own: later uses skip __getattr__.
        assert vars(imported)[name] is value


@pytest.mark.parametrize("module", ["mailtrack", "mailtrack.auth", "mailtrack.config", "mailtrack.fetching"])
def test_a_name_that_is_not_exported_is_an_attribute_error(module: str) -> None:
    imported = importlib.import_module(module)
    with pytest.raises(AttributeError, match=f"^module '{module}' has no attribute 'Nonexistent'$"):
        _ = imported.Nonexistent


def test_sql_record_store_is_found_but_not_listed() -> None:
    # It needs the sql extra: dir() does not offer it (as before), yet it is there.
    import mailtrack
    import mailtrack.stores
    from mailtrack.stores.sql import SQLRecordStore

    assert "SQLRecordStore" not in dir(mailtrack)
    assert "SQLRecordStore" not in dir(mailtrack.stores)
    assert mailtrack.SQLRecordStore is SQLRecordStore
    assert mailtrack.stores.SQLRecordStore is SQLRecordStore


def test_the_memory_store_is_listed_before_it_is_imported() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mailtrack.stores as s; "
            "print('MemoryRecordStore' in dir(s), 'mailtrack.stores.memory' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=True,
    )
    assert done.stdout.split() == ["True", "False"]
