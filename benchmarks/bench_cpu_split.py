"""Where the importing thread's CPU goes: one import of the mix, in this process, split by step.

    python benchmarks/bench_cpu_split.py                      # the checkout this Python imports
    ../other/.venv/bin/python benchmarks/bench_cpu_split.py   # another checkout, same mix

The 1,000-message mix (``_mix.py``, with CRLF line ends as a fetcher hands them over) is imported
from a :class:`~mailtrack.testing.FakeMailbox` into a fresh SQLite file by ``Importer.run`` with
``conversion_workers=0``, so that every step runs in this thread: no network, no worker processes,
no process start-up. The steps are timed with ``time.thread_time`` (CPU of this thread) by
wrapping the importer's own functions; what is left is the rest of the run (listing, tally,
ledger, lease, fetcher). ``--rounds`` repeats it, the median of each step is printed.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _mix  # noqa: E402

#: (module, object in it or None, function name, step) of the functions timed.
STEPS = (
    ("mailtrack.converting._mailparser", None, "convert_message", "conversion"),
    ("mailtrack._importing.run", None, "digest_of", "content digest"),
    ("mailtrack._importing.batch", "Batch", "commit", "batch commits"),
    ("mailtrack._importing.policy", "Policy", "read", "policy lookups (read)"),
    ("mailtrack._importing.policy", "Policy", "classify", "classify"),
    ("mailtrack._importing.policy", "Policy", "decide", "decide"),
)


def timed(spent: collections.Counter[str]) -> None:
    """Wrap the functions of STEPS so that their CPU time adds up in *spent*."""
    import importlib

    for module_name, owner_name, name, step in STEPS:
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        function = getattr(owner, name)

        def wrapper(*args: Any, __function: Any = function, __step: str = step, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return __function(*args, **kwargs)
            finally:
                spent[__step] += time.thread_time() - started

        setattr(owner, name, wrapper)


def one_round(raws: dict[str, bytes], spent: collections.Counter[str]) -> float:
    from mailtrack import Importer, MailInterface
    from mailtrack.stores import SQLRecordStore
    from mailtrack.testing import FakeMailbox

    mailbox = FakeMailbox(raws)
    interface = MailInterface(name="box", server="pop.example.com", login="user", password="secret")
    with tempfile.TemporaryDirectory() as folder, SQLRecordStore(f"sqlite:///{folder}/split.db") as store:
        started = time.thread_time()
        report = Importer(store=store, fetcher_factory=mailbox.fetcher, conversion_workers=0).run(interface)
        total = time.thread_time() - started
    if report.error or report.imported != len(raws):
        raise SystemExit(f"the import failed: {report.error or report.imported}")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mailtrack-bench-cpu"))
    args = parser.parse_args(argv)
    mix = _mix.cached(args.n, args.seed, args.workdir / "cache")
    raws = {
        file.name.split(",", 1)[0]: file.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for file in mix.files
    }
    rounds: list[dict[str, float]] = []
    spent: collections.Counter[str] = collections.Counter()
    timed(spent)
    for _ in range(args.rounds):
        spent.clear()
        total = one_round(raws, spent)
        rounds.append({**spent, "rest of the run": total - sum(spent.values()), "total": total})
    import mailtrack

    print(f"mailtrack from {Path(mailtrack.__file__).parent}; {len(raws)} messages; median of {args.rounds}")
    print("| step | CPU s per 1,000 msgs | share |\n|---|---:|---:|")
    total = statistics.median(row["total"] for row in rounds)
    for step in [*(step for *_, step in STEPS), "rest of the run", "total"]:
        value = statistics.median(row.get(step, 0.0) for row in rounds) * 1000 / len(raws)
        print(f"| {step} | {value:.2f} | {value / (total * 1000 / len(raws)):.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
