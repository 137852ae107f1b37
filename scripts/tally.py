"""Run the robustness tests of issue 5 and print what they tried: bad inputs, faults, messages lost and
duplicated.

Usage (from the repository root)::

    .venv/bin/python scripts/tally.py [extra pytest arguments]

The tests count for themselves (``tests/support/_tally.py``) into a file named by ``$MAILTRACK_TALLY``;
this script sets it, runs them with the deterministic hypothesis profile, and sums. It exits
with pytest's status, or 1 when a message was lost or duplicated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/robustness/test_faults.py",
    "tests/robustness/test_sigkill.py",
    "tests/robustness/test_end_to_end_hostile.py",
    "tests/robustness/test_properties.py",
    "tests/robustness/test_terminal_injection.py",
    "tests/robustness/test_hostile_servers.py",
    "tests/robustness/test_crash_loops.py",
]


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        tally = Path(scratch) / "tally.jsonl"
        env = {**os.environ, "MAILTRACK_TALLY": str(tally), "MAILTRACK_HYPOTHESIS_PROFILE": "ci"}
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *(str(ROOT / test) for test in TESTS),
        ]
        status = subprocess.call([*command, *argv], env=env, cwd=ROOT)
        totals = {"bad_inputs": 0, "faults": 0, "messages": 0, "lost": 0, "duplicated": 0}
        if tally.exists():
            for line in tally.read_text(encoding="utf-8").splitlines():
                for key, value in json.loads(line).items():
                    totals[key] += value
    print()
    print(f"bad inputs tried:     {totals['bad_inputs']}")
    print(f"faults injected:      {totals['faults']}")
    print(f"messages audited:     {totals['messages']}")
    print(f"messages lost:        {totals['lost']}")
    print(f"messages duplicated:  {totals['duplicated']}")
    if totals["lost"] or totals["duplicated"]:
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
