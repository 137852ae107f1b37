"""HTML of a message made safe to show inside a web page.

The store keeps a detail's HTML exactly as it was sent (:attr:`Detail.html`); these functions
return a *new*, sanitised string for display. They use `nh3 <https://nh3.readthedocs.io>`_
(the ammonia sanitiser), installed with the ``html`` extra: ``pip install 'mailtrack[html]'``.
``import mailtrack`` works without it; only calling these functions needs it.

The rules are in :func:`sanitize_html`.

Serve the page with a Content-Security-Policy as well (``img-src 'self' data:``,
``script-src`` without ``'unsafe-inline'``): sanitising is one layer, not the only one.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Sequence

from .models import Attachment, Detail

__all__ = ["display_html", "sanitize_html"]

_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "address", "area", "article", "aside", "b", "bdi", "bdo", "big",
        "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "data", "dd",
        "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins", "kbd",
        "li", "main", "map", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "rtc", "ruby", "s",
        "samp", "section", "small", "span", "strike", "strong", "sub", "summary", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip

_CLEAN_CONTENT_TAGS = frozenset(
    {"script", "style", "title", "template", "noscript", "iframe", "object", "embed", "applet", "select"}
)

_TABLE_CELL = frozenset({"align", "valign", "bgcolor", "width", "height", "nowrap", "colspan", "rowspan"})
_TABLE_ROW = frozenset({"align", "valign", "bgcolor", "char", "charoff"})
_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": frozenset({"style", "dir", "lang", "title", "align"}),
    "a": frozenset({"href", "hreflang"}),
    "area": frozenset({"href", "alt", "shape", "coords"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "del": frozenset({"cite", "datetime"}),
    "ins": frozenset({"cite", "datetime"}),
    "time": frozenset({"datetime"}),
    "font": frozenset({"color", "face", "size"}),
    "img": frozenset({"src", "alt", "width", "height", "border", "hspace", "vspace"}),
    "hr": frozenset({"width", "size", "noshade", "color"}),
    "ol": frozenset({"start", "type", "reversed"}),
    "ul": frozenset({"type"}),
    "li": frozenset({"value", "type"}),
    "table": frozenset(
        {"bgcolor", "border", "cellpadding", "cellspacing", "width", "height", "summary", "frame", "rules"}
    ),
    "col": frozenset({"span", "width", "valign"}),
    "colgroup": frozenset({"span", "width", "valign"}),
    "td": _TABLE_CELL | {"headers", "abbr", "scope"},
    "th": _TABLE_CELL | {"headers", "abbr", "scope"},
    "tr": _TABLE_ROW,
    "tbody": _TABLE_ROW,
    "thead": _TABLE_ROW,
    "tfoot": _TABLE_ROW,
    "bdo": frozenset({"dir"}),
    "details": frozenset({"open"}),
}

# Properties that format text, boxes and tables. Nothing that takes a URL or positions the
# element outside its box is in the list.
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-variant", "font-weight", "line-height", "letter-spacing", "word-spacing",
        "text-align", "text-decoration", "text-decoration-color", "text-decoration-line",
        "text-decoration-style", "text-indent", "text-transform", "white-space", "word-break",
        "word-wrap", "overflow-wrap", "vertical-align", "direction", "unicode-bidi",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "border", "border-top", "border-right", "border-bottom", "border-left",
        "border-color", "border-style", "border-width", "border-radius",
        "border-top-color", "border-right-color", "border-bottom-color", "border-left-color",
        "border-top-style", "border-right-style", "border-bottom-style", "border-left-style",
        "border-top-width", "border-right-width", "border-bottom-width", "border-left-width",
        "border-collapse", "border-spacing", "caption-side", "empty-cells", "table-layout",
        "width", "height", "min-width", "min-height", "max-width", "max-height",
        "display", "float", "clear", "overflow", "overflow-x", "overflow-y", "visibility",
        "list-style-type", "list-style-position", "opacity",
    }
)  # fmt: skip

_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
_LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# What nh3 lets through to the attribute filter, which decides per attribute.
_PASSED_SCHEMES = _LINK_SCHEMES | {"cid", "data"}
_RASTER_DATA_URL = re.compile(r"data:image/(?:png|gif|jpeg|jpg|pjpeg|webp|bmp)[;,]", re.IGNORECASE)
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers drop tabs and line breaks anywhere in a URL and trim control characters and spaces.
_URL_IGNORED = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))
_UNSAFE_CSS = ("url(", "expression(", "javascript:", "vbscript:", "\\", "image-set(", "@import", "behavior")


def _normalised_url(value: str) -> str:
    return _URL_IGNORED.sub("", value).strip(_C0_AND_SPACE)


def _scheme(url: str) -> str | None:
    """The lower-case scheme of *url*, or ``None`` for a relative URL."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


def _safe_style(value: str) -> str | None:
    """*value* with only allowed properties and nothing that could load or run something.

    nh3 filters the properties again with its own CSS parser; doing it here too drops a
    ``style`` attribute that would be left empty.
    """
    kept = [
        declaration.strip()
        for declaration in value.split(";")
        if declaration.partition(":")[0].strip().lower() in _STYLE_PROPERTIES
        and not any(marker in declaration.lower() for marker in _UNSAFE_CSS)
    ]
    return "; ".join(kept) or None


def _content_id(url: str) -> str:
    # RFC 2392: "cid:" followed by the %-encoded Content-ID; some senders keep the brackets.
    return urllib.parse.unquote(url[4:]).strip().strip("<>").strip()


def _attachment_for(content_id: str, attachments: Sequence[Attachment]) -> Attachment | None:
    with_id = [attachment for attachment in attachments if attachment.content_id]
    exact = next((attachment for attachment in with_id if attachment.content_id == content_id), None)
    if exact is not None:
        return exact
    folded = content_id.casefold()
    return next((a for a in with_id if a.content_id is not None and a.content_id.casefold() == folded), None)


def _mapped_cid(
    url: str, attachments: Sequence[Attachment], cid_url: Callable[[Attachment], str] | None
) -> str | None:
    if cid_url is None:
        return None
    attachment = _attachment_for(_content_id(url), attachments)
    if attachment is None:
        return None
    mapped = cid_url(attachment)
    # The host's URL is not checked again by nh3: accept only what cannot run.
    if _scheme(_normalised_url(mapped)) not in {None, "http", "https"}:
        return None
    return mapped


def _url_filter(
    attachments: Sequence[Attachment], cid_url: Callable[[Attachment], str] | None
) -> Callable[[str, str, str], str | None]:
    def check(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return _safe_style(value)
        if attribute not in _URL_ATTRIBUTES:
            return value
        url = _normalised_url(value)
        scheme = _scheme(url)
        if scheme == "cid" and attribute in {"src", "href"}:
            return _mapped_cid(url, attachments, cid_url)
        if attribute == "src":
            # Images never come from the network (tracking pixels) or from the host page's site.
            return url if tag == "img" and _RASTER_DATA_URL.match(url) else None
        return url if scheme in _LINK_SCHEMES else None

    return check


def sanitize_html(
    html: str,
    attachments: Sequence[Attachment] = (),
    *,
    cid_url: Callable[[Attachment], str] | None = None,
    link_target: str | None = "_blank",
) -> str:
    """A copy of *html* that is safe to put into a web page: no scripts, no tracking images.

    *html* itself is not changed (the store keeps the original).

    What the sanitised HTML keeps and drops:

    * **Kept:** text, and the tags and attributes that format mail: paragraphs, headings, lists,
      tables (with ``bgcolor``, ``cellpadding`` …), ``<font>``, ``<img>`` with ``alt``, links.
    * **Dropped with their content:** ``<script>``, ``<style>``, ``<title>``, ``<template>``,
      ``<noscript>``, ``<iframe>``, ``<object>``, ``<embed>``, ``<applet>``, ``<select>``.
      A ``<style>`` block would restyle the whole page around the mail, so it goes; mail that
      needs it for its looks should be shown in a sandboxed ``<iframe srcdoc>`` instead.
    * **Dropped, text kept:** every other tag outside the allowlist: ``<form>``, ``<input>``,
      ``<button>``, ``<meta>``, ``<base>``, ``<link>``, ``<svg>``, ``<math>`` and unknown tags.
    * **Attributes:** only an allowlist; every event handler (``on*``), ``id``, ``name`` and
      ``class`` are dropped (they could clash with the page around the mail), and so are
      ``srcset``, ``background`` and ``target`` as sent.
    * **Inline styles** are kept, limited to properties that format text, boxes and tables;
      properties that load something (``background``, ``background-image``, ``list-style``,
      ``cursor``, ``content``, ``border-image`` …) or lift the mail out of its box (``position``,
      ``z-index``) are dropped, and so is any declaration containing ``url(``, ``expression(``,
      ``javascript:`` or a CSS escape.
    * **Links** (``href``): only ``http``, ``https``, ``mailto`` and ``tel`` stay; ``javascript:``,
      ``vbscript:``, ``data:``, relative and protocol-relative URLs are removed. Every link gets
      ``rel="noopener noreferrer nofollow"`` and, by default, ``target="_blank"``.
    * **Images** (``src``): nothing is loaded from the network, so no tracking pixel fires: remote
      (``http``, ``https``) and relative sources are removed, the ``<img>`` and its ``alt`` text stay.
      ``cid:`` references to the message's own attachments become the URL that ``cid_url`` gives
      for the attachment (without ``cid_url``, or for an unknown Content-ID, the source is removed).
      ``data:`` sources stay only for raster images (PNG, GIF, JPEG, WebP, BMP), which a browser
      never runs; ``data:image/svg+xml`` and every other ``data:`` type are removed.

    Args:
        html: The HTML of a message, as sent.
        attachments: The message's attachments, for ``cid:`` references.
        cid_url: Gives the URL under which the host application serves an attachment
            (e.g. ``lambda a: f"/attachments/{a.id}"``); it must be an ``http(s)`` or a
            relative URL. Without it, ``cid:`` images lose their source.
        link_target: The ``target`` every link gets (``None``: none, links open in place).

    Returns:
        The sanitised HTML fragment.

    Raises:
        ImportError: nh3 is not installed (``pip install 'mailtrack[html]'``).

    Example:
        >>> from mailtrack import sanitize_html
        >>> sanitize_html('<p onclick="steal()">Hi <img src="https://t.example/p.gif" alt="logo"></p>')
        '<p>Hi <img alt="logo"></p>'
    """
    try:
        import nh3
    except ImportError as exc:
        raise ImportError(
            "showing HTML mail safely needs the nh3 package: pip install 'mailtrack[html]'"
        ) from exc
    return nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT_TAGS),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=_url_filter(attachments, cid_url),
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes=set(_PASSED_SCHEMES),
        filter_style_properties=set(_STYLE_PROPERTIES),
        set_tag_attribute_values=(
            {"a": {"target": link_target}, "area": {"target": link_target}} if link_target else None
        ),
    )


def display_html(
    detail: Detail,
    *,
    cid_url: Callable[[Attachment], str] | None = None,
    link_target: str | None = "_blank",
) -> str | None:
    """The detail's HTML, sanitised for display with its own attachments for ``cid:`` images.

    Args:
        detail: A detail from the store (its :attr:`~Detail.html` is not changed).
        cid_url: See :func:`sanitize_html`.
        link_target: See :func:`sanitize_html`.

    Returns:
        The sanitised HTML, or ``None`` when the message had no HTML part.

    Raises:
        ImportError: nh3 is not installed (``pip install 'mailtrack[html]'``).
    """
    if detail.html is None:
        return None
    return sanitize_html(detail.html, detail.attachments, cid_url=cid_url, link_target=link_target)
