"""Deadlines for talking to servers, whatever the protocol: each read, each reply, the whole run.

A timeout on each read alone does not bound anything: a server that sends one byte every half
second never lets a read time out. So besides ``timeout`` (the longest wait for any byte) a reply
has a total deadline that grows with what it carries, ``2 * timeout + size / min_rate`` (``size`` the
larger of what was announced and what arrived), and the run has one of its own, ``run_timeout``.

:class:`ReplyClock` keeps the time of one reply inside the run's :class:`Deadline`;
:func:`recv_within` reads a socket within it. The POP3 wire uses them; the IMAP client and the
OAuth token endpoint use the same.
"""

from __future__ import annotations

import socket
import time

import attrs

__all__ = ["DEFAULT_MIN_RATE", "Deadline", "DeadlineExceeded", "ReplyClock", "recv_within"]

#: Bytes per second a server must at least deliver (64 KB/s; a 50 MB message then may take 13 min).
DEFAULT_MIN_RATE = 64 * 1024


class DeadlineExceeded(TimeoutError):
    """A reply or a run took longer than its deadline; the message says which, in plain words."""


@attrs.frozen
class Deadline:
    """A moment (``time.monotonic()``) after which a piece of work is given up, and why.

    ``at=None`` never comes.
    """

    at: float | None
    #: What it bounds, for the error: ``"the run (run_timeout 600 s)"``.
    what: str = "the deadline"

    @classmethod
    def after(cls, seconds: float | None, what: str) -> Deadline:
        """The deadline *seconds* from now (``None``: none)."""
        return cls(None if seconds is None else time.monotonic() + seconds, what)

    @classmethod
    def never(cls) -> Deadline:
        return cls(None)

    def remaining(self) -> float | None:
        """Seconds left (negative once passed), or ``None`` for a deadline that never comes."""
        return None if self.at is None else self.at - time.monotonic()

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` when the deadline has passed."""
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"{self.what} took longer than allowed")


@attrs.define
class ReplyClock:
    """The time one reply may take: ``2 * timeout + max(expected, received) / min_rate`` from its
    start, never beyond the run's deadline; no single wait longer than ``timeout``.

    Args:
        timeout: the longest wait for any byte, and the base of the reply's budget.
        min_rate: bytes per second the server must deliver at least.
        run: the deadline of the whole run (or session).
    """

    timeout: float
    min_rate: float = DEFAULT_MIN_RATE
    run: Deadline = attrs.field(factory=Deadline.never)
    _started: float = attrs.field(init=False, factory=time.monotonic)
    _expected: int = attrs.field(init=False, default=0)
    _received: int = attrs.field(init=False, default=0)
    #: The end of the current step (``time.monotonic()``), when :meth:`start` was given ``within``.
    _step_end: float | None = attrs.field(init=False, default=None)

    def start(self, expected: int = 0, *, within: float | None = None) -> None:
        """A new reply begins, announced to carry *expected* bytes.

        Args:
            within: seconds the whole step (the replies read until the next ``start``) may take
                at most, besides the reply's own budget: an IMAP command whose responses are
                many (a listing, a FETCH of several messages) has one deadline for all of them.
        """
        self._started = time.monotonic()
        self._expected = expected
        self._received = 0
        self._step_end = None if within is None else self._started + within

    @property
    def started_arriving(self) -> bool:
        """Whether any byte of the current reply arrived."""
        return self._received > 0

    def received(self, count: int) -> None:
        """*count* more bytes of the reply arrived."""
        self._received += count

    def send_wait(self) -> float:
        """How long a connect or a write may wait: ``timeout``, within the run's deadline.

        Raises:
            DeadlineExceeded: the run's deadline has passed.
        """
        self.run.check()
        run_left = self.run.remaining()
        return self.timeout if run_left is None else min(self.timeout, run_left)

    def wait(self) -> float:
        """How long the next read may wait.

        Raises:
            DeadlineExceeded: the reply's or the run's deadline has passed.
        """
        self.run.check()
        # Twice the timeout: a server that stops answering early in a reply is told by the
        # per-read timeout ("no answer"), a slow one by this deadline.
        budget = 2 * self.timeout + max(self._expected, self._received) / self.min_rate
        left = self._started + budget - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(
                f"the server was too slow: the reply took longer than {budget:.0f} seconds "
                f"(2 x timeout {self.timeout:g} s, 1 s per {self.min_rate / 1024:g} KB, min_transfer_rate)"
            )
        if self._step_end is not None:
            step_left = self._step_end - time.monotonic()
            if step_left <= 0:
                allowed = self._step_end - self._started
                raise DeadlineExceeded(
                    f"the server took too long to send its reply (more than {allowed:.0f} seconds "
                    f"for this step of the session)"
                )
            left = min(left, step_left)
        run_left = self.run.remaining()
        return min(self.timeout, left, run_left if run_left is not None else left)


def recv_within(sock: socket.socket, into: memoryview, clock: ReplyClock) -> int:
    """``sock.recv_into(into)`` within *clock*'s deadlines: how many bytes came (0 when the
    peer closed).

    Raises:
        DeadlineExceeded: a deadline passed while waiting.
        TimeoutError: no byte came within the clock's ``timeout``.
    """
    sock.settimeout(clock.wait())
    try:
        count = sock.recv_into(into)
    except TimeoutError:
        clock.run.check()
        if clock.started_arriving:
            clock.wait()  # a reply that came too slowly: the deadline's error says so
        raise  # nothing of the reply came: "no answer within timeout"
    clock.received(count)
    return count
