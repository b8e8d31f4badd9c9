"""The values the store hands across module boundaries: frozen dataclasses and StrEnums.

They live apart from ``core.store.repo`` so the store's helper modules (tree editing, checkout,
fsck) can share them without importing the facade; ``core.store.repo`` re-exports all of them.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class EntryKind(StrEnum):
    FILE = "file"
    SYMLINK = "symlink"
    DIR = "dir"


class DiffKind(StrEnum):
    ADDED = "A"
    MODIFIED = "M"
    DELETED = "D"


@dataclass(frozen=True)
class FileMeta:
    """What git alone drops: numeric owner, the full st_mode (type bits too), xattrs."""

    uid: int
    gid: int
    mode: int
    xattrs: tuple[tuple[str, bytes], ...] = ()  # sorted by name

    @property
    def kind(self) -> EntryKind:
        if stat.S_ISDIR(self.mode):
            return EntryKind.DIR
        if stat.S_ISLNK(self.mode):
            return EntryKind.SYMLINK
        return EntryKind.FILE

    @classmethod
    def directory(cls, mode: int = 0o755, uid: int = 0, gid: int = 0) -> FileMeta:
        """Convenience for tree surgery: a directory owned by root unless told otherwise."""
        return cls(uid, gid, stat.S_IFDIR | (mode & 0o7777))

    @classmethod
    def regular(cls, mode: int = 0o644, uid: int = 0, gid: int = 0) -> FileMeta:
        return cls(uid, gid, stat.S_IFREG | (mode & 0o7777))

    @classmethod
    def symlink(cls, uid: int = 0, gid: int = 0) -> FileMeta:
        return cls(uid, gid, stat.S_IFLNK | 0o777)


@dataclass(frozen=True)
class CommitInfo:
    id: str
    tree: str
    parents: tuple[str, ...]
    subject: str
    timestamp: int
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """One path of a tree, as ``ls`` and ``walk`` report it."""

    path: str  # relative, no leading "/", "" for the root
    kind: EntryKind
    meta: FileMeta
    size: int
    target: str | None
    object_id: str  # file/symlink: the metadata blob id (= file object name); dir: tree id


@dataclass(frozen=True)
class DiffEntry:
    kind: DiffKind
    path: str


@dataclass(frozen=True)
class PruneStats:
    git_objects_removed: int = 0
    file_objects_removed: int = 0
    bytes_freed: int = 0
