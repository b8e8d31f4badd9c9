"""Users and groups around assembly: what scripts see, where the users they add go, owners.

The file formats and the split rules are passwd.py's and sysusers.py's; this module
applies them to trees in the store, in the order assembly needs them:

1. ``read_user_files`` before anything changes: the base's ``usr/etc`` and ``usr/lib``
   copies and the administrator's ``/etc`` ones (regular files only);
2. ``for_scripts``: scripts see the union of all of them in ``usr/etc`` (useradd only
   knows /etc), so new ids never collide with ids already in use;
3. ``settle`` after the scripts: users they added move to ``usr/lib`` where the tree has
   nss-altfiles (else they stay in ``usr/etc``), joined by the users packages declare in
   sysusers.d; the shadows keep the entries the scripts added;
4. ``fix_owners``: entries owned by other users than root get their ids now that the
   names resolve (package trees store them as root, see importer.py).
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.progress import Progress
from core.store import EntryKind, FileMeta, Store, TreeEditor
from layering.rpm import passwd, sysusers
from layering.rpm.importer import ImportedPackage
from layering.rpm.union import tree_paths

_FILE_META = FileMeta(0, 0, stat.S_IFREG | 0o644)


@dataclass(frozen=True)
class UserFiles:
    """The user databases before assembly.

    ``etc_lib``: NAME -> (usr/etc/NAME, usr/lib/NAME) of the base for passwd, group
    and the shadows; ``admin``: passwd and group of the merge deployment's /etc.
    """

    etc_lib: Mapping[str, tuple[bytes | None, bytes | None]]
    admin: Mapping[str, bytes | None]


@dataclass(frozen=True)
class Ids:
    """name -> id of every user and group the new tree knows."""

    users: Mapping[str, int]
    groups: Mapping[str, int]


def read_user_files(store: Store, tree: str | None, admin_etc: Path | None) -> UserFiles:
    etc_lib: dict[str, tuple[bytes | None, bytes | None]] = {}
    for name in (*passwd.DATABASES, *passwd.SHADOWS):
        if tree is None:
            etc_lib[name] = (None, None)
        else:
            etc_lib[name] = (
                store.read_file(tree, f"{passwd.ETC}/{name}"),
                store.read_file(tree, f"{passwd.LIB}/{name}"),
            )
    admin: dict[str, bytes | None] = {}
    for name in passwd.DATABASES:
        path = admin_etc / name if admin_etc is not None else None
        ok = path is not None and path.is_file() and not path.is_symlink()
        admin[name] = path.read_bytes() if ok and path is not None else None
    return UserFiles(etc_lib, admin)


def for_scripts(store: Store, tree: str, files: UserFiles) -> str:
    """``tree`` with usr/etc/passwd and group holding every user scripts must not reuse."""
    editor = store.edit(tree)
    changed = False
    for name in passwd.DATABASES:
        etc, lib = files.etc_lib[name]
        merged = passwd.merged_for_scripts(etc, lib, files.admin.get(name))
        if merged is not None and merged != etc:
            entry = store.lookup(tree, f"{passwd.ETC}/{name}")
            editor.put_file(f"{passwd.ETC}/{name}", merged, entry.meta if entry else _FILE_META)
            changed = True
    return editor.write() if changed else tree


def settle(
    store: Store,
    editor: TreeEditor,
    tree: str,
    files: UserFiles,
    packages: Sequence[ImportedPackage],
    *,
    compose: bool,
    base_tree: str | None,
) -> Ids:
    """Split users after the scripts, add sysusers.d users; return the name -> id maps.

    Users move to usr/lib only where glibc can read them back (the tree ships
    nss-altfiles); otherwise they stay in usr/etc as the scripts left them, as with rpm.
    """
    admin = files.admin
    final: dict[str, passwd.Split] = {}
    altfiles = has_altfiles(store, tree)
    for name in passwd.DATABASES:
        after = store.read_file(tree, f"{passwd.ETC}/{name}")
        lib_now = store.read_file(tree, f"{passwd.LIB}/{name}")
        if compose and not altfiles:
            final[name] = passwd.Split(after, lib_now)
        elif compose:
            final[name] = passwd.split_composed(name, after, lib_now)
        else:
            etc, lib = files.etc_lib[name]
            final[name] = passwd.split_after_scripts(
                etc, lib, after, admin.get(name), new_in_etc=not altfiles
            )
    added = sysusers.apply(
        _sysusers_confs(store, tree, packages),
        (final["passwd"].etc or b"") + (final["passwd"].lib or b"") + (admin.get("passwd") or b""),
        (final["group"].etc or b"") + (final["group"].lib or b"") + (admin.get("group") or b""),
    )
    for name, lines in (("passwd", added.passwd), ("group", added.group)):
        if lines:
            text = "".join(f"{x}\n" for x in lines).encode()
            etc_now, lib_now = final[name].etc, final[name].lib
            final[name] = (
                passwd.Split(etc_now, (lib_now or b"") + text)
                if altfiles
                else passwd.Split((etc_now or b"") + text, lib_now)
            )
    for name, split in final.items():
        for rel, data in ((passwd.ETC, split.etc), (passwd.LIB, split.lib)):
            path = f"{rel}/{name}"
            entry = store.lookup(tree, path)
            if data is None or (entry is not None and store.read_file(tree, path) == data):
                continue
            editor.put_file(path, data, entry.meta if entry else _FILE_META)
    if compose and altfiles:
        _nsswitch_altfiles(store, editor, tree)
    _drop_backups(store, editor, tree, base_tree)
    return Ids(
        passwd.ids(final["passwd"].etc, final["passwd"].lib, admin.get("passwd")),
        passwd.ids(final["group"].etc, final["group"].lib, admin.get("group")),
    )


def _sysusers_confs(store: Store, tree: str, packages: Sequence[ImportedPackage]) -> list[bytes]:
    """The sysusers.d files the packages ship, in path order (as the tree has them now)."""
    paths = sorted(
        {
            e.path
            for pkg in packages
            if store.subtree(pkg.tree, sysusers.SYSUSERS_DIR) is not None
            for e in store.walk(pkg.tree, sysusers.SYSUSERS_DIR)
            if e.kind == EntryKind.FILE and e.path.endswith(".conf")
        }
    )
    return [data for p in paths if (data := store.read_file(tree, p)) is not None]


ALTFILES_MODULE = "libnss_altfiles.so.2"
MULTIARCH = ("x86_64", "aarch64", "i386", "powerpc64le", "s390x", "riscv64")
LIBRARY_DIRS = (
    "usr/lib64",
    "usr/lib",
    *(f"usr/lib/{arch}-linux-gnu" for arch in MULTIARCH),
)


def has_altfiles(store: Store, tree: str) -> bool:
    """Whether glibc in ``tree`` can read usr/lib/passwd: it ships the nss-altfiles module
    in a library directory (``usr/lib64``, ``usr/lib`` or a multiarch one)."""
    return any(store.lookup(tree, f"{d}/{ALTFILES_MODULE}") is not None for d in LIBRARY_DIRS)


def _nsswitch_altfiles(store: Store, editor: TreeEditor, tree: str) -> None:
    """A composed base's users live in usr/lib/passwd: nsswitch.conf must name altfiles."""
    entry = store.lookup(tree, passwd.NSSWITCH)
    if entry is None or not stat.S_ISREG(entry.meta.mode):
        return
    data = store.read_file(tree, passwd.NSSWITCH)
    if data is not None and (fixed := passwd.with_altfiles(data)) != data:
        editor.put_file(passwd.NSSWITCH, fixed, entry.meta)


def _drop_backups(store: Store, editor: TreeEditor, tree: str, base_tree: str | None) -> None:
    """useradd and friends leave passwd-, group-, shadow-, gshadow- and .pwd.lock behind;
    they are not part of an image (unless the base already carried them)."""
    for name in passwd.BACKUPS:
        path = f"{passwd.ETC}/{name}"
        if store.lookup(tree, path) is None:
            continue
        if base_tree is not None and store.lookup(base_tree, path) is not None:
            continue
        editor.remove(path)


def fix_owners(
    store: Store,
    editor: TreeEditor,
    tree: str,
    packages: Sequence[ImportedPackage],
    ids: Ids,
    *,
    progress: Progress,
) -> None:
    """Give entries owned by users other than root their ids, now that the names resolve."""
    for pkg in packages:
        for path, f in tree_paths(pkg.hdr()):
            if f.user == "root" and f.group == "root":
                continue
            entry = store.lookup(tree, path)
            if entry is None:
                continue
            uid = _resolve(ids.users, f.user, f"{pkg.nevra}: user {f.user} of /{path}", progress)
            gid = _resolve(
                ids.groups, f.group, f"{pkg.nevra}: group {f.group} of /{path}", progress
            )
            meta = FileMeta(uid, gid, f.mode, entry.meta.xattrs)
            if entry.kind == EntryKind.DIR:
                editor.put_dir(path, meta)
            elif entry.kind == EntryKind.SYMLINK:
                editor.put_symlink(path, entry.target or "", meta)
            else:
                data = store.read_file(tree, path)
                editor.put_file(path, data or b"", meta)


def _resolve(table: Mapping[str, int], name: str, what: str, progress: Progress) -> int:
    if name == "root":
        return 0
    if name in table:
        return table[name]
    progress.warning(f"{what} does not exist, using root (as rpm does)")
    return 0
