"""File capabilities: rpm's text form (``cap_net_raw=ep``) to a ``security.capability`` value.

rpm keeps file capabilities as cap_to_text() strings in RPMTAG_FILECAPS and applies
them with libcap at install time. A tree in the store keeps xattrs as bytes, so the
importer needs the kernel's on-disk form (struct vfs_cap_data, revision 2) without
touching a real file. The grammar is libcap's: space-separated clauses of
``names`` + operator list (``=``, ``+``, ``-``) + flags (``e``, ``i``, ``p``).
"""

from __future__ import annotations

import struct

from core.errors import PackageError

XATTR = "security.capability"

# linux/capability.h, in number order.
NAMES = (
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
)
_NUMBER = {f"cap_{name}": i for i, name in enumerate(NAMES)}
_ALL = (1 << len(NAMES)) - 1
_REVISION_2 = 0x02000000
_EFFECTIVE = 0x000001


def _parse_names(text: str, caps: str) -> int:
    if text in ("", "all"):
        return _ALL
    bits = 0
    for name in text.split(","):
        key = name.strip().lower()
        if key.isdigit():
            bits |= 1 << int(key)
        elif key in _NUMBER:
            bits |= 1 << _NUMBER[key]
        else:
            raise PackageError(f"unknown capability {name!r} in file capabilities {caps!r}")
    return bits


def to_xattr(caps: str) -> bytes | None:
    """The security.capability value for ``caps``; None when the set is empty."""
    sets = {"e": 0, "i": 0, "p": 0}
    for clause in caps.split():
        split = min((clause.find(op) for op in "=+-" if op in clause), default=-1)
        if split < 0:
            raise PackageError(f"malformed file capabilities {caps!r}: {clause!r} has no operator")
        bits = _parse_names(clause[:split], caps)
        rest = clause[split:]
        while rest:
            op, rest = rest[0], rest[1:]
            flags = ""
            while rest and rest[0] not in "=+-":
                flags, rest = flags + rest[0], rest[1:]
            if op == "=":
                for key in sets:
                    sets[key] &= ~bits
            for flag in flags.lower():
                if flag not in sets:
                    raise PackageError(f"malformed file capabilities {caps!r}: flag {flag!r}")
                sets[flag] = sets[flag] | bits if op in "=+" else sets[flag] & ~bits
    if not (sets["e"] | sets["i"] | sets["p"]):
        return None
    magic = _REVISION_2 | (_EFFECTIVE if sets["e"] else 0)
    p, i = sets["p"], sets["i"]
    return struct.pack("<IIIII", magic, p & 0xFFFFFFFF, i & 0xFFFFFFFF, p >> 32, i >> 32)
