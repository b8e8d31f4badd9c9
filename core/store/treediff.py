"""Comparing two trees: added, modified (content or metadata) and deleted paths.

Equal subtree ids are skipped without reading them, so diffing a layered commit against
its base costs the size of the change, not of the tree. A path whose kind changed (file
to directory, …) is reported as modified, with the old children deleted and the new
ones added.
"""

from __future__ import annotations

import os

from core.store.treemeta import GIT_TREE
from core.store.treeread import ObjectReader
from core.store.types import DiffEntry, DiffKind


def diff_trees(reader: ObjectReader, a: bytes, b: bytes) -> list[DiffEntry]:
    out: list[DiffEntry] = []
    _diff(reader, a, b, "", out)
    return sorted(out, key=lambda entry: entry.path)


def _join(path: str, name: bytes) -> str:
    return f"{path}/{os.fsdecode(name)}" if path else os.fsdecode(name)


def _diff(reader: ObjectReader, a: bytes, b: bytes, path: str, out: list[DiffEntry]) -> None:
    if a == b:
        return
    meta_a, items_a = reader.tree(a)
    meta_b, items_b = reader.tree(b)
    if meta_a != meta_b:
        out.append(DiffEntry(DiffKind.MODIFIED, path))
    old = {name: (mode, oid) for mode, name, oid in items_a}
    new = {name: (mode, oid) for mode, name, oid in items_b}
    for name in sorted(old.keys() | new.keys()):
        child = _join(path, name)
        if name not in new:
            _all(reader, old[name], child, DiffKind.DELETED, out)
        elif name not in old:
            _all(reader, new[name], child, DiffKind.ADDED, out)
        else:
            (mode_a, oid_a), (mode_b, oid_b) = old[name], new[name]
            if mode_a == GIT_TREE and mode_b == GIT_TREE:
                _diff(reader, oid_a, oid_b, child, out)
            elif mode_a == mode_b:
                if oid_a != oid_b:
                    out.append(DiffEntry(DiffKind.MODIFIED, child))
            else:
                out.append(DiffEntry(DiffKind.MODIFIED, child))
                if mode_a == GIT_TREE:
                    _children(reader, oid_a, child, DiffKind.DELETED, out)
                if mode_b == GIT_TREE:
                    _children(reader, oid_b, child, DiffKind.ADDED, out)


def _all(
    reader: ObjectReader, item: tuple[int, bytes], path: str, kind: DiffKind, out: list[DiffEntry]
) -> None:
    mode, oid = item
    out.append(DiffEntry(kind, path))
    if mode == GIT_TREE:
        _children(reader, oid, path, kind, out)


def _children(
    reader: ObjectReader, tree: bytes, path: str, kind: DiffKind, out: list[DiffEntry]
) -> None:
    _, items = reader.tree(tree)
    for mode, name, oid in items:
        _all(reader, (mode, oid), _join(path, name), kind, out)
