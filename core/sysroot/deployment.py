"""A deployment as a value: which commit, which stateroot, where, and its place in boot order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import SysrootError
from core.sysroot.origin import Origin

_NAME_RE = re.compile(r"^(?P<checksum>[0-9a-f]{7,64})\.(?P<serial>[0-9]+)$")
_OSNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class DeploymentKey:
    """What names a deployment on disk: ``ostree/deploy/OS/deploy/CHECKSUM.SERIAL``."""

    osname: str
    checksum: str
    serial: int

    @property
    def id(self) -> str:
        return f"{self.osname}-{self.checksum}.{self.serial}"

    @property
    def dirname(self) -> str:
        return f"{self.checksum}.{self.serial}"

    @classmethod
    def from_dirname(cls, osname: str, name: str) -> DeploymentKey | None:
        """``CHECKSUM.SERIAL`` -> key; None for anything else (temp dirs, origins)."""
        match = _NAME_RE.match(name)
        if match is None:
            return None
        return cls(osname, match["checksum"], int(match["serial"]))


@dataclass(frozen=True)
class Deployment:
    """One deployment as ``status`` shows it; ``index`` is its place in boot order."""

    osname: str
    checksum: str
    serial: int
    index: int
    staged: bool
    booted: bool
    pinned: bool
    origin: Origin
    path: Path

    @property
    def id(self) -> str:
        return self.key.id

    @property
    def key(self) -> DeploymentKey:
        return DeploymentKey(self.osname, self.checksum, self.serial)


def check_osname(osname: str) -> str:
    """Stateroot names become directory names and kernel arguments: keep them plain."""
    if not _OSNAME_RE.match(osname) or osname in (".", ".."):
        raise SysrootError(
            f"Invalid stateroot name {osname!r}",
            hint="use letters, digits, '_', '.', '+' and '-' only",
        )
    return osname
