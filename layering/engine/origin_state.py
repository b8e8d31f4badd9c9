"""What the user asked for, as a value: the request half of a deployment's origin.

Every layering verb is a pure change of this value (install adds a name, override
remove adds a removal, reset empties it) followed by building whatever the new value
describes. Keeping the change pure lets each verb refuse bad input before anything is
solved, fetched or written, and lets the rules be tested without a sysroot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from core.errors import StrataError
from core.sysroot.origin import Origin


class RequestError(StrataError):
    """The requested change of the package set makes no sense (already there, not there)."""


@dataclass(frozen=True, order=True)
class LocalPackage:
    """A local RPM recorded in the origin as ``sha256:nevra`` (header SHA-256)."""

    sha256: str
    nevra: str

    @classmethod
    def parse(cls, text: str) -> LocalPackage:
        digest, sep, nevra = text.partition(":")
        if not sep or len(digest) != 64 or not nevra:
            raise RequestError(
                f"Malformed local package entry {text!r} in the origin",
                hint="expected SHA256:NAME-VERSION-RELEASE.ARCH",
            )
        return cls(digest, nevra)

    def __str__(self) -> str:
        return f"{self.sha256}:{self.nevra}"

    @property
    def name(self) -> str:
        return nevra_name(self.nevra)


def nevra_name(nevra: str) -> str:
    """``strace-2:6.1-1.x86_64`` -> ``strace`` (names may contain dashes)."""
    without_arch = nevra.rsplit(".", 1)[0] if "." in nevra else nevra
    parts = without_arch.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else without_arch


@dataclass(frozen=True)
class Requests:
    """The package requests and base overrides of one deployment; tuples kept sorted."""

    packages: tuple[str, ...] = ()
    local: tuple[LocalPackage, ...] = ()
    override_remove: tuple[str, ...] = ()
    override_replace: tuple[LocalPackage, ...] = ()
    fileoverride: tuple[str, ...] = ()  # requested names allowed to replace files

    def __post_init__(self) -> None:
        object.__setattr__(self, "packages", tuple(sorted(set(self.packages))))
        object.__setattr__(self, "local", _unique_locals(self.local))
        object.__setattr__(self, "override_remove", tuple(sorted(set(self.override_remove))))
        object.__setattr__(self, "override_replace", _unique_locals(self.override_replace))
        # only requests still present keep the right (an uninstall takes it away)
        kept = set(self.fileoverride) & _requested_names(self)
        object.__setattr__(self, "fileoverride", tuple(sorted(kept)))

    @property
    def empty(self) -> bool:
        """Nothing layered and nothing overridden: the deployment is the base itself."""
        return not (self.packages or self.local or self.override_remove or self.override_replace)


def _unique_locals(items: Iterable[LocalPackage]) -> tuple[LocalPackage, ...]:
    by_digest = {item.sha256: item for item in items}
    return tuple(sorted(by_digest.values(), key=lambda p: (p.nevra, p.sha256)))


def _requested_names(req: Requests) -> set[str]:
    return set(req.packages) | {p.name for p in req.local}


def add_packages(req: Requests, names: Iterable[str], *, idempotent: bool = False) -> Requests:
    """install NAME...: error on a name already requested unless ``idempotent``."""
    current = _requested_names(req)
    added: list[str] = []
    for name in names:
        if name in current or name in added:
            if idempotent:
                continue
            raise RequestError(
                f"Package '{name}' is already requested",
                hint="use --idempotent to ignore requests that are already present",
            )
        added.append(name)
    return replace(req, packages=(*req.packages, *added))


def add_local(
    req: Requests, packages: Iterable[LocalPackage], *, idempotent: bool = False
) -> Requests:
    """install FILE.rpm...: the same rule, matched by header digest or by name."""
    digests = {p.sha256 for p in req.local}
    names = _requested_names(req)
    added: list[LocalPackage] = []
    for pkg in packages:
        if pkg.sha256 in digests or pkg.name in names:
            if idempotent:
                continue
            raise RequestError(
                f"Package '{pkg.nevra}' is already requested",
                hint="use --idempotent to ignore requests that are already present",
            )
        added.append(pkg)
        digests.add(pkg.sha256)
        names.add(pkg.name)
    return replace(req, local=(*req.local, *added))


def remove_packages(req: Requests, names: Iterable[str], *, idempotent: bool = False) -> Requests:
    """uninstall NAME...: a name matches a request, or a local package by name or NEVRA."""
    packages = list(req.packages)
    local = list(req.local)
    for name in names:
        if name in packages:
            packages.remove(name)
            continue
        match = [p for p in local if name in (p.name, p.nevra)]
        if match:
            local = [p for p in local if p not in match]
            continue
        if not idempotent:
            raise RequestError(
                f"Package '{name}' is not currently requested",
                hint="'strata status' lists the requested packages",
            )
    return replace(req, packages=tuple(packages), local=tuple(local))


def allow_replacefiles(req: Requests, names: Iterable[str]) -> Requests:
    """install --force-replacefiles: these requests' packages replace files that the base
    or other packages provide differently, now and in every later assembly."""
    return replace(req, fileoverride=(*req.fileoverride, *names))


def remove_all(req: Requests) -> Requests:
    """uninstall --all: every layered request goes; base overrides stay."""
    return replace(req, packages=(), local=())


def add_override_remove(req: Requests, names: Iterable[str], base_names: Iterable[str]) -> Requests:
    """override remove NAME...: only base packages can be removed, each once."""
    base = set(base_names)
    removed = list(req.override_remove)
    replaced = {p.name for p in req.override_replace}
    for name in names:
        if name in removed:
            raise RequestError(
                f"Package '{name}' is already requested to be removed",
                hint="'strata status' lists RemovedBasePackages; "
                f"'strata override reset {name}' keeps it instead",
            )
        if name in replaced:
            raise RequestError(
                f"Package '{name}' is replaced by a local package",
                hint=f"run 'strata override reset {name}' first",
            )
        if name not in base:
            raise RequestError(
                f"Package '{name}' is not in the base",
                hint="only packages of the base can be removed; 'strata db list' lists them",
            )
        removed.append(name)
    return replace(req, override_remove=tuple(removed))


def add_override_replace(
    req: Requests,
    packages: Iterable[LocalPackage],
    base_names: Iterable[str],
    base_nevras: Iterable[str] = (),
) -> Requests:
    """override replace FILE.rpm...: each replaces the base package of the same name."""
    base = set(base_names)
    same = set(base_nevras)
    replaced = list(req.override_replace)
    for pkg in packages:
        if pkg.name not in base:
            raise RequestError(
                f"Package '{pkg.name}' is not in the base, so it cannot be replaced",
                hint=f"use 'strata install' to layer {pkg.nevra}",
            )
        if pkg.nevra in same:
            # it would "replace" the base's package by itself, and hide a replacement
            # already requested behind a summary that says X -> X
            raise RequestError(
                f"Package '{pkg.nevra}' is the version the base already has: nothing to replace",
                hint=f"to go back to the base's {pkg.name}, run 'strata override reset {pkg.name}'",
            )
        if pkg.name in req.override_remove:
            raise RequestError(
                f"Package '{pkg.name}' is requested to be removed",
                hint=f"run 'strata override reset {pkg.name}' first",
            )
        replaced = [p for p in replaced if p.name != pkg.name]
        replaced.append(pkg)
    return replace(req, override_replace=tuple(replaced))


def reset_overrides(req: Requests, names: Iterable[str], *, reset_all: bool = False) -> Requests:
    """override reset NAME...|--all: undo removals and replacements of those base packages."""
    if reset_all:
        return replace(req, override_remove=(), override_replace=())
    removed = list(req.override_remove)
    replaced = list(req.override_replace)
    for name in names:
        match = [p for p in replaced if name in (p.name, p.nevra)]
        if name in removed:
            removed.remove(name)
        elif match:
            replaced = [p for p in replaced if p not in match]
        else:
            raise RequestError(
                f"No override for package '{name}'",
                hint="'strata status' lists the overridden base packages",
            )
    return replace(req, override_remove=tuple(removed), override_replace=tuple(replaced))


def requests_of(origin: Origin) -> Requests:
    return Requests(
        packages=origin.requested,
        local=tuple(LocalPackage.parse(x) for x in origin.requested_local),
        override_remove=origin.override_remove,
        override_replace=tuple(LocalPackage.parse(x) for x in origin.override_replace_local),
        fileoverride=origin.fileoverride,
    )


def origin_for(base_ref: str, req: Requests, previous: Origin | None = None) -> Origin:
    """The origin of a new deployment; unknown keys of the previous one carry over."""
    extra = previous.without_transient().extra if previous is not None else ()
    return Origin(
        refspec=base_ref,
        layered=not req.empty,
        requested=req.packages,
        requested_local=tuple(str(p) for p in req.local),
        override_remove=req.override_remove,
        override_replace_local=tuple(str(p) for p in req.override_replace),
        fileoverride=req.fileoverride,
        extra=extra,
    )
