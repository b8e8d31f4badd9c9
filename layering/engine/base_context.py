"""Facts about the OS being layered that come from its trees, never from the host.

``$releasever`` comes from the base's ``system-release(releasever)`` provide (else
its os-release), the repo files and the variables of ``/etc/dnf/vars`` and
``/etc/yum/vars`` from the booted deployment's ``/etc`` (the administrator's
configuration), GPG keys from that ``/etc`` or the base's ``/usr/etc`` defaults.
"""

from __future__ import annotations

import os
import platform
import re
import stat
from collections import deque
from collections.abc import Callable, Iterator, Mapping
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


VARS_DIRS = ("etc/yum/vars", "etc/dnf/vars")  # dnf reads both; the later one wins
_VAR_NAME = re.compile(r"^\w{1,64}$")
_VAR_MAX = 4096


def read_vars(config_root: Path) -> dict[str, str]:
    """Variables of ``/etc/yum/vars`` and ``/etc/dnf/vars`` of a deployment, as dnf reads
    them: one per file, the file name its name, the first line its value.

    Paths resolve inside the deployment (a symlink never leads to the host); names
    dnf could not substitute and unreadable or non-text files are left out.
    """
    found: dict[str, str] = {}
    lookup = _dir_lookup(config_root)
    for directory in VARS_DIRS:
        rel = resolve_in_tree(directory, lookup)
        if rel is None or not (config_root / rel).is_dir():
            continue
        for entry in sorted((config_root / rel).iterdir()):
            if not _VAR_NAME.match(entry.name):
                continue
            target = resolve_in_tree(f"{rel}/{entry.name}", lookup)
            if target is None or not (config_root / target).is_file():
                continue
            try:
                with (config_root / target).open("rb") as f:
                    line = f.read(_VAR_MAX).split(b"\n", 1)[0].decode()
            except (OSError, UnicodeDecodeError):
                continue
            found[entry.name] = line
    return found


class RepoVariables(Mapping[str, str]):
    """``$var`` values for .repo files; ``releasever`` is looked up only when one uses it.

    Precedence as in dnf: the vars files, then the detected release version (when
    the base declares one), then ``--releasever``. A base that declares none falls
    back to its os-release ``VERSION_ID`` unless a vars file set the value.
    """

    def __init__(
        self,
        fixed: Mapping[str, str],
        releasever: Callable[[], str | None],
        override: str | None = None,
    ) -> None:
        self._values = dict(fixed)
        self._detect: Callable[[], str | None] | None = releasever
        if override is not None:
            self._values["releasever"] = override
            self._detect = None

    def _resolve(self) -> None:
        if self._detect is not None:
            detected = self._detect()
            self._detect = None
            if detected:
                self._values["releasever"] = detected

    def __getitem__(self, key: str) -> str:
        if key == "releasever":
            self._resolve()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        self._resolve()
        return iter(self._values)

    def __len__(self) -> int:
        self._resolve()
        return len(self._values)


def repo_variables(
    store: Store,
    commit: str,
    arch: str,
    *,
    config_root: Path | None = None,
    detect: Callable[[], str | None] | None = None,
    override: str | None = None,
) -> RepoVariables:
    """The variables of a deployment's repo files: ``$arch``/``$basearch``, the vars
    files of ``config_root``, ``$releasever`` from ``detect`` (the base's packages),
    else the base's os-release, or ``override`` (``--releasever``)."""
    fixed = {"basearch": basearch(arch), "arch": arch}
    if config_root is not None:
        fixed.update(read_vars(config_root))

    def find() -> str | None:
        detected = detect() if detect is not None else None
        if detected or "releasever" in fixed:  # the os-release fallback never beats a vars file
            return detected
        return releasever(store, commit) or None

    return RepoVariables(fixed, find, override)


def load_repos(config_root: Path, variables: Mapping[str, str]) -> tuple[RepoConfig, ...]:
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
