"""Runtime state of a sysroot under ``SYSROOT/run/ostree/`` (never the host's ``/run``).

* ``staged-deployment``: the deployment written while another one is booted, waiting
  for ``finalize-staged`` (what a shutdown service runs) to merge ``/etc`` and make it
  the default. It is written last, after the deployment directory and its origin, so a
  crash before it leaves only an unreferenced directory that cleanup removes.
* ``booted``: which deployment the last (simulated) boot started. A sysroot that is not
  the running root has no kernel command line to read ``ostree=`` from, so
  ``admin simulate-reboot`` records it here. On the running root (``--sysroot /``) the
  booted deployment is the one the kernel command line's ``ostree=`` names instead
  (libostree's rule, :func:`booted_from_cmdline`), and this file is never read.

Both are small JSON files replaced atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic import write_text
from core.errors import SysrootError
from core.sysroot.deployment import DeploymentKey

STAGED = Path("run/ostree/staged-deployment")
BOOTED = Path("run/ostree/booted")


@dataclass(frozen=True)
class StagedState:
    key: DeploymentKey
    kargs: str = ""


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data_bytes = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(data_bytes)  # UnicodeDecodeError is a ValueError
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except ValueError as err:
        raise SysrootError(
            f"Malformed state file {path}: {err}",
            hint="remove the file; `strata admin status` shows what remains",
        ) from err


def _key(data: dict[str, Any], path: Path) -> DeploymentKey:
    try:
        return DeploymentKey(str(data["osname"]), str(data["checksum"]), int(data["serial"]))
    except (KeyError, TypeError, ValueError) as err:
        raise SysrootError(
            f"Malformed state file {path}: missing {err}", hint="remove the file"
        ) from err


def _key_json(key: DeploymentKey) -> dict[str, Any]:
    return {"osname": key.osname, "checksum": key.checksum, "serial": key.serial}


def _write(sysroot: Path, rel: Path, data: dict[str, Any]) -> None:
    path = sysroot / rel
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    write_text(path, json.dumps(data, sort_keys=True) + "\n")


def read_staged(sysroot: Path) -> StagedState | None:
    data = _read_json(sysroot / STAGED)
    if data is None:
        return None
    return StagedState(_key(data, sysroot / STAGED), str(data.get("kargs", "")))


def write_staged(sysroot: Path, state: StagedState) -> None:
    _write(sysroot, STAGED, {**_key_json(state.key), "kargs": state.kargs})


def clear_staged(sysroot: Path) -> None:
    (sysroot / STAGED).unlink(missing_ok=True)


def read_booted(sysroot: Path) -> DeploymentKey | None:
    data = _read_json(sysroot / BOOTED)
    return None if data is None else _key(data, sysroot / BOOTED)


def write_booted(sysroot: Path, key: DeploymentKey) -> None:
    _write(sysroot, BOOTED, _key_json(key))


def booted_from_cmdline(sysroot: Path, cmdline: str) -> DeploymentKey | None:
    """The deployment ``ostree=/ostree/boot.B/OS/BOOTCSUM/SERIAL`` names, or None.

    No ``ostree=``: the system did not boot a deployment. The link is resolved under
    ``sysroot``; when a boot-order change since boot removed it (the other bootversion
    is live now), the running root is matched by device and inode, as libostree does.
    """
    arg = next((a for a in cmdline.split() if a.startswith("ostree=")), None)
    if arg is None:
        return None
    rel = arg.removeprefix("ostree=").lstrip("/")
    parts = Path(rel).parts
    if ".." in parts or len(parts) != 5 or parts[0] != "ostree":
        raise SysrootError(
            f"Kernel command line has a malformed {arg!r}",
            hint="it must be ostree=/ostree/boot.B/OS/BOOTCSUM/SERIAL, as boot entries write it",
        )
    key = _deployment_of(sysroot, os.path.realpath(sysroot / rel))
    if key is None and sysroot.resolve() == Path("/"):
        root = os.stat("/")
        deploy = sysroot / "ostree" / "deploy" / parts[2] / "deploy"
        for name in sorted(os.listdir(deploy)) if deploy.is_dir() else ():
            st = os.stat(deploy / name)
            if (st.st_dev, st.st_ino) == (root.st_dev, root.st_ino):
                return DeploymentKey.from_dirname(parts[2], name)
    return key


def _deployment_of(sysroot: Path, real: str) -> DeploymentKey | None:
    base = os.path.realpath(sysroot / "ostree" / "deploy")
    rel = Path(os.path.relpath(real, base)).parts
    if len(rel) != 3 or rel[1] != "deploy" or not os.path.isdir(real):
        return None
    return DeploymentKey.from_dirname(rel[0], rel[2])


CmdlineSource = Callable[[], str]


def proc_cmdline() -> str:
    return Path("/proc/cmdline").read_text()


def read_booted_state(
    sysroot: Path, cmdline: CmdlineSource | None, problems: list[str] | None = None
) -> DeploymentKey | None:
    """The booted deployment: from the kernel command line when there is one to read
    (the running root, or a test standing in for one), else the simulated-boot record.

    ``problems``: an unreadable record is noted there (no deployment is booted)
    instead of raising.
    """
    try:
        if cmdline is not None:
            return booted_from_cmdline(sysroot, cmdline())
        return read_booted(sysroot)
    except SysrootError as err:
        if problems is None:
            raise
        problems.append(str(err).splitlines()[0])
        return None
