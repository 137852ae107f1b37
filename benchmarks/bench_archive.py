"""``mailtrack import`` of archives against the POP3 path, on the same messages, in one sitting.

The benchmark's mix (``_mix.py``: plain, HTML, attachments, odd charsets) is imported three
ways, each into a fresh SQLite file by a process of its own with the Importer's defaults:

* ``pop3``: ``Importer.run`` of a mailbox holding the messages (the private Dovecot when it is
  installed, else a POP3TestServer in this process), emptied as it goes;
* ``mbox``: ``Importer.import_archive`` of one mbox file holding them (written by Python's
  ``mailbox``, so ``From `` lines quoted);
* ``maildir``: ``Importer.import_archive`` of a Maildir holding them.

The ways take turns for ``--runs`` rounds; the table gives each one's median time, messages per
second and its ratio to the POP3 path measured in the same run. It is run on purpose, never by
the test suite::

    python benchmarks/bench_archive.py              # 1,000 messages, 3 rounds
    python benchmarks/bench_archive.py --n 200 --runs 1
"""

from __future__ import annotations

import argparse
import json
import mailbox
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _mix import cached  # noqa: E402
from _servers import Dovecot, Server, TestServers, dovecot_installed  # noqa: E402

CHILD = """\
import json, sys, time
from mailtrack import Importer, MailInterface, MailProtocol, Security
from mailtrack.stores.sql import SQLRecordStore

way, database, target, login, password = sys.argv[1:6]
started = time.perf_counter()
with SQLRecordStore(f"sqlite:///{database}") as store:
    importer = Importer(store=store)
    if way == "pop3":
        interface = MailInterface(
            name="bench", server="127.0.0.1", port=int(target), login=login, password=password,
            security=Security.NONE, timeout=120.0, max_messages_per_run=None,
        )
        report = importer.run(interface)
    else:
        report = importer.import_archive([target], MailInterface(name="bench", protocol=MailProtocol.DELIVER))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "created": report.created, "error": report.error}))
"""


def measure(way: str, database: Path, target: str, login: str = "", password: str = "") -> dict[str, object]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, way, str(database), target, login, password],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="messages in the mix")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailtrack-bench-archive-") as temporary:
        work = Path(temporary)
        work.chmod(0o755)
        mix = cached(options.n, options.seed, work / "cache")
        box = mailbox.mbox(work / "mix.mbox")
        maildir = mailbox.Maildir(work / "Maildir")
        for raw in mix.raw():
            box.add(raw)
            maildir.add(raw)
        box.close()
        maildir.close()
        server: Server = Dovecot(work / "dovecot", 1) if dovecot_installed() else TestServers()
        try:
            pop3 = server.mailbox(0)
            times: dict[str, list[float]] = {"pop3": [], "mbox": [], "maildir": []}
            for _ in range(options.runs):
                pop3.fill(mix.files)
                results = {
                    "pop3": measure("pop3", work / "pop3.db", str(pop3.port), pop3.login, pop3.password),
                    "mbox": measure("mbox", work / "mbox.db", str(work / "mix.mbox")),
                    "maildir": measure("maildir", work / "maildir.db", str(work / "Maildir")),
                }
                for way, result in results.items():
                    if result["error"] is not None or result["created"] != mix.count:
                        raise SystemExit(f"{way}: {result}")
                    times[way].append(float(str(result["seconds"])))
                if pop3.left():
                    raise SystemExit("the POP3 mailbox was not emptied")
        finally:
            server.close()
            shutil.rmtree(work / "dovecot", ignore_errors=True)
    medians = {way: statistics.median(values) for way, values in times.items()}
    figures = {
        way: {"seconds": median, "per_second": mix.count / median, "vs_pop3": medians["pop3"] / median}
        for way, median in medians.items()
    }
    if options.json:
        print(json.dumps({"messages": mix.count, "server": server.name, "figures": figures}))
        return
    print(
        f"{mix.count} messages ({mix.size / 1e6:.0f} MB), POP3 from {server.name}, median of {options.runs}"
    )
    for way, figure in figures.items():
        print(
            f"  {way:8} {figure['seconds']:7.2f} s  {figure['per_second']:7.0f} msg/s  "
            f"rate {figure['vs_pop3']:.2f}x the POP3 path"
        )


if __name__ == "__main__":
    main()
