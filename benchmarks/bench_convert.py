"""Converting alone: ``MailParserConverter`` against mail-parser and ``email``, same process, same bytes.

Every tool reads the same messages of the benchmark's seeded mix (``_mix.py``) from memory, in the
same process, taking turns for ``--rounds`` rounds; the median time of each counts. Rates are
given as ratios to mail-parser's own parsing measured in the same run (machine speed and load
cancel out of a ratio, not out of messages per second)::

    python benchmarks/bench_convert.py                     # 1,000 messages (147 MB), 3 rounds
    python benchmarks/bench_convert.py --n 300 --rounds 5
    python benchmarks/bench_convert.py --baseline HEAD~2    # also the converter of another commit
    python benchmarks/bench_convert.py --profile            # cProfile of the converter, by cumtime

What is timed, per message:

* ``mail-parser``: ``mailparser.parse_from_bytes(raw)`` and reading its subject, addresses, date,
  message id, headers, body, text and attachments (as ``benchmarks/_job.py`` does);
* ``email``: ``email.message_from_bytes(raw)`` (the MIME tree only, policy ``compat32``);
* ``mailtrack pre-scan``: the limits scan alone (``mailtrack.converting._mimescan.scan``);
* ``mailtrack converter``: ``MailParserConverter().convert(raw, received_at=…)``, all of it;
* with ``--baseline REV``, the converter of commit REV too (its ``src/mailtrack`` extracted with
  ``git archive`` into a temporary folder and imported under another package name).

Messages are given with CRLF line ends, as the POP3 fetcher hands them to the converter
(``--line-ends lf`` for the Maildir form). It is run on purpose, never by the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import email
import gc
import importlib
import importlib.metadata
import io
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _mix  # noqa: E402
import mailparser  # noqa: E402

import mailtrack.converting  # noqa: E402
from mailtrack import ParseError, ParseLimits  # noqa: E402
from mailtrack.converting._mimescan import scan  # noqa: E402

_RECEIVED = datetime(2024, 6, 1, tzinfo=timezone.utc)

Tool = Callable[[bytes], object]


def mail_parser(raw: bytes) -> object:
    parsed = mailparser.parse_from_bytes(raw)
    _ = (parsed.subject, parsed.from_, parsed.date, parsed.message_id, parsed.headers)
    _ = (parsed.body, parsed.text_plain, parsed.text_html)
    return len(parsed.attachments)


def stdlib_email(raw: bytes) -> object:
    return email.message_from_bytes(raw)


def pre_scan(raw: bytes) -> object:
    return scan(raw, ParseLimits(), time.monotonic() + 30.0)


def converter_of(module: Any) -> Tool:
    convert = module.MailParserConverter().convert

    def run(raw: bytes) -> object:
        try:
            return convert(raw, received_at=_RECEIVED)
        except ParseError:  # counted like a result: the work was done
            return None

    return run


def baseline_converter(revision: str, folder: Path) -> ModuleType:
    """``mailtrack.converting`` as it was at *revision*, imported as another package."""
    root = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=HERE, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "src/mailtrack"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    name = "mailtrack_at_" + "".join(char if char.isalnum() else "_" for char in revision)
    shutil.move(folder / "src" / "mailtrack", folder / name)
    sys.path.insert(0, str(folder))
    return importlib.import_module(f"{name}.converting")


def time_tool(tool: Tool, raws: list[bytes]) -> float:
    gc.collect()
    started = time.perf_counter()
    for raw in raws:
        tool(raw)
    return time.perf_counter() - started


def profile(tool: Tool, raws: list[bytes], lines: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for raw in raws:
        tool(raw)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="messages of the mix (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median counts (default 3)")
    parser.add_argument("--line-ends", choices=("crlf", "lf"), default="crlf")
    parser.add_argument("--baseline", metavar="REV", help="also time the converter of this git commit")
    parser.add_argument("--profile", action="store_true", help="profile the converter once instead of timing")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mailtrack-bench"))
    args = parser.parse_args(argv)

    mix = _mix.cached(args.n, args.seed, args.workdir / "cache")
    raws = mix.raw()
    if args.line_ends == "crlf":
        raws = [raw.replace(b"\n", b"\r\n") for raw in raws]
    size = sum(len(raw) for raw in raws)
    kinds = ", ".join(f"{count} {kind}" for kind, count in mix.stats["kinds"].items())

    converter = converter_of(mailtrack.converting)
    if args.profile:
        profile(converter, raws, 45)
        return 0

    tools: dict[str, Tool] = {
        "mail-parser": mail_parser,
        "email (stdlib)": stdlib_email,
        "mailtrack pre-scan": pre_scan,
        "mailtrack converter": converter,
    }
    with tempfile.TemporaryDirectory() as folder:
        if args.baseline:
            old = baseline_converter(args.baseline, Path(folder))
            tools[f"mailtrack converter @{args.baseline}"] = converter_of(old)
        print(
            f"{len(raws)} messages ({size / 1e6:.0f} MB, {args.line_ends.upper()}: {kinds}), seed "
            f"{args.seed}; Python {platform.python_version()}, mail-parser "
            f"{importlib.metadata.version('mail-parser')}; {args.rounds} rounds, median",
            flush=True,
        )
        times: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.rounds):
            for name, tool in tools.items():
                times[name].append(time_tool(tool, raws))

    reference = statistics.median(times["mail-parser"])
    print("\n| tool | seconds | min-max | msg/s | MB/s | vs mail-parser |\n|---|---:|---:|---:|---:|---:|")
    for name, values in times.items():
        seconds = statistics.median(values)
        print(
            f"| {name} | {seconds:.2f} | {min(values):.2f}-{max(values):.2f} | {len(raws) / seconds:.0f} | "
            f"{size / 1e6 / seconds:.1f} | {reference / seconds:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
