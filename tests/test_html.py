"""Tests for sanitize_html / display_html (HTML mail made safe for display) and Attachment.active_content."""

from __future__ import annotations

import html.parser
import importlib.util
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mailtrack
from mailtrack import Attachment, Detail, EmailAddress, display_html, sanitize_html

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nh3") is None, reason="the html extra (nh3) is not installed"
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LOGO = Attachment(filename="logo.png", content_type="image/png", content_id="logo.1@mail.example", id=7)
CHART = Attachment(filename="chart.gif", content_type="image/gif", content_id="Chart%1@x", id=8)


def attachment_url(attachment: Attachment) -> str:
    return f"/attachments/{attachment.id}"


# OWASP-style payloads: none of what they carry may survive.
XSS_PAYLOADS = [
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param("<SCRIPT SRC=https://evil.example/x.js></SCRIPT>", id="script-src-upper"),
    pytest.param("<ScRiPt>alert(1)</sCrIpT>", id="script-mixed-case"),
    pytest.param("<script>alert(1)", id="script-unclosed"),
    pytest.param('<img src=x onerror="alert(1)">', id="img-onerror"),
    pytest.param("<IMG SRC=x OnError=alert(1)>", id="img-onerror-upper"),
    pytest.param('<a href="javascript:alert(1)">click</a>', id="a-javascript"),
    pytest.param('<a href="JaVaScRiPt:alert(1)">click</a>', id="a-javascript-case"),
    pytest.param('<a href="jav&#x61;script:alert(1)">click</a>', id="a-javascript-entity"),
    pytest.param('<a href="jav&#97;script&colon;alert(1)">click</a>', id="a-javascript-entities"),
    pytest.param('<a href="java\tscript:alert(1)">click</a>', id="a-javascript-tab"),
    pytest.param('<a href=" &#14; javascript:alert(1)">click</a>', id="a-javascript-leading-control"),
    pytest.param('<a href="vbscript:msgbox(1)">click</a>', id="a-vbscript"),
    pytest.param('<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>', id="a-data"),
    pytest.param("<svg onload=alert(1)><circle r=1 /></svg>", id="svg-onload"),
    pytest.param("<svg><script>alert(1)</script></svg>", id="svg-script"),
    pytest.param('<iframe src="https://evil.example/"></iframe>', id="iframe"),
    pytest.param('<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>', id="iframe-srcdoc"),
    pytest.param('<object data="https://evil.example/x.swf"></object>', id="object"),
    pytest.param('<embed src="https://evil.example/x.swf">', id="embed"),
    pytest.param(
        '<form action="https://evil.example/"><input name="password" type="password">'
        '<button formaction="javascript:alert(1)">Log in</button></form>',
        id="form",
    ),
    pytest.param('<meta http-equiv="refresh" content="0;url=https://evil.example/">', id="meta-refresh"),
    pytest.param('<base href="https://evil.example/">', id="base-href"),
    pytest.param('<link rel="stylesheet" href="https://evil.example/x.css">', id="link-stylesheet"),
    pytest.param('<p style="width: expression(alert(1))">x</p>', id="style-expression"),
    pytest.param('<p style="background: url(javascript:alert(1))">x</p>', id="style-url-javascript"),
    pytest.param(
        '<p style="background-image: url(&quot;https://evil.example/t.gif&quot;)">x</p>', id="style-url"
    ),
    pytest.param('<p style="behavior: url(x.htc); -moz-binding: url(x.xml#xss)">x</p>', id="style-binding"),
    pytest.param(
        '<p style="color: \\72 ed; background: u\\72l(https://evil.example/t.gif)">x</p>', id="css-esc"
    ),
    pytest.param(
        "<style>@import 'https://evil.example/x.css'; body { display: none }</style>", id="style-tag"
    ),
    pytest.param('<div onmouseover="alert(1)">hover</div>', id="div-onmouseover"),
    pytest.param('<body onload="alert(1)">x</body>', id="body-onload"),
    pytest.param('<details open ontoggle="alert(1)">x</details>', id="details-ontoggle"),
    pytest.param("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", id="mxss-math"),
    pytest.param('<noscript><p title="</noscript><img src=x onerror=alert(1)>">', id="mxss-noscript"),
    pytest.param('<img src="x` `<script>alert(1)</script>"` `>', id="backtick"),
    pytest.param("<<script>alert(1);//<</script>", id="double-open"),
    pytest.param('<a href="https://ok.example/" onclick="alert(1)">ok</a>', id="safe-href-with-handler"),
    pytest.param('<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">', id="svg-data-image"),
    pytest.param("<!--<img src=x onerror=alert(1)>-->", id="comment"),
    pytest.param('<table background="javascript:alert(1)"><tr><td>x</td></tr></table>', id="background"),
]

FORBIDDEN = re.compile(
    r"<script|<iframe|<object|<embed|<form|<input|<button|<meta|<base|<link|<style|<svg|<math"
    r"|\son\w+\s*=|javascript:|vbscript:|expression\(|url\(|data:text|data:image/svg|evil\.example"
    r"|-moz-binding|behavior",
    re.IGNORECASE,
)


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payload_is_neutralised(payload: str) -> None:
    # What follows an unclosed <script> or <style> is script or style, so only "before" must stay.
    cleaned = sanitize_html(f"<p>before</p>{payload}<p>after</p>")
    assert FORBIDDEN.search(cleaned) is None, cleaned
    assert cleaned.startswith("<p>before</p>")


def test_text_and_formatting_are_kept() -> None:
    html = (
        "<h1>Printer</h1><p>It <b>still</b> prints <i>nothing</i> &amp; beeps &lt;3 times&gt;.</p>"
        "<ul><li>one</li><li>two</li></ul><blockquote>quoted</blockquote><pre>  code </pre>"
        '<font color="red" face="Arial" size="3">red</font>'
    )
    assert sanitize_html(html) == html


def test_tables_keep_their_layout_attributes() -> None:
    html = (
        '<table bgcolor="#ffffff" cellpadding="4" cellspacing="0" border="0" width="600">'
        '<tbody><tr valign="top"><td bgcolor="#eeeeee" colspan="2" width="50%">cell</td></tr></tbody></table>'
    )
    assert sanitize_html(html) == html


def test_unclosed_tags_are_closed() -> None:
    assert sanitize_html("<div><b>unclosed <i>tags") == "<div><b>unclosed <i>tags</i></b></div>"


def test_inline_styles_keep_formatting_properties_only() -> None:
    cleaned = sanitize_html(
        '<p style="color: red; font-weight: bold; position: fixed; z-index: 9999; '
        'background-image: url(https://t.example/p.gif); padding: 4px">x</p>'
    )
    style = re.search(r'style="([^"]*)"', cleaned)
    assert style is not None
    properties = {part.split(":")[0].strip() for part in style.group(1).split(";") if part.strip()}
    assert properties == {"color", "font-weight", "padding"}


def test_style_without_allowed_properties_is_dropped() -> None:
    assert sanitize_html('<p style="position: fixed; top: 0">x</p>') == "<p>x</p>"


def test_id_class_and_name_are_dropped() -> None:
    assert sanitize_html('<p id="main" class="modal-backdrop" name="x">t</p>') == "<p>t</p>"


def test_style_title_and_script_contents_do_not_leak_as_text() -> None:
    cleaned = sanitize_html(
        "<html><head><title>Newsletter</title><style>p{color:red}</style></head>"
        "<body><script>var secret = 1;</script><p>Body</p></body></html>"
    )
    assert cleaned == "<p>Body</p>"


def test_form_controls_go_but_their_text_stays() -> None:
    cleaned = sanitize_html(
        '<form action="https://x.example/"><label>Name</label><button>Send</button></form>'
    )
    assert "<form" not in cleaned
    assert "<button" not in cleaned
    assert "Name" in cleaned
    assert "Send" in cleaned


class _Elements(html.parser.HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


_PIECES = [
    "<script>", "</script>", "<img", "<a", "<svg", "<iframe", "<style>", "<form>", "<input", "<p", "<div",
    "<math>", "<noscript>", "<!--", "-->", "<![CDATA[", "]]>", ">", "/>", " ", '"', "'", "=", "&#x61;",
    "&#106;", "&colon;", "\t", " onerror=alert(1)", " onload=x()", " href=", " src=", " style=",
    " srcset=", " formaction=", "javascript:alert(1)", "JaVaScRiPt:", "vbscript:", "data:text/html,",
    "data:image/svg+xml,", "https://t.example/p.gif", "//t.example/", "cid:logo.1@mail.example",
    "url(https://t.example/)", "expression(alert(1))", "background:", "position:fixed", "text",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_no_markup_soup_yields_active_content(pieces: list[str]) -> None:
    parser = _Elements()
    parser.feed(sanitize_html("".join(pieces), [LOGO], cid_url=attachment_url))
    parser.close()
    for tag, attributes in parser.found:
        assert tag not in {"script", "style", "iframe", "svg", "math", "form", "input", "object", "embed"}
        for name, value in attributes:
            assert not name.startswith("on"), (tag, name)
            if name in {"href", "src"}:
                assert value is not None
                assert value.startswith(("https:", "http:", "mailto:", "tel:", "/attachments/")), value
                assert not (name == "src" and value.startswith("http")), value
            if name == "style" and value:
                assert "url(" not in value.lower()
                assert "expression(" not in value.lower()


# -- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [
        "https://tracker.example/open.gif?u=123",
        "http://tracker.example/open.gif",
        "HTTPS://TRACKER.EXAMPLE/OPEN.GIF",
        "//tracker.example/open.gif",
        "/relative/to/the/host/page.gif",
        "open.gif",
        "ftp://tracker.example/open.gif",
    ],
)
def test_images_never_load_from_the_network_or_the_host_page(src: str) -> None:
    cleaned = sanitize_html(f'<p>Hi</p><img src="{src}" width="1" height="1" alt="Company logo">')
    assert "src=" not in cleaned
    assert "tracker" not in cleaned.lower()
    assert 'alt="Company logo"' in cleaned


def test_remote_images_in_srcset_and_background_are_dropped() -> None:
    cleaned = sanitize_html(
        '<img srcset="https://t.example/a.gif 1x" alt="a">'
        '<table background="https://t.example/bg.gif"><tr><td>x</td></tr></table>'
    )
    assert "t.example" not in cleaned
    assert 'alt="a"' in cleaned


def test_cid_images_map_to_the_host_url_of_the_attachment() -> None:
    cleaned = sanitize_html(
        '<img src="cid:logo.1@mail.example" alt="Logo">', [LOGO, CHART], cid_url=attachment_url
    )
    assert cleaned == '<img src="/attachments/7" alt="Logo">'


def test_cid_references_are_url_decoded_bracket_tolerant_and_case_insensitive() -> None:
    html = '<img src="cid:Chart%251@x"><img src="cid:%3CLOGO.1@MAIL.EXAMPLE%3E">'
    cleaned = sanitize_html(html, [LOGO, CHART], cid_url=attachment_url)
    assert cleaned == '<img src="/attachments/8"><img src="/attachments/7">'


def test_cid_url_may_be_absolute_https() -> None:
    cleaned = sanitize_html(
        '<img src="cid:logo.1@mail.example">', [LOGO], cid_url=lambda a: f"https://desk.example/a/{a.id}"
    )
    assert cleaned == '<img src="https://desk.example/a/7">'


def test_cid_without_cid_url_loses_its_source() -> None:
    assert sanitize_html('<img src="cid:logo.1@mail.example" alt="Logo">', [LOGO]) == '<img alt="Logo">'


def test_unknown_cid_loses_its_source() -> None:
    cleaned = sanitize_html('<img src="cid:nothing@x" alt="?">', [LOGO], cid_url=attachment_url)
    assert cleaned == '<img alt="?">'


def test_cid_url_returning_a_script_url_is_not_trusted() -> None:
    cleaned = sanitize_html('<img src="cid:logo.1@mail.example">', [LOGO], cid_url=lambda a: "javascript:x()")
    assert cleaned == "<img>"


def test_raster_data_images_stay() -> None:
    html = '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">'
    assert sanitize_html(html) == html


# -- links ----------------------------------------------------------------------------------------


def test_links_get_rel_and_target() -> None:
    cleaned = sanitize_html('<a href="https://example.org/docs" target="_self">docs</a>')
    assert cleaned == (
        '<a href="https://example.org/docs" target="_blank" rel="noopener noreferrer nofollow">docs</a>'
    )


def test_link_target_can_be_left_out() -> None:
    cleaned = sanitize_html('<a href="https://example.org/" target="_top">x</a>', link_target=None)
    assert cleaned == '<a href="https://example.org/" rel="noopener noreferrer nofollow">x</a>'


@pytest.mark.parametrize(
    "href", ["https://example.org/a?b=1&c=2", "http://example.org/", "mailto:ann@example.org", "tel:+4930123"]
)
def test_safe_links_keep_their_href(href: str) -> None:
    assert f'href="{href.replace("&", "&amp;")}"' in sanitize_html(f'<a href="{href}">x</a>')


@pytest.mark.parametrize(
    "href", ["/tickets/1", "//evil.example/", "#top", "ftp://x.example/", "file:///etc/passwd"]
)
def test_relative_and_other_links_lose_their_href(href: str) -> None:
    cleaned = sanitize_html(f'<a href="{href}">text</a>')
    assert "href" not in cleaned
    assert "text" in cleaned


def test_cid_links_map_like_images() -> None:
    cleaned = sanitize_html('<a href="cid:logo.1@mail.example">logo</a>', [LOGO], cid_url=attachment_url)
    assert 'href="/attachments/7"' in cleaned


# -- the stored HTML and display_html -----------------------------------------------------------


def make_detail(html: str | None) -> Detail:
    return Detail(
        id=1,
        record_id=1,
        message_id="m1@example.org",
        sender=EmailAddress(address="ann@example.org"),
        sent_at=NOW,
        received_at=NOW,
        subject="Printer",
        html=html,
        attachments=(LOGO,),
    )


def test_display_html_sanitises_and_leaves_the_detail_untouched() -> None:
    original = '<p onclick="x()">Hi</p><img src="cid:logo.1@mail.example"><script>alert(1)</script>'
    detail = make_detail(original)
    shown = display_html(detail, cid_url=attachment_url)
    assert shown == '<p>Hi</p><img src="/attachments/7">'
    assert detail.html == original


def test_display_html_of_a_detail_without_html_is_none() -> None:
    assert display_html(make_detail(None)) is None


def test_sanitize_returns_a_new_string_and_keeps_the_input() -> None:
    original = "<p>Hi<script>x</script></p>"
    copy = "".join(original)
    assert sanitize_html(original) == "<p>Hi</p>"
    assert original == copy


def test_public_names_are_exported() -> None:
    assert mailtrack.sanitize_html is sanitize_html
    assert mailtrack.display_html is display_html


def test_without_nh3_import_works_and_sanitizing_says_what_to_install() -> None:
    # A fresh interpreter where "import nh3" fails, as on an installation without the extra.
    script = (
        "import sys; sys.modules['nh3'] = None\n"
        "import mailtrack\n"
        "try:\n"
        "    mailtrack.sanitize_html('<p>x</p>')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "pip install 'mailtrack[html]'" in result.stdout


# -- Attachment.active_content ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("page.html", "text/html"),
        ("page.bin", "text/html; charset=utf-8"),
        ("page.bin", "TEXT/HTML"),
        ("page.xhtml", "application/xhtml+xml"),
        ("drawing.svg", "image/svg+xml"),
        ("drawing.bin", "image/svg+xml"),
        ("feed.bin", "application/atom+xml"),
        ("data.xml", "text/xml"),
        ("data.bin", "application/xml"),
        ("app.bin", "application/javascript"),
        ("app.bin", "text/javascript"),
        ("app.bin", "application/x-javascript"),
        ("app.bin", "application/ecmascript"),
        ("style.xsl", "application/octet-stream"),
        ("archive.mht", "application/octet-stream"),
        ("archive.bin", "multipart/related"),
        ("archive.bin", "message/rfc822"),
        ("movie.swf", "application/octet-stream"),
        ("movie.bin", "application/x-shockwave-flash"),
        ("page.HTM", "application/octet-stream"),
        ("page.shtml", "application/octet-stream"),
        ("module.mjs", "application/octet-stream"),
        ("drawing.svgz", "application/octet-stream"),
    ],
)
def test_active_content_is_flagged(filename: str, content_type: str) -> None:
    assert Attachment(filename=filename, content_type=content_type).active_content


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("photo.jpg", "image/jpeg"),
        ("report.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
        ("sheet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("data.csv", "text/csv"),
        ("archive.zip", "application/zip"),
    ],
)
def test_passive_content_is_not_flagged(filename: str, content_type: str) -> None:
    assert not Attachment(filename=filename, content_type=content_type).active_content


def test_active_content_looks_at_the_name_the_sender_gave_too() -> None:
    attachment = Attachment(filename="invoice", original_filename="invoice.html", content_type="text/plain")
    assert attachment.active_content
