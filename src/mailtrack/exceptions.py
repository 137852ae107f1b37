"""The exceptions mailtrack raises.

Every error mailtrack raises on purpose derives from :class:`MailtrackError`, and most also
derive from the builtin exception a caller would catch otherwise::

    MailtrackError
    ├── ConfigError (ValueError)             a setting is missing, malformed or out of range
    ├── ParseError (ValueError)              a raw message cannot be turned into an IncomingMessage
    ├── RunFailedError (RuntimeError)        RunReport.raise_for_error(): the run stopped on an error
    ├── InterfaceDisabledError (RuntimeError) mail handed to a disabled interface: not taken, try later
    ├── FetchError (OSError)                 talking to the mail server failed
    │   ├── ServerBusyError                  -ERR [IN-USE] / [LOGIN-DELAY] / [SYS/TEMP]: try later
    │   ├── AuthenticationError              the server refused the login ([AUTH], wrong password)
    │   │   └── TokenError                   no OAuth 2.0 access token: the token endpoint refused or failed
    │   └── SecurityError                    TLS failed or STARTTLS is not offered: nothing was sent
    └── StoreError (RuntimeError)            the record store failed; nothing was committed
        ├── RecordNotFoundError (LookupError)
        ├── InterfaceNotFoundError (LookupError)
        ├── QuarantineNotFoundError (LookupError)
        ├── AttachmentNotFoundError (LookupError)
        ├── MessageRefusedError              the store works, but cannot hold this one message
        └── SchemaVersionError               the database was made by another mailtrack version

Driver errors (``poplib.error_proto``, ``ssl.SSLError``, SQLAlchemy's errors) are wrapped, with
the original kept as ``__cause__``. Messages are written for the help-desk admin who reads them in
a run report: they say what went wrong in plain words and never contain a password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import RunReport

__all__ = [
    "AttachmentNotFoundError",
    "AuthenticationError",
    "ConfigError",
    "FetchError",
    "InterfaceDisabledError",
    "InterfaceNotFoundError",
    "MailtrackError",
    "MessageRefusedError",
    "ParseError",
    "QuarantineNotFoundError",
    "RecordNotFoundError",
    "RunFailedError",
    "SchemaVersionError",
    "SecurityError",
    "ServerBusyError",
    "StoreError",
    "TokenError",
]


class MailtrackError(Exception):
    """Base class of every error mailtrack raises on purpose."""


class ConfigError(MailtrackError, ValueError):
    """A configuration value is missing, malformed or out of range.

    The message starts with the path of the offending field, e.g. ``interfaces[0].port: must
    be 1..65535``.
    """


class ParseError(MailtrackError, ValueError):
    """A raw message could not be turned into an :class:`~mailtrack.IncomingMessage`.

    The importer quarantines such a message with its raw bytes and this error's text.
    """


class RunFailedError(MailtrackError, RuntimeError):
    """A run stopped on an error (raised by :meth:`~mailtrack.RunReport.raise_for_error`).

    The message names the interface and says what stopped the run; the whole
    :class:`~mailtrack.RunReport` is kept as the ``report`` attribute.
    """

    def __init__(self, report: RunReport) -> None:
        super().__init__(report)
        self.report = report

    def __str__(self) -> str:
        error, name = str(self.report.error), self.report.interface
        # Most errors name the interface already ("support: environment variable … is not set").
        return error if error.startswith(f"{name}: ") else f"interface {name!r}: {error}"


class InterfaceDisabledError(MailtrackError, RuntimeError):
    """Mail was handed to an interface that is disabled (``enabled = false``): nothing was
    imported, and nothing was lost, as long as the sender keeps the message and tries again.

    Raised by :meth:`mailtrack.Importer.deliver`. ``mailtrack deliver`` exits with 75
    (``EX_TEMPFAIL``: the mail server keeps the message and retries) and the inbound routes answer
    503 with ``Retry-After``, so that the mail arrives once the interface is enabled again. The
    interface's name is kept as :attr:`name`.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return (
            f"mail interface {self.name!r} is disabled (enabled = false): nothing was imported; "
            "enable it to take the mail"
        )


class FetchError(MailtrackError, OSError):
    """Talking to the mail server failed (connection, protocol or server error).

    Nothing is deleted on the server when this is raised during a session.
    """


class ServerBusyError(FetchError):
    """The server asked to be left alone for now (``[IN-USE]``, ``[LOGIN-DELAY]``, ``[SYS/TEMP]``)."""


class AuthenticationError(FetchError):
    """The server refused the login name or password (``[AUTH]``, ``-ERR`` on PASS)."""


class TokenError(AuthenticationError):
    """No OAuth 2.0 access token could be had: the token endpoint refused the grant (a revoked or
    expired refresh token, a wrong client secret) or could not be reached.

    ``retry_later`` is True when the endpoint failed (down, slow, 5xx) rather than refused: the
    refresh token is still good, and the next run may succeed without a new sign-in.
    """

    def __init__(self, message: str, *, retry_later: bool = False) -> None:
        super().__init__(message)
        self.retry_later = retry_later


class SecurityError(FetchError):
    """A secure connection could not be made, so no password was sent.

    Raised for certificate and host-name failures and when ``Security.STARTTLS`` was asked for
    but the server does not offer or refuses STLS.
    """


class StoreError(MailtrackError, RuntimeError):
    """The record store failed; the operation was rolled back."""


class RecordNotFoundError(StoreError, LookupError):
    """No record has the given ID (kept as :attr:`record_id`)."""

    def __init__(self, record_id: int) -> None:
        super().__init__(record_id)
        self.record_id = record_id

    def __str__(self) -> str:
        return f"record #{self.record_id} does not exist"


class InterfaceNotFoundError(StoreError, LookupError):
    """No mail interface of that name is saved in the store (the name is kept as :attr:`name`).

    Args:
        name: the name looked for.
        reason: the message, when the default ("no mail interface named … is saved") does not fit.
    """

    def __init__(self, name: str, reason: str | None = None) -> None:
        super().__init__(name, reason)
        self.name = name
        self.reason = reason

    def __str__(self) -> str:
        return self.reason or f"no mail interface named {self.name!r} is saved"


class QuarantineNotFoundError(StoreError, LookupError):
    """No quarantined message has the given ID (kept as :attr:`quarantine_id`)."""

    def __init__(self, quarantine_id: int) -> None:
        super().__init__(quarantine_id)
        self.quarantine_id = quarantine_id

    def __str__(self) -> str:
        return f"quarantined message {self.quarantine_id} does not exist"


class AttachmentNotFoundError(StoreError, LookupError):
    """No stored attachment has the given ID (raised by ``get_attachment_content``; the ID is
    kept as :attr:`attachment_id`)."""

    def __init__(self, attachment_id: int) -> None:
        super().__init__(attachment_id)
        self.attachment_id = attachment_id

    def __str__(self) -> str:
        return f"attachment {self.attachment_id} does not exist"


class MessageRefusedError(StoreError):
    """The store refused one message, but works: other messages can still be committed.

    Raised by :meth:`~mailtrack.abc.RecordStore.commit`, ``commit_many`` and
    :meth:`~mailtrack.abc.RecordStore.quarantine` when the database refuses a statement for its
    size: larger than MariaDB/MySQL's ``max_allowed_packet``, than PostgreSQL's 1 GB per field,
    or than SQLite's length limit. Nothing was written. The importer leaves such a message on
    the server, counts it in ``RunReport.left_on_server``, names it in the run report's notes,
    and goes on with the next message; the message says which setting to change.
    """


class SchemaVersionError(StoreError):
    """The database schema was written by an unknown or newer version of mailtrack."""
