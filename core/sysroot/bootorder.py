"""Boot-order rules as pure functions over deployment lists (rpm-ostree's retention).

Kept apart from the sysroot's I/O so every rule is tested on plain values:

* a new deployment goes first; of its stateroot the old default (the "merge"
  deployment), the booted one, the booted one's rollback and every pinned one stay;
  other stateroots are never touched;
* rollback makes the booted deployment the default again when something else is
  pending, else swaps in the deployment after it;
* *pending* deployments are those before the booted one, *rollback* ones those after.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import SysrootError
from core.sysroot.deployment import Deployment, DeploymentKey


def _of(deployments: Sequence[Deployment], osname: str) -> list[Deployment]:
    return [d for d in deployments if d.osname == osname and not d.staged]


def rollback_of(deployments: Sequence[Deployment], osname: str) -> Deployment | None:
    """The deployment a reboot would fall back to: the one after booted (else after first)."""
    ours = _of(deployments, osname)
    booted = next((i for i, d in enumerate(ours) if d.booted), None)
    start = booted if booted is not None else 0
    return ours[start + 1] if len(ours) > start + 1 else None


def retained(new: DeploymentKey, deployments: Sequence[Deployment]) -> list[DeploymentKey]:
    """The boot order after adding ``new`` as the default, older ones dropped."""
    ours = _of(deployments, new.osname)
    merge = ours[0].key if ours else None
    booted = next((d for d in ours if d.booted), None)
    rollback = rollback_of(deployments, new.osname) if booted is not None else None
    keep = {merge, booted.key if booted else None, rollback.key if rollback else None}
    out = [new]
    for d in deployments:
        if d.staged or d.key == new:
            continue
        if d.osname != new.osname or d.key in keep or d.pinned:
            out.append(d.key)
    return out


def rollback_order(deployments: Sequence[Deployment], osname: str) -> list[DeploymentKey]:
    """The boot order ``rollback`` writes; SysrootError when there is nothing to go back to."""
    ours = _of(deployments, osname)
    booted = next((d for d in ours if d.booted), None)
    if booted is not None and ours[0].key != booted.key:
        target = booted
    elif len(ours) >= 2:
        target = ours[1]
    else:
        raise SysrootError(
            f"No rollback deployment for stateroot {osname}",
            hint="there is only one deployment; deploy another one first",
        )
    rest = [d.key for d in deployments if not d.staged and d.key != target.key]
    return [target.key, *rest]


def pending_and_rollback(
    deployments: Sequence[Deployment], osname: str
) -> tuple[list[Deployment], list[Deployment]]:
    """(pending, rollback) of a stateroot for ``cleanup``; pinned ones are never listed."""
    staged = [d for d in deployments if d.staged and d.osname == osname]
    ours = _of(deployments, osname)
    booted = next((i for i, d in enumerate(ours) if d.booted), None)
    if booted is None:
        pending, rollback = [], ours[1:]
    else:
        pending, rollback = ours[:booted], ours[booted + 1 :]
    return (
        staged + [d for d in pending if not d.pinned],
        [d for d in rollback if not d.pinned],
    )
