"""``strata status``: each deployment as a frozen record, rendered as JSON or text.

Collecting (reading the sysroot and the commits) is kept apart from rendering, so the
exact JSON of the CLI contract and the rpm-ostree-like text are tested from frozen data.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StoreError
from layering.engine.origin_state import LocalPackage, RequestError
from layering.engine.plan import LayerInfo

if TYPE_CHECKING:
    from core.sysroot import Deployment, Sysroot


@dataclass(frozen=True)
class DeploymentStatus:
    id: str
    osname: str
    checksum: str
    serial: int
    base_checksum: str | None
    origin: str
    booted: bool
    staged: bool
    pinned: bool
    requested_packages: tuple[str, ...]
    requested_local_packages: tuple[str, ...]
    packages: tuple[str, ...]
    layered_packages: tuple[str, ...]
    inactive_requests: tuple[str, ...]
    requested_base_removals: tuple[str, ...]
    requested_base_local_replacements: tuple[str, ...]
    version: str
    timestamp: int
    forced_packages: tuple[str, ...] = ()  # installed with --force-replacefiles (text only)

    def to_json(self) -> dict[str, Any]:
        """Exactly the object of the CLI contract (``status --json``)."""
        return {
            "id": self.id,
            "osname": self.osname,
            "checksum": self.checksum,
            "serial": self.serial,
            "base-checksum": self.base_checksum,
            "origin": self.origin,
            "booted": self.booted,
            "staged": self.staged,
            "pinned": self.pinned,
            "requested-packages": list(self.requested_packages),
            "requested-local-packages": list(self.requested_local_packages),
            "packages": list(self.packages),
            "layered-packages": list(self.layered_packages),
            "requested-base-removals": list(self.requested_base_removals),
            "requested-base-local-replacements": list(self.requested_base_local_replacements),
            "version": self.version,
            "timestamp": self.timestamp,
        }


def _local_nevras(entries: Sequence[str]) -> tuple[str, ...]:
    out = []
    for entry in entries:
        try:
            out.append(LocalPackage.parse(entry).nevra)
        except RequestError:
            out.append(entry)
    return tuple(sorted(out))


def deployment_status(
    deployment: Deployment, metadata: dict[str, str] | Any, timestamp: int
) -> DeploymentStatus:
    """One deployment plus its commit's metadata and time -> a status record."""
    origin = deployment.origin
    info = LayerInfo.from_metadata(metadata)
    requested = tuple(sorted(origin.requested))
    inactive = set(info.inactive) if info else set()
    return DeploymentStatus(
        id=deployment.id,
        osname=deployment.osname,
        checksum=deployment.checksum,
        serial=deployment.serial,
        base_checksum=info.base_checksum if info else None,
        origin=origin.refspec,
        booted=deployment.booted,
        staged=deployment.staged,
        pinned=deployment.pinned,
        requested_packages=requested,
        requested_local_packages=_local_nevras(origin.requested_local),
        packages=tuple(r for r in requested if r not in inactive),
        layered_packages=tuple(sorted(info.layered)) if info else (),
        inactive_requests=tuple(sorted(inactive)),
        requested_base_removals=tuple(sorted(origin.override_remove)),
        requested_base_local_replacements=_local_nevras(origin.override_replace_local),
        version=str(metadata.get("version", "") or ""),
        timestamp=timestamp,
        forced_packages=origin.fileoverride,
    )


def collect(
    sysroot: Sysroot, osname: str | None = None, problems: list[str] | None = None
) -> list[DeploymentStatus]:
    """Every deployment in boot order (optionally of one stateroot only).

    ``problems``: files that cannot be read are noted there and shown as far as
    possible, so ``status`` works on a damaged sysroot and says what is damaged.
    """
    out = []
    for deployment in sysroot.deployments(problems):
        if osname is not None and deployment.osname != osname:
            continue
        try:
            info = sysroot.repo.commit_info(deployment.checksum)
        except StoreError:
            # A deployment whose commit is gone from the store still deserves a line.
            out.append(deployment_status(deployment, {}, 0))
            continue
        out.append(deployment_status(deployment, dict(info.metadata), info.timestamp))
    return out


def to_json(records: Sequence[DeploymentStatus]) -> dict[str, Any]:
    return {"deployments": [r.to_json() for r in records]}


def _field(label: str, value: str) -> str:
    return f"{label:>26}: {value}"


def _timestamp(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lock_holder(lock_file: Path, proc_locks: Path = Path("/proc/locks")) -> int | None:
    """The pid holding the sysroot's flock, read from the kernel's lock table.

    Probing with flock would itself hold the lock for an instant and make a concurrent
    mutating command fail at once; /proc/locks answers without touching it.
    """
    try:
        st = os.stat(lock_file)
        table = proc_locks.read_text()
    except OSError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 28292 fe:00:2149059 0 EOF"; waiters carry "->".
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            return int(fields[4]) if fields[4].isdigit() else None
    return None


def to_text(
    records: Sequence[DeploymentStatus], *, verbose: bool = False, busy_pid: int | None = None
) -> str:
    """rpm-ostree's layout: a bullet for the booted deployment, aligned fields."""
    state = "idle" if busy_pid is None else f"busy (pid {busy_pid} holds the sysroot lock)"
    lines = [f"State: {state}", "Deployments:"]
    if not records:
        lines.append("  (none)")
    for rec in records:
        marker = "●" if rec.booted else " "
        lines.append(f"{marker} {rec.osname}:{rec.origin}")
        version = rec.version or "(none)"
        lines.append(_field("Version", f"{version} ({_timestamp(rec.timestamp)})"))
        if rec.base_checksum:
            lines.append(_field("BaseCommit", rec.base_checksum))
        lines.append(_field("Commit", rec.checksum))
        if verbose:
            lines.append(_field("Deployment", f"{rec.id} (serial {rec.serial})"))
        if rec.staged:
            lines.append(_field("Staged", "yes"))
        if rec.pinned:
            lines.append(_field("Pinned", "yes"))
        for label, items in (
            ("RemovedBasePackages", rec.requested_base_removals),
            ("LocalReplacedBasePackages", rec.requested_base_local_replacements),
            ("LayeredPackages", rec.packages),
            ("InactiveRequests", rec.inactive_requests),
            ("LocalPackages", rec.requested_local_packages),
            ("ForcedPackages", rec.forced_packages),  # rpm-ostree: LocalForcedPackages
        ):
            if items:
                lines.append(_field(label, " ".join(items)))
        if verbose and rec.layered_packages:
            lines.append(_field("LayeredNEVRAs", " ".join(rec.layered_packages)))
        lines.append("")
    return "\n".join(lines).rstrip("\n")
