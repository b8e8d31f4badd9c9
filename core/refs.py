"""Refs as loose git ref files, written durably: temp + fsync + rename + fsync dir.

Ref names are git branch names below ``refs/heads/`` (``os/x86_64/base``,
``strata/pkg/<sha256>``); git's own rules decide validity. The caller makes sure the
objects a ref reaches are durable before calling :func:`write_ref`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pygit2

from core import atomic
from core.errors import StoreError

PREFIX = "refs/heads/"


def check_ref_name(name: str) -> None:
    if not name or not pygit2.reference_is_valid_name(PREFIX + name):
        raise StoreError(
            f"Invalid ref name {name!r}",
            hint="use git branch syntax, e.g. 'os/x86_64/base' (no '..', spaces, '~^:?*[')",
        )


def ref_path(git_dir: Path, name: str) -> Path:
    return git_dir / PREFIX / name


def list_refs(repo: pygit2.Repository, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for full in repo.listall_references():
        if not full.startswith(PREFIX):
            continue
        name = full[len(PREFIX) :]
        if not name.startswith(prefix):
            continue
        ref = repo.lookup_reference(full)
        if ref.type == pygit2.enums.ReferenceType.DIRECT:
            out[name] = str(ref.target)
    return dict(sorted(out.items()))


def write_ref(git_dir: Path, name: str, commit: str) -> None:
    check_ref_name(name)
    path = ref_path(git_dir, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise NotADirectoryError
        atomic.write_bytes(path, commit.encode() + b"\n", mode=0o644, fsync=True)
    except (NotADirectoryError, IsADirectoryError, FileExistsError) as err:
        raise StoreError(
            f"Cannot create ref {name!r}: it clashes with an existing ref of that prefix",
            hint="a ref cannot be both 'a' and 'a/b'",
        ) from err


def delete_ref(repo: pygit2.Repository, git_dir: Path, name: str) -> None:
    check_ref_name(name)
    path = ref_path(git_dir, name)
    try:
        os.unlink(path)
    except FileNotFoundError:
        try:
            repo.references.delete(PREFIX + name)
        except (KeyError, pygit2.GitError) as err:
            raise StoreError(f"No such ref {name!r}", hint="list refs with `strata refs`") from err
        return
    atomic.fsync_dir(path.parent)
    parent = path.parent
    heads = git_dir / PREFIX.rstrip("/")
    while parent != heads:
        with contextlib.suppress(OSError):
            parent.rmdir()
        parent = parent.parent
