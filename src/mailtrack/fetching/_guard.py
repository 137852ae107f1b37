"""What every fetcher does around its session: one open session at a time, errors translated,
and on any error the connection dropped without a word, so that the server makes none of the
changes asked for."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator, Iterator
from typing import Generic, Protocol, TypeVar

import attrs

from ..config import MailInterface
from ..exceptions import FetchError, MailtrackError
from ._errors import WireError
from ._pipeline import Pipeline
from ._session import translate, where
from ._wire import Wire

__all__ = ["SessionGuard"]

logger = logging.getLogger("mailtrack.fetching")


class _HasWire(Protocol):
    @property
    def wire(self) -> Wire: ...


S = TypeVar("S", bound=_HasWire)
T = TypeVar("T")
R = TypeVar("R")


@attrs.define
class SessionGuard(Generic[S]):
    """The open session of a fetcher (or ``None``) and why the last one failed."""

    interface: MailInterface
    session: S | None = None
    failure: str | None = None

    @property
    def where(self) -> str:
        return where(self.interface)

    def translate(self, exc: OSError | WireError) -> FetchError:
        return translate(self.interface, exc)

    def require(self) -> S:
        """The open session.

        Raises:
            FetchError: none is open (it ended after an error, or was never opened).
        """
        if self.session is None:
            if self.failure is not None:
                raise FetchError(f"{self.where}: the session ended after an error: {self.failure}")
            raise FetchError(f"{self.where}: the session is not open (call open() first)")
        return self.session

    def take(self) -> S | None:
        """The open session, which is no longer the guard's (``close``)."""
        session, self.session = self.session, None
        return session

    @contextlib.contextmanager
    def failing(self) -> Iterator[None]:
        """Translate errors; on any error drop the connection without a word."""
        try:
            yield
        except MailtrackError as exc:
            self.abandon(str(exc))
            raise
        except (OSError, WireError) as exc:
            error = self.translate(exc)
            self.abandon(str(error))
            raise error from exc
        except BaseException:
            self.abandon("the session was interrupted")
            raise

    def abandon(self, reason: str) -> None:
        self.failure = reason
        session, self.session = self.session, None
        if session is not None:
            session.wire.close()

    def replies(self, session: S, pipeline: Pipeline[T, R]) -> Generator[tuple[T, R], None, None]:
        """``(item, reply)`` of *pipeline* on *session*, errors translated. A consumer that stops early
        leaves the session usable: the replies still outstanding are read and dropped."""
        finished = False
        try:
            while True:
                with self.failing():
                    item = next(pipeline, None)
                if item is None:
                    finished = True
                    return
                yield item
        finally:
            if not finished and self.session is session and pipeline.outstanding:
                try:
                    with self.failing():
                        pipeline.drain()
                except FetchError:
                    logger.debug("%s: reading the rest of a window failed", self.where, exc_info=True)
