"""A converter that prints and logs while converting, for ``test_worker_processes``.

In a module of its own, so that worker processes started without a fork can load it (they never
import the host's main script).
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime

from mailtrack import IncomingMessage, MailParserConverter

#: What the converter writes to stdout and stderr: none of it may reach the host's streams.
PRINTED = "NOISY-PRINT"
#: What it logs as a warning: it comes back to the host's log, marked as the worker's.
LOGGED = "noisy converter looked at a message"


class NoisyConverter:
    def __init__(self) -> None:
        self.inner = MailParserConverter()

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        print(PRINTED)
        print(PRINTED, file=sys.stderr)
        logging.getLogger("noisy").warning(LOGGED)
        return self.inner.convert(raw, received_at=received_at)
