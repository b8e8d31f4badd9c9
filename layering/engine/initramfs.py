"""A small initramfs for a composed tree: busybox, the modules to reach the root, and
libostree's own ``ostree-prepare-root``.

rpm-ostree runs dracut at compose time; this generator does the same job for the
one boot path Strata supports, in a few hundred kilobytes of its own code:

* ``/bin/busybox`` (a static build, given as a path: the treefile's ``initramfs.busybox``)
  provides the shell and every tool the ``/init`` script uses;
* the kernel modules the treefile names (default: virtio-pci, virtio-blk, ext4) and
  every module they depend on, read from the composed tree's
  ``usr/lib/modules/KVER/kernel`` (dependencies come from each module's own
  ``.modinfo`` ``depends=``, the data depmod reads, so the tree needs no
  ``modules.dep``); a module the kernel has built in (``modules.builtin``) is skipped;
* ``ostree-prepare-root`` (``initramfs.ostree-prepare-root``, e.g. from Debian's
  ``ostree-boot``) at ``/usr/lib/ostree/ostree-prepare-root``, with the shared
  libraries ``ldd`` finds for it, each at the path the loader found it;
* ``/init``: mount the API filesystems, load the modules in dependency order, mount
  ``root=`` (``rootfstype=``, ``rootflags=``, ``ro``/``rw``) at ``/sysroot``, run
  ``ostree-prepare-root /sysroot`` (which sets up the deployment ``ostree=`` names,
  read-only ``/usr``, the stateroot's ``/var``), move ``/dev`` and ``/run`` into it and
  ``switch_root`` to ``init=`` (default ``/sbin/init``). On any failure it says what
  failed on the console and powers off rather than hang.

The archive is cpio ``newc`` written here: entries sorted, owner root, mtime 0, inode
numbers in order, compressed with gzip (mtime 0) or zstd, so the same inputs give
the same bytes and ``compose tree`` stays reproducible.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import stat
import struct
import subprocess
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.errors import ConfigError
from core.store import Store
from core.store.types import EntryKind, FileMeta

MODULES_DIR = "usr/lib/modules"
PREPARE_ROOT = "usr/lib/ostree/ostree-prepare-root"
DEFAULT_MODULES = ("virtio_pci", "virtio_blk", "ext4")
_MODULE_SUFFIXES = (".ko", ".ko.xz")
_LDD_LIB = re.compile(r"^\s*\S+\s+=>\s+(/\S+)\s+\(0x[0-9a-f]+\)\s*$")
_LDD_LOADER = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


class Compression(StrEnum):
    GZIP = "gzip"
    ZSTD = "zstd"


@dataclass(frozen=True)
class InitramfsConfig:
    """The treefile's ``initramfs`` mapping; paths are the build host's."""

    busybox: Path
    prepare_root: Path
    modules: tuple[str, ...] = DEFAULT_MODULES
    compression: Compression = Compression.GZIP

    def host_files(self) -> list[Path]:
        return [self.busybox, self.prepare_root, *shared_libraries(self.prepare_root)]

    def digest(self) -> str:
        """What the archive depends on besides the tree: every host file's bytes."""
        sha = hashlib.sha256()
        for path in self.host_files():
            sha.update(f"{path}\0".encode())
            sha.update(hashlib.sha256(_read_host(path)).digest())
        return sha.hexdigest()


# -- cpio newc -------------------------------------------------------------------------------


class Cpio:
    """A ``newc`` archive in memory, entries in the order added (callers sort)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._ino = 0

    def _add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        self._ino += 1
        encoded = name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(mode) else 1
        fields = (self._ino, mode, 0, 0, nlink, 0, len(data), 0, 0, *rdev, len(encoded), 0)
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self._parts += [header, encoded, b"\0" * (-(len(header) + len(encoded)) % 4)]
        self._parts += [data, b"\0" * (-len(data) % 4)]

    def directory(self, name: str) -> None:
        self._add(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._add(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._add(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._add(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._add("TRAILER!!!", 0)
        return b"".join(self._parts)


def compress(data: bytes, how: Compression) -> bytes:
    if how is Compression.GZIP:
        # zlib with a fixed gzip header: no file name, mtime 0
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        return compressor.compress(data) + compressor.flush()
    result = subprocess.run(["zstd", "-q", "-c", "-"], input=data, capture_output=True, check=False)
    if result.returncode != 0:
        raise ConfigError(
            f"zstd failed compressing the initramfs: {result.stderr.decode(errors='replace')}",
            hint="install zstd, or set initramfs.compression: gzip",
        )
    return result.stdout


# -- kernel modules ----------------------------------------------------------------------------


def modinfo(data: bytes, what: str) -> dict[str, str]:
    """The ``.modinfo`` section of an ELF64 little-endian module (first value per key)."""
    try:
        if data[:6] != b"\x7fELF\x02\x01":
            raise ValueError("not an ELF64 little-endian file")
        shoff = struct.unpack_from("<Q", data, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        sections = [
            struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)
        ]
        names_at = sections[shstrndx][4]
        for name, _type, _flags, _addr, offset, size in sections:
            end = data.index(b"\0", names_at + name)
            if data[names_at + name : end] == b".modinfo":
                if offset + size > len(data):
                    raise ValueError("section past the end of the file")
                out: dict[str, str] = {}
                for item in data[offset : offset + size].split(b"\0"):
                    key, sep, value = item.partition(b"=")
                    if sep:
                        out.setdefault(key.decode(errors="replace"), value.decode(errors="replace"))
                return out
        return {}
    except (struct.error, ValueError, IndexError, OverflowError) as err:
        raise ConfigError(
            f"Kernel module {what} is not a readable ELF module: {err}",
            hint="the kernel package is damaged; rebuild it",
        ) from err


def _name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in _MODULE_SUFFIXES:
        base = base.removesuffix(suffix)
    return base.replace("-", "_")


def module_closure(
    wanted: Sequence[str],
    available: dict[str, str],
    builtin: set[str],
    read: Callable[[str], bytes],
) -> list[str]:
    """Module paths to load, dependencies first; built-in modules are skipped."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        name = name.replace("-", "_")
        if name in seen or name in builtin:
            return
        seen.add(name)
        if name not in available:
            via = f" (needed by {' -> '.join(chain)})" if chain else ""
            raise ConfigError(
                f"Kernel module {name}{via} is neither in the tree nor built into the kernel",
                hint="add it to the kernel package, or drop it from initramfs.modules",
            )
        path = available[name]
        for dep in modinfo(read(path), path).get("depends", "").split(","):
            if dep:
                visit(dep, (*chain, name))
        order.append(path)

    for name in wanted:
        visit(name, ())
    return order


# -- host files --------------------------------------------------------------------------------


def _read_host(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(
            f"Cannot read {path} for the initramfs: {err.strerror}",
            hint="set initramfs.busybox and initramfs.ostree-prepare-root in the treefile to "
            "existing files (`make boot-deps` fetches them)",
        ) from err


def shared_libraries(program: Path) -> list[Path]:
    """The libraries (and loader) ``ldd`` resolves for ``program``, by the path it found."""
    _read_host(program)
    result = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=False)
    if "not a dynamic executable" in result.stdout + result.stderr:
        return []
    if result.returncode != 0 or "not found" in result.stdout:
        raise ConfigError(
            f"ldd cannot resolve every library of {program}:\n{result.stdout}{result.stderr}",
            hint="install the libraries it needs on the build host",
        )
    found: list[Path] = []
    for line in result.stdout.splitlines():
        match = _LDD_LIB.match(line) or _LDD_LOADER.match(line)
        if match:
            found.append(Path(match.group(1)))
    return sorted(set(found))


# -- the archive ---------------------------------------------------------------------------


INIT = r"""#!/bin/busybox sh
# Strata's initramfs /init: mount root=, let ostree-prepare-root set up ostree=, switch.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
fail() { echo "strata-initramfs: $*" >/dev/console; sync; poweroff -f; }
while read -r module; do
  [ -n "$module" ] && { insmod "/$module" || fail "cannot load $module"; }
done < /etc/strata-initramfs/modules
root=; fstype=auto; flags=; mode=ro; init=/sbin/init
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    root=*) root="${arg#root=}" ;;
    rootfstype=*) fstype="${arg#rootfstype=}" ;;
    rootflags=*) flags=",${arg#rootflags=}" ;;
    ro) mode=ro ;;
    rw) mode=rw ;;
    init=*) init="${arg#init=}" ;;
  esac
done
[ -n "$root" ] || fail "no root= on the kernel command line"
case "$root" in UUID=*|LABEL=*) root="$(findfs "$root")" || fail "no device $root" ;; esac
i=0
while [ ! -b "$root" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$root" ] || fail "root device $root did not appear"
if [ "$fstype" = auto ]; then
  mount -o "$mode$flags" "$root" /sysroot || fail "cannot mount $root"
else
  mount -t "$fstype" -o "$mode$flags" "$root" /sysroot || fail "cannot mount $root"
fi
mkdir -p /run/ostree && touch /run/ostree/initramfs-mount-var
/usr/lib/ostree/ostree-prepare-root /sysroot || fail "ostree-prepare-root failed"
mount --move /run /sysroot/run 2>/dev/null || umount /run
mount --move /dev /sysroot/dev 2>/dev/null || umount /dev
umount /sys /proc
exec switch_root /sysroot "$init"
"""

_DIRS = ("bin", "dev", "etc", "etc/strata-initramfs", "proc", "run", "sys", "sysroot", "tmp")


def build_archive(
    config: InitramfsConfig, modules: Sequence[tuple[str, bytes]], kver: str
) -> bytes:
    """The compressed archive: ``modules`` are (path in the tree, bytes), in load order."""
    files: dict[str, tuple[bytes, int]] = {
        "init": (INIT.encode(), 0o755),
        "bin/busybox": (_read_host(config.busybox), 0o755),
        PREPARE_ROOT: (_read_host(config.prepare_root), 0o755),
        "etc/strata-initramfs/kver": (f"{kver}\n".encode(), 0o644),
    }
    listing = []
    for path, data in modules:
        plain = path.removesuffix(".xz")
        files[plain] = (lzma.decompress(data) if path.endswith(".xz") else data, 0o644)
        listing.append(plain)
    files["etc/strata-initramfs/modules"] = ("".join(f"{p}\n" for p in listing).encode(), 0o644)
    for lib in shared_libraries(config.prepare_root):
        files[str(lib).lstrip("/")] = (_read_host(lib.resolve()), 0o755)
    return compress(_archive(files), config.compression)


def _archive(files: dict[str, tuple[bytes, int]]) -> bytes:
    dirs = set(_DIRS)
    for path in files:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    cpio = Cpio()
    for name in sorted(dirs | set(files) | {"dev/console"}):
        if name == "dev/console":
            cpio.char_device(name, 5, 1)  # /init's stdio before devtmpfs is mounted
        elif name in dirs:
            cpio.directory(name)
        else:
            data, mode = files[name]
            cpio.file(name, data, mode)
    return cpio.finish()


def _kernel_version(store: Store, tree: str) -> str:
    kvers = (
        sorted(
            e.path.rsplit("/", 1)[-1]
            for e in store.walk(tree, MODULES_DIR)
            if e.kind is EntryKind.DIR and e.path.count("/") == MODULES_DIR.count("/") + 1
        )
        if store.lookup(tree, MODULES_DIR) is not None
        else []
    )
    for kver in kvers:
        entry = store.lookup(tree, f"{MODULES_DIR}/{kver}/vmlinuz")
        if entry is not None and entry.kind is EntryKind.FILE:
            return kver
    raise ConfigError(
        "The treefile asks for an initramfs, but the composed tree has no kernel "
        f"({MODULES_DIR}/KVER/vmlinuz)",
        hint="add a kernel package to the treefile's packages",
    )


def add_initramfs(store: Store, tree: str, config: InitramfsConfig) -> str:
    """``tree`` with ``usr/lib/modules/KVER/initramfs.img`` built for its kernel."""
    kver = _kernel_version(store, tree)
    base = f"{MODULES_DIR}/{kver}"
    available = (
        {
            _name(e.path): e.path
            for e in store.walk(tree, f"{base}/kernel")
            if e.kind is EntryKind.FILE and e.path.endswith(_MODULE_SUFFIXES)
        }
        if store.lookup(tree, f"{base}/kernel") is not None
        else {}
    )
    builtin_text = (store.read_file(tree, f"{base}/modules.builtin") or b"").decode(
        errors="replace"
    )
    builtin = {_name(line.strip()) for line in builtin_text.splitlines() if line.strip()}

    def read(path: str) -> bytes:
        data = store.read_file(tree, path) or b""
        return lzma.decompress(data) if path.endswith(".xz") else data

    order = module_closure(config.modules, available, builtin, read)
    modules = [(path, store.read_file(tree, path) or b"") for path in order]
    image = build_archive(config, modules, kver)
    editor = store.edit(tree)
    editor.put_file(f"{base}/initramfs.img", image, FileMeta(0, 0, stat.S_IFREG | 0o644))
    return editor.write()
