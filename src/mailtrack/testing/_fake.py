"""A fetcher without a network: :class:`FakeMailbox` holds raw messages, :class:`FakeFetcher` serves them.

The fake keeps the POP3 rules that matter to an importer: deletions take effect only when the
session is closed with ``commit=True``, message numbers are only valid in one session, and a
fault can be injected at every step (open, one retrieval, close).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ..abc import FetcherFactory
from ..config import MailInterface
from ..models import ConnectionCheck, MessageInfo

__all__ = ["FakeFetcher", "FakeMailbox"]


class FakeMailbox:
    """A mailbox of raw messages that survives sessions; ``mailbox.fetcher`` is a fetcher factory.

    Args:
        messages: raw messages; a mapping gives each its UID, a sequence gets ``uid-1``, ``uid-2`` …
        uidl: whether the "server" has UIDL (without it, listings have ``uid=None``).
        fail_on_open: raise this from :meth:`FakeFetcher.open` (and report it from ``check``).
        fail_on_retrieve: raise the exception when retrieving the message with that number.
        fail_on_close: raise this from ``close(commit=True)``; the deletions do not happen.

    The fault attributes are plain attributes: change them between runs.

    Example:
        >>> mailbox = FakeMailbox({"a": b"Subject: one\\r\\n\\r\\nbody\\r\\n"})
        >>> importer = Importer(fetcher_factory=mailbox.fetcher)  # doctest: +SKIP
    """

    def __init__(
        self,
        messages: Sequence[bytes] | Mapping[str, bytes] = (),
        *,
        uidl: bool = True,
        fail_on_open: Exception | None = None,
        fail_on_retrieve: Mapping[int, Exception] | None = None,
        fail_on_close: Exception | None = None,
    ) -> None:
        self.messages: dict[str, bytes] = {}
        self._next_uid = 1
        if isinstance(messages, Mapping):
            for uid, raw in messages.items():
                self.add(raw, uid=uid)
        else:
            for raw in messages:
                self.add(raw)
        self.uidl = uidl
        self.fail_on_open = fail_on_open
        self.fail_on_retrieve: dict[int, Exception] = dict(fail_on_retrieve or {})
        self.fail_on_close = fail_on_close
        #: Every fetcher made by :meth:`fetcher`, oldest first.
        self.sessions: list[FakeFetcher] = []

    def add(self, raw: bytes, *, uid: str | None = None) -> str:
        """Deliver a message; returns its UID."""
        if not isinstance(raw, bytes):
            raise TypeError(f"a raw message must be bytes, not {type(raw).__name__}")
        if uid is None:
            # Like a real server, never hand out a UID again, even after its message was deleted.
            uid = f"uid-{self._next_uid}"
            while uid in self.messages:
                self._next_uid += 1
                uid = f"uid-{self._next_uid}"
            self._next_uid += 1
        if uid in self.messages:
            raise ValueError(f"the mailbox holds a message with uid {uid!r} already")
        self.messages[uid] = raw
        return uid

    def fetcher(self, interface: MailInterface | None = None) -> FakeFetcher:
        """A new session on this mailbox (pass ``mailbox.fetcher`` as an Importer's ``fetcher_factory``)."""
        session = FakeFetcher(
            self,
            interface=interface,
            uidl=self.uidl,
            fail_on_open=self.fail_on_open,
            fail_on_retrieve=self.fail_on_retrieve,
            fail_on_close=self.fail_on_close,
        )
        self.sessions.append(session)
        return session

    @property
    def uids(self) -> list[str]:
        """The UIDs of the messages in the mailbox, in delivery order."""
        return list(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def __contains__(self, uid: object) -> bool:
        return uid in self.messages

    def __repr__(self) -> str:
        return f"FakeMailbox({len(self.messages)} messages, uidl={self.uidl})"


class FakeFetcher:
    """A :class:`~mailtrack.abc.Fetcher` serving the messages of a :class:`FakeMailbox`.

    Args:
        messages: a :class:`FakeMailbox`, or raw messages to make one from.
        interface: the interface this session is for (its name goes into :meth:`check`).
        uidl: whether listings carry UIDs (default: as the mailbox says).
        fail_on_open, fail_on_retrieve, fail_on_close: as for :class:`FakeMailbox`.

    After each session, :attr:`deleted` holds the UIDs (mailbox keys) marked for deletion,
    :attr:`retrieved` those retrieved, and :attr:`committed` whether ``close(commit=True)``
    made the deletions final. One object can serve several sessions (runs) in a row; use
    :attr:`factory` as an Importer's ``fetcher_factory`` for that.
    """

    def __init__(
        self,
        messages: FakeMailbox | Sequence[bytes] | Mapping[str, bytes] = (),
        *,
        interface: MailInterface | None = None,
        uidl: bool | None = None,
        fail_on_open: Exception | None = None,
        fail_on_retrieve: Mapping[int, Exception] | None = None,
        fail_on_close: Exception | None = None,
    ) -> None:
        if isinstance(messages, FakeMailbox):
            self.mailbox = messages
        else:
            self.mailbox = FakeMailbox(messages, uidl=True if uidl is None else uidl)
        self.interface = interface
        #: Whether the listing has UIDs (``None`` given: as the mailbox says).
        self.uidl = self.mailbox.uidl if uidl is None else uidl
        self.fail_on_open = fail_on_open
        self.fail_on_retrieve: dict[int, Exception] = dict(fail_on_retrieve or {})
        self.fail_on_close = fail_on_close
        self.deleted: list[str] = []
        self.retrieved: list[str] = []
        self.committed = False
        self.closed = False
        self._listing: dict[int, str] | None = None

    @property
    def factory(self) -> FetcherFactory:
        """A fetcher factory that hands out this very fetcher, for one session after another."""

        def reuse(interface: MailInterface) -> FakeFetcher:
            self.interface = interface
            return self

        return reuse

    # -- the Fetcher protocol ----------------------------------------------------------------------

    def open(self) -> list[MessageInfo]:
        if self._listing is not None:
            raise RuntimeError("FakeFetcher.open() called twice in one session")
        self.deleted, self.retrieved = [], []
        self.committed = self.closed = False
        if self.fail_on_open is not None:
            raise self.fail_on_open
        self._listing = dict(enumerate(self.mailbox.messages, start=1))
        return [
            MessageInfo(number=number, uid=uid if self.uidl else None, size=len(self.mailbox.messages[uid]))
            for number, uid in self._listing.items()
        ]

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        for info in messages:
            uid = self._uid(info)
            failure = self.fail_on_retrieve.get(info.number)
            if failure is not None:
                raise failure
            self.retrieved.append(uid)
            yield info, self.mailbox.messages[uid]

    def delete(self, message: MessageInfo) -> None:
        uid = self._uid(message)
        if uid in self.deleted:
            raise RuntimeError(f"message {message.number} was marked for deletion twice")
        self.deleted.append(uid)

    def close(self, *, commit: bool) -> None:
        self.closed = True
        if self._listing is None:  # open() failed: nothing to end, like a refused connection
            return
        self._listing = None
        if commit:
            if self.fail_on_close is not None:
                raise self.fail_on_close
            for uid in self.deleted:
                self.mailbox.messages.pop(uid, None)
            self.committed = True

    def check(self) -> ConnectionCheck:
        name = self.interface.name if self.interface is not None else "fake"
        if self.fail_on_open is not None:
            return ConnectionCheck(interface=name, ok=False, error=str(self.fail_on_open))
        capabilities = ("TOP", "USER", "PIPELINING", *(("UIDL",) if self.uidl else ()))
        return ConnectionCheck(
            interface=name,
            ok=True,
            message_count=len(self.mailbox),
            mailbox_bytes=sum(len(raw) for raw in self.mailbox.messages.values()),
            capabilities=tuple(sorted(capabilities)),
        )

    # -- helpers -------------------------------------------------------------------------------------

    def _uid(self, info: MessageInfo) -> str:
        if self._listing is None:
            raise RuntimeError("FakeFetcher used without an open session")
        uid = self._listing.get(info.number)
        if uid is None or (info.uid is not None and info.uid != uid):
            raise RuntimeError(f"message {info.number} (uid {info.uid}) is not in this session's listing")
        return uid

    def __repr__(self) -> str:
        return f"FakeFetcher({self.mailbox!r}, deleted={self.deleted!r}, committed={self.committed})"
