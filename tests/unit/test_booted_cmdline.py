"""Which deployment is booted, read from a kernel command line (libostree's rule)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import SysrootError
from core.sysroot.deployment import DeploymentKey
from core.sysroot.staging import booted_from_cmdline, read_booted_state, write_booted


def _sysroot(tmp_path: Path) -> tuple[Path, DeploymentKey]:
    key = DeploymentKey("os", "a" * 64, 0)
    (tmp_path / "ostree/deploy/os/deploy" / key.dirname).mkdir(parents=True)
    links = tmp_path / "ostree/boot.1.0/os/csum"
    links.mkdir(parents=True)
    os.symlink(f"../../../deploy/os/deploy/{key.dirname}", links / "0")
    os.symlink("boot.1.0", tmp_path / "ostree/boot.1")
    return tmp_path, key


def test_ostree_arg_names_the_booted_deployment(tmp_path: Path) -> None:
    sysroot, key = _sysroot(tmp_path)
    line = "root=/dev/vda rw ostree=/ostree/boot.1/os/csum/0 quiet\n"
    assert booted_from_cmdline(sysroot, line) == key


def test_no_ostree_arg_means_nothing_booted(tmp_path: Path) -> None:
    sysroot, key = _sysroot(tmp_path)
    write_booted(sysroot, key)  # a simulated boot's record is not read on a real root
    assert read_booted_state(sysroot, lambda: "root=/dev/sda1 ro") is None
    assert read_booted_state(sysroot, None) == key


def test_a_dangling_link_names_nothing(tmp_path: Path) -> None:
    sysroot, _key = _sysroot(tmp_path)
    assert booted_from_cmdline(sysroot, "ostree=/ostree/boot.0/os/csum/0") is None


@pytest.mark.parametrize("arg", ["ostree=/etc/passwd", "ostree=/ostree/boot.1/../../x/y"])
def test_a_malformed_ostree_arg_is_an_error(tmp_path: Path, arg: str) -> None:
    sysroot, _key = _sysroot(tmp_path)
    with pytest.raises(SysrootError, match="malformed"):
        booted_from_cmdline(sysroot, arg)
