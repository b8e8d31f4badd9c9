"""Turning a directory on disk into git trees, metadata blobs and file objects.

One pass, depth first: each regular file is hashed (unless the dev/ino cache proves it
unchanged), its metadata header becomes a git blob and its bytes a file object; each
directory becomes a git tree that carries its own metadata blob. Nothing here moves a ref:
a failure leaves at worst unreferenced objects, which ``prune`` removes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.errors import StoreError
from core.store import gitpack, treemeta
from core.store.devino import DevInoCache
from core.store.gitpack import OBJ_BLOB, OBJ_TREE, PackWriter
from core.store.objects import FileObjects, read_xattrs
from core.store.types import FileMeta

SMALL = 4 << 20
_DIRMETA = treemeta.DIRMETA_NAME.encode()
GIT_FILE, GIT_LINK, GIT_TREE = (
    treemeta.GIT_FILE,
    treemeta.GIT_LINK,
    treemeta.GIT_TREE,
)  # files up to this size are read once into memory


class DirImporter:
    def __init__(
        self,
        writer: PackWriter,
        objects: FileObjects,
        cache: DevInoCache | None,
        *,
        drop_xattr_prefixes: tuple[str, ...] = (),
        skip_whiteouts: bool = False,
        workers: int = 1,
    ) -> None:
        self.writer = writer
        self.objects = objects
        self.cache = cache
        self.drop_xattr_prefixes = drop_xattr_prefixes
        self.skip_whiteouts = skip_whiteouts
        self.files_read = 0
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def xattrs(self, target: int | str | bytes) -> tuple[tuple[str, bytes], ...]:
        found = read_xattrs(target)
        if self.drop_xattr_prefixes and found:
            found = tuple(x for x in found if not x[0].startswith(self.drop_xattr_prefixes))
        return found

    def import_dir(self, src: Path) -> bytes:
        """The 20-byte id of the tree for ``src`` (its own metadata included)."""
        try:
            st = os.lstat(src)
        except OSError as err:
            raise StoreError(f"Cannot commit {src}: {err.strerror}") from err
        if not stat.S_ISDIR(st.st_mode):
            raise StoreError(
                f"Cannot commit {src}: not a directory", hint="commit a directory tree"
            )
        if self.workers <= 1:
            return self.directory(os.fsencode(src), st)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            self._pool = pool
            try:
                return self.directory(os.fsencode(src), st)
            finally:
                self._pool = None

    def directory(self, path: str | bytes, st: os.stat_result) -> bytes:
        """The tree id of the directory at ``path`` whose lstat is ``st``."""
        bpath = os.fsencode(path)
        entries: list[tuple[int, bytes, bytes]] = []
        pending: list[tuple[bytes, Future[_Stored]]] = []
        try:
            with os.scandir(bpath) as it:
                children = list(it)
        except OSError as err:
            raise StoreError(f"Cannot read directory {os.fsdecode(bpath)}: {err.strerror}") from err
        for child in children:
            name = child.name
            if name == _DIRMETA:  # the kernel never returns "", ".", "..", "/" or NUL names
                treemeta.check_name(os.fsdecode(name), os.fsdecode(bpath))
            cst = child.stat(follow_symlinks=False)
            mode = cst.st_mode
            if stat.S_ISREG(mode):
                cached = self._cached(cst)
                if cached is not None:
                    entries.append((GIT_FILE, name, cached))
                elif self._pool is not None:
                    pending.append((name, self._pool.submit(self._store_file, child.path)))
                else:
                    entries.append((GIT_FILE, name, self._register(self._store_file(child.path))))
            elif stat.S_ISDIR(mode):
                entries.append((GIT_TREE, name, self.directory(child.path, cst)))
            elif stat.S_ISLNK(mode):
                entries.append((GIT_LINK, name, self.symlink(child.path, cst)))
            elif self.skip_whiteouts and is_whiteout(cst):
                continue
            else:
                raise StoreError(
                    f"Cannot commit {os.fsdecode(child.path)}: {_type_name(mode)} are not "
                    "allowed in a tree",
                    hint="remove sockets, fifos and device nodes before committing",
                )
        for name, future in pending:
            entries.append((GIT_FILE, name, self._register(future.result())))
        meta = FileMeta(st.st_uid, st.st_gid, st.st_mode, self.xattrs(bpath))
        dirmeta = self.writer.add(OBJ_BLOB, treemeta.dir_header(meta))
        entries.append((GIT_FILE, _DIRMETA, dirmeta))
        return self.writer.add(OBJ_TREE, gitpack.encode_tree(entries))

    def symlink(self, path: str | bytes, st: os.stat_result) -> bytes:
        target = os.fsdecode(os.readlink(os.fsencode(path)))
        meta = FileMeta(st.st_uid, st.st_gid, st.st_mode, self.xattrs(path))
        header = treemeta.symlink_header(meta, target)
        oid = gitpack.object_id(OBJ_BLOB, header)
        if not self.objects.symlink_present(oid.hex()):
            self.objects.write_symlink(oid.hex(), target, meta)
        return self.writer.add(OBJ_BLOB, header, oid)

    def file(self, path: str | bytes, st: os.stat_result) -> bytes:
        """The metadata blob id of the regular file at ``path`` (hashing it unless cached)."""
        cached = self._cached(st)
        if cached is not None:
            return cached
        return self._register(self._store_file(path))

    def _cached(self, st: os.stat_result) -> bytes | None:
        return self.cache.lookup(st) if self.cache is not None else None

    def _store_file(self, path: str | bytes) -> _Stored:
        """Hash a file and write its object if new. Thread-safe: touches no shared state
        but the file store, whose writes are temp + rename of identical content."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as err:
            raise StoreError(f"Cannot read {os.fsdecode(path)}: {err.strerror}") from err
        try:
            fst = os.fstat(fd)
            meta = FileMeta(fst.st_uid, fst.st_gid, fst.st_mode, self.xattrs(fd))
            data: bytes | None = None
            if fst.st_size <= SMALL:
                data = _read_all(fd, fst.st_size)
                sha, size = hashlib.sha256(data).hexdigest(), len(data)
            else:
                sha, size = self.objects.hash_file(fd)
            header = treemeta.file_header(meta, size, sha)
            oid = gitpack.object_id(OBJ_BLOB, header)
            hexid = oid.hex()
            ost = self.objects.present(hexid, size)
            new = ost is None
            if ost is None:
                if data is not None:
                    ost = self.objects.write_bytes(hexid, data, meta)
                else:
                    ost = self.objects.write_copy(hexid, fd, size, meta)
        finally:
            os.close(fd)
        return _Stored(oid, header, fst, ost, new)

    def _register(self, stored: _Stored) -> bytes:
        """The single-threaded half: the git blob and the cache entries."""
        self.files_read += 1
        if stored.new:
            # a new file object means a new blob (a duplicate in a pack is harmless)
            self.writer.add_new(OBJ_BLOB, stored.header, stored.oid)
        else:
            self.writer.add(OBJ_BLOB, stored.header, stored.oid)
        if self.cache is not None:
            self.cache.record(stored.source, stored.oid)
            self.cache.record_object(stored.obj, stored.oid)
        return stored.oid


@dataclass(frozen=True)
class _Stored:
    oid: bytes
    header: bytes
    source: os.stat_result
    obj: os.stat_result
    new: bool


def is_whiteout(st: os.stat_result) -> bool:
    """An overlayfs whiteout: a character device 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _read_all(fd: int, size: int) -> bytes:
    first = os.read(fd, size + 1)  # one extra byte notices a file that grew since fstat
    if len(first) <= size:
        return first  # a short read of a regular file is its end
    chunks = [first]
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _type_name(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "sockets"
    if stat.S_ISFIFO(mode):
        return "fifos"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device nodes"
    return "special files"
