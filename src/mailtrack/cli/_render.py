"""How the commands show things: rich tables for people, JSON for scripts."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs
import click
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .._importing.tally import ON_SERVER, Place
from .._serde import unstructure
from .._terminal import json_safe, terminal_safe
from ..config import MailInterface, MailProtocol
from ..models import ConnectionCheck, Detail, QuarantinedMessage, Record, RunReport

__all__ = [
    "check_line",
    "interfaces_view",
    "print_json",
    "quarantine_panel",
    "quarantine_table",
    "record_view",
    "records_table",
    "run_summary",
    "run_table",
    "safe_text",
    "to_jsonable",
]

#: Fields holding bytes that JSON listings leave out (the sizes and digests are there).
_BYTES_LEFT_OUT = frozenset({"content", "raw"})


def to_jsonable(value: Any) -> Any:
    """Plain JSON data for models and configs: datetimes in ISO 8601, bytes left out, no secrets."""
    if isinstance(value, MailInterface):
        return unstructure(value)  # the configuration dump, which never holds the password
    if attrs.has(type(value)):
        return {
            field.name: to_jsonable(getattr(value, field.name))
            for field in attrs.fields(type(value))
            if not (field.name in _BYTES_LEFT_OUT and isinstance(getattr(value, field.name), bytes | None))
        }
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return None
    return value


def print_json(value: Any) -> None:
    """Print *value* as indented JSON, unstyled and unwrapped, so that scripts can parse the output.

    Characters a terminal would obey (DEL, C1 and bidi controls) are written as ``\\uXXXX``.
    """
    click.echo(json_safe(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)))


def safe_text(text: str, style: str = "") -> Text:
    """Untrusted *text* (from mail, a server, a store) as rich Text: terminal controls shown
    escaped, never read as rich markup."""
    return Text(terminal_safe(text), style=style)


def when(moment: datetime | None) -> str:
    """A datetime in the local time zone, to the minute."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "—"


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago *moment* was, for people (``just now``, ``12 s ago``, ``4 min ago``, ``3 h ago``)."""
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(timezone.utc)) - moment).total_seconds()
    if seconds < 2:
        return "just now"
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * length:
            return f"{int(seconds // length)} {unit} ago"
    return f"{int(seconds)} s ago"


def size(count: int | None) -> str:
    """A byte count for people (``812 B``, ``2.3 kB``, ``4.1 MB``)."""
    if count is None:
        return "—"
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _row(table: Table, *cells: str | Text) -> None:
    """Add a row; plain strings become terminal-safe Text, never read as rich markup."""
    table.add_row(*(cell if isinstance(cell, Text) else safe_text(cell) for cell in cells))


def _table(title: str | None, *columns: str, **options: Any) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold", **options)
    for column in columns:
        table.add_column(column)
    return table


def records_table(records: Sequence[Record], *, title: str | None = "Records") -> Table:
    """One line per record: ID, title, who opened it, its details and attachments, last change.

    The project is shown only when the records belong to more than one.
    """
    projects = len({record.project for record in records}) > 1
    columns = ["ID", *(["Project"] if projects else []), "Title", "From", "Details", "Files", "Updated"]
    table = _table(title, *columns)
    for column in table.columns:
        column.no_wrap = column.header not in {"Title", "Project"}
        if column.header in {"ID", "Details", "Files"}:
            column.justify = "right"
        elif column.header == "Title":
            column.min_width = 16
        elif column.header == "From":
            column.max_width = 16
            column.overflow = "ellipsis"
    for record in records:
        first = record.details[0] if record.details else None
        sender = first.sender if first else None
        _row(
            table,
            f"#{record.id}",
            *([record.project] if projects else []),
            record.title,
            (sender.name or sender.address) if sender else "—",
            str(len(record.details)),
            str(sum(len(detail.attachments) for detail in record.details)),
            when(record.updated_at),
        )
    return table


def _addresses(values: Iterable[object]) -> str:
    return ", ".join(str(value) for value in values)


#: Characters of a long line counted as one line of output when a text is cut (it is folded).
_FOLD_WIDTH = 76


def _shortened(text: str, max_lines: int | None) -> str:
    """*text*, cut after *max_lines* lines of output; a long line counts as the lines it folds into."""
    lines = text.strip().splitlines()
    rows = [max(1, -(-len(line) // _FOLD_WIDTH)) for line in lines]
    # Cutting off two or three lines would save nothing worth the "more lines" notice.
    if max_lines is None or sum(rows) <= max_lines + 3:
        return "\n".join(lines)
    kept: list[str] = []
    room = max_lines
    for line, count in zip(lines, rows, strict=True):
        if room <= 0:
            break
        kept.append(line if count <= room else line[: room * _FOLD_WIDTH].rstrip() + " …")
        room -= count
    return "\n".join([*kept, f"… ({sum(rows) - max_lines} more lines)"])


def _detail_view(number: int, detail: Detail, *, headers: bool, max_lines: int | None) -> RenderableType:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    _row(facts, "From", str(detail.sender) if detail.sender else "—")
    if detail.to:
        _row(facts, "To", _addresses(detail.to))
    if detail.cc:
        _row(facts, "Cc", _addresses(detail.cc))
    _row(facts, "Date", when(detail.sent_at))
    _row(facts, "Subject", detail.subject)
    _row(facts, "Message-ID", detail.message_id)
    kind = detail.message_class.value.replace("_", " ")
    _row(facts, "Came via", f"{detail.interface or '—'} ({kind} mail)")
    if detail.html is not None:
        _row(facts, "HTML", f"yes, {size(len(detail.html.encode()))} (shown here as its text part)")
    parts: list[RenderableType] = [facts, Text("")]
    parts.append(safe_text(_shortened(detail.text, max_lines) or "(no text)"))
    if detail.attachments:
        files = _table(None, "File", "Type", "Size", "SHA-256", "Inline")
        for attachment in detail.attachments:
            _row(
                files,
                attachment.filename,
                attachment.content_type,
                size(attachment.size),
                attachment.sha256[:12],
                f"cid:{attachment.content_id}" if attachment.disposition == "inline" else "",
            )
        parts += [Text(""), files]
    if detail.refused_attachments:
        refused = _table(None, "Refused file", "Type", "Size", "Why")
        for note in detail.refused_attachments:
            kept = "; the message is kept in the quarantine" if note.quarantined else ""
            _row(refused, note.filename, note.content_type, size(note.size), note.reason + kept)
        parts += [Text(""), refused]
    if detail.defects:
        noticed = _table(None, "Noticed while reading the mail (damaged or unusual input)")
        for defect in detail.defects:
            _row(noticed, defect)
        parts += [Text(""), noticed]
    if headers:
        parts += [Text(""), Panel(safe_text(detail.headers.rstrip()), title="Header", title_align="left")]
    # As wide as its content: a short mail is not padded to the terminal's full width.
    return Panel(Group(*parts), title=f"Detail {number}", title_align="left", expand=False)


def record_view(record: Record, *, headers: bool = False, max_lines: int | None = None) -> RenderableType:
    """A record with its fields and each detail (text, attachments, and the raw header on request).

    Args:
        record: The record, with its details.
        headers: Also show each detail's raw header block.
        max_lines: Cut each detail's text after this many lines (``None``: show all of it).
    """
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    _row(facts, "Project", record.project)
    _row(facts, "Opened", when(record.created_at))
    _row(facts, "Updated", when(record.updated_at))
    for name, value in record.fields.items():
        _row(facts, name, value)
    details = [
        _detail_view(number, detail, headers=headers, max_lines=max_lines)
        for number, detail in enumerate(record.details, 1)
    ]
    return Group(safe_text(f"#{record.id} {record.title}", style="bold"), facts, *details)


def _error_of(name: str, error: str | None) -> str:
    """*error* without a leading ``"<name>: "``: the interface's name is shown beside it already."""
    text = error or "unknown error"
    prefix = f"{name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


#: The run table's count columns (headers and RunReport attributes); with the last one, whose
#: header says where the messages stay (:class:`~mailtrack._importing.tally.Place`), they add up
#: to "Offered".
_RUN_COUNTS = (
    ("New", "created"),
    ("Follow-\nups", "updated"),
    ("Skipped\n(policy)", "skipped"),
    ("Already\nimported", "already_imported"),
    ("Quaran-\ntined", "quarantined"),
)


def run_table(
    reports: Sequence[RunReport], *, title: str | None = "Run report", kept: Place = ON_SERVER
) -> Table:
    """One line per interface: the messages the server offered and what became of each.

    The counts add up to "Offered": new records, follow-ups, skipped by policy, already
    imported, quarantined, and left where they were found, *kept* (on the server, or in the
    archive of an import: too large, quarantined before, or not reached). The errors: see
    :func:`run_summary`.
    """
    columns = (*_RUN_COUNTS, (kept.column, "left_on_server"))
    headers = [header for header, _ in columns]
    table = _table(title, "Interface", "Offered", *headers, "Result", pad_edge=False, collapse_padding=True)
    table.columns[0].overflow = "fold"  # a long name is broken, not cut off
    for column in table.columns[1:-1]:
        column.justify = "right"
    for report in reports:
        counts = [str(getattr(report, name)) for _, name in columns]
        _row(table, report.interface, str(report.offered), *counts, _result(report))
    return table


def _result(report: RunReport) -> Text:
    if report.busy:
        return Text("busy", style="yellow")
    return Text("ok", style="green") if report.ok else Text("failed", style="red")


def run_summary(
    reports: Sequence[RunReport], *, title: str | None = "Run report", kept: Place = ON_SERVER
) -> RenderableType:
    """The run table, then the error of each failed interface and the notes, each on lines of its own.

    Errors are whole sentences; in a table cell they would be cut into a narrow column. *kept*:
    where the messages not imported stay (as :func:`run_table`).
    """
    lines: list[RenderableType] = [run_table(reports, title=title, kept=kept)]
    lines += [
        safe_text(f"  {report.interface} skipped: {report.error}", style="yellow")
        if report.busy
        else safe_text(
            f"  {report.interface} failed: {_error_of(report.interface, report.error)}", style="red"
        )
        for report in reports
        if not report.ok
    ]
    lines += [safe_text(f"  {note}", style="yellow") for note in run_notes(reports)]
    return Group(*lines)


def run_notes(reports: Sequence[RunReport]) -> list[str]:
    """The notes of the reports, each preceded by its interface's name."""
    return [f"{report.interface}: {note}" for report in reports for note in report.notes]


def interfaces_view(rows: Sequence[tuple[MailInterface, str, RunReport | None]]) -> RenderableType:
    """The mail interfaces: each with its settings and the statistics of its last run.

    The last run is its time, then the messages it imported or "failed"; the error of a run that
    failed is printed in full below the table. Details go on second lines, so that the table
    still reads in 80 columns.
    """
    table = _table("Mail interfaces", "Name", "On", "Mailbox", "Project", "Last run")
    for column in table.columns:
        column.no_wrap = column.header in {"Name", "On", "Last run"}
        column.overflow = "fold"  # a long login or server name is broken, not cut off
    errors: list[RenderableType] = []
    for interface, source, last in rows:
        if last is None:
            last_run = Text("never ran", style="dim")
        elif last.ok:
            counts = f"{last.imported} imported" + (
                f", {last.quarantined} quarantined" if last.quarantined else ""
            )
            last_run = Text(f"{when(last.finished_at)}\n{age(last.finished_at)}\n{counts}")
        else:
            last_run = Text.assemble(
                f"{when(last.finished_at)}\n{age(last.finished_at)}\n", ("failed (see below)", "red")
            )
            error = _error_of(interface.name, last.error)
            errors.append(safe_text(f"  {interface.name}: the last run failed: {error}", style="red"))
        security = interface.security.value + (", leave copy" if interface.keeps_messages else "")
        if interface.protocol is MailProtocol.IMAP:
            security = f"imap {interface.folder}, {interface.security.value}, after import: " + (
                interface.after_import or interface.after_import_action
            )
        _row(
            table,
            interface.name + ("\n(file)" if source == "file" else ""),
            "yes" if interface.enabled else "no",
            "delivered (mailtrack deliver, import)"
            if interface.protocol is MailProtocol.DELIVER
            else f"{interface.login} @ {interface.server}:{interface.effective_port}\n{security}",
            interface.project,
            last_run,
        )
    return Group(table, *errors)


def check_line(check: ConnectionCheck, interface: MailInterface) -> Text:
    """The result of a connection test in plain words."""
    where = f"{interface.server}:{interface.effective_port}"
    if not check.ok:
        error = _error_of(check.interface, check.error)
        return Text.assemble(
            (terminal_safe(f"{check.interface}: "), "bold"),
            ("FAILED", "bold red"),
            terminal_safe(f" — {error}"),
        )
    if interface.protocol is MailProtocol.DELIVER:
        return Text.assemble(
            (terminal_safe(f"{check.interface}: "), "bold"),
            ("OK", "bold green"),
            " — no mailbox to connect to: its mail is handed over (mailtrack deliver, mailtrack import)",
        )
    secured = f"over {check.tls_version}" if check.tls_version else "without encryption"
    waiting = ""
    if check.message_count is not None and interface.protocol is MailProtocol.IMAP:
        plural = "" if check.message_count == 1 else "s"
        offered = [name for name in ("IDLE", "UIDPLUS", "MOVE", "CONDSTORE") if name in check.capabilities]
        waiting = (
            f"; {check.message_count} message{plural} in folder {interface.folder!r}; the server offers "
            + (", ".join(offered) or "none of IDLE, UIDPLUS, MOVE, CONDSTORE")
        )
    elif check.message_count is not None:
        plural = "" if check.message_count == 1 else "s"
        waiting = f"; {check.message_count} message{plural} waiting ({size(check.mailbox_bytes)})"
    text = Text.assemble(
        (terminal_safe(f"{check.interface}: "), "bold"),
        ("OK", "bold green"),
        terminal_safe(f" — logged in to {where} {secured}{waiting}"),
    )
    if check.account is not None or check.token_expires_at is not None:
        expires = (
            f"; the access token expires {when(check.token_expires_at)}" if check.token_expires_at else ""
        )
        text.append(f"\n  OAuth 2.0: signed in as {check.account or interface.login}{expires}")
    for warning in check.warnings:
        text.append(terminal_safe(f"\n  note: {warning}"), style="yellow")
    return text


def quarantine_table(items: Sequence[QuarantinedMessage]) -> Table:
    """One line per quarantined message: where it came from, how often it failed, and why."""
    table = _table("Quarantine", "ID", "Interface", "Attempts", "Since", "Error")
    for column in table.columns[:4]:
        column.no_wrap = True
    table.columns[4].min_width = 24
    for item in items:
        _row(table, str(item.id), item.interface, str(item.attempts), when(item.quarantined_at), item.error)
    return table


def quarantine_panel(item: QuarantinedMessage, *, header_only: bool = True) -> RenderableType:
    """A quarantined message: its facts and the start of its raw text."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    _row(facts, "Interface", item.interface)
    _row(facts, "UID", item.uid)
    _row(facts, "Size", size(len(item.raw)))
    _row(facts, "Attempts", str(item.attempts))
    _row(facts, "Since", when(item.quarantined_at))
    _row(facts, "Error", item.error)
    raw = item.raw.decode("latin-1")
    if header_only:
        raw = raw.replace("\r\n", "\n").split("\n\n", 1)[0]
    return Group(
        Text(f"Quarantined message {item.id}", style="bold"),
        facts,
        Panel(safe_text(raw.rstrip()), title="Header" if header_only else "Raw message", title_align="left"),
    )
