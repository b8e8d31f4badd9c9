"""The sysroot lock: one exclusive ``flock`` on ``SYSROOT/ostree/lock``, as libostree.

A second mutating command fails at once (no waiting behind a long install) and the
message names the holder's pid, which the holder writes into the lock file. The lock is
re-entrant within one process, so the engine can hold it around a whole operation and
still call sysroot methods that take it themselves.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import LockError

_held: dict[str, tuple[int, int]] = {}  # realpath -> (fd, depth)
_guard = threading.Lock()


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


@contextmanager
def sysroot_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock at ``path`` for the block; LockError at once if taken."""
    key = os.path.realpath(path)
    with _guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                fd, depth = _held[key]
                _held[key] = (fd, depth - 1)
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        holder = _holder(fd)
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            who = f"process {holder}" if holder else "another process"
            raise LockError(
                f"The sysroot is locked by {who} ({path})",
                hint="wait for the other strata command to finish, then retry",
            ) from err
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        with _guard:
            _held[key] = (fd, 1)
        yield
    finally:
        with _guard:
            _held.pop(key, None)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing releases the flock
