"""The connection check of an IMAP interface (the wizard's "test the connection")."""

from __future__ import annotations

import contextlib

from ..auth._tokens import AccessToken
from ..config import MailInterface
from ..exceptions import MailtrackError
from ..models import ConnectionCheck
from ._credentials import Credentials, HostTokens, clear_text_warning
from ._errors import WireError
from ._imapauth import log_in
from ._imapsession import IMAPSession
from ._session import translate

__all__ = ["check"]


def check(interface: MailInterface, token_source: HostTokens | None = None) -> ConnectionCheck:
    """Log in, look at the folder and at the folder of ``move:FOLDER``, log out; see
    :meth:`mailtrack.fetching.IMAPFetcher.check`."""
    warnings = list(filter(None, [clear_text_warning(interface, token_source)]))
    session: IMAPSession | None = None
    token: AccessToken | None = None
    count: int | None = None
    tls_version: str | None = None
    error: str | None = None
    try:
        credentials = Credentials.read(interface, token_source)
        session = IMAPSession.connect(interface)
        tls_version = session.wire.tls_version
        session.give(4 * interface.timeout)
        token = log_in(session, credentials)
        session.select(interface.folder, read_only=True)
        count = session.exists
        move_to = interface.move_to
        if move_to is not None and not session.folder_exists(move_to):
            error = (
                f"the folder {move_to!r} that after_import moves the imported messages to does not "
                f"exist on the server; create it, or change after_import"
            )
        with contextlib.suppress(OSError, WireError, MailtrackError):  # all was learned
            session.logout()
    except MailtrackError as exc:
        error = str(exc)
    except (OSError, WireError) as exc:
        error = str(translate(interface, exc))
    finally:
        if session is not None:
            session.wire.close()
    capabilities = session.capabilities if session is not None else set()
    if error is None:
        warnings.extend(_warnings(interface, capabilities))
    if session is not None:
        warnings.extend(f"the server says: {alert}" for alert in session.alerts)
    return ConnectionCheck(
        interface=interface.name,
        ok=error is None,
        error=error,
        message_count=count,
        capabilities=tuple(sorted(capabilities)),
        tls_version=tls_version,
        warnings=tuple(warnings),
        account=token.account if token is not None else None,
        token_expires_at=token.expires_at if token is not None else None,
    )


def _warnings(interface: MailInterface, capabilities: set[str]) -> list[str]:
    warnings: list[str] = []
    action = interface.after_import_action
    if "IDLE" not in capabilities:
        warnings.append(
            "the server does not offer IDLE: mailtrack run --watch polls this mailbox at --every "
            "instead of hearing of new mail at once"
        )
    if action in ("delete", "move") and "UIDPLUS" not in capabilities:
        warnings.append(
            "the server does not offer UIDPLUS: deleting the imported messages ends with EXPUNGE, "
            "which also removes the messages other mail programs marked as deleted in this folder"
        )
    if action == "move" and "MOVE" not in capabilities:
        warnings.append(
            "the server does not offer MOVE: imported messages are copied to the folder and then "
            "deleted (a connection lost in between can leave a second copy there)"
        )
    return warnings
