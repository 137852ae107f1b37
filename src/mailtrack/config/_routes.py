"""Routing by recipient: which project the mail sent to an address goes to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._validators import as_str_mapping, fail, non_empty

__all__ = [
    "Route",
    "as_routes",
]


def _route_address(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    non_empty(_instance, attribute, value)
    assert isinstance(value, str)
    _local, at, domain = value.strip().rpartition("@")
    if not at or not domain or any(ch.isspace() or ch in '<>,;"' for ch in value.strip()):
        raise fail(
            attribute, f"must be an address (sales@example.com) or a domain (@example.com), not {value!r}"
        )


@attrs.frozen(kw_only=True)
class Route:
    """Routing by recipient: mail sent to :attr:`address` goes to :attr:`project`.

    The recipients looked at are Delivered-To and X-Original-To (what the mail server delivered
    to), then To and Cc. A route's address matches a recipient that is the same address (any
    case), or the same address with a plus-address detail (``sales+anything@example.com``
    matches ``sales@example.com``); ``@example.com`` matches every address of the domain.
    """

    #: ``sales@example.com``, ``support+billing@example.com`` or ``@sales.example.com``.
    address: str = attrs.field(validator=_route_address)
    #: The project of the records this mail opens, and where its evidence is looked up.
    project: str = attrs.field(validator=non_empty)
    #: Field values for the new records, over the interface's ``defaults``.
    defaults: Mapping[str, str] = attrs.field(factory=dict, converter=as_str_mapping)

    def matches(self, recipient: str) -> bool:
        """Whether mail to *recipient* takes this route."""
        wanted = self.address.strip().lower()
        recipient = recipient.strip().lower()
        if wanted.startswith("@"):
            return recipient.endswith(wanted)
        if recipient == wanted:
            return True
        local, _, domain = recipient.rpartition("@")
        return "+" in local and f"{local.partition('+')[0]}@{domain}" == wanted


def as_routes(value: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(value)
