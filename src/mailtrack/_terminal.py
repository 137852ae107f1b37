"""Untrusted text made safe for a terminal (and for JSON that may end up on one).

Text from mail or from a server may hold escape sequences that a terminal obeys: OSC 52 writes
the clipboard, OSC 8 hides a link behind harmless words, CSI 6n makes the terminal type a reply,
C1 controls (U+0080 to U+009F) act like ESC sequences on many terminals, and bidi controls
(U+202E …) show ``Invoice \\u202efdp.exe`` as ``Invoice exe.pdf``. :func:`terminal_safe` shows
each such character visibly escaped (``\\x1b``, ``\\u202e``) and keeps everything else, tab and
newline included; :func:`json_safe` does the same for JSON text with JSON's own escapes.

Every output path of the CLI runs mail and server text through these; the web pages and the
OAuth error texts use them too.
"""

from __future__ import annotations

import logging
import re

__all__ = ["UNSAFE_CHARACTERS", "TerminalSafeFormatter", "json_safe", "terminal_safe"]

#: C0 controls but tab and newline, DEL, C1 controls, and the bidi controls (embeddings,
#: overrides, isolates, marks, the Arabic letter mark).
UNSAFE_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_safe(text: str) -> str:
    """*text* with every character a terminal would obey shown escaped (``\\x1b``, ``\\u202e``).

    A CRLF line end becomes a newline; a lone CR is escaped (it would let a line overwrite
    itself). Tabs and newlines stay. A backslash is left as it is, so the result is for showing,
    not for parsing back.
    """
    return UNSAFE_CHARACTERS.sub(_escaped, text.replace("\r\n", "\n"))


def json_safe(dumped: str) -> str:
    """JSON text (as :func:`json.dumps` wrote it) with the characters :func:`terminal_safe`
    escapes written as ``\\uXXXX``; the JSON still decodes to the same values.

    :func:`json.dumps` escapes C0 controls itself; DEL, C1 and the bidi controls it leaves raw
    when ``ensure_ascii`` is off. They can only stand inside JSON strings, where ``\\uXXXX``
    means the same character.
    """
    return UNSAFE_CHARACTERS.sub(_json_escaped, dumped)


class TerminalSafeFormatter(logging.Formatter):
    """A logging formatter for a terminal: the whole record (message, arguments, traceback)
    with terminal controls escaped, since log messages quote mail and servers."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))
