"""The lookup errors build their own messages from what was looked for, and survive pickling
(worker processes and multiprocessing hand exceptions across processes)."""

from __future__ import annotations

import pickle

import pytest

from mailtrack import (
    AttachmentNotFoundError,
    InterfaceNotFoundError,
    QuarantineNotFoundError,
    RecordNotFoundError,
    StoreError,
)


@pytest.mark.parametrize(
    ("error", "message", "attribute", "value"),
    [
        (RecordNotFoundError(42), "record #42 does not exist", "record_id", 42),
        (QuarantineNotFoundError(7), "quarantined message 7 does not exist", "quarantine_id", 7),
        (AttachmentNotFoundError(3), "attachment 3 does not exist", "attachment_id", 3),
        (InterfaceNotFoundError("support"), "no mail interface named 'support' is saved", "name", "support"),
        (
            InterfaceNotFoundError("sales", "sales is not configured"),
            "sales is not configured",
            "name",
            "sales",
        ),
    ],
)
def test_lookup_errors_name_what_was_looked_for(
    error: StoreError, message: str, attribute: str, value: object
) -> None:
    assert str(error) == message
    assert getattr(error, attribute) == value
    assert isinstance(error, StoreError)
    assert isinstance(error, LookupError)
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(again) is type(error)
    assert str(again) == message
    assert getattr(again, attribute) == value
