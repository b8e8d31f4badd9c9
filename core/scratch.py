"""Scratch directories under a store's ``tmp/`` that a crash cannot leak.

A command killed at any moment (power cut, ``kill -9``) leaves its scratch directory
behind, and nothing would ever remove it. As libostree does for its staging
directories, a scratch directory is held with an ``flock`` on the directory itself for
as long as it is in use, and marked as ours by a file created *after* the lock is taken.
:func:`sweep` removes every marked directory nobody holds any more: the next command
cleans up after a crashed one, while a concurrent command's directory (still locked,
or too young to be marked) is left alone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = ".strata-scratch"


@contextmanager
def scratch_dir(parent: Path, prefix: str, *, own_tempfiles: bool = False) -> Iterator[Path]:
    """A fresh directory under ``parent``, locked while the block runs, removed after.

    With ``own_tempfiles`` Python's ``tempfile`` (every ``TemporaryDirectory`` without a
    ``dir=``, in this process) creates under ``PATH/tmp`` meanwhile, so a crash leaves
    nothing in the host's ``/tmp`` either: the sweep takes it with the rest.
    """
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    previous = tempfile.tempdir
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        (path / MARKER).touch()
        if own_tempfiles:
            (path / "tmp").mkdir()
            tempfile.tempdir = str(path / "tmp")
        yield path
    finally:
        tempfile.tempdir = previous
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


def sweep(parent: Path) -> list[str]:
    """Remove the scratch directories under ``parent`` no live process holds; their names."""
    removed: list[str] = []
    try:
        names = sorted(os.listdir(parent))
    except FileNotFoundError:
        return removed
    for name in names:
        path = parent / name
        if path.is_symlink() or not (path / MARKER).is_file():
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
        finally:
            os.close(fd)
    return removed
