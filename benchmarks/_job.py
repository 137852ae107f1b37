"""What the benchmark measures in a process of its own (so that its time and peak RSS are its own).

    python benchmarks/_job.py mailtrack SPEC.json   # import mailboxes into SQLite, print a JSON line
    python benchmarks/_job.py mailparser FOLDER     # parse the files of FOLDER from memory
    python benchmarks/_job.py download SPEC.json    # the first interface's fetcher alone, nothing kept

With ``MAILTRACK_BENCH_PROFILE=FILE`` the job runs under cProfile (CPU time of the importing
thread) and writes its statistics there; the fetcher's thread and the conversion workers are not
in it.

``SPEC.json``: ``{"database": path, "mode": "run" | "run_all" | "one_by_one", "settings": {…},
"interfaces": [{"name", "port", "login", "password"[, "protocol"]}, …]}`` (``protocol``: ``"imap"``
reads over IMAP; left out, POP3, which an older mailtrack also understands). ``settings`` are Importer fields
(batch size, workers …); ones this Importer does not have are left out and reported.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _rss() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"rss_mb": round(own, 1), "children_rss_mb": round(children, 1)}


def mailtrack(spec_file: str) -> dict[str, Any]:
    import attrs

    from mailtrack import Importer, MailInterface, Security
    from mailtrack.stores import SQLRecordStore

    spec = json.loads(Path(spec_file).read_text())
    database = Path(spec["database"])
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    known = attrs.fields_dict(Importer)
    settings = {key: value for key, value in spec.get("settings", {}).items() if key in known}
    ignored = sorted(set(spec.get("settings", {})) - set(settings))
    interfaces = [
        MailInterface(
            name=item["name"],
            server="127.0.0.1",
            port=item["port"],
            login=item["login"],
            password=item["password"],
            security=Security.NONE,
            timeout=120.0,
            **({"protocol": _protocol(item["protocol"])} if "protocol" in item else {}),
            **{key: item[key] for key in ("max_messages_per_run",) if key in item},
        )
        for item in spec["interfaces"]
    ]
    started = time.perf_counter()
    with SQLRecordStore(f"sqlite:///{database}") as store:
        importer = Importer(store=store, **settings)
        if spec["mode"] == "run_all":
            reports = importer.run_all(interfaces)
        else:  # "run" (one interface) or "one_by_one" (each after the other)
            reports = [importer.run(interface) for interface in interfaces]
        seconds = time.perf_counter() - started
        # Counted, not read: reading every record back (list_records) cost 0.2 s of CPU per
        # 1,000 messages, charged to the import it checks.
        with store.engine.connect() as conn:
            records = conn.exec_driver_sql("SELECT COUNT(*) FROM mailtrack_records").scalar()
    errors = [f"{report.interface}: {report.error}" for report in reports if report.error]
    return {
        "seconds": round(seconds, 3),
        "imported": sum(report.imported for report in reports),
        "failed": sum(report.failed for report in reports),
        "records": records,
        "errors": errors[:5],
        "ignored_settings": ignored,
        **_rss(),
    }


def download(spec_file: str) -> dict[str, Any]:
    """The fetcher alone (download only, nothing deleted): what mbsync and mpop are compared with."""
    from mailtrack import MailInterface, Security
    from mailtrack.fetching import fetcher_for

    item = json.loads(Path(spec_file).read_text())["interfaces"][0]
    interface = MailInterface(
        name=item["name"],
        server="127.0.0.1",
        port=item["port"],
        login=item["login"],
        password=item["password"],
        security=Security.NONE,
        timeout=120.0,
        leave_copy=True,
        protocol=_protocol(item.get("protocol", "pop3")),
    )
    started = time.perf_counter()
    fetcher = fetcher_for(interface)
    listing = fetcher.open()
    count = size = 0
    for _info, raw in fetcher.retrieve_many(listing):
        count += 1
        size += len(raw)
    fetcher.close(commit=True)
    return {"seconds": round(time.perf_counter() - started, 3), "downloaded": count, "bytes": size, **_rss()}


def _protocol(name: str) -> Any:
    from mailtrack import MailProtocol  # only a mailtrack with IMAP has it

    return MailProtocol(name)


def mailparser(folder: str) -> dict[str, Any]:
    """mail-parser alone: every message read into memory first, then only the parsing is timed."""
    import mailparser as parser

    raws = [path.read_bytes() for path in sorted(Path(folder).iterdir())]
    started, cpu_started = time.perf_counter(), time.process_time()
    attachments = 0
    for raw in raws:
        parsed = parser.parse_from_bytes(raw)
        _ = (parsed.subject, parsed.from_, parsed.date, parsed.message_id, parsed.headers)
        _ = (parsed.body, parsed.text_plain, parsed.text_html)
        attachments += len(parsed.attachments)
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "cpu": round(time.process_time() - cpu_started, 3),
        "parsed": len(raws),
        **_rss(),
    }


if __name__ == "__main__":
    job, argument = sys.argv[1], sys.argv[2]
    run = {"mailtrack": mailtrack, "mailparser": mailparser, "download": download}[job]
    profile = os.environ.get("MAILTRACK_BENCH_PROFILE")  # a file for cProfile's statistics
    if profile:
        import cProfile

        # CPU time of this thread: wall time would charge GIL waits (the fetcher's thread runs
        # meanwhile) to whatever call released the GIL.
        with cProfile.Profile(time.thread_time) as profiler:
            result = run(argument)
        profiler.dump_stats(profile)
    else:
        result = run(argument)
    print(json.dumps(result))
