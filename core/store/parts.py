"""The parts of one open store that its helper modules work with.

Tree editing, checkout, fsck and maintenance take these, never the :class:`Store`
facade: a helper sees exactly what it may use, and no helper imports the facade that
imports it (the module graph has no cycle). The facade builds one per store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.store.devino import DevInoCache
from core.store.gitpack import PackWriter
from core.store.objects import FileObjects
from core.store.repoconfig import RepoMode
from core.store.treeread import ObjectReader


@dataclass(frozen=True)
class StoreParts:
    path: Path  # the store's directory
    git_dir: Path
    objects: FileObjects  # file objects carrying real owners, modes and xattrs
    writer: PackWriter  # git objects pending until the next flush
    reader: ObjectReader  # reads pending objects too
    devino: Callable[[], DevInoCache]  # opened on first use; a failed import drops it
    flush: Callable[[], None]  # pending git objects -> a pack (deferred inside a batch)
    mode: RepoMode = RepoMode.BARE  # archive: loose git objects, .filez file objects
