"""``$releasever`` of a base, read from its packages as dnf and rpm-ostree read it.

dnf (``dnf.rpm.detect_releasever``) asks the rpmdb for the first package that
provides one of ``system-release(releasever)``, ``system-release``,
``distribution-release(releasever)``, ``distribution-release``,
``redhat-release``, ``suse-release`` (in that order); the release version is
that package's version, or the provide's own version when it is stated with
``=`` by a package of another name (``centos-release`` provides
``system-release(releasever) = 7``). The base's package set comes from the same
``.solv`` cache the solver uses, so a warm base costs no rpmdb read.
"""

from __future__ import annotations

import re
from pathlib import Path

import solv

from solver.base import load_base

DISTROVERPKG = (
    "system-release(releasever)",
    "system-release",
    "distribution-release(releasever)",
    "distribution-release",
    "redhat-release",
    "suse-release",
)
_PROVIDE = re.compile(r"^(?P<name>\S+) = (?P<version>\S+)$")


def _version(evr: str) -> str:
    """The version part of ``[epoch:]version-release``."""
    return evr.split(":", 1)[-1].rsplit("-", 1)[0]


def releasever_of(pool: solv.Pool) -> str | None:
    """The release version the pool's installed packages declare; None if they declare none."""
    installed = pool.installed
    if installed is None:
        return None
    pool.createwhatprovides()
    for name in DISTROVERPKG:
        providers = sorted(
            (s for s in pool.whatprovides(pool.Dep(name)) if s.repo == installed),
            key=lambda s: (s.name, s.evr),
        )
        if not providers:
            continue
        pkg = providers[0]
        found = _version(pkg.evr)
        if pkg.name != name:
            for dep in pkg.lookup_deparray(solv.SOLVABLE_PROVIDES):
                match = _PROVIDE.match(str(dep))
                if match and match["name"] == name:
                    found = match["version"]
                    break
        return found or None
    return None


def detect_releasever(rpmdb: Path, key: str, cache_dir: Path | None, arch: str) -> str | None:
    """``releasever_of`` the base whose rpmdb is ``rpmdb`` (cached under ``key``)."""
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_RPM)
    pool.setarch(arch)
    load_base(pool, rpmdb, key, cache_dir)
    return releasever_of(pool)
