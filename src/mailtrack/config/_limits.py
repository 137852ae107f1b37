"""Bounds on what one message may cost: :class:`ParseLimits` for the converter,
:class:`AttachmentLimits` for the files an interface keeps.
"""

from __future__ import annotations

import attrs

from ..exceptions import ConfigError
from ._enums import AttachmentAction
from ._validators import as_str_tuple, instance_of, positive, positive_or_none

__all__ = [
    "AttachmentLimits",
    "ParseLimits",
]


@attrs.frozen(kw_only=True)
class ParseLimits:
    """Bounds that keep one hostile message from eating the importer's time and memory.

    A message beyond any of them is quarantined with a reason that names the limit.
    """

    #: Most MIME parts one message may have.
    max_parts: int = attrs.field(default=1000, validator=positive)
    #: Deepest nesting of multiparts.
    max_depth: int = attrs.field(default=50, validator=positive)
    #: Largest header block (of the whole message, in bytes).
    max_header_bytes: int = attrs.field(default=512 * 1024, validator=positive)
    #: Most header fields in the top-level header.
    max_header_fields: int = attrs.field(default=2000, validator=positive)
    #: Seconds the converter may spend on one message.
    time_budget: float = attrs.field(default=30.0, validator=positive)


def _as_extensions(value: object) -> tuple[str, ...]:
    """File name extensions, lower case with their dot (``"EXE"`` and ``".exe"`` are ``".exe"``)."""
    found = []
    for item in as_str_tuple(value):
        extension = item.strip().lower()
        if not extension.strip("."):
            raise ConfigError(f"refuse_extensions: {item!r} is no file name extension")
        found.append("." + extension.lstrip("."))
    return tuple(found)


def _as_types(value: object) -> tuple[str, ...]:
    """Content types, lower case; ``type/*`` stands for every subtype."""
    found = []
    for item in as_str_tuple(value):
        kind = item.strip().lower()
        if kind.count("/") != 1 or not all(kind.split("/")):
            raise ConfigError(
                f"refuse_types: {item!r} is no content type (write it as type/subtype or type/*)"
            )
        found.append(kind)
    return tuple(found)


@attrs.frozen(kw_only=True)
class AttachmentLimits:
    """Which attachments an interface refuses, and what becomes of them (``on_refused``).

    Refused are files larger than :attr:`max_bytes` and files whose content type or file name
    extension is listed; inline images count as attachments. Nothing is dropped silently: the
    detail notes each refused file (:attr:`~mailtrack.Detail.refused_attachments`), or the
    message goes to the quarantine with its raw bytes.
    """

    #: Largest attachment kept (decoded size, in bytes); ``None`` for no limit.
    max_bytes: int | None = attrs.field(default=None, validator=positive_or_none)
    #: Content types refused, e.g. ``"application/x-msdownload"`` or ``"video/*"``.
    refuse_types: tuple[str, ...] = attrs.field(default=(), converter=_as_types)
    #: File name extensions refused (any case, with or without the dot), e.g. ``"exe"``, ``".js"``.
    #: Both the name as sent and the safe name are looked at.
    refuse_extensions: tuple[str, ...] = attrs.field(default=(), converter=_as_extensions)
    #: What becomes of a refused attachment.
    on_refused: AttachmentAction = attrs.field(
        default=AttachmentAction.NOTE, validator=instance_of(AttachmentAction)
    )

    @property
    def limits_anything(self) -> bool:
        """Whether any attachment can be refused at all."""
        return self.max_bytes is not None or bool(self.refuse_types or self.refuse_extensions)
