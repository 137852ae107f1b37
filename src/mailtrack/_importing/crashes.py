"""The crash-loop guard: a message that kills the importer every time ends in the quarantine.

A message that makes the process die (out of memory, a crash in C code, the kernel's OOM killer)
raises nothing the importer could catch: it would be retrieved and converted again on every run,
and block the mailbox for ever. So the importer counts, in the store, an attempt for each
message before converting it, and clears the counts when the run ends. A message found with
attempts that never finished is a *suspect*: it may have been the crash, or only have been in
flight beside it. Suspects are converted one at a time, after everything before them was
committed, so that a crash is blamed on the one message being converted; a suspect with
``max_crashes`` attempts is quarantined from its raw bytes without being parsed again.

Attempts of the other messages are counted ahead, for a window of them in one statement, so
that the guard costs one write per :data:`MARK_AHEAD` messages; the batch-mates of a crash thus
become suspects, and are converted alone (and imported) on the next run, never quarantined.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from ..abc import RecordStore
from ..exceptions import StoreError
from .outcome import RunStopped

__all__ = ["MARK_AHEAD", "CrashGuard", "crash_reason"]

logger = logging.getLogger("mailtrack")

#: Messages whose attempts are counted in one statement, ahead of their conversion.
MARK_AHEAD = 64


def crash_reason(attempts: int) -> str:
    """The quarantine reason of a message that crashed the importer *attempts* times."""
    return (
        f"crashed the importer {attempts} times (its conversion began and never finished); "
        "quarantined from its raw bytes without parsing it again"
    )


@attrs.define
class CrashGuard:
    """The attempts of one run's messages (see the module's docstring).

    Args:
        store: where the attempts are counted (a store without the capability keeps none:
            then there are no suspects, and no guard).
        interface: the mailbox's name.
        limit: ``max_crashes``.
    """

    store: RecordStore
    interface: str
    limit: int
    #: Attempts that never finished, by key, as found before this run converted anything.
    _found: dict[str, int] = attrs.Factory(dict)
    #: The keys to convert in this run, in order, and where each stands.
    _order: list[str] = attrs.Factory(list)
    _position: dict[str, int] = attrs.Factory(dict)
    #: Keys counted by this run, and suspects it quarantined (cleared at its end).
    _counted: set[str] = attrs.Factory(set)

    def look_up(self, keys: Sequence[str]) -> None:
        """Learn the attempts of *keys*, the messages this run is to convert, in order.

        Raises:
            RunStopped: the store failed.
        """
        try:
            self._found = self.store.conversion_attempts(self.interface, keys) if keys else {}
        except StoreError as exc:
            raise RunStopped(f"the record store failed, nothing was imported: {exc}") from exc
        self._order = [key for key in keys if key not in self._found]
        self._position = {key: index for index, key in enumerate(self._order)}
        if self._found:
            logger.warning(
                "interface %r: %d message(s) were being converted when the importer died before; "
                "they are converted one at a time now",
                self.interface,
                len(self._found),
            )

    def learn(self, key: str) -> None:
        """Learn the attempts of one message known by its content only (a server without UIDL).

        Raises:
            RunStopped: the store failed.
        """
        try:
            self._found.update(self.store.conversion_attempts(self.interface, [key]))
        except StoreError as exc:
            raise RunStopped(f"the record store failed: {exc}") from exc

    def finished(self, keys: Sequence[str]) -> None:
        """The messages under *keys* were committed or quarantined: forget their attempts (one
        statement; a failure only leaves rows that no later run looks at)."""
        done = [key for key in keys if key in self._counted or key in self._found]
        if not done:
            return
        self._counted.difference_update(done)
        for key in done:
            self._found.pop(key, None)
        try:
            self.store.clear_conversion_attempts(self.interface, done)
        except StoreError:
            logger.warning(
                "could not clear conversion attempts of interface %r", self.interface, exc_info=True
            )

    def attempts(self, key: str) -> int:
        """Attempts of *key* that never finished, before this run."""
        return self._found.get(key, 0)

    def crashed_too_often(self, key: str) -> bool:
        return self.attempts(key) >= self.limit

    def before_converting(self, key: str) -> None:
        """Count an attempt for *key* (and, for a message that is no suspect, for the next
        :data:`MARK_AHEAD` such messages with it), before its conversion starts.

        Raises:
            RunStopped: the store failed.
        """
        if key in self._counted:
            return
        start = self._position.get(key)
        keys = (
            [key]
            if start is None
            else [k for k in self._order[start : start + MARK_AHEAD] if k not in self._counted]
        )
        try:
            self.store.add_conversion_attempts(self.interface, keys)
        except StoreError as exc:
            raise RunStopped(f"the record store failed: {exc}") from exc
        self._counted.update(keys)

    def close(self) -> None:
        """The run ended with the process alive: every attempt it counted is over (those
        counted ahead for messages it did not reach too)."""
        done = sorted(self._counted)
        self._counted.clear()
        if not done:
            return
        try:
            self.store.clear_conversion_attempts(self.interface, done)
        except StoreError:
            logger.warning(
                "could not clear conversion attempts of interface %r", self.interface, exc_info=True
            )
