"""Facts about the OS being layered that come from its trees, never from the host.

``$releasever`` comes from the base commit's os-release, the repo files from the
booted deployment's ``/etc`` (the administrator's configuration), GPG keys from that
``/etc`` or the base's ``/usr/etc`` defaults.
"""

from __future__ import annotations

import os
import platform
import stat
from collections import deque
from collections.abc import Callable
from pathlib import Path

from core.errors import StoreError
from core.store import Store
from layering.engine.gpg import KeyReader
from solver import RepoConfig, read_repo_files

OS_RELEASE_PATHS = ("usr/lib/os-release", "usr/etc/os-release", "etc/os-release")
_BASEARCH = {"i386": "i386", "i586": "i386", "i686": "i386", "armv7l": "armhfp"}


def machine_arch() -> str:
    """rpm's architecture name of this machine (x86_64, aarch64, ...)."""
    machine = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def basearch(arch: str) -> str:
    return _BASEARCH.get(arch, arch)


def _read(store: Store, commit: str, path: str) -> bytes | None:
    try:
        return store.read_file(commit, path)
    except StoreError:
        return None


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            out[key] = value.strip().strip("\"'")
    return out


def releasever(store: Store, commit: str) -> str:
    """VERSION_ID of the base's os-release, else the commit's ``version``, else ""."""
    for path in OS_RELEASE_PATHS:
        data = _read(store, commit, path)
        if data:
            version = parse_os_release(data.decode(errors="replace")).get("VERSION_ID", "")
            if version:
                return version
    return store.commit_info(commit).metadata.get("version", "")


def repo_variables(store: Store, commit: str, arch: str) -> dict[str, str]:
    return {"releasever": releasever(store, commit), "basearch": basearch(arch), "arch": arch}


def load_repos(config_root: Path, variables: dict[str, str]) -> tuple[RepoConfig, ...]:
    """The deployment's ``/etc/yum.repos.d`` repos; none when the directory is missing."""
    directory = config_root / "etc" / "yum.repos.d"
    if not directory.is_dir():
        return ()
    return tuple(read_repo_files(directory, variables))


Lookup = Callable[[str], tuple[str, str | None] | None]
"""Relative path -> (kind "file"/"dir"/"symlink", symlink target), None when absent."""

MAX_SYMLINKS = 40


def resolve_in_tree(path: str, lookup: Lookup) -> str | None:
    """Follow symlinks as if the tree were ``/``: absolute targets stay inside it."""
    parts = deque(p for p in path.split("/") if p)
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.popleft()
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        found = lookup("/".join([*done, part]))
        if found is None:
            return None
        kind, target = found
        if kind == "symlink" and target is not None:
            hops += 1
            if hops > MAX_SYMLINKS:
                return None
            if target.startswith("/"):
                done = []
            parts.extendleft(reversed([p for p in target.split("/") if p]))
            continue
        done.append(part)
    return "/".join(done)


def _dir_lookup(root: Path) -> Lookup:
    def lookup(rel: str) -> tuple[str, str | None] | None:
        try:
            st = os.lstat(root / rel)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return "symlink", os.readlink(root / rel)
        return ("dir" if stat.S_ISDIR(st.st_mode) else "file"), None

    return lookup


def _commit_path(rel: str) -> str:
    """A commit keeps /etc defaults in /usr/etc."""
    return "usr/" + rel if rel == "etc" or rel.startswith("etc/") else rel


def _store_lookup(store: Store, commit: str) -> Lookup:
    def lookup(rel: str) -> tuple[str, str | None] | None:
        try:
            entry = store.lookup(commit, _commit_path(rel))
        except StoreError:
            return None
        if entry is None:
            return None
        return str(entry.kind), entry.target

    return lookup


def tree_file_reader(config_root: Path | None, store: Store, commit: str) -> KeyReader:
    """Read ``/etc/...`` paths from the deployment's /etc, else the base's /usr/etc.

    Symlinks are followed as inside the OS (``/`` is the tree's root), never into
    the host running Strata.
    """

    def read(path: str) -> bytes | None:
        if config_root is not None:
            rel = resolve_in_tree(path, _dir_lookup(config_root))
            if rel is not None and (config_root / rel).is_file():
                return (config_root / rel).read_bytes()
        rel = resolve_in_tree(path, _store_lookup(store, commit))
        return _read(store, commit, _commit_path(rel)) if rel is not None else None

    return read
