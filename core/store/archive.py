"""The ``archive`` repository format: every object a static file named by its id.

An archive repository is meant to be served as is by any web server or CDN (libostree's
``archive`` mode). Its git objects are *loose* (``git/objects/XX/REST``, git's own zlib
format, the layout git's dumb HTTP transport reads), and each regular file's bytes are a
``.filez`` object beside the metadata blob's name::

    objects/XX/REST.filez   zstd frame of: mode, uid, gid, size, xattrs (binary), content

The object's name is its metadata blob's id (:mod:`core.store.treemeta`); the blob holds
the content's sha256, which the client computes anyway, so the filez carries only the
rest, in 22 bytes plus xattrs (libostree's filez carries a small binary header too): the
client rebuilds the blob from them and the content's digest, and its git id must equal the
name. Symlinks have no ``.filez``; their metadata blob is the whole object. Everything
read from a filez or a loose object is checked against its id before anyone uses it, and
the size the filez announces bounds what is decompressed (no decompression bomb gets
further than that).
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from core.errors import StoreError
from core.store import gitpack, treemeta
from core.store.gitpack import OBJ_BLOB, TYPE_NAMES
from core.store.types import FileMeta

FILEZ = ".filez"
ZSTD_LEVEL = 9
MAX_HEADER = 1 << 16  # a metadata header is ~150 bytes; xattrs may add some
MAX_GIT_OBJECT = 256 << 20  # trees of huge directories stay far below
CHUNK = 1 << 20
_NAMES_TYPE = {name: code for code, name in TYPE_NAMES.items()}


class ObjectCorrupt(StoreError):
    """An object's bytes do not match its id (damaged, truncated or forged)."""


# -- loose git objects -----------------------------------------------------------------------


def loose_path(git_dir: Path, hexid: str) -> Path:
    return git_dir / "objects" / hexid[:2] / hexid[2:]


def encode_loose(obj_type: int, data: bytes) -> bytes:
    return zlib.compress(TYPE_NAMES[obj_type] + b" %d\0" % len(data) + data, 6)


def decode_loose(oid: bytes, raw: bytes, what: str) -> tuple[int, bytes]:
    """A loose object's (type, data), verified against ``oid``; ObjectCorrupt otherwise."""
    try:
        inflater = zlib.decompressobj()
        full = inflater.decompress(raw, MAX_GIT_OBJECT + 64)
        if inflater.unconsumed_tail or not inflater.eof:
            raise ValueError("truncated or oversized zlib stream")
        head, sep, data = full.partition(b"\0")
        kind, _, length = head.partition(b" ")
        if not sep or kind not in _NAMES_TYPE or int(length) != len(data):
            raise ValueError("malformed object header")
    except (zlib.error, ValueError) as err:
        raise ObjectCorrupt(f"{what}: object {oid.hex()} is corrupt ({err})") from err
    obj_type = _NAMES_TYPE[kind]
    if gitpack.object_id(obj_type, data) != oid:
        raise ObjectCorrupt(f"{what}: object {oid.hex()} does not match its id")
    return obj_type, data


def write_loose(git_dir: Path, oid: bytes, obj_type: int, data: bytes) -> None:
    """Write one loose git object (temp + rename); an existing one is kept."""
    path = loose_path(git_dir, oid.hex())
    if path.exists():
        return
    path.parent.mkdir(exist_ok=True)
    tmp = path.parent / f".tmp-{os.getpid()}-{oid.hex()[2:12]}"
    with open(tmp, "wb") as out:
        out.write(encode_loose(obj_type, data))
    os.chmod(tmp, 0o444)
    os.rename(tmp, path)


# -- file objects ----------------------------------------------------------------------------


def filez_path(objects_root: Path, hexid: str) -> Path:
    return objects_root / hexid[:2] / (hexid[2:] + FILEZ)


_META = struct.Struct(">IIIQH")  # mode, uid, gid, size, number of xattrs
_XATTR = struct.Struct(">HI")  # name length, value length


def _encode_meta(meta: FileMeta, size: int) -> bytes:
    out = [_META.pack(meta.mode, meta.uid, meta.gid, size, len(meta.xattrs))]
    for name, value in meta.xattrs:
        raw = name.encode("utf-8", "surrogateescape")
        out += [_XATTR.pack(len(raw), len(value)), raw, value]
    return b"".join(out)


def write_filez(path: Path, meta: FileMeta, size: int, src_fd: int) -> int:
    """Write a file object's metadata and ``size`` bytes of ``src_fd`` (from its current
    offset) as a filez at ``path`` (temp + rename). Returns the compressed size."""
    tmp = path.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name[:10]}"
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=False)
    with open(tmp, "wb") as out:
        with compressor.stream_writer(out, closefd=False) as writer:
            writer.write(_encode_meta(meta, size))
            left = size
            while left > 0 and (chunk := os.read(src_fd, min(CHUNK, left))):
                writer.write(chunk)
                left -= len(chunk)
        written = out.tell()
    os.chmod(tmp, 0o444)
    os.rename(tmp, path)
    return written


class FilezReader:
    """A filez being read: its metadata at once, its content as a stream.

    The metadata blob (the object's git id) is rebuilt from the metadata and the content's
    sha256, so the bytes are verified against the name when :meth:`content` ends
    (ObjectCorrupt otherwise: a caller writes them to a temp file and renames it only once
    the iterator is exhausted). :attr:`header` is the blob, valid after that.
    """

    def __init__(self, source: BinaryIO, oid: bytes, what: str) -> None:
        self.oid = oid
        self.what = what
        self.reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=False)
        self.header = b""
        try:
            mode, uid, gid, self.size, count = _META.unpack(self._read(_META.size))
            if count > 256 or self.size > 1 << 50:
                raise self._corrupt("implausible metadata")
            xattrs = []
            for _ in range(count):
                name_len, value_len = _XATTR.unpack(self._read(_XATTR.size))
                if name_len > 255 or value_len > MAX_HEADER:
                    raise self._corrupt("implausible extended attribute")
                name = self._read(name_len).decode("utf-8", "surrogateescape")
                xattrs.append((name, self._read(value_len)))
        except zstandard.ZstdError as err:
            raise self._corrupt(str(err)) from err
        if stat.S_IFMT(mode) != stat.S_IFREG or tuple(sorted(xattrs)) != tuple(xattrs):
            raise self._corrupt("not a regular file's metadata")
        self.meta = FileMeta(uid, gid, mode, tuple(xattrs))

    def _corrupt(self, why: str) -> ObjectCorrupt:
        return ObjectCorrupt(f"{self.what}: object {self.oid.hex()} is corrupt ({why})")

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.reader.read(size - len(data))
            if not chunk:
                raise ObjectCorrupt(f"{self.what}: object {self.oid.hex()} is truncated")
            data += chunk
        return data

    def content(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        left = self.size
        try:
            while left > 0:
                chunk = self.reader.read(min(CHUNK, left))
                if not chunk:
                    raise ObjectCorrupt(f"{self.what}: object {self.oid.hex()} is truncated")
                left -= len(chunk)
                digest.update(chunk)
                yield chunk
            if self.reader.read(1):
                raise self._corrupt("bytes past its size")
        except zstandard.ZstdError as err:
            raise self._corrupt(str(err)) from err
        header = treemeta.file_header(self.meta, self.size, digest.hexdigest())
        if gitpack.object_id(OBJ_BLOB, header) != self.oid:
            raise ObjectCorrupt(
                f"{self.what}: object {self.oid.hex()} does not match its id (corrupted bytes)"
            )
        self.header = header


class LooseWriter(gitpack.PackWriter):
    """An archive repository's object writer: each git object becomes a loose file, so a
    static web server can serve it by id (packs would need a smart server or ranges)."""

    def __init__(self, git_dir: Path, exists: Callable[[bytes], bool]) -> None:
        super().__init__(git_dir / "objects" / "pack", exists)
        self.git_dir = git_dir

    def finish(self, *, fsync: bool = False) -> str | None:
        if not len(self):
            return None
        for oid in list(self._index):
            found = self.get(oid)
            assert found is not None
            write_loose(self.git_dir, oid, found[0], found[1])
        self.discard()
        return "loose"
