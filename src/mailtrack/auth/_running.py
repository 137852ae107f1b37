"""The store whose interfaces are being run or checked, as the Importer sets it for its thread.

Kept apart from :mod:`._presets` (which reads it in :func:`~._presets.token_cache`) so that
every run can set it without importing the token grants.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..abc import RecordStore

__all__ = ["running_store", "tokens_in"]

_STORE: ContextVar[RecordStore | None] = ContextVar("mailtrack_token_store", default=None)


@contextlib.contextmanager
def tokens_in(store: RecordStore) -> Iterator[None]:
    """While this runs, interfaces saved in *store* keep their tokens in the store's cache."""
    reset = _STORE.set(store)
    try:
        yield
    finally:
        _STORE.reset(reset)


def running_store() -> RecordStore | None:
    """The store :func:`tokens_in` set for this thread, if any."""
    return _STORE.get()
