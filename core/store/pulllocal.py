"""``pull-local``: copy commits between two local stores of any mode.

The publishing path (libostree's ``pull-local``): compose into a ``bare`` store, copy the
commit into an ``archive`` store that a web server serves. Only what the destination lacks
is copied. File objects go first, git objects last, children before parents (one pack, or
loose objects in that order), then the ref: a tree present in a store is always complete,
which is what lets this copy and a network pull skip a whole subtree they already have.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from core.errors import StoreError
from core.progress import Progress
from core.store import archive, commits, gitpack, signing, treemeta
from core.store.gitpack import OBJ_BLOB, OBJ_COMMIT, OBJ_TREE
from core.store.repoconfig import RepoMode
from core.store.treemeta import GIT_FILE, GIT_LINK, GIT_TREE

if TYPE_CHECKING:
    from core.store.repo import Store

WORKERS = min(4, os.cpu_count() or 1)
DIRMETA = treemeta.DIRMETA_NAME.encode()


def pull_local(dst: Store, src: Store, names: list[str], progress: Progress) -> dict[str, str]:
    """Copy each ref's commit (and what it reaches, history excluded) from ``src`` into
    ``dst`` and set the same ref there; returns ref -> commit."""
    wanted = {name: src.resolve(name) for name in names}
    for name in wanted:
        if ":" in name:
            raise StoreError(
                f"Cannot pull-local {name!r}: a remote's ref", hint="name a local ref of SRC"
            )
    moved: dict[str, str] = {}
    with dst.batch():
        for name, commit in wanted.items():
            with progress.step(f"Copying {name} ({commit[:12]})"):
                _copy_commit(dst, src, commit)
                dst.set_ref(name, commit)
            moved[name] = commit
    return moved


def _copy_commit(dst: Store, src: Store, commit: str) -> None:
    oid = bytes.fromhex(commit)
    git_objects: list[tuple[bytes, int, bytes]] = []  # post-order: children first
    files: list[tuple[bytes, int, bytes]] = []
    if not dst.reader.exists(oid):
        data = src.reader.read(oid, OBJ_COMMIT)
        tree = bytes.fromhex(commits.decode_commit(commit, data).tree)
        _collect_tree(dst, src=src, tree=tree, out=git_objects, files=files, seen=set())
        git_objects.append((oid, OBJ_COMMIT, data))
    for signature in signing.commit_signatures(src.objects.root, commit):
        signing.add_commit_signature(dst.objects.root, commit, signature)
    with ThreadPoolExecutor(WORKERS) as pool:
        for done in pool.map(lambda item: _copy_file(dst, src, *item), files):
            del done
    for obj_id, obj_type, data in git_objects:
        dst.writer.add_new(obj_type, data, obj_id)
    dst.flush()


def _collect_tree(
    dst: Store,
    *,
    src: Store,
    tree: bytes,
    out: list[tuple[bytes, int, bytes]],
    files: list[tuple[bytes, int, bytes]],
    seen: set[bytes],
) -> None:
    if tree in seen or dst.reader.exists(tree):
        return  # a tree in a store is complete (see the module docstring)
    seen.add(tree)
    data = src.reader.read(tree, OBJ_TREE)
    for mode, name, child in gitpack.decode_tree(data):
        if name != DIRMETA:
            treemeta.check_name(os.fsdecode(name))
        if mode == GIT_TREE:
            _collect_tree(dst, src=src, tree=child, out=out, files=files, seen=seen)
        elif mode in (GIT_FILE, GIT_LINK) and child not in seen and not dst.reader.exists(child):
            seen.add(child)
            blob = src.reader.read(child, OBJ_BLOB)
            if name != DIRMETA:
                files.append((child, mode, blob))
            out.append((child, OBJ_BLOB, blob))
    out.append((tree, OBJ_TREE, data))


def _copy_file(dst: Store, src: Store, oid: bytes, mode: int, blob: bytes) -> None:
    """One file object (its metadata blob already read: pygit2 stays on one thread)."""
    hexid = oid.hex()
    header = treemeta.decode(blob, f"metadata blob {hexid}")
    if mode == GIT_LINK:
        if dst.mode is RepoMode.BARE and not dst.objects.symlink_present(hexid):
            assert header.target is not None
            dst.objects.write_symlink(hexid, header.target, header.meta)
        return
    if src.mode is RepoMode.ARCHIVE:
        path = archive.filez_path(src.objects.root, hexid)
        if dst.mode is RepoMode.ARCHIVE:
            target = archive.filez_path(dst.objects.root, hexid)
            tmp = target.parent / f".tmp-{os.getpid()}-{hexid[2:12]}"
            shutil.copyfile(path, tmp)
            os.rename(tmp, target)
            return
        with open(path, "rb") as source:
            filez = archive.FilezReader(source, oid, str(path))
            dst.objects.write_chunks(hexid, filez.content(), filez.meta)
        return
    fd = src.objects.open_object(hexid)
    try:
        if dst.mode is RepoMode.ARCHIVE:
            path = archive.filez_path(dst.objects.root, hexid)
            archive.write_filez(path, header.meta, header.size, fd)
        else:
            dst.objects.write_copy(hexid, fd, header.size, header.meta)
    finally:
        os.close(fd)
