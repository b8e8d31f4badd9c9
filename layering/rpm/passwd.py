"""Users and groups of a tree: /usr/etc/passwd (the admin's) and /usr/lib/passwd (packages').

An immutable host splits its user database the nss-altfiles way: ``/etc/passwd``
belongs to the administrator (its default in ``/usr/etc``), while users that
packages create live in ``/usr/lib/passwd`` inside the commit, so uninstalling
a package (re-assembling without it) removes them again.

Package scripts only know ``/etc/passwd`` (useradd reads and writes that file), so
before scripts run the tree's ``usr/etc/passwd`` holds the union of both files, so
that new ids never collide with ids the base already uses; afterwards the entries
the scripts added move to ``usr/lib/passwd`` and ``usr/etc/passwd`` returns to the
base's bytes. The same happens for ``group``; ``shadow``/``gshadow`` return to the
base's bytes (package users have locked passwords anyway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DATABASES = ("passwd", "group")
SHADOWS = ("shadow", "gshadow")
BACKUPS = ("passwd-", "group-", "shadow-", "gshadow-", ".pwd.lock", "subuid-", "subgid-")
ETC = "usr/etc"
LIB = "usr/lib"
# On a composed base these stay in /etc, everything else moves to /usr/lib.
KEEP_IN_ETC = {"passwd": frozenset({"root"}), "group": frozenset({"root", "wheel"})}


@dataclass(frozen=True)
class Split:
    """New contents of usr/etc/NAME and usr/lib/NAME after the scripts ran."""

    etc: bytes | None
    lib: bytes | None


def _lines(data: bytes | None) -> list[str]:
    if not data:
        return []
    return [line for line in data.decode("utf-8", "surrogateescape").splitlines() if line.strip()]


def _name(line: str) -> str:
    return line.split(":", 1)[0]


def _join(lines: Iterable[str]) -> bytes:
    text = "".join(f"{line}\n" for line in lines)
    return text.encode("utf-8", "surrogateescape")


def merged_for_scripts(
    etc: bytes | None, lib: bytes | None, admin: bytes | None = None
) -> bytes | None:
    """usr/etc/NAME as scripts should see it: the base's etc entries, then lib's others,
    then the administrator's others (the merge deployment's /etc/NAME), so that
    ``getent`` finds users the administrator created and ``useradd`` never reuses
    their ids (as rpm-ostree hands scripts the merge deployment's passwd)."""
    if etc is None and lib is None and admin is None:
        return None
    out = _lines(etc)
    known = {_name(line) for line in out}
    for line in _lines(lib) + _lines(admin):
        if _name(line) not in known:
            known.add(_name(line))
            out.append(line)
    return _join(out)


def split_after_scripts(
    base_etc: bytes | None,
    base_lib: bytes | None,
    after: bytes | None,
    admin: bytes | None = None,
    *,
    new_in_etc: bool = False,
) -> Split:
    """Move what the scripts added to usr/lib; keep usr/etc as the base had it.

    ``new_in_etc``: the tree cannot read usr/lib (no nss-altfiles), so added entries stay
    in usr/etc after the base's, where rpm would have left them.

    Entries the scripts modified (a package adding a member to an existing group)
    keep their modified form in whichever file held them. The administrator's own
    entries (``admin``, shown to the scripts) stay in /etc only: they are not the
    package's.
    """
    after_lines = _lines(after)
    after_by_name = {_name(line): line for line in after_lines}
    etc_names = [_name(line) for line in _lines(base_etc)]
    lib_names = [_name(line) for line in _lines(base_lib)]
    known = set(etc_names) | set(lib_names) | {_name(line) for line in _lines(admin)}
    new = [line for line in after_lines if _name(line) not in known]
    etc_out = [after_by_name[n] for n in etc_names if n in after_by_name]
    lib_out = [after_by_name[n] for n in lib_names if n in after_by_name]
    if new_in_etc:
        etc_out += new
    else:
        lib_out += new
    return Split(
        etc=_join(etc_out) if base_etc is not None or etc_out else None,
        lib=_join(lib_out) if base_lib is not None or lib_out else None,
    )


def split_composed(database: str, etc: bytes | None, lib: bytes | None) -> Split:
    """A composed base: all but root (and wheel) move to usr/lib, as rpm-ostree does."""
    keep = KEEP_IN_ETC.get(database, frozenset())
    lines = _lines(lib) + _lines(etc)
    seen: set[str] = set()
    etc_out: list[str] = []
    lib_out: list[str] = []
    for line in _lines(etc) + _lines(lib):
        name = _name(line)
        if name in seen:
            continue
        seen.add(name)
        (etc_out if name in keep else lib_out).append(line)
    if not lines:
        return Split(etc=None, lib=None)
    return Split(etc=_join(etc_out), lib=_join(lib_out))


NSSWITCH = "usr/etc/nsswitch.conf"
_FILES_WORD = re.compile(rb"(?<=\s)files(?=\s|$)")
ALTFILES_DATABASES = ("passwd", "group")


def with_altfiles(nsswitch: bytes) -> bytes:
    """nsswitch.conf with ``altfiles`` after ``files`` for passwd and group.

    A composed tree keeps all users but root in ``/usr/lib/passwd``; glibc only finds
    them through the nss-altfiles module, so, as rpm-ostree's compose does, the
    ``passwd:`` and ``group:`` lines name it right after ``files``. Lines that already
    name it, or name no ``files``, are left alone (an unknown module is skipped by glibc).
    """
    out: list[bytes] = []
    for line in nsswitch.splitlines(keepends=True):
        words = line.split(b"#", 1)[0].split()
        if (
            words
            and words[0].rstrip(b":").decode("ascii", "replace") in ALTFILES_DATABASES
            and words[0].endswith(b":")
            and b"files" in words[1:]
            and b"altfiles" not in words
        ):
            out.append(_FILES_WORD.sub(b"files altfiles", line, count=1))
        else:
            out.append(line)
    return b"".join(out)


def ids(*files: bytes | None) -> Mapping[str, int]:
    """name -> numeric id (third field) from passwd or group files; the first file wins."""
    out: dict[str, int] = {}
    for data in files:
        for line in _lines(data):
            fields = line.split(":")
            if len(fields) >= 3 and fields[2].isdigit():
                out.setdefault(fields[0], int(fields[2]))
    return out
