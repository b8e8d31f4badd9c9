"""Run ``-p <lua>`` scriptlets through rpm's embedded Lua, inside the sandbox.

rpm runs Lua scriptlets in its own process, chrooted into the target root, with
its ``rpm`` and ``posix`` extensions loaded. The tree being built may not hold
rpm at all, so the host's ``rpmlua`` (the same interpreter, standalone) is
started inside the sandbox from a read-only view of the host's ``/usr`` at
``/run/host``, through the host's dynamic loader with ``--library-path``:
nothing of the host is loaded from the tree, and the script still sees the new
tree as ``/``. ``RPM_CONFIGDIR`` points rpm at the host's configuration (rpmrc,
macros), and ``_dbpath`` is set to the tree's rpmdb, so ``rpm.expand`` and
friends behave as they would in a real transaction.

The body is passed as a file, never through macro expansion, so ``%`` in a
scriptlet means what it means in Lua. ``arg`` is laid out as rpm does it:
``arg[1]`` is the script's name, ``arg[2]`` the install count. A Lua file
trigger reads its matching paths with ``rpm.next_file()``, as in rpm.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.errors import TriggerError

HOST_MOUNT = "/run/host"
RPMDB_PATH = "/usr/lib/sysimage/rpm"

# Run before the scriptlet: the tree's rpmdb, and rpm.next_file() for Lua file
# triggers, which in rpm iterates the matching paths we feed on stdin.
PRELUDE = (
    f'rpm.define("_dbpath {RPMDB_PATH}") rpm.next_file = function() return io.stdin:read("l") end'
)


@dataclass(frozen=True)
class HostLua:
    """Where the host's Lua-capable rpm lives, resolved to real paths."""

    loader: Path  # the host's dynamic loader (PT_INTERP of rpmlua)
    binary: Path  # rpmlua
    library_dirs: tuple[Path, ...]  # where rpmlua's libraries resolved on the host
    config_dir: Path  # rpm's configuration directory (rpmrc, macros)

    def host_dirs(self) -> tuple[Path, ...]:
        """The top-level host directories the sandbox must see at /run/host."""
        paths = [self.loader, self.binary, self.config_dir, *self.library_dirs]
        return tuple(sorted({Path("/", p.parts[1]) for p in paths}))

    def command(self, script: str, args: tuple[int, ...]) -> list[str]:
        """The argv, as seen inside the sandbox, running the Lua file ``script``."""
        inside = _inside
        return [
            inside(self.loader),
            "--library-path",
            ":".join(inside(d) for d in self.library_dirs),
            inside(self.binary),
            "-e",
            PRELUDE,
            script,
            *(str(a) for a in args),
        ]

    def environment(self) -> dict[str, str]:
        return {"RPM_CONFIGDIR": _inside(self.config_dir)}


def _inside(path: Path) -> str:
    return HOST_MOUNT + str(path)


def elf_interpreter(binary: Path) -> Path:
    """Read PT_INTERP (the dynamic loader) from a 64-bit little-endian ELF file."""
    data = binary.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise TriggerError(f"Cannot run Lua scriptlets: {binary} is not a 64-bit LE ELF file")
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        base = phoff + i * phentsize
        (p_type,) = struct.unpack_from("<I", data, base)
        if p_type == 3:  # PT_INTERP
            (offset,) = struct.unpack_from("<Q", data, base + 8)
            (size,) = struct.unpack_from("<Q", data, base + 32)
            return Path(data[offset : offset + size].rstrip(b"\0").decode())
    raise TriggerError(f"Cannot run Lua scriptlets: {binary} is statically linked")


def _library_dirs(loader: Path, binary: Path) -> tuple[Path, ...]:
    listing = subprocess.run(
        [str(loader), "--list", str(binary)], capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        raise TriggerError(
            f"Cannot run Lua scriptlets: resolving the libraries of {binary} failed",
            returncode=listing.returncode,
            output_tail=listing.stderr[-2000:],
        )
    dirs: list[Path] = []
    for line in listing.stdout.splitlines():
        if "=>" not in line:
            continue
        target = line.split("=>", 1)[1].strip().split(" (")[0]
        if target.startswith("/"):
            resolved = Path(os.path.realpath(target)).parent
            if resolved not in dirs:
                dirs.append(resolved)
    return tuple(dirs)


def _config_dir() -> Path:
    found = subprocess.run(
        ["rpm", "--eval", "%{_rpmconfigdir}"], capture_output=True, text=True, check=False
    )
    text = found.stdout.strip()
    return Path(os.path.realpath(text)) if found.returncode == 0 and text else Path("/usr/lib/rpm")


@functools.cache
def host_lua() -> HostLua:
    """Locate the host's rpmlua once; TriggerError with a hint when it is missing."""
    found = shutil.which("rpmlua")
    if found is None:
        raise TriggerError(
            "Cannot run a Lua scriptlet: the host has no rpmlua (rpm's Lua interpreter)",
            hint="install the rpm package of your distribution (it ships rpmlua)",
        )
    binary = Path(os.path.realpath(found))
    loader = Path(os.path.realpath(elf_interpreter(binary)))
    return HostLua(
        loader=loader,
        binary=binary,
        library_dirs=_library_dirs(loader, binary),
        config_dir=_config_dir(),
    )
