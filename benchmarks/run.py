"""mailtrack's benchmark: POP3 → records committed in SQLite, against the tools a user would pick.

    python -m nox -s bench                        # the default run (about 5-10 minutes)
    python -m nox -s bench -- --quick             # a smaller run (about a minute)
    python benchmarks/run.py --n 1000 --delay-ms 50 --mailboxes 200

What it does, in one process that starts every measured program as a process of its own:

1. Generates the seeded mix (``_mix.py``: 61 % short plain text, 25 % text + HTML, 10 % with
   50 KB - 2 MB attachments, 4 % odd charsets; about 140 MB per 1,000 messages), cached in
   ``--workdir``.
2. Serves it from a private Dovecot when one is installed, else from
   :class:`mailtrack.testing.POP3TestServer` (``--server`` forces one).
3. Starts ``delay_proxy.py`` for the round-trip cases (this kernel has no netem).
4. Runs, refilling the mailbox before each run and checking afterwards that the server is empty
   and every message arrived:

   * ``loopback``: mailtrack end to end (``Importer.run`` into a SQLite file), and the
     download-only peers that are installed (fetchmail, getmail6, mpop), and mail-parser alone
     parsing the same messages from memory;
   * ``rtt``: the same through the proxy (the slow peers on the first ``--peer-rtt-n`` messages);
   * ``many``: ``--mailboxes`` mailboxes of ``--per-mailbox`` messages (another part of the same
     mix) through the proxy, polled one after the other (``Importer.run`` in a loop) and by
     ``Importer.run_all`` (left out with ``--delay-ms 0``);
   * ``memory`` (only with ``--memory``): mailtrack on loopback with ten times ``--n`` messages.

5. Prints a table (msg/s, MB/s, peak RSS) and the ratios the performance targets are about, and
   writes both to ``WORKDIR/results.md`` (and every row to ``results.json``).

Times are wall-clock times of the whole process (start-up and imports included), except for
mail-parser, whose time is the parsing alone; CPU is user + sys of the process and the children it
waited for (mail-parser: its parsing alone). Peak RSS is the process's maximum resident set
(for mailtrack, the larger of the importer and its conversion workers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _mix  # noqa: E402
import _peers  # noqa: E402
import _servers  # noqa: E402

#: Importer settings the benchmark passes (fields an older Importer lacks are left out); none:
#: the defaults are what is measured. ``--setting NAME=VALUE`` adds one.
SETTINGS: dict[str, Any] = {}
TIMEOUT = 1800.0


class Proxy:
    """``delay_proxy.py`` in a process of its own, in front of the given ports."""

    def __init__(self, targets: Sequence[int], delay_ms: float, workdir: Path) -> None:
        self.log = workdir / "proxy.jsonl"
        ready = workdir / "proxy.ports"
        ready.unlink(missing_ok=True)
        command = [sys.executable, str(HERE / "delay_proxy.py"), "--delay-ms", str(delay_ms / 2)]
        for target in targets:
            command += ["--target", str(target)]
        self.process = subprocess.Popen([*command, "--ready", str(ready), "--log", str(self.log)])
        deadline = time.monotonic() + 20
        while not ready.exists() or not ready.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the delay proxy did not start")
            time.sleep(0.05)
        self.ports = dict(zip(targets, json.loads(ready.read_text()), strict=True))

    def most_lines_per_chunk(self) -> int:
        """The most command lines one client chunk held since the last call (>1: pipelined)."""
        if not self.log.exists():
            return 0
        lines = self.log.read_text().splitlines()
        self.log.unlink()
        return max((json.loads(line)["most_lines_per_chunk"] for line in lines), default=0)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


#: GNU time reports the peak RSS of the command alone. A child forked straight from this (large)
#: process would inherit its high-water mark in ``ru_maxrss``, so wait4's figure is a fallback.
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def measure(command: list[str], env: dict[str, str] | None, log: Path) -> dict[str, Any]:
    """Run *command*; its wall time, CPU time and peak RSS (of it and its children), exit code and
    last line."""
    rss_file = log.with_suffix(".rss")
    rss_file.unlink(missing_ok=True)
    if GNU_TIME:
        command = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *command]
    started = time.perf_counter()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        watchdog = threading.Timer(TIMEOUT, process.kill)
        watchdog.start()
        _, status, usage = os.wait4(process.pid, 0)
        watchdog.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace").strip().splitlines()
    result: dict[str, Any] = {}
    if text:
        try:
            result = json.loads(text[-1])
        except ValueError:
            result = {}
    wall = time.perf_counter() - started
    rss_kb = float(usage.ru_maxrss)
    if GNU_TIME and rss_file.exists():
        with contextlib.suppress(ValueError, IndexError):
            rss_kb = float(rss_file.read_text().split()[-1])
    return {
        "wall": wall,
        # user + sys CPU of the command and every child it waited for (conversion workers too).
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": rss_kb / 1024,
        "rc": process.returncode,
        "job": result,
        "tail": "\n".join(text[-5:]),
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir
        self.out = self.workdir / "out"
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    # -- running one thing -------------------------------------------------------------------

    def row(
        self,
        case: str,
        tool: str,
        count: int,
        size: int,
        seconds: float,
        rss: float,
        problem: str | None,
        **extra: Any,
    ) -> None:
        row = {
            "case": case,
            "tool": tool,
            "messages": count,
            "mb": size / 1e6,
            "seconds": seconds,
            "msg_s": count / seconds if seconds > 0 else 0.0,
            "mb_s": size / 1e6 / seconds if seconds > 0 else 0.0,
            "rss_mb": rss,
            "problem": problem,
            **extra,
        }
        self.rows.append(row)
        status = "ok" if problem is None else f"PROBLEM: {problem}"
        print(
            f"  {case:8} {tool:24} {count:6} msg {seconds:8.2f} s {row['msg_s']:8.1f} msg/s "
            f"{row['mb_s']:6.1f} MB/s {rss:7.0f} MB  {status}",
            flush=True,
        )

    def run_mailtrack(
        self,
        case: str,
        tool: str,
        mailboxes: list[tuple[_servers.Mailbox, list[Path]]],
        port_of: Any,
        mode: str,
    ) -> dict[str, Any] | None:
        for mailbox, files in mailboxes:
            mailbox.fill(files)
        spec = {
            "database": str(self.out / f"{case}-{tool}.db"),
            "mode": mode,
            "settings": SETTINGS,
            "interfaces": [
                {
                    "name": f"box{index}",
                    "port": port_of(mailbox.port),
                    "login": mailbox.login,
                    "password": mailbox.password,
                    # Every message in one run (the memory case has 10,000; the default is 2,000).
                    "max_messages_per_run": None,
                }
                for index, (mailbox, _files) in enumerate(mailboxes)
            ],
        }
        spec_file = self.out / f"{case}-{tool}.json"
        spec_file.write_text(json.dumps(spec))
        result = measure(
            [sys.executable, str(HERE / "_job.py"), "mailtrack", str(spec_file)],
            None,
            self.out / f"{case}-{tool}.log",
        )
        count = sum(len(files) for _mailbox, files in mailboxes)
        size = sum(file.stat().st_size for _mailbox, files in mailboxes for file in files)
        job = result["job"]
        left = sum(mailbox.left() for mailbox, _files in mailboxes)
        problem = None
        if result["rc"] != 0 or not job:
            problem = f"exit {result['rc']}: {result['tail'][-300:]}"
        elif job["errors"] or job["imported"] != count or left:
            problem = f"imported {job['imported']} of {count}, {left} left on the server; {job['errors'][:2]}"
        if job.get("ignored_settings"):
            self.notes.append(f"this Importer has no {', '.join(job['ignored_settings'])}")
        rss = max(result["rss_mb"], job.get("children_rss_mb", 0.0)) if job else result["rss_mb"]
        self.row(
            case, tool, count, size, result["wall"], rss, problem, cpu=result["cpu"], **self._pipelined(case)
        )
        return job or None

    def run_peer(
        self, case: str, peer: _peers.Peer, mailbox: _servers.Mailbox, files: list[Path], port: int
    ) -> None:
        mailbox.fill(files)
        work = self.out / f"{case}-{peer.name}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        command, env = peer.prepare(work, port, mailbox.login, mailbox.password)
        result = measure(command, env, self.out / f"{case}-{peer.name}.log")
        delivered, left = peer.delivered(work), mailbox.left()
        problem = None
        # fetchmail exits 1 when there was no mail; anything else is a failure.
        if result["rc"] not in (0, 1) or delivered != len(files) or left:
            problem = f"exit {result['rc']}, delivered {delivered} of {len(files)}, {left} left on the server"
        size = sum(file.stat().st_size for file in files)
        self.row(
            case,
            peer.name,
            len(files),
            size,
            result["wall"],
            result["rss_mb"],
            problem,
            cpu=result["cpu"],
            **self._pipelined(case),
        )

    def _pipelined(self, case: str) -> dict[str, Any]:
        if self.proxy is None or case == "loopback" or case == "memory":
            return {}
        time.sleep(0.3)  # the proxy writes its log line when the connection has closed
        return {"most_lines_per_chunk": self.proxy.most_lines_per_chunk()}

    def run_mailparser(self, files: list[Path]) -> None:
        folder = self.out / "parse-input"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for file in files:
            os.link(file, folder / file.name)
        result = measure(
            [sys.executable, str(HERE / "_job.py"), "mailparser", str(folder)],
            None,
            self.out / "mailparser.log",
        )
        job = result["job"]
        problem = None if result["rc"] == 0 and job.get("parsed") == len(files) else f"exit {result['rc']}"
        size = sum(file.stat().st_size for file in files)
        self.row(
            "loopback",
            "mail-parser (parse only)",
            len(files),
            size,
            float(job.get("seconds", 0.0)),
            result["rss_mb"],
            problem,
            cpu=float(job.get("cpu", job.get("seconds", 0.0))),  # the parsing alone
        )

    # -- the whole run -----------------------------------------------------------------------

    def main(self) -> int:
        args = self.args
        self.out.mkdir(parents=True, exist_ok=True)
        cache = self.workdir / "cache"
        print(f"generating the mix ({args.n} messages, seed {args.seed}) …", flush=True)
        mix = _mix.cached(args.n, args.seed, cache)
        many_mix = (
            _mix.cached(args.mailboxes * args.per_mailbox, args.seed + 1, cache) if args.mailboxes else None
        )
        big_mix = _mix.cached(10 * args.n, args.seed + 2, cache) if args.memory else None
        if os.geteuid() == 0:
            for box in (mix, many_mix, big_mix):
                for file in box.files if box else ():
                    os.chown(file, _servers.MAIL_UID, _servers.MAIL_GID)
        use_dovecot = args.server == "dovecot" or (args.server == "auto" and _servers.dovecot_installed())
        server: _servers.Server = (
            _servers.Dovecot(self.workdir / "dovecot", users=max(args.mailboxes, 1) + 1)
            if use_dovecot
            else _servers.TestServers()
        )
        peers, missing = _peers.available() if not args.no_peers else ([], ["peers: left out (--no-peers)"])
        self.notes.extend(missing)
        self.proxy: Proxy | None = None
        try:
            main_box = server.mailbox(0)
            targets = sorted({main_box.port} | {server.mailbox(1 + i).port for i in range(args.mailboxes)})
            self.proxy = Proxy(targets, args.delay_ms, self.workdir) if args.delay_ms > 0 else None
            via_proxy = self.proxy.ports.get if self.proxy else (lambda port: port)
            print(
                f"serving from {server.name}; {args.delay_ms:g} ms round trip through the proxy\n", flush=True
            )
            for run in range(args.runs):
                if args.runs > 1:
                    print(f"run {run + 1} of {args.runs}")
                self.mailtrack_case("loopback", main_box, mix.files, lambda port: port)
                for peer in peers:
                    self.run_peer("loopback", peer, main_box, mix.files, main_box.port)
                self.run_mailparser(mix.files)
                if self.proxy is not None:
                    self.mailtrack_case("rtt", main_box, mix.files, via_proxy)
                    for peer in peers:
                        files = mix.files if peer.name == "mpop" else mix.files[: args.peer_rtt_n]
                        self.run_peer("rtt", peer, main_box, files, via_proxy(main_box.port))
                if many_mix is not None and self.proxy is not None:
                    boxes = [
                        (
                            server.mailbox(1 + i),
                            many_mix.files[i * args.per_mailbox : (i + 1) * args.per_mailbox],
                        )
                        for i in range(args.mailboxes)
                    ]
                    self.run_mailtrack("many", "mailtrack one by one", boxes, via_proxy, "one_by_one")
                    self.run_mailtrack("many", "mailtrack run_all", boxes, via_proxy, "run_all")
                if big_mix is not None:
                    self.mailtrack_case("memory", main_box, big_mix.files, lambda port: port)
        finally:
            if self.proxy is not None:
                self.proxy.close()
            server.close()
        report = self.report(mix, server.name)
        print("\n" + report)
        (self.workdir / "results.md").write_text(report)
        (self.workdir / "results.json").write_text(json.dumps(self.rows, indent=1))
        problems = [row for row in self.rows if row["problem"] is not None]
        if problems:
            print(f"FAILED: {len(problems)} PROBLEM row(s); the ratios that use them are invalid", flush=True)
            return 1
        return 0

    def mailtrack_case(self, case: str, mailbox: _servers.Mailbox, files: list[Path], port_of: Any) -> None:
        self.run_mailtrack(case, "mailtrack", [(mailbox, files)], port_of, "run")

    # -- the report --------------------------------------------------------------------------

    def _rate(self, case: str, tool: str) -> float | None:
        rates = sorted(
            row["msg_s"]
            for row in self.rows
            if row["case"] == case and row["tool"] == tool and row["problem"] is None
        )
        return rates[len(rates) // 2] if rates else None

    def _seconds(self, case: str, tool: str) -> float | None:
        times = sorted(
            row["seconds"]
            for row in self.rows
            if row["case"] == case and row["tool"] == tool and row["problem"] is None
        )
        return times[len(times) // 2] if times else None

    def _cpu(self, case: str, tool: str) -> float | None:
        """The median CPU seconds per message of *tool* in *case* (user + sys, children too)."""
        per_message = sorted(
            row["cpu"] / row["messages"]
            for row in self.rows
            if row["case"] == case and row["tool"] == tool and row["problem"] is None and row["messages"]
        )
        return per_message[len(per_message) // 2] if per_message else None

    def report(self, mix: _mix.Mailbox, server: str) -> str:
        args = self.args
        kinds = ", ".join(f"{count} {kind}" for kind, count in mix.stats["kinds"].items())
        lines = [
            f"### mailtrack benchmark: {mix.count} messages ({mix.size / 1e6:.0f} MB: {kinds}), "
            f"seed {args.seed}",
            "",
            f"Server: {server} on 127.0.0.1; round trip for `rtt` and `many`: {args.delay_ms:g} ms "
            f"(delay proxy); {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
            f"{args.runs} run(s), median.",
            "",
            "| case | tool | messages | MB | seconds | msg/s | MB/s | CPU s / 1,000 msgs | peak RSS MB | "
            "cmds/chunk | ok |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in self.rows:
            ok = "yes" if row["problem"] is None else row["problem"]
            lines.append(
                f"| {row['case']} | {row['tool']} | {row['messages']} | {row['mb']:.0f} | "
                f"{row['seconds']:.2f} | {row['msg_s']:.0f} | {row['mb_s']:.1f} | "
                f"{1000 * row.get('cpu', 0.0) / max(row['messages'], 1):.2f} | {row['rss_mb']:.0f} | "
                f"{row.get('most_lines_per_chunk', '')} | {ok} |"
            )
        lines += ["", "| target | figure | needed | met |", "|---|---:|---:|---|"]

        failed = {(row["case"], row["tool"]) for row in self.rows if row["problem"] is not None}

        def target(
            name: str,
            value: float | None,
            needed: float,
            below: bool = False,
            uses: tuple[tuple[str, str], ...] = (),
        ) -> None:
            broken = [f"{case} {tool}" for case, tool in uses if (case, tool) in failed]
            if broken:
                # A figure from a run that lost or doubled messages measures nothing.
                lines.append(f"| {name} | invalid | {needed:g} | INVALID: PROBLEM in {', '.join(broken)} |")
                return
            if value is None:
                lines.append(f"| {name} | n/a | {needed:g} | not measured |")
                return
            met = value <= needed if below else value >= needed
            lines.append(
                f"| {name} | {value:.2f} | {'≤' if below else '≥'} {needed:g} | {'yes' if met else 'NO'} |"
            )

        def ratio(a: float | None, b: float | None) -> float | None:
            return a / b if a is not None and b else None

        mt_loop, mt_rtt = self._rate("loopback", "mailtrack"), self._rate("rtt", "mailtrack")
        loop, rtt = ("loopback", "mailtrack"), ("rtt", "mailtrack")
        target(
            "loopback: mailtrack / fetchmail",
            ratio(mt_loop, self._rate("loopback", "fetchmail")),
            2,
            uses=(loop, ("loopback", "fetchmail")),
        )
        target(
            "loopback: mailtrack / mail-parser alone",
            ratio(mt_loop, self._rate("loopback", "mail-parser (parse only)")),
            1,
            uses=(loop, ("loopback", "mail-parser (parse only)")),
        )
        target(
            "rtt: mailtrack / fetchmail",
            ratio(mt_rtt, self._rate("rtt", "fetchmail")),
            20,
            uses=(rtt, ("rtt", "fetchmail")),
        )
        target(
            "rtt: mailtrack / getmail6",
            ratio(mt_rtt, self._rate("rtt", "getmail6")),
            20,
            uses=(rtt, ("rtt", "getmail6")),
        )
        target("rtt: mailtrack / mailtrack on loopback", ratio(mt_rtt, mt_loop), 0.75, uses=(rtt, loop))
        target(
            "loopback: CPU per message, mailtrack / mail-parser's parse alone",
            ratio(self._cpu("loopback", "mailtrack"), self._cpu("loopback", "mail-parser (parse only)")),
            1,
            below=True,
            uses=(loop, ("loopback", "mail-parser (parse only)")),
        )
        target(
            "many: one by one time / run_all time",
            ratio(self._seconds("many", "mailtrack one by one"), self._seconds("many", "mailtrack run_all")),
            10,
            uses=(("many", "mailtrack one by one"), ("many", "mailtrack run_all")),
        )
        rss = {
            case: [row["rss_mb"] for row in self.rows if row["case"] == case and row["tool"] == "mailtrack"]
            for case in ("loopback", "memory")
        }
        if rss["memory"]:
            target(
                f"memory: peak RSS {10 * args.n} msgs / {args.n} msgs",
                ratio(max(rss["memory"]), max(rss["loopback"])),
                1.5,
                below=True,
                uses=(("memory", "mailtrack"), loop),
            )
        for name in ("mpop",):
            lines.append(
                f"| (for reference) rtt: mailtrack / {name} | "
                f"{(ratio(mt_rtt, self._rate('rtt', name)) or float('nan')):.2f} | | |"
            )
        if self.notes:
            lines += ["", *(f"* {note}" for note in dict.fromkeys(self.notes))]
        return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="messages in the mix (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--delay-ms", type=float, default=50.0, help="round trip added by the proxy (0: none)"
    )
    parser.add_argument(
        "--peer-rtt-n",
        type=int,
        default=150,
        help="messages for fetchmail and getmail6 at that round trip (they are slow)",
    )
    parser.add_argument(
        "--mailboxes", type=int, default=200, help="mailboxes of the `many` case (0: leave it out)"
    )
    parser.add_argument("--per-mailbox", type=int, default=20, help="messages per mailbox of `many`")
    parser.add_argument("--runs", type=int, default=1, help="runs of everything (the median is reported)")
    parser.add_argument("--memory", action="store_true", help="also import 10 x --n messages (peak RSS)")
    parser.add_argument("--server", choices=("auto", "dovecot", "pop3testserver"), default="auto")
    parser.add_argument("--no-peers", action="store_true", help="measure mailtrack and mail-parser only")
    parser.add_argument("--quick", action="store_true", help="--n 200 --peer-rtt-n 40 --mailboxes 40")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mailtrack-bench"))
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"an Importer setting for mailtrack's runs (JSON value; default {SETTINGS})",
    )
    args = parser.parse_args(argv)
    for setting in args.setting:
        name, _, value = setting.partition("=")
        SETTINGS[name] = json.loads(value)
    if args.quick:
        args.n, args.peer_rtt_n, args.mailboxes = (
            min(args.n, 200),
            min(args.peer_rtt_n, 40),
            min(args.mailboxes, 40),
        )
    return Bench(args).main()


if __name__ == "__main__":
    sys.exit(main())
