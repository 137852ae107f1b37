"""Record fields set by mail: keyword lines at the top of the text, and trusted header fields.

Off unless the interface's policy names :attr:`~mailtrack.ImportPolicy.keyword_fields`. Then:

* **Keyword lines** are read from the top of the message's text: ``Name: value`` lines, after
  any blank lines, up to the first line that is not one (a greeting, a blank line after them,
  a quote). Names are matched regardless of case; unknown names are passed over and stay in
  the text like everything else (the stored text is never changed). A line in a quoted reply
  (``> Priority: high``) or further down is never a keyword line.
* **Trusted header fields** ``X-Mailtrack-<Name>: value``, only when the policy says
  ``trusted_headers``; keyword lines win over them.

A value must be one of the field's allowed values (any case; stored as configured), or any
value of at most 200 characters on one line when the list is empty. Everything else is noted and
ignored. Whether the sender may set fields at all is for :class:`~.policy.Policy` to say.
"""

from __future__ import annotations

import re

from ..classifying import LOOP_HEADER
from ..config import ImportPolicy
from ..models import IncomingMessage

__all__ = ["fields_set_by"]

_LINE = re.compile(r"([A-Za-z][A-Za-z0-9 _-]{0,39}?)[ \t]*:[ \t]*(\S.*?)[ \t]*")
_HEADER_PREFIX = "x-mailtrack-"
_MAX_VALUE = 200
# Keyword lines are a handful at the top; a hostile text of a million "a: b" lines is not read.
_MAX_LINES = 40


def _value(allowed: tuple[str, ...], value: str) -> str | None:
    if not allowed:
        return value if len(value) <= _MAX_VALUE and value.isprintable() else None
    return next((choice for choice in allowed if choice.lower() == value.lower()), None)


def fields_set_by(message: IncomingMessage, policy: ImportPolicy) -> tuple[dict[str, str], list[str]]:
    """The fields *message* asks to set (name → value) and notes on what was ignored."""
    if not policy.keyword_fields:
        return {}, []
    names = {name.lower(): name for name in policy.keyword_fields}
    wanted: list[tuple[str, str, str]] = []  # (name, value, where)
    if policy.trusted_headers:
        for header, values in message.header_fields.items():
            key = header[len(_HEADER_PREFIX) :] if header.startswith(_HEADER_PREFIX) else None
            if key and header != LOOP_HEADER.lower() and key in names and values:
                wanted.append((names[key], values[0].strip(), f"the {header} header"))
    lines = message.text.lstrip("\n\r \t").splitlines()[:_MAX_LINES]
    for line in lines:
        hit = _LINE.fullmatch(line)
        if hit is None:
            break
        key = " ".join(hit.group(1).lower().split())
        if key in names:
            wanted.append((names[key], hit.group(2), "a keyword line"))
    fields: dict[str, str] = {}
    notes: list[str] = []
    for name, value, where in wanted:
        allowed = policy.keyword_fields[name]
        chosen = _value(allowed, value)
        if chosen is None:
            choices = (
                f"one of {', '.join(allowed)}" if allowed else f"one line of at most {_MAX_VALUE} characters"
            )
            notes.append(f"{where} sets {name} to {value[:80]!r}, which is not {choices}; ignored")
        else:
            fields[name] = chosen
    return fields, notes
