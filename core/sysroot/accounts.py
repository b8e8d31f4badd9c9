"""The account databases in /etc, merged by entry name when /etc is carried over.

``/etc/passwd``, ``/etc/group``, ``/etc/shadow`` and ``/etc/gshadow`` are edited by
both sides: the administrator adds users and sets passwords, and a new tree adds the
users its new packages created (where users stay in /etc, or always for shadow and
gshadow). The whole-file rule of the /etc merge would keep only one side, so a
deployment's daemon user would vanish the first time someone ran ``passwd``. These
files are merged by the first field instead:

* every line of the administrator's file stays as it is, in its place (local entries
  win, comments and odd lines included);
* an entry of the new defaults whose name is neither in the administrator's file nor
  in the old defaults (so the new tree added it) is appended, in the new file's order;
* an entry the administrator deleted (in the old defaults, not in /etc) stays deleted.
* in group and gshadow, members (and gshadow's administrators) the new tree added to
  a group the administrator also has are added to the local line (a package's
  ``useradd -G mail`` puts its user into ``mail``); members the administrator removed
  stay removed.

The files are plain formats of the OS (name, colon, fields); nothing here knows where
an entry came from. Lines of the new defaults that have no name are never added.
"""

from __future__ import annotations

from pathlib import Path

# database -> the fields (0-based) that are comma-separated lists of user names
DATABASES = {"passwd": (), "group": (3,), "shadow": (), "gshadow": (2, 3)}


def _name(line: bytes) -> bytes | None:
    """The entry's name, or None for a line that is not an entry (blank, comment,
    NIS ``+``/``-`` compat line, no colon)."""
    name, colon, _ = line.partition(b":")
    if not colon or not name.strip() or name[:1] in (b"#", b"+", b"-"):
        return None
    return name


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines()


def _by_name(data: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for line in _lines(data):
        name = _name(line)
        if name is not None:
            out.setdefault(name, line)
    return out


def _members(line: bytes | None, field: int) -> list[bytes]:
    fields = line.split(b":") if line is not None else []
    if field >= len(fields):
        return []
    return [m for m in fields[field].split(b",") if m]


def _add_members(line: bytes, old: bytes | None, new: bytes, list_fields: tuple[int, ...]) -> bytes:
    """``line`` (the administrator's) with the list members ``new`` has over ``old``."""
    fields = line.split(b":")
    for field in list_fields:
        if field >= len(fields) or len(new.split(b":")) != len(fields):
            continue  # not the shape we know: the local line stays as it is
        mine = _members(line, field)
        before = set(_members(old, field))
        extra = [m for m in _members(new, field) if m not in before and m not in mine]
        if extra:
            fields[field] = b",".join(mine + extra)
    return b":".join(fields)


def merge_entries(
    old_default: bytes, local: bytes, new_default: bytes, list_fields: tuple[int, ...] = ()
) -> bytes:
    """``local`` plus what ``new_default`` adds over ``old_default`` (see the module doc):
    new entries, and new list members in the ``list_fields`` of existing ones. The
    result ends with a newline when it has any line."""
    old, new = _by_name(old_default), _by_name(new_default)
    out, known, seen = [], set(old), set()
    for line in _lines(local):
        name = _name(line)
        if name is None:
            out.append(line)
            continue
        first = name not in seen  # a duplicate line is kept as it is
        seen.add(name)
        known.add(name)
        if first and name in new and list_fields:
            out.append(_add_members(line, old.get(name), new[name], list_fields))
        else:
            out.append(line)
    for line in _lines(new_default):
        name = _name(line)
        if name is not None and name not in known:
            out.append(line)
            known.add(name)
    merged = b"".join(line + b"\n" for line in out)
    return local if merged.rstrip(b"\n") == local.rstrip(b"\n") else merged


def read_account_file(path: Path) -> bytes | None:
    """The content of an account database that is a regular file, else None."""
    if path.is_symlink() or not path.is_file():
        return None
    return path.read_bytes()


def merge_account_file(
    old_default: bytes, local: Path, new_default: bytes, list_fields: tuple[int, ...] = ()
) -> bool:
    """Rewrite ``local`` (already copied into the new /etc, keeping its owner, mode and
    xattrs) with the entries ``new_default`` added; True when something was added.
    Only a regular file takes part: anything else keeps the whole-file rule."""
    current = read_account_file(local)
    if current is None:
        return False
    merged = merge_entries(old_default, current, new_default, list_fields)
    if merged == current:
        return False
    # in place: owner, mode and xattrs stay (the new /etc is renamed in as a whole later)
    with local.open("r+b") as stream:
        stream.write(merged)
        stream.truncate()
    return True
