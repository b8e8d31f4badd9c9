"""Spare checkouts: a deployment's hardlink farm written ahead of time, off the critical path.

Staging a deployment writes one full hardlink checkout, which costs the size of the tree
(``cp -al`` speed) however small the change. A *spare* is a complete hardlink checkout of
a recent commit, prepared while nobody waits (after a command, by
``strata admin prepare-spare``). Staging renames it to its temp name and patches it to
the new commit (:mod:`core.store.checkout_patch`), so the command pays for the change only.

Layout (same filesystem as ``ostree/deploy``, so a rename moves it)::

    SYSROOT/ostree/spare/COMMIT        a ready spare: complete and synced
    SYSROOT/ostree/spare/.build-XXXX/  a builder's work (marked, flocked: core.scratch)
    SYSROOT/ostree/spare/.trash-XXXX/  a spare on its way out (marked, removed by a sweep)
    SYSROOT/ostree/spare/.build-lock   one builder at a time (non-blocking flock)
    SYSROOT/ostree/spare/.lock         short lock: renames in and out of the ready names

Nothing here takes the sysroot lock: a user's command never waits for a builder, and
holds the short lock only for a rename. Removing a tree never happens under the short
lock either: a spare to drop is renamed into a trash dir there, and removed after.
A kill -9 at any point leaves a ready spare (complete) or marked dirs no process holds,
which the next :func:`prepare` or :func:`drop` sweeps. See docs/sysroot.md.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.atomic import fsync_dir, syncfs
from core.errors import StoreError, StrataError
from core.faults import fault_point
from core.metacopy import remove_tree
from core.scratch import MARKER, SUFFIX, creating, scratch_dir, sweep
from core.store import Store

# The largest change a spare is patched across. Patching costs about what checking the
# same number of entries out costs (one link/unlink each) plus reading the changed trees,
# so below this a spare is never slower than the full checkout of any tree of more than
# ~20k entries, and its worst case stays bounded (~0.2 s here at ~9 us an entry) on a
# smaller tree replaced wholesale (a rebase onto an unrelated base) -- where the count
# also stops the diff early instead of reading both trees whole.
MAX_PATCH_ENTRIES = 20_000

_COMMIT = re.compile(r"[0-9a-f]{40}")


def spare_root(sysroot_path: Path) -> Path:
    return sysroot_path / "ostree" / "spare"


def ready(sysroot_path: Path) -> list[str]:
    """Commits with a ready spare, sorted."""
    root = spare_root(sysroot_path)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(
        n
        for n in names
        if _COMMIT.fullmatch(n) and (root / n).is_dir() and not (root / n).is_symlink()
    )


@contextmanager
def _lock_file(path: Path, *, wait: bool) -> Iterator[bool]:
    """Hold an exclusive flock on ``path``; yields False (not held) if busy and not ``wait``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the flock


def wait_for_builder(sysroot_path: Path) -> None:
    """Block until no builder is at work (returns at once when none is)."""
    root = spare_root(sysroot_path)
    if root.is_dir():
        with _lock_file(root / ".build-lock", wait=True):
            pass


@contextmanager
def _short_lock(root: Path) -> Iterator[None]:
    """Held only around renames in and out of the ready names (a user may wait on it)."""
    with _lock_file(root / ".lock", wait=True):
        yield


def _trash(root: Path, name: str) -> None:
    """Move a ready spare out of the ready names, for a later sweep (under the short lock)."""
    _to_trash(root, root / name)


def _to_trash(root: Path, tree: Path) -> None:
    with creating(root):  # a sweep never meets it unmarked
        trash = Path(tempfile.mkdtemp(prefix=".trash-", suffix=SUFFIX, dir=root))
        fd = os.open(trash, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)  # a sweep must not take it before the rename
        (trash / MARKER).touch()
    try:
        try:
            os.rename(tree, trash / "tree")
        except BaseException:
            (trash / MARKER).unlink()
            os.rmdir(trash)
            raise
    finally:
        os.close(fd)


def sweep_trash(sysroot_path: Path) -> list[str]:
    """Remove the trash and any builder leftovers nobody holds (what prepare does first)."""
    root = spare_root(sysroot_path)
    return sweep(root) if root.is_dir() else []


def discard(sysroot_path: Path, tree: Path) -> bool:
    """Move ``tree`` (a deployment being removed) to the trash, for the next builder's
    sweep to remove: one rename while a user waits instead of unlinking a whole tree
    (0.7 s at 100k files). False, nothing moved, when that is not possible (another
    filesystem); the caller then removes it itself."""
    root = spare_root(sysroot_path)
    try:
        root.mkdir(exist_ok=True)
        _to_trash(root, tree)
    except OSError:
        return False
    return True


def _alive(store: Store, commit: str) -> bool:
    """Whether ``commit`` is still in ``store`` (a spare of a pruned commit is never used)."""
    try:
        return store.resolve(commit) == commit
    except StoreError:
        return False


def hold_build_lock(sysroot_path: Path) -> int | None:
    """Take the builder lock on behalf of a builder about to be started: an fd holding it
    (to pass to that process, which hands it to :func:`prepare`), or None when a builder
    is at work. From the moment a command leaves a builder behind, :func:`wait_for_builder`
    then waits for it, even before its interpreter has started."""
    root = spare_root(sysroot_path)
    root.mkdir(exist_ok=True)
    fd = os.open(root / ".build-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def is_build_lock(sysroot_path: Path, fd: int) -> bool:
    """Whether ``fd`` (say, inherited) is open on this sysroot's builder lock file."""
    try:
        mine, theirs = os.stat(spare_root(sysroot_path) / ".build-lock"), os.fstat(fd)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


@contextmanager
def _builder_lock(root: Path, lock_fd: int | None) -> Iterator[bool]:
    if lock_fd is None:
        with _lock_file(root / ".build-lock", wait=False) as held:
            yield held
        return
    yield True  # held since hold_build_lock(), until the caller closes lock_fd


def prepare(sysroot_path: Path, store: Store, commit: str, *, lock_fd: int | None = None) -> bool:
    """Make a ready spare of ``commit`` (a full commit id); False if another builder runs.

    ``lock_fd``: the builder lock, already held (:func:`hold_build_lock`); the caller
    keeps it open until this returns, and closes it.
    Keeps one ready spare: the others are dropped once this one is in. Raises
    StoreError, leaving nothing behind, when the commit is unknown or vanishes (a prune)
    while the spare is built.
    """
    root = spare_root(sysroot_path)
    root.mkdir(exist_ok=True)  # never its parents: a sysroot removed meanwhile stays so
    with _builder_lock(root, lock_fd) as held:
        if not held:
            return False
        sweep(root)  # what a killed builder left, and trash
        tree = store.commit_info(commit).tree
        if commit not in ready(sysroot_path):
            with scratch_dir(root, ".build-") as work:
                store.checkout(tree, work / "tree", hardlink=True)
                syncfs(work)
                fault_point("spare-before-rename")
                with _short_lock(root):
                    # A fresh view: this store's git handle may still see a pack a
                    # concurrent prune already replaced.
                    if not _alive(Store.open(store.path), commit):
                        raise StoreError(
                            f"Cannot prepare a spare checkout of {commit}: "
                            "the commit was pruned meanwhile",
                            hint="prepare one of a deployed commit",
                        )
                    os.rename(work / "tree", root / commit)
                    _keep_only(root, sysroot_path, commit)
        else:
            with _short_lock(root):
                _keep_only(root, sysroot_path, commit)
        sweep(root)
    return True


def _keep_only(root: Path, sysroot_path: Path, commit: str) -> None:
    others = [name for name in ready(sysroot_path) if name != commit]
    for name in others:
        _trash(root, name)
    fsync_dir(root)


def take(sysroot_path: Path, store: Store, commit: str, dest: Path) -> str | None:
    """Rename the ready spare closest to ``commit`` to ``dest``; the spare's commit.

    The spare of ``commit`` itself, else the one with the fewest entries to patch, and
    only below :data:`MAX_PATCH_ENTRIES`; None if no spare fits. Spares of commits the
    store no longer has are moved out of the way (removed by the next sweep), never used.
    ``dest`` must not exist and must be on the sysroot's filesystem.
    """
    root = spare_root(sysroot_path)
    if not ready(sysroot_path):
        return None
    target = store.commit_info(commit).tree
    with _short_lock(root):
        best: tuple[int, str] | None = None
        for name in ready(sysroot_path):
            if not _alive(store, name):
                _trash(root, name)
                continue
            if name == commit:
                best = (0, name)
                break
            limit = MAX_PATCH_ENTRIES if best is None else best[0] - 1
            count = store.count_changes(store.commit_info(name).tree, target, limit)
            if count is not None:
                best = (count, name)
        if best is None:
            return None
        try:
            os.rename(root / best[1], dest)
        except OSError:
            return None  # another filesystem (EXDEV), or dest exists: check out in full
        return best[1]


def drop(sysroot_path: Path, keep: set[str]) -> list[str]:
    """Remove ready spares whose commit is not in ``keep``, and unheld builder leftovers;
    the commits whose spare was removed."""
    root = spare_root(sysroot_path)
    if not root.is_dir():
        return []
    with _short_lock(root):
        gone = [name for name in ready(sysroot_path) if name not in keep]
        for name in gone:
            _trash(root, name)
        if gone:
            fsync_dir(root)
    sweep(root)
    return gone


@dataclass(frozen=True)
class StagingInfo:
    """How the last deployment's tree was written, for the CLI to report.

    ``from_spare`` is the commit of the spare checkout that was patched (None: a full
    checkout), ``entries_patched`` the entries the patch created, replaced or removed.
    """

    from_spare: str | None = None
    entries_patched: int = 0


def write_tree(sysroot: Path, repo: Store, commit: str, tmp: Path) -> StagingInfo:
    """A spare checkout patched to ``commit`` when one fits, else a full checkout.

    A spare that fails to patch (changed behind Strata's back, a damaged store) is
    removed, consumed, and the full checkout runs instead.
    """
    try:
        taken = take(sysroot, repo, commit, tmp)
    except (StrataError, OSError):
        taken = None  # a spare unreadable as a tree: the full checkout says what is wrong
    if taken is not None:
        try:
            patched = repo.patch_checkout(
                tmp,
                repo.commit_info(taken).tree,
                repo.commit_info(commit).tree,
            )
            return StagingInfo(taken, patched)
        except StrataError:
            remove_tree(tmp)
    repo.checkout(commit, tmp, hardlink=True)
    return StagingInfo()
