"""The converter of ``_lock_held_worker.py``, in a module that worker processes can import."""

from __future__ import annotations

import threading
from datetime import datetime

from mailtrack import IncomingMessage, MailParserConverter

#: Taken by the converter around each conversion, as code with a module-level lock does (a
#: cache, a connection pool, a handler of its own).
LOCK = threading.Lock()


class LockingConverter:
    """MailParserConverter that takes :data:`LOCK` for each message (picklable: it is the
    importer's converter in the worker processes)."""

    def __init__(self) -> None:
        self.inner = MailParserConverter()

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        with LOCK:
            pass
        return self.inner.convert(raw, received_at=received_at)
