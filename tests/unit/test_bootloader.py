"""BLS entries, the loader symlink swap and kernels in /boot, on plain directories."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from core.sysroot.bootloader import (
    EMPTY_BOOTCSUM,
    BootEntry,
    BootPlan,
    CorruptEntry,
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
        title="Fedora 40 (ostree:0)",
        version=2,
        kargs="quiet rw",
        ostree_arg="ostree=/ostree/boot.1/fedora/abc/0",
        linux="/ostree/fedora-abc/vmlinuz-6.1",
        initrd="/ostree/fedora-abc/initramfs-6.1.img",
        target=None,
    )
    text = render_entry(entry)
    assert text.splitlines() == [
        "title Fedora 40 (ostree:0)",
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
    assert names == ["ostree-1.conf", "ostree-2.conf"]
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
    assert entry.title == "Test OS 1 1.2 (ostree:0)"
    assert entry.linux == f"/ostree/os-{bootcsum}/vmlinuz-6.1.0"
    assert entry.initrd == f"/ostree/os-{bootcsum}/initramfs-6.1.0.img"
    assert entry.kargs == "console=ttyS0"
    assert (tmp_path / "boot" / entry.linux.lstrip("/")).read_bytes() == b"KERNEL"
    assert os.readlink(tmp_path / "boot" / "boot") == "."  # /boot/ostree/... resolves too
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
    (tmp_path / "boot" / "loader.0" / "entries" / "ostree-9.conf").write_text("garbage")
    os.symlink("boot.0.0", tmp_path / "ostree" / "boot.0")
    assert [e.target for e in read_entries(tmp_path)] == [a.key]
    write_boot_config(tmp_path, [b, a])
    assert [e.target for e in read_entries(tmp_path)] == [b.key, a.key]
    assert sorted(os.listdir(tmp_path / "boot" / "loader" / "entries")) == [
        "ostree-1.conf",
        "ostree-2.conf",
    ]


def test_no_loader_means_no_entries(tmp_path: Path) -> None:
    assert read_entries(tmp_path) == []
    cleanup_boot(tmp_path)


def test_kernel_without_initramfs_boots_ostree_prepare_root_as_init(tmp_path: Path) -> None:
    plan = fake_deployment(tmp_path, "os", "f" * 64)
    add_kernel(plan.root, "6.1.0", b"KERNEL", None)
    write_boot_config(tmp_path, [BootPlan(plan.key, plan.root, kargs="root=/dev/vda rw")])
    text = (tmp_path / "boot" / "loader" / "entries" / "ostree-1.conf").read_text()
    bootcsum = hashlib.sha256(b"KERNEL").hexdigest()
    link = f"/ostree/boot.1/os/{bootcsum}/0"
    assert (
        f"options root=/dev/vda rw init={link}/usr/lib/ostree/ostree-prepare-root ostree={link}\n"
        in text
    )
    assert "initrd" not in text
    (entry,) = read_entries(tmp_path)
    assert entry.kargs == "root=/dev/vda rw"  # the init= it writes itself is not a user karg


def test_same_kernel_shares_one_boot_dir_and_serials_count_up(tmp_path: Path) -> None:
    plans = [fake_deployment(tmp_path, "os", c * 64) for c in "ab"]
    for plan in plans:
        add_kernel(plan.root, "6.1.0", b"KERNEL", b"INITRD")
    write_boot_config(tmp_path, plans)
    bootcsum = hashlib.sha256(b"KERNELINITRD").hexdigest()
    assert os.listdir(tmp_path / "boot" / "ostree") == [f"os-{bootcsum}"]
    entries = read_entries(tmp_path)
    assert [e.ostree_arg.rsplit("/", 1)[1] for e in entries] == ["0", "1"]
    assert [e.title for e in entries] == ["os (ostree:0)", "os (ostree:1)"]


def test_two_stateroots_show_the_osname_in_titles(tmp_path: Path) -> None:
    a = fake_deployment(tmp_path, "one", "a" * 64)
    b = fake_deployment(tmp_path, "two", "b" * 64)
    write_boot_config(tmp_path, [a, b])
    assert [e.title for e in read_entries(tmp_path)] == ["one (ostree:one:0)", "two (ostree:two:1)"]


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("title x\noptions ostree=/ostree/boot.1/os/abc/0\n", "no version line"),
        ("title x\nversion two\noptions ostree=/ostree/boot.1/os/abc/0\n", "is not a number"),
        ("title x\nversion 1\noptions quiet\n", "no ostree="),
    ],
)
def test_a_corrupt_entry_is_an_error_naming_the_file(tmp_path: Path, text: str, what: str) -> None:
    write_boot_config(tmp_path, [fake_deployment(tmp_path, "os", "a" * 64)])
    bad = tmp_path / "boot" / "loader" / "entries" / "ostree-1.conf"
    bad.write_text(text)
    with pytest.raises(CorruptEntry, match=what) as info:
        read_entries(tmp_path)
    assert str(bad) in str(info.value)


def test_a_binary_entry_is_an_error(tmp_path: Path) -> None:
    write_boot_config(tmp_path, [fake_deployment(tmp_path, "os", "a" * 64)])
    (tmp_path / "boot" / "loader" / "entries" / "ostree-1.conf").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CorruptEntry, match="not UTF-8"):
        read_entries(tmp_path)
