"""Facts about the OS being layered that come from its trees, never from the host.

``$releasever`` comes from the base commit's os-release, the repo files from the
booted deployment's ``/etc`` (the administrator's configuration), GPG keys from that
``/etc`` or the base's ``/usr/etc`` defaults.
"""

from __future__ import annotations

import platform
from pathlib import Path

from core.errors import StoreError
from core.store import Store
from layering.gpg import KeyReader
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


def tree_file_reader(config_root: Path | None, store: Store, commit: str) -> KeyReader:
    """Read ``/etc/...`` paths from the deployment's /etc, else the base's /usr/etc."""

    def read(path: str) -> bytes | None:
        rel = path.lstrip("/")
        if config_root is not None:
            candidate = config_root / rel
            resolved = candidate.resolve()
            if resolved.is_relative_to(config_root.resolve()) and resolved.is_file():
                return resolved.read_bytes()
        if rel.startswith("etc/"):
            data = _read(store, commit, "usr/" + rel)
            if data is not None:
                return data
        return _read(store, commit, rel)

    return read
