"""Clock readings in what scripts write, replaced by SOURCE_DATE_EPOCH: a data table.

Scripts run with ``SOURCE_DATE_EPOCH`` set, and most generators honour it. Some do
not and write the wall clock into a file format, so the same packages would give a
different tree every time. No sandbox can fix the clock for them: a time namespace
(CLONE_NEWTIME) offsets only CLOCK_MONOTONIC and CLOCK_BOOTTIME, never
CLOCK_REALTIME. So after the scripts, every regular file they wrote is matched by
its leading bytes against ``FORMATS`` (a format, not a path: the same generator may
write anywhere), and a matching file's time fields are rewritten to the epoch.

A normaliser gets the file's bytes and the epoch, and returns the new bytes or None
to leave the file as it is: the content came from a package's script, so anything
it does not fully understand (a truncated file, an unknown password, trailing bytes)
is kept untouched rather than guessed at.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

# Java KeyStore (JKS), as p11-kit's ``extract --format=java-cacerts`` and keytool write it.
JKS_MAGIC = b"\xfe\xed\xfe\xed"
# Java's default keystore password; cacerts is written with it everywhere.
JKS_PASSWORDS = ("changeit",)
_JKS_WHITENER = b"Mighty Aphrodite"  # the fixed salt of the JKS integrity digest
_JKS_PRIVATE_KEY, _JKS_TRUSTED_CERT = 1, 2
_DIGEST_SIZE = 20


@dataclass(frozen=True)
class Format:
    magic: bytes
    generators: str  # who writes it without honouring SOURCE_DATE_EPOCH
    fields: str  # what is rewritten
    normalize: Callable[[bytes, int], bytes | None]


class _Truncated(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes, end: int) -> None:
        self.data, self.pos, self.end = data, 0, end

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > self.end:
            raise _Truncated
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def skip_utf(self) -> None:
        self.take(self.u16())

    def skip_blob(self) -> None:
        self.take(self.u32())


def _jks_digest(password: str, body: bytes) -> bytes:
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(password.encode("utf-16-be"))
    digest.update(_JKS_WHITENER)
    digest.update(body)
    return digest.digest()


def _jks_timestamps(data: bytes) -> list[int] | None:
    """Offsets of every entry's 8-byte creation time, or None if ``data`` is not a
    complete JKS keystore (version 1 or 2) followed by exactly its digest."""
    reader = _Reader(data, len(data) - _DIGEST_SIZE)
    try:
        if reader.take(4) != JKS_MAGIC:
            return None
        version = reader.u32()
        if version not in (1, 2):
            return None
        offsets = []
        for _ in range(reader.u32()):
            tag = reader.u32()
            reader.skip_utf()  # alias
            offsets.append(reader.pos)
            reader.take(8)
            if tag == _JKS_PRIVATE_KEY:
                reader.skip_blob()  # the protected key
                certificates = reader.u32()
            elif tag == _JKS_TRUSTED_CERT:
                certificates = 1
            else:
                return None
            for _ in range(certificates):
                if version == 2:
                    reader.skip_utf()  # certificate type
                reader.skip_blob()
    except _Truncated:
        return None
    return offsets if reader.pos == reader.end else None


def normalize_jks(data: bytes, epoch: int) -> bytes | None:
    """Every entry's creation time set to ``epoch``, the integrity digest recomputed
    with the password that verified the original (None: not a JKS file we can vouch for)."""
    if len(data) < _DIGEST_SIZE:
        return None
    offsets = _jks_timestamps(data)
    if offsets is None:
        return None
    body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    password = next((p for p in JKS_PASSWORDS if _jks_digest(p, body) == digest), None)
    if password is None:
        return None
    stamp = (epoch * 1000).to_bytes(8, "big")
    out = bytearray(body)
    for offset in offsets:
        out[offset : offset + 8] = stamp
    return bytes(out) + _jks_digest(password, bytes(out))


FORMATS: Mapping[bytes, Format] = MappingProxyType(
    {
        JKS_MAGIC: Format(
            JKS_MAGIC,
            generators="p11-kit extract --format=java-cacerts (update-ca-trust, "
            "ca-certificates' %post), keytool",
            fields="each entry's creation time (milliseconds since 1970)",
            normalize=normalize_jks,
        ),
    }
)
_MAGIC_SIZE = max(len(m) for m in FORMATS)


def normalize_tree(root: Path, epoch: int, formats: Mapping[bytes, Format] = FORMATS) -> list[str]:
    """Rewrite in place every regular file under ``root`` (an overlay upper directory:
    its files are copies the scripts wrote, never links into the store) whose format
    is in ``formats``; return their paths relative to ``root``, sorted."""
    changed = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode) or st.st_size < _MAGIC_SIZE:
                continue
            with path.open("rb") as stream:
                head = stream.read(_MAGIC_SIZE)
            fmt = next((f for m, f in formats.items() if head.startswith(m)), None)
            if fmt is None:
                continue
            data = path.read_bytes()
            new = fmt.normalize(data, epoch)
            if new is None or new == data:
                continue
            with path.open("r+b") as stream:  # in place: mode, owner and xattrs stay
                stream.write(new)
                stream.truncate()
            changed.append(str(path.relative_to(root)))
    return sorted(changed)
