"""``mailtrack deliver`` per message, end to end (process start included), against a one-message
Python script that imports mailtrack and the SQL store and delivers one message.

Both read one message on stdin and deliver it into the same SQLite store (a new message each
time, so every delivery opens a record); they take turns for ``--messages`` rounds, and the
table gives the median wall time of each and the ratio of ``mailtrack deliver`` to the script,
measured in the same run (the target is at most 2x). ``python -c pass`` is shown for scale.
It is run on purpose, never by the test suite::

    python benchmarks/bench_deliver.py
    python benchmarks/bench_deliver.py --messages 60
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import build_message

#: The baseline: what a host would write to deliver one message from Python.
SCRIPT = """\
import sys

from mailtrack import Importer, MailInterface, MailProtocol
from mailtrack.stores.sql import SQLRecordStore

store = SQLRecordStore(sys.argv[1], create_schema=False)
interface = MailInterface(name="support", protocol=MailProtocol.DELIVER)
Importer(store=store).deliver(interface, sys.stdin.buffer.read())
store.close()
"""


def timed(command: list[str], raw: bytes, folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, input=raw, cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30, help="rounds (each delivers one message per way)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()
    mailtrack = Path(sys.executable).with_name("mailtrack")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        url = f"sqlite:///{folder / 'mailtrack.db'}"
        SQLRecordStore(url).close()
        (folder / "mailtrack.toml").write_text(
            f'store = "{url}"\n\n[[interfaces]]\nname = "support"\nprotocol = "deliver"\n', encoding="utf-8"
        )
        (folder / "deliver_one.py").write_text(SCRIPT, encoding="utf-8")
        ways = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "script (Importer.deliver)": [sys.executable, "deliver_one.py", url],
            "mailtrack deliver": [str(mailtrack), "deliver", "--interface", "support"],
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for round_number in range(options.messages + 1):
            for name, command in ways.items():
                raw = build_message(subject=f"{name} {round_number}").replace(b"\r\n", b"\n")
                elapsed = timed(command, raw, folder)
                if round_number:  # the first round warms the disk cache
                    times[name].append(elapsed)
        store = SQLRecordStore(url)
        records = len(store.list_records())
        store.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["mailtrack deliver"] / medians["script (Importer.deliver)"]
    if options.json:
        print(json.dumps({"median_seconds": medians, "ratio": ratio, "records": records}))
        return
    print(f"{options.messages} messages each way, medians (records in the store: {records})")
    for name, median in medians.items():
        print(f"  {name:28} {median * 1000:8.1f} ms")
    print(f"mailtrack deliver / script: {ratio:.2f}x (target: at most 2x)")


if __name__ == "__main__":
    main()
