"""Configuration values: mail interfaces and the policies that steer an import.

All classes here are frozen attrs classes validated at construction: a bad value raises
:class:`~mailtrack.ConfigError` at once, naming the field. Loading from and dumping to dicts,
JSON and TOML lives in :mod:`mailtrack._serde` (``load_config`` / ``dump_config``).
"""

from __future__ import annotations

from ._enums import AttachmentAction, ClassAction, MailProtocol, Security, SenderPolicy
from ._file import Config
from ._interface import MailInterface
from ._limits import AttachmentLimits, ParseLimits
from ._oauth import OAuthFlow, OAuthSettings
from ._policy import ImportPolicy
from ._routes import Route

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
