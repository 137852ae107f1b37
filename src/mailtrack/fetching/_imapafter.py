"""After the import: ``after_import`` (delete, move, flag) applied to the committed messages, and
the LOGOUT, in as few round trips as is safe.

The commands go out in one window, ahead of their responses (RFC 3501 5.5: the server runs them in
the order received), and the responses are read in order; the first refusal ends the session with
an error. Sending ahead is safe because every command acts only on messages the store committed,
all of which were asked to be deleted, moved or flagged: a ``UID EXPUNGE`` that follows a refused
``UID STORE \\Deleted`` removes only those of its messages that the STORE did mark. The one
exception is COPY, where the deletion that follows must wait for the copy to be confirmed: a
refused COPY leaves its messages in place.
"""

from __future__ import annotations

import contextlib

import attrs

from ..exceptions import MailtrackError
from ._errors import WireError
from ._imapsession import IMAPSession
from ._imapwire import mailbox_name, uid_set
from ._pipeline import Pipeline, Window

__all__ = ["UIDS_PER_COMMAND", "apply_and_log_out"]

#: Most UIDs named in one STORE, COPY, MOVE or EXPUNGE command (keeps the command line short).
UIDS_PER_COMMAND = 500
#: Most of those commands on their way ahead of the responses (their responses are short).
WINDOW = Window(commands=16)


@attrs.define
class _Step:
    command: str
    what: str
    tag: bytes = b""


def apply_and_log_out(session: IMAPSession, action: str, uids: list[int], move_to: str | None) -> None:
    """Do *action* (``delete``, ``move``, ``flag``) to the messages *uids*, make it final, and log
    out (a failed LOGOUT is no error: all was done).

    Raises:
        FetchError: the server refused a command or said ``BYE``; the commands before it were made,
            those after it may have been.
        OSError, WireError: the connection failed; any of the commands may have been made.
    """
    chunks = [
        uid_set(uids[start : start + UIDS_PER_COMMAND]) for start in range(0, len(uids), UIDS_PER_COMMAND)
    ]
    if action == "flag":
        groups = [
            [
                _Step(f"UID STORE {chunk} +FLAGS.SILENT (\\Seen)", "marking the imported messages read")
                for chunk in chunks
            ]
        ]
    elif action == "move" and move_to is not None and "MOVE" in session.capabilities:
        target = mailbox_name(move_to)
        groups = [[_Step(f"UID MOVE {chunk} {target}", f"MOVE to folder {move_to!r}") for chunk in chunks]]
    elif action == "move" and move_to is not None:
        target = mailbox_name(move_to)
        groups = []
        for chunk in chunks:
            groups.append([_Step(f"UID COPY {chunk} {target}", f"COPY to folder {move_to!r}")])
            groups.append(_deletion(session, chunk))
    else:
        groups = [[step for chunk in chunks for step in _deletion(session, chunk)]]
    logout = _Step("LOGOUT", "LOGOUT")
    if not groups:
        groups.append([])
    groups[-1].append(logout)
    for group in groups:
        _run(session, group, logout)


def _deletion(session: IMAPSession, chunk: str) -> list[_Step]:
    steps = [_Step(f"UID STORE {chunk} +FLAGS.SILENT (\\Deleted)", "marking the imported messages deleted")]
    if "UIDPLUS" in session.capabilities:
        steps.append(_Step(f"UID EXPUNGE {chunk}", "UID EXPUNGE of the imported messages"))
    else:
        # Without UIDPLUS, EXPUNGE also removes what other clients marked \Deleted (as they asked).
        steps.append(_Step("EXPUNGE", "EXPUNGE of the imported messages"))
    return steps


def _run(session: IMAPSession, steps: list[_Step], logout: _Step) -> None:
    def command(step: _Step) -> str:
        step.tag = session.next_tag()
        return f"{step.tag.decode('ascii')} {step.command}"

    def read(step: _Step) -> None:
        if step is logout:
            with contextlib.suppress(OSError, WireError, MailtrackError):  # all is done; LOGOUT is politeness
                session.logged_out(step.tag)
            return
        session.give(4 * session.interface.timeout)
        session.finish(step.tag, step.what)

    for _step in Pipeline(session.wire, steps, command=command, read=read, window=WINDOW):
        pass
