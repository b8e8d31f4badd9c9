"""The store: a content-addressed repository of file trees on git objects.

Like libostree's ``ostree-repo-*`` files, these modules know nothing of deployments: objects and
packs (:mod:`.objects`, :mod:`.gitpack`), refs and commits, tree metadata, reading, editing and
diffing trees, checkouts, fsck and prune. :class:`Store` (:mod:`.repo`) is the facade; its names
are re-exported here and loaded on first use, so importing a light submodule (the on-disk formats)
does not load pygit2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.store.repo import (
        CommitInfo,
        DiffEntry,
        DiffKind,
        Entry,
        EntryKind,
        FileMeta,
        PruneStats,
        Store,
        TreeEditor,
    )

__all__ = [
    "CommitInfo",
    "DiffEntry",
    "DiffKind",
    "Entry",
    "EntryKind",
    "FileMeta",
    "PruneStats",
    "Store",
    "TreeEditor",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from core.store import repo  # noqa: PLC0415 - loaded on first use (pygit2)

        return getattr(repo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
