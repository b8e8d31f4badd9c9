"""Kernel arguments on a real store: defaults of the first deployment, kargs changes,
and the booted deployment read from a kernel command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sysroot_helpers import BASE_ETC, check_consistent, commit, new_sysroot

from core.errors import SysrootError
from core.sysroot import Sysroot
from core.sysroot.bootloader import boot_spec, read_entries
from core.sysroot.kargs import KargEdit, KargOp
from core.sysroot.origin import Origin

ORIGIN = Origin("os/base", layered=False)
KERNEL = {
    **BASE_ETC,
    "usr/lib/modules/6.1.0/vmlinuz": "kernel",
    "usr/lib/modules/6.1.0/initramfs.img": "initrd",
    "usr/lib/bootc/kargs.d/10-base.toml": 'kargs = ["console=ttyS0"]\n',
}


def _entry_text(sysroot: Sysroot, version: int) -> str:
    return (sysroot.path / "boot/loader/entries" / f"ostree-{version}.conf").read_text()


def test_first_deployment_gets_the_sysroot_and_tree_defaults(tmp_path: Path) -> None:
    sysroot = Sysroot.init_fs(tmp_path / "sysroot", karg_defaults=["root=/dev/vda"])
    sysroot.os_init("os", karg_defaults=["root=/dev/vdb", "rw"])
    commit(sysroot, KERNEL)
    d = sysroot.deploy("os", "os/base", ORIGIN, karg_edits=[KargEdit(KargOp.SET, "quiet")])
    assert sysroot.kargs_of(d) == "root=/dev/vdb rw console=ttyS0 quiet"  # os-init wins
    options = next(
        line for line in _entry_text(sysroot, 1).splitlines() if line.startswith("options")
    )
    assert options.startswith(
        "options root=/dev/vdb rw console=ttyS0 quiet ostree=/ostree/boot.1/os/"
    )


def test_kargs_change_is_a_new_deployment_of_the_same_commit(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    csum = commit(sysroot, KERNEL)
    first = sysroot.deploy(
        "os", "os/base", ORIGIN, karg_edits=[KargEdit(KargOp.SET, "root=/dev/vda")]
    )
    (first.path / "etc/motd").write_text("admin's\n")
    new = sysroot.change_kargs("os", [KargEdit(KargOp.APPEND, "debug=1")])
    assert new is not None and (new.checksum, new.serial, new.index) == (csum, 1, 0)
    assert sysroot.kargs_of(new) == "console=ttyS0 root=/dev/vda debug=1"
    assert (new.path / "etc/motd").read_text() == "admin's\n"  # /etc carried over
    assert [e.target for e in read_entries(sysroot.path)] == [new.key, first.key]
    # the same kernel is shared by both entries
    entries = read_entries(sysroot.path)
    assert entries[0].linux == entries[1].linux
    check_consistent(sysroot)


def test_no_change_and_bad_edits_change_nothing(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, KERNEL)
    sysroot.deploy("os", "os/base", ORIGIN)
    before = sorted(p.name for p in (sysroot.path / "ostree/deploy/os/deploy").iterdir())
    entries = read_entries(sysroot.path)
    assert sysroot.change_kargs("os", [KargEdit(KargOp.APPEND_IF_MISSING, "console=hvc0")]) is None
    with pytest.raises(SysrootError, match="No kernel argument 'absent' to delete"):
        sysroot.change_kargs("os", [KargEdit(KargOp.DELETE, "absent")])
    assert sorted(p.name for p in (sysroot.path / "ostree/deploy/os/deploy").iterdir()) == before
    assert read_entries(sysroot.path) == entries


def test_a_deployment_without_a_kernel_has_no_kargs_to_change(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    sysroot.deploy("os", "os/base", ORIGIN)
    with pytest.raises(SysrootError, match="has no kernel"):
        sysroot.change_kargs("os", [KargEdit(KargOp.APPEND, "quiet")])


def test_on_a_real_root_the_cmdline_names_the_booted_deployment(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, KERNEL)
    a = sysroot.deploy("os", "os/base", ORIGIN)
    b = sysroot.deploy("os", "os/base", ORIGIN)
    entries = read_entries(sysroot.path)  # b first, a second
    line = f"root=/dev/vda {entries[1].ostree_arg}"
    real = Sysroot.open(sysroot.path, cmdline=lambda: line)
    assert [d.booted for d in real.deployments()] == [False, True]
    # a booted system stages: the boot entries do not change until finalization
    staged = real.deploy("os", "os/base", ORIGIN)
    assert staged.staged and read_entries(sysroot.path) == entries
    with pytest.raises(SysrootError, match="running root"):
        real.simulate_reboot()
    assert a.key == entries[1].target and b.key == entries[0].target


def test_booting_a_deployment_without_a_kernel_is_a_clear_error(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    sysroot.deploy("os", "os/base", ORIGIN)
    with pytest.raises(SysrootError, match="cannot be booted: its tree has no kernel"):
        boot_spec(sysroot.path)


def test_boot_spec_reads_the_entry_verbatim(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, KERNEL)
    sysroot.deploy("os", "os/base", ORIGIN, karg_edits=[KargEdit(KargOp.SET, "root=/dev/vda")])
    spec = boot_spec(sysroot.path)
    assert spec.kernel.read_text() == "kernel" and spec.initrd is not None
    assert spec.initrd.read_text() == "initrd"
    assert spec.options.startswith("console=ttyS0 root=/dev/vda ostree=/ostree/boot.1/os/")
    with pytest.raises(SysrootError, match="No boot entry with index 1"):
        boot_spec(sysroot.path, 1)
