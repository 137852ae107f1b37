"""The ``mailtrack`` command (``pip install 'mailtrack[cli]'``).

``mailtrack demo`` imports a bundled set of sample messages from a local test server; ``check``,
``run``, ``explain``, ``interfaces``, ``records`` and ``quarantine`` work on the mail interfaces and the store
named in ``mailtrack.toml`` (or ``--config PATH``); ``deliver`` imports one message a mail server
pipes in, ``import`` the messages of archives; ``db`` upgrades the SQL store's schema;
``oauth login`` signs in to a mail provider with OAuth 2.0; ``web`` serves the pages for people. Every
listing takes ``--json``; errors are printed in plain words, with the traceback only under
``--debug``.

``mailtrack deliver`` runs once per message, so :func:`main` hands it to a fast path
(:mod:`._pipe`) before the click application (:mod:`._main`) and rich are imported.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from .._terminal import TerminalSafeFormatter
from ._extras import missing_extra

__all__ = ["cli", "log_warnings_safely", "main"]

if TYPE_CHECKING:
    from ._main import cli as cli


def __getattr__(name: str) -> Any:
    # The click group is imported on first use: ``mailtrack deliver`` never loads it.
    if name == "cli":
        from ._main import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point of the ``mailtrack`` console script."""
    log_warnings_safely()
    from ._pipe import fast_main

    status = fast_main(sys.argv[1:])
    if status is not None:
        sys.exit(status)
    try:
        from ._main import cli
    except ModuleNotFoundError as exc:
        install = missing_extra(exc)
        if install is None:
            raise
        sys.stderr.write(f"mailtrack: {install}\n")
        sys.exit(1)
    cli(prog_name="mailtrack")


def log_warnings_safely() -> None:
    """Print warnings and errors to stderr as Python does without a logging configuration (its
    last-resort handler), but with the terminal controls of mail and servers escaped."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
        handler.setFormatter(TerminalSafeFormatter())
        root.addHandler(handler)
