"""The SQL store's run history (``mailtrack_runs``): each run's report, the newest per interface."""

from __future__ import annotations

import sqlalchemy as sa

from ...models import RunReport
from . import _reads as reads
from . import _schema as tables
from ._part import StorePart
from ._rows import run_values

__all__ = ["RunHistory"]


class RunHistory(StorePart):
    """The store's part that keeps run reports."""

    def save_run(self, report: RunReport) -> None:
        values = run_values(report)
        self._db.run(
            f"save the run report of {report.interface!r}",
            lambda conn: conn.execute(sa.insert(tables.runs).values(**values)),
        )

    def last_run(self, name: str) -> RunReport | None:
        with self._db.reading(f"read the runs of {name!r}") as conn:
            return reads.last_run(conn, name)

    def last_runs(self) -> dict[str, RunReport]:
        """The newest run report of every interface that ever ran, by name, in one query."""
        with self._db.reading("read the last runs") as conn:
            return reads.last_runs(conn)
