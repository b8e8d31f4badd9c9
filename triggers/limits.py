"""Bounds on what one sandboxed command may consume: processes, memory, disk.

Scripts run as real uid 0 in the initial user namespace, and the kernel never
applies ``RLIMIT_NPROC`` to that user (``copy_process`` exempts it whatever its
capabilities), while a cgroup needs a writable cgroup tree that containers and
CI machines often lack. So the bound is kept from outside: a watchdog polls
the sandbox's pid namespace (every process in it, found by its namespace
inode), sums their resident memory, and watches the filesystem that receives
the scripts' writes (the overlay's upper; its size is measured whenever that
filesystem grew past the bound, since others write there too). Past any bound the whole sandbox is
killed, as on a timeout. A fork bomb or a memory hog can overshoot a bound by
what it manages in one poll interval; the kernel's own limits (pid_max,
overcommit) cover that gap, and the host never sees more than that.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Limits:
    """What one command in the sandbox may use before it is killed."""

    processes: int = 1024  # tasks alive at once in the sandbox's pid namespace
    memory: int = 8 << 30  # bytes resident, summed over those processes
    disk_growth: int = 16 << 30  # bytes the upper's filesystem may fill while it runs
    disk_reserve: int = 256 << 20  # bytes that filesystem must keep free


DEFAULT_LIMITS = Limits()


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(word) for word in text.split()]


def _zombie(pid: str) -> bool:
    """Exited, waiting for its parent (or the host's init, once orphaned) to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].startswith(("Z", "X"))


def _tree_bytes(top: Path) -> int:
    """Bytes allocated to everything under ``top`` (what ``du`` says)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def _used_bytes(path: Path) -> tuple[int, int]:
    """(bytes in use, bytes free for an unprivileged writer) on ``path``'s filesystem."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_bavail * st.f_frsize


class Watchdog:
    """Checks one running sandbox against ``limits``; ``check`` says what was exceeded."""

    def __init__(self, limits: Limits, sandbox_pid: int, writes: Path | None) -> None:
        self.limits = limits
        self.sandbox_pid = sandbox_pid  # bwrap, outside the namespace it creates
        self.writes = writes
        self.host_ns = _readlink("/proc/self/ns/pid")
        self.namespace: str | None = None
        self.used_at_start = _used_bytes(writes)[0] if writes is not None else 0
        self.peak_processes = 0
        self._measured_at = 0.0

    def _find_namespace(self) -> str | None:
        # bwrap forks the namespace's init; the outer processes (unshare, sh, bwrap)
        # exec one another under the same pid, so its children are the candidates.
        for child in _children(self.sandbox_pid):
            ns = _readlink(f"/proc/{child}/ns/pid")
            if ns is not None and ns != self.host_ns:
                return ns
        return None

    def _members(self) -> list[str]:
        if self.namespace is None:
            self.namespace = self._find_namespace()
            if self.namespace is None:
                return []
        members = []
        with os.scandir("/proc") as entries:
            for entry in entries:
                if (
                    entry.name.isdigit()
                    and _readlink(f"/proc/{entry.name}/ns/pid") == self.namespace
                ):
                    members.append(entry.name)
        return members

    def wait_gone(self, timeout: float = 10.0) -> bool:
        """Wait until no process of the namespace runs any more (the kernel kills a dead
        namespace's processes asynchronously; zombies left to the host's init to reap
        are gone in all but name). False if some still run after ``timeout``."""
        deadline = time.monotonic() + timeout
        while [pid for pid in self._members() if not _zombie(pid)]:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)
        return True

    def check(self) -> str | None:
        """None while within bounds, else what was exceeded (for the error message)."""
        members = self._members()
        self.peak_processes = max(self.peak_processes, len(members))
        if len(members) > self.limits.processes:
            return f"more than {self.limits.processes} processes"
        resident = 0
        for pid in members:
            with contextlib.suppress(OSError, ValueError, IndexError):
                resident += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        if resident > self.limits.memory:
            return f"more than {self.limits.memory >> 20} MiB of memory"
        if self.writes is not None:
            used, free = _used_bytes(self.writes)
            # The filesystem's growth is cheap to read but counts every writer of the
            # host: only past the bound is the sandbox's own share measured (at most
            # once a second), so another program's download never kills a script.
            now = time.monotonic()
            if (
                used - self.used_at_start > self.limits.disk_growth
                and now - self._measured_at >= 1.0
            ):
                self._measured_at = now
                if _tree_bytes(self.writes) > self.limits.disk_growth:
                    return f"more than {self.limits.disk_growth >> 20} MiB of disk"
            if free < self.limits.disk_reserve:
                return f"the disk of {self.writes} down to {free >> 20} MiB free"
        return None
