"""The text a layering verb prints on stdout: the planned transaction and what changed.

Pure functions over NEVRA strings, so the wording is tested without a sysroot and the
engine stays free of print statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import rpm

REBOOT_HINT = "Run 'reboot' to start using it."


@dataclass(frozen=True, order=True)
class Nevra:
    name: str
    epoch: str
    version: str
    release: str
    arch: str

    @classmethod
    def parse(cls, text: str) -> Nevra:
        """``name-[epoch:]version-release.arch``; names may contain dashes."""
        body, dot, arch = text.rpartition(".")
        if not dot:
            body, arch = text, ""
        parts = body.rsplit("-", 2)
        if len(parts) != 3:
            return cls(text, "", "", "", "")
        name, version, release = parts
        epoch, colon, plain = version.partition(":")
        if colon:
            version = plain
        else:
            epoch = ""
        return cls(name, epoch, version, release, arch)

    @property
    def evr(self) -> str:
        prefix = f"{self.epoch}:" if self.epoch else ""
        return f"{prefix}{self.version}-{self.release}"

    def newer_than(self, other: Nevra) -> bool:
        mine = (self.epoch or "0", self.version, self.release)
        theirs = (other.epoch or "0", other.version, other.release)
        return bool(rpm.labelCompare(mine, theirs) > 0)


@dataclass(frozen=True)
class PackageDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    upgraded: tuple[tuple[str, str], ...] = ()  # (old nevra, new nevra)
    downgraded: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.upgraded or self.downgraded)


def diff_packages(old: Iterable[str], new: Iterable[str]) -> PackageDiff:
    """Compare two NEVRA sets by (name, arch), as ``rpm-ostree db diff`` does."""
    old_set, new_set = set(old), set(new)
    old_by_key = {_key(n): n for n in old_set - new_set}
    new_by_key = {_key(n): n for n in new_set - old_set}
    added, removed, upgraded, downgraded = [], [], [], []
    for key in sorted(set(old_by_key) | set(new_by_key)):
        before, after = old_by_key.get(key), new_by_key.get(key)
        if before is None and after is not None:
            added.append(after)
        elif after is None and before is not None:
            removed.append(before)
        elif before is not None and after is not None:
            if Nevra.parse(after).newer_than(Nevra.parse(before)):
                upgraded.append((before, after))
            else:
                downgraded.append((before, after))
    return PackageDiff(tuple(added), tuple(removed), tuple(upgraded), tuple(downgraded))


def _key(nevra: str) -> tuple[str, str]:
    parsed = Nevra.parse(nevra)
    return parsed.name, parsed.arch


def render_diff(diff: PackageDiff) -> list[str]:
    lines: list[str] = []
    for title, items in (("Upgraded", diff.upgraded), ("Downgraded", diff.downgraded)):
        if items:
            lines.append(f"{title}:")
            lines += [f"  {_arrow(old, new)}" for old, new in items]
    for title, names in (("Removed", diff.removed), ("Added", diff.added)):
        if names:
            lines.append(f"{title}:")
            lines += [f"  {n}" for n in names]
    return lines


def _arrow(old: str, new: str) -> str:
    a, b = Nevra.parse(old), Nevra.parse(new)
    return f"{a.name}.{a.arch} {a.evr} -> {b.evr}"


def render_transaction(
    *,
    install: Sequence[str],
    remove: Sequence[str] = (),
    replace: Sequence[tuple[str, str]] = (),
    inactive: Sequence[tuple[str, str]] = (),
    base: tuple[str, str] | None = None,
) -> str:
    """What ``--dry-run`` shows: the solved transaction, nothing built."""
    lines = []
    if base is not None and base[0] != base[1]:
        lines.append(f"Base: {base[0][:12]} -> {base[1][:12]}")
    if install:
        lines.append(f"Packages to layer ({len(install)}):")
        lines += [f"  {n}" for n in install]
    if remove:
        lines.append(f"Base packages to remove ({len(remove)}):")
        lines += [f"  {n}" for n in remove]
    if replace:
        lines.append(f"Base packages to replace ({len(replace)}):")
        lines += [f"  {old} -> {new}" for old, new in replace]
    if inactive:
        lines.append("Inactive requests:")
        lines += [f"  {req} (already provided by {nevra})" for req, nevra in inactive]
    if not lines:
        lines.append("Nothing layered: the deployment is the base itself.")
    return "\n".join(lines)


def render_changes(
    *,
    layered_before: Iterable[str],
    layered_after: Iterable[str],
    base: tuple[str, str] | None = None,
    removed_base: Iterable[str] = (),
    replaced_base: Iterable[tuple[str, str]] = (),
    notices: Sequence[str] = (),
    details: Sequence[str] = (),
    base_diff: PackageDiff | None = None,
    deployed: bool = True,
) -> str:
    """The summary after a deployment was staged: added/removed packages and the hint."""
    lines = list(notices)
    if base is not None and base[0] != base[1]:
        lines.append(f"Base: {base[0][:12]} -> {base[1][:12]}")
        if base_diff is not None and not base_diff.empty:
            lines.append("Base packages:")
            lines += [f"  {line}" for line in render_diff(base_diff)]
    layered = render_diff(diff_packages(layered_before, layered_after))
    if base_diff is not None and not base_diff.empty and layered:
        lines.append("Layered packages:")
        layered = [f"  {line}" for line in layered]
    lines += layered
    removed_base = sorted(removed_base)
    if removed_base:
        lines.append("Removed base packages:")
        lines += [f"  {n}" for n in removed_base]
    replaced = sorted(replaced_base)
    if replaced:
        lines.append("Replaced base packages:")
        lines += [f"  {_arrow(old, new)}" for old, new in replaced]
    lines += details
    if deployed:
        lines.append(REBOOT_HINT)
    return "\n".join(lines)


def inactive_notice(request: str, nevra: str, *, now: bool = False) -> str:
    """rpm-ostree's wording for a request that the base already satisfies."""
    if now:
        return f"Package '{request}' is now provided by the base ({nevra})"
    return f"Package '{request}' is already provided by the base ({nevra})"
