"""Durable, atomic file replacement: write a temp file beside the target, fsync, rename, fsync dir.

Every file whose half-written state would be visible to a user (a ref, an origin, a boot
entry, a store object) goes through here, so a crash leaves either the old or the new
content, never a torn file. Temp files live in the target's directory (or a caller-chosen
directory on the same filesystem) because rename(2) is only atomic within one filesystem.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".tmp-"


def temp_name(final: str | Path) -> str:
    """A unique temp file name for ``final``, recognisable (``.tmp-`` prefix) for cleanup."""
    return f"{TEMP_PREFIX}{Path(final).name[:40]}.{secrets.token_hex(6)}"


def fsync_dir(path: str | Path) -> None:
    """Make a directory's entries (new names, renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(
    path: str | Path,
    data: bytes,
    *,
    mode: int = 0o644,
    fsync: bool = True,
    tmp_dir: str | Path | None = None,
) -> None:
    """Replace ``path`` by ``data`` atomically; with ``fsync`` the result survives a crash."""
    with open_atomic(path, mode=mode, fsync=fsync, tmp_dir=tmp_dir) as out:
        out.write(data)


def write_text(path: str | Path, text: str, *, mode: int = 0o644, fsync: bool = True) -> None:
    write_bytes(path, text.encode(), mode=mode, fsync=fsync)


@contextmanager
def open_atomic(
    path: str | Path,
    *,
    mode: int = 0o644,
    fsync: bool = True,
    tmp_dir: str | Path | None = None,
) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` when the block ends without an exception.

    On an exception the temp file is removed and ``path`` is untouched.
    """
    final = Path(path)
    directory = Path(tmp_dir) if tmp_dir is not None else final.parent
    tmp = directory / temp_name(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # not subject to the umask
        with os.fdopen(fd, "wb", closefd=True) as out:
            yield out
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.rename(tmp, final)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_dir(final.parent)
        if directory != final.parent:
            fsync_dir(directory)


def symlink_atomic(target: str, path: str | Path, *, fsync: bool = True) -> None:
    """Point the symlink ``path`` at ``target`` by renaming a fresh symlink over it.

    This is how a boot-loader switch (``loader -> loader.1``) happens in one step.
    """
    final = Path(path)
    tmp = final.parent / temp_name(final)
    os.symlink(target, tmp)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.unlink(tmp)
        raise
    if fsync:
        fsync_dir(final.parent)


def rename_durable(src: str | Path, dst: str | Path) -> None:
    """rename(2) then fsync both parent directories."""
    os.rename(src, dst)
    fsync_dir(Path(dst).parent)
    if Path(src).parent != Path(dst).parent:
        fsync_dir(Path(src).parent)


_libc: ctypes.CDLL | None = None


def syncfs(path: str | Path) -> None:
    """Flush every dirty page of the filesystem holding ``path`` (one call, not one per file).

    Writing thousands of objects then calling syncfs once is how a store makes a batch
    durable before a ref moves, without an fsync per object. Falls back to sync(2).
    """
    global _libc  # noqa: PLW0603 - loaded once, lazily
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        func = getattr(_libc, "syncfs", None)
        if func is None or func(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
