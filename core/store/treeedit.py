"""Tree surgery: new trees built from existing objects, without touching file contents.

The editor loads directories lazily and only the ones a change passes through; every
directory not touched keeps its tree id, so assembling a layered tree costs the size of
the change. ``overlay`` unions whole package trees; ``apply_upper`` folds an overlayfs
upper directory (what trigger scripts wrote) into the tree.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO, Union

from core.errors import ConflictError, StoreError
from core.store import gitpack, treemeta
from core.store.gitpack import OBJ_BLOB, OBJ_TREE
from core.store.importdir import DirImporter, is_whiteout
from core.store.objects import read_xattrs
from core.store.parts import StoreParts
from core.store.treemeta import GIT_FILE, GIT_LINK, GIT_TREE
from core.store.types import EntryKind, FileMeta

# xattrs overlayfs keeps for itself on upper files; never part of a committed tree
OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
OPAQUE = ("trusted.overlay.opaque", "user.overlay.opaque")
METACOPY = ("trusted.overlay.metacopy", "user.overlay.metacopy")
REDIRECT = ("trusted.overlay.redirect", "user.overlay.redirect")

Child = Union["_Node", tuple[int, bytes]]


class _Node:
    """A directory being edited; ``items`` is None until it is first needed."""

    __slots__ = ("adopt", "dirmeta", "dirty", "items", "labels", "tree")

    def __init__(self, tree: bytes | None, dirmeta: bytes | None = None) -> None:
        self.tree = tree
        self.dirmeta = dirmeta
        # metadata guessed (a parent created implicitly, an empty start): the first
        # overlaid tree's metadata replaces it instead of conflicting with it
        self.adopt = tree is None
        self.items: dict[bytes, Child] | None = None if tree is not None else {}
        self.dirty = tree is None
        self.labels: dict[bytes, str] = {}


class TreeEditor:
    def __init__(self, parts: StoreParts, base: bytes | None, *, base_label: str = "base") -> None:
        self.parts = parts
        self.reader = parts.reader
        self.writer = parts.writer
        self.base_label = base_label
        self.root = _Node(base)
        if base is None:
            self.root.dirmeta = self._dirmeta(FileMeta.directory())

    # -- navigation ---------------------------------------------------------------------

    def _load(self, node: _Node) -> dict[bytes, Child]:
        if node.items is None:
            assert node.tree is not None
            dirmeta, items = self.reader.tree(node.tree)
            node.dirmeta = dirmeta
            node.items = {name: (mode, oid) for mode, name, oid in items}
        return node.items

    def _child_dir(self, node: _Node, name: bytes, path: str, create: bool) -> _Node:
        items = self._load(node)
        child = items.get(name)
        if isinstance(child, _Node):
            return child
        if child is None:
            if not create:
                raise StoreError(f"No such directory {path!r} in the tree being edited")
            new = _Node(None, self._dirmeta(FileMeta.directory()))
            items[name] = new
            node.dirty = True
            return new
        mode, oid = child
        if mode != GIT_TREE:
            raise StoreError(f"Cannot edit below {path!r}: it is not a directory")
        loaded = _Node(oid)
        items[name] = loaded
        return loaded

    def _parent(self, path: str, create: bool = True) -> tuple[_Node, bytes]:
        parts = treemeta.split_path(path)
        if not parts:
            raise StoreError("This operation needs a path below the root, got the root itself")
        node = self.root
        walked = ""
        for part in parts[:-1]:
            walked = f"{walked}/{part}" if walked else part
            node = self._child_dir(node, os.fsencode(part), walked, create)
        self._mark_path_dirty(parts[:-1])
        return node, os.fsencode(parts[-1])

    def _mark_path_dirty(self, parts: list[str]) -> None:
        node = self.root
        node.dirty = True
        for part in parts:
            child = self._load(node)[os.fsencode(part)]
            assert isinstance(child, _Node)
            child.dirty = True
            node = child

    def _dirmeta(self, meta: FileMeta) -> bytes:
        return self.writer.add(OBJ_BLOB, treemeta.dir_header(meta))

    # -- single entries -----------------------------------------------------------------

    def put_file(self, path: str, data: bytes | BinaryIO, meta: FileMeta) -> None:
        meta = _typed(meta, stat.S_IFREG)
        node, name = self._parent(path)
        objects = self.parts.objects
        fd = None if isinstance(data, bytes) else _real_fd(data)
        if fd is None:
            payload = data if isinstance(data, bytes) else data.read()
            size, sha = len(payload), hashlib.sha256(payload).hexdigest()
            header = treemeta.file_header(meta, size, sha)
            oid = gitpack.object_id(OBJ_BLOB, header)
            ost = objects.present(oid.hex(), size)
            if ost is None:
                ost = objects.write_bytes(oid.hex(), payload, meta)
        else:
            # a real file (a spooled large payload): hashed and copied in the kernel,
            # from its current position, never loaded into memory
            start = os.lseek(fd, 0, os.SEEK_CUR)
            sha, size = objects.hash_file(fd, start)
            header = treemeta.file_header(meta, size, sha)
            oid = gitpack.object_id(OBJ_BLOB, header)
            ost = objects.present(oid.hex(), size)
            if ost is None:
                ost = objects.write_copy(oid.hex(), fd, size, meta, start)
        self.writer.add(OBJ_BLOB, header, oid)
        self.parts.devino().record_object(ost, oid)  # checkouts of it re-commit cheaply
        self._load(node)[name] = (GIT_FILE, oid)

    def put_symlink(self, path: str, target: str, meta: FileMeta) -> None:
        if not target or "\0" in target:
            raise StoreError(f"Invalid symlink target {target!r} for {path!r}")
        meta = _typed(meta, stat.S_IFLNK)
        node, name = self._parent(path)
        header = treemeta.symlink_header(meta, target)
        oid = gitpack.object_id(OBJ_BLOB, header)
        if not self.parts.objects.symlink_present(oid.hex()):
            self.parts.objects.write_symlink(oid.hex(), target, meta)
        self.writer.add(OBJ_BLOB, header, oid)
        self._load(node)[name] = (GIT_LINK, oid)

    def put_dir(self, path: str, meta: FileMeta) -> None:
        meta = _typed(meta, stat.S_IFDIR)
        if not treemeta.split_path(path):
            self._load(self.root)
            self.root.dirmeta = self._dirmeta(meta)
            self.root.dirty = True
            self.root.adopt = False
            return
        node, name = self._parent(path)
        items = self._load(node)
        existing = items.get(name)
        if existing is not None and not isinstance(existing, _Node) and existing[0] != GIT_TREE:
            del items[name]  # a file or symlink becomes an empty directory
        child = self._child_dir(node, name, path, create=True)
        self._load(child)
        child.dirmeta = self._dirmeta(meta)
        child.dirty = True
        child.adopt = False

    def put_parents_like(self, path: str, tree: str) -> None:
        """Create the missing parents of ``path`` with the metadata the same directories
        have in the tree ``tree`` (other calls create them as plain root-owned 0755
        directories)."""
        names = treemeta.split_path(path)[:-1]
        for i in range(1, len(names) + 1):
            parent = "/".join(names[:i])
            if self.exists(parent):
                continue
            found = self.reader.find(bytes.fromhex(tree), parent)
            entry = self.reader.entry(parent, *found) if found is not None else None
            self.put_dir(parent, entry.meta if entry is not None else FileMeta.directory())

    def graft(self, path: str, tree: str | bytes) -> None:
        oid = bytes.fromhex(tree) if isinstance(tree, str) else tree
        if self.reader.object_type(oid) != OBJ_TREE:
            raise StoreError(f"Cannot graft {oid.hex()} at {path!r}: not a tree in this store")
        if not treemeta.split_path(path):
            self.root = _Node(oid)
            self.root.dirty = True
            return
        node, name = self._parent(path)
        self._load(node)[name] = (GIT_TREE, oid)

    def remove(self, path: str) -> None:
        node, name = self._parent(path, create=False)
        items = self._load(node)
        if name not in items:
            raise StoreError(f"Cannot remove {path!r}: no such path in the tree being edited")
        del items[name]
        node.labels.pop(name, None)

    def is_empty_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory with nothing in it (False when it is absent or
        not a directory)."""
        try:
            node, name = self._parent(path, create=False)
        except StoreError:
            return False
        child = self._load(node).get(name)
        if isinstance(child, _Node):
            return not self._load(child)
        if child is None or child[0] != GIT_TREE:
            return False
        return not self.reader.tree(child[1])[1]

    def exists(self, path: str) -> bool:
        try:
            node, name = self._parent(path, create=False)
        except StoreError:
            return False
        return name in self._load(node)

    # -- unions -------------------------------------------------------------------------

    def overlay(self, tree: str | bytes, *, label: str) -> None:
        """Union ``tree`` into this one. Identical files and directories with the same
        metadata merge; anything else at one path raises ConflictError naming both sides."""
        oid = bytes.fromhex(tree) if isinstance(tree, str) else tree
        self._overlay(self.root, oid, label, "", self.base_label)

    def _overlay(self, node: _Node, tree: bytes, label: str, path: str, owner: str) -> None:
        if node.tree == tree and not node.dirty:
            return
        items = self._load(node)
        dirmeta, incoming = self.reader.tree(tree)
        if node.adopt:
            node.dirmeta = dirmeta
            node.adopt = False
            node.dirty = True
        if dirmeta != node.dirmeta:
            raise ConflictError(
                f"{path or '/'}: directory metadata differs between {owner} and {label}",
                hint="make both sides agree on the directory's owner, mode and xattrs",
            )
        for mode, name, oid in incoming:
            child_path = f"{path}/{os.fsdecode(name)}" if path else os.fsdecode(name)
            existing = items.get(name)
            other = node.labels.get(name, owner)
            if existing is None:
                items[name] = (mode, oid)
                node.labels[name] = label
                node.dirty = True
                continue
            ex_mode = GIT_TREE if isinstance(existing, _Node) else existing[0]
            if ex_mode == GIT_TREE and mode == GIT_TREE:
                if not isinstance(existing, _Node) and existing[1] == oid:
                    continue
                child = self._child_dir(node, name, child_path, create=False)
                before = child.dirty
                self._overlay(child, oid, label, child_path, other)
                if child.dirty and not before:
                    node.dirty = True
                continue
            if ex_mode == mode and not isinstance(existing, _Node) and existing[1] == oid:
                continue
            raise ConflictError(
                f"{child_path}: provided differently by {other} and by {label}",
                hint="only identical files (content and metadata) may be shared",
            )

    def apply_upper(self, upper: Path) -> None:
        """Fold an overlayfs upper directory in: a 0/0 character device deletes the path,
        an opaque directory replaces the lower one, everything else replaces or merges."""
        importer = DirImporter(
            self.writer,
            self.parts.objects,
            None,
            drop_xattr_prefixes=OVERLAY_XATTRS,
            skip_whiteouts=True,
        )
        self._apply(self.root, str(upper), "", importer)

    def _apply(self, node: _Node, directory: str, path: str, importer: DirImporter) -> None:
        items = self._load(node)
        node.dirty = True
        with os.scandir(directory) as it:
            children = sorted(it, key=lambda entry: entry.name)
        for entry in children:
            name = os.fsencode(entry.name)
            treemeta.check_name(entry.name, directory)
            child_path = f"{path}/{entry.name}" if path else entry.name
            st = entry.stat(follow_symlinks=False)
            existing = items.get(name)
            if is_whiteout(st):
                items.pop(name, None)
                continue
            _refuse_redirect(entry.path)
            if stat.S_ISDIR(st.st_mode):
                lower_is_dir = existing is not None and (
                    isinstance(existing, _Node) or existing[0] == GIT_TREE
                )
                if lower_is_dir and not _has_xattr(entry.path, OPAQUE, b"y"):
                    child = self._child_dir(node, name, child_path, create=False)
                    self._load(child)
                    meta = FileMeta(st.st_uid, st.st_gid, st.st_mode, importer.xattrs(entry.path))
                    child.dirmeta = self._dirmeta(meta)
                    child.adopt = False
                    self._apply(child, entry.path, child_path, importer)
                else:
                    items[name] = (GIT_TREE, importer.directory(entry.path, st))
            elif stat.S_ISLNK(st.st_mode):
                items[name] = (GIT_LINK, importer.symlink(entry.path, st))
            elif stat.S_ISREG(st.st_mode):
                if _has_xattr(entry.path, METACOPY):
                    items[name] = (GIT_FILE, self._metacopy(existing, entry.path, st, importer))
                else:
                    items[name] = (GIT_FILE, importer.file(entry.path, st))
            else:
                raise StoreError(
                    f"Cannot fold {entry.path} into the tree: special files are not allowed",
                    hint="remove sockets, fifos and device nodes the scripts created",
                )

    def _metacopy(
        self, existing: Child | None, path: str, st: os.stat_result, importer: DirImporter
    ) -> bytes:
        """A metadata-only copy-up: the bytes are the lower file's, the metadata the upper's."""
        if existing is None or isinstance(existing, _Node) or existing[0] != GIT_FILE:
            raise StoreError(f"{path}: metacopy upper file without a lower regular file")
        lower = self.reader.header(existing[1])
        meta = FileMeta(st.st_uid, st.st_gid, st.st_mode, importer.xattrs(path))
        header = treemeta.file_header(meta, lower.size, lower.sha256)
        oid = gitpack.object_id(OBJ_BLOB, header)
        ost = self.parts.objects.present(oid.hex(), lower.size)
        if ost is None:
            fd = self.parts.objects.open_object(existing[1].hex())
            try:
                ost = self.parts.objects.write_copy(oid.hex(), fd, lower.size, meta)
            finally:
                os.close(fd)
        self.writer.add(OBJ_BLOB, header, oid)
        self.parts.devino().record_object(ost, oid)
        return oid

    # -- output -------------------------------------------------------------------------

    def _write(self, node: _Node) -> bytes:
        if not node.dirty and node.tree is not None:
            return node.tree
        items = self._load(node)
        entries: list[tuple[int, bytes, bytes]] = []
        for name, child in items.items():
            if isinstance(child, _Node):
                entries.append((GIT_TREE, name, self._write(child)))
            else:
                entries.append((child[0], name, child[1]))
        if node.dirmeta is None:
            node.dirmeta = self._dirmeta(FileMeta.directory())
        entries.append((GIT_FILE, treemeta.DIRMETA_NAME.encode(), node.dirmeta))
        node.tree = self.writer.add(OBJ_TREE, gitpack.encode_tree(entries))
        node.dirty = False
        return node.tree

    def write(self) -> str:
        """Write every changed directory; return the root tree id."""
        tree = self._write(self.root)
        self.parts.flush()
        return tree.hex()


def _typed(meta: FileMeta, kind_bits: int) -> FileMeta:
    fmt = stat.S_IFMT(meta.mode)
    if fmt == 0:
        return FileMeta(meta.uid, meta.gid, kind_bits | meta.mode, tuple(sorted(meta.xattrs)))
    if fmt != kind_bits:
        want = {stat.S_IFREG: EntryKind.FILE, stat.S_IFLNK: EntryKind.SYMLINK}.get(
            kind_bits, EntryKind.DIR
        )
        raise StoreError(f"Metadata mode {meta.mode:o} is not a {want}")
    return FileMeta(meta.uid, meta.gid, meta.mode, tuple(sorted(meta.xattrs)))


def _real_fd(data: BinaryIO) -> int | None:
    """The OS file descriptor behind ``data``, flushed and positioned, or None."""
    try:
        fd = data.fileno()
        position = data.tell()
        data.flush()
    except (AttributeError, OSError, ValueError):
        return None
    os.lseek(fd, position, os.SEEK_SET)
    return fd


def _has_xattr(path: str, names: tuple[str, ...], value: bytes | None = None) -> bool:
    """Whether ``path`` carries one of ``names`` (with exactly ``value`` if given)."""
    found = dict(read_xattrs(path))
    return any(name in found and value in (None, found[name]) for name in names)


def _refuse_redirect(path: str) -> None:
    if _has_xattr(path, REDIRECT):
        raise StoreError(
            f"{path}: overlayfs redirect_dir copy-ups cannot be folded into a tree",
            hint="mount the overlay with redirect_dir=off",
        )
