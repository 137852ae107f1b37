"""The SASL messages for OAuth 2.0 bearer tokens, independent of POP3 and IMAP."""

from __future__ import annotations

import base64
import json

import pytest

from mailtrack import ConfigError
from mailtrack.auth.sasl import (
    choose_mechanism,
    error_acknowledgement,
    initial_response,
    read_challenge,
)
from mailtrack.testing._pop3sasl import parse_response


def test_xoauth2_initial_response_is_googles_format() -> None:
    assert initial_response("XOAUTH2", "support@example.com", "ya29.token") == (
        b"user=support@example.com\x01auth=Bearer ya29.token\x01\x01"
    )


def test_oauthbearer_initial_response_carries_the_authzid_escaped() -> None:
    assert initial_response("OAUTHBEARER", "a,b=c@example.com", "tok") == (
        b"n,a=a=2Cb=3Dc@example.com,\x01auth=Bearer tok\x01\x01"
    )


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_the_test_server_reads_back_what_the_client_sends(mechanism: str) -> None:
    encoded = base64.b64encode(initial_response(mechanism, "x,y=z@example.com", "tok-1")).decode()
    assert parse_response(mechanism, encoded) == ("x,y=z@example.com", "tok-1")


@pytest.mark.parametrize(
    ("user", "token"), [("us\x01er", "t"), ("user", "t\x01x"), ("user", "a\r\nb"), ("", "t")]
)
def test_control_characters_are_refused_before_anything_is_sent(user: str, token: str) -> None:
    with pytest.raises(ConfigError):
        initial_response("XOAUTH2", user, token)


def test_the_error_acknowledgement_is_what_rfc_7628_asks() -> None:
    assert error_acknowledgement("OAUTHBEARER") == b"\x01"
    assert error_acknowledgement("XOAUTH2") == b""


@pytest.mark.parametrize(
    ("offered", "wanted", "chosen"),
    [
        (["XOAUTH2", "OAUTHBEARER", "PLAIN"], None, "OAUTHBEARER"),
        (["PLAIN", "xoauth2"], None, "XOAUTH2"),
        ([], None, "XOAUTH2"),
        (["OAUTHBEARER"], "XOAUTH2", "XOAUTH2"),
    ],
)
def test_the_mechanism_follows_what_the_server_announces(
    offered: list[str], wanted: str | None, chosen: str
) -> None:
    assert choose_mechanism(offered, wanted) == chosen


def test_an_error_challenge_is_read_and_made_printable() -> None:
    raw = json.dumps({"status": "401\x1b[31m", "schemes": "bearer", "scope": "mail"}).encode()
    challenge = read_challenge(base64.b64encode(raw))
    assert challenge.status.startswith("401")
    assert "\x1b" not in challenge.status
    assert "\x1b" not in challenge.text
    assert challenge.scope == "mail"


@pytest.mark.parametrize(
    "junk", [b"not base64 !!", base64.b64encode(b"\xff\xfe not json"), base64.b64encode(b"[1]")]
)
def test_an_unreadable_challenge_gives_an_empty_one(junk: bytes) -> None:
    challenge = read_challenge(junk)
    assert challenge.status == ""
    assert all(ch.isprintable() for ch in challenge.text)


def test_a_reply_that_repeats_part_of_a_secret_is_not_shown() -> None:
    from mailtrack._redaction import REDACTED, Redactor

    token = "at-abcdefghijklmnopqrstuvwxyz0123456789"
    redactor = Redactor([token], pieces=True)
    echoed = redactor.text("unknown command AUTH " + token[5:30] + " (truncated)")
    assert echoed == f"unknown command AUTH {REDACTED} (truncated)"
    assert redactor.text("[AUTH] Authentication failed.") == "[AUTH] Authentication failed."
    assert token[5:30] in Redactor([token]).text(token[5:30])  # only whole secrets without pieces
