"""Base tree ∪ package trees → a new tree, scripts run, users split, rpmdb written.

The union is tree surgery in the store (TreeEditor.overlay): base file contents are
never copied and base directories no package touches keep their tree ids. Around it:

1. base packages removed by an override lose their files (from the base's rpmdb);
2. the union with rpm's sharing rules and conflicts naming both packages (union.py);
3. scripts run in the triggers sandbox over a hardlinked checkout, their writes are
   folded back with apply_upper; scripts see the union of the base's users and the
   tree's /var laid out from its tmpfiles.d, whose additions become lines (varstate.py);
4. users the scripts created move to usr/lib/passwd / usr/lib/group (see passwd.py),
   joined by users the packages declare in sysusers.d (see sysusers.py);
5. entries owned by other users than root get their real owner now that the names
   resolve (package trees store them as root, see rpmimport.py);
6. the rpmdb: a copy of the base's plus a justdb transaction, grafted in last.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from core.errors import PackageError, error_context
from core.faults import fault_point
from core.progress import Progress
from core.scratch import temp_dir
from core.store import FileMeta, Store, TreeEditor
from layering.rpm import passwd, users, varstate
from layering.rpm.headers import RPMDB_DIR, Header, checkout_rpmdb, nevra, read_rpmdb
from layering.rpm.importer import ImportedPackage
from layering.rpm.rpmdb import extend_rpmdb, has_sqlite_db, write_rpmdb
from layering.rpm.union import union_packages
from triggers import Script, ScriptKind, ScriptPlan, plan_scripts, run_scripts

SHARE_RPM = "usr/share/rpm"
SHARE_RPM_TARGET = "../lib/sysimage/rpm"


@dataclass(frozen=True)
class _Job:
    """What every phase of one assembly reads."""

    store: Store
    base: _Base
    packages: tuple[ImportedPackage, ...]  # sorted by NEVRA: the result is reproducible
    compose: bool
    workdir: Path
    progress: Progress


@dataclass(frozen=True)
class _Base:
    """The base as assembly needs it: its tree, its rpmdb, which packages stay."""

    tree: str | None
    db: Path | None  # a private checkout of the base's rpmdb, extended into the new one
    kept: tuple[Header, ...]
    removed: tuple[Header, ...]  # dropped by an override: their files go too
    when: int  # the rpmdb's install time: the base commit's timestamp unless told


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
    replacefiles: frozenset[str] = frozenset(),
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
    ``replacefiles`` names the packages whose files replace what others provide
    (``--force-replacefiles``).
    """
    # in the store's filesystem: the extended copy becomes the new rpmdb's object
    db: AbstractContextManager[Path | None] = (
        checkout_rpmdb(store, base, parent=workdir) if base is not None else nullcontext()
    )
    with db as base_db:
        job = _Job(
            store=store,
            base=_read_base(store, base, base_db, remove, timestamp),
            packages=tuple(sorted(packages, key=lambda p: p.nevra)),
            compose=compose,
            workdir=workdir,
            progress=progress,
        )
        with progress.step("Assembling"), error_context("merging package trees"):
            tree, adapted = union_packages(
                store,
                job.base.tree,
                job.packages,
                job.base.removed,
                job.base.kept,
                replacefiles=replacefiles,
            )
        files = users.read_user_files(store, job.base.tree, None if compose else admin_etc)
        if not compose:
            tree = users.for_scripts(store, tree, files)
        with error_context("running scripts"):
            over_base = None if full_checkout else base
            tree = _run_scripts(
                job,
                tree,
                adapted,
                postprocess=postprocess,
                over_base=over_base,
                base_root=base_root,
            )
        editor = store.edit(tree)
        with error_context("settling users"):
            ids = users.settle(
                store, editor, tree, files, job.packages, compose=compose, base_tree=job.base.tree
            )
            users.fix_owners(store, editor, tree, job.packages, ids, progress=progress)
        with progress.step("Writing the rpmdb"), error_context("writing the rpmdb"):
            _graft_rpmdb(job, editor, remove)
        return editor.write()


def _read_base(
    store: Store,
    base: str | None,
    base_db: Path | None,
    remove: Sequence[str],
    timestamp: int | None,
) -> _Base:
    base_info = store.commit_info(base) if base is not None else None
    when = timestamp if timestamp is not None else (base_info.timestamp if base_info else 0)
    hdrs = read_rpmdb(base_db) if base_db is not None else []
    dropped = set(remove)
    return _Base(
        tree=base_info.tree if base_info else None,
        db=base_db,
        kept=tuple(h for h in hdrs if nevra(h) not in dropped),
        removed=tuple(_removed_headers(hdrs, remove)),
        when=when,
    )


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
            editor.put_parents_like(path, current)
            editor.put_file(path, data, entry.meta)
    return editor.write()


def _run_scripts(
    job: _Job,
    tree: str,
    adapted: Sequence[str],
    *,
    postprocess: Sequence[str],
    over_base: str | None,
    base_root: Path | None,
) -> str:
    """Run the packages' scripts (and postprocess lines) over ``tree``; fold writes back.

    With ``over_base`` (the base commit) they run over [only the packages' paths, a
    checkout of the base]: ``base_root`` when it is one, else a checkout cached in the
    store, so the cost follows the packages. Without it, or when override removals took
    base files away, over a checkout of the whole tree.
    """
    plan = plan_scripts([p.hdr() for p in job.packages], job.base.kept, compose=job.compose)
    plan = ScriptPlan(
        scripts=plan.scripts + _postprocess_scripts(postprocess), ignored=plan.ignored
    )
    if not plan.scripts:
        return tree
    store = job.store
    lowers = None
    if over_base is not None and job.base.tree is not None and not job.base.removed:
        if base_root is None or not base_root.is_dir():
            base_root = cached_checkout(store, store.resolve(over_base))
        lowers = (_delta_tree(store, job.base.tree, tree, adapted), base_root)
    # a checkout of the whole tree when composing: removing its directories is slow
    # one by one on some disks, temp_dir removes them many at a time
    with temp_dir(job.workdir, "scripts-") as tmp:
        lower = Path(tmp) / "lower"
        upper = Path(tmp) / "upper"
        var = Path(tmp) / "var"
        var.mkdir()
        before = varstate.lay_out(store, tree, var)
        stack: list[Path] = [lower]
        if lowers is not None:
            delta, base_root = lowers
            store.checkout(delta, lower, hardlink=True)
            stack.append(base_root)
        else:
            store.checkout(tree, lower, hardlink=True)
        upper.mkdir()
        run_scripts(
            plan,
            lowers=stack,
            upper=upper,
            progress=job.progress,
            source_date_epoch=job.base.when,
            var=var,
        )
        fault_point("assemble-after-scripts")
        editor = store.edit(tree)
        editor.apply_upper(upper)
        after = editor.write()
        editor = store.edit(after)
        varstate.record(store, editor, after, var, before)
        return editor.write()


def _postprocess_scripts(lines: Sequence[str]) -> tuple[Script, ...]:
    return tuple(
        Script(
            package="postprocess",
            kind=ScriptKind.POSTTRANS,
            interp=("/bin/sh",),
            body=line,
            nevra=f"line {i + 1} of the treefile's postprocess",
            fix_hint="fix that postprocess line of the treefile: it runs with /bin/sh, "
            "offline, in a sandbox of the composed tree",
        )
        for i, line in enumerate(lines)
    )


def _graft_rpmdb(job: _Job, editor: TreeEditor, remove: Sequence[str]) -> None:
    """The new rpmdb: the base's (assembly's private checkout of it) extended in place,
    imported by linking its files into the store rather than copying them."""
    base = job.base
    with tempfile.TemporaryDirectory(prefix="rpmdb-", dir=job.workdir) as tmp:
        install = [p.head for p in job.packages]
        if base.db is not None and has_sqlite_db(base.db):
            dest = base.db
            extend_rpmdb(dest, install=install, erase=remove, timestamp=base.when)
        else:
            dest = Path(tmp) / "rpm"
            write_rpmdb(dest, base=base.db, install=install, erase=remove, timestamp=base.when)
        # modes independent of the umask, so the tree id is the same on every machine
        dest.chmod(0o755)
        for child in dest.iterdir():
            child.chmod(0o644)
        tree = job.store.write_dir_tree(dest, adopt=True)
    # the editor creates missing parents; what is there is replaced
    for path in (RPMDB_DIR, SHARE_RPM):
        if editor.exists(path):
            editor.remove(path)
    editor.graft(RPMDB_DIR, tree)
    editor.put_symlink(SHARE_RPM, SHARE_RPM_TARGET, FileMeta.symlink())
