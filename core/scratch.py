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

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

MARKER = ".strata-scratch"
SUFFIX = ".scratch"  # every scratch directory's name ends so, marked yet or not
_RMDIR_THREADS = 16


@contextmanager
def scratch_dir(parent: Path, prefix: str, *, own_tempfiles: bool = False) -> Iterator[Path]:
    """A fresh directory under ``parent``, locked while the block runs, removed after.

    With ``own_tempfiles`` Python's ``tempfile`` (every ``TemporaryDirectory`` without a
    ``dir=``, in this process) creates under ``PATH/tmp`` meanwhile, so a crash leaves
    nothing in the host's ``/tmp`` either: the sweep takes it with the rest.
    """
    parent.mkdir(parents=True, exist_ok=True)
    with creating(parent):  # a sweep waits until the marker is in
        path = Path(tempfile.mkdtemp(prefix=prefix, suffix=SUFFIX, dir=parent))
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            (path / MARKER).touch()
        except BaseException:
            os.close(fd)
            shutil.rmtree(path, ignore_errors=True)
            raise
    previous = tempfile.tempdir
    try:
        if own_tempfiles:
            (path / "tmp").mkdir()
            tempfile.tempdir = str(path / "tmp")
        yield path
    finally:
        tempfile.tempdir = previous
        try:
            remove_tree(path)
        finally:
            os.close(fd)


@contextmanager
def temp_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A private directory under ``parent`` (a scratch directory), removed after the
    block by :func:`remove_tree`: for a checkout of a whole tree."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        remove_tree(path)


def creating(parent: Path) -> AbstractContextManager[None]:
    """Hold while making and marking a directory :func:`sweep` is to know (shared)."""
    return _parent_lock(parent, fcntl.LOCK_SH)


@contextmanager
def _parent_lock(parent: Path, how: int) -> Iterator[None]:
    """A flock on ``parent`` itself: shared while a scratch directory is being made and
    marked, exclusive while sweeping, so a sweep never meets a directory still on its
    way to being marked, and an unmarked one it meets is a creator killed half-way."""
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)


def sweep(parent: Path) -> list[str]:
    """Remove the scratch directories under ``parent`` no live process holds; their names."""
    try:
        with _parent_lock(parent, fcntl.LOCK_EX):
            return _sweep(parent)
    except FileNotFoundError:
        return []


def _sweep(parent: Path) -> list[str]:
    removed: list[str] = []
    for name in sorted(os.listdir(parent)):
        path = parent / name
        if path.is_symlink():
            continue
        if not (path / MARKER).is_file():
            # Killed between mkdtemp and the marker: ours by its name, and empty.
            if name.endswith(SUFFIX) and path.is_dir() and not any(os.scandir(path)):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
                    removed.append(name)
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
            remove_tree(path)
            removed.append(name)
        finally:
            os.close(fd)
    return removed


def remove_tree(path: Path) -> None:
    """``rm -rf path``, its directories removed many at a time; errors ignored.

    Removing a directory can wait on the disk (here ~2 ms each on ext4 mounted with
    ``discard``: a checkout of a base's 1,500 directories took 3 s to remove one by one)
    while files go at once, so the directories of each depth, deepest first, are
    removed by a pool of threads (``os.rmdir`` releases the GIL): the waits overlap.
    Whatever is left (an unreadable corner) goes by :func:`shutil.rmtree`.
    """
    if not os.path.lexists(path):
        return
    levels: dict[int, list[str]] = {}
    for top, dirs, files, dfd in os.fwalk(path):  # errors below the top: left to rmtree
        for name in files:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dfd)
        for name in dirs:
            # fwalk does not descend into symlinks to directories; they are links to unlink
            with contextlib.suppress(OSError):
                if os.path.islink(os.path.join(top, name)):
                    os.unlink(name, dir_fd=dfd)
                    continue
            levels.setdefault(top.count(os.sep), []).append(os.path.join(top, name))
    if levels:
        with ThreadPoolExecutor(max_workers=_RMDIR_THREADS) as pool:
            for depth in sorted(levels, reverse=True):
                list(pool.map(_rmdir, levels[depth]))
    if os.path.lexists(path):
        _open_up(path)
        shutil.rmtree(path, ignore_errors=True)


def _open_up(path: Path) -> None:
    """Make what is left writable by its owner (a 0555 directory a checkout made)."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for top, dirs, _files in os.walk(path):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(top, name), 0o700, follow_symlinks=False)


def _rmdir(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)
