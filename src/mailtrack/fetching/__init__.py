"""Fetchers: where messages come from. :func:`fetcher_for` picks :class:`POP3Fetcher` or
:class:`IMAPFetcher` by the interface's ``protocol``; it is the importer's default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ..abc import Fetcher
from ..config import MailInterface, MailProtocol
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from .imap import IMAPFetcher
    from .pop3 import POP3Fetcher

__all__ = ["IMAPFetcher", "POP3Fetcher", "fetcher_for"]


def fetcher_for(interface: MailInterface) -> Fetcher:
    """The fetcher for *interface*: an :class:`IMAPFetcher` for ``protocol = "imap"``, else a
    :class:`POP3Fetcher` (the :class:`~mailtrack.Importer`'s default ``fetcher_factory``).

    Raises:
        ConfigError: the interface is of ``protocol = "deliver"``: it has no mailbox to read.
    """
    if interface.protocol is MailProtocol.DELIVER:
        raise ConfigError(
            f"{interface.name}: protocol 'deliver' has no mailbox to poll: its mail is handed over "
            "(mailtrack deliver, Importer.deliver, mailtrack import)"
        )
    if interface.protocol is MailProtocol.IMAP:
        from .imap import IMAPFetcher

        return IMAPFetcher(interface)
    from .pop3 import POP3Fetcher

    return POP3Fetcher(interface)


# Each fetcher is imported on first use: a POP3 run never loads the IMAP one, and the auth
# package, which takes this package's errors, loads neither.
if not TYPE_CHECKING:  # type checkers see the imports above instead
    __getattr__, __dir__ = lazy_exports(globals(), {"IMAPFetcher": ".imap", "POP3Fetcher": ".pop3"})
