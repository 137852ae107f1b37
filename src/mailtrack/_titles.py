"""Record titles from subject lines: reply and forward prefixes and record tags removed."""

from __future__ import annotations

import re

__all__ = ["NO_SUBJECT", "title_from_subject"]

NO_SUBJECT = "(no subject)"

# Re, Fwd, Fw (English), AW/WG (German), SV (Scandinavian), Antw (Dutch); with an optional
# counter as some clients write it ("Re[2]:", "Re(2):"), repeated, in any case.
_PREFIXES = re.compile(
    r"^(?:\s*(?:re|fwd?|aw|sv|wg|antw)\s*(?:\[[0-9]+\]|\([0-9]+\))?\s*:)+",
    re.IGNORECASE | re.ASCII,
)

# A record tag such as "[#42]" or "[ACME #42]". A new record must not keep another record's tag
# in its title: the acknowledgement "[#43] [#42] …" would name two records, hence none.
_RECORD_TAGS = re.compile(r"\[[^\[\]#]{0,40}#[0-9]+\]", re.ASCII)


def title_from_subject(subject: str) -> str:
    """The title a new record gets from a message's *subject*.

    >>> title_from_subject("Re: FW: re[2]:  printer\\t on  fire ")
    'printer on fire'
    >>> title_from_subject("Re: [ACME #42] Re: printer")
    'printer'
    >>> title_from_subject("Re:")
    '(no subject)'
    """
    without_tags = _RECORD_TAGS.sub(" ", _PREFIXES.sub("", subject))
    title = " ".join(_PREFIXES.sub("", without_tags.strip()).split())
    return title or NO_SUBJECT
