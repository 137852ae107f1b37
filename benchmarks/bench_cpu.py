"""CPU per message, A/B: this checkout's mailtrack against another checkout's (e.g. main before a
change), end to end over POP3 into SQLite, in the same run.

    python benchmarks/bench_cpu.py --baseline-python ../main-copy/.venv/bin/python
    python benchmarks/bench_cpu.py --baseline-python B --n 200 --rounds 2 --delay-ms 0
    python benchmarks/bench_cpu.py --baseline-python .venv/bin/python --baseline-setting conversion_workers=0

(The last compares two settings of one checkout: conversion in the importing thread against the
automatic choice of workers.) Each *python* is an interpreter whose ``import mailtrack`` is the
checkout to measure (an editable install in that checkout's venv); this script's own ``_job.py``
drives both, so both run the same job. The mix, the private Dovecot (or POP3TestServer), the
delay proxy and the way a program is measured (a process of its own: wall clock, user + sys CPU
of it and its children, peak RSS) are ``run.py``'s. The two take turns, for ``--rounds``
rounds, first on loopback, then through the proxy at ``--delay-ms``; every run starts from a
freshly filled mailbox and is checked (every message imported, the server emptied).
mail-parser's parse-only CPU is measured in the same rounds as the yardstick of the issue's
target. ``--profile DIR`` runs each import under cProfile (CPU time of the importing thread).

Printed: per case and tree the median CPU seconds per 1,000 messages (with the lowest and highest
of the rounds) and msg/s, and the ratios of this checkout to the baseline (medians of the
per-round ratios, so that a busy moment on the machine hits both sides of a pair alike).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _mix  # noqa: E402
import _servers  # noqa: E402
from run import Proxy, measure  # noqa: E402


def mailtrack(
    python: str,
    out: Path,
    name: str,
    mailbox: Any,
    port: int,
    files: list[Path],
    settings: dict[str, Any],
    profile: Path | None = None,
) -> dict[str, Any]:
    """One end-to-end import of *files* by the mailtrack that *python* imports."""
    mailbox.fill(files)
    spec = {
        "database": str(out / f"{name}.db"),
        "mode": "run",
        "settings": settings,
        "interfaces": [{"name": "box", "port": port, "login": mailbox.login, "password": mailbox.password}],
    }
    spec_file = out / f"{name}.json"
    spec_file.write_text(json.dumps(spec))
    env = {"MAILTRACK_BENCH_PROFILE": str(profile / f"{name}.prof")} if profile else None
    result = measure([python, str(HERE / "_job.py"), "mailtrack", str(spec_file)], env, out / f"{name}.log")
    job, left = result["job"], mailbox.left()
    if result["rc"] != 0 or not job:
        result["problem"] = f"exit {result['rc']}: {result['tail'][-300:]}"
    elif job["errors"] or job["imported"] != len(files) or left:
        result["problem"] = f"imported {job['imported']} of {len(files)}, {left} left; {job['errors'][:2]}"
    else:
        result["problem"] = None
    return result


def mailparser(python: str, out: Path, files: list[Path]) -> dict[str, Any]:
    """mail-parser parsing the same files from memory; the CPU of the parse alone."""
    folder = out / "parse-input"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file in files:
        (folder / file.name).hardlink_to(file)
    result = measure([python, str(HERE / "_job.py"), "mailparser", str(folder)], None, out / "mailparser.log")
    job = result["job"]
    result["problem"] = (
        None if result["rc"] == 0 and job.get("parsed") == len(files) else f"exit {result['rc']}"
    )
    result["cpu"] = float(job.get("cpu", job.get("seconds", 0.0)))
    return result


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-python", required=True, help="the interpreter of the baseline checkout")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of this checkout")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--delay-ms", type=float, default=50.0, help="round trip of the second case (0: none)"
    )
    parser.add_argument("--server", choices=("auto", "dovecot", "pop3testserver"), default="auto")
    parser.add_argument(
        "--profile", type=Path, help="a folder: each mailtrack run under cProfile, NAME.prof (slower)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mailtrack-bench-cpu"))
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an Importer setting for both trees' runs (JSON value); a tree lacking it ignores it",
    )
    parser.add_argument(
        "--baseline-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an Importer setting for the baseline's runs only (to compare settings of one tree)",
    )
    args = parser.parse_args(argv)
    settings = {name: json.loads(value) for name, _, value in (s.partition("=") for s in args.setting)}
    baseline_settings = {
        **settings,
        **{name: json.loads(value) for name, _, value in (s.partition("=") for s in args.baseline_setting)},
    }
    out = args.workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    mix = _mix.cached(args.n, args.seed, args.workdir / "cache")
    use_dovecot = args.server == "dovecot" or (args.server == "auto" and _servers.dovecot_installed())
    if use_dovecot:
        for file in mix.files:
            shutil.chown(file, _servers.MAIL_UID, _servers.MAIL_GID)
    server: _servers.Server = (
        _servers.Dovecot(args.workdir / "dovecot", users=1) if use_dovecot else _servers.TestServers()
    )
    trees = {"baseline": args.baseline_python, "this": args.python}
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    problems: list[str] = []
    proxy: Proxy | None = None
    try:
        box = server.mailbox(0)
        cases = {"loopback": box.port}
        if args.delay_ms > 0:
            proxy = Proxy([box.port], args.delay_ms, args.workdir)
            cases[f"{args.delay_ms:g} ms"] = proxy.ports[box.port]
        print(f"{len(mix.files)} messages from {server.name}; {args.rounds} round(s)", flush=True)
        for round_ in range(args.rounds):
            for case, port in cases.items():
                # Alternate which tree goes first, so neither always runs on a warmer machine.
                order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
                for tree in order:
                    name = f"{case}-{tree}-{round_}".replace(" ", "_")
                    chosen = baseline_settings if tree == "baseline" else settings
                    result = mailtrack(trees[tree], out, name, box, port, mix.files, chosen, args.profile)
                    results.setdefault((case, tree), []).append(result)
                    print(
                        f"  round {round_ + 1} {case:9} {tree:9} {result['wall']:7.2f} s wall "
                        f"{result['cpu']:7.2f} s CPU {len(mix.files) / result['wall']:7.1f} msg/s "
                        f"{result['rss_mb']:6.0f} MB  {result['problem'] or 'ok'}",
                        flush=True,
                    )
                    if result["problem"]:
                        problems.append(f"{case} {tree}: {result['problem']}")
            parsed = mailparser(args.python, out, mix.files)
            results.setdefault(("parse only", "mail-parser"), []).append(parsed)
            print(f"  round {round_ + 1} mail-parser parse only {parsed['cpu']:7.2f} s CPU", flush=True)
    finally:
        if proxy is not None:
            proxy.close()
        server.close()
    per_k = 1000 / len(mix.files)
    lines = [
        f"{len(mix.files)} messages ({mix.size / 1e6:.0f} MB), {args.rounds} round(s), {server.name}; "
        "median (lowest-highest)",
        "",
        "| case | tree | CPU s per 1,000 msgs | msg/s | peak RSS MB |",
        "|---|---|---:|---:|---:|",
    ]
    for (case, tree), rows in results.items():
        cpu = [row["cpu"] * per_k for row in rows]
        rate = [len(mix.files) / row["wall"] for row in rows] if case != "parse only" else []
        lines.append(
            f"| {case} | {tree} | {spread(cpu)} | {spread(rate) if rate else ''} | "
            f"{statistics.median(row['rss_mb'] for row in rows):.0f} |"
        )
    lines += [
        "",
        "| ratio (this / baseline, median of rounds) | CPU per message | msg/s |",
        "|---|---:|---:|",
    ]
    for case in cases:
        pairs = list(zip(results[(case, "this")], results[(case, "baseline")], strict=True))
        cpu_ratio = [this["cpu"] / base["cpu"] for this, base in pairs]
        rate_ratio = [base["wall"] / this["wall"] for this, base in pairs]
        lines.append(f"| {case} | {spread(cpu_ratio)} | {spread(rate_ratio)} |")
    parse = statistics.median(row["cpu"] for row in results[("parse only", "mail-parser")])
    for case in cases:
        this = statistics.median(row["cpu"] for row in results[(case, "this")])
        lines.append(f"| {case}: this / mail-parser parse-only CPU | {this / parse:.2f} | |")
    table = "\n".join(lines)
    print("\n" + table)
    (args.workdir / "results-cpu.md").write_text(table + "\n")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
