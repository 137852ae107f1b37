"""What the reader sees of a reply: the new text, with quoted history and signatures folded away.

:func:`folded_text` is computed at read time (:attr:`mailtrack.Detail.folded_text`); the stored
text stays exactly as sent. From the first of these on, the text is history:

* an attribution line that introduces a quote: "On … wrote:", "Am … schrieb …:",
  "Le … a écrit :", "El … escribió:" (also when a mail program wrapped it over two lines);
* a forwarded or Outlook-style header block: "-----Original Message-----" and its German,
  French and Spanish forms, or a "From:" line ("Von:", "De :", "De:") followed within four lines
  by "Sent:", "Date:", "Gesendet:", "Datum:", "Envoyé :", "Enviado:", "Fecha:";
* the signature delimiter "-- " (RFC 3676), when only a signature-sized tail follows.

Then ``>`` quotes at the end are folded too; quotes with answers below them (inline replies) stay,
as they give the answers their sense. When folding would leave nothing, the whole text is shown.
"""

from __future__ import annotations

import re

__all__ = ["folded_text"]

_ATTRIBUTION = re.compile(
    r"""^\s*(?:
        on\s.{1,300}?\swrote\s*:
      | am\s.{1,300}?\sschrieb\s.{0,200}?:
      | .{1,200}?\sschrieb\b.{0,200}?:
      | le\s.{1,300}?\sa\s+écrit\s*:
      | el\s.{1,300}?\sescribió\s*:
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original\s+message|ursprüngliche\s+nachricht|message\s+d'origine|mensaje\s+original"
    r"|forwarded\s+message|weitergeleitete\s+nachricht|message\s+transféré|mensaje\s+reenviado)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FROM_LINE = re.compile(r"^\s*\*?(?:from|von|de|da)\s*\*?\s*:\s*\S", re.IGNORECASE)
_SENT_LINE = re.compile(
    r"^\s*\*?(?:sent|date|gesendet|datum|envoyé|enviado|fecha|inviato)\s*\*?\s*:\s*\S", re.IGNORECASE
)
_SIGNATURE = re.compile(r"^-- ?$")
# A signature is short; a "-- " line followed by more is a line of dashes in the text.
_MAX_SIGNATURE_LINES = 15
# Hostile texts can be huge: history markers are looked for in the first lines only.
_MAX_LINES = 5000


def _history_starts(lines: list[str]) -> int | None:
    """The index of the first line of quoted history, or ``None``."""
    for index, line in enumerate(lines[:_MAX_LINES]):
        if _SEPARATOR.match(line):
            return index
        if _ATTRIBUTION.match(line):
            return index
        # Attribution wrapped over two lines: "On Tue, 3 May 2024 at 10:00, Ann Example" / "<ann@x> wrote:"
        if (
            index + 1 < len(lines)
            and _ATTRIBUTION.match(f"{line} {lines[index + 1]}")
            and lines[index + 1].strip()
        ):
            following = lines[index + 2 : index + 4]
            if any(next_line.startswith(">") for next_line in following) or not "".join(following).strip():
                return index
        if _FROM_LINE.match(line) and any(_SENT_LINE.match(later) for later in lines[index + 1 : index + 5]):
            return index
    return None


def _signature_starts(lines: list[str]) -> int | None:
    """The first "-- " line that only a signature-sized tail follows."""
    for index in range(max(0, len(lines) - _MAX_SIGNATURE_LINES - 1), len(lines)):
        if _SIGNATURE.match(lines[index]):
            return index
    return None


_RULE = re.compile(r"^\s*(?:_{5,}|-{5,}|={5,})\s*$")


def folded_text(text: str) -> str:
    """*text* without the quoted history and signature of a reply (see the module docstring).

    >>> folded_text("Fixed, thanks!\\n\\nOn Mon, 6 May 2024, Ann <ann@example.com> wrote:\\n> broken?\\n")
    'Fixed, thanks!'
    >>> folded_text("> a question?\\nan answer\\n-- \\nBob\\n")
    '> a question?\\nan answer'
    """
    lines = text.splitlines()
    cut = _history_starts(lines)
    if cut is not None:
        # Outlook draws a line above its header block.
        lines = lines[: cut - 1 if cut and _RULE.match(lines[cut - 1]) else cut]
    signature = _signature_starts(lines)
    if signature is not None:
        lines = lines[:signature]
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    folded = "\n".join(lines).strip("\n")
    return folded if folded.strip() else text
