"""Mail handed over, not fetched: ``Importer.deliver`` and ``mailtrack deliver``.

A host that receives mail by its own means (a webhook of a mail API, an SMTP server of its own)
gives each raw message to :meth:`mailtrack.Importer.deliver`; a mail server pipes it into
``mailtrack deliver --interface NAME`` (Postfix, Exim: see docs/howto/mta-delivery.md). Here:

* an interface of ``protocol = "deliver"`` (no server, no login) with a route by recipient;
* a message delivered to sales@, routed to project ``sales``; the same message delivered again
  (a mail server that retried) is imported once; malformed bytes are imported as well as
  possible, never refused;
* the same through the command, as a mail server runs it: a process fed the message on stdin,
  answered with an exit status (0 imported, 64 no such interface, 75 the store is unreachable:
  the mail server keeps the message and tries again).

Run it with::

    python examples/deliver_message.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from mailtrack import DeliveryOutcome, Importer, MailInterface, MailProtocol, Route
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import build_message

interface = MailInterface(
    name="pipe",
    protocol=MailProtocol.DELIVER,
    project="helpdesk",
    routes=(Route(address="sales@example.com", project="sales"),),
)

with tempfile.TemporaryDirectory() as folder:
    database = Path(folder) / "mailtrack.db"
    store = SQLRecordStore(f"sqlite:///{database}")
    importer = Importer(store=store)

    raw = build_message(subject="Quote for 40 printers", to="Sales <sales@example.com>")
    first = importer.deliver(interface, raw, recipient="sales@example.com")
    again = importer.deliver(interface, raw, recipient="sales@example.com")
    print(f"delivered: {first.outcome.value} record #{first.record_id}; again: {again.outcome.value}")
    assert first.outcome is DeliveryOutcome.CREATED
    assert again.outcome is DeliveryOutcome.ALREADY_IMPORTED
    assert store.get_record(first.record_id or 0).project == "sales"

    broken = importer.deliver(interface, b"\x00\xff this is no mail \x1b[31m")
    print(f"malformed bytes: {broken.outcome.value}; {broken.notes[0][:60]}…")
    assert broken.outcome in (DeliveryOutcome.CREATED, DeliveryOutcome.QUARANTINED)
    store.close()

    # The command, as a mail server runs it.
    config = Path(folder) / "mailtrack.toml"
    config.write_text(
        f'store = "sqlite:///{database}"\n\n[[interfaces]]\nname = "pipe"\nprotocol = "deliver"\n',
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-c",
        "from mailtrack.cli import main; main()",
        "--config",
        str(config),
        "deliver",
    ]
    piped = build_message(subject="Printer on fire")
    for name in ("pipe", "nobody"):
        done = subprocess.run([*command, "--interface", name], input=piped, capture_output=True, check=False)
        said = done.stderr.decode().strip()
        print(f"mailtrack deliver --interface {name}: exit status {done.returncode} {said}")
    with SQLRecordStore(f"sqlite:///{database}") as store:
        print("records:", [record.title for record in store.list_records()])
        assert len(store.list_records()) == 3
