"""Reachability: every git object and file object a set of roots (commits or trees) needs.

Shared by ``prune`` (what to keep) and ``fsck`` (what to verify). Each object is visited
once; a visitor callback sees every object's raw bytes so fsck can verify as it goes
without a second read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.errors import StoreError
from core.store import commits, gitpack
from core.store.gitpack import OBJ_BLOB, OBJ_COMMIT, OBJ_TREE
from core.store.treemeta import DIRMETA_NAME, GIT_FILE, GIT_LINK, GIT_TREE
from core.store.treeread import ObjectReader

DIRMETA = DIRMETA_NAME.encode()
PARENT = "parent of "
# (object id, git type, raw data or None when unreadable, a path or context for messages)
Visitor = Callable[[bytes, int, bytes | None, str], None]


@dataclass
class Reachable:
    git: set[bytes] = field(default_factory=set)
    files: dict[bytes, str] = field(default_factory=dict)  # file/symlink object -> a path
    problems: list[str] = field(default_factory=list)


def _read(reader: ObjectReader, oid: bytes, expect: int) -> tuple[int, bytes] | None:
    try:
        obj_type, data = reader.repo.odb.read(oid.hex())
    except Exception:  # noqa: BLE001 - libgit2 reports corruption with several error types
        return None
    return int(obj_type), data


def walk_reachable(
    reader: ObjectReader, roots: Iterable[bytes], visit: Visitor | None = None
) -> Reachable:
    out = Reachable()
    stack: list[tuple[bytes, int, str]] = [(root, 0, root.hex()) for root in roots]
    type_names = {OBJ_COMMIT: "commit", OBJ_TREE: "tree", OBJ_BLOB: "blob", 0: "object"}
    while stack:
        oid, expect, where = stack.pop()
        if oid in out.git:
            continue
        out.git.add(oid)
        found = _read(reader, oid, expect)
        if found is None and where.startswith(PARENT):
            continue  # shallow history (a pull copies one commit, as ostree's depth 0)
        if found is None:
            out.problems.append(
                f"{oid.hex()}: missing or unreadable git {type_names[expect]} ({where})"
            )
            if visit is not None:
                visit(oid, expect, None, where)
            continue
        obj_type, data = found
        if expect and obj_type != expect:
            out.problems.append(
                f"{oid.hex()}: expected a git {type_names[expect]}, found a "
                f"{type_names.get(obj_type, 'object')} ({where})"
            )
            continue
        if visit is not None:
            visit(oid, obj_type, data, where)
        if obj_type == OBJ_COMMIT:
            _commit_children(oid, data, stack, out)
        elif obj_type == OBJ_TREE:
            _tree_children(oid, data, where, stack, out)
    return out


def _commit_children(
    oid: bytes, data: bytes, stack: list[tuple[bytes, int, str]], out: Reachable
) -> None:
    try:
        info = commits.decode_commit(oid.hex(), data)
    except StoreError as err:
        out.problems.append(f"{oid.hex()}: {err}")
        return
    stack.append((bytes.fromhex(info.tree), OBJ_TREE, f"tree of commit {oid.hex()}"))
    for parent in info.parents:
        stack.append((bytes.fromhex(parent), OBJ_COMMIT, f"{PARENT}{oid.hex()}"))


def _tree_children(
    oid: bytes, data: bytes, where: str, stack: list[tuple[bytes, int, str]], out: Reachable
) -> None:
    prefix = where if where.startswith("/") else "/"
    try:
        entries = list(gitpack.decode_tree(data))
    except ValueError:
        out.problems.append(f"{oid.hex()}: malformed git tree ({where})")
        return
    for mode, name, child in entries:
        path = prefix.rstrip("/") + "/" + os.fsdecode(name)
        if mode == GIT_TREE:
            stack.append((child, OBJ_TREE, path))
        elif mode in (GIT_FILE, GIT_LINK):
            stack.append((child, OBJ_BLOB, path))
            if name != DIRMETA:
                out.files.setdefault(child, path)
        else:
            out.problems.append(f"{oid.hex()}: unexpected entry mode {mode:o} ({path})")
