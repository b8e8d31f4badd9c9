"""Reading the store's trees: raw git objects, decoded headers, lookups and walks.

Trees are decoded from raw object bytes rather than through pygit2's object wrappers: a
checkout or walk of 100k entries is dominated by per-entry overhead, and the raw format
is trivial. Objects still pending in the current pack writer are readable too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pygit2

from core.errors import StoreError
from core.store import gitpack, treemeta
from core.store.gitpack import OBJ_BLOB, OBJ_TREE, PackWriter
from core.store.treemeta import DIRMETA_NAME, GIT_LINK, GIT_TREE, Header
from core.store.types import Entry, EntryKind

DIRMETA = DIRMETA_NAME.encode()

# (git mode, name bytes, 20-byte id), git order, the dirmeta entry excluded; callers
# never change one (decoded trees are shared through ObjectReader's cache)
TreeItems = list[tuple[int, bytes, bytes]]
# Decoded trees kept: path lookups decode the same top directories again and again (the
# union looks up every path of every package in the tree being built).
TREE_CACHE = 8192


class ObjectReader:
    def __init__(self, repo: pygit2.Repository, writer: PackWriter | None = None) -> None:
        self.repo = repo
        self.writer = writer
        self._headers: dict[bytes, Header] = {}
        self._trees: dict[bytes, tuple[bytes | None, TreeItems]] = {}

    def reopen(self) -> None:
        """A fresh libgit2 handle: after packs were deleted, the old one still maps them."""
        self.repo = pygit2.Repository(self.repo.path)
        self._trees.clear()

    def read(self, oid: bytes, expect: int | None = None) -> bytes:
        found: tuple[int, bytes] | None = None
        if self.writer is not None:
            found = self.writer.get(oid)
        if found is None:
            try:
                obj_type, data = self.repo.odb.read(oid.hex())
            except (KeyError, pygit2.GitError, ValueError) as err:
                raise StoreError(
                    f"Git object {oid.hex()} is missing or unreadable: {err}",
                    hint="run `strata fsck` to list damaged objects",
                ) from err
            found = (int(obj_type), data)
        if expect is not None and found[0] != expect:
            raise StoreError(
                f"Git object {oid.hex()} is a {gitpack.TYPE_NAMES.get(found[0], b'?').decode()}, "
                f"expected a {gitpack.TYPE_NAMES[expect].decode()}"
            )
        return found[1]

    def exists(self, oid: bytes) -> bool:
        if self.writer is not None and self.writer.pending(oid):
            return True
        return bool(self.repo.odb.exists(oid.hex()))

    def object_type(self, oid: bytes) -> int | None:
        if self.writer is not None:
            found = self.writer.get(oid)
            if found is not None:
                return found[0]
        try:
            obj_type, _size = self.repo.odb.read_header(oid.hex())
        except (KeyError, pygit2.GitError, ValueError):
            return None
        return int(obj_type)

    def header(self, oid: bytes) -> Header:
        found = self._headers.get(oid)
        if found is None:
            found = treemeta.decode(self.read(oid, OBJ_BLOB), f"metadata blob {oid.hex()}")
            if len(self._headers) > 4096:
                self._headers.clear()
            self._headers[oid] = found
        return found

    def tree(self, oid: bytes) -> tuple[bytes | None, TreeItems]:
        """(dirmeta blob id, other entries) of a tree; names are checked for hostility.
        Trees are content-addressed, so a decoded one is kept (up to TREE_CACHE)."""
        found = self._trees.get(oid)
        if found is None:
            found = self._decode_tree(oid)
            if len(self._trees) >= TREE_CACHE:
                self._trees.clear()
            self._trees[oid] = found
        return found

    def _decode_tree(self, oid: bytes) -> tuple[bytes | None, TreeItems]:
        dirmeta: bytes | None = None
        items: TreeItems = []
        for mode, name, child in gitpack.decode_tree(self.read(oid, OBJ_TREE)):
            if name == DIRMETA:
                dirmeta = child
                continue
            if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
                raise StoreError(
                    f"Refusing tree {oid.hex()}: hostile entry name {name!r}",
                    hint="the store holds a tree no Strata commit can produce; prune it",
                )
            items.append((mode, name, child))
        return dirmeta, items

    def dir_header(self, tree_oid: bytes, dirmeta: bytes | None) -> Header:
        if dirmeta is None:
            raise StoreError(f"Tree {tree_oid.hex()} has no directory metadata")
        header = self.header(dirmeta)
        if header.kind is not EntryKind.DIR:
            raise StoreError(f"Tree {tree_oid.hex()}: directory metadata is a {header.kind}")
        return header

    def entry(self, path: str, mode: int, oid: bytes) -> Entry:
        if mode == GIT_TREE:
            dirmeta, _ = self.tree(oid)
            header = self.dir_header(oid, dirmeta)
        else:
            header = self.header(oid)
            want = EntryKind.SYMLINK if mode == GIT_LINK else EntryKind.FILE
            if header.kind is not want:
                raise StoreError(f"Metadata blob {oid.hex()} at {path!r} is not a {want}")
        return Entry(path, header.kind, header.meta, header.size, header.target, oid.hex())

    def find(self, root: bytes, path: str) -> tuple[int, bytes] | None:
        """(git mode, id) of ``path`` below the tree ``root``; None if absent."""
        mode, oid = GIT_TREE, root
        for part in treemeta.split_path(path):
            if mode != GIT_TREE:
                return None
            wanted = os.fsencode(part)
            _, items = self.tree(oid)
            for cmode, name, child in items:
                if name == wanted:
                    mode, oid = cmode, child
                    break
            else:
                return None
        return mode, oid

    def walk(self, oid: bytes, path: str) -> Iterator[Entry]:
        """Pre-order, children sorted by name; ``path`` names ``oid`` itself."""
        yield self.entry(path, GIT_TREE, oid)
        _, items = self.tree(oid)
        for mode, name, child in sorted(items, key=lambda item: item[1]):
            child_path = f"{path}/{os.fsdecode(name)}" if path else os.fsdecode(name)
            if mode == GIT_TREE:
                yield from self.walk(child, child_path)
            else:
                yield self.entry(child_path, mode, child)
