"""Base tree ∪ package trees → a new tree, scripts run, users split, rpmdb written.

The union is tree surgery in the store (TreeEditor.overlay): base file contents are
never copied and base directories no package touches keep their tree ids. Around it:

1. base packages removed by an override lose their files (from the base's rpmdb);
2. the union with rpm's sharing rules and conflicts naming both packages (union.py);
3. scripts run in the triggers sandbox over a hardlinked checkout, their writes are
   folded back with apply_upper; scripts see the union of the base's users;
4. users the scripts created move to usr/lib/passwd / usr/lib/group (see passwd.py),
   joined by users the packages declare in sysusers.d (see sysusers.py);
5. entries owned by other users than root get their real owner now that the names
   resolve (package trees store them as root, see rpmimport.py);
6. the rpmdb: a copy of the base's plus a justdb transaction, grafted in last.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

from core.errors import PackageError
from core.faults import fault_point
from core.progress import Progress
from core.store import EntryKind, FileMeta, Store, TreeEditor
from layering.rpm import passwd, sysusers
from layering.rpm.headers import RPMDB_DIR, Header, checkout_rpmdb, nevra, read_rpmdb
from layering.rpm.importer import ImportedPackage
from layering.rpm.rpmdb import extend_rpmdb, has_sqlite_db, write_rpmdb
from layering.rpm.union import tree_paths, union_packages
from triggers import Script, ScriptKind, ScriptPlan, plan_scripts, run_scripts

SHARE_RPM = "usr/share/rpm"
SHARE_RPM_TARGET = "../lib/sysimage/rpm"
_DIR_META = FileMeta(0, 0, stat.S_IFDIR | 0o755)


def assemble(
    store: Store,
    base: str | None,
    packages: Sequence[ImportedPackage],
    *,
    remove: Sequence[str] = (),
    base_root: Path | None = None,
    compose: bool = False,
    postprocess: Sequence[str] = (),
    workdir: Path,
    progress: Progress,
    timestamp: int | None = None,
    full_checkout: bool = False,
    admin_etc: Path | None = None,
) -> str:
    """The new tree id: ``base`` (a commit, or None for an empty tree) plus ``packages``.

    ``remove`` holds base NEVRAs dropped by an override. Scripts run over [only the
    packages' paths, a checkout of ``base``]: ``base_root`` when given (e.g. the
    base's deployment), else a checkout cached in the store (see cached_checkout), so
    the cost follows the packages, not the base. ``timestamp`` (default: the base
    commit's, else 0) becomes the rpmdb's install time, so the result is reproducible.
    ``full_checkout`` forces scripts over a checkout of the whole assembled tree (the
    path compose and override removals take), for tests and debugging.
    ``admin_etc`` is the merge deployment's /etc: scripts also see the users the
    administrator created there, so packages never reuse their names or ids.
    """
    ordered = sorted(packages, key=lambda p: p.nevra)
    base_info = store.commit_info(base) if base is not None else None
    when = timestamp if timestamp is not None else (base_info.timestamp if base_info else 0)
    with ExitStack() as stack:
        base_db: Path | None = None
        base_hdrs: list[Header] = []
        if base is not None:
            # in the store's filesystem: the extended copy becomes the new rpmdb's object
            base_db = stack.enter_context(checkout_rpmdb(store, base, parent=workdir))
            base_hdrs = read_rpmdb(base_db)
        removed = _removed_headers(base_hdrs, remove)
        dropped = set(remove)
        kept = [h for h in base_hdrs if nevra(h) not in dropped]
        base_tree = base_info.tree if base_info else None
        with progress.step("Assembling"):
            current, adapted = union_packages(store, base_tree, ordered, removed, kept)
        etc_lib = _user_files(store, base_tree)
        admin = _admin_files(admin_etc) if not compose else {}
        if not compose:
            current = _users_for_scripts(store, current, etc_lib, admin)
        plan = plan_scripts([p.hdr() for p in ordered], kept, compose=compose)
        plan = ScriptPlan(
            scripts=plan.scripts + _postprocess_scripts(postprocess), ignored=plan.ignored
        )
        if plan.scripts:
            lowers = None
            if base is not None and base_tree is not None and not removed and not full_checkout:
                if base_root is None or not base_root.is_dir():
                    base_root = cached_checkout(store, store.resolve(base))
                lowers = (_delta_tree(store, base_tree, current, adapted), base_root)
            current = _run(
                store,
                current,
                plan,
                lowers=lowers,
                workdir=workdir,
                progress=progress,
                when=when,
            )
        editor = store.edit(current)
        users, groups = _settle_users(
            store,
            editor,
            current,
            etc_lib,
            ordered,
            compose=compose,
            base_tree=base_tree,
            admin=admin,
        )
        _fix_owners(store, editor, current, ordered, users=users, groups=groups, progress=progress)
        with progress.step("Writing the rpmdb"):
            _graft_rpmdb(
                store,
                editor,
                workdir=workdir,
                base_db=base_db,
                packages=ordered,
                remove=remove,
                when=when,
            )
            return editor.write()
    raise AssertionError("unreachable")


def _removed_headers(base_hdrs: Sequence[Header], remove: Sequence[str]) -> list[Header]:
    by_nevra = {nevra(h): h for h in base_hdrs}
    missing = [n for n in remove if n not in by_nevra]
    if missing:
        raise PackageError(
            f"cannot remove {', '.join(missing)}: not a package of the base",
            hint="'strata db list' shows the base's packages",
        )
    return [by_nevra[n] for n in remove]


def cached_checkout(store: Store, commit: str, *, keep: int = 2) -> Path:
    """A hardlinked checkout of a base commit under the store's cache, made once.

    Scripts only ever see it as a read-only overlay lower, so it stays pristine and
    the next operation on the same base needs no checkout at all (the cost follows the
    packages, not the base). Complete or absent: built beside and renamed into place.
    Only the ``keep`` most recently used checkouts stay; the cache may be dropped at
    any time.
    """
    root = store.path / "cache" / "base-checkouts"
    dest = root / commit
    if dest.is_dir():
        _mark_most_recent(root, dest)
        return dest
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".{commit}.{os.getpid()}.tmp"
    store.checkout(commit, tmp, hardlink=True)
    os.rename(tmp, dest)
    _mark_most_recent(root, dest)
    others = sorted(_cached_checkouts(root, but=dest), key=lambda d: d.stat().st_mtime_ns)
    for old in others[: max(0, len(others) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    return dest


def _cached_checkouts(root: Path, *, but: Path) -> list[Path]:
    return [d for d in root.iterdir() if d != but and not d.name.startswith(".")]


def _mark_most_recent(root: Path, dest: Path) -> None:
    """Stamp ``dest`` strictly newer than every other cached checkout.

    The clock behind mtimes moves in steps of milliseconds, so a checkout reused and
    one made right after it can share a time; a tie would leave the eviction order to
    the directory listing order of the filesystem.
    """
    newest = max((d.stat().st_mtime_ns for d in _cached_checkouts(root, but=dest)), default=0)
    stamp = max(time.time_ns(), newest + 1)
    os.utime(dest, ns=(stamp, stamp))


def _delta_tree(store: Store, base_tree: str, current: str, overlaid: Sequence[str]) -> str:
    """What the union adds to the base (package paths, merged passwd/group), as a tree
    to stack over a checkout of the base: directories carry the union's metadata, so
    overlayfs shows scripts exactly the assembled tree."""
    editor = store.edit(None)
    root = store.lookup(base_tree, "")
    if root is not None:
        editor.put_dir("", root.meta)
    for tree in overlaid:
        editor.overlay(tree, label="package")
    for name in passwd.DATABASES:
        path = f"{passwd.ETC}/{name}"
        entry = store.lookup(current, path)
        data = store.read_file(current, path)
        if entry is not None and data is not None and data != store.read_file(base_tree, path):
            _ensure_dirs_like(store, editor, current, path)
            editor.put_file(path, data, entry.meta)
    return editor.write()


def _ensure_dirs_like(store: Store, editor: TreeEditor, tree: str, path: str) -> None:
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        parent = "/".join(parts[:i])
        if not editor.exists(parent):
            entry = store.lookup(tree, parent)
            editor.put_dir(parent, entry.meta if entry is not None else _DIR_META)


def _user_files(store: Store, tree: str | None) -> dict[str, tuple[bytes | None, bytes | None]]:
    """NAME -> (usr/etc/NAME, usr/lib/NAME) of ``tree`` for passwd, group and the shadows."""
    out: dict[str, tuple[bytes | None, bytes | None]] = {}
    for name in (*passwd.DATABASES, *passwd.SHADOWS):
        if tree is None:
            out[name] = (None, None)
        else:
            out[name] = (
                store.read_file(tree, f"{passwd.ETC}/{name}"),
                store.read_file(tree, f"{passwd.LIB}/{name}"),
            )
    return out


def _admin_files(admin_etc: Path | None) -> dict[str, bytes | None]:
    """passwd and group of the merge deployment's /etc (regular files only)."""
    out: dict[str, bytes | None] = {}
    for name in passwd.DATABASES:
        path = admin_etc / name if admin_etc is not None else None
        ok = path is not None and path.is_file() and not path.is_symlink()
        out[name] = path.read_bytes() if ok and path is not None else None
    return out


def _users_for_scripts(
    store: Store,
    current: str,
    etc_lib: Mapping[str, tuple[bytes | None, bytes | None]],
    admin: Mapping[str, bytes | None],
) -> str:
    editor = store.edit(current)
    changed = False
    for name in passwd.DATABASES:
        etc, lib = etc_lib[name]
        merged = passwd.merged_for_scripts(etc, lib, admin.get(name))
        if merged is not None and merged != etc:
            entry = store.lookup(current, f"{passwd.ETC}/{name}")
            meta = entry.meta if entry else FileMeta(0, 0, stat.S_IFREG | 0o644)
            editor.put_file(f"{passwd.ETC}/{name}", merged, meta)
            changed = True
    return editor.write() if changed else current


def _settle_users(
    store: Store,
    editor: TreeEditor,
    current: str,
    etc_lib: Mapping[str, tuple[bytes | None, bytes | None]],
    packages: Sequence[ImportedPackage],
    *,
    compose: bool,
    base_tree: str | None,
    admin: Mapping[str, bytes | None],
) -> tuple[Mapping[str, int], Mapping[str, int]]:
    """Split users after the scripts, add sysusers.d users; return name -> id maps."""
    final: dict[str, passwd.Split] = {}
    for name in passwd.DATABASES:
        after = store.read_file(current, f"{passwd.ETC}/{name}")
        lib_now = store.read_file(current, f"{passwd.LIB}/{name}")
        if compose:
            final[name] = passwd.split_composed(name, after, lib_now)
        else:
            etc, lib = etc_lib[name]
            final[name] = passwd.split_after_scripts(etc, lib, after, admin.get(name))
    added = sysusers.apply(
        _sysusers_confs(store, current, packages),
        (final["passwd"].etc or b"") + (final["passwd"].lib or b"") + (admin.get("passwd") or b""),
        (final["group"].etc or b"") + (final["group"].lib or b"") + (admin.get("group") or b""),
    )
    for name, lines in (("passwd", added.passwd), ("group", added.group)):
        if lines:
            lib = final[name].lib or b""
            final[name] = passwd.Split(
                final[name].etc, lib + "".join(f"{x}\n" for x in lines).encode()
            )
    for name, split in final.items():
        for rel, data in ((passwd.ETC, split.etc), (passwd.LIB, split.lib)):
            path = f"{rel}/{name}"
            entry = store.lookup(current, path)
            if data is None or (entry is not None and store.read_file(current, path) == data):
                continue
            meta = entry.meta if entry else FileMeta(0, 0, stat.S_IFREG | 0o644)
            _ensure_dirs(editor, path)
            editor.put_file(path, data, meta)
    if not compose:
        _restore_shadows(store, editor, current, etc_lib)
    else:
        _nsswitch_altfiles(store, editor, current)
    _drop_backups(store, editor, current, base_tree)
    return (
        passwd.ids(final["passwd"].etc, final["passwd"].lib, admin.get("passwd")),
        passwd.ids(final["group"].etc, final["group"].lib, admin.get("group")),
    )


def _sysusers_confs(store: Store, current: str, packages: Sequence[ImportedPackage]) -> list[bytes]:
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
    return [data for p in paths if (data := store.read_file(current, p)) is not None]


def _restore_shadows(
    store: Store,
    editor: TreeEditor,
    current: str,
    etc_lib: Mapping[str, tuple[bytes | None, bytes | None]],
) -> None:
    for name in passwd.SHADOWS:
        etc, _ = etc_lib[name]
        path = f"{passwd.ETC}/{name}"
        if store.read_file(current, path) == etc:
            continue
        if etc is None:
            if editor.exists(path):
                editor.remove(path)
        else:
            entry = store.lookup(current, path)
            assert entry is not None
            editor.put_file(path, etc, entry.meta)


def _nsswitch_altfiles(store: Store, editor: TreeEditor, current: str) -> None:
    """A composed base's users live in usr/lib/passwd: nsswitch.conf must name altfiles."""
    entry = store.lookup(current, passwd.NSSWITCH)
    if entry is None or not stat.S_ISREG(entry.meta.mode):
        return
    data = store.read_file(current, passwd.NSSWITCH)
    if data is not None and (fixed := passwd.with_altfiles(data)) != data:
        editor.put_file(passwd.NSSWITCH, fixed, entry.meta)


def _drop_backups(store: Store, editor: TreeEditor, current: str, base_tree: str | None) -> None:
    """useradd and friends leave passwd-, group-, shadow-, gshadow- and .pwd.lock behind;
    they are not part of an image (unless the base already carried them)."""
    for name in passwd.BACKUPS:
        path = f"{passwd.ETC}/{name}"
        if store.lookup(current, path) is None:
            continue
        if base_tree is not None and store.lookup(base_tree, path) is not None:
            continue
        editor.remove(path)


def _ensure_dirs(editor: TreeEditor, path: str) -> None:
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        parent = "/".join(parts[:i])
        if not editor.exists(parent):
            editor.put_dir(parent, _DIR_META)


def _fix_owners(
    store: Store,
    editor: TreeEditor,
    current: str,
    packages: Sequence[ImportedPackage],
    *,
    users: Mapping[str, int],
    groups: Mapping[str, int],
    progress: Progress,
) -> None:
    """Give entries owned by users other than root their ids, now that the names resolve."""
    for pkg in packages:
        for path, f in tree_paths(pkg.hdr()):
            if f.user == "root" and f.group == "root":
                continue
            entry = store.lookup(current, path)
            if entry is None:
                continue
            uid = _resolve(users, f.user, "user", label=pkg.nevra, path=path, progress=progress)
            gid = _resolve(groups, f.group, "group", label=pkg.nevra, path=path, progress=progress)
            meta = FileMeta(uid, gid, f.mode, entry.meta.xattrs)
            if entry.kind == EntryKind.DIR:
                editor.put_dir(path, meta)
            elif entry.kind == EntryKind.SYMLINK:
                editor.put_symlink(path, entry.target or "", meta)
            else:
                data = store.read_file(current, path)
                editor.put_file(path, data or b"", meta)


def _resolve(
    table: Mapping[str, int], name: str, what: str, *, label: str, path: str, progress: Progress
) -> int:
    if name == "root":
        return 0
    if name in table:
        return table[name]
    progress.warning(f"{label}: {what} {name} of /{path} does not exist, using root (as rpm does)")
    return 0


def _postprocess_scripts(lines: Sequence[str]) -> tuple[Script, ...]:
    return tuple(
        Script(
            package="postprocess",
            kind=ScriptKind.POSTTRANS,
            interp=("/bin/sh",),
            body=line,
            nevra=f"postprocess[{i}]",
        )
        for i, line in enumerate(lines)
    )


def _run(
    store: Store,
    tree: str,
    plan: ScriptPlan,
    *,
    lowers: tuple[str, Path] | None,
    workdir: Path,
    progress: Progress,
    when: int,
) -> str:
    """Run ``plan`` over ``tree`` (or over [delta tree, base checkout]); fold writes back."""
    with tempfile.TemporaryDirectory(prefix="scripts-", dir=workdir) as tmp:
        lower = Path(tmp) / "lower"
        upper = Path(tmp) / "upper"
        stack: list[Path] = [lower]
        if lowers is not None:
            delta, base_root = lowers
            store.checkout(delta, lower, hardlink=True)
            stack.append(base_root)
        else:
            store.checkout(tree, lower, hardlink=True)
        upper.mkdir()
        run_scripts(plan, lowers=stack, upper=upper, progress=progress, source_date_epoch=when)
        fault_point("assemble-after-scripts")
        editor = store.edit(tree)
        editor.apply_upper(upper)
        return editor.write()


def _graft_rpmdb(
    store: Store,
    editor: TreeEditor,
    *,
    workdir: Path,
    base_db: Path | None,
    packages: Sequence[ImportedPackage],
    remove: Sequence[str],
    when: int,
) -> None:
    """The new rpmdb: ``base_db`` (assemble's private checkout of the base's) extended in
    place, imported by linking its files into the store rather than copying them."""
    with tempfile.TemporaryDirectory(prefix="rpmdb-", dir=workdir) as tmp:
        install = [p.head for p in packages]
        if base_db is not None and has_sqlite_db(base_db):
            dest = base_db
            extend_rpmdb(dest, install=install, erase=remove, timestamp=when)
        else:
            dest = Path(tmp) / "rpm"
            write_rpmdb(dest, base=base_db, install=install, erase=remove, timestamp=when)
        # modes independent of the umask, so the tree id is the same on every machine
        dest.chmod(0o755)
        for child in dest.iterdir():
            child.chmod(0o644)
        tree = store.write_dir_tree(dest, adopt=True)
    _ensure_dirs(editor, RPMDB_DIR)
    if editor.exists(RPMDB_DIR):
        editor.remove(RPMDB_DIR)
    editor.graft(RPMDB_DIR, tree)
    _ensure_dirs(editor, SHARE_RPM)
    if editor.exists(SHARE_RPM):
        editor.remove(SHARE_RPM)
    editor.put_symlink(SHARE_RPM, SHARE_RPM_TARGET, FileMeta(0, 0, stat.S_IFLNK | 0o777))
