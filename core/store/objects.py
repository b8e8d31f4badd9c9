"""The uncompressed file store: ``objects/XX/REST``, one file per (content, metadata) pair.

Like libostree's bare mode, an object *is* the file a checkout hardlinks: it carries the
real uid, gid, mode and xattrs, and mtime 0. It is named by the id of the git metadata
blob that describes it (:mod:`core.store.treemeta`), so the same bytes with a different owner
are a different object and hardlinks are only shared where every bit of metadata agrees.
Objects are written to a temp name in their fan-out directory, then renamed; durability
comes from one ``syncfs`` per batch before a ref moves (see :mod:`core.atomic`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from core import atomic
from core.errors import StoreError
from core.store.types import FileMeta

CHUNK = 1 << 20


def apply_meta_fd(fd: int, meta: FileMeta) -> None:
    """Set owner, then mode (chown clears setuid/setgid), then xattrs on an open file."""
    os.fchown(fd, meta.uid, meta.gid)
    os.fchmod(fd, stat.S_IMODE(meta.mode))
    for name, value in meta.xattrs:
        os.setxattr(fd, name, value)


def copy_fd(src: int, dst: int, size: int, start: int = 0) -> None:
    """Copy ``size`` bytes of ``src`` from offset ``start`` (kernel-side when possible)."""
    os.lseek(src, start, os.SEEK_SET)
    offset = 0
    while offset < size:
        try:
            done = os.copy_file_range(src, dst, min(CHUNK * 64, size - offset))
        except OSError:
            done = 0
        if done == 0:
            chunk = os.read(src, CHUNK)
            if not chunk:
                break
            os.write(dst, chunk)
            done = len(chunk)
        offset += done


def read_xattrs(
    target: int | str | bytes, *, follow_symlinks: bool = False
) -> tuple[tuple[str, bytes], ...]:
    """Every xattr of a file (fd or path, never following a symlink), sorted by name."""
    if isinstance(target, int):
        follow_symlinks = True  # an fd is the file itself; the flag only applies to paths
    try:
        names = os.listxattr(target, follow_symlinks=follow_symlinks)
    except OSError as err:
        if err.errno in (95, 61):  # EOPNOTSUPP, ENODATA
            return ()
        raise
    if not names:
        return ()
    return tuple(
        sorted((name, os.getxattr(target, name, follow_symlinks=follow_symlinks)) for name in names)
    )


def _writer_pid(name: str) -> int | None:
    """The PID in a temp object's name (``.tmp-PID-N``), None for anything else."""
    if not name.startswith(atomic.TEMP_PREFIX):
        return None
    pid, sep, counter = name[len(atomic.TEMP_PREFIX) :].partition("-")
    return int(pid) if sep and pid.isdigit() and counter.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileObjects:
    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp
        self._root = str(root)
        self._tmp_prefix = f"{atomic.TEMP_PREFIX}{os.getpid()}-"
        self._counter = itertools.count()

    def ensure_layout(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(256):
            (self.root / f"{i:02x}").mkdir(exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, hexid: str) -> Path:
        return self.root / hexid[:2] / hexid[2:]

    def spath(self, hexid: str) -> str:
        return f"{self._root}/{hexid[:2]}/{hexid[2:]}"

    def present(self, hexid: str, size: int) -> os.stat_result | None:
        """The object's lstat if it exists with the expected size (a crash can leave
        a truncated file behind an un-synced rename; size catches that), else None."""
        try:
            st = os.lstat(self.spath(hexid))
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return None
        return st

    def sweep_dead_temps(self) -> int:
        """Remove the temp files (``XX/.tmp-PID-N``) of writers that died before their
        rename (kill -9, power loss); a live process's are left alone. Returns how many."""
        removed = 0
        for fan in os.listdir(self._root):
            fan_dir = f"{self._root}/{fan}"
            if len(fan) != 2 or not os.path.isdir(fan_dir):
                continue
            for name in os.listdir(fan_dir):
                pid = _writer_pid(name)
                if pid is None or pid == os.getpid() or _alive(pid):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{fan_dir}/{name}")
                    removed += 1
        return removed

    def _create(self, hexid: str) -> tuple[int, str]:
        tmp = f"{self._root}/{hexid[:2]}/{self._tmp_prefix}{next(self._counter)}"
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp

    def _finish(self, fd: int, tmp: str, hexid: str, meta: FileMeta) -> os.stat_result:
        try:
            apply_meta_fd(fd, meta)
            os.utime(fd, ns=(0, 0))
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.rename(tmp, self.spath(hexid))
        return st

    def write_bytes(self, hexid: str, data: bytes, meta: FileMeta) -> os.stat_result:
        fd, tmp = self._create(hexid)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return self._finish(fd, tmp, hexid, meta)

    def write_chunks(self, hexid: str, chunks: Iterable[bytes], meta: FileMeta) -> os.stat_result:
        """Write an object from a stream of verified chunks; the object appears (rename)
        only once the stream ends without an error."""
        fd, tmp = self._create(hexid)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return self._finish(fd, tmp, hexid, meta)

    def write_symlink(self, hexid: str, target: str, meta: FileMeta) -> None:
        """A symlink object, so a checkout links symlinks too instead of creating them."""
        tmp = f"{self._root}/{hexid[:2]}/{self._tmp_prefix}{next(self._counter)}"
        os.symlink(os.fsencode(target), tmp)
        try:
            os.chown(tmp, meta.uid, meta.gid, follow_symlinks=False)
            for name, value in meta.xattrs:
                os.setxattr(tmp, name, value, follow_symlinks=False)
            os.utime(tmp, ns=(0, 0), follow_symlinks=False)
        except BaseException:
            os.unlink(tmp)
            raise
        os.rename(tmp, self.spath(hexid))

    def symlink_present(self, hexid: str) -> bool:
        try:
            return stat.S_ISLNK(os.lstat(self.spath(hexid)).st_mode)
        except FileNotFoundError:
            return False

    def write_copy(
        self, hexid: str, src_fd: int, size: int, meta: FileMeta, start: int = 0
    ) -> os.stat_result:
        """Write an object by copying an open file in the kernel (large files)."""
        fd, tmp = self._create(hexid)
        try:
            copy_fd(src_fd, fd, size, start)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return self._finish(fd, tmp, hexid, meta)

    def hash_file(self, fd: int, start: int = 0) -> tuple[str, int]:
        """sha256 and length of an open file, read from offset ``start`` to its end."""
        digest = hashlib.sha256()
        size = 0
        os.lseek(fd, start, os.SEEK_SET)
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size

    def open_object(self, hexid: str) -> int:
        try:
            return os.open(self.spath(hexid), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError as err:
            raise StoreError(
                f"File object {hexid} is missing from the store",
                hint="run `strata fsck`; re-commit the tree that contained it",
            ) from err
