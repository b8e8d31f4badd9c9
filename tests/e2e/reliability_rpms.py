"""Hostile RPMs for the bad-input matrix, made from well-formed fixture RPMs.

rpmbuild refuses to write ``../`` paths, absolute payload names or a file below one of
its own symlinks, so these are crafted: a fixture RPM is taken apart (lead, signature
header, header, gzip payload), a name is replaced by another of the *same length* in the
header's string data and in the cpio payload, and every digest rpm checks is recomputed
in place (payload digests in the header; SHA-1, SHA-256, MD5 and sizes in the signature
header). The result verifies with ``rpmkeys -K`` like a package fresh from a build
system: only its content is hostile. Truncated and bit-flipped copies test the other way
round (digests that do *not* match).
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LEAD_SIZE = 96
_SIG_SHA1, _SIG_SHA256, _SIG_SIZE, _SIG_MD5, _SIG_PAYLOADSIZE = 269, 273, 1000, 1004, 1007
_PAYLOADDIGEST, _PAYLOADDIGESTALT = 5092, 5097


@dataclass(frozen=True)
class _Header:
    start: int  # offset of the header magic in the file
    entries: dict[int, tuple[int, int, int]]  # tag -> (type, offset in store, count)
    store: int  # offset of the data store in the file
    end: int  # first byte after the header (before any padding)


def _parse(data: bytes, start: int) -> _Header:
    count, size = struct.unpack(">II", data[start + 8 : start + 16])
    entries = {}
    for i in range(count):
        tag, kind, offset, n = struct.unpack(
            ">iiii", data[start + 16 + 16 * i : start + 32 + 16 * i]
        )
        entries[tag] = (kind, offset, n)
    store = start + 16 + 16 * count
    return _Header(start, entries, store, store + size)


@dataclass(frozen=True)
class RpmParts:
    data: bytes
    sig: _Header
    hdr: _Header

    @classmethod
    def read(cls, path: Path) -> RpmParts:
        data = path.read_bytes()
        sig = _parse(data, LEAD_SIZE)
        hdr_start = sig.end + (-sig.end % 8)
        return cls(data, sig, _parse(data, hdr_start))

    @property
    def header(self) -> bytes:
        return self.data[self.hdr.start : self.hdr.end]

    @property
    def payload(self) -> bytes:
        return self.data[self.hdr.end :]


def _put(buf: bytearray, header: _Header, tag: int, value: bytes) -> None:
    """Overwrite tag's data in place (same length) in ``buf`` (which starts at the file start)."""
    kind, offset, _count = header.entries[tag]
    at = header.store + offset
    if kind in (6, 8):  # string, string array: the first string, NUL-terminated
        old_len = buf.index(b"\0", at) - at
        if len(value) != old_len:
            raise ValueError(f"tag {tag}: {len(value)} bytes do not fit in {old_len}")
    buf[at : at + len(value)] = value


def craft(
    src: Path,
    dest: Path,
    *,
    header: Sequence[tuple[bytes, bytes]] = (),
    payload: Sequence[tuple[bytes, bytes]] = (),
) -> Path:
    """Copy ``src`` with each (old, new) replaced in the header's data / the cpio payload."""
    parts = RpmParts.read(src)
    head = bytearray(parts.data[: parts.hdr.end])
    archive = gzip.decompress(parts.payload)
    store = parts.hdr.store
    for old, new in (*header, *payload):
        if len(old) != len(new):
            raise ValueError(f"{old!r} and {new!r} differ in length")
    for old, new in header:
        if old not in head[store:]:
            raise ValueError(f"{old!r} is not in the header")
        head[store:] = head[store:].replace(old, new)
    for old, new in payload:
        if old not in archive:
            raise ValueError(f"{old!r} is not in the payload")
        archive = archive.replace(old, new)
    compressed = gzip.compress(archive, compresslevel=9, mtime=0)
    _put(head, parts.hdr, _PAYLOADDIGEST, hashlib.sha256(compressed).hexdigest().encode())
    if _PAYLOADDIGESTALT in parts.hdr.entries:
        _put(head, parts.hdr, _PAYLOADDIGESTALT, hashlib.sha256(archive).hexdigest().encode())
    new_header = bytes(head[parts.hdr.start :])
    sig = parts.sig
    _put(head, sig, _SIG_SHA1, hashlib.sha1(new_header).hexdigest().encode())
    _put(head, sig, _SIG_SHA256, hashlib.sha256(new_header).hexdigest().encode())
    _put(head, sig, _SIG_MD5, hashlib.md5(new_header + compressed).digest())
    _put(head, sig, _SIG_SIZE, struct.pack(">I", len(new_header) + len(compressed)))
    if _SIG_PAYLOADSIZE in sig.entries:
        _put(head, sig, _SIG_PAYLOADSIZE, struct.pack(">I", len(archive)))
    dest.write_bytes(bytes(head) + compressed)
    return dest


def truncated(src: Path, dest: Path) -> Path:
    """The first part of the payload only, as an interrupted copy leaves it."""
    parts = RpmParts.read(src)
    dest.write_bytes(parts.data[: parts.hdr.end + len(parts.payload) // 2])
    return dest


def flip_payload_byte(src: Path, dest: Path) -> Path:
    """One bit of the compressed payload flipped: the payload digest no longer matches."""
    data = bytearray(src.read_bytes())
    parts = RpmParts.read(src)
    data[parts.hdr.end + len(parts.payload) // 2] ^= 0x01
    dest.write_bytes(bytes(data))
    return dest


def flip_header_byte(src: Path, dest: Path) -> Path:
    """One bit of the header's data (its summary text) flipped: header digests fail."""
    data = bytearray(src.read_bytes())
    parts = RpmParts.read(src)
    data[parts.hdr.store + 4] ^= 0x01
    dest.write_bytes(bytes(data))
    return dest
