"""IMAP beside POP3: mailtrack end to end over each, and mbsync (isync, a C client that pipelines
every fetch) downloading the same mailbox, on loopback and at a round trip of ``--delay-ms``.

    python benchmarks/bench_imap.py                  # 1,000 messages, loopback and 50 ms, 3 runs
    python benchmarks/bench_imap.py --n 200 --runs 1 # quicker
    python benchmarks/bench_imap.py --baseline /tmp/main/src --no-pop3  # A/B against another mailtrack

The mix, the private Dovecot, the delay proxy and the way each program is timed (a process of
its own, wall clock, peak RSS) are those of ``run.py``. mailtrack imports into a SQLite file and
empties the folder (IMAP: UID STORE \\Deleted and UID EXPUNGE; POP3: DELE and QUIT); mbsync only
downloads (Sync Pull, Expunge None) into a Maildir, as in the peers' figures of the shared tools,
and so does the "download only" row of mailtrack (its IMAPFetcher alone, nothing parsed or kept).
Every run starts from a freshly filled Maildir and is checked (all messages imported or
delivered, the folder emptied where it should be). The table shows the median of the runs and
the ratios the target is about: mailtrack IMAP against mbsync and against mailtrack POP3, each
in the same sitting. With ``--baseline SRC`` (the ``src`` folder of another checkout, e.g. from
``git archive main src``), the two IMAP rows are also measured for that mailtrack in the same run
(``baseline …``), so that a change is judged against what it changes on the same noisy machine.
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

TOOLS = (
    "mailtrack POP3",
    "mailtrack IMAP",
    "mailtrack IMAP (download only)",
    "mbsync (download only)",
)


def mailtrack(
    out: Path,
    name: str,
    mailbox: Any,
    port: int,
    protocol: str,
    files: list[Path],
    *,
    job: str = "mailtrack",
    source: Path | None = None,
) -> tuple[float, str | None]:
    mailbox.fill(files)
    spec = {
        "database": str(out / f"{name}.db"),
        "mode": "run",
        "settings": {},
        "interfaces": [
            {
                "name": "box",
                "port": port,
                "login": mailbox.login,
                "password": mailbox.password,
                "protocol": protocol,
            }
        ],
    }
    spec_file = out / f"{name}.json"
    spec_file.write_text(json.dumps(spec))
    result = measure(
        [sys.executable, str(HERE / "_job.py"), job, str(spec_file)],
        {"PYTHONPATH": str(source)} if source is not None else None,
        out / f"{name}.log",
    )
    report, left = result["job"], mailbox.left()
    problem = None
    if result["rc"] != 0 or not report:
        problem = f"exit {result['rc']}: {result['tail'][-300:]}"
    elif job == "download":  # the fetcher alone keeps every message on the server
        if report["downloaded"] != len(files) or left != len(files):
            problem = f"downloaded {report['downloaded']} of {len(files)}, {left} left"
    elif report["errors"] or report["imported"] != len(files) or left:
        problem = f"imported {report['imported']} of {len(files)}, {left} left; {report['errors'][:2]}"
    return result["wall"], problem


def mbsync(out: Path, name: str, mailbox: Any, port: int, files: list[Path]) -> tuple[float, str | None]:
    mailbox.fill(files)
    home = out / name
    shutil.rmtree(home, ignore_errors=True)
    (home / "state").mkdir(parents=True)
    near = home / "near"
    near.mkdir()
    rc = home / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount bench\nHost 127.0.0.1\nPort {port}\nUser {mailbox.login}\nPass {mailbox.password}\n"
        "SSLType None\nAuthMechs LOGIN\n\nIMAPStore far\nAccount bench\n\n"
        f"MaildirStore near\nPath {near}/\nInbox {near}/INBOX\n\n"
        "Channel bench\nFar :far:INBOX\nNear :near:INBOX\nSync Pull\nCreate Near\nRemove None\n"
        f"Expunge None\nSyncState {home}/state/\n"
    )
    rc.chmod(0o600)
    result = measure(["mbsync", "-c", str(rc), "-q", "bench"], None, out / f"{name}.log")
    inbox = near / "INBOX"
    delivered = sum(len(list((inbox / sub).iterdir())) for sub in ("new", "cur") if (inbox / sub).is_dir())
    problem = (
        None
        if result["rc"] == 0 and delivered == len(files)
        else f"exit {result['rc']}, {delivered} delivered"
    )
    return result["wall"], problem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=50.0, help="round trip through the proxy (0: none)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mailtrack-bench-imap"))
    parser.add_argument(
        "--baseline", type=Path, help="src folder of another mailtrack, measured beside this one"
    )
    parser.add_argument("--no-pop3", action="store_true", help="leave out the POP3 row")
    args = parser.parse_args(argv)
    tools = [tool for tool in TOOLS if not (args.no_pop3 and "POP3" in tool)]
    if args.baseline is not None:
        tools += [f"baseline {tool.removeprefix('mailtrack ')}" for tool in TOOLS if "IMAP" in tool]
    if not _servers.dovecot_installed() or shutil.which("mbsync") is None:
        print("needs Dovecot (dovecot-pop3d, dovecot-imapd) and mbsync (isync)", file=sys.stderr)
        return 2
    out = args.workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    mix = _mix.cached(args.n, args.seed, args.workdir / "cache")
    for file in mix.files:
        shutil.chown(file, _servers.MAIL_UID, _servers.MAIL_GID)
    size_mb = sum(file.stat().st_size for file in mix.files) / 1e6
    dovecot = _servers.Dovecot(args.workdir / "dovecot", users=1)
    proxy: Proxy | None = None
    seconds: dict[tuple[str, str], list[float]] = {}
    problems: list[str] = []
    try:
        box: Any = dovecot.mailbox(0)
        cases = {"loopback": {"pop3": dovecot.pop3_port, "imap": dovecot.imap_port}}
        if args.delay_ms > 0:
            proxy = Proxy([dovecot.pop3_port, dovecot.imap_port], args.delay_ms, args.workdir)
            cases[f"{args.delay_ms:g} ms"] = {
                "pop3": proxy.ports[dovecot.pop3_port],
                "imap": proxy.ports[dovecot.imap_port],
            }
        for run in range(args.runs):
            for case, ports in cases.items():
                for tool in tools:
                    name = f"{case}-{tool}-{run}".replace(" ", "_").replace("(", "").replace(")", "")
                    if tool == "mbsync (download only)":
                        wall, problem = mbsync(out, name, box, ports["imap"], mix.files)
                    else:
                        protocol = "imap" if "IMAP" in tool else "pop3"
                        wall, problem = mailtrack(
                            out,
                            name,
                            box,
                            ports[protocol],
                            protocol,
                            mix.files,
                            job="download" if "download" in tool else "mailtrack",
                            source=args.baseline if tool.startswith("baseline") else None,
                        )
                    seconds.setdefault((case, tool), []).append(wall)
                    print(
                        f"  {case:9} {tool:30} {wall:7.2f} s {len(mix.files) / wall:7.1f} msg/s  "
                        f"{problem or 'ok'}",
                        flush=True,
                    )
                    if problem:
                        problems.append(f"{case} {tool}: {problem}")
    finally:
        if proxy is not None:
            proxy.close()
        dovecot.close()
    lines = [
        f"{len(mix.files)} messages, {size_mb:.0f} MB, median of {args.runs} run(s); msg/s",
        "",
        "| | " + " | ".join(cases) + " |",
        "|---|" + "---:|" * len(cases),
    ]
    rate = {key: len(mix.files) / statistics.median(values) for key, values in seconds.items()}
    for tool in tools:
        lines.append(f"| {tool} | " + " | ".join(f"{rate[(case, tool)]:.0f}" for case in cases) + " |")
    for ours, other in (
        ("mailtrack IMAP", "mbsync (download only)"),
        ("mailtrack IMAP (download only)", "mbsync (download only)"),
        ("baseline IMAP", "mbsync (download only)"),
        ("baseline IMAP (download only)", "mbsync (download only)"),
        ("mailtrack IMAP", "mailtrack POP3"),
    ):
        if ours not in tools or other not in tools:
            continue
        ratios = " | ".join(f"{rate[(case, ours)] / rate[(case, other)]:.2f}" for case in cases)
        lines.append(f"| {ours} / {other} | {ratios} |")
    table = "\n".join(lines)
    print("\n" + table)
    (args.workdir / "results-imap.md").write_text(table + "\n")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
