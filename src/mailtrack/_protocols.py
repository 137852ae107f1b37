"""The protocols of the pluggable parts of an import, re-exported by :mod:`mailtrack.abc`.

:class:`Fetcher`, :class:`Matcher`, :class:`MessageConverter` and :class:`TokenSource` are
protocols: anything with those methods fits. :class:`MarksDeletionsLocally` is a fetcher's
optional capability. Import them from :mod:`mailtrack.abc` (or :mod:`mailtrack`), where they
are documented.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .config import MailInterface
from .models import ConnectionCheck, IncomingMessage, MessageInfo

if TYPE_CHECKING:
    from .auth import AccessToken

__all__ = [
    "Fetcher",
    "FetcherFactory",
    "MarksDeletionsLocally",
    "Matcher",
    "MessageConverter",
    "TokenSource",
]


@runtime_checkable
class Fetcher(Protocol):
    """One session with one mailbox.

    The importer calls :meth:`open` once, then :meth:`retrieve_many` and :meth:`delete` as it
    goes, and finally :meth:`close`. Deletions take effect only at ``close(commit=True)`` (POP3
    QUIT); ``close(commit=False)`` drops the connection so that the server keeps every message.
    """

    def open(self) -> Sequence[MessageInfo]:
        """Connect, log in and list the mailbox.

        Raises:
            FetchError: or a subclass, in plain words; no password has crossed an insecure link.
        """

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        """Yield each given message with its raw bytes, in the given order.

        A fetcher may pipeline the requests; it yields as the answers arrive.

        Raises:
            FetchError: when the connection fails; messages already yielded stay valid.
        """

    def delete(self, message: MessageInfo) -> None:
        """Mark a message for deletion (takes effect at ``close(commit=True)``).

        The importer calls this only after the store committed the message.
        """

    def close(self, *, commit: bool) -> None:
        """End the session: ``commit=True`` makes the deletions final, ``False`` abandons them.

        Raises:
            FetchError: when the server did not confirm the deletions (they may not have happened).
        """

    def check(self) -> ConnectionCheck:
        """Connect, log in, ask for capabilities and the mailbox size, and log out.

        Never raises for connection problems: they are reported in the result.
        """


@runtime_checkable
class MarksDeletionsLocally(Protocol):
    """An optional capability of a :class:`Fetcher`: its :meth:`~Fetcher.delete` only marks the
    message in the fetcher itself and touches no connection (the deletions go to the server at
    :meth:`~Fetcher.close`, as :class:`~mailtrack.POP3Fetcher` sends its DELEs).

    A fetcher that has the attribute ``marks_deletions_locally = True`` says so. The importer then
    retrieves long listings ahead in a thread of its own while it marks deletions in the importing
    thread; a fetcher without it (the default) is used from one thread at a time.
    """

    marks_deletions_locally: bool


class FetcherFactory(Protocol):
    """Makes a :class:`Fetcher` for an interface (``POP3Fetcher`` is the default)."""

    def __call__(self, interface: MailInterface, /) -> Fetcher: ...


@runtime_checkable
class Matcher(Protocol):
    """Finds the record ID a subject names."""

    def match(self, subject: str) -> int | None:
        """The one record ID in *subject*, or ``None`` when it names none or more than one."""


@runtime_checkable
class TokenSource(Protocol):
    """Gives the OAuth 2.0 access token a fetcher signs in with (XOAUTH2 / OAUTHBEARER).

    :mod:`mailtrack.auth` has sources for the refresh-token, client-credentials and JWT-bearer
    grants; a host application that holds tokens itself may pass any object with this method.
    """

    def access_token(self, *, refused: AccessToken | None = None) -> AccessToken:
        """A token to send now.

        Args:
            refused: the token the server just refused; it must not be returned again (a
                source refreshes, or raises).

        Raises:
            TokenError: no token can be had (in plain words; ``retry_later`` when the token
                endpoint failed rather than refused).
        """


@runtime_checkable
class MessageConverter(Protocol):
    """Turns raw message bytes into an :class:`~mailtrack.IncomingMessage`."""

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        """Parse *raw*.

        Raises:
            ParseError: the only exception a converter may raise; its text says why in plain words.
        """
