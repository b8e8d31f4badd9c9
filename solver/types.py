"""The frozen values that cross the solver's seam: repo configs, requests, transactions.

Everything here is plain data so the engine can store, compare and print it
without knowing anything about libsolv.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Speed:
    """How slow a server may be before a download is abandoned (dnf's ``.repo`` options).

    ``timeout``: seconds to connect, and the window over which ``minrate`` (bytes per
    second) is measured: a transfer slower than ``minrate`` on average over any
    ``timeout`` seconds is aborted, as librepo does with curl's low-speed limit.
    ``deadline``: seconds one whole download may take, however it trickles.
    """

    timeout: float = 30.0
    minrate: int = 1000
    deadline: float = 1800.0


@dataclass(frozen=True)
class RepoConfig:
    """One ``[section]`` of a ``.repo`` file, after variable substitution."""

    id: str
    name: str
    baseurls: tuple[str, ...]
    enabled: bool = True
    gpgcheck: bool = False
    gpgkeys: tuple[str, ...] = ()
    skip_if_unavailable: bool = False
    mirrorlist: str = ""  # URL of a mirror list (wins over baseurls, as in dnf)
    metalink: str = ""  # URL of a metalink (wins over mirrorlist and baseurls)
    speed: Speed = Speed()  # timeout= and minrate=


@dataclass(frozen=True)
class PackageRef:
    """A package chosen for layering, with everything needed to fetch and verify it."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str
    nevra: str  # "name-[epoch:]version-release.arch"
    repo: str  # repo id, "@commandline" for local files
    location: str  # absolute URL or file path of the .rpm
    checksum: str  # "sha256:HEX" of the .rpm file ("" when unknown)
    gpgcheck: bool = False
    gpgkeys: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()  # the same file at the repo's other mirrors, in order
    speed: Speed = Speed()  # its repo's timeout= and minrate=
    size: int = 0  # bytes of the .rpm as the metadata states (0: not stated); a mirror sending
    # more is cut off there, so a hostile one cannot fill the disk before the digest is checked

    @property
    def urls(self) -> tuple[str, ...]:
        """Every URL the package can be fetched from, the preferred first."""
        return (self.location, *(u for u in self.mirrors if u != self.location))


@dataclass(frozen=True)
class Request:
    """What to solve: the base's own package set, where to look, and what the user asked for."""

    base_rpmdb: Path  # a directory holding the base commit's rpmdb
    base_key: str  # the base commit id (cache key)
    repos: tuple[RepoConfig, ...]
    install: tuple[str, ...] = ()  # names, provides, "foo >= 1.2"
    local_rpms: tuple[Path, ...] = ()
    override_remove: tuple[str, ...] = ()
    override_replace: tuple[Path, ...] = ()
    arch: str = "x86_64"
    cache_dir: Path | None = None
    cache_only: bool = False
    empty_base: bool = False  # compose: no base packages at all (base_rpmdb is not read)


@dataclass(frozen=True)
class Transaction:
    """The solver's verdict, deterministically ordered so equal inputs give equal values."""

    install: tuple[PackageRef, ...]  # sorted by nevra
    inactive: tuple[tuple[str, str], ...] = ()  # (request, base nevra providing it)
    remove: tuple[str, ...] = ()  # base nevras removed by override
    replace: tuple[tuple[str, PackageRef], ...] = ()  # (base nevra, replacement)
    repomd: tuple[tuple[str, str], ...] = ()  # (repo id, repomd.xml sha256)
    warnings: tuple[str, ...] = ()  # e.g. a skip_if_unavailable repo that was skipped
