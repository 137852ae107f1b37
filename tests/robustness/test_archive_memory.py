"""An mbox file is streamed, never read whole: a 2 GB mbox (sparse: one message of 2 GB of NUL
bytes, then a small one) is imported in a process whose memory stays far below the file's size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/status and sparse files: Linux")

SIZE = 2 * 1024**3

CHILD = """\
import json, sys
from mailtrack import Importer, MailInterface, MailProtocol
interface = MailInterface(name="archive", protocol=MailProtocol.DELIVER)
report = Importer().import_archive([sys.argv[1]], interface)
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would count the parent's peak.
with open("/proc/self/status") as status:
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"created": report.created, "notes": list(report.notes), "peak": peak_kib * 1024}))
"""


def test_a_2_gb_mbox_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.mbox"
    with path.open("wb") as stream:
        stream.write(b"From alice@example.com Mon May  6 09:30:00 2024\nSubject: huge\n\n")
        stream.truncate(SIZE)  # a hole: 2 GB of NUL bytes that take no disk space
        stream.seek(SIZE)
        stream.write(
            b"\n\nFrom bob@example.com Mon May  6 09:31:00 2024\nSubject: small\nMessage-ID: <s@x>\n\nhi\n"
        )
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result = json.loads(done.stdout)
    assert result["created"] == 1
    assert any("more than max_message_bytes" in note for note in result["notes"])
    assert result["peak"] < 256 * 1024**2, f"peak memory {result['peak'] / 1024**2:.0f} MiB"
