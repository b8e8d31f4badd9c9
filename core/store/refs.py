"""Refs as loose git ref files, written durably: temp + fsync + rename + fsync dir.

Ref names are git branch names below ``refs/heads/`` (``os/x86_64/base``,
``strata/pkg/<sha256>``); git's own rules decide validity. The caller makes sure the
objects a ref reaches are durable before calling :func:`write_ref`; :func:`write_refs`
moves several refs behind one durability point shared with those objects.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pygit2

from core import atomic
from core.errors import StoreError

PREFIX = "refs/heads/"
REMOTES = "refs/remotes/"
_REMOTE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_ref_name(name: str) -> None:
    """A local ref (``os/x86_64/base``) or a remote's (``REMOTE:os/x86_64/base``)."""
    remote, colon, ref = name.rpartition(":") if ":" in name else ("", "", name)
    if colon and _REMOTE.fullmatch(remote) is None:
        ref = ""  # an invalid remote part: refused below
    if not ref or not pygit2.reference_is_valid_name(PREFIX + ref):
        raise StoreError(
            f"Invalid ref name {name!r}",
            hint="use git branch syntax, e.g. 'os/x86_64/base' or 'REMOTE:os/x86_64/base' "
            "(no '..', spaces, '~^?*[')",
        )


def git_name(name: str) -> str:
    """The git reference of a ref: ``refs/heads/REF``, or ``refs/remotes/REMOTE/REF``
    for a remote's ref (where libostree keeps them too)."""
    remote, colon, ref = name.partition(":")
    return f"{REMOTES}{remote}/{ref}" if colon else PREFIX + name


def ref_path(git_dir: Path, name: str) -> Path:
    return git_dir / git_name(name)


def _from_git_name(full: str) -> str | None:
    if full.startswith(PREFIX):
        return full[len(PREFIX) :]
    if full.startswith(REMOTES):
        remote, _, ref = full[len(REMOTES) :].partition("/")
        return f"{remote}:{ref}" if ref else None
    return None


def list_refs(repo: pygit2.Repository, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for full in repo.listall_references():
        name = _from_git_name(full)
        if name is None or not name.startswith(prefix):
            continue
        ref = repo.lookup_reference(full)
        if ref.type == pygit2.enums.ReferenceType.DIRECT:
            out[name] = str(ref.target)
    return dict(sorted(out.items()))


def _prepare(git_dir: Path, name: str) -> Path:
    """The ref's file path, its directory created; StoreError when ``name`` clashes."""
    check_ref_name(name)
    path = ref_path(git_dir, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise NotADirectoryError
    except (NotADirectoryError, FileExistsError) as err:
        raise _clash(name) from err
    return path


def _clash(name: str) -> StoreError:
    return StoreError(
        f"Cannot create ref {name!r}: it clashes with an existing ref of that prefix",
        hint="a ref cannot be both 'a' and 'a/b'",
    )


def write_ref(git_dir: Path, name: str, commit: str) -> None:
    path = _prepare(git_dir, name)
    try:
        atomic.write_bytes(path, commit.encode() + b"\n", mode=0o644, fsync=True)
    except (NotADirectoryError, IsADirectoryError, FileExistsError) as err:
        raise _clash(name) from err


def write_refs(
    git_dir: Path, updates: Mapping[str, str], *, tmp_dir: Path, sync: Callable[[], None]
) -> None:
    """Move every ref of ``updates`` (name -> commit) behind one durability point.

    Each new ref file is written under ``tmp_dir`` (a private directory on the same
    filesystem, which the caller removes), then ``sync`` runs once (the caller's
    ``syncfs``: it makes the refs' contents durable together with the objects the
    caller wrote before), and only then is each file renamed over its ref and each
    directory touched fsynced once. Order: objects and ref contents -> sync -> refs,
    so a crash leaves every ref either as it was or at its new, durable commit. Name
    clashes are found before anything moves.
    """
    staged: list[tuple[Path, Path, str]] = []
    for i, (name, commit) in enumerate(updates.items()):
        path = _prepare(git_dir, name)
        tmp = tmp_dir / f"ref-{i}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)  # not subject to the umask
            os.write(fd, commit.encode() + b"\n")
        finally:
            os.close(fd)
        staged.append((tmp, path, name))
    sync()
    directories: dict[Path, None] = {}
    for tmp, path, name in staged:
        try:
            os.rename(tmp, path)
        except (NotADirectoryError, IsADirectoryError) as err:
            raise _clash(name) from err
        directories[path.parent] = None
    for directory in directories:
        atomic.fsync_dir(directory)


def delete_ref(repo: pygit2.Repository, git_dir: Path, name: str) -> None:
    check_ref_name(name)
    path = ref_path(git_dir, name)
    try:
        os.unlink(path)
    except FileNotFoundError:
        try:
            repo.references.delete(git_name(name))
        except (KeyError, pygit2.GitError) as err:
            raise StoreError(f"No such ref {name!r}", hint="list refs with `strata refs`") from err
        return
    atomic.fsync_dir(path.parent)
    parent = path.parent
    heads = git_dir / (PREFIX if ":" not in name else REMOTES).rstrip("/")
    while parent != heads and heads in parent.parents:
        with contextlib.suppress(OSError):
            parent.rmdir()
        parent = parent.parent
