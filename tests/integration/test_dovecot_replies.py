"""Replies find their record through a real Dovecot: a signed Reply-To token, References only,
and a forged token (the scenario is shared with the POP3 test server's test)."""

from __future__ import annotations

import pytest

from _dovecot import Mailbox
from _reply_scenario import replies_find_their_records
from mailtrack import RecordStore, Security

pytestmark = pytest.mark.integration


def test_replies_find_their_records_through_dovecot(mailbox: Mailbox, store: RecordStore) -> None:
    replies_find_their_records(store, mailbox.interface(Security.STARTTLS), mailbox.deliver)
