"""What became of each signed Mailgun token: Mailgun retries a request it got no 2xx for with the
same ``timestamp``, ``token`` and ``signature`` (from about ten minutes on, for eight hours), so a
token is used up only once its delivery was answered 2xx, and a retry of the very same message
(same ``body-mime`` digest) is taken however old its timestamp is.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import attrs

__all__ = ["RETRY_WINDOW", "TokenOutcome", "TokenOutcomes"]

#: How long a token's outcome is remembered: Mailgun retries for eight hours.
RETRY_WINDOW = 8 * 3600 + 600

#: At most this many tokens are remembered (the oldest are forgotten first); each entry needs a
#: valid signature, so only Mailgun (or whoever holds the key) can fill it.
MAX_TOKENS = 100_000


@attrs.frozen
class TokenOutcome:
    """The digest of the message a token carried and whether it was answered 2xx."""

    digest: str
    delivered: bool
    expires: float


class TokenOutcomes:
    """The outcome of each signed token this process answered, for :data:`RETRY_WINDOW`,
    bounded to :data:`MAX_TOKENS` entries."""

    def __init__(self, clock: Callable[[], float] = time.time, limit: int = MAX_TOKENS) -> None:
        self._clock = clock
        self._limit = limit
        self._lock = threading.Lock()
        self._outcomes: OrderedDict[str, TokenOutcome] = OrderedDict()

    def get(self, token: str) -> TokenOutcome | None:
        """The outcome recorded for *token*, unless it expired."""
        with self._lock:
            outcome = self._outcomes.get(token)
            if outcome is None or outcome.expires <= self._clock():
                return None
            return outcome

    def record(self, token: str, digest: str, *, delivered: bool) -> None:
        """Remember that *token*, carrying the message of *digest*, was answered (2xx or not)."""
        now = self._clock()
        with self._lock:
            self._outcomes.pop(token, None)
            self._outcomes[token] = TokenOutcome(digest, delivered, now + RETRY_WINDOW)
            while self._outcomes:
                oldest = next(iter(self._outcomes.values()))
                if len(self._outcomes) <= self._limit and oldest.expires > now:
                    break
                self._outcomes.popitem(last=False)
