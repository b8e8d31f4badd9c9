"""The ``archive`` repository format: every object a static file named by its id.

An archive repository is meant to be served as is by any web server or CDN (libostree's
``archive`` mode). Its git objects are *loose* (``git/objects/XX/REST``, git's own zlib
format, the layout git's dumb HTTP transport reads), and each regular file's bytes are a
``.filez`` object beside the metadata blob's name::

    objects/XX/REST.filez   zstd frame of: u32 header length (big endian), header, content

The header inside is the file's metadata blob (:mod:`core.store.treemeta`), so one
download gives a client both what to verify the bytes against and the object's name: the
blob's git id must equal the name, and the content's sha256 the header's. Symlinks have no
``.filez``; their metadata blob is the whole object. Everything read from a filez or a loose
object is checked against its id before anyone uses it, and the size a header announces
bounds what is decompressed (no decompression bomb gets further than that).
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from core.errors import StoreError
from core.store import gitpack, treemeta
from core.store.gitpack import OBJ_BLOB, TYPE_NAMES
from core.store.treemeta import Header
from core.store.types import EntryKind

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


def write_filez(path: Path, header: bytes, src_fd: int) -> int:
    """Write ``header`` + the rest of ``src_fd`` as a filez at ``path`` (temp + rename).

    Returns the compressed size."""
    tmp = path.parent / f".tmp-{os.getpid()}-{path.name[:10]}"
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    with open(tmp, "wb") as out:
        with compressor.stream_writer(out, closefd=False) as writer:
            writer.write(struct.pack(">I", len(header)) + header)
            while chunk := os.read(src_fd, CHUNK):
                writer.write(chunk)
        size = out.tell()
    os.chmod(tmp, 0o444)
    os.rename(tmp, path)
    return size


def read_filez(source: BinaryIO, oid: bytes, what: str) -> tuple[Header, Iterator[bytes]]:
    """Open a filez stream: its verified header, and an iterator over its content.

    The header's git id must be ``oid``; the content is cut at the header's size and its
    sha256 is checked when the iterator ends (ObjectCorrupt on any mismatch, so a caller
    writes the bytes to a temp file and renames it only once the iterator is exhausted).
    """
    reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=False)
    try:
        prefix = _read_exact(reader, 4, what, oid)
        (length,) = struct.unpack(">I", prefix)
        if length > MAX_HEADER:
            raise ObjectCorrupt(f"{what}: object {oid.hex()} has an oversized header")
        raw_header = _read_exact(reader, length, what, oid)
    except zstandard.ZstdError as err:
        raise ObjectCorrupt(f"{what}: object {oid.hex()} is corrupt ({err})") from err
    if gitpack.object_id(OBJ_BLOB, raw_header) != oid:
        raise ObjectCorrupt(f"{what}: object {oid.hex()} does not match its id")
    header = treemeta.decode(raw_header, f"{what}: header of {oid.hex()}")
    if header.kind is not EntryKind.FILE:
        raise ObjectCorrupt(f"{what}: object {oid.hex()} is not a regular file")
    return header, _content(reader, header, oid, what)


def _read_exact(reader: io.RawIOBase | BinaryIO, size: int, what: str, oid: bytes) -> bytes:
    data = b""
    while len(data) < size:
        chunk = reader.read(size - len(data))
        if not chunk:
            raise ObjectCorrupt(f"{what}: object {oid.hex()} is truncated")
        data += chunk
    return data


def _content(reader: BinaryIO, header: Header, oid: bytes, what: str) -> Iterator[bytes]:
    digest = hashlib.sha256()
    left = header.size
    try:
        while left > 0:
            chunk = reader.read(min(CHUNK, left))
            if not chunk:
                raise ObjectCorrupt(f"{what}: object {oid.hex()} is truncated")
            left -= len(chunk)
            digest.update(chunk)
            yield chunk
        if reader.read(1):
            raise ObjectCorrupt(f"{what}: object {oid.hex()} has bytes past its size")
    except zstandard.ZstdError as err:
        raise ObjectCorrupt(f"{what}: object {oid.hex()} is corrupt ({err})") from err
    if digest.hexdigest() != header.sha256:
        raise ObjectCorrupt(f"{what}: object {oid.hex()} content does not match its sha256")


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
