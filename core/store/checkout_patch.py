"""Turning a hardlink checkout of one tree into a checkout of another, in place.

A deployment is a full hardlink farm, and writing one costs the size of the tree. A
checkout of a nearby commit written earlier (a spare, :mod:`core.sysroot.spare`) becomes the
new one by changing only what differs: the two trees are walked together as
:mod:`core.store.treediff` does, and equal subtree ids are skipped without being read, so the
cost follows the size of the change. The result is what :func:`core.store.checkout.checkout_tree`
of the new tree would write: the same names, kinds, modes, owners, xattrs, symlink
targets, files hardlinked to the same store objects (copies where a link cannot be made)
and directory metadata.

Safety is core.store.checkout's: every operation is relative to a directory fd opened with
O_NOFOLLOW and every name is one component, so a symlink in the checkout is never
followed. Where the old tree names a directory and the disk holds anything else, the
open fails and the patch stops with a StoreError; the caller removes the half-patched
directory (nothing here can restore it).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from core.errors import StoreError
from core.store.checkout import DIR_FLAGS, TreeCheckout, apply_dir_meta
from core.store.parts import StoreParts
from core.store.treemeta import GIT_TREE

_OWNER_RWX = stat.S_IRWXU


def patch_checkout(parts: StoreParts, dest: Path, old_tree: str, new_tree: str) -> int:
    """Patch ``dest``, a hardlink checkout of ``old_tree``, into one of ``new_tree``.

    Both trees are hex tree ids of ``store`` (``Store.subtree(commit, "")``). Returns
    the number of entries created, replaced or removed (a directory whose own metadata
    changed counts once). On failure ``dest`` is left half-patched: remove it.
    """
    try:
        old, new = bytes.fromhex(old_tree), bytes.fromhex(new_tree)
    except ValueError:
        raise StoreError(
            f"Cannot patch {dest}: {old_tree!r} or {new_tree!r} is no tree id"
        ) from None
    try:
        dfd = os.open(dest, DIR_FLAGS)
        try:
            objects_fd = os.open(parts.objects.root, DIR_FLAGS)
            try:
                job = _Patch(parts, objects_fd)
                job.directory(dfd, old, new)
            finally:
                os.close(objects_fd)
        finally:
            os.close(dfd)
    except OSError as err:
        raise StoreError(
            f"Cannot patch the checkout {dest} from tree {old_tree[:12]} to {new_tree[:12]}: "
            f"{err.strerror or err}",
            hint="the checkout was changed behind Strata's back, the store is damaged "
            "(run `strata fsck`) or the filesystem is full; check the tree out afresh",
        ) from err
    return job.touched


def count_changes(parts: StoreParts, old_tree: str, new_tree: str, limit: int) -> int | None:
    """How many entries :func:`patch_checkout` would touch; None once more than ``limit``.

    Reads only what differs (plus added and removed subtrees, to count their entries),
    and stops reading as soon as the count passes ``limit``.
    """
    counter = _Counter(parts, limit)
    try:
        counter.directory(bytes.fromhex(old_tree), bytes.fromhex(new_tree))
    except _TooMany:
        return None
    return counter.count


class _TooMany(Exception):
    pass


class _Counter:
    def __init__(self, parts: StoreParts, limit: int) -> None:
        self.reader = parts.reader
        self.limit = limit
        self.count = 0

    def add(self, n: int) -> None:
        self.count += n
        if self.count > self.limit:
            raise _TooMany

    def directory(self, old: bytes, new: bytes) -> None:
        if old == new:
            return
        meta_a, items_a = self.reader.tree(old)
        meta_b, items_b = self.reader.tree(new)
        if meta_a != meta_b:
            self.add(1)
        before = {name: (mode, oid) for mode, name, oid in items_a}
        for mode, name, oid in items_b:
            prev = before.pop(name, None)
            if prev == (mode, oid):
                continue
            if prev is not None and prev[0] == GIT_TREE and mode == GIT_TREE:
                self.directory(prev[1], oid)
                continue
            if prev is not None and prev[0] == GIT_TREE:
                self.subtree(prev[1])
            if mode == GIT_TREE:
                self.subtree(oid)
            self.add(1)
        for mode, _oid in before.values():
            if mode == GIT_TREE:
                self.subtree(_oid)
            self.add(1)

    def subtree(self, tree: bytes) -> None:
        _, items = self.reader.tree(tree)
        self.add(len(items))
        for mode, _name, oid in items:
            if mode == GIT_TREE:
                self.subtree(oid)


class _Patch:
    def __init__(self, parts: StoreParts, objects_fd: int) -> None:
        self.reader = parts.reader
        self.writer = TreeCheckout(parts, objects_fd, hardlink=True)
        self.touched = 0

    def directory(self, dfd: int, old: bytes, new: bytes) -> None:
        """Patch the open directory ``dfd`` from tree ``old`` to ``new``; metadata last."""
        if old == new:
            return
        dirmeta_a, items_a = self.reader.tree(old)
        dirmeta_b, items_b = self.reader.tree(new)
        meta_a = self.reader.dir_header(old, dirmeta_a).meta
        meta_b = self.reader.dir_header(new, dirmeta_b).meta
        opened = False
        if meta_a.mode & _OWNER_RWX != _OWNER_RWX:
            # a read-only directory (0555) is opened up while its children change, as a
            # checkout creates directories 0700 and applies their mode last
            os.fchmod(dfd, stat.S_IMODE(meta_a.mode) | _OWNER_RWX)
            opened = True
        before = {name: (mode, oid) for mode, name, oid in items_a}
        for mode, name, oid in items_b:
            prev = before.pop(name, None)
            if prev == (mode, oid):
                continue
            if prev is not None and prev[0] == GIT_TREE and mode == GIT_TREE:
                cfd = os.open(name, DIR_FLAGS, dir_fd=dfd)
                try:
                    self.directory(cfd, prev[1], oid)
                finally:
                    os.close(cfd)
                continue
            if prev is not None:
                # a replaced entry counts once; a directory's children count on both sides
                self.touched += _remove_at(dfd, name) - 1
            self.add(dfd, mode, name, oid)
        for name in before:
            self.touched += _remove_at(dfd, name)
        if meta_a != meta_b:
            wanted = {xname for xname, _value in meta_b.xattrs}
            for xname, _value in meta_a.xattrs:
                if xname not in wanted:
                    _remove_xattr(dfd, xname)
            self.touched += 1
        if meta_a != meta_b or opened:
            apply_dir_meta(dfd, meta_b)

    def add(self, dfd: int, mode: int, name: bytes, oid: bytes) -> None:
        if mode != GIT_TREE:
            self.writer.place(dfd, mode, name, oid)
            self.touched += 1
            return
        os.mkdir(name, 0o700, dir_fd=dfd)
        cfd = os.open(name, DIR_FLAGS, dir_fd=dfd)
        before = self.writer.count
        try:
            self.writer.directory(cfd, oid)
        finally:
            os.close(cfd)
        self.touched += 1 + self.writer.count - before


def _remove_at(dfd: int, name: str | bytes) -> int:
    """Remove the entry ``name`` of ``dfd`` whatever it is on disk (a directory tree
    depth first, fd-relative; a symlink is unlinked, never followed); entries removed."""
    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dfd)
        return 1
    removed = 1
    cfd = os.open(name, DIR_FLAGS, dir_fd=dfd)
    try:
        if st.st_mode & _OWNER_RWX != _OWNER_RWX:
            os.fchmod(cfd, _OWNER_RWX)
        for child in os.listdir(cfd):
            removed += _remove_at(cfd, child)
    finally:
        os.close(cfd)
    os.rmdir(name, dir_fd=dfd)
    return removed


def _remove_xattr(dfd: int, name: str) -> None:
    try:
        os.removexattr(dfd, name)
    except OSError as err:
        if err.errno != errno.ENODATA:
            raise
