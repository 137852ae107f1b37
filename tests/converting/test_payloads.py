"""Base64 bodies decoded with one binascii call give what ``get_payload(decode=True)`` gives."""

from __future__ import annotations

import base64
import binascii
import sys
from email.message import Message

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mailtrack.converting import _payloads
from mailtrack.converting._payloads import decoded_base64

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="binascii has strict_mode from 3.11 on; before, get_payload decodes"
)

SIMD = _payloads._simd_base64


@pytest.fixture(
    autouse=True,
    params=[
        pytest.param(None, id="binascii"),
        pytest.param(
            SIMD,
            id="pybase64",
            marks=pytest.mark.skipif(SIMD is None, reason="pybase64 (the speed extra) is not installed"),
        ),
    ],
)
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs with binascii alone and with pybase64 first (the speed extra)."""
    monkeypatch.setattr(_payloads, "_simd_base64", request.param)


def _part(payload: str, encoding: str = "base64") -> Message:
    part = Message()
    part["Content-Type"] = "application/octet-stream"
    part["Content-Transfer-Encoding"] = encoding
    part.set_payload(payload)
    return part


@given(
    data=st.binary(max_size=600),
    width=st.integers(min_value=4, max_value=100),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_wrapped_base64_decodes_to_its_bytes(data: bytes, width: int, ending: str) -> None:
    text = base64.b64encode(data).decode("ascii")
    wrapped = ending.join(text[i : i + width] for i in range(0, len(text), width)) + ending
    part = _part(wrapped)
    assert decoded_base64(part) == data == _part(wrapped).get_payload(decode=True)


@example(text="AAAA====")
@example(text="AAA=====")
@example(text="AA==\r\nAAAA")
@given(
    text=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n -_!é", max_size=80
    )
)
def test_any_payload_is_decoded_as_email_decodes_it_or_left_to_email(text: str) -> None:
    fast = decoded_base64(_part(text))
    reference = _part(text)
    expected = reference.get_payload(decode=True)
    if fast is not None:
        assert fast == expected
        assert reference.defects == []  # email noted nothing either: nothing is lost


def test_only_base64_parts_are_decoded_here() -> None:
    assert decoded_base64(_part("SGVsbG8=", encoding="quoted-printable")) is None
    assert decoded_base64(_part("SGVsbG8=", encoding="BASE64")) == b"Hello"
    assert decoded_base64(_part("SGVsbG8")) is None  # not whole groups: email pads it, with a defect
    assert decoded_base64(_part("SGV*sbG8=")) is None  # outside the alphabet: email's lenient way
    assert decoded_base64(_part("AAAA====")) is None  # more padding than email allows


@given(text=st.text(alphabet="ABCab+/=", max_size=24).filter(lambda text: len(text) % 4 == 0))
def test_what_pybase64_takes_binascii_decodes_alike(text: str) -> None:
    if SIMD is None:
        pytest.skip("pybase64 (the speed extra) is not installed")
    data = text.encode("ascii")
    try:
        fast = SIMD(data)
    except ValueError:  # binascii.Error is one
        return
    if sys.version_info >= (3, 11):  # the module is skipped before (see pytestmark)
        assert fast == binascii.a2b_base64(data, strict_mode=True)
