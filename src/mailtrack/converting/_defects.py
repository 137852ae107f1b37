"""The problems found in one message, in plain words, for :attr:`IncomingMessage.defects`."""

from __future__ import annotations

from ._mailtext import one_line

__all__ = ["MAX_DEFECTS", "Defects"]

#: Most problems kept per message; the rest are counted in one last line.
MAX_DEFECTS = 50


class Defects:
    """Problems found, in plain words, in order, each once, at most :data:`MAX_DEFECTS`."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def add(self, text: str) -> None:
        self._seen.setdefault(one_line(text), None)

    def result(self) -> tuple[str, ...]:
        items = list(self._seen)
        if len(items) > MAX_DEFECTS:
            rest = len(items) - MAX_DEFECTS + 1
            items = [*items[: MAX_DEFECTS - 1], f"... and {rest} more problems"]
        return tuple(items)
