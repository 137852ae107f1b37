"""Run every Python block of README.md and docs/howto/*.md, as written (``nox -s examples``).

Each block runs in a scratch folder of its own that holds what the docs tell the reader to
have: a ``mailtrack.toml`` whose SQLite store sits beside it and whose interface is a POP3 test
server holding two messages (its password in ``$MAILTRACK_SUPPORT_PASSWORD``). A block runs as
a module of a package ``tracker`` whose ``tracker.mail`` holds a ``store`` on that database, so
that a view's ``from .mail import store`` works as in a real project. A fragment that continues
the text before it (``changed = store.list_records(...)``) finds ``store`` and ``last_seen``,
and one from an Alembic ``env.py`` finds ``context``, ``connection`` and ``app_metadata``: its
``context.configure(...)`` compares the application's (empty) metadata with the database, which
must then propose no change to mailtrack's tables.
The page's own interfaces with ``protocol = "deliver"`` (from its TOML blocks) are added to that
``mailtrack.toml``, and a block that picks an interface by name (``interface.name == "X"``) must
name one the page's TOML defines: the code and the configuration it shows cannot disagree.
Django and Flask must be installed (the examples session installs them).

Exit status 1, naming the page and line, when a block raises.

    python scripts/run_doc_code.py [PAGE.md]...
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import traceback
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mailtrack.stores import SQLRecordStore
from mailtrack.testing import POP3TestServer, build_message

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_VARIABLE = "MAILTRACK_SUPPORT_PASSWORD"  # noqa: S105 - the name of a variable
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
_TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.MULTILINE | re.DOTALL)
_PICKED_INTERFACE = re.compile(r"""\.name == ["']([^"']+)["']""")


def blocks(page: Path) -> Iterator[tuple[int, str]]:
    """The Python blocks of *page*, with the line each starts on."""
    text = page.read_text(encoding="utf-8")
    for match in _BLOCK.finditer(text):
        yield text.count("\n", 0, match.start()) + 2, match.group(1)


def page_interfaces(page: Path) -> list[dict[str, Any]]:
    """The ``[[interfaces]]`` of the TOML blocks of *page*."""
    found: list[dict[str, Any]] = []
    for match in _TOML_BLOCK.finditer(page.read_text(encoding="utf-8")):
        try:
            entries = tomllib.loads(match.group(1)).get("interfaces", [])
        except tomllib.TOMLDecodeError:
            continue
        found.extend(entry for entry in entries if isinstance(entry, dict) and "name" in entry)
    return found


def unknown_interfaces(code: str, interfaces: list[dict[str, Any]]) -> str | None:
    """Why *code* picks an interface by a name the page's TOML does not define, or ``None``."""
    defined = [entry["name"] for entry in interfaces]
    wrong = [name for name in _PICKED_INTERFACE.findall(code) if defined and name not in defined]
    if not wrong:
        return None
    return f"the code picks interface {wrong[0]!r}, but the page's TOML defines only {', '.join(defined)}\n"


@contextmanager
def scratch_project(extra_interfaces: list[dict[str, Any]] = []) -> Iterator[Path]:  # noqa: B006 - read only
    """A folder with mailtrack.toml, its store and a running test server; the working directory."""
    previous = Path.cwd()
    mail = [
        build_message(subject="Printer jammed", message_id="<doc-1@example.com>"),
        build_message(subject="Re: [#1] Printer jammed", message_id="<doc-2@example.com>"),
    ]
    with (
        tempfile.TemporaryDirectory() as folder,
        POP3TestServer(mail, user="support", password="doc-password") as server,  # noqa: S106 - a test server
    ):
        path = Path(folder)
        (path / "mailtrack.toml").write_text(
            'store = "sqlite:///mailtrack.db"\n\n[[interfaces]]\nname = "support"\n'
            f'server = "{server.host}"\nport = {server.port}\nlogin = "support"\n'
            f'password_env = "{PASSWORD_VARIABLE}"\nsecurity = "none"  # loopback test server only\n'
            + "".join(
                f'\n[[interfaces]]\nname = "{entry["name"]}"\nprotocol = "deliver"\n'
                for entry in extra_interfaces
                if entry.get("protocol") == "deliver" and entry["name"] != "support"
            ),
            encoding="utf-8",
        )
        os.environ[PASSWORD_VARIABLE] = "doc-password"
        os.chdir(path)
        try:
            yield path
        finally:
            os.chdir(previous)


class AlembicEnv:
    """The ``context`` of an Alembic ``env.py``, for a block that configures it."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def configure(self, **options: Any) -> None:
        """Configure as Alembic would, and check that autogenerate leaves mailtrack's tables be."""
        connection = options.pop("connection")
        target = options.pop("target_metadata")
        migration = MigrationContext.configure(connection, opts=options)
        touched = [
            str(change) for change in compare_metadata(migration, target) if "mailtrack_" in str(change)
        ]
        if touched:
            raise AssertionError(f"autogenerate would change mailtrack's tables: {touched[:3]}")


def run_block(page: Path, line: int, code: str, number: int) -> str | None:
    """Run one block; the traceback when it raised, else ``None``."""
    interfaces = page_interfaces(page)
    mismatch = unknown_interfaces(code, interfaces)
    if mismatch is not None:
        return mismatch
    handler = signal.getsignal(signal.SIGTERM)
    with (
        scratch_project(interfaces) as folder,
        SQLRecordStore(f"sqlite:///{folder / 'mailtrack.db'}") as store,
        store.engine.connect() as connection,
    ):
        package = types.ModuleType("tracker")
        package.__path__ = []
        mail = types.ModuleType("tracker.mail")
        mail.store = store  # type: ignore[attr-defined]
        sys.modules.update({"tracker": package, "tracker.mail": mail})
        namespace = {
            "__name__": f"tracker.block{number}",
            "__package__": "tracker",
            "store": store,
            "last_seen": datetime(2026, 1, 1, tzinfo=timezone.utc),
            "context": AlembicEnv(connection),
            "connection": connection,
            "app_metadata": sa.MetaData(),
        }
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)  # noqa: S102 - the docs, on purpose
        except BaseException:
            return traceback.format_exc()
        finally:
            signal.signal(signal.SIGTERM, handler)
            for name in ("tracker", "tracker.mail"):
                sys.modules.pop(name, None)
    return None


def main(arguments: list[str]) -> int:
    pages = [Path(argument).resolve() for argument in arguments] or [
        ROOT / "README.md",
        *sorted((ROOT / "docs" / "howto").glob("*.md")),
    ]
    failures = 0
    number = 0
    for page in pages:
        for line, code in blocks(page):
            number += 1
            where = f"{page.relative_to(ROOT)}:{line}"
            error = run_block(page, line, code, number)
            print(f"{'FAILED' if error else 'ok    '} {where}", flush=True)
            if error:
                failures += 1
                print(error, file=sys.stderr)
    print(f"{number - failures} of {number} blocks ran as written")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
