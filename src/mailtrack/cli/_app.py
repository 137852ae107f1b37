"""What every command shares: the configuration, the store, the console and plain-words errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
from rich.console import Console

from .._serde import load_config, sqlite_path
from .._terminal import terminal_safe
from ..abc import RecordStore
from ..config import Config, MailInterface, MailProtocol
from ..exceptions import ConfigError, InterfaceNotFoundError, MailtrackError
from ._extras import missing_extra

__all__ = [
    "App",
    "CONFIG_FILE",
    "Duration",
    "ErrorHandlingGroup",
    "InterfaceEntry",
    "fail",
    "parse_duration",
    "pass_app",
    "sqlite_file",
]

#: The configuration file looked for in the current directory when ``--config`` is not given.
CONFIG_FILE = "mailtrack.toml"


@attrs.frozen(kw_only=True)
class InterfaceEntry:
    """A mail interface and where it is defined: ``"file"`` (the configuration) or ``"store"``."""

    interface: MailInterface
    source: str


@attrs.define
class App:
    """The state of one ``mailtrack`` invocation, shared by its commands through click's context."""

    config_path: Path | None = None
    store_url: str | None = None
    debug: bool = False
    console: Console = attrs.field(factory=Console)
    _config: Config | None = None

    @property
    def config_file(self) -> Path | None:
        """The configuration file in use: ``--config``, else ``./mailtrack.toml`` if there is one."""
        if self.config_path is not None:
            return self.config_path
        return Path(CONFIG_FILE) if Path(CONFIG_FILE).is_file() else None

    @property
    def config(self) -> Config:
        """The configuration: ``--config``, else ``./mailtrack.toml`` or the defaults."""
        if self._config is None:
            found = self.config_file
            self._config = Config() if found is None else load_config(found)
        return self._config

    def forget_config(self) -> None:
        """Read the configuration file again when it is next needed (a configuration given
        otherwise, or none, stays as it is)."""
        if self.config_path is not None or Path(CONFIG_FILE).is_file():
            self._config = None

    @property
    def effective_store_url(self) -> str:
        """``--store`` (or ``$MAILTRACK_STORE``) when given, else the configuration's ``store``."""
        return self.store_url or self.config.store

    @contextmanager
    def open_store(
        self, *, read_only: bool = False, missing: str = "fail", note: bool = True
    ) -> Iterator[RecordStore]:
        """Open the store the configuration names, and close it afterwards.

        Args:
            read_only: the command only reads: a SQLite file that does not exist is not created.
            missing: for *read_only*, what a missing SQLite file gives: ``"fail"`` (a plain-words
                error naming the path) or ``"empty"`` (an empty store in memory, and a note
                on stderr unless *note* is false or no configuration file was found, which the
                command says instead).

        Raises:
            click.ClickException: the SQLite file's folder does not exist; or, for *read_only*
                with ``missing="fail"``, the file does not exist.
        """
        from ..stores import MemoryRecordStore, store_from_url

        path = self.require_sqlite_folder()
        if read_only and path is not None and not path.exists():
            if missing != "empty":
                raise fail(self.no_database(path))
            if note and self.nothing_configured() is None:  # else the command says that nothing is
                click.secho(f"Note: {self.no_database(path)}", fg="yellow", err=True)
            yield MemoryRecordStore()
            return
        with store_from_url(self.effective_store_url) as store:
            yield store

    def require_sqlite_folder(self) -> Path | None:
        """The SQLite file of the store (``None`` for other stores), once its folder is known to
        exist: SQLite itself would say only "unable to open database file".

        Raises:
            click.ClickException: the folder does not exist (named, with where the URL came from).
        """
        path = sqlite_file(self.effective_store_url)
        if path is not None and not path.parent.is_dir():
            raise fail(f"the folder of the SQLite store does not exist: {path.parent}{self._store_origin()}")
        return path

    def no_database(self, path: Path) -> str:
        """Why there is no database at *path*, and where the path came from."""
        return f"no database at {path}; nothing was imported there yet{self._store_origin()}"

    def _store_origin(self) -> str:
        if self.store_url:
            return " (the store given by --store or MAILTRACK_STORE)"
        found = self.config_file
        if found is None:
            return f" (no configuration file found: no {CONFIG_FILE} here, no --config given)"
        return f" (store in {found})"

    def nothing_configured(self) -> str | None:
        """``"no configuration file found …"`` when there is none, else ``None``."""
        if self.config_file is not None or self.store_url:
            return None
        return (
            f"no configuration file found ({CONFIG_FILE} in this folder, or --config PATH, "
            "or MAILTRACK_CONFIG)"
        )

    def interfaces(self, store: RecordStore) -> list[InterfaceEntry]:
        """The interfaces of the configuration file and those saved in the store, by name.

        A name defined in the file hides an interface of the same name saved in the store.
        """
        entries = {
            interface.name: InterfaceEntry(interface=interface, source="file")
            for interface in self.config.interfaces
        }
        for interface in store.list_interfaces():
            entries.setdefault(interface.name, InterfaceEntry(interface=interface, source="store"))
        return sorted(entries.values(), key=lambda entry: entry.interface.name)

    def select(self, store: RecordStore, names: tuple[str, ...]) -> list[MailInterface]:
        """The interfaces named, or all enabled ones with a mailbox when *names* is empty (those of
        ``protocol = "deliver"`` have none to check or poll).

        Raises:
            InterfaceNotFoundError: a name is neither in the configuration file nor in the store.
        """
        entries = {entry.interface.name: entry.interface for entry in self.interfaces(store)}
        if not names:
            return [
                interface
                for interface in entries.values()
                if interface.enabled and interface.protocol is not MailProtocol.DELIVER
            ]
        unknown = [name for name in names if name not in entries]
        if unknown:
            known = ", ".join(entries) or "none is configured yet"
            raise InterfaceNotFoundError(
                unknown[0], f"no mail interface named {', '.join(map(repr, unknown))} (known: {known})"
            )
        return [entries[name] for name in dict.fromkeys(names)]


pass_app = click.make_pass_decorator(App)


def fail(message: str) -> click.ClickException:
    """A plain-words error for the user: printed as ``Error: …`` with exit status 1.

    The message may quote a server or a mail: terminal controls in it are shown escaped.
    """
    return click.ClickException(terminal_safe(message))


def _debugging(ctx: click.Context) -> bool:
    app = ctx.find_object(App)
    if app is not None:
        return app.debug
    return bool(ctx.find_root().params.get("debug"))


class ErrorHandlingGroup(click.Group):
    """A command group that turns errors into plain words (the traceback only with ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except MailtrackError as exc:
            if _debugging(ctx):
                raise
            raise fail(str(exc)) from exc
        except OSError as exc:
            if _debugging(ctx):
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            raise fail(f"{exc.strerror or exc}{where}") from exc
        except Exception as exc:
            if _debugging(ctx):
                raise
            # An extra's module, imported on first use inside a command, is not installed.
            install = missing_extra(exc) if isinstance(exc, ModuleNotFoundError) else None
            if install is not None:
                raise fail(install) from exc
            raise fail(
                f"unexpected {type(exc).__name__}: {exc}. This is a bug in mailtrack; "
                "run the command again with --debug to see where it happened, and please report it."
            ) from exc


if TYPE_CHECKING:
    _ParamType = click.ParamType[float]
else:  # click < 8.3 has no generic ParamType
    _ParamType = click.ParamType

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``"90"``, ``"30s"``, ``"5m"``, ``"1h30m"`` or ``"1d"``.

    Raises:
        ConfigError: the text is not a positive duration.
    """
    compact = text.strip().replace(" ", "")
    position, total = 0, 0.0
    while position < len(compact):
        match = _DURATION_PART.match(compact, position)
        if match is None:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2).lower()]
        position = match.end()
    if not compact or position != len(compact) or total <= 0:
        raise ConfigError(f"{text!r} is not a duration; write it like 90s, 5m, 1h or 1h30m")
    return total


class Duration(_ParamType):
    """A click parameter for durations such as ``5m`` (seconds as a float)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store URL (``sqlite:///x.db``), or ``None`` for other stores."""
    path = sqlite_path(url)
    return None if path is None else Path(path)
