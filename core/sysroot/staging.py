"""Runtime state of a sysroot under ``SYSROOT/run/ostree/`` (never the host's ``/run``).

* ``staged-deployment``: the deployment written while another one is booted, waiting
  for ``finalize-staged`` (what a shutdown service runs) to merge ``/etc`` and make it
  the default. It is written last, after the deployment directory and its origin, so a
  crash before it leaves only an unreferenced directory that cleanup removes.
* ``booted``: which deployment the last (simulated) boot started. A sysroot that is not
  the running root has no kernel command line to read ``ostree=`` from, so
  ``admin simulate-reboot`` records it here.

Both are small JSON files replaced atomically.
"""

from __future__ import annotations

import json
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
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
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
