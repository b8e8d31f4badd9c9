"""Verifying the store: every object any ref reaches, git objects and file objects alike.

Problems are collected, never raised, one line each naming the bad object and where it
was reached from, so an administrator sees the whole damage at once.
"""

from __future__ import annotations

import hashlib
import os
import stat

import pygit2

from core.errors import StoreError
from core.store import archive, gitpack, refs, treemeta
from core.store.gitpack import OBJ_BLOB, OBJ_COMMIT, OBJ_TREE
from core.store.objects import CHUNK, read_xattrs
from core.store.parts import StoreParts
from core.store.reach import DIRMETA, walk_reachable
from core.store.repoconfig import RepoMode
from core.store.types import EntryKind


def fsck(parts: StoreParts) -> list[str]:
    problems: list[str] = []
    roots: list[bytes] = []
    for name, target in _refs(parts, problems):
        oid = bytes.fromhex(target)
        obj_type = parts.reader.object_type(oid)
        if obj_type is None:
            problems.append(f"ref {name}: points to missing commit {target}")
        elif obj_type != OBJ_COMMIT:
            problems.append(f"ref {name}: points to {target}, which is not a commit")
        else:
            roots.append(oid)
    headers: dict[bytes, treemeta.Header] = {}

    def visit(oid: bytes, obj_type: int, data: bytes | None, where: str) -> None:
        if data is None:
            return
        if gitpack.object_id(obj_type, data) != oid:
            problems.append(f"{oid.hex()}: git object content does not match its id ({where})")
            return
        if obj_type == OBJ_BLOB:
            try:
                headers[oid] = treemeta.decode(data, f"metadata blob {oid.hex()} ({where})")
            except StoreError as err:
                problems.append(str(err).splitlines()[0])
        elif obj_type == OBJ_TREE and DIRMETA not in {n for _, n, _ in gitpack.decode_tree(data)}:
            problems.append(f"{oid.hex()}: tree has no directory metadata ({where})")

    found = walk_reachable(parts.reader, roots, visit)
    problems.extend(found.problems)
    for oid, path in sorted(found.files.items()):
        header = headers.get(oid)
        if header is None:
            continue
        if parts.mode is RepoMode.ARCHIVE:
            if header.kind is EntryKind.FILE:
                problems.extend(_check_filez(parts, oid, path))
        elif header.kind is EntryKind.SYMLINK:
            problems.extend(_check_symlink_object(parts, oid.hex(), header, path))
        elif header.kind is EntryKind.FILE:
            problems.extend(_check_file_object(parts, oid.hex(), header, path))
        else:
            problems.append(f"{oid.hex()}: metadata blob at {path} describes a directory")
    return problems


def _refs(parts: StoreParts, problems: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, full in _ref_files(parts):
        try:
            with open(full, "rb") as handle:
                target = handle.read().decode().strip()
            bytes.fromhex(target)
            if len(target) != 40:
                raise ValueError
        except (OSError, ValueError, UnicodeDecodeError):
            problems.append(f"ref {name}: unreadable or not a commit id")
            continue
        out.append((name, target))
    try:
        for name, target in refs.list_refs(parts.reader.repo).items():
            if (name, target) not in out and not refs.ref_path(parts.git_dir, name).exists():
                out.append((name, target))  # packed refs written by other git tools
    except pygit2.GitError as err:
        problems.append(f"refs: {err}")
    return sorted(out)


def _ref_files(parts: StoreParts) -> list[tuple[str, str]]:
    """(ref name, file) of every loose ref: local ones and remotes' (``REMOTE:REF``)."""
    found = []
    heads = parts.git_dir / "refs" / "heads"
    for dirpath, _dirs, files in os.walk(heads):
        for filename in files:
            full = os.path.join(dirpath, filename)
            found.append((os.path.relpath(full, heads), full))
    remotes = parts.git_dir / "refs" / "remotes"
    for dirpath, _dirs, files in os.walk(remotes):
        for filename in files:
            full = os.path.join(dirpath, filename)
            remote, _, ref = os.path.relpath(full, remotes).partition("/")
            found.append((f"{remote}:{ref}", full))
    return found


def _check_filez(parts: StoreParts, oid: bytes, path: str) -> list[str]:
    where = f"file object {oid.hex()} ({path})"
    filez = archive.filez_path(parts.objects.root, oid.hex())
    try:
        with open(filez, "rb") as source:
            for _chunk in archive.FilezReader(source, oid, where).content():
                pass
    except FileNotFoundError:
        return [f"{where}: missing from objects/"]
    except OSError as err:
        return [f"{where}: cannot read: {err.strerror}"]
    except StoreError as err:
        return [str(err).splitlines()[0]]
    return []


def _check_file_object(
    parts: StoreParts, hexid: str, header: treemeta.Header, path: str
) -> list[str]:
    where = f"file object {hexid} ({path})"
    try:
        fd = parts.objects.open_object(hexid)
    except StoreError:
        return [f"{where}: missing from objects/"]
    except OSError as err:
        return [f"{where}: cannot open: {err.strerror}"]
    problems = []
    try:
        st = os.fstat(fd)
        meta = header.meta
        if not stat.S_ISREG(st.st_mode):
            return [f"{where}: not a regular file"]
        if (st.st_uid, st.st_gid, st.st_mode) != (meta.uid, meta.gid, meta.mode):
            problems.append(
                f"{where}: metadata differs from its header: uid/gid/mode "
                f"{st.st_uid}/{st.st_gid}/{st.st_mode:o}, expected "
                f"{meta.uid}/{meta.gid}/{meta.mode:o}"
            )
        if read_xattrs(fd) != meta.xattrs:
            problems.append(f"{where}: extended attributes differ from its header")
        digest = hashlib.sha256()
        size = 0
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if size != header.size or digest.hexdigest() != header.sha256:
            problems.append(f"{where}: content does not match its sha256 (corrupted bytes)")
    finally:
        os.close(fd)
    return problems


def _check_symlink_object(
    parts: StoreParts, hexid: str, header: treemeta.Header, path: str
) -> list[str]:
    where = f"symlink object {hexid} ({path})"
    spath = parts.objects.spath(hexid)
    try:
        st = os.lstat(spath)
    except FileNotFoundError:
        return [f"{where}: missing from objects/"]
    if not stat.S_ISLNK(st.st_mode):
        return [f"{where}: not a symlink"]
    problems = []
    meta = header.meta
    if os.readlink(spath) != header.target:
        problems.append(f"{where}: target differs from its header")
    if (st.st_uid, st.st_gid) != (meta.uid, meta.gid):
        problems.append(f"{where}: owner differs from its header")
    if read_xattrs(spath) != meta.xattrs:
        problems.append(f"{where}: extended attributes differ from its header")
    return problems
