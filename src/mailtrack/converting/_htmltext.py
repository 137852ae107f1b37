"""Plain text for mail that has only HTML: what the stored ``text`` of such a message is.

Made with the standard library's :class:`html.parser.HTMLParser` (a tolerant tokenizer, not
regular expressions), so that the stored text does not change with the extras installed.
Paragraphs, headings, list items, table rows and ``<br>`` become line breaks; links keep their
target as text ("label <https://…>") when it differs from the label; ``<script>``, ``<style>``,
``<head>`` and ``<template>`` are left out; entities are decoded; ``<pre>`` keeps its spacing.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
        "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
_HIDDEN = frozenset({"script", "style", "head", "template", "title", "noscript"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# A link target worth keeping: a web or mail address, not javascript: or data:.
_KEPT_SCHEMES = re.compile(r"^(?:https?|mailto|ftp):", re.IGNORECASE)


class _TextMaker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._links: list[tuple[str, int]] = []

    def _newline(self, count: int = 1) -> None:
        self.parts.append("\n" * count)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self._newline()
        elif tag in _BLOCKS:
            self._newline(
                2 if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table") else 1
            )
            if tag == "li":
                self.parts.append("- ")
            if tag == "pre":
                self._pre += 1
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self._links.append((href.strip(), len(self.parts)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.parts.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS and tag != "li":  # the next item starts its own line
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self._newline(
                2 if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table") else 1
            )
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = " ".join("".join(self.parts[start:]).split())
            if _KEPT_SCHEMES.match(href) and href.removeprefix("mailto:") not in (label, f"<{label}>"):
                self.parts.append(f" <{href}>" if label else href)

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.parts.append(data if self._pre else _SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """The readable text of *html*, with line breaks where the blocks were.

    >>> html_to_text('<p>Status: <b>all green</b></p><p>See <a href="https://x.example/s">the page</a>.</p>')
    'Status: all green\\n\\nSee the page <https://x.example/s>.'
    """
    maker = _TextMaker()
    maker.feed(html)
    maker.close()
    lines = [line.strip(" ") for line in "".join(maker.parts).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
