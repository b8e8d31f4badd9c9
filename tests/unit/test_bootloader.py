"""BLS entries, the loader symlink swap and kernels in /boot, on plain directories."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from core.sysroot.bootloader import (
    EMPTY_BOOTCSUM,
    BootEntry,
    BootPlan,
    cleanup_boot,
    current_bootversion,
    find_kernel,
    parse_entry,
    read_entries,
    render_entry,
    write_boot_config,
)
from core.sysroot.deployment import DeploymentKey


def fake_deployment(sysroot: Path, osname: str, checksum: str, serial: int = 0) -> BootPlan:
    key = DeploymentKey(osname, checksum, serial)
    root = sysroot / "ostree" / "deploy" / osname / "deploy" / key.dirname
    root.mkdir(parents=True)
    return BootPlan(key, root)


def add_kernel(root: Path, kver: str, kernel: bytes, initramfs: bytes | None) -> None:
    mod = root / "usr" / "lib" / "modules" / kver
    mod.mkdir(parents=True)
    (mod / "vmlinuz").write_bytes(kernel)
    if initramfs is not None:
        (mod / "initramfs.img").write_bytes(initramfs)


def test_entry_render_parse_round_trip() -> None:
    entry = BootEntry(
        title="Fedora 40 (ostree:fedora:0)",
        version=2,
        kargs="quiet rw",
        ostree_arg="ostree=/ostree/boot.1/fedora/abc/0",
        linux="/ostree/fedora-abc/vmlinuz-6.1",
        initrd="/ostree/fedora-abc/initramfs-6.1.img",
        target=None,
    )
    text = render_entry(entry)
    assert text.splitlines() == [
        "title Fedora 40 (ostree:fedora:0)",
        "version 2",
        "options quiet rw ostree=/ostree/boot.1/fedora/abc/0",
        "linux /ostree/fedora-abc/vmlinuz-6.1",
        "initrd /ostree/fedora-abc/initramfs-6.1.img",
    ]
    assert parse_entry(text) == entry


def test_first_write_creates_loader_1_and_default_has_highest_version(tmp_path: Path) -> None:
    a = fake_deployment(tmp_path, "os", "a" * 64)
    b = fake_deployment(tmp_path, "os", "b" * 64)
    assert current_bootversion(tmp_path) == 0
    assert write_boot_config(tmp_path, [a, b]) == 1
    assert os.readlink(tmp_path / "boot" / "loader") == "loader.1"
    names = sorted(os.listdir(tmp_path / "boot" / "loader" / "entries"))
    assert names == ["ostree-1-os.conf", "ostree-2-os.conf"]
    entries = read_entries(tmp_path)
    assert [e.target for e in entries] == [a.key, b.key]
    assert [e.version for e in entries] == [2, 1]
    # Kernel-less trees share the empty boot checksum and differ by boot serial.
    assert entries[0].ostree_arg == f"ostree=/ostree/boot.1/os/{EMPTY_BOOTCSUM}/0"
    assert entries[1].ostree_arg == f"ostree=/ostree/boot.1/os/{EMPTY_BOOTCSUM}/1"
    assert entries[0].linux is None
    assert os.readlink(tmp_path / "ostree" / "boot.1") == "boot.1.0"


def test_swap_alternates_and_reorders(tmp_path: Path) -> None:
    a = fake_deployment(tmp_path, "os", "a" * 64)
    b = fake_deployment(tmp_path, "os", "b" * 64)
    write_boot_config(tmp_path, [a, b])
    assert write_boot_config(tmp_path, [b, a]) == 0
    assert os.readlink(tmp_path / "boot" / "loader") == "loader.0"
    assert [e.target for e in read_entries(tmp_path)] == [b.key, a.key]
    cleanup_boot(tmp_path)
    assert not (tmp_path / "boot" / "loader.1").exists()
    assert not os.path.lexists(tmp_path / "ostree" / "boot.1")


def test_kernel_and_initramfs_are_copied_into_boot(tmp_path: Path) -> None:
    plan = fake_deployment(tmp_path, "os", "c" * 64)
    add_kernel(plan.root, "6.1.0", b"KERNEL", b"INITRD")
    (plan.root / "usr" / "lib" / "os-release").write_text('PRETTY_NAME="Test OS 1"\n')
    plan = BootPlan(plan.key, plan.root, kargs="console=ttyS0", version="1.2")
    write_boot_config(tmp_path, [plan])
    bootcsum = hashlib.sha256(b"KERNELINITRD").hexdigest()
    kernel = find_kernel(plan.root)
    assert kernel is not None and kernel.bootcsum == bootcsum
    (entry,) = read_entries(tmp_path)
    assert entry.title == "Test OS 1 1.2 (ostree:os:0)"
    assert entry.linux == f"/ostree/os-{bootcsum}/vmlinuz-6.1.0"
    assert entry.initrd == f"/ostree/os-{bootcsum}/initramfs-6.1.0.img"
    assert entry.kargs == "console=ttyS0"
    assert (tmp_path / "boot" / entry.linux.lstrip("/")).read_bytes() == b"KERNEL"
    assert (tmp_path / "boot" / entry.initrd.lstrip("/")).read_bytes() == b"INITRD"
    assert entry.target == plan.key


def test_unused_kernels_are_cleaned(tmp_path: Path) -> None:
    old = fake_deployment(tmp_path, "os", "d" * 64)
    add_kernel(old.root, "5.0", b"OLD", None)
    new = fake_deployment(tmp_path, "os", "e" * 64)
    add_kernel(new.root, "6.0", b"NEW", None)
    write_boot_config(tmp_path, [new, old])
    assert len(os.listdir(tmp_path / "boot" / "ostree")) == 2
    write_boot_config(tmp_path, [new])
    cleanup_boot(tmp_path)
    assert os.listdir(tmp_path / "boot" / "ostree") == [f"os-{hashlib.sha256(b'NEW').hexdigest()}"]


def test_interrupted_write_leaves_the_old_configuration(tmp_path: Path) -> None:
    a = fake_deployment(tmp_path, "os", "a" * 64)
    b = fake_deployment(tmp_path, "os", "b" * 64)
    write_boot_config(tmp_path, [a])
    # Stale half-written state of the other bootversion, as a crash would leave it.
    (tmp_path / "boot" / "loader.0" / "entries").mkdir(parents=True)
    (tmp_path / "boot" / "loader.0" / "entries" / "ostree-9-os.conf").write_text("garbage")
    os.symlink("boot.0.0", tmp_path / "ostree" / "boot.0")
    assert [e.target for e in read_entries(tmp_path)] == [a.key]
    write_boot_config(tmp_path, [b, a])
    assert [e.target for e in read_entries(tmp_path)] == [b.key, a.key]
    assert sorted(os.listdir(tmp_path / "boot" / "loader" / "entries")) == [
        "ostree-1-os.conf",
        "ostree-2-os.conf",
    ]


def test_no_loader_means_no_entries(tmp_path: Path) -> None:
    assert read_entries(tmp_path) == []
    cleanup_boot(tmp_path)
