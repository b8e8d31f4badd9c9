"""The device/inode -> object cache that lets a re-commit skip reading unchanged files.

A key is (st_dev, st_ino); the entry remembers size, mtime, ctime, mode, uid, gid and the
metadata blob id seen when the file was last hashed. Two ways to hit:

* the file's size/mtime/ctime/mode/owner are unchanged since it was hashed (as git's index
  trusts stat data; chmod, chown and setxattr all bump ctime);
* the file *is* a file object (a hardlinked checkout): the entry was recorded from the
  object's own inode (ctime sentinel ``OBJECT``), the file still has more than one link and
  mtime 0, the stamp every object carries, and unchanged size/mode/owner. Linking a
  checkout bumps the inode's ctime, so this case cannot rely on ctime; an in-place edit
  moves mtime, chmod/chown change mode/owner. (An xattr changed in place on a checkout is
  not seen: it changed the object too, and fsck reports that.)

The cache may be dropped at any time (``prune`` does); it only saves work.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from core import atomic

_RECORD = struct.Struct("<QQQqqIII20s")
_MAGIC = b"strata-devino 2\n"
MAX_ENTRIES = 2_000_000  # ~150 MB; beyond it only object entries are kept
OBJECT = -1  # ctime sentinel: the entry describes a file object's inode


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


class DevInoCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[tuple[int, int], tuple[int, int, int, int, int, int, bytes]] = {}
        self._dirty = False
        self.stats = CacheStats()
        self._load()

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if not data.startswith(_MAGIC) or (len(data) - len(_MAGIC)) % _RECORD.size:
            return  # a damaged cache is just an empty cache
        for dev, ino, size, mtime, ctime, mode, uid, gid, oid in _RECORD.iter_unpack(
            data[len(_MAGIC) :]
        ):
            self._entries[(dev, ino)] = (size, mtime, ctime, mode, uid, gid, oid)

    def lookup(self, st: os.stat_result) -> bytes | None:
        """The blob id recorded for this file if it provably did not change, else None."""
        entry = self._entries.get((st.st_dev, st.st_ino))
        if entry is not None:
            size, mtime, ctime, mode, uid, gid, oid = entry
            same = (
                size == st.st_size
                and mtime == st.st_mtime_ns
                and mode == st.st_mode
                and uid == st.st_uid
                and gid == st.st_gid
            )
            if same and ctime == st.st_ctime_ns:
                self.stats.hits += 1
                return oid
            if same and ctime == OBJECT and st.st_nlink > 1:
                # an object's inode (recorded by record_object), seen through a checkout link
                self.stats.hits += 1
                return oid
        self.stats.misses += 1
        return None

    def record(self, st: os.stat_result, oid: bytes) -> None:
        key = (st.st_dev, st.st_ino)
        value = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode, st.st_uid, st.st_gid, oid)
        if self._entries.get(key) != value:
            self._entries[key] = value
            self._dirty = True

    def record_object(self, st: os.stat_result, oid: bytes) -> None:
        """Remember a file object's own inode: any hardlink to it is that object while its
        mtime stays 0 (the object stamp) and its mode/owner/size are unchanged."""
        if st.st_mtime_ns != 0:
            return
        key = (st.st_dev, st.st_ino)
        value = (st.st_size, 0, OBJECT, st.st_mode, st.st_uid, st.st_gid, oid)
        if self._entries.get(key) != value:
            self._entries[key] = value
            self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        if len(self._entries) > MAX_ENTRIES:
            # sources of past commits (unpacked packages, temp trees) are the first to go;
            # object inodes are what re-committing checkouts needs
            self._entries = {k: v for k, v in self._entries.items() if v[2] == OBJECT}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = b"".join(
            _RECORD.pack(dev, ino, *value) for (dev, ino), value in self._entries.items()
        )
        atomic.write_bytes(self.path, _MAGIC + body, mode=0o600, fsync=False)
        self._dirty = False

    def retain(self, keep: set[bytes]) -> None:
        """Forget every entry whose object is not in ``keep`` (after a prune)."""
        before = len(self._entries)
        self._entries = {k: v for k, v in self._entries.items() if v[6] in keep}
        if len(self._entries) != before:
            self._dirty = True

    def clear(self) -> None:
        self._entries.clear()
        self._dirty = False
        self.path.unlink(missing_ok=True)
