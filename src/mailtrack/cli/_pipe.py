"""``mailtrack deliver``: one message from a mail server's pipe, answered with a sysexits code.

A mail server (Postfix's ``pipe``, an Exim ``pipe`` transport, an alias ``|mailtrack deliver``)
starts this once per message, so it starts quickly: this module imports neither click nor rich
(:func:`fast_main` parses the command line with argparse before the full command-line
application would load), and the store is opened without creating anything.

The exit status tells the mail server what to do (``sysexits.h``):

* 0 ``EX_OK``: imported, or imported before (a retry), skipped by policy, or quarantined with
  its raw bytes (malformed mail is never refused: the sender would get a bounce for our problem).
* 64 ``EX_USAGE``: no interface of that name, or a wrong command line; the mail server bounces.
* 69 ``EX_UNAVAILABLE``: the store cannot hold this message at all, not even in the quarantine
  (larger than the database allows); trying again would not help; the mail server bounces.
* 75 ``EX_TEMPFAIL``: the interface is disabled (``enabled = false``), or the store is
  unreachable, locked, missing or needs ``mailtrack db upgrade``, or something unexpected
  failed; nothing was imported, the mail server keeps the message and tries again later.
* 78 ``EX_CONFIG``: the configuration file is wrong, or an extra it needs is not installed
  (``pip install 'mailtrack[sql]'``); the mail server keeps the message (Postfix
  defers on it) until it is fixed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, NoReturn, TextIO

from .._serde import load_config, sqlite_path
from .._terminal import terminal_safe
from ..abc import RecordStore
from ..config import Config
from ..exceptions import (
    ConfigError,
    InterfaceDisabledError,
    InterfaceNotFoundError,
    MessageRefusedError,
    StoreError,
)
from ._extras import missing_extra

__all__ = [
    "EX_CONFIG",
    "EX_OK",
    "EX_TEMPFAIL",
    "EX_UNAVAILABLE",
    "EX_USAGE",
    "deliver_from",
    "fast_main",
]

EX_OK = 0
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
EX_CONFIG = 78

#: The configuration file looked for in the current directory (as the full CLI does).
_CONFIG_FILE = "mailtrack.toml"


def deliver_from(
    stdin: BinaryIO,
    *,
    interface: str,
    recipient: str | None = None,
    config_path: Path | None = None,
    store_url: str | None = None,
    debug: bool = False,
    stderr: TextIO | None = None,
) -> int:
    """Import the message on *stdin* into the interface named *interface*; the exit status.

    Errors are one line on *stderr* (``mailtrack deliver: …``, terminal-safe: the mail server
    may quote it in a bounce); with *debug*, the traceback follows.
    """
    err = stderr if stderr is not None else sys.stderr
    try:
        raw = stdin.read()
        return _deliver(raw, interface, recipient, config_path, store_url)
    except InterfaceNotFoundError as exc:
        return _fail(err, EX_USAGE, str(exc), debug)
    except InterfaceDisabledError as exc:
        return _fail(
            err,
            EX_TEMPFAIL,
            f"interface {exc.name!r} is disabled: nothing was imported; the mail server keeps the "
            "message and tries again (enable the interface to take it)",
            debug,
        )
    except MessageRefusedError as exc:
        return _fail(err, EX_UNAVAILABLE, f"the store cannot hold this message: {exc}", debug)
    except StoreError as exc:
        return _fail(err, EX_TEMPFAIL, f"{exc} (the mail server keeps the message and tries again)", debug)
    except ConfigError as exc:
        return _fail(err, EX_CONFIG, f"configuration: {exc} (the mail server tries again)", debug)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(err, EX_TEMPFAIL, f"{exc.strerror or exc}{where}; the mail server tries again", debug)
    except ModuleNotFoundError as exc:
        install = missing_extra(exc)
        if install is None:
            return _unexpected(err, exc, debug)
        # An installation to fix, as a wrong configuration is: the mail server keeps the message.
        return _fail(err, EX_CONFIG, f"{install} (the mail server keeps the message and tries again)", debug)
    except Exception as exc:
        return _unexpected(err, exc, debug)


def _unexpected(err: TextIO, exc: Exception, debug: bool) -> int:
    return _fail(
        err,
        EX_TEMPFAIL,
        f"unexpected {type(exc).__name__}: {exc}; the mail server tries again. This is a bug in "
        "mailtrack: run it with --debug to see where it happened, and please report it.",
        debug,
    )


def _deliver(
    raw: bytes, name: str, recipient: str | None, config_path: Path | None, store_url: str | None
) -> int:
    from ..converting import MailParserConverter
    from ..importer import Importer

    found = config_path if config_path is not None else _default_config()
    config = Config() if found is None else load_config(found)
    store = _open_store(store_url or config.store)
    try:
        chosen = next((entry for entry in config.interfaces if entry.name == name), None)
        if chosen is None:
            try:
                chosen = store.get_interface(name)
            except InterfaceNotFoundError:
                known = sorted({entry.name for entry in config.interfaces} | _saved_names(store))
                listed = ", ".join(known) or "none is configured yet"
                raise InterfaceNotFoundError(
                    name, f"no mail interface named {name!r} (known: {listed})"
                ) from None
        importer = Importer(store=store, converter=MailParserConverter(limits=config.limits))
        importer.deliver(chosen, raw, recipient=recipient)
    finally:
        store.close()
    return EX_OK


def _saved_names(store: RecordStore) -> set[str]:
    return {interface.name for interface in store.list_interfaces()}


def _default_config() -> Path | None:
    from_env = os.environ.get("MAILTRACK_CONFIG")
    if from_env:
        return Path(from_env)
    return Path(_CONFIG_FILE) if Path(_CONFIG_FILE).is_file() else None


def _open_store(url: str) -> RecordStore:
    """The store, opened without creating anything: a missing database is the store gone.

    Raises:
        StoreError: the SQLite file does not exist, the database is unreachable, or its tables
            are missing or at another revision.
    """
    from ..stores import store_from_url

    path = sqlite_path(url)
    if path is not None:
        if not Path(path).is_file():
            raise StoreError(f"no database at {path} (create it with `mailtrack db upgrade`)")
        from ..stores.sql import SQLRecordStore

        return SQLRecordStore(url, create_schema=False)
    if url.lower().startswith("memory:"):
        # Nothing a later delivery could find: every message would be imported and forgotten.
        raise StoreError("store: memory:// keeps nothing between deliveries; name a database")
    scheme = url.partition("://")[0].lower().partition("+")[0]
    if scheme in ("postgresql", "postgres", "mysql", "mariadb"):
        from ..stores.sql import SQLRecordStore

        return SQLRecordStore(url, create_schema=False)
    return store_from_url(url)


def _fail(err: TextIO, code: int, message: str, debug: bool) -> int:
    err.write(f"mailtrack deliver: {terminal_safe(message)}\n")
    if debug:
        import traceback

        err.write(terminal_safe(traceback.format_exc()))
    err.flush()
    return code


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Raises instead of printing its usage and exiting with 2: deliver's usage error is 64."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def fast_main(argv: Sequence[str]) -> int | None:
    """Run ``mailtrack [--config PATH] [--store URL] [--debug] deliver --interface NAME
    [--recipient ADDRESS]`` without loading the full command-line application.

    Returns:
        the exit status, or ``None`` when *argv* is another command (or asks for help): the
        full application handles it then.
    """
    config_path: str | None = None
    store_url: str | None = None
    debug = False
    position = 0
    args = list(argv)
    while position < len(args):
        arg = args[position]
        name, has_value, value = arg.partition("=")
        if name in ("--config", "--store"):
            if not has_value:
                if position + 1 >= len(args):
                    return None
                position += 1
                value = args[position]
            if name == "--config":
                config_path = value
            else:
                store_url = value
        elif arg == "--debug":
            debug = True
        else:
            break
        position += 1
    if position >= len(args) or args[position] != "deliver":
        return None
    rest = args[position + 1 :]
    if any(arg in ("-h", "--help") for arg in rest):
        return None
    parser = _Parser(prog="mailtrack deliver", add_help=False, allow_abbrev=False, exit_on_error=False)
    parser.add_argument("--interface", required=True)
    parser.add_argument("--recipient")
    try:
        options = parser.parse_args(rest)
    except (argparse.ArgumentError, _UsageError) as exc:
        reason = str(exc)
        sys.stderr.write(
            f"mailtrack deliver: {terminal_safe(reason)}; usage: mailtrack deliver --interface NAME "
            "[--recipient ADDRESS]\n"
        )
        return EX_USAGE
    if config_path is None and os.environ.get("MAILTRACK_CONFIG"):
        config_path = os.environ["MAILTRACK_CONFIG"]
    return deliver_from(
        sys.stdin.buffer,
        interface=options.interface,
        recipient=options.recipient or None,
        config_path=Path(config_path) if config_path else None,
        store_url=store_url or os.environ.get("MAILTRACK_STORE") or None,
        debug=debug,
    )
