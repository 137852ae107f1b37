"""Who holds a lease: worker IDs that name a process, and whether that process still runs.

The default worker ID is ``HOST:PID:RANDOM:IDENTITY``. ``IDENTITY`` pins the process down on
Linux: the kernel's boot ID, the PID namespace (containers on one host may share a host name
and reuse each other's PIDs) and the process's start time (a PID reused after the holder died
belongs to a process that started later). A lease whose holder is on this host, in this PID
namespace, since this boot, and whose PID is gone, a zombie or another process, is held by
nobody: :func:`holder_is_gone` says so, and the importer takes it over at once instead of
waiting for it to expire. Anything it cannot tell for certain counts as alive.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

__all__ = ["default_worker_id", "describe_holder", "holder_is_gone", "process_identity"]

_PROC = Path("/proc")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def _start_time(pid: int) -> tuple[str, str] | None:
    """The process's state and start time (clock ticks after boot), from ``/proc/PID/stat``."""
    stat = _read(_PROC / str(pid) / "stat")
    if stat is None or ")" not in stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def _boot_id() -> str | None:
    boot = _read(_PROC / "sys" / "kernel" / "random" / "boot_id")
    return boot.replace("-", "")[:12] if boot else None


def _pid_namespace() -> str | None:
    try:
        link = os.readlink(_PROC / "self" / "ns" / "pid")
    except OSError:
        return None
    return "".join(ch for ch in link if ch.isdigit()) or None


def process_identity(pid: int | None = None) -> str | None:
    """``BOOT.NAMESPACE.START`` for *pid* (this process by default), or ``None`` off Linux."""
    boot, namespace = _boot_id(), _pid_namespace()
    started = _start_time(os.getpid() if pid is None else pid)
    if boot is None or namespace is None or started is None:
        return None
    return f"{boot}.{namespace}.{started[1]}"


def default_worker_id() -> str:
    """``HOST:PID:RANDOM`` plus, where it can be known, ``:IDENTITY`` (see the module)."""
    base = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    identity = process_identity()
    return base if identity is None else f"{base}:{identity}"


def describe_holder(owner: str) -> str:
    """The part of a worker ID a person reads: ``HOST:PID`` for default IDs, else the ID."""
    parts = owner.split(":")
    if len(parts) in (3, 4) and parts[1].isdigit():
        return f"{parts[0]}:{parts[1]}"
    return owner


def holder_is_gone(owner: str) -> bool:
    """Whether the process a default worker ID names has certainly ended.

    Only for IDs made by :func:`default_worker_id` on this host, in this PID namespace, since
    this boot; for any other ID (another host, a container of its own, an ID the host chose)
    it cannot be known here, and the answer is False.
    """
    parts = owner.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or parts[0] != socket.gethostname():
        return False
    boot, _, rest = parts[3].partition(".")
    namespace, _, start = rest.partition(".")
    if not start or boot != _boot_id() or namespace != _pid_namespace():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return start != (_start_time(pid) or ("", ""))[1]
    now = _start_time(pid)
    if now is None:
        return not (_PROC / str(pid)).exists()  # gone; unreadable but present counts as alive
    state, started = now
    return started != start or state in ("Z", "X")
