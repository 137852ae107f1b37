"""Configuration values: mail interfaces and the policies that steer an import.

All classes here are frozen attrs classes validated at construction: a bad value raises
:class:`~mailtrack.ConfigError` at once, naming the field. Loading from and dumping to dicts,
JSON and TOML lives in :mod:`mailtrack._serde` (``load_config`` / ``dump_config``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ._enums import AttachmentAction, ClassAction, MailProtocol, Security, SenderPolicy
from ._interface import MailInterface
from ._limits import AttachmentLimits, ParseLimits
from ._oauth import OAuthFlow, OAuthSettings
from ._policy import ImportPolicy
from ._routes import Route

if TYPE_CHECKING:
    from ._file import Config

__all__ = [
    "AttachmentAction",
    "AttachmentLimits",
    "ClassAction",
    "Config",
    "ImportPolicy",
    "MailInterface",
    "MailProtocol",
    "OAuthFlow",
    "OAuthSettings",
    "ParseLimits",
    "Route",
    "Security",
    "SenderPolicy",
]


# The file's settings (with the inbound services') are imported on first use: a program that
# makes its MailInterface itself never needs them.
if not TYPE_CHECKING:  # type checkers see the imports above instead
    __getattr__, __dir__ = lazy_exports(globals(), {"Config": "._file"})
