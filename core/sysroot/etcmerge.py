"""The ``/etc`` 3-way merge: carry the administrator's changes onto new defaults.

libostree's rule, followed here: compute what the administrator changed in the old
deployment (its ``/etc`` against its ``/usr/etc``) and replay exactly that onto a fresh
copy of the new ``/usr/etc``. A modified or added file wins whole (no content merge),
a file the administrator deleted stays deleted, everything untouched takes the new
default, including new files and files upstream dropped. The account databases
(passwd, group, shadow, gshadow) are the exception: a local version is merged with the
new defaults by entry name (accounts.py), so users a new tree adds are not lost.
"""

from __future__ import annotations

import os
import stat
from enum import StrEnum
from pathlib import Path

from core.errors import SysrootError
from core.faults import fault_point
from core.metacopy import copy_meta, copy_node, copy_tree, remove_tree, same_node, xattrs_of
from core.sysroot.accounts import DATABASES, merge_account_file, read_account_file

_MERGE_TMP = ".etc.strata-merge"


class Change(StrEnum):
    MODIFIED = "M"
    ADDED = "A"
    DELETED = "D"


def _names(path: Path) -> set[str]:
    try:
        return set(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _dir_meta(path: Path) -> tuple[int, int, int, tuple[tuple[str, bytes], ...]]:
    st = os.lstat(path)
    return (st.st_mode, st.st_uid, st.st_gid, xattrs_of(path))


def diff_etc(defaults: Path, current: Path) -> list[tuple[Change, str]]:
    """What the administrator changed, pre-order by path.

    An added or deleted directory is one entry (its contents go with it); a directory
    whose owner, mode or xattrs changed is ``M`` and its children are compared too.
    """
    out: list[tuple[Change, str]] = []

    def walk(rel: str) -> None:
        d_dir, c_dir = defaults / rel if rel else defaults, current / rel if rel else current
        for name in sorted(_names(d_dir) | _names(c_dir)):
            child = f"{rel}/{name}" if rel else name
            d_path, c_path = defaults / child, current / child
            in_d, in_c = os.path.lexists(d_path), os.path.lexists(c_path)
            if not in_c:
                out.append((Change.DELETED, child))
            elif not in_d:
                out.append((Change.ADDED, child))
            elif stat.S_ISDIR(os.lstat(d_path).st_mode) and stat.S_ISDIR(os.lstat(c_path).st_mode):
                if _dir_meta(d_path) != _dir_meta(c_path):
                    out.append((Change.MODIFIED, child))
                walk(child)
            elif not same_node(d_path, c_path):
                out.append((Change.MODIFIED, child))

    walk("")
    return out


def _ensure_parents(rel: str, template: Path, dest: Path) -> None:
    """Create the missing parent directories of ``rel`` in ``dest`` like the admin's."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        target = dest / sub
        if os.path.lexists(target) and not stat.S_ISDIR(os.lstat(target).st_mode):
            remove_tree(target)
        if not os.path.lexists(target):
            copy_node(template / sub, target)


def merge_etc(old_defaults: Path, old_etc: Path, new_etc: Path) -> list[tuple[Change, str]]:
    """Replay the changes ``old_defaults -> old_etc`` onto ``new_etc`` (new defaults)."""
    changes = diff_etc(old_defaults, old_etc)
    for change, rel in changes:
        fault_point("etc-merge-mid")
        src, dst = old_etc / rel, new_etc / rel
        if change is Change.DELETED:
            remove_tree(dst)
            continue
        _ensure_parents(rel, old_etc, new_etc)
        src_is_dir = stat.S_ISDIR(os.lstat(src).st_mode)
        dst_is_dir = os.path.lexists(dst) and stat.S_ISDIR(os.lstat(dst).st_mode)
        if change is Change.MODIFIED and src_is_dir and (old_defaults / rel).is_dir():
            # Only the directory itself changed (owner, mode, xattrs); children follow.
            if not dst_is_dir:
                remove_tree(dst)
                copy_node(src, dst)
            else:
                copy_meta(src, dst)
            continue
        new_default = read_account_file(dst) if rel in DATABASES else None
        remove_tree(dst)
        copy_tree(src, dst)
        if new_default is not None:
            old_default = read_account_file(old_defaults / rel) or b""
            merge_account_file(old_default, dst, new_default, DATABASES[rel])
    return changes


def normalize_etc(root: Path) -> None:
    """Defaults live in ``/usr/etc``; a tree that ships only ``/etc`` has it moved there."""
    etc, usr_etc = root / "etc", root / "usr" / "etc"
    has_etc, has_usr_etc = os.path.lexists(etc), os.path.lexists(usr_etc)
    if has_etc and has_usr_etc:
        raise SysrootError(
            "The tree contains both /etc and /usr/etc",
            hint="ship configuration defaults in /usr/etc only",
        )
    if has_etc:
        usr_etc.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.rename(etc, usr_etc)


def build_etc(root: Path, merge_root: Path | None) -> list[tuple[Change, str]]:
    """(Re)build ``root/etc`` from its ``/usr/etc`` plus the changes of ``merge_root``.

    The result depends only on the two trees' ``/usr/etc`` and ``merge_root/etc``, never
    on ``root/etc`` as it was, so an interrupted build is simply run again.
    """
    tmp, usr_etc = root / _MERGE_TMP, root / "usr" / "etc"
    remove_tree(tmp)
    if os.path.isdir(usr_etc) and not os.path.islink(usr_etc):
        copy_tree(usr_etc, tmp)
    else:
        os.mkdir(tmp, 0o755)
    changes: list[tuple[Change, str]] = []
    if merge_root is not None and (merge_root / "etc").is_dir():
        old_defaults = merge_root / "usr" / "etc"
        if not old_defaults.is_dir():
            old_defaults = merge_root / _MERGE_TMP  # absent: compare against nothing
        changes = merge_etc(old_defaults, merge_root / "etc", tmp)
    remove_tree(root / "etc")
    fault_point("etc-before-swap")
    os.rename(tmp, root / "etc")
    return changes


def config_diff(root: Path) -> list[tuple[Change, str]]:
    """``admin config-diff``: the deployment's ``/etc`` against its ``/usr/etc``."""
    return diff_etc(root / "usr" / "etc", root / "etc")
