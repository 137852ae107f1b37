"""mailtrack: turn e-mail into trackable records.

Poll POP3 mailboxes, import every message exactly once, open a record for it or — when the
subject names one (``#123``) — add it to that record as a new detail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._html import display_html, sanitize_html
from ._importing.explaining import Explanation
from ._serde import dump_config, load_config
from .abc import Fetcher, Matcher, MessageConverter, RecordStore, TokenSource
from .classifying import LOOP_HEADER, classify, outgoing_headers
from .config import (
    AttachmentAction,
    AttachmentLimits,
    ClassAction,
    Config,
    ImportPolicy,
    MailInterface,
    MailProtocol,
    OAuthFlow,
    OAuthSettings,
    ParseLimits,
    Route,
    Security,
    SenderPolicy,
)
from .converting import MailParserConverter
from .exceptions import (
    AttachmentNotFoundError,
    AuthenticationError,
    ConfigError,
    FetchError,
    InterfaceDisabledError,
    InterfaceNotFoundError,
    MailtrackError,
    MessageRefusedError,
    ParseError,
    QuarantineNotFoundError,
    RecordNotFoundError,
    RunFailedError,
    SchemaVersionError,
    SecurityError,
    ServerBusyError,
    StoreError,
    TokenError,
)
from .fetching import IMAPFetcher, POP3Fetcher
from .importer import Importer
from .intake import ArchiveVerdict, DeliveryOutcome, DeliveryReport
from .matching import SubjectIdMatcher
from .models import (
    AppendToRecord,
    Attachment,
    CommitEvent,
    CommitOutcome,
    CommitResult,
    ConnectionCheck,
    ContentDigest,
    CreateRecord,
    Detail,
    EmailAddress,
    ImportAction,
    IncomingMessage,
    Lease,
    MessageClass,
    MessageInfo,
    QuarantinedMessage,
    Record,
    RefusedAttachment,
    RunReport,
    SkipMessage,
)
from .stores import MemoryRecordStore, store_from_url

__all__ = [
    "LOOP_HEADER",
    "AppendToRecord",
    "ArchiveVerdict",
    "Attachment",
    "AttachmentAction",
    "AttachmentLimits",
    "AttachmentNotFoundError",
    "AuthenticationError",
    "ClassAction",
    "Config",
    "CommitEvent",
    "CommitOutcome",
    "CommitResult",
    "ContentDigest",
    "ConfigError",
    "ConnectionCheck",
    "CreateRecord",
    "DeliveryOutcome",
    "DeliveryReport",
    "Detail",
    "EmailAddress",
    "Explanation",
    "FetchError",
    "Fetcher",
    "ImportAction",
    "ImportPolicy",
    "Importer",
    "IncomingMessage",
    "InterfaceDisabledError",
    "InterfaceNotFoundError",
    "Lease",
    "MailInterface",
    "MailProtocol",
    "MailParserConverter",
    "MailtrackError",
    "Matcher",
    "MemoryRecordStore",
    "MessageClass",
    "MessageConverter",
    "MessageInfo",
    "MessageRefusedError",
    "IMAPFetcher",
    "OAuthFlow",
    "OAuthSettings",
    "POP3Fetcher",
    "ParseError",
    "ParseLimits",
    "QuarantineNotFoundError",
    "QuarantinedMessage",
    "Record",
    "RecordNotFoundError",
    "RecordStore",
    "RefusedAttachment",
    "RunFailedError",
    "Route",
    "RunReport",
    "SchemaVersionError",
    "SecurityError",
    "Security",
    "SenderPolicy",
    "ServerBusyError",
    "SkipMessage",
    "StoreError",
    "SubjectIdMatcher",
    "TokenError",
    "TokenSource",
    "classify",
    "display_html",
    "dump_config",
    "load_config",
    "outgoing_headers",
    "sanitize_html",
    "store_from_url",
]

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from .stores.sql import SQLRecordStore as SQLRecordStore


def __getattr__(name: str) -> Any:
    # SQLRecordStore needs SQLAlchemy (the ``sql`` extra), so it is imported on first use only:
    # ``import mailtrack`` works without it.
    if name == "SQLRecordStore":
        from . import stores

        return stores.SQLRecordStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
