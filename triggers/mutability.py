"""How the sandbox exposes the tree to the commands it runs.

A tree checked out from the store is made of hardlinks to store objects: a
script that opened one of them for writing would silently corrupt every
deployment sharing it. The choice is therefore explicit, never implied.
"""

from __future__ import annotations

from enum import StrEnum


class Mutability(StrEnum):
    """How writable the sandbox root is."""

    IMMUTABLE = "immutable"
    """Read-only: a sanity check or a query; nothing may change."""

    OVERLAY = "overlay"
    """Writable through overlayfs: writes (copy-ups, new files, whiteouts) land in an
    upper directory, the lower trees are never opened for writing. The mode for
    scriptlets run on a tree made of store hardlinks."""

    MUTABLE = "mutable"
    """Bound read-write: only for a private tree that shares no inode with the store."""
