"""Where a path of an RPM payload lands in an immutable tree.

A layered host has a read-only ``/usr``, a per-deployment ``/etc`` whose defaults
live in ``/usr/etc``, and one ``/var`` shared by every deployment that a commit must
not carry. So each payload path is either placed (possibly moved), turned into a
``tmpfiles.d`` line that recreates it at boot, dropped, or refused. The rules follow
rpm-ostree's importer, so an administrator who knows it finds the same tree.

Pure functions: no rpm, no store; the importer feeds them and writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import PackageError


class Kind(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


class Action(StrEnum):
    PLACE = "place"  # write at ``path`` in the tree
    TMPFILES = "tmpfiles"  # recreate at boot from a tmpfiles.d line
    DROP = "drop"  # nothing in the tree (regular files under /run, the root itself)


@dataclass(frozen=True)
class Placement:
    action: Action
    path: str = ""  # tree path (relative, no leading "/") for PLACE
    tmpfiles: str = ""  # "d" or "L" for TMPFILES
    opt_link: str = ""  # PLACE of /opt/X/...: the "/opt/X" to link at boot
    link: str = ""  # PLACE (compose): write a symlink to this target instead of the dir
    tmpfiles_path: str = ""  # the path of the tmpfiles line when it is not the payload's
    var_link: str = ""  # PLACE of a /var directory kept under /usr: "L var_link - - - - /path"


# State that must follow the tree across layerings lives under /usr, with a link from /var
# (rpm-ostree keeps the alternatives database in the commit the same way).
VAR_IN_USR = {("lib", "alternatives"): ("usr", "lib", "alternatives")}
FACTORY = "usr/share/factory"


# Composed bases link the administrator's top-level directories into /var (or /run),
# as rpm-ostree does: a commit carries none of their content, and /opt/X links work.
VAR_LINKS = {
    ("opt",): ("var/opt", "/var/opt"),
    ("home",): ("var/home", "/var/home"),
    ("srv",): ("var/srv", "/var/srv"),
    ("root",): ("var/roothome", "/var/roothome"),
    ("mnt",): ("var/mnt", "/var/mnt"),
    ("media",): ("run/media", "/run/media"),
    ("usr", "local"): ("../var/usrlocal", "/var/usrlocal"),
}


# /bin, /sbin, /lib, /lib64 are symlinks into /usr on every merged-/usr system.
USRMOVE = ("bin", "sbin", "lib", "lib64")
# Top-level content a layered package may ship (besides what USRMOVE redirects).
LAYERABLE = ("usr", "etc", "boot", "opt", "var", "run")


def normalize(path: str, *, package: str) -> tuple[str, ...]:
    """Split an absolute payload path into components, refusing anything that could escape.

    rpm stores absolute paths; ``..``, ``.``, empty components in the middle, NUL and
    relative paths never come from rpmbuild and only appear in crafted packages.
    """
    if "\0" in path or not path.startswith("/"):
        raise PackageError(
            f"{package} contains the path {path!r}, which is not absolute",
            hint="the package is malformed or hostile; do not install it",
        )
    parts = tuple(p for p in path.split("/") if p)
    if any(p in (".", "..") for p in parts):
        raise PackageError(
            f"{package} contains the path {path!r}, which escapes the root with '.' or '..'",
            hint="the package is malformed or hostile; do not install it",
        )
    return parts


def place(  # noqa: PLR0911, PLR0912 -- one branch per rule reads like the rule table
    path: str, kind: Kind, *, package: str, compose: bool = False
) -> Placement:
    """Decide where one payload path goes; PackageError for paths a layered tree cannot hold."""
    parts = normalize(path, package=package)
    if not parts:
        return Placement(Action.DROP)
    if compose and (linked := _var_link(parts, kind)) is not None:
        return linked
    top, rest = parts[0], parts[1:]
    if top in USRMOVE and rest:
        return Placement(Action.PLACE, "/".join(("usr", top, *rest)))
    if top == "usr":
        if len(rest) >= 1 and rest[0] == "local" and not compose:
            raise PackageError(
                f"{package} installs {path}: /usr/local belongs to the administrator "
                "and cannot be layered",
                hint="ask for a package that installs under /usr instead",
            )
        return Placement(Action.PLACE, "/".join(parts))
    if top == "etc":
        return Placement(Action.PLACE, "/".join(("usr", "etc", *rest)))
    if top == "boot":
        return Placement(Action.PLACE, "/".join(("usr", "lib", "ostree-boot", *rest)))
    if top in ("var", "run"):
        if not rest:
            return Placement(Action.PLACE, top) if compose else Placement(Action.DROP)
        if top == "var" and (kept := _var_in_usr(rest, kind)) is not None:
            return kept
        if kind == Kind.FILE:
            # /run is runtime state; a /var file is created at boot ("f", or "C" from a
            # copy of its content under usr/share/factory, decided by its size)
            return (
                Placement(Action.DROP) if top == "run" else Placement(Action.TMPFILES, tmpfiles="f")
            )
        return Placement(Action.TMPFILES, tmpfiles="d" if kind == Kind.DIR else "L")
    if top == "opt":
        if not rest:
            return Placement(Action.PLACE, "opt") if compose else Placement(Action.DROP)
        target = "/".join(("usr", "lib", "opt", *rest))
        return Placement(Action.PLACE, target, opt_link=f"/opt/{rest[0]}")
    if compose:
        # The filesystem package owns /bin -> usr/bin, /tmp, /proc, /home, ... in a base.
        return Placement(Action.PLACE, "/".join(parts))
    if not rest and kind in (Kind.DIR, Kind.SYMLINK) and top in USRMOVE:
        return Placement(Action.DROP)
    raise PackageError(
        f"{package} installs {path}: only /usr, /etc, /opt, /boot, /var and /run "
        "can be layered on an immutable base",
        hint="such packages belong in the base image (compose tree), not in a layer",
    )


def _var_in_usr(rest: tuple[str, ...], kind: Kind) -> Placement | None:
    for prefix, moved in VAR_IN_USR.items():
        if rest[: len(prefix)] != prefix:
            continue
        path = "/".join((*moved, *rest[len(prefix) :]))
        if len(rest) == len(prefix) and kind == Kind.DIR:
            return Placement(Action.PLACE, path, var_link="/var/" + "/".join(prefix))
        return Placement(Action.PLACE, path)
    return None


def _var_link(parts: tuple[str, ...], kind: Kind) -> Placement | None:
    """Compose rules for the directories of VAR_LINKS: the directory becomes a symlink
    plus a tmpfiles ``d`` line for its target; what lies below becomes tmpfiles lines."""
    for prefix, (target, var_path) in VAR_LINKS.items():
        n = len(prefix)
        if parts[:n] != prefix:
            continue
        if len(parts) == n:
            if kind == Kind.DIR:
                return Placement(
                    Action.PLACE,
                    "/".join(prefix),
                    link=target,
                    tmpfiles="d",
                    tmpfiles_path=var_path,
                )
            return None  # a package shipping the link itself: the usual rules
        if prefix == ("opt",):
            return None  # /opt/X moves to /usr/lib/opt/X as in layering
        below = "/".join((var_path, *parts[n:]))
        if kind == Kind.FILE:
            return Placement(Action.DROP)
        return Placement(
            Action.TMPFILES, tmpfiles="d" if kind == Kind.DIR else "L", tmpfiles_path=below
        )
    return None
