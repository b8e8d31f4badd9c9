"""``compose tree``: a treefile and its repos → a base commit, reproducibly.

The flow is layering's, against an empty base: solve the package list, fetch and
import every package (with the base-building path rules), assemble from nothing
with every package's scripts, run the treefile's postprocess lines in the same
sandbox, and commit. The commit's timestamp is fixed (SOURCE_DATE_EPOCH, else 0)
and its parent is the ref's previous commit, so the same treefile and the same
RPMs give the same commit id in any store that holds the same history (any fresh
store, in particular). Composing again with unchanged inputs (same input hash)
commits nothing and returns the existing commit.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core import settings
from core.errors import ConfigError, StoreError, error_context
from core.faults import fault_point
from core.progress import Progress
from core.scratch import scratch_dir, sweep
from core.store import Store
from core.store.types import FileMeta
from core.sysroot.kargs import KARGS_D
from layering.engine.fetching import (
    COMPOSE_DIGEST_REF_PREFIX,
    check_identity,
    download_name,
    find_cached,
    sha256_hex,
)
from layering.engine.gpg import load_keys, verify_package
from layering.engine.initramfs import add_initramfs
from layering.engine.treefile import Treefile
from layering.rpm.assemble import assemble
from layering.rpm.importer import ImportedPackage, import_rpm
from layering.rpm.rpmdb import write_rpmdb
from solver import PackageRef, Request, fetch, read_repo_files, solve
from solver.types import RepoConfig

_FILE = FileMeta(0, 0, stat.S_IFREG | 0o644)
INPUTHASH_KEY = "strata.inputhash"
PACKAGES_KEY = "strata.packages"


@dataclass(frozen=True)
class ComposeResult:
    commit: str
    changed: bool  # False: the inputs matched the ref's commit, nothing was written
    packages: tuple[str, ...]  # NEVRAs


def commit_timestamp() -> int:
    """SOURCE_DATE_EPOCH when the build system sets it, else 0: never the wall clock."""
    return int(settings.value(settings.SOURCE_DATE_EPOCH))


def repos_for(treefile: Treefile) -> tuple[RepoConfig, ...]:
    """The treefile's repos, in its order, from the ``*.repo`` files beside it."""
    variables = {"basearch": treefile.basearch, "arch": treefile.basearch}
    if treefile.releasever is not None:
        variables["releasever"] = treefile.releasever
    found = {r.id: r for r in read_repo_files(treefile.directory, variables)}
    missing = [r for r in treefile.repos if r not in found]
    if missing:
        raise ConfigError(
            f"treefile {treefile.path}: repo(s) {', '.join(missing)} not defined by any "
            f"*.repo file in {treefile.directory}",
            hint=f"known repos: {', '.join(sorted(found)) or 'none'}",
        )
    return tuple(_enabled(found[r]) for r in treefile.repos)


def _enabled(repo: RepoConfig) -> RepoConfig:
    """A repo the treefile names is used even if its .repo file says enabled=0."""
    return replace(repo, enabled=True)


def _host_file(path: str) -> bytes | None:
    """GPG keys of a compose are read from the build host (file:// URLs)."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def _obtain(
    store: Store, packages: Sequence[PackageRef], download: Path, progress: Progress
) -> list[ImportedPackage]:
    imported = []
    with progress.step(f"Fetching and importing {len(packages)} packages"):
        for pkg in packages:
            cached = find_cached(store, pkg.checksum, compose=True)
            if cached is not None:
                imported.append(cached)
                continue
            dest = download / download_name(pkg)  # never a name from the metadata
            fetch(pkg.location, dest, checksum=pkg.checksum, speed=pkg.speed, size=pkg.size)
            check_identity(pkg, dest, pkg.location)
            fault_point("compose-after-fetch")
            if pkg.gpgcheck:
                keys = load_keys(pkg.gpgkeys, read_tree_file=_host_file, fetch=fetch)
                verify_package(dest, keys, what=pkg.nevra, repo=pkg.repo)
            package = import_rpm(store, dest, compose=True)
            hexdigest = sha256_hex(pkg.checksum)
            if hexdigest:
                store.set_ref(COMPOSE_DIGEST_REF_PREFIX + hexdigest, package.commit)
            imported.append(package)
            dest.unlink()
    return imported


def input_hash(treefile: Treefile, packages: Sequence[ImportedPackage]) -> str:
    digest = hashlib.sha256()
    digest.update(treefile.canonical().encode())
    if treefile.initramfs is not None:
        digest.update(f"\ninitramfs {treefile.initramfs.digest()}".encode())
    for pkg in sorted(packages, key=lambda p: p.nevra):
        digest.update(f"\n{pkg.nevra} {pkg.sha256}".encode())
    return digest.hexdigest()


def compose_tree(store: Store, treefile: Treefile, *, progress: Progress) -> ComposeResult:
    """Compose ``treefile`` into ``store`` and move its ref; see the module doc.

    One store batch for the whole compose: the imports' objects go into one pack and
    every ref (two per imported package, the treefile's) moves at one ``syncfs`` at the
    end, instead of a pack, a ``syncfs`` and now and then a pack consolidation per package.
    """
    repos = repos_for(treefile)
    with store.batch():
        return _compose(store, treefile, repos, progress)


def _compose(
    store: Store, treefile: Treefile, repos: tuple[RepoConfig, ...], progress: Progress
) -> ComposeResult:
    tmp_parent = store.path / "tmp"
    sweep(tmp_parent)  # scratch dirs of crashed commands (live ones are locked, kept)
    with scratch_dir(tmp_parent, "compose-", own_tempfiles=True) as work:
        empty_db = work / "empty-rpmdb"
        write_rpmdb(empty_db, base=None, install=[])  # the solver wants a real (empty) rpmdb
        with progress.step("Resolving"):
            tx = solve(
                Request(
                    base_rpmdb=empty_db,
                    base_key="empty",
                    empty_base=True,
                    repos=repos,
                    install=treefile.packages,
                    arch=treefile.basearch,
                    cache_dir=store.path / "cache" / "repomd",
                )
            )
        for warning in tx.warnings:
            progress.warning(warning)
        download = work / "download"
        download.mkdir()
        packages = _obtain(store, tx.install, download, progress)
        fault_point("compose-after-import")
        nevras = tuple(sorted(p.nevra for p in packages))
        digest = input_hash(treefile, packages)
        parent = _current(store, treefile.ref)
        if parent is not None and store.commit_info(parent).metadata.get(INPUTHASH_KEY) == digest:
            progress.message(f"No changes: {treefile.ref} is already {parent}")
            return ComposeResult(parent, False, nevras)
        assembly = work / "assemble"
        assembly.mkdir()
        when = commit_timestamp()
        with error_context("Assembling"):
            tree = assemble(
                store,
                None,
                packages,
                compose=True,
                postprocess=treefile.postprocess,
                workdir=assembly,
                progress=progress,
                timestamp=when,
            )
        tree = _boot_files(store, tree, treefile, progress)
    metadata = dict(treefile.add_commit_metadata)
    metadata[PACKAGES_KEY] = json.dumps(list(nevras))
    metadata[INPUTHASH_KEY] = digest
    if "version" not in metadata and treefile.releasever is not None:
        metadata["version"] = treefile.releasever
    if treefile.osname is not None:
        metadata.setdefault("strata.osname", treefile.osname)
    fault_point("compose-after-assemble")
    with progress.step("Committing"):
        commit = store.commit_tree(
            tree,
            branch=treefile.ref,
            subject=f"Compose {treefile.ref}"
            + (f" {metadata['version']}" if "version" in metadata else ""),
            metadata=metadata,
            parents=(parent,) if parent is not None else (),
            timestamp=when,
        )
    return ComposeResult(commit, True, nevras)


def _current(store: Store, ref: str) -> str | None:
    if ref not in store.refs():
        return None
    try:
        return store.resolve(ref)
    except StoreError:
        return None


def _boot_files(store: Store, tree: str, treefile: Treefile, progress: Progress) -> str:
    """The treefile's default kernel arguments (bootc's kargs.d) and initramfs. A tree
    that gets an initramfs also gets ``/sysroot`` and ``/ostree -> sysroot/ostree``,
    as rpm-ostree composes them: ostree-prepare-root moves the physical root there."""
    if not treefile.kargs and treefile.initramfs is None:
        return tree
    editor = store.edit(tree)
    if treefile.kargs:
        text = "kargs = [" + ", ".join(json.dumps(a) for a in treefile.kargs) + "]\n"
        editor.put_file(f"{KARGS_D}/10-treefile.toml", text.encode(), _FILE)
    if treefile.initramfs is not None:
        if not editor.exists("sysroot"):
            editor.put_dir("sysroot", FileMeta(0, 0, stat.S_IFDIR | 0o755))
        if not editor.exists("ostree"):
            editor.put_symlink("ostree", "sysroot/ostree", FileMeta(0, 0, stat.S_IFLNK | 0o777))
    tree = editor.write()
    if treefile.initramfs is not None:
        with progress.step("Generating the initramfs"):
            tree = add_initramfs(store, tree, treefile.initramfs)
    return tree
