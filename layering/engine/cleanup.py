"""``strata cleanup``: drop what no deployment needs, then prune the store.

Package cache refs keep package trees alive; only caches that no deployment's commit
(or origin, for local RPMs) refers to are dropped, so a later ``uninstall`` or
``rollback`` never needs a download.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from core.store import Store
from core.sysroot import Sysroot, spare
from layering.engine.fetching import DIGEST_REF_PREFIX, LOCAL_REF_PREFIX, VERIFIED_REF_PREFIX
from layering.engine.origin_state import LocalPackage, RequestError
from layering.engine.plan import LayerInfo
from layering.rpm.importer import PKG_REF_PREFIX


@dataclass(frozen=True)
class CleanupReport:
    package_refs: int = 0
    local_refs: int = 0
    caches: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [f"Removed deployment {d}" for d in self.deployments]
        if self.package_refs or self.local_refs:
            lines.append(
                f"Removed {self.package_refs} cached packages and {self.local_refs} local RPMs"
            )
        lines += [f"Removed {c}" for c in self.caches]
        return "\n".join(lines) or "Nothing to clean up."


def _used_digests(sysroot: Sysroot) -> tuple[set[str], set[str]]:
    """(package-tree header digests, local RPM header digests) any deployment uses."""
    trees: set[str] = set()
    local: set[str] = set()
    for deployment in sysroot.deployments():
        layer = LayerInfo.from_metadata(sysroot.repo.commit_info(deployment.checksum).metadata)
        if layer is not None:
            trees.update(layer.package_digests)
        origin = deployment.origin
        for entry in (*origin.requested_local, *origin.override_replace_local):
            try:
                local.add(LocalPackage.parse(entry).sha256)
            except RequestError:
                continue
    return trees, local


def drop_unused_packages(sysroot: Sysroot) -> CleanupReport:
    """``--base``: package caches and kept local RPMs no deployment refers to."""
    store: Store = sysroot.repo
    used_trees, used_local = _used_digests(sysroot)
    kept_commits = set()
    dropped = 0
    for ref, commit in store.refs(PKG_REF_PREFIX).items():
        if ref.removeprefix(PKG_REF_PREFIX) in used_trees:
            kept_commits.add(commit)
        else:
            store.delete_ref(ref)
            dropped += 1
    kept_files = set()
    for ref, commit in store.refs(DIGEST_REF_PREFIX).items():
        if commit in kept_commits:
            kept_files.add(ref.removeprefix(DIGEST_REF_PREFIX))
        else:
            store.delete_ref(ref)
    for ref in store.refs(VERIFIED_REF_PREFIX):
        if ref.removeprefix(VERIFIED_REF_PREFIX) not in kept_files:
            store.delete_ref(ref)
    local_dropped = 0
    for ref in store.refs(LOCAL_REF_PREFIX):
        if ref.removeprefix(LOCAL_REF_PREFIX) not in used_local:
            store.delete_ref(ref)
            local_dropped += 1
    return CleanupReport(package_refs=dropped, local_refs=local_dropped)


def drop_checkouts(sysroot: Sysroot) -> list[str]:
    """``--base``: the spare checkouts and the base checkouts scripts run over; both are
    caches of full hardlink checkouts (a directory skeleton each), remade when needed."""
    dropped = []
    if spare.drop(sysroot.path, keep=set()):
        dropped.append("spare checkouts")
    if drop_dir(sysroot.repo.path / "cache" / "base-checkouts"):
        dropped.append("cache/base-checkouts")
    return dropped


def drop_dir(path: Path) -> bool:
    if path.exists():
        shutil.rmtree(path)
        return True
    return False
