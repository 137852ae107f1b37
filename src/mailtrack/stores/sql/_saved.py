"""The SQL store's saved mail interfaces (``mailtrack_interfaces``), passwords included."""

from __future__ import annotations

from typing import Any

from ...config import MailInterface
from ...exceptions import ConfigError, InterfaceNotFoundError, StoreError
from . import _reads as reads
from . import _schema as tables
from ._part import StorePart
from ._writes import save_config

__all__ = ["SavedInterfaces"]


class SavedInterfaces(StorePart):
    """The store's part that keeps mail interfaces."""

    def save_interface(self, interface: MailInterface) -> None:
        from ..._serde import unstructure  # the configuration's converter: only where it is used

        config = unstructure(interface, include_secrets=True)
        try:
            self._db.run(
                f"save mail interface {interface.name!r}",
                lambda conn: save_config(conn, interface.name, config),
            )
        except StoreError as exc:
            # The statement's parameters held the password: keep only the driver's words.
            cause = exc.__cause__
            raise StoreError(str(exc)) from getattr(cause, "orig", None)

    def _interface(self, name: str, config: Any) -> MailInterface:
        from ..._serde import structure

        try:
            return structure(config, MailInterface)
        except ConfigError as exc:
            raise StoreError(f"the saved mail interface {name!r} cannot be read: {exc}") from exc

    def get_interface(self, name: str) -> MailInterface:
        with self._db.reading(f"read mail interface {name!r}") as conn:
            config = reads.saved_config(conn, name)
        if config is None:
            raise InterfaceNotFoundError(name)
        return self._interface(name, config)

    def list_interfaces(self) -> list[MailInterface]:
        with self._db.reading("list mail interfaces") as conn:
            rows = reads.interface_rows(conn)
        return [self._interface(row.name, row.config) for row in rows]

    def delete_interface(self, name: str) -> None:
        table = tables.interfaces
        if not self._db.delete(f"delete mail interface {name!r}", table, table.c.name == name):
            raise InterfaceNotFoundError(name)
