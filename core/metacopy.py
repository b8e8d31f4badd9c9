"""Copying files as real copies, carrying owner, mode, xattrs and times.

``/etc`` of a deployment must never share an inode with the store (an edit would corrupt
every deployment and the store object itself), yet it must keep the SELinux labels,
capabilities and modes the defaults had. ``shutil.copy2`` drops owners and follows no
rule for symlink xattrs, hence this small module.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path


def copy_xattrs(src: Path, dst: Path) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EPERM):
            return
        raise
    for name in names:
        try:
            value = os.getxattr(src, name, follow_symlinks=False)
            os.setxattr(dst, name, value, follow_symlinks=False)
        except OSError as err:
            # user.* xattrs are not allowed on symlinks; filesystems without xattrs.
            if err.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                raise


def xattrs_of(path: Path) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EPERM):
            return ()
        raise
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names))


def copy_meta(src: Path, dst: Path, st: os.stat_result | None = None) -> None:
    """Owner, xattrs, mode (not for symlinks: Linux has no symlink modes) and times."""
    st = st or os.lstat(src)
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    copy_xattrs(src, dst)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_node(src: Path, dst: Path) -> bool:
    """Copy one file, symlink or (empty) directory; False for sockets, fifos, devices."""
    st = os.lstat(src)
    if stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(dst, 0o700)
    else:
        return False
    copy_meta(src, dst, st)
    return True


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a whole tree; a directory's metadata is set after its children are in."""
    st = os.lstat(src)
    if not stat.S_ISDIR(st.st_mode):
        copy_node(src, dst)
        return
    os.mkdir(dst, 0o700)
    for name in sorted(os.listdir(src)):
        copy_tree(src / name, dst / name)
    copy_meta(src, dst, st)


def remove_tree(path: Path) -> None:
    """Remove a file, symlink or directory tree; missing is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def same_node(a: Path, b: Path) -> bool:
    """Equal type, content (or target), owner, mode and xattrs; times do not count."""
    sa, sb = os.lstat(a), os.lstat(b)
    if (sa.st_mode, sa.st_uid, sa.st_gid) != (sb.st_mode, sb.st_uid, sb.st_gid):
        return False
    if stat.S_ISLNK(sa.st_mode):
        if os.readlink(a) != os.readlink(b):
            return False
    elif stat.S_ISREG(sa.st_mode):
        if sa.st_size != sb.st_size:
            return False
        if (sa.st_dev, sa.st_ino) != (sb.st_dev, sb.st_ino) and not _same_bytes(a, b):
            return False
    elif not stat.S_ISDIR(sa.st_mode) and sa.st_rdev != sb.st_rdev:
        return False
    return xattrs_of(a) == xattrs_of(b)


def _same_bytes(a: Path, b: Path) -> bool:
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            ca, cb = fa.read(1 << 16), fb.read(1 << 16)
            if ca != cb:
                return False
            if not ca:
                return True
