"""Store maintenance: prune what nothing reaches, and merge the small packs commits leave.

Both rewrite packs: the new pack is written and made durable before any old one is
deleted, so a crash in between leaves duplicates, never a missing object. Callers hold
the sysroot lock; nothing else may write the store meanwhile, and no tree may be under
construction (a written but uncommitted tree is unreachable, so prune removes it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from core import atomic
from core.errors import StoreError
from core.faults import fault_point
from core.store.archive import FILEZ
from core.store.gitpack import PackWriter, idx_object_ids, loose_object_ids
from core.store.parts import StoreParts
from core.store.reach import walk_reachable
from core.store.repoconfig import RepoMode
from core.store.types import PruneStats

COMMITMETA = ".commitmeta"  # detached commit metadata (signatures) beside a commit's id
SMALL_PACK = 8 << 20
MAX_SMALL_PACKS = 32


def _packs(pack_dir: Path) -> list[Path]:
    try:
        return sorted(pack_dir.glob("pack-*.idx"))
    except FileNotFoundError:
        return []


def _remove_pack(idx: Path) -> None:
    # the .idx first: without it libgit2 ignores the .pack
    for suffix in (".idx", ".pack", ".rev", ".keep", ".mtimes"):
        idx.with_suffix(suffix).unlink(missing_ok=True)


def _rewrite(parts: StoreParts, keep: Iterable[bytes], old_packs: list[Path]) -> None:
    writer = PackWriter(parts.git_dir / "objects" / "pack", lambda oid: False)
    for oid in sorted(keep):
        obj_type, data = parts.reader.repo.odb.read(oid.hex())
        writer.add_new(int(obj_type), data, oid)
    name = writer.finish(fsync=True)
    atomic.fsync_dir(parts.git_dir / "objects" / "pack")
    fault_point("prune-before-pack-delete")
    for idx in old_packs:
        if idx.stem != name:
            _remove_pack(idx)
    parts.reader.reopen()  # drop libgit2's handles on the deleted packs


def maybe_consolidate(parts: StoreParts) -> None:
    """Merge small packs once there are many (each commit writes one)."""
    pack_dir = parts.git_dir / "objects" / "pack"
    small = [
        idx for idx in _packs(pack_dir) if idx.with_suffix(".pack").stat().st_size < SMALL_PACK
    ]
    if len(small) <= MAX_SMALL_PACKS:
        return
    ids: set[bytes] = set()
    for idx in small:
        ids.update(idx_object_ids(idx))
    atomic.syncfs(parts.path)
    _rewrite(parts, ids, small)


def prune_store(parts: StoreParts, roots: Iterable[bytes]) -> PruneStats:
    """Keep what ``roots`` (commit or tree ids) reach; pending objects are flushed first."""
    parts.flush()
    found = walk_reachable(parts.reader, list(roots))
    missing = [p for p in found.problems if "missing" in p]
    if missing:
        raise StoreError(
            f"Refusing to prune a damaged store: {missing[0]}",
            hint="run `strata fsck` and repair the store first",
        )
    pack_dir = parts.git_dir / "objects" / "pack"
    old_packs = _packs(pack_dir)
    present: set[bytes] = set()
    for idx in old_packs:
        present.update(idx_object_ids(idx))
    loose = list(loose_object_ids(parts.git_dir / "objects"))
    present.update(oid for oid, _ in loose)
    unreachable = present - found.git
    if parts.mode is RepoMode.ARCHIVE:
        # an archive's objects stay loose: a static web server serves them by id
        for oid, path in loose:
            if oid in unreachable:
                path.unlink(missing_ok=True)
    elif unreachable or len(old_packs) > 1 or loose:
        _rewrite(parts, found.git & present, old_packs)
        for _oid, path in loose:
            path.unlink(missing_ok=True)
    keep = {oid.hex() for oid in found.files}
    keep.update(f"{oid.hex()}{COMMITMETA}" for oid in found.git)
    keep.update(f"{oid.hex()}{FILEZ}" for oid in found.files)
    files_removed, freed = _prune_files(parts, keep)
    parts.devino().retain(set(found.files))
    for leftover in parts.objects.tmp.iterdir():
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
    atomic.syncfs(parts.path)
    parts.devino().save()
    return PruneStats(len(unreachable), files_removed, freed)


def _prune_files(parts: StoreParts, keep: set[str]) -> tuple[int, int]:
    removed = 0
    freed = 0
    root = parts.objects.root
    for fan in sorted(os.listdir(root)):
        fan_dir = root / fan
        if len(fan) != 2 or not fan_dir.is_dir():
            continue
        for rest in os.listdir(fan_dir):
            if fan + rest in keep:
                continue
            path = fan_dir / rest
            try:
                st = os.lstat(path)
                os.unlink(path)
                fault_point("prune-mid-objects")
            except FileNotFoundError:
                continue
            if rest.startswith(atomic.TEMP_PREFIX):
                continue
            removed += 1
            if st.st_nlink == 1:
                freed += st.st_size
    return removed, freed
