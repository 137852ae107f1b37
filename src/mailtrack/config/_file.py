"""A whole configuration file, :class:`Config`: where the store is, the mail interfaces, the limits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ..exceptions import ConfigError
from ._inbound import InboundSettings
from ._interface import MailInterface
from ._limits import ParseLimits
from ._validators import instance_of, non_empty

__all__ = [
    "Config",
]


def _as_interfaces(value: Iterable[MailInterface]) -> tuple[MailInterface, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Config:
    """A whole configuration file: where the store is, and the mail interfaces."""

    #: Store URL for :func:`~mailtrack.stores.store_from_url` (``memory://``, ``sqlite:///path.db`` …).
    store: str = attrs.field(default="sqlite:///mailtrack.db", validator=non_empty)
    interfaces: tuple[MailInterface, ...] = attrs.field(default=(), converter=_as_interfaces)
    #: The bounds the converter applies to each message (the ``[limits]`` table).
    limits: ParseLimits = attrs.field(factory=ParseLimits, validator=instance_of(ParseLimits))
    #: The e-mail services that POST mail to the inbound routes (the ``[inbound]`` table).
    inbound: InboundSettings | None = None

    @interfaces.validator
    def _unique_names(self, _attribute: attrs.Attribute[Any], value: tuple[MailInterface, ...]) -> None:
        seen: set[str] = set()
        for index, interface in enumerate(value):
            if interface.name in seen:
                raise ConfigError(f"interfaces[{index}].name: {interface.name!r} is used twice")
            seen.add(interface.name)
