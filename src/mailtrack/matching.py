"""Finding the record a message names (the number after ``#`` in the subject), and titles.

:class:`SubjectIdMatcher` is the default :class:`~mailtrack.abc.Matcher`. Only ASCII digits count
(full-width or Arabic-Indic digits name nothing), a subject naming two different records names none, and a
number too large for a record ID is ignored as a whole.

:func:`title_from_subject` makes the title of a new record: reply and forward prefixes and the
record tags the matcher reads are removed, so that the title never names another record.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .abc import Matcher
from .exceptions import ConfigError
from .models import IncomingMessage

__all__ = ["NO_SUBJECT", "SubjectIdMatcher", "recipients", "title_from_subject"]

#: The largest record ID a store can hold (a signed 64-bit integer).
MAX_RECORD_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_RECORD_ID))

#: The title of a record whose subject is empty (or nothing but prefixes and tags).
NO_SUBJECT = "(no subject)"

# Re, Fwd, Fw (English), AW/WG (German), SV (Scandinavian), Antw (Dutch); with an optional
# counter as some clients write it ("Re[2]:", "Re(2):"), repeated, in any case.
_PREFIXES = re.compile(
    r"^(?:\s*(?:re|fwd?|aw|sv|wg|antw)\s*(?:\[[0-9]+\]|\([0-9]+\))?\s*:)+",
    re.IGNORECASE | re.ASCII,
)


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


def _bracketed(instance: Any) -> re.Pattern[str] | None:
    """A record tag: what the pattern reads, in square brackets with up to 40 other characters
    before it ("[#42]", "[ACME #42]"); ``None`` for a pattern that cannot be put inside others
    (global inline flags)."""
    regex: re.Pattern[str] = instance._regex
    try:
        return re.compile(rf"\[[^\[\]]{{0,40}}?(?:{regex.pattern})\]", regex.flags)
    except re.error:
        return None


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
    #: The tag template the matcher was made from (:meth:`for_tag`), or ``None``.
    tag: str | None = attrs.field(default=None, kw_only=True, repr=False)
    _regex: re.Pattern[str] = attrs.field(
        init=False, repr=False, eq=False, default=attrs.Factory(_regex_for, takes_self=True)
    )
    _tags: re.Pattern[str] | None = attrs.field(
        init=False, repr=False, eq=False, default=attrs.Factory(_bracketed, takes_self=True)
    )

    @classmethod
    def for_tag(cls, tag: str) -> SubjectIdMatcher:
        """The matcher that reads the record tag *tag* (``"[ACME #{id}]"``) and nothing else.

        The text around ``{id}`` is matched literally (any run of white space for a space);
        ``{id}`` stands for the digits. Every match is a tag (:meth:`without_tags` removes it).

        Raises:
            ConfigError: *tag* does not contain ``{id}`` exactly once.

        >>> SubjectIdMatcher.for_tag("[ACME #{id}]").match("Re: [ACME #42] printer, order #7")
        42
        """
        if not isinstance(tag, str) or tag.count("{id}") != 1:
            raise ConfigError(f"tag: must contain {{id}} exactly once, not {tag!r}")
        before, _, after = tag.partition("{id}")
        literal = [re.sub(r"(?:\\ )+", r"\\s+", re.escape(part)) for part in (before, after)]
        return cls(rf"{literal[0]}([0-9]+)(?![0-9]){literal[1]}", tag=tag)

    def format(self, record_id: int) -> str:
        """The tag naming *record_id* in a subject: the :attr:`tag` filled in, else ``[#ID]``.

        >>> SubjectIdMatcher.for_tag("[ACME #{id}]").format(42)
        '[ACME #42]'
        """
        return (self.tag or "[#{id}]").replace("{id}", str(int(record_id)))

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

    def without_tags(self, subject: str) -> str:
        """*subject* without the record tags this matcher reads, each replaced by a space.

        A tag is what the pattern finds inside square brackets, with up to 40 other characters
        before it (``[#42]``, ``[ACME #42]``), or a match that is itself in brackets (a pattern
        such as ``\\[ACME #([0-9]+)\\]``). A number outside brackets (``Order #5512``) stays.
        """
        if self._tags is not None:
            subject = self._tags.sub(" ", subject)
        return self._regex.sub(
            lambda hit: " " if self.tag is not None or _is_bracketed(hit.group(0)) else hit.group(0), subject
        )


def _is_bracketed(text: str) -> bool:
    return text.startswith("[") and text.endswith("]")


_DEFAULT_MATCHER = SubjectIdMatcher()


def title_from_subject(subject: str, matcher: Matcher | None = None) -> str:
    """The title a new record gets from a message's *subject*.

    Reply and forward prefixes are removed, and so are the record tags *matcher* reads (a
    :class:`SubjectIdMatcher`'s pattern; the default pattern for any other matcher): a new
    record must not keep another record's tag in its title, or the acknowledgement
    "[#43] [#42] …" would name two records, hence none. White space is collapsed.

    >>> title_from_subject("Re: FW: re[2]:  printer\\t on  fire ")
    'printer on fire'
    >>> title_from_subject("Re: [ACME #42] Re: printer")
    'printer'
    >>> title_from_subject("[ACME #42] printer", SubjectIdMatcher(r"\\[ACME #(\\d+)\\]"))
    'printer'
    >>> title_from_subject("Re:")
    '(no subject)'
    """
    tags = matcher if isinstance(matcher, SubjectIdMatcher) else _DEFAULT_MATCHER
    without_tags = tags.without_tags(_PREFIXES.sub("", subject))
    title = " ".join(_PREFIXES.sub("", without_tags.strip()).split())
    return title or NO_SUBJECT


# Hostile headers can hold thousands of addresses: the first few are looked at.
_MAX_RECIPIENTS = 50


def recipients(message: IncomingMessage) -> list[str]:
    """The addresses *message* was sent to, the envelope's first: Delivered-To and X-Original-To
    (what the mail server delivered to), then To and Cc; at most the first 50.

    Routing (:class:`~mailtrack.Route`) and reply tokens look at these.
    """
    found: list[str] = []
    for name in ("delivered-to", "x-original-to"):
        found.extend(
            value.strip().strip("<>").strip()
            for value in message.header_fields.get(name, ())[:_MAX_RECIPIENTS]
        )
    found.extend(person.address for person in (*message.to[:_MAX_RECIPIENTS], *message.cc[:_MAX_RECIPIENTS]))
    return found[:_MAX_RECIPIENTS]
