"""What the parts of the store contract share: fixtures, helpers and the actions they commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

import pytest

from ...abc import RecordStore
from ...config import MailInterface
from ...models import (
    AppendToRecord,
    Attachment,
    CommitResult,
    CreateRecord,
    IncomingMessage,
    MessageClass,
    Record,
)
from .._builders import ManualClock, make_incoming

__all__ = [
    "ALL_BYTES",
    "UTC",
    "ContractBase",
    "an_interface",
    "append_action",
    "attachment_id",
    "create_action",
    "is_utc",
    "record_id_of",
    "record_ids",
]

T = TypeVar("T")

ALL_BYTES = bytes(range(256))
UTC = timezone.utc


def create_action(
    message: IncomingMessage | None = None,
    *,
    project: str = "default",
    title: str = "Printer on fire",
    fields: dict[str, str] | None = None,
    message_class: MessageClass = MessageClass.NORMAL,
) -> CreateRecord:
    return CreateRecord(
        message=make_incoming() if message is None else message,
        project=project,
        title=title,
        fields={} if fields is None else fields,
        message_class=message_class,
    )


def append_action(
    record_id: int,
    message: IncomingMessage | None = None,
    *,
    message_class: MessageClass = MessageClass.NORMAL,
) -> AppendToRecord:
    return AppendToRecord(
        message=make_incoming() if message is None else message,
        record_id=record_id,
        message_class=message_class,
    )


def an_interface(name: str, **changes: Any) -> MailInterface:
    values: dict[str, Any] = {
        "name": name,
        "server": "pop.example.com",
        "login": f"{name}@example.com",
        "password": f"s3cret-{name}",
    }
    values.update(changes)
    return MailInterface(**values)


def is_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def record_ids(records: list[Record]) -> list[int]:
    return [record.id for record in records]


def attachment_id(attachment: Attachment) -> int:
    assert attachment.id is not None
    return attachment.id


def record_id_of(result: CommitResult) -> int:
    assert result.record_id is not None
    return result.record_id


class ContractBase:
    """The fixtures and helpers of :class:`~mailtrack.testing.RecordStoreContract`'s parts."""

    #: True when the store fixture passes the ``clock`` fixture to the store.
    controls_time: ClassVar[bool] = True
    #: False to skip the tests that share one store between threads.
    supports_threads: ClassVar[bool] = True
    #: Threads used by the concurrency tests.
    concurrency: ClassVar[int] = 8

    @pytest.fixture
    def clock(self) -> ManualClock:
        """The time the store should use (see the class docstring)."""
        return ManualClock()

    @pytest.fixture
    def store(self) -> RecordStore:
        """A fresh, empty store: subclasses must override this fixture."""
        raise NotImplementedError("a RecordStoreContract subclass must provide a `store` fixture")

    # -- helpers -------------------------------------------------------------------------------

    def wait(self, clock: ManualClock, seconds: float) -> None:
        """Let *seconds* pass for the store: move the manual clock, or sleep for real."""
        clock.advance(seconds)
        if not self.controls_time:
            time.sleep(seconds)

    def lease_window(self) -> tuple[float, float]:
        """(lease seconds, a wait that outlasts it): long under a manual clock, short otherwise."""
        return (30.0, 31.0) if self.controls_time else (1.0, 1.3)

    def run_in_threads(self, count: int, work: Callable[[int], T]) -> list[T]:
        """Run ``work(i)`` for i in range(count) in threads that start together; results in order."""
        if not self.supports_threads:
            pytest.skip("this store does not support sharing one store between threads")
        barrier = threading.Barrier(count)
        results: list[Any] = [None] * count
        errors: list[BaseException] = []

        def run(index: int) -> None:
            try:
                barrier.wait(timeout=30)
                results[index] = work(index)
            except BaseException as exc:  # reported in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        if errors:
            raise errors[0]
        return results

    def provides(self, store: RecordStore, capability: str) -> bool:
        """Whether *store* implements an optional method of the ABC (rather than inheriting the
        default). A store without it is checked for the default behaviour instead."""
        return getattr(type(store), capability) is not getattr(RecordStore, capability)
