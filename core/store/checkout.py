"""Checking a tree out: hardlinks into the file store (or copies), never leaving ``dest``.

Every operation is relative to a directory fd that was opened with O_NOFOLLOW, and every
name is a single checked component, so a symlink the checkout itself created (or any
other) is never resolved: a hostile tree cannot write outside ``dest``. Directory
metadata is applied after the children are in place, so read-only directories (0555,
0500) check out too. Hardlinks fall back to copies when the store sits on another
filesystem (EXDEV) or an inode hit its link limit (EMLINK).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.errors import StoreError
from core.faults import fault_point
from core.store.objects import apply_meta_fd, copy_fd
from core.store.parts import StoreParts
from core.store.treemeta import GIT_LINK, GIT_TREE, Header
from core.store.types import FileMeta

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LINK_FALLBACK = (errno.EXDEV, errno.EMLINK, errno.EPERM)
_MAX_EXPAND_DEPTH = 4
_MIN_TASKS = 32
# Measured on 2 cores (50k entries): CPU time equals cp -al's and is mostly link(2)/mkdir(2)
# in the kernel; a second thread did not shorten the wall time, so one is the default.
# More may pay off on many-core machines with a fast filesystem.
WORKERS = 1


def checkout_tree(parts: StoreParts, tree: bytes, dest: Path, *, hardlink: bool) -> None:
    created = _prepare_dest(dest)
    try:
        dfd = os.open(dest, DIR_FLAGS)
        objects_fd = os.open(parts.objects.root, DIR_FLAGS)
        try:
            job = TreeCheckout(parts, objects_fd, hardlink)
            if WORKERS > 1:
                job.parallel(dfd, tree, WORKERS)
            else:
                job.directory(dfd, tree)
        finally:
            os.close(objects_fd)
            os.close(dfd)
    except OSError as err:
        _undo(dest, created)
        raise StoreError(
            f"Cannot check out into {dest}: {err.strerror or err}",
            hint="the tree may be damaged (run `strata fsck`) or the target filesystem full",
        ) from err
    except BaseException:
        _undo(dest, created)
        raise


def _prepare_dest(dest: Path) -> bool:
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        try:
            os.mkdir(dest, 0o700)
        except OSError as err:
            raise StoreError(f"Cannot create checkout directory {dest}: {err.strerror}") from err
        return True
    if not stat.S_ISDIR(st.st_mode) or os.listdir(dest):
        raise StoreError(
            f"Cannot check out into {dest}: it exists and is not an empty directory",
            hint="choose a new path or remove the old one",
        )
    return False


def _undo(dest: Path, created: bool) -> None:
    """Leave nothing half-written: remove what this checkout made."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in os.listdir(dest):
        path = dest / child
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


class TreeCheckout:
    """Writes trees into open directory fds; :mod:`core.store.checkout_patch` reuses it to
    add the subtrees and files a patched checkout gains."""

    def __init__(self, parts: StoreParts, objects_fd: int, hardlink: bool) -> None:
        self.reader = parts.reader
        self.objects_fd = objects_fd
        self.hardlink = hardlink
        self.count = 0  # entries created (approximate under parallel(): not locked)

    def directory(self, dfd: int, tree: bytes) -> None:
        """Check out ``tree`` into the open directory ``dfd``, depth first."""
        subdirs, header = self.entries(dfd, tree)
        for name, child in subdirs:
            cfd = os.open(name, DIR_FLAGS, dir_fd=dfd)
            try:
                self.directory(cfd, child)
            finally:
                os.close(cfd)
        apply_dir_meta(dfd, header.meta)

    def entries(self, dfd: int, tree: bytes) -> tuple[list[tuple[bytes, bytes]], Header]:
        """Link or create every non-directory entry; mkdir (0700) the subdirectories and
        return them. The caller applies the directory's own metadata when all is done."""
        dirmeta, items = self.reader.tree(tree)
        header = self.reader.dir_header(tree, dirmeta)
        self.count += len(items)
        subdirs: list[tuple[bytes, bytes]] = []
        place = self.place
        for mode, name, child in items:
            fault_point("checkout-mid")
            if mode == GIT_TREE:
                os.mkdir(name, 0o700, dir_fd=dfd)
                subdirs.append((name, child))
            else:
                place(dfd, mode, name, child)
        return subdirs, header

    def place(self, dfd: int, mode: int, name: bytes, child: bytes) -> None:
        """Create one file or symlink entry: a hardlink to its object, else a copy."""
        if not self.hardlink:
            if mode == GIT_LINK:
                self.symlink(dfd, name, child)
            else:
                self.copy(dfd, name, child)
            return
        hexid = child.hex()
        try:
            os.link(
                f"{hexid[:2]}/{hexid[2:]}".encode(),
                name,
                src_dir_fd=self.objects_fd,
                dst_dir_fd=dfd,
                follow_symlinks=False,
            )
        except OSError as err:
            if mode == GIT_LINK and (err.errno == errno.ENOENT or err.errno in _LINK_FALLBACK):
                self.symlink(dfd, name, child)
            elif err.errno == errno.ENOENT:
                raise _missing(hexid) from err
            elif err.errno in _LINK_FALLBACK:
                self.copy(dfd, name, child)
            else:
                raise

    def parallel(self, dfd: int, tree: bytes, workers: int) -> None:
        """Expand the top of the tree breadth first on this thread, then check the
        subtrees below that frontier out on ``workers`` threads (link(2) and mkdir(2)
        release the GIL). Directory metadata above the frontier is applied last,
        deepest first, so read-only directories never block their own contents."""
        opened: list[int] = []
        finish: list[tuple[int, Header]] = []
        level: list[tuple[int, bytes]] = [(dfd, tree)]
        tasks: list[tuple[int, bytes, bytes]] = []
        try:
            for depth in range(_MAX_EXPAND_DEPTH):
                tasks = []
                for fd, oid in level:
                    subdirs, header = self.entries(fd, oid)
                    finish.append((fd, header))
                    tasks.extend((fd, name, child) for name, child in subdirs)
                if len(tasks) >= _MIN_TASKS or not tasks or depth == _MAX_EXPAND_DEPTH - 1:
                    break
                level = []
                for fd, name, child in tasks:
                    cfd = os.open(name, DIR_FLAGS, dir_fd=fd)
                    opened.append(cfd)
                    level.append((cfd, child))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(self._subtree, *task) for task in tasks]
                for future in futures:
                    future.result()
            for fd, header in reversed(finish):
                apply_dir_meta(fd, header.meta)
        finally:
            for fd in opened:
                os.close(fd)

    def _subtree(self, parent_fd: int, name: bytes, tree: bytes) -> None:
        cfd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        try:
            self.directory(cfd, tree)
        finally:
            os.close(cfd)

    def symlink(self, dfd: int, name: bytes, oid: bytes) -> None:
        header = self.reader.header(oid)
        assert header.target is not None
        os.symlink(os.fsencode(header.target), name, dir_fd=dfd)
        meta = header.meta
        os.chown(name, meta.uid, meta.gid, dir_fd=dfd, follow_symlinks=False)
        if meta.xattrs:
            # /proc/self/fd/N is this directory; the last component (the link) is not followed
            path = b"/proc/self/fd/%d/%s" % (dfd, name)
            for xname, value in meta.xattrs:
                os.setxattr(path, xname, value, follow_symlinks=False)

    def copy(self, dfd: int, name: bytes, oid: bytes) -> None:
        header = self.reader.header(oid)
        hexid = oid.hex()
        try:
            src = os.open(
                f"{hexid[:2]}/{hexid[2:]}",
                os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                dir_fd=self.objects_fd,
            )
        except FileNotFoundError as err:
            raise _missing(hexid) from err
        try:
            out = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dfd,
            )
            try:
                copy_fd(src, out, header.size)
                apply_meta_fd(out, header.meta)
            finally:
                os.close(out)
        finally:
            os.close(src)


def apply_dir_meta(dfd: int, meta: FileMeta) -> None:
    """Owner, then mode, then xattrs of an open directory (after its children are in)."""
    os.fchown(dfd, meta.uid, meta.gid)
    os.fchmod(dfd, stat.S_IMODE(meta.mode))
    for name, value in meta.xattrs:
        os.setxattr(dfd, name, value)


def _missing(hexid: str) -> StoreError:
    return StoreError(
        f"File object {hexid} is missing from the store",
        hint="run `strata fsck`; re-commit the tree that contained it",
    )
