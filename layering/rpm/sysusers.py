"""sysusers.d: users and groups a package declares instead of creating them in %pre.

systemd-sysusers would create them at boot in the administrator's /etc/passwd, too
late for the files the package owns (assembly must give them their ids now) and in
the wrong file for an image (uninstall would not remove them). So assembly applies
the layered packages' sysusers.d files itself, adding only what does not exist yet
to ``usr/lib/passwd``/``usr/lib/group``; at boot systemd-sysusers then finds them
(through nss-altfiles) and does nothing.

Only ``u`` and ``g`` lines are applied; ``m`` and ``r`` are left to systemd-sysusers.
Allocation follows systemd-sysusers: an explicit id when it is free, else the
highest free system id (999 downwards); a user prefers the uid equal to its group's
gid. Deterministic: files in path order, lines in file order.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

SYSUSERS_DIR = "usr/lib/sysusers.d"
SYSTEM_MAX = 999
SYSTEM_MIN = 101
NOLOGIN = "/usr/sbin/nologin"


@dataclass(frozen=True)
class Added:
    passwd: tuple[str, ...]  # new lines for usr/lib/passwd
    group: tuple[str, ...]  # new lines for usr/lib/group


def _entries(text: bytes | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or b"").decode("utf-8", "surrogateescape").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            out.setdefault(fields[0], int(fields[2]))
    return out


def _free(used: set[int], *also: set[int]) -> int | None:
    for candidate in range(SYSTEM_MAX, SYSTEM_MIN - 1, -1):
        if candidate not in used and all(candidate not in s for s in also):
            return candidate
    return None


def _parse_id(text: str) -> tuple[int | None, str | None]:
    """ "-" / "123" / "123:456" / "123:groupname" -> (uid, gid or group name)."""
    if text in ("-", "") or text.startswith("/"):
        return None, None
    uid_text, _, gid_text = text.partition(":")
    uid = int(uid_text) if uid_text.isdigit() else None
    return uid, gid_text or None


def apply(confs: Iterable[bytes], passwd_text: bytes | None, group_text: bytes | None) -> Added:
    """New passwd/group lines for what ``confs`` declare and the files lack."""
    users = _entries(passwd_text)
    groups = _entries(group_text)
    uids, gids = set(users.values()), set(groups.values())
    new_passwd: list[str] = []
    new_group: list[str] = []

    def add_group(name: str, wanted: int | None, prefer: set[int] | None = None) -> int | None:
        if name in groups:
            return groups[name]
        gid = wanted if wanted is not None and wanted not in gids else None
        if gid is None:
            gid = _free(gids, *(() if prefer is None else (prefer,)))
        if gid is None:
            return None
        groups[name] = gid
        gids.add(gid)
        new_group.append(f"{name}:x:{gid}:")
        return gid

    for conf in confs:
        for raw in conf.decode("utf-8", "surrogateescape").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                fields = shlex.split(line)
            except ValueError:
                continue
            kind, name = fields[0].rstrip("!"), fields[1] if len(fields) > 1 else ""
            ident = fields[2] if len(fields) > 2 else "-"
            if kind == "g" and name:
                add_group(name, _parse_id(ident)[0])
            elif kind == "u" and name and name not in users:
                uid_wanted, gid_spec = _parse_id(ident)
                if gid_spec is not None and not gid_spec.isdigit():
                    gid = add_group(gid_spec, None)
                else:
                    wanted = int(gid_spec) if gid_spec else uid_wanted
                    gid = add_group(name, wanted, prefer=uids)
                uid = uid_wanted if uid_wanted is not None and uid_wanted not in uids else None
                if uid is None and gid is not None and gid not in uids:
                    uid = gid
                if uid is None:
                    uid = _free(uids)
                if uid is None or gid is None:
                    continue
                gecos = fields[3] if len(fields) > 3 and fields[3] != "-" else ""
                home = fields[4] if len(fields) > 4 and fields[4] != "-" else "/"
                shell = fields[5] if len(fields) > 5 and fields[5] != "-" else NOLOGIN
                users[name] = uid
                uids.add(uid)
                new_passwd.append(f"{name}:x:{uid}:{gid}:{gecos}:{home}:{shell}")
            # "m" (membership) and "r" (ranges) lines are left to systemd-sysusers at boot
    return Added(tuple(new_passwd), tuple(new_group))
