"""The store: complete OS trees as git commits, file bytes in an uncompressed file store.

Layout (see docs/store.md for the format)::

    REPO/git/            bare git repository: commits, trees, metadata blobs, refs
    REPO/objects/XX/..   file objects carrying real uid/gid/mode/xattrs (checkout = link)
    REPO/tmp/            temp files, renamed into place
    REPO/cache/          droppable caches (the dev/ino -> object cache)

This module is the facade the rest of Strata uses; the work happens in :mod:`.importdir`
(commit a directory), :mod:`.treeedit` (tree surgery), :mod:`.checkout`, :mod:`.treediff`,
:mod:`.fsck` and :mod:`.maintenance` (prune, repack).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from core import atomic
from core.errors import StoreError
from core.faults import fault_point
from core.scratch import scratch_dir
from core.store import archive, checkout_patch, commits, gitpack, refs, repoconfig, treemeta
from core.store.archive import LooseWriter
from core.store.checkout import checkout_tree
from core.store.devino import DevInoCache
from core.store.gitpack import OBJ_BLOB, OBJ_COMMIT, OBJ_TREE, PackWriter
from core.store.importdir import DirImporter
from core.store.maintenance import maybe_consolidate, prune_store
from core.store.objects import FileObjects, read_xattrs
from core.store.parts import StoreParts
from core.store.repoconfig import RepoMode
from core.store.treediff import diff_trees
from core.store.treeedit import TreeEditor
from core.store.treemeta import GIT_FILE, GIT_TREE
from core.store.treeread import ObjectReader
from core.store.types import (
    CommitInfo,
    DiffEntry,
    DiffKind,
    Entry,
    EntryKind,
    FileMeta,
    PruneStats,
)

__all__ = [
    "CommitInfo",
    "DiffEntry",
    "DiffKind",
    "Entry",
    "EntryKind",
    "FileMeta",
    "PruneStats",
    "Store",
    "TreeEditor",
]

# hashing and object writes run on threads (sha256 and syscalls release the GIL)
COMMIT_WORKERS = min(4, os.cpu_count() or 1)
_HEX = re.compile(r"[0-9a-f]{4,40}")


class Store:
    def __init__(self, path: Path, repo: pygit2.Repository, mode: RepoMode = RepoMode.BARE) -> None:
        self.path = path
        self.git_dir = path / "git"
        self.mode = mode
        self.objects = FileObjects(path / "objects", path / "tmp")
        self.writer: PackWriter = (
            LooseWriter(self.git_dir, self._git_has)
            if mode is RepoMode.ARCHIVE
            else PackWriter(self.git_dir / "objects" / "pack", self._git_has)
        )
        self.reader = ObjectReader(repo, self.writer)
        self._cache: DevInoCache | None = None
        self.files_read = 0  # files hashed by the last write_dir_tree (cache misses)
        self._batch: _Batch | None = None  # open while batch() runs
        self._parts = StoreParts(
            path=path,
            git_dir=self.git_dir,
            objects=self.objects,
            writer=self.writer,
            reader=self.reader,
            devino=lambda: self.devino_cache,
            flush=self.flush,
            mode=mode,
        )

    @property
    def repo(self) -> pygit2.Repository:
        """The libgit2 handle (maintenance replaces it after deleting packs)."""
        return self.reader.repo

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def init(cls, path: Path, mode: RepoMode = RepoMode.BARE) -> Store:
        """Create a store (``archive``: to be served as static files), or open the one
        there when its mode agrees."""
        path = Path(path)
        if (path / "git").is_dir():
            store = cls.open(path)
            if store.mode is not mode:
                raise StoreError(
                    f"{path} is already a store in {store.mode.value} mode",
                    hint=f"choose another directory for an {mode.value} store",
                )
            return store
        try:
            path.mkdir(parents=True, exist_ok=True)
            known = ("objects", "tmp", "cache", "git", "config")
            if any(p.name not in known for p in path.iterdir()):
                raise StoreError(
                    f"Cannot create a store in {path}: the directory is not empty",
                    hint="choose an empty or new directory",
                )
            git_tmp = path / atomic.temp_name("git")
            pygit2.init_repository(str(git_tmp), bare=True)
            FileObjects(path / "objects", path / "tmp").ensure_layout()
            (path / "cache").mkdir(exist_ok=True)
            repoconfig.write_mode(path, mode)
            atomic.rename_durable(git_tmp, path / "git")
        except OSError as err:
            raise StoreError(f"Cannot create a store in {path}: {err.strerror}") from err
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> Store:
        path = Path(path)
        if not (path / "git").is_dir() or not (path / "objects").is_dir():
            raise StoreError(
                f"{path} is not a Strata store",
                hint="create one with `strata repo init --repo PATH`",
            )
        try:
            repo = pygit2.Repository(str(path / "git"))
        except pygit2.GitError as err:
            raise StoreError(f"{path} is not a Strata store: {err}") from err
        store = cls(path, repo, repoconfig.read_mode(path))
        if not (path / "objects" / "ff").is_dir():
            store.objects.ensure_layout()  # a store from an older or interrupted init
        return store

    def _git_has(self, oid: bytes) -> bool:
        return bool(self.repo.odb.exists(oid.hex()))

    @property
    def devino_cache(self) -> DevInoCache:
        if self._cache is None:
            self._cache = DevInoCache(self.path / "cache" / "devino")
        return self._cache

    def flush(self) -> None:
        """Write pending git objects as a pack (not yet durable: see :meth:`_make_durable`).

        Inside a :meth:`batch` the objects stay pending until the batch ends (this
        process reads them through :attr:`reader`, which sees pending objects), so an
        operation writes one pack, not one per package and commit: fewer small packs,
        and their consolidation comes ~10x less often.
        """
        if self._batch is not None:
            self._batch.deferred = True
            return
        if self.writer.finish():
            maybe_consolidate(self._parts)

    def _make_durable(self) -> None:
        self.flush()
        if self._batch is not None:
            self._batch.deferred = True  # the batch's end makes it durable
            return
        self._sync()

    def _sync(self) -> None:
        self.flush()
        atomic.syncfs(self.path)
        if self._cache is not None:
            # only now: a cache entry must never name an object a crash could still lose
            self._cache.save()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One durability point for a whole operation instead of one per ref.

        ``syncfs`` waits for every dirty page of the filesystem (other processes'
        too), so a ``syncfs`` before each ref move costs an operation that moves many
        refs (two per imported package) dearly. Inside the block ``commit_tree`` and
        ``set_ref`` do not wait for the disk and refs are only queued (``resolve`` and
        ``refs`` see them); when it ends, the objects written are made durable by one
        ``syncfs``, then every queued ref moves (see :func:`core.store.refs.write_refs`).
        A crash inside the block moves no ref. When the block raises, what it queued
        still moves: those refs name complete commits, as they would without a batch.
        A batch opened inside another joins it.
        """
        if self._batch is not None:
            yield
            return
        self._batch = _Batch()
        try:
            yield
        except BaseException:
            batch, self._batch = self._batch, None
            with contextlib.suppress(Exception):  # the error to report is the first one
                self._settle(batch)
            raise
        batch, self._batch = self._batch, None
        self._settle(batch)

    def _settle(self, batch: _Batch) -> None:
        self.flush()
        if batch.refs:
            with scratch_dir(self.path / "tmp", "strata-refs-") as tmp:
                refs.write_refs(self.git_dir, batch.refs, tmp_dir=tmp, sync=self._sync)
        elif batch.deferred:
            self._sync()

    # -- writing ------------------------------------------------------------------------

    def commit_dir(
        self,
        src: Path,
        *,
        branch: str | None = None,
        subject: str = "",
        metadata: Mapping[str, str] = {},  # noqa: B006 - never mutated, part of the contract
        parents: Sequence[str] = (),
        timestamp: int | None = None,
    ) -> str:
        if branch is not None:
            refs.check_ref_name(branch)
        tree = self.write_dir_tree(src)
        return self.commit_tree(
            tree,
            branch=branch,
            subject=subject,
            metadata=metadata,
            parents=parents,
            timestamp=timestamp,
        )

    def write_dir_tree(self, src: Path, *, adopt: bool = False) -> str:
        """The tree id of the directory ``src``; its files become objects.

        ``adopt=True``: the caller hands ``src``'s regular files over (nothing changes
        them again; they are only removed): each new one becomes its object by a
        hardlink instead of a copy, its mtime set to the objects' 0. For a large file
        written just to be committed, e.g. an rpmdb listing every path of an OS.
        """
        self.require_bare("commit a directory")
        importer = DirImporter(self.writer, self.objects, self.devino_cache, workers=COMMIT_WORKERS)
        try:
            if adopt:
                self._adopt_files(Path(src))
            oid = importer.import_dir(Path(src))
        except BaseException:
            # pending objects stay (an open TreeEditor may use some; unreferenced ones are
            # pruned); cache entries from this attempt go, back to what is durable on disk
            self._cache = None
            raise
        self.flush()
        self.files_read = importer.files_read
        return oid.hex()

    def _adopt_files(self, src: Path) -> None:
        """Link each new regular file of ``src`` into the object store as its object.

        The dev/ino cache then answers for every file, so the import that follows
        neither reads nor copies them again. A file with other links (it may be seen
        elsewhere) or one the store cannot link (another filesystem, an object left
        damaged by a crash) is left to the import's ordinary copy.
        """
        cache = self.devino_cache
        for root, _dirs, names in os.walk(src):
            for name in names:
                path = os.path.join(root, name)
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue  # symlinks, fifos (an open would block): left to the import
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    st = os.fstat(fd)
                    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                        continue
                    meta = FileMeta(st.st_uid, st.st_gid, st.st_mode, read_xattrs(fd))
                    sha, size = self.objects.hash_file(fd)
                    header = treemeta.file_header(meta, size, sha)
                    oid = gitpack.object_id(OBJ_BLOB, header)
                    hexid = oid.hex()
                    if self.objects.present(hexid, size) is not None:
                        self.writer.add(OBJ_BLOB, header, oid)
                        cache.record(os.fstat(fd), oid)
                        continue
                    os.utime(fd, ns=(0, 0))
                    try:
                        os.link(path, self.objects.spath(hexid))
                    except OSError:
                        continue
                    self.writer.add(OBJ_BLOB, header, oid)
                    cache.record_object(os.fstat(fd), oid)
                finally:
                    os.close(fd)

    def commit_tree(
        self,
        tree: str,
        *,
        branch: str | None = None,
        subject: str = "",
        metadata: Mapping[str, str] = {},  # noqa: B006 - never mutated, part of the contract
        parents: Sequence[str] = (),
        timestamp: int | None = None,
    ) -> str:
        if branch is not None:
            refs.check_ref_name(branch)
        tree_id = self._full_id(tree)
        if self.reader.object_type(tree_id) != OBJ_TREE:
            raise StoreError(f"Cannot commit {tree}: not a tree in this store")
        parent_ids = [self.resolve(parent) for parent in parents]
        stamp = int(time.time()) if timestamp is None else int(timestamp)
        data = commits.encode_commit(tree_id.hex(), parent_ids, subject, metadata, stamp)
        oid = self.writer.add(OBJ_COMMIT, data)
        self._make_durable()
        fault_point("commit-before-ref")
        if branch is not None:
            self._move_ref(branch, oid.hex())
            fault_point("commit-after-ref")
        return oid.hex()

    def edit(self, tree: str | None = None) -> TreeEditor:
        self.require_bare("edit a tree")
        base = None if tree is None else self._tree_of(tree)
        return TreeEditor(self._parts, base)

    def require_bare(self, what: str) -> None:
        if self.mode is RepoMode.ARCHIVE:
            raise StoreError(
                f"Cannot {what} in {self.path}: it is an archive store (objects to be served "
                "over HTTP, without owners or modes)",
                hint="work in a bare store and publish with "
                "`strata pull-local --repo ARCHIVE BARE REF`",
            )

    # -- reading ------------------------------------------------------------------------

    def _full_id(self, text: str) -> bytes:
        if _HEX.fullmatch(text) is None:
            raise StoreError(f"{text!r} is not an object id")
        if len(text) == 40:
            return bytes.fromhex(text)
        try:
            return bytes.fromhex(str(self.repo.expand_id(text)))
        except (KeyError, ValueError, pygit2.GitError) as err:
            raise StoreError(f"No object matches {text!r} (or it is ambiguous)") from err

    def resolve(self, rev: str) -> str:
        """Ref name, full or abbreviated commit id -> full commit id."""
        commit = self._batch.refs.get(rev) if self._batch is not None else None
        if commit is None:
            try:
                ref = self.repo.references.get(refs.git_name(rev)) if rev else None
            except (ValueError, pygit2.GitError):
                ref = None
            commit = str(ref.target) if ref is not None else None
        if commit is not None:
            if self.reader.object_type(bytes.fromhex(commit)) != OBJ_COMMIT:
                raise StoreError(
                    f"Ref {rev!r} points to {commit}, which is missing or not a commit",
                    hint="run `strata fsck`",
                )
            return commit
        if _HEX.fullmatch(rev):
            oid = self._full_id(rev)
            if self.reader.object_type(oid) == OBJ_COMMIT:
                return oid.hex()
        raise StoreError(
            f"Unknown ref or commit {rev!r}", hint="list refs with `strata refs --repo PATH`"
        )

    def _tree_of(self, rev_or_tree: str) -> bytes:
        if _HEX.fullmatch(rev_or_tree) and not self._is_ref(rev_or_tree):
            try:
                oid = self._full_id(rev_or_tree)
            except StoreError:
                oid = None
            if oid is not None and self.reader.object_type(oid) == OBJ_TREE:
                return oid
        return bytes.fromhex(self.commit_info(rev_or_tree).tree)

    def _is_ref(self, name: str) -> bool:
        if self._batch is not None and name in self._batch.refs:
            return True
        return refs.ref_path(self.git_dir, name).is_file()

    def commit_info(self, rev: str) -> CommitInfo:
        commit = self.resolve(rev)
        data = self.reader.read(bytes.fromhex(commit), OBJ_COMMIT)
        return commits.decode_commit(commit, data)

    def log(self, rev: str) -> list[CommitInfo]:
        """The commit and its first-parent ancestors, newest first (stops at a gap)."""
        out = [self.commit_info(rev)]
        while out[-1].parents:
            parent = out[-1].parents[0]
            if self.reader.object_type(bytes.fromhex(parent)) != OBJ_COMMIT:
                break
            out.append(self.commit_info(parent))
        return out

    def lookup(self, rev_or_tree: str, path: str) -> Entry | None:
        found = self.reader.find(self._tree_of(rev_or_tree), path)
        if found is None:
            return None
        return self.reader.entry(path.strip("/"), *found)

    def read_file(self, rev_or_tree: str, path: str) -> bytes | None:
        """A regular file's bytes; None if ``path`` is absent, a directory or a symlink
        (no symlink is followed, neither the last component nor any before it)."""
        found = self.reader.find(self._tree_of(rev_or_tree), path)
        if found is None or found[0] != GIT_FILE:
            return None
        if self.mode is RepoMode.ARCHIVE:
            filez = archive.filez_path(self.objects.root, found[1].hex())
            with open(filez, "rb") as source:
                return b"".join(archive.FilezReader(source, found[1], str(filez)).content())
        fd = self.objects.open_object(found[1].hex())
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def walk(self, rev_or_tree: str, path: str = "") -> Iterator[Entry]:
        found = self.reader.find(self._tree_of(rev_or_tree), path)
        if found is None:
            raise StoreError(
                f"No such path {path!r} in {rev_or_tree}",
                hint=f"list what is there with `strata ls --repo PATH {rev_or_tree} /`",
            )
        mode, oid = found
        clean = path.strip("/")
        if mode != GIT_TREE:
            yield self.reader.entry(clean, mode, oid)
            return
        yield from self.reader.walk(oid, clean)

    def subtree(self, rev_or_tree: str, path: str) -> str | None:
        found = self.reader.find(self._tree_of(rev_or_tree), path)
        if found is None or found[0] != GIT_TREE:
            return None
        return found[1].hex()

    def diff(self, a: str, b: str) -> list[DiffEntry]:
        return diff_trees(self.reader, self._tree_of(a), self._tree_of(b))

    def checkout(
        self, rev_or_tree: str, dest: Path, *, hardlink: bool = True, subpath: str = ""
    ) -> None:
        self.require_bare("check out")
        root = self._tree_of(rev_or_tree)
        found = self.reader.find(root, subpath)
        if found is None or found[0] != GIT_TREE:
            raise StoreError(f"Cannot check out {subpath!r} of {rev_or_tree}: not a directory")
        checkout_tree(self._parts, found[1], Path(dest), hardlink=hardlink)

    def patch_checkout(self, dest: Path, old_tree: str, new_tree: str) -> int:
        """Turn ``dest``, a checkout of ``old_tree``, into one of ``new_tree`` (both tree
        ids); the number of entries created, replaced or removed."""
        return checkout_patch.patch_checkout(self._parts, dest, old_tree, new_tree)

    def count_changes(self, old_tree: str, new_tree: str, limit: int) -> int | None:
        """How many entries patching a checkout of ``old_tree`` into ``new_tree`` touches;
        None once more than ``limit``."""
        return checkout_patch.count_changes(self._parts, old_tree, new_tree, limit)

    # -- refs and maintenance -----------------------------------------------------------

    def refs(self, prefix: str = "") -> dict[str, str]:
        found = refs.list_refs(self.repo, prefix)
        if self._batch is not None:
            found.update((k, v) for k, v in self._batch.refs.items() if k.startswith(prefix))
            found = dict(sorted(found.items()))
        return found

    def set_ref(self, name: str, commit: str) -> None:
        refs.check_ref_name(name)
        commit_id = self.resolve(commit)
        self._make_durable()
        self._move_ref(name, commit_id)

    def _move_ref(self, name: str, commit: str) -> None:
        """Write the ref now (its objects are durable), or queue it in the open batch."""
        if self._batch is not None:
            refs.check_ref_name(name)
            self._batch.refs[name] = commit
        else:
            refs.write_ref(self.git_dir, name, commit)

    def delete_ref(self, name: str) -> None:
        if self._batch is not None and self._batch.refs.pop(name, None) is not None:
            with contextlib.suppress(StoreError):  # it may only ever have been queued
                refs.delete_ref(self.repo, self.git_dir, name)
            return
        refs.delete_ref(self.repo, self.git_dir, name)

    def fsck(self) -> list[str]:
        from core.store.fsck import fsck  # noqa: PLC0415 - only maintenance verbs need it

        return fsck(self._parts)

    def sweep_temp_objects(self) -> int:
        """Remove file-object temp files a killed writer left (prune does it too, but a
        command that prunes nothing must not leave them either)."""
        return self._parts.objects.sweep_dead_temps()

    def prune(self, extra_roots: Iterable[str] = ()) -> PruneStats:
        self.flush()
        roots = [
            bytes.fromhex(target)
            for target in self.refs().values()
            if self.reader.object_type(bytes.fromhex(target)) is not None
        ]
        for rev in extra_roots:
            is_tree = len(rev) == 40 and _HEX.fullmatch(rev) is not None
            if is_tree and self.reader.object_type(bytes.fromhex(rev)) == OBJ_TREE:
                roots.append(bytes.fromhex(rev))
            else:
                roots.append(bytes.fromhex(self.resolve(rev)))
        return prune_store(self._parts, roots)


@dataclass
class _Batch:
    """What an open :meth:`Store.batch` defers: ref moves, and whether to sync at all."""

    refs: dict[str, str] = field(default_factory=dict)
    deferred: bool = False
