"""The text a layering verb prints on stdout: the planned transaction and what changed.

Pure functions over NEVRA strings, so the wording is tested without a sysroot and the
engine stays free of print statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from layering.rpm.pkgdiff import PackageDiff, arrow, diff_packages, render_diff

REBOOT_HINT = "Run 'reboot' to start using it."


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
    restored_base: Iterable[str] = (),
    notices: Sequence[str] = (),
    details: Sequence[str] = (),
    base_diff: PackageDiff | None = None,
    deployed: bool = True,
) -> str:
    """The summary after a deployment was staged: added/removed packages, the base
    packages this operation removed, replaced or restored (overrides already in force are
    not repeated), and the hint."""
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
        lines += [f"  {arrow(old, new)}" for old, new in replaced]
    restored = sorted(set(restored_base))
    if restored:
        lines.append("Restored base packages:")
        lines += [f"  {n}" for n in restored]
    lines += details
    if deployed:
        lines.append(REBOOT_HINT)
    return "\n".join(lines)


def inactive_notice(request: str, nevra: str, *, now: bool = False) -> str:
    """rpm-ostree's wording for a request that the base already satisfies."""
    if now:
        return f"Package '{request}' is now provided by the base ({nevra})"
    return f"Package '{request}' is already provided by the base ({nevra})"
