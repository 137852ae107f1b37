"""Secrets taken out of text that a server (or anybody else) may have echoed back.

A server answering ``PASS`` with ``-ERR you said hunter2`` must not make mailtrack repeat the
password in a run report, an exception, the log or the CLI. :class:`Redactor` holds the secrets
a session sent (password, APOP digest, OAuth tokens) and replaces each of them in any text
before it is kept or shown: as sent, in another case, split by line breaks or spaces, base64
encoded (at any alignment inside a longer base64 text, standard or URL-safe alphabet) and hex
encoded. With ``pieces=True`` a part of a secret is taken out too (any :data:`PIECE` characters
of it in a row, as sent): a token endpoint or a server that quotes a truncated token.
"""

from __future__ import annotations

import base64
import re

__all__ = ["PIECE", "REDACTED", "Redactor", "redact"]

#: What stands where a secret was.
REDACTED = "[redacted]"

#: Base64 pieces shorter than this are not looked for (they would match by chance).
_MIN_ENCODED = 4
#: With ``pieces=True``, this many characters of a secret in a row are taken out wherever they are.
PIECE = 12


def _spread(text: str) -> str:
    """A pattern for *text* that also matches it with white space (a line break) between characters."""
    return r"\s*".join(re.escape(char) for char in text)


def _base64_cores(secret: bytes) -> list[str]:
    """The base64 characters that depend on *secret* alone, for each of the three alignments it
    may have inside a longer encoded text (``PLAIN``'s ``\\0login\\0password``, for one)."""
    cores: list[str] = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + secret).decode("ascii")
        start = -(-offset * 8 // 6)  # the first character made only of the secret's bits
        end = (8 * (offset + len(secret))) // 6  # the characters before the secret's bits run out
        core = encoded[start:end]
        if len(core) >= _MIN_ENCODED:
            cores += [core, core.translate(str.maketrans("+/", "-_"))]
    return cores


def _pieces(secret: str) -> list[str]:
    """A pattern for any :data:`PIECE` characters of *secret* in a row, and as many of its
    characters as follow (so that no tail of a quoted piece stays)."""
    if len(secret) <= PIECE:
        return []
    windows = sorted({secret[start : start + PIECE] for start in range(len(secret) - PIECE + 1)})
    alphabet = "".join(sorted(set(secret)))
    return [f"(?:{'|'.join(re.escape(window) for window in windows)})[{re.escape(alphabet)}]*"]


def _pattern(secrets: list[str], *, pieces: bool) -> re.Pattern[str] | None:
    plain: list[str] = []
    encoded: list[str] = []
    for secret in secrets:
        raw = secret.encode("utf-8")
        # Text is matched as latin-1 (each byte one character), so that it works on bytes too.
        plain += [_spread(raw.decode("latin-1")), _spread(raw.hex())]
        plain += _pieces(raw.decode("latin-1")) if pieces else []
        encoded += [_spread(core) for core in _base64_cores(raw)]
    if not plain:
        return None
    # Longest first, so that a secret containing another is taken out whole.
    alternatives = sorted(set(plain), key=len, reverse=True)
    case_sensitive = sorted(set(encoded), key=len, reverse=True)
    parts = [f"(?i:{'|'.join(alternatives)})", *case_sensitive]
    return re.compile("|".join(parts))


class Redactor:
    """The secrets of one session, taken out of whatever text comes back.

    Empty secrets are ignored. Adding a secret is cheap; the pattern is built when next used.
    With *pieces*, any :data:`PIECE` characters of a secret in a row are taken out too.
    """

    def __init__(self, secrets: list[str] | tuple[str, ...] = (), *, pieces: bool = False) -> None:
        self._secrets: list[str] = []
        self._pieces = pieces
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def add(self, secret: str) -> None:
        """Take *secret* out of every text from now on."""
        if secret and secret not in self._secrets:
            self._secrets.append(secret)
            self._pattern = None

    def text(self, text: str) -> str:
        """*text* with every secret replaced by :data:`REDACTED`."""
        if not self._secrets:
            return text
        latin = text.encode("utf-8", "surrogateescape").decode("latin-1")
        cleaned = self.latin1(latin)
        if cleaned is latin:
            return text
        return cleaned.encode("latin-1").decode("utf-8", "replace")

    def bytes(self, data: bytes) -> bytes:
        """*data* with every secret (as UTF-8 bytes) replaced by :data:`REDACTED`."""
        if not self._secrets:
            return data
        latin = data.decode("latin-1")
        cleaned = self.latin1(latin)
        return data if cleaned is latin else cleaned.encode("latin-1")

    def latin1(self, text: str) -> str:
        """*text*, bytes decoded as latin-1, with every secret replaced (the same object when
        none was found)."""
        if self._pattern is None:
            self._pattern = _pattern(self._secrets, pieces=self._pieces)
        pattern = self._pattern
        if pattern is None or pattern.search(text) is None:
            return text
        return pattern.sub(REDACTED, text)


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """*text* with each of *secrets* replaced by :data:`REDACTED` (see :class:`Redactor`)."""
    return Redactor(secrets).text(text)
