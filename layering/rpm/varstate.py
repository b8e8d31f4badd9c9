"""The tree's own ``/var`` for scripts, and what the scripts leave there as tmpfiles.d lines.

A commit carries no ``/var`` content, only tmpfiles.d lines that fill the stateroot's
shared ``/var`` at boot. Scripts, however, expect ``/var`` as rpm lays it out (pam's
``%post`` writes ``/var/log/tallylog``, cronie-anacron's touches
``/var/spool/anacron/cron.daily``, ``alternatives`` needs its admin directory). So before
the scripts a scratch ``/var`` is laid out from every tmpfiles.d line of the assembled
tree (the base's and the packages'), exactly as boot would; after them, whatever the
scripts *added* becomes lines of ``usr/lib/tmpfiles.d/strata-autovar.conf`` (the base's
lines of that file kept): ``d`` for directories, ``L`` for symlinks, ``f`` for empty
files, ``C`` for files with content, which is kept under ``usr/share/factory/var/...``.
That is what rpm-ostree's compose does with ``/var`` after its scripts.

Entries the scripts changed or removed keep their tmpfiles.d form: at boot nothing
existing is overwritten anyway. ``/var/tmp`` and ``/var/lib/rpm-state`` are the
sandbox's own and never become lines.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.store import EntryKind, FileMeta, Store, TreeEditor
from core.sysroot.tmpfiles import TmpfilesLine as ParsedLine
from core.sysroot.tmpfiles import apply_tmpfiles, parse_tmpfiles
from layering.rpm import passwd
from layering.rpm.pathrules import FACTORY
from layering.rpm.tmpfiles import TMPFILES_DIR, TmpfilesLine

AUTOVAR = f"{TMPFILES_DIR}/strata-autovar.conf"
ETC_TMPFILES_DIR = "usr/etc/tmpfiles.d"
SANDBOX_OWN = ("tmp", "lib/rpm-state")  # mounted over by the sandbox
# Caches a program rebuilds when absent, whose bytes record inode numbers and times
# (ldconfig's aux-cache): never carried, so the same inputs give the same commit.
REGENERATED = frozenset({"cache/ldconfig/aux-cache"})


@dataclass(frozen=True)
class Entry:
    kind: str  # "d", "L", "f"
    mode: int
    uid: int
    gid: int
    detail: str  # symlink target, or the content's sha256


Snapshot = Mapping[str, Entry]


def tree_lines(store: Store, tree: str) -> list[ParsedLine]:
    """The tree's tmpfiles.d lines in systemd's order (``usr/etc`` overrides by name)."""
    chosen: dict[str, str] = {}
    for directory in (TMPFILES_DIR, ETC_TMPFILES_DIR):
        if store.subtree(tree, directory) is None:
            continue
        for e in store.walk(tree, directory):
            rest = e.path[len(directory) + 1 :]
            if e.kind == EntryKind.FILE and "/" not in rest and rest.endswith(".conf"):
                chosen[rest] = e.path
    lines: list[ParsedLine] = []
    for name in sorted(chosen):
        data = store.read_file(tree, chosen[name]) or b""
        lines += parse_tmpfiles(data.decode("utf-8", "replace"), name)[0]
    return lines


def lay_out(store: Store, tree: str, var_dir: Path) -> Snapshot:
    """Fill the empty ``var_dir`` from ``tree``'s tmpfiles.d; return what is there."""
    users = passwd.ids(*_databases(store, tree, "passwd"))
    groups = passwd.ids(*_databases(store, tree, "group"))

    def source(path: str) -> tuple[bytes, int] | None:
        rel = path.strip("/")
        entry = store.lookup(tree, rel)
        data = store.read_file(tree, rel)
        if entry is None or data is None or entry.kind != EntryKind.FILE:
            return None
        return data, entry.meta.mode & 0o7777

    apply_tmpfiles(tree_lines(store, tree), var_dir, users, groups, source)
    for rel in SANDBOX_OWN:
        (var_dir / rel).mkdir(parents=True, exist_ok=True)
    return snapshot(var_dir)


def _databases(store: Store, tree: str, name: str) -> tuple[bytes | None, bytes | None]:
    return store.read_file(tree, f"{passwd.ETC}/{name}"), store.read_file(
        tree, f"{passwd.LIB}/{name}"
    )


def snapshot(var_dir: Path) -> dict[str, Entry]:
    """Every entry under ``var_dir`` (symlinks not followed), by path relative to it."""
    out: dict[str, Entry] = {}
    for top, dirs, files in os.walk(var_dir):
        rel_top = os.path.relpath(top, var_dir)
        kept = []
        for name in sorted(dirs + files):
            rel = name if rel_top == "." else f"{rel_top}/{name}"
            if rel in SANDBOX_OWN:
                continue
            path = Path(top) / name
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = Entry("d", st.st_mode & 0o7777, st.st_uid, st.st_gid, "")
                kept.append(name)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = Entry("L", 0o777, st.st_uid, st.st_gid, os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest() if st.st_size else ""
                out[rel] = Entry("f", st.st_mode & 0o7777, st.st_uid, st.st_gid, digest)
        dirs[:] = [d for d in dirs if d in kept]
    return out


def record(
    store: Store,
    editor: TreeEditor,
    tree: str,
    var_dir: Path,
    before: Snapshot,
) -> None:
    """Turn what the scripts added under ``var_dir`` into lines of AUTOVAR (and factory
    copies) in ``editor``; ``tree`` is the tree after the scripts (for names and the
    base's AUTOVAR)."""
    added = {p: e for p, e in snapshot(var_dir).items() if p not in before and p not in REGENERATED}
    if not added:
        return
    users = _names(passwd.ids(*_databases(store, tree, "passwd")))
    groups = _names(passwd.ids(*_databases(store, tree, "group")))
    lines: list[str] = []
    for rel in sorted(added):
        e = added[rel]
        user, group = users.get(e.uid, str(e.uid)), groups.get(e.gid, str(e.gid))
        path = f"/var/{rel}"
        if e.kind == "L":
            line = TmpfilesLine("L", path, target=e.detail)
        elif e.kind == "f" and e.detail:
            factory = f"{FACTORY}{path}"
            _put_factory(editor, factory, (var_dir / rel).read_bytes(), e.mode)
            line = TmpfilesLine("C", path, e.mode, user, group, target=f"/{factory}")
        else:
            line = TmpfilesLine(e.kind, path, e.mode, user, group)
        lines.append(line.render())
    old = (store.read_file(tree, AUTOVAR) or b"").decode("utf-8", "replace").splitlines()
    body = sorted(
        {x for x in old if x.strip() and not x.startswith("#")} | set(lines),
        key=lambda s: (s.split(" ")[1], s),
    )
    header = "# Generated by strata from what package scripts left in /var; do not edit.\n"
    editor.put_file(
        AUTOVAR,
        (header + "".join(f"{x}\n" for x in body)).encode(),
        FileMeta(0, 0, stat.S_IFREG | 0o644),
    )


def _names(ids: Mapping[str, int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for name, number in ids.items():
        out.setdefault(number, name)
    return out


def _put_factory(editor: TreeEditor, path: str, data: bytes, mode: int) -> None:
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        parent = "/".join(parts[:i])
        if not editor.exists(parent):
            editor.put_dir(parent, FileMeta(0, 0, stat.S_IFDIR | 0o755))
    editor.put_file(path, data, FileMeta(0, 0, stat.S_IFREG | (mode & 0o777)))
