"""Attachment names: read from a part's fields, and made safe to use as file names."""

from __future__ import annotations

import unicodedata
from email.message import Message

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailtrack.converting._filenames import (
    MAX_FILENAME_BYTES,
    MAX_FILENAME_CHARS,
    extension_for,
    safe_filename,
    unique_filename,
)
from mailtrack.converting._parts import _filename, _filename_in


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("Résumé 2024.pdf", "Résumé 2024.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("C:\\Users\\x\\Desktop\\a.txt", "a.txt"),
        ("/absolute/path/", "path"),
        ("dir/..", "dir"),
        ("evil\x00name.txt", "evilname.txt"),
        ("line\r\nbreak.txt", "line break.txt"),
        ("tab\there.txt", "tab here.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("zero\u200bwidth\ufeff.txt", "zerowidth.txt"),
        ("a\u2066b\u2069.txt", "ab.txt"),
        ('what?*<>|:".txt', "what_______.txt"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("Com1.tar.gz", "_Com1.tar.gz"),
        ("lpt9 .log", "_lpt9 .log"),
        ("console.txt", "console.txt"),
        (".htaccess", "htaccess"),
        ("...hidden", "hidden"),
        ("trailing. . .", "trailing"),
        ("  spaced   out  .txt", "spaced out .txt"),
        ("e\u0301te\u0301.txt", "été.txt"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name, fallback="part-1.bin") == expected


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../..", "/", "\\", "\x00\x01", "\u202e", "   ", "___", "?*"]
)
def test_nothing_usable_gives_the_fallback(name: str) -> None:
    assert safe_filename(name, fallback="part-3.png") == "part-3.png"


def test_an_unsafe_fallback_is_made_safe_too() -> None:
    assert safe_filename("", fallback="../nul") == "_nul"
    assert safe_filename("", fallback="") == "file"


def test_long_names_are_shortened_keeping_the_extension() -> None:
    result = safe_filename("a" * 500 + ".pdf", fallback="x")
    assert len(result) == MAX_FILENAME_CHARS
    assert result == "a" * (MAX_FILENAME_CHARS - 4) + ".pdf"


def test_long_multibyte_names_fit_the_byte_limit() -> None:
    result = safe_filename("文" * 300 + ".docx", fallback="x")
    assert result.endswith(".docx")
    assert len(result.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert result.startswith("文")


def test_a_long_extension_is_not_kept_apart() -> None:
    result = safe_filename("name." + "x" * 300, fallback="x")
    assert len(result) == MAX_FILENAME_CHARS
    assert result.startswith("name.")


def test_unique_filename_numbers_duplicates_case_insensitively() -> None:
    taken = {"report.txt", "report-2.txt", "photo.jpg"}
    assert unique_filename("Report.TXT", taken) == "Report-3.TXT"
    assert unique_filename("photo.jpeg", taken) == "photo.jpeg"
    assert unique_filename("PHOTO.JPG", taken) == "PHOTO-2.JPG"
    assert unique_filename("noext", {"noext"}) == "noext-2"


def test_unique_filename_stays_within_the_length_limit() -> None:
    long_name = "b" * (MAX_FILENAME_CHARS - 4) + ".pdf"
    result = unique_filename(long_name, {long_name.casefold()})
    assert len(result) <= MAX_FILENAME_CHARS
    assert result.endswith("-2.pdf")


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [
        ("image/png", ".png"),
        ("IMAGE/JPEG", ".jpg"),
        ("application/pdf", ".pdf"),
        ("message/rfc822", ".eml"),
        ("text/plain", ".txt"),
        ("text/calendar", ".ics"),
        ("application/x-made-up", ".bin"),
        ("audio/mpeg", ".mp3"),
    ],
)
def test_extension_for(content_type: str, extension: str) -> None:
    assert extension_for(content_type) == extension


_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{d}{n}" for d in ("COM", "LPT") for n in "123456789"}


@given(st.text(max_size=400))
def test_any_name_becomes_a_safe_name(name: str) -> None:
    result = safe_filename(name, fallback="part-1.bin")
    assert result
    assert "/" not in result
    assert "\\" not in result
    assert not result.startswith((".", " "))
    assert not result.endswith((".", " "))
    assert len(result) <= MAX_FILENAME_CHARS
    assert len(result.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert not any(
        unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} for char in result
    )
    assert not any(char in '<>:"|?*' for char in result)
    assert result.split(".")[0].rstrip(" ").upper() not in _RESERVED


# -- the name a MIME part gives ----------------------------------------------------------------

_PARAMETER_PIECES = st.sampled_from(
    [
        *("attachment", "inline", "text/plain", ";", " ", "=", '"', "'", "*", "*0", "*1*", "\r\n "),
        *(
            "name",
            "NaMe",
            "filename",
            "file",
            "nam",
            "utf-8''",
            "%E2%82%AC",
            "r\u00e9sum\u00e9.pdf",
            "\u0130",
        ),
    ]
)


def _part(disposition: str, content_type: str) -> Message:
    part = Message()
    part["Content-Disposition"] = disposition
    part["Content-Type"] = content_type
    return part


@pytest.mark.parametrize(
    ("disposition", "content_type", "expected"),
    [
        ("attachment", "text/plain", ""),
        ("attachment; FileName=a.txt", "text/plain", "a.txt"),
        ("inline", 'text/plain; NAME="b.txt"', "b.txt"),
        ("attachment; filename*0*=utf-8''%E2%82%AC; filename*1=.txt", "text/plain", "\u20ac.txt"),
        ("attachment; file*=a; file*0=b", "text/plain", ""),  # email fails on the parameters
    ],
)
def test_part_filename(disposition: str, content_type: str, expected: str) -> None:
    assert _filename(_part(disposition, content_type)) == expected


@given(
    disposition=st.lists(_PARAMETER_PIECES, max_size=12).map("".join),
    content_type=st.lists(_PARAMETER_PIECES, max_size=12).map("".join),
)
def test_part_filename_shortcut_gives_what_email_gives(disposition: str, content_type: str) -> None:
    fields = [("Content-Disposition", disposition), ("Content-Type", content_type)]
    assert _filename(_part(disposition, content_type)) == _filename_in(fields)
