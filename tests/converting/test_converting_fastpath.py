"""The cut-out parse (large leaf bodies replaced by marker lines, put back afterwards) gives exactly
what the plain full parse of the same bytes gives.

``convert_message(..., out_of_line=False)`` gives the plain parse. Compared: the ``IncomingMessage``
(or the ``ParseError`` text) and the MIME tree ``email`` built (types, header fields, raw
payloads, preamble, epilogue, defects), for the golden messages, the corpora and generated
multipart mail with hostile bodies, each with LF, CRLF and bare-CR line endings.
"""

from __future__ import annotations

import base64
import os
import quopri
import re
import time
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _hypothesis_profiles import BASE
from mailtrack import IncomingMessage, ParseError, ParseLimits
from mailtrack.converting import _outofline
from mailtrack.converting._mailparser import convert_message
from mailtrack.converting._mimescan import scan

RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LIMITS = ParseLimits()
_MESSAGES = Path(__file__).parents[1] / "messages"
_GOLDEN = sorted(
    path
    for folder in (_MESSAGES, _MESSAGES / "malformed", _MESSAGES / "machine")
    for path in folder.glob("*.eml")
)
_CORPORA = os.environ.get("MAILTRACK_CORPORA")
_CORPUS_FILES = (
    sorted(path for path in Path(_CORPORA).rglob("*") if path.is_file())
    if _CORPORA and Path(_CORPORA).is_dir()
    else []
)
_ENDINGS = ("as-is", "lf", "crlf", "cr")


def _with_endings(raw: bytes, ending: str) -> bytes:
    if ending == "as-is":
        return raw
    lf = re.sub(rb"\r\n?", b"\n", raw)
    return lf.replace(b"\n", {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}[ending])


def _outcome(raw: bytes, *, cut_out: bool) -> IncomingMessage | str:
    try:
        return convert_message(raw, received_at=RECEIVED, limits=LIMITS, out_of_line=cut_out)
    except ParseError as exc:
        return f"ParseError: {exc}"


def _tree(message: Message) -> list[object]:
    """Everything ``email`` put in the tree, depth first (iterative: trees may be deep)."""
    found: list[object] = []
    stack = [message]
    while stack:
        part = stack.pop()
        payload = part._payload  # type: ignore[attr-defined]  # the payload as parsed, undecoded
        found.append(
            (
                type(part).__name__,
                part.get_unixfrom(),
                part.raw_items() and list(part.raw_items()),
                part.get_default_type(),
                part.preamble,
                part.epilogue,
                [type(defect).__name__ for defect in part.defects],
                payload if isinstance(payload, str) else len(payload),
            )
        )
        if isinstance(payload, list):
            stack.extend(reversed(payload))
    return found


def _spans(raw: bytes) -> list[tuple[int, int]]:
    result = scan(raw, ParseLimits(), time.monotonic() + 60)
    return [(start, end) for start, end in result.bodies if end - start >= _outofline.OUT_OF_LINE]


def _fast_tree(raw: bytes) -> Message | None:
    """The cut-out parse alone: None when it fell back (or had nothing to cut out)."""
    spans = _spans(raw)
    return _outofline.parse_out_of_line(raw, spans) if spans else None


def _assert_same(raw: bytes) -> bool:
    """Assert both parses agree on *raw*; return whether the cut-out parse was really used."""
    assert _outcome(raw, cut_out=True) == _outcome(raw, cut_out=False)
    try:
        spans = _spans(raw)
    except ParseError:
        return False  # refused by the pre-scan: neither parse runs
    fast = _outofline.parse_out_of_line(raw, spans) if spans else None
    if fast is not None:
        assert _tree(fast) == _tree(_outofline.feed(raw))
    return fast is not None


# -- (1) golden messages and corpora ----------------------------------------------------------------


@pytest.mark.parametrize("ending", _ENDINGS)
@pytest.mark.parametrize("path", _GOLDEN, ids=[f"{p.parent.name}/{p.name}" for p in _GOLDEN])
def test_golden_message_cut_out_parse_equals_full_parse(path: Path, ending: str) -> None:
    _assert_same(_with_endings(path.read_bytes(), ending))


def test_golden_messages_exercise_the_cut_out_parse() -> None:
    used = [path.name for path in _GOLDEN if _assert_same(path.read_bytes())]
    assert "attachments.eml" in used, used


@pytest.mark.parametrize("ending", _ENDINGS)
@pytest.mark.parametrize(
    "path",
    _CORPUS_FILES or [None],
    ids=[str(p.relative_to(_CORPORA)) for p in _CORPUS_FILES] if _CORPORA and _CORPUS_FILES else ["none"],
)
def test_corpus_message_cut_out_parse_equals_full_parse(
    corpora_dir: Path, path: Path | None, ending: str
) -> None:
    if path is None:
        pytest.skip(f"no files under MAILTRACK_CORPORA={corpora_dir}")
    _assert_same(_with_endings(path.read_bytes(), ending))


# -- (2) generated multipart mail with hostile bodies -----------------------------------------------

_MARKER_LIKE = "X-Mailtrack-Body-0123456789abcdef-0: body"
_BOUNDARIES = ("b1", "b2", "b3")


@st.composite
def _line(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            ["text", "dashes", "boundary", "closing", "marker", "from", "cr", "nul", "long", "blank"]
        )
    )
    if kind == "dashes":
        return "--" + draw(st.text(alphabet="-abc ", max_size=8))
    if kind == "boundary":
        return "--" + draw(st.sampled_from(_BOUNDARIES)) + draw(st.sampled_from(["", " ", "\t"]))
    if kind == "closing":
        return "--" + draw(st.sampled_from(_BOUNDARIES)) + "--"
    if kind == "marker":
        return draw(st.sampled_from([_MARKER_LIKE, "X-Mailtrack-Body-", _MARKER_LIKE + " trailing"]))
    if kind == "from":
        return "From someone@example.org Mon Jan  1 00:00:00 2024"
    if kind == "cr":
        return draw(st.sampled_from(["before\rafter", "before\r\nafter", "\r", "trailing\r"]))
    if kind == "nul":
        return "nul\x00byte"
    if kind == "long":
        return "x" * draw(st.integers(900, 3000))
    if kind == "blank":
        return ""
    return draw(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x24F), max_size=60))


@st.composite
def _leaf(draw: st.DrawFn) -> str:
    """A leaf entity (header lines, usually an empty line, body) whose body is 256 bytes or more."""
    encoding = draw(st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "none"]))
    kind = draw(st.sampled_from(["text/plain", "text/html", "application/octet-stream"]))
    lines = draw(st.lists(_line(), min_size=1, max_size=12))
    text = "\n".join(lines)
    while len(text.encode()) < 300:
        text += "\npadding line " + str(len(text))
    if encoding == "base64":
        body = base64.encodebytes(text.encode()).decode("ascii")
        if draw(st.booleans()):  # tricky lines between base64 lines, too
            body += "\n".join(lines) + "\n"
    elif encoding == "quoted-printable":
        body = quopri.encodestring(text.encode()).decode("ascii")
    else:
        body = text
    headers = [f"Content-Type: {kind}; charset=utf-8"]
    if encoding != "none":
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    # Sometimes no empty line between header block and body (the body's first line is no field).
    separator = [] if draw(st.integers(0, 5)) == 0 and not _FIELD.match(body) else [""]
    return "\n".join([*headers, *separator, body])


_FIELD = re.compile(r"[\041-\071\073-\176]*:|[\t ]|From |\r|\n|$")


@st.composite
def _entity(draw: st.DrawFn, depth: int) -> str:
    """A leaf, a message/rfc822 holding an entity, or a multipart (header lines, then body)."""
    choice = draw(st.integers(0, 5))
    if depth >= len(_BOUNDARIES) or choice <= 2:
        return draw(_leaf())
    if choice == 3:
        inner = draw(_entity(depth + 1))
        return "\n".join(["Content-Type: message/rfc822", "", "Subject: inner", inner])
    boundary = _BOUNDARIES[depth]
    children = draw(st.lists(_entity(depth + 1), min_size=1, max_size=3))
    out = ["preamble text"] if draw(st.booleans()) else []
    for child in children:
        out += [f"--{boundary}", child]
    if draw(st.booleans()):
        out += [f"--{boundary}--", "epilogue text"]
    kind = draw(st.sampled_from(["mixed", "alternative", "digest"]))
    return "\n".join([f'Content-Type: multipart/{kind}; boundary="{boundary}"', "", *out])


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    entity = draw(_entity(0))
    lines = [
        *(["From sender@example.org Mon Jan  1 00:00:00 2024"] if draw(st.booleans()) else []),
        "From: Ann <ann@example.org>",
        "To: support@example.com",
        "Subject: hostile bodies",
        "Message-ID: <gen@example.org>",
        "MIME-Version: 1.0",
        entity,
    ]
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return "\n".join(lines).replace("\n", ending).encode("utf-8", "surrogateescape")


@settings(BASE, max_examples=150)
@given(raw=_messages())
def test_generated_multipart_cut_out_parse_equals_full_parse(raw: bytes) -> None:
    _assert_same(raw)


def test_generated_shape_uses_the_cut_out_parse() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain\n\n'
        + b"a line of text\n" * 40
        + b"From here\n"
        + _MARKER_LIKE.encode()
        + b"\n--b1--\n"
    )
    assert _assert_same(raw)
    assert _assert_same(raw.replace(b"\n", b"\r\n"))
    assert _assert_same(raw.replace(b"\n", b"\r"))


# -- (3) the marker's own text in a body ------------------------------------------------------------


class _FixedToken:
    """Stands in for ``secrets``: the marker tag is known in advance."""

    @staticmethod
    def token_hex(nbytes: int) -> str:
        return "ab" * nbytes


@pytest.fixture
def fixed_tag(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(_outofline, "secrets", _FixedToken())
    return f"X-Mailtrack-Body-{'ab' * 8}-"


def _two_bodies(first: bytes, second: bytes) -> bytes:
    return (
        b'Subject: markers\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\n" + first + b"\n"
        b"--b\nContent-Type: application/octet-stream\n\n" + second + b"\n--b--\n"
    )


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize(
    "where", ["large body starts", "large body middle", "small body is", "header", "epilogue"]
)
def test_body_holding_the_exact_marker_falls_back_and_stays_equal(
    fixed_tag: str, where: str, ending: str
) -> None:
    large = b"filler line\n" * 30
    marker = f"{fixed_tag}0: body".encode()
    first, second = large, large
    if where == "large body starts":
        first = marker + b"\n" + large
    elif where == "large body middle":
        second = large + marker + b"\n" + large
    elif where == "small body is":
        first = f"{fixed_tag}1: body".encode()
    raw = _two_bodies(first, second)
    if where == "header":
        raw = marker + b"\n" + raw
    elif where == "epilogue":
        raw += marker + b"\n"
    raw = raw.replace(b"\n", ending.encode())
    assert _fast_tree(raw) is None  # the tag occurs in the message: never cut out
    assert not _assert_same(raw)
    message = _outcome(raw, cut_out=True)
    assert isinstance(message, IncomingMessage)
    if where == "large body starts":
        assert message.text.startswith(marker.decode() + "\n")


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_body_holding_a_marker_of_another_tag_is_put_back_unchanged(fixed_tag: str, ending: str) -> None:
    other = b"X-Mailtrack-Body-" + b"cd" * 8 + b"-0: body"
    large = b"filler line\n" * 30
    raw = _two_bodies(other + b"\n" + large, large + other).replace(b"\n", ending.encode())
    assert _assert_same(raw)  # cut out, and equal to the full parse
    message = _outcome(raw, cut_out=True)
    assert isinstance(message, IncomingMessage)
    assert message.text.startswith(other.decode() + "\n")
    content = message.attachments[0].content
    assert content is not None
    assert content.endswith(other)


class _CountingToken:
    """Stands in for ``secrets``: counts the marker tags drawn (one per cut-out parse)."""

    def __init__(self) -> None:
        self.calls = 0

    def token_hex(self, nbytes: int) -> str:
        self.calls += 1
        return "ab" * nbytes


def test_out_of_line_false_means_no_cut_out_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _CountingToken()
    monkeypatch.setattr(_outofline, "secrets", counter)
    raw = (_MESSAGES / "attachments.eml").read_bytes()
    _outcome(raw, cut_out=False)
    assert counter.calls == 0
    _outcome(raw, cut_out=True)
    assert counter.calls == 1
