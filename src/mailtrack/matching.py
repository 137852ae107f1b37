"""Finding the record a message names: the number after ``#`` in the subject.

:class:`SubjectIdMatcher` is the default :class:`~mailtrack.abc.Matcher`. Only ASCII digits count
(full-width or Arabic-Indic digits name nothing), a subject naming two different records names none, and a
number too large for a record ID is ignored as a whole.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .exceptions import ConfigError

__all__ = ["SubjectIdMatcher"]

#: The largest record ID a store can hold (a signed 64-bit integer).
MAX_RECORD_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_RECORD_ID))


def _compile(pattern: object) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise ConfigError(f"pattern: must be a string, not {type(pattern).__name__}")
    try:
        # re.ASCII: \d means [0-9], so Unicode digits (Arabic-Indic, full-width) never match.
        regex = re.compile(pattern, re.ASCII)
    except re.error as exc:
        raise ConfigError(f"pattern: not a valid regular expression: {exc}") from None
    if regex.groups != 1:
        raise ConfigError(
            f"pattern: must have exactly one group (the record ID), {pattern!r} has {regex.groups}"
        )
    return regex


def _regex_for(instance: Any) -> re.Pattern[str]:
    return _compile(instance.pattern)


@attrs.frozen
class SubjectIdMatcher:
    """Finds the record ID in a subject line.

    Args:
        pattern: a regular expression with exactly one group that captures the ID. The default
            ``#(\\d+)`` finds ``42`` in ``Re: [#42] printer``; ``\\[ACME #([0-9]+)\\]`` would only
            accept IDs written as ``[ACME #42]``. It is compiled with :data:`re.ASCII`.

    Raises:
        ConfigError: the pattern is not a valid regular expression or does not have exactly one group.

    Example:
        >>> SubjectIdMatcher().match("Re: [#42] printer on fire")
        42
        >>> SubjectIdMatcher().match("#1 and #2") is None
        True
    """

    pattern: str = r"#(\d+)"
    _regex: re.Pattern[str] = attrs.field(
        init=False, repr=False, eq=False, default=attrs.Factory(_regex_for, takes_self=True)
    )

    def match(self, subject: str) -> int | None:
        """The one record ID *subject* names, or ``None``.

        ``None`` when the subject names no ID, two or more different IDs (ambiguous), or a
        number larger than a record ID can be. The same ID named twice counts once.
        """
        found: set[int] = set()
        for hit in self._regex.finditer(subject):
            digits = hit.group(1)
            if digits is None:
                continue
            # A custom pattern may capture more than digits; only plain ASCII digits are an ID.
            if not (digits.isascii() and digits.isdigit()):
                continue
            significant = digits.lstrip("0") or "0"
            # Checked on the text first: int() of thousands of digits is slow or refused.
            if len(significant) > _MAX_DIGITS or int(significant) > MAX_RECORD_ID:
                return None
            found.add(int(significant))
            if len(found) > 1:
                return None
        return found.pop() if found else None
