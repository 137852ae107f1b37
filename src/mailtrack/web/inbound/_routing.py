"""Which interface takes a message, by the envelope recipient the service reports."""

from __future__ import annotations

import email.utils
from collections.abc import Iterable, Sequence

import attrs

from ...config import MailInterface, Route

__all__ = ["Destination", "Router", "recipient_addresses"]


@attrs.frozen
class Destination:
    """Where one message goes: the interface, and the recipient handed to its routes."""

    interface: MailInterface
    recipient: str | None


def recipient_addresses(values: Iterable[str | None]) -> list[str]:
    """The bare addresses in *values* (``Name <a@b>`` and ``a@b``; lists split at commas)."""
    found: list[str] = []
    for value in values:
        if not value:
            continue
        for _name, address in email.utils.getaddresses([value]):
            address = address.strip()
            if "@" in address and address not in found:
                found.append(address)
    return found


def _addresses_of(interface: MailInterface) -> tuple[Route, ...]:
    """The interface's addresses as routes (for their matching: any case, ``+detail``, ``@domain``)."""
    own = tuple(Route(address=address, project=interface.project) for address in interface.own_addresses)
    return (*own, *interface.routes)


@attrs.frozen
class Router:
    """The interfaces that inbound mail may go to, in the order recipients are looked up, and the
    catch-all for mail to an address none of them has (``None``: such mail is refused)."""

    interfaces: tuple[MailInterface, ...]
    catch_all: MailInterface | None
    _addresses: tuple[tuple[MailInterface, tuple[Route, ...]], ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        table = tuple((interface, _addresses_of(interface)) for interface in self.interfaces)
        object.__setattr__(self, "_addresses", table)

    def choose(self, recipients: Sequence[str]) -> Destination | None:
        """The first interface having one of *recipients* (in their order), else the catch-all
        with the first recipient, else ``None`` (refused)."""
        for recipient in recipients:
            for interface, addresses in self._addresses:
                if any(route.matches(recipient) for route in addresses):
                    return Destination(interface, recipient)
        if self.catch_all is not None:
            return Destination(self.catch_all, recipients[0] if recipients else None)
        return None
