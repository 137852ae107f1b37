"""The SQL store's OAuth 2.0 token cache: one row per interface saved in the store.

Workers on several machines share it, so a refresh token that one of them rotated is the one
the others use next. Every change is a compare-and-swap (``UPDATE … WHERE generation = :seen``);
while one worker fetches a new token it holds a short lease on the row (``refreshing_until``)
that the others wait for, and that expires by itself if the worker dies.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ...auth._tokens import TokenState
from ...exceptions import StoreError
from . import _schema as tables
from ._part import StorePart
from ._rows import key
from ._transactions import Transactions

__all__ = ["SQLTokenCache", "TokenCaches"]

#: Longest wait for another worker's refresh; then this one goes ahead (compare-and-swap still holds).
REFRESH_LEASE = 90.0


@attrs.define
class SQLTokenCache:
    """A :class:`~mailtrack.auth.TokenCache` in the table ``mailtrack_oauth_tokens``."""

    _db: Transactions = attrs.field(repr=False)
    name: str
    _now: Callable[[], datetime] = attrs.field(repr=False)

    def load(self) -> TokenState | None:
        table = tables.oauth_tokens
        with self._db.reading(f"read the OAuth 2.0 tokens of {self.name!r}") as conn:
            state = conn.execute(sa.select(table.c.state).where(table.c.name == key(self.name))).scalar()
        if state is None:
            return None
        return TokenState.from_json(json.loads(state))

    def swap(self, expected: TokenState | None, new: TokenState) -> TokenState | None:
        stored = attrs.evolve(new, generation=(-1 if expected is None else expected.generation) + 1)
        table = tables.oauth_tokens
        seen = -1 if expected is None else expected.generation

        def work(conn: sa.Connection) -> bool:
            self._ensure_row(conn)
            result = conn.execute(
                sa.update(table)
                .where(table.c.name == key(self.name), table.c.generation == seen)
                .values(
                    state=json.dumps(stored.to_json()), generation=stored.generation, updated_at=self._now()
                )
            )
            return result.rowcount == 1

        return stored if self._secretly(f"save the OAuth 2.0 tokens of {self.name!r}", work) else None

    @contextlib.contextmanager
    def refreshing(self) -> Iterator[None]:
        table = tables.oauth_tokens
        deadline = time.monotonic() + REFRESH_LEASE
        taken = False
        while not taken and time.monotonic() < deadline:

            def take(conn: sa.Connection) -> bool:
                self._ensure_row(conn)
                now = self._now()
                free = sa.or_(table.c.refreshing_until.is_(None), table.c.refreshing_until < now)
                result = conn.execute(
                    sa.update(table)
                    .where(table.c.name == key(self.name), free)
                    .values(refreshing_until=now + timedelta(seconds=REFRESH_LEASE))
                )
                return result.rowcount == 1

            taken = self._secretly(f"lock the OAuth 2.0 tokens of {self.name!r}", take)
            if not taken:
                time.sleep(0.1)
        try:
            yield
        finally:
            if taken:
                self._secretly(
                    f"unlock the OAuth 2.0 tokens of {self.name!r}",
                    lambda conn: (
                        conn.execute(
                            sa.update(table)
                            .where(table.c.name == key(self.name))
                            .values(refreshing_until=None)
                        ).rowcount
                        == 1
                    ),
                )

    def _ensure_row(self, conn: sa.Connection) -> None:
        table = tables.oauth_tokens
        exists = conn.execute(sa.select(table.c.generation).where(table.c.name == key(self.name))).first()
        if exists is None:
            conn.execute(
                sa.insert(table).values(
                    name=key(self.name), state=None, generation=-1, updated_at=self._now()
                )
            )

    def _secretly(self, what: str, work: Callable[[sa.Connection], bool]) -> bool:
        """Run *work*; an error keeps the driver's words but not the statement (it held tokens)."""
        try:
            return self._db.run(what, work)
        except StoreError as exc:
            cause = exc.__cause__
            raise StoreError(str(exc)) from (cause.orig if isinstance(cause, sa_exc.DBAPIError) else None)


class TokenCaches(StorePart):
    """The store's part that hands out the OAuth 2.0 token caches of saved interfaces."""

    def token_cache(self, interface_name: str) -> SQLTokenCache:
        """The OAuth 2.0 tokens of a saved interface, in ``mailtrack_oauth_tokens`` (compare-and-swap)."""
        return SQLTokenCache(self._db, interface_name, self._now)
