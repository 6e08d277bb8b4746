"""Child processes that die with their parent, and process identity for locks (stdlib only).

A `kill -9` of a command gives its children no chance to clean up: pool workers of a bootstrap
or a sweep would keep computing (100% CPU) for nobody. On Linux the kernel can deliver a signal
to a child when its parent dies (prctl PR_SET_PDEATHSIG); `die_with_parent` asks for SIGTERM,
so pass it as the initializer of a process pool, or call it first thing in a worker process.
Elsewhere it does nothing (sweep workers also poll their parent; see lmscale.sweep.worker).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import sys

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> bool:
    """Have the kernel send `sig` to this process when its parent exits; True where it could.

    `parent`: the pid the parent had when it started this process, where known. A parent that
    died before this call never sends the signal (this process was reparented already), so then
    this process exits at once instead."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid() if parent is None else parent
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):  # no libc (a static or exotic build): keep the default
        return False
    if os.getppid() != parent:
        os._exit(1)
    return True


def _stat(pid: int) -> list[bytes] | None:
    """Fields 3… of /proc/<pid>/stat (Linux), None where there is no such file."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return stat[stat.rfind(b")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, Linux), None where the OS does not say.

    With the pid it names one process: a pid reused after a crash has another start time."""
    fields = _stat(pid)
    try:
        return int(fields[19]) if fields else None  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


def boot_id() -> str | None:
    """This boot of this machine (Linux); start ticks compare only within one boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return None


def identity(pid: int | None = None) -> dict[str, object]:
    """host, boot, pid and start time of a process (default: this one), JSON-able."""
    pid = os.getpid() if pid is None else pid
    return {"host": socket.gethostname(), "boot": boot_id(), "pid": pid, "start": start_ticks(pid)}


def alive(owner: dict[str, object]) -> bool:
    """Whether the process `identity()` described is still running.

    A process on another host, or of an earlier boot, counts as gone: the run store is SQLite in
    WAL mode, which only processes of one machine (sharing memory) can use together."""
    if owner.get("host") != socket.gethostname() or owner.get("boot") != boot_id():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    fields = _stat(pid)
    if fields and fields[0] in (b"Z", b"X"):  # killed, not yet reaped by its parent
        return False
    start = owner.get("start")
    return start is None or start_ticks(pid) in (None, start)
