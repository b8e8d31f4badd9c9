"""Git objects written straight into a packfile, ids computed here.

Committing a 100k-file tree makes 100k small metadata blobs and thousands of trees.
As loose objects each would be its own file (plus a zlib stream and a rename); one pack
per batch is a single sequential write that libgit2 reads as fast. The pack format is
git's (v2, no deltas) and the index is git's idx v2, so any git tool reads the store.
A pack becomes visible only when its ``.idx`` is renamed into place, after the ``.pack``:
a crash leaves an ignorable stray ``.pack``, never an index pointing at nothing.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from core import atomic

OBJ_COMMIT = 1
OBJ_TREE = 2
OBJ_BLOB = 3
OBJ_TAG = 4
TYPE_NAMES = {OBJ_COMMIT: b"commit", OBJ_TREE: b"tree", OBJ_BLOB: b"blob", OBJ_TAG: b"tag"}
IDX_MAGIC = b"\377tOc"


def object_id(obj_type: int, data: bytes) -> bytes:
    """The 20-byte git id of an object (sha1 over ``"<type> <len>\\0" + data``)."""
    digest = hashlib.sha1(TYPE_NAMES[obj_type] + b" %d\0" % len(data))
    digest.update(data)
    return digest.digest()


def _tree_sort_key(item: tuple[int, bytes, bytes]) -> bytes:
    mode, name, _ = item
    return name + b"/" if mode == 0o040000 else name


def encode_tree(entries: Iterable[tuple[int, bytes, bytes]]) -> bytes:
    """Serialize (git mode, name, 20-byte id) triples in git's canonical order."""
    return b"".join(
        b"%o %s\0%s" % (mode, name, oid) for mode, name, oid in sorted(entries, key=_tree_sort_key)
    )


def decode_tree(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        yield int(data[pos:space], 8), data[space + 1 : nul], data[nul + 1 : nul + 21]
        pos = nul + 21


def _entry_header(obj_type: int, size: int) -> bytes:
    out = bytearray()
    byte = (obj_type << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


class PackWriter:
    """Collects new objects in memory and writes them as one pack + idx on :meth:`finish`.

    ``exists`` tells whether the repository already has an id (then nothing is added), so
    re-committing unchanged trees writes nothing at all.
    """

    def __init__(self, pack_dir: Path, exists: Callable[[bytes], bool]) -> None:
        self.pack_dir = pack_dir
        self._exists = exists
        self._chunks: list[bytes] = []
        self._index: dict[bytes, tuple[int, int]] = {}  # id -> (offset, crc32)
        self._chunk_of: dict[bytes, int] = {}  # id -> position in _chunks
        self._offset = 12
        self._compressor_level = 1

    def __len__(self) -> int:
        return len(self._index)

    def has(self, oid: bytes) -> bool:
        return oid in self._index or self._exists(oid)

    def pending(self, oid: bytes) -> bool:
        return oid in self._index

    def add(self, obj_type: int, data: bytes, oid: bytes | None = None) -> bytes:
        """Add an object unless present; return its 20-byte id."""
        if oid is None:
            oid = object_id(obj_type, data)
        if oid in self._index or self._exists(oid):
            return oid
        self.add_new(obj_type, data, oid)
        return oid

    def add_new(self, obj_type: int, data: bytes, oid: bytes) -> None:
        """Add an object the caller knows to be absent (no existence check)."""
        if oid in self._index:
            return
        chunk = _entry_header(obj_type, len(data)) + zlib.compress(data, self._compressor_level)
        self._chunk_of[oid] = len(self._chunks)
        self._chunks.append(chunk)
        self._index[oid] = (self._offset, zlib.crc32(chunk))
        self._offset += len(chunk)

    def get(self, oid: bytes) -> tuple[int, bytes] | None:
        """Read back a pending object (type, data); None if it is not pending."""
        position = self._chunk_of.get(oid)
        if position is None:
            return None
        chunk = self._chunks[position]
        byte = chunk[0]
        obj_type = (byte >> 4) & 7
        i = 1
        while byte & 0x80:
            byte = chunk[i]
            i += 1
        return obj_type, zlib.decompress(chunk[i:])

    def discard(self) -> None:
        self._chunks.clear()
        self._index.clear()
        self._chunk_of.clear()
        self._offset = 12

    def finish(self, *, fsync: bool = False) -> str | None:
        """Write the pack and its index into ``pack_dir``; return the pack name or None."""
        if not self._index:
            return None
        count = len(self._index)
        header = b"PACK" + struct.pack(">II", 2, count)
        digest = hashlib.sha1(header)
        for chunk in self._chunks:
            digest.update(chunk)
        pack_sum = digest.digest()
        name = f"pack-{pack_sum.hex()}"
        self.pack_dir.mkdir(parents=True, exist_ok=True)
        with atomic.open_atomic(self.pack_dir / f"{name}.pack", mode=0o444, fsync=fsync) as out:
            out.write(header)
            for chunk in self._chunks:
                out.write(chunk)
            out.write(pack_sum)
        idx = _encode_idx(self._index, pack_sum)
        atomic.write_bytes(self.pack_dir / f"{name}.idx", idx, mode=0o444, fsync=fsync)
        self.discard()
        return name


def _encode_idx(index: dict[bytes, tuple[int, int]], pack_sum: bytes) -> bytes:
    ids = sorted(index)
    fanout = [0] * 256
    for oid in ids:
        fanout[oid[0]] += 1
    running = 0
    for i in range(256):
        running += fanout[i]
        fanout[i] = running
    small: list[int] = []
    large: list[int] = []
    for oid in ids:
        offset = index[oid][0]
        if offset < 0x80000000:
            small.append(offset)
        else:
            small.append(0x80000000 | len(large))
            large.append(offset)
    parts = [
        IDX_MAGIC,
        struct.pack(">I", 2),
        struct.pack(">256I", *fanout),
        b"".join(ids),
        struct.pack(f">{len(ids)}I", *(index[oid][1] for oid in ids)),
        struct.pack(f">{len(small)}I", *small),
        struct.pack(f">{len(large)}Q", *large),
        pack_sum,
    ]
    body = b"".join(parts)
    return body + hashlib.sha1(body).digest()


def idx_object_ids(idx_path: Path) -> list[bytes]:
    """Every object id listed in a v2 pack index."""
    data = idx_path.read_bytes()
    if data[:4] != IDX_MAGIC or struct.unpack(">I", data[4:8])[0] != 2:
        raise ValueError(f"{idx_path}: not a version 2 pack index")
    count = struct.unpack(">I", data[8 + 255 * 4 : 8 + 256 * 4])[0]
    start = 8 + 256 * 4
    return [data[start + 20 * i : start + 20 * (i + 1)] for i in range(count)]


def loose_object_ids(objects_dir: Path) -> Iterator[tuple[bytes, Path]]:
    """Loose objects in a git ``objects`` directory (written by other tools or old versions)."""
    try:
        fans = os.listdir(objects_dir)
    except FileNotFoundError:
        return
    for fan in fans:
        if len(fan) != 2:
            continue
        for rest in os.listdir(objects_dir / fan):
            if len(rest) == 38:
                try:
                    yield bytes.fromhex(fan + rest), objects_dir / fan / rest
                except ValueError:
                    continue
