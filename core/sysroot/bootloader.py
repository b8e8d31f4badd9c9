"""Boot Loader Specification entries and the one atomic step that changes the boot order.

libostree's conventions, kept so an ostree administrator finds their way:

* ``boot/loader`` is a symlink to ``loader.0`` or ``loader.1`` (the *bootversion*). A new
  boot order is written completely into the other directory, synced, and then the symlink
  is replaced by rename(2). That rename is the only step that changes what boots.
* Entries are ``loader.B/entries/ostree-N.conf`` (libostree's naming since 2024.5) with
  ``version N`` where ``N = number of deployments - index``: the default (index 0) has
  the highest version, and boot loaders sort entries by version, highest first.
* ``title`` is the tree's os-release ``PRETTY_NAME`` (else ``ID``), the commit's version
  when the name does not already hold it, and ``(ostree:INDEX)`` (``(ostree:OS:INDEX)``
  when several stateroots are listed).
* ``options`` carries ``ostree=/ostree/boot.B/OS/BOOTCSUM/BOOTSERIAL``; that path is a
  symlink (under ``ostree/boot.B -> boot.B.0``) to the deployment directory, so the
  deployment list is read back from the entries alone.
* A kernel at ``usr/lib/modules/KVER/vmlinuz`` (and ``initramfs.img`` or ``initramfs``
  beside it) is installed as ``boot/ostree/OS-BOOTCSUM/vmlinuz-KVER`` and
  ``initramfs-KVER.img`` (a hardlink when it can be, else a copy); BOOTCSUM is the
  SHA-256 of kernel + initramfs, so deployments with the same pair share the directory.
  ``linux``/``initrd`` paths are relative to the boot partition; ``boot/boot -> .`` makes
  them valid when ``/boot`` is a directory of the root filesystem. A kernel without an
  initramfs boots ``init=.../usr/lib/ostree/ostree-prepare-root`` directly. A tree
  without a kernel is accepted and gets no such lines.
* An entry is data from disk: one that does not parse (no ``version``, no ``ostree=``,
  not UTF-8) is an error naming the file, never guessed around.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.atomic import TEMP_PREFIX, fsync_dir, rename_durable, symlink_atomic, temp_name
from core.atomic import write_text as atomic_write_text
from core.errors import SysrootError
from core.faults import fault_point
from core.metacopy import remove_tree
from core.sysroot.deployment import DeploymentKey
from core.sysroot.kargs import KernelArgs, split
from core.sysroot.textdecode import comment, decode_text

EMPTY_BOOTCSUM = hashlib.sha256(b"").hexdigest()
_ENTRY_RE = re.compile(r"^ostree-(\d+)(-.*)?\.conf$")
_OSTREE_ARG_RE = re.compile(r"^ostree=(/ostree/boot\.\d+/.+)$")
_PREPARE_ROOT_INIT_RE = re.compile(
    r"^init=/ostree/boot\.\d+/.*/usr/lib/ostree/ostree-prepare-root$"
)
PREPARE_ROOT = "usr/lib/ostree/ostree-prepare-root"


@dataclass(frozen=True)
class KernelLayout:
    kver: str
    kernel: Path  # inside the deployment
    initramfs: Path | None
    bootcsum: str


@dataclass(frozen=True)
class BootPlan:
    """One deployment as the boot loader should see it, in boot order."""

    key: DeploymentKey
    root: Path
    kargs: str = ""
    version: str = ""


@dataclass(frozen=True)
class BootEntry:
    """A parsed BLS entry; ``target`` is the deployment its ``ostree=`` argument names."""

    title: str
    version: int
    kargs: str  # options without ostree=
    ostree_arg: str
    linux: str | None
    initrd: str | None
    target: DeploymentKey | None


def find_kernel(root: Path) -> KernelLayout | None:
    modules = root / "usr" / "lib" / "modules"
    try:
        kvers = sorted(os.listdir(modules))
    except (FileNotFoundError, NotADirectoryError):
        return None
    for kver in kvers:
        kernel = modules / kver / "vmlinuz"
        if kernel.is_file() and not kernel.is_symlink():
            initramfs: Path | None = None
            for name in ("initramfs.img", "initramfs"):
                candidate = modules / kver / name
                if candidate.is_file() and not candidate.is_symlink():
                    initramfs = candidate
                    break
            parts = [kernel] if initramfs is None else [kernel, initramfs]
            return KernelLayout(kver, kernel, initramfs, _bootcsum(parts))
    return None


# Deployments of one commit hardlink the same kernel: hash each (dev, ino, size, mtime) once.
_BOOTCSUMS: dict[tuple[tuple[int, int, int, int], ...], str] = {}


def _bootcsum(parts: Sequence[Path]) -> str:
    stats = tuple((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) for st in map(os.stat, parts))
    if stats not in _BOOTCSUMS:
        digest = hashlib.sha256()
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        _BOOTCSUMS[stats] = digest.hexdigest()
    return _BOOTCSUMS[stats]


def _title(root: Path, osname: str, version: str, index: int, show_osname: bool) -> str:
    """libostree's title: NAME [VERSION] (ostree[:OS]:INDEX)."""
    name = _os_release_name(root, osname)
    if version and version not in name:
        name = f"{name} {version}"
    return f"{name} (ostree{':' + osname if show_osname else ''}:{index})"


def _os_release_name(root: Path, fallback: str) -> str:
    for rel in ("usr/lib/os-release", "etc/os-release", "usr/etc/os-release"):
        path = root / rel
        if path.is_file() and not path.is_symlink():
            fields: dict[str, str] = {}
            for line in path.read_text(errors="replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    fields[key.strip()] = value.strip().strip("\"'")
            name = fields.get("PRETTY_NAME") or fields.get("ID")
            if name:
                return name
    return fallback


def render_entry(entry: BootEntry) -> str:
    options = " ".join(part for part in (entry.kargs, entry.ostree_arg) if part)
    lines = [f"title {entry.title}", f"version {entry.version}", f"options {options}"]
    if entry.linux:
        lines.append(f"linux {entry.linux}")
    if entry.initrd:
        lines.append(f"initrd {entry.initrd}")
    return "\n".join(lines) + "\n"


class CorruptEntry(SysrootError):
    """A boot entry that does not parse."""


def parse_entry(text: str, sysroot: Path | None = None, *, name: str = "entry") -> BootEntry:
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        fields[key] = value.strip()
    kargs, ostree_arg = [], ""
    for arg in split(fields.get("options", "")):
        if _OSTREE_ARG_RE.match(arg):
            ostree_arg = arg
        elif not _PREPARE_ROOT_INIT_RE.match(arg):
            kargs.append(arg)
    version_text = fields.get("version", "")
    if not version_text.isdigit() or not ostree_arg:
        what = (
            "no ostree=/ostree/boot.B/... in its options"
            if version_text.isdigit()
            else (
                f"its version {version_text!r} is not a number"
                if version_text
                else "no version line"
            )
        )
        raise CorruptEntry(
            f"Boot entry {name} is corrupt: {what}",
            hint="restore it (or remove the file and the loader.N it sits in is rewritten by "
            "the next deployment change); nothing was changed",
        )
    version = int(version_text)
    target = _resolve(sysroot, ostree_arg) if sysroot is not None else None
    return BootEntry(
        title=fields.get("title", ""),
        version=version,
        kargs=" ".join(kargs),
        ostree_arg=ostree_arg,
        linux=fields.get("linux"),
        initrd=fields.get("initrd"),
        target=target,
    )


def _resolve(sysroot: Path, ostree_arg: str) -> DeploymentKey | None:
    """``ostree=/ostree/boot.B/OS/BOOTCSUM/N`` -> the deployment its symlink points to."""
    link = sysroot / ostree_arg.removeprefix("ostree=").lstrip("/")
    try:
        target = os.readlink(link)
    except OSError:
        return None
    parts = Path(target).parts
    if len(parts) < 4 or parts[-2] != "deploy":
        return None
    return DeploymentKey.from_dirname(parts[-3], parts[-1])


def current_bootversion(sysroot: Path) -> int:
    try:
        target = os.readlink(sysroot / "boot" / "loader")
    except OSError:
        return 0
    return 1 if target == "loader.1" else 0


def read_entries(sysroot: Path, problems: list[str] | None = None) -> list[BootEntry]:
    """The current boot entries, highest version (the default) first.

    ``problems``: a corrupt entry is noted there and skipped (``status`` shows what
    it can) instead of raising ``CorruptEntry``.
    """
    entries_dir = sysroot / "boot" / "loader" / "entries"
    if not (sysroot / "boot" / "loader").is_symlink():
        return []
    try:
        names = sorted(os.listdir(entries_dir))
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        if not _ENTRY_RE.match(name):
            continue
        path = entries_dir / name
        try:
            text = decode_text(
                path.read_bytes(),
                path,
                displayed=lambda line: comment(line) or line.startswith("title"),
                error=CorruptEntry,
                hint="restore it or remove it; nothing was changed",
            )
            entries.append(parse_entry(text, sysroot, name=str(path)))
        except CorruptEntry as err:
            if problems is None:
                raise
            problems.append(str(err).splitlines()[0])
    return sorted(entries, key=lambda e: -e.version)


def _install_kernel(sysroot: Path, osname: str, kernel: KernelLayout) -> tuple[str, str | None]:
    """Copy kernel and initramfs into ``boot/ostree/OS-BOOTCSUM`` (a new dir, renamed in)."""
    rel = f"ostree/{osname}-{kernel.bootcsum}"
    dest = sysroot / "boot" / rel
    kname = f"vmlinuz-{kernel.kver}"
    iname = f"initramfs-{kernel.kver}.img" if kernel.initramfs else None
    if not dest.is_dir():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / temp_name(dest)
        remove_tree(tmp)
        tmp.mkdir(mode=0o755)
        for src, name in ((kernel.kernel, kname), (kernel.initramfs, iname)):
            if src is not None and name is not None:
                _install_file(src, tmp / name)
        fsync_dir(tmp)
        rename_durable(tmp, dest)
    return f"/{rel}/{kname}", (f"/{rel}/{iname}" if iname else None)


def _install_file(src: Path, dest: Path) -> None:
    """libostree's install_into_boot: a hardlink (the file is a read-only store object)
    when /boot shares the filesystem, else a synced copy."""
    try:
        os.link(src, dest)
        return
    except OSError:
        pass
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o644)
    with dest.open("rb") as f:
        os.fsync(f.fileno())


def write_boot_config(sysroot: Path, plans: Sequence[BootPlan]) -> int:
    """Make ``plans`` (boot order, default first) the boot configuration; return its version.

    Everything is written beside the live configuration first; the final symlink rename
    switches over. A crash before it leaves the old configuration fully intact.
    """
    boot, ostree_dir = sysroot / "boot", sysroot / "ostree"
    new = 1 - current_bootversion(sysroot)
    boot.mkdir(mode=0o755, exist_ok=True)
    _remove_bootversion(sysroot, new)

    # ostree/boot.NEW.0/OS/BOOTCSUM/BOOTSERIAL -> the deployment directory.
    bootlinks = ostree_dir / f"boot.{new}.0"
    bootlinks.mkdir(mode=0o755)
    serials: dict[tuple[str, str], int] = {}
    entries_tmp = boot / f"{TEMP_PREFIX}loader.{new}"
    remove_tree(entries_tmp)
    (entries_tmp / "entries").mkdir(parents=True, mode=0o755)
    total = len(plans)
    show_osname = len({plan.key.osname for plan in plans}) > 1
    if not os.path.lexists(boot / "boot"):
        os.symlink(".", boot / "boot")
    for index, plan in enumerate(plans):
        osname = plan.key.osname
        kernel = find_kernel(plan.root)
        bootcsum = kernel.bootcsum if kernel else EMPTY_BOOTCSUM
        bootserial = serials.get((osname, bootcsum), 0)
        serials[(osname, bootcsum)] = bootserial + 1
        link_dir = bootlinks / osname / bootcsum
        link_dir.mkdir(parents=True, exist_ok=True)
        os.symlink(
            f"../../../deploy/{osname}/deploy/{plan.key.dirname}", link_dir / str(bootserial)
        )
        linux, initrd = _install_kernel(sysroot, osname, kernel) if kernel else (None, None)
        bootlink = f"/ostree/boot.{new}/{osname}/{bootcsum}/{bootserial}"
        kargs = KernelArgs.parse(plan.kargs)
        if kernel is not None and initrd is None:
            kargs = kargs.set(f"init={bootlink}/{PREPARE_ROOT}")
        entry = BootEntry(
            title=_title(plan.root, osname, plan.version, index, show_osname),
            version=total - index,
            kargs=str(kargs),
            ostree_arg=f"ostree={bootlink}",
            linux=linux,
            initrd=initrd,
            target=plan.key,
        )
        atomic_write_text(
            entries_tmp / "entries" / f"ostree-{total - index}.conf", render_entry(entry)
        )
    for dirpath, _dirs, _files in os.walk(bootlinks):
        fsync_dir(dirpath)
    symlink_atomic(f"boot.{new}.0", ostree_dir / f"boot.{new}")
    fsync_dir(entries_tmp / "entries")
    rename_durable(entries_tmp, boot / f"loader.{new}")
    # The one atomic step: from here on the new configuration boots.
    fault_point("boot-before-swap")
    symlink_atomic(f"loader.{new}", boot / "loader")
    return new


def _remove_bootversion(sysroot: Path, version: int) -> None:
    remove_tree(sysroot / "boot" / f"loader.{version}")
    remove_tree(sysroot / "ostree" / f"boot.{version}")
    ostree_dir = sysroot / "ostree"
    if ostree_dir.is_dir():
        for name in os.listdir(ostree_dir):
            if name.startswith(f"boot.{version}."):
                remove_tree(ostree_dir / name)


def cleanup_boot(sysroot: Path) -> None:
    """Drop the inactive bootversion, temp dirs and kernels no current entry uses."""
    boot = sysroot / "boot"
    if not (boot / "loader").is_symlink():
        return
    _remove_bootversion(sysroot, 1 - current_bootversion(sysroot))
    for name in os.listdir(boot):
        if name.startswith(TEMP_PREFIX):
            remove_tree(boot / name)
    used = set()
    for entry in read_entries(sysroot):
        for path in (entry.linux, entry.initrd):
            if path:
                used.add(path.strip("/").split("/")[1])
    kernels = boot / "ostree"
    if kernels.is_dir():
        for name in os.listdir(kernels):
            if name not in used:
                remove_tree(kernels / name)


@dataclass(frozen=True)
class BootSpec:
    """What a boot loader would load for one entry: absolute paths and the options line."""

    entry: Path
    kernel: Path
    initrd: Path | None
    options: str


def boot_spec(sysroot: Path, index: int = 0) -> BootSpec:
    """The live entry ``index`` (0: the default) as a boot loader reads it, verbatim.

    An entry without a ``linux`` line names a deployment whose tree has no kernel: it
    cannot be booted, and saying so beats a boot loader's "file not found".
    """
    entries = read_entries(sysroot)
    if not 0 <= index < len(entries):
        raise SysrootError(
            f"No boot entry with index {index} (there are {len(entries)})",
            hint="`strata status` lists the deployments in boot order",
        )
    path = sysroot / "boot" / "loader" / "entries" / f"ostree-{entries[index].version}.conf"
    fields = dict(
        line.strip().partition(" ")[::2] for line in path.read_text().splitlines() if line.strip()
    )
    target = entries[index].target
    name = target.id if target else path.name
    if "linux" not in fields:
        raise SysrootError(
            f"Deployment {name} cannot be booted: its tree has no kernel "
            "(usr/lib/modules/KVER/vmlinuz), so its boot entry names none",
            hint="compose the base with a kernel package (and an initramfs) to boot it",
        )
    boot = sysroot / "boot"

    def inside(rel: str) -> Path:
        resolved = (boot / rel.lstrip("/")).resolve()
        if not resolved.is_relative_to(boot.resolve()) or not resolved.is_file():
            raise SysrootError(
                f"Boot entry {path} names {rel}, which is not a file under {boot}",
                hint="the boot directory is damaged; redeploy to rewrite it",
            )
        return resolved

    initrd = fields.get("initrd")
    return BootSpec(
        path, inside(fields["linux"]), inside(initrd) if initrd else None, fields.get("options", "")
    )
