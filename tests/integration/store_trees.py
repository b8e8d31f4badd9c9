"""Helpers for store tests: build trees with exact metadata on disk, and snapshot them.

A snapshot maps each relative path to everything a user could observe by lstat, readlink,
read and listxattr (not timestamps), so two trees compare as one dict equality and a
failure shows the differing paths.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class F:
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class L:
    target: str
    uid: int = 0
    gid: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()  # trusted./security. only: no user.* on links


@dataclass(frozen=True)
class D:
    children: dict[str, F | L | D] = field(default_factory=dict)
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()


def build(path: Path, node: F | L | D) -> None:
    """Create ``node`` at ``path``; directory metadata is applied after the children."""
    if isinstance(node, F):
        path.write_bytes(node.data)
        os.chown(path, node.uid, node.gid)
        os.chmod(path, node.mode)
        for name, value in node.xattrs:
            os.setxattr(path, name, value)
    elif isinstance(node, L):
        os.symlink(node.target, path)
        os.chown(path, node.uid, node.gid, follow_symlinks=False)
        for name, value in node.xattrs:
            os.setxattr(path, name, value, follow_symlinks=False)
    else:
        path.mkdir(exist_ok=True)
        for name, child in node.children.items():
            build(path / name, child)
        os.chown(path, node.uid, node.gid)
        os.chmod(path, node.mode)
        for name, value in node.xattrs:
            os.setxattr(path, name, value)


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}

    def visit(path: Path, rel: str) -> None:
        st = os.lstat(path)
        xattrs = tuple(
            sorted(
                (n, os.getxattr(path, n, follow_symlinks=False))
                for n in os.listxattr(path, follow_symlinks=False)
            )
        )
        if stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", st.st_mode, st.st_uid, st.st_gid, xattrs)
            for child in sorted(os.listdir(path)):
                visit(path / child, f"{rel}/{child}" if rel else child)
        elif stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", st.st_uid, st.st_gid, os.readlink(path), xattrs)
        else:
            out[rel] = ("file", st.st_mode, st.st_uid, st.st_gid, path.read_bytes(), xattrs)

    visit(root, "")
    return out


def sample_tree() -> D:
    """A small tree with every kind of metadata the store must keep."""
    return D(
        {
            "usr": D(
                {
                    "bin": D(
                        {
                            "su": F(b"#!/bin/sh\necho su\n", 0o4755),
                            "wall": F(b"wall\n", 0o2755, 0, 5),
                            "tool": F(b"tool\n", 0o755, xattrs=(("security.capability.x", b"c"),)),
                        }
                    ),
                    "lib": D({"libx.so.1": F(b"\x7fELF" + bytes(range(256)) * 4, 0o644)}),
                    "share": D({"empty": D()}),
                }
            ),
            "tmp": D(mode=0o1777),
            "secret": F(b"s3cret\n", 0o600, 1000, 1000, (("user.note", b"v"),)),
            "private": D({"x": F(b"x")}, mode=0o711, uid=7, gid=8, xattrs=(("trusted.t", b"1"),)),
            "bin": L("usr/bin", 0, 0),
            "owned-link": L("/nowhere", 12, 34, (("trusted.l", b"2"),)),
        },
        mode=0o755,
    )
