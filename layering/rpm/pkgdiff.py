"""What changed between two package sets: added, removed, upgraded, downgraded.

One comparison serves ``db diff`` and every summary a layering verb prints. Packages
are matched by (name, arch), as ``rpm-ostree db diff`` does. A name can be installed
in several versions at once (installonly packages: kernels): versions on both sides
are unchanged; when exactly one version leaves and one arrives that is an upgrade or
a downgrade; otherwise each leaving version is removed and each arriving one added
(two kernels replaced by two others did not "upgrade" into each other, they were
installed beside and then removed, as dnf reports it). Every list is sorted by key
and rpm's version order, so the output never depends on set iteration order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import rpm


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

    def compare_evr(self, other: Nevra) -> int:
        """rpm's order: the epoch first (none is 0), then version and release."""
        mine = (self.epoch or "0", self.version, self.release)
        theirs = (other.epoch or "0", other.version, other.release)
        return int(rpm.labelCompare(mine, theirs))


@dataclass(frozen=True)
class PackageDiff:
    """NEVRA texts; pairs are (old, new)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    upgraded: tuple[tuple[str, str], ...] = ()
    downgraded: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.upgraded or self.downgraded)


def diff_packages(old: Iterable[str], new: Iterable[str]) -> PackageDiff:
    """Compare two sets of NEVRA texts (see the module docstring for the rules)."""
    before, after = _by_key(old), _by_key(new)
    added: list[str] = []
    removed: list[str] = []
    upgraded: list[tuple[str, str]] = []
    downgraded: list[tuple[str, str]] = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key, {}), after.get(key, {})
        leaving = _in_rpm_order({t: was[t] for t in was.keys() - now.keys()})
        arriving = _in_rpm_order({t: now[t] for t in now.keys() - was.keys()})
        if len(leaving) == 1 and len(arriving) == 1:
            newer = now[arriving[0]].compare_evr(was[leaving[0]]) > 0
            (upgraded if newer else downgraded).append((leaving[0], arriving[0]))
            continue
        removed += leaving
        added += arriving
    return PackageDiff(tuple(added), tuple(removed), tuple(upgraded), tuple(downgraded))


def _by_key(texts: Iterable[str]) -> dict[tuple[str, str], dict[str, Nevra]]:
    out: dict[tuple[str, str], dict[str, Nevra]] = {}
    for text in texts:
        parsed = Nevra.parse(text)
        out.setdefault((parsed.name, parsed.arch), {})[text] = parsed
    return out


def _in_rpm_order(nevras: dict[str, Nevra]) -> list[str]:
    """Oldest first by rpm's version order; the text breaks ties (0: vs no epoch)."""

    def cmp(a: str, b: str) -> int:
        return nevras[a].compare_evr(nevras[b]) or (a > b) - (a < b)

    return sorted(nevras, key=functools.cmp_to_key(cmp))


def render_diff(diff: PackageDiff) -> list[str]:
    """The sections rpm-ostree prints; a version change names the package and arch."""
    lines: list[str] = []
    for title, pairs in (("Upgraded", diff.upgraded), ("Downgraded", diff.downgraded)):
        if pairs:
            lines.append(f"{title}:")
            lines += [f"  {arrow(old, new)}" for old, new in pairs]
    for title, texts in (("Removed", diff.removed), ("Added", diff.added)):
        if texts:
            lines.append(f"{title}:")
            lines += [f"  {text}" for text in texts]
    return lines


def arrow(old: str, new: str) -> str:
    """``name.arch old-evr -> new-evr``."""
    a, b = Nevra.parse(old), Nevra.parse(new)
    return f"{a.name}.{a.arch} {a.evr} -> {b.evr}"
