"""Helpers for testing mailtrack and the applications that embed it.

* :class:`POP3TestServer` — a real POP3 server on 127.0.0.1 in a thread, with TLS and :class:`Faults`;
  :class:`Transcript` / :class:`ClientLine` record what clients sent.
* :class:`OAuthTestServer` — an OAuth 2.0 authorization server on 127.0.0.1 (token, device,
  authorization and introspection endpoints; expiry, rotation, revocation and outage switches);
  its :meth:`~OAuthTestServer.check_token` lets ``POP3TestServer(check_token=…)`` accept XOAUTH2
  and OAUTHBEARER. :class:`SASLLogin` records each such sign-in.
* :class:`FakeMailbox` / :class:`FakeFetcher` — a mailbox of raw messages that survives runs, and a
  :class:`~mailtrack.abc.Fetcher` serving it and recording deletions
  (``Importer(fetcher_factory=mailbox.fetcher)``).
* :func:`build_message` — small, realistic raw messages for tests.
* :func:`make_incoming`, :func:`make_attachment` — parsed messages without raw mail;
  :class:`ManualClock` — a clock for stores that only moves when told.
* :class:`RecordStoreContract` — the store contract as a pytest class (needs pytest).

Names are imported on first use, so that importing this package does not require pytest or trustme.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._builders import ManualClock, make_attachment, make_incoming
    from ._contract import RecordStoreContract
    from ._fake import FakeFetcher, FakeMailbox
    from ._messages import build_message
    from ._oauthserver import OAuthTestServer, TokenRequest
    from ._pop3mailbox import ClientLine, Faults, Transcript
    from ._pop3sasl import SASLLogin
    from ._pop3server import POP3TestServer

__all__ = [
    "ClientLine",
    "FakeFetcher",
    "FakeMailbox",
    "Faults",
    "ManualClock",
    "OAuthTestServer",
    "POP3TestServer",
    "RecordStoreContract",
    "SASLLogin",
    "TokenRequest",
    "Transcript",
    "build_message",
    "make_attachment",
    "make_incoming",
]

_WHERE = {
    "ClientLine": "._pop3mailbox",
    "FakeFetcher": "._fake",
    "FakeMailbox": "._fake",
    "Faults": "._pop3mailbox",
    "ManualClock": "._builders",
    "OAuthTestServer": "._oauthserver",
    "SASLLogin": "._pop3sasl",
    "TokenRequest": "._oauthserver",
    "POP3TestServer": "._pop3server",
    "RecordStoreContract": "._contract",
    "Transcript": "._pop3mailbox",
    "build_message": "._messages",
    "make_attachment": "._builders",
    "make_incoming": "._builders",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
