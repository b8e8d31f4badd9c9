"""The realistic package set: real host binaries, soname dependencies a solver must follow,
and a loader layout where strace only starts once the ldconfig file trigger ran."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

from fixtures.filler import filler_packages
from fixtures.realistic import (
    base_packages,
    extra_packages,
    realistic_repo,
    strace_packages,
)
from fixtures.rpms import rpm_query
from tests.conftest import needs_bwrap, needs_rpmbuild

pytestmark = needs_rpmbuild


def rpmq(rpm: Path, *args: str) -> str:
    return rpm_query(rpm, *args)


def by_name(rpms: list[Path]) -> dict[str, Path]:
    return {rpmq(p, "--qf", "%{name}"): p for p in rpms}


@functools.cache
def can_chroot() -> bool:
    """rpm --root chroots to run scriptlets; probe whether this process may."""
    probe = subprocess.run(["chroot", "/", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def unpack(root: Path, rpms: list[Path], *, scripts: bool) -> subprocess.CompletedProcess[str]:
    """Install into ``root`` with its own rpmdb (never the host's)."""
    cmd = ["rpm", "-i", "--root", str(root), "--dbpath", "/usr/lib/sysimage/rpm"]
    if not scripts:
        cmd += ["--nodeps", "--noscripts", "--notriggers"]
    return subprocess.run([*cmd, *map(str, rpms)], capture_output=True, text=True, check=False)


def in_tree(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bwrap", "--bind", str(root), "/", "--proc", "/proc", "--dev", "/dev", *argv],
        capture_output=True,
        text=True,
        check=False,
    )


def test_strace_needs_its_libraries_by_soname() -> None:
    pkgs = by_name(strace_packages())
    assert set(pkgs) == {"strace", "libunwind", "xz-libs"}
    strace_requires = rpmq(pkgs["strace"], "--requires").splitlines()
    assert "libunwind-ptrace.so.0()(64bit)" in strace_requires
    assert "libc.so.6()(64bit)" in strace_requires
    assert "libunwind-ptrace.so.0()(64bit)" in rpmq(pkgs["libunwind"], "--provides").splitlines()
    assert "liblzma.so.5()(64bit)" in rpmq(pkgs["libunwind"], "--requires").splitlines()
    assert "liblzma.so.5()(64bit)" in rpmq(pkgs["xz-libs"], "--provides").splitlines()
    assert rpmq(pkgs["libunwind"], "--qf", "[%{filenames}\n]").startswith("/usr/lib64/")


def test_glibc_provides_sonames_loader_and_ldconfig_trigger() -> None:
    glibc = by_name(base_packages(1))["glibc"]
    provides = rpmq(glibc, "--provides").splitlines()
    for cap in ("libc.so.6()(64bit)", "ld-linux-x86-64.so.2()(64bit)", "rtld(GNU_HASH)"):
        assert cap in provides
    files = rpmq(glibc, "--qf", "[%{filenames} %{fileflags:fflags}\n]").splitlines()
    assert "/usr/sbin/ldconfig " in files
    assert "/usr/lib64/ld-linux-x86-64.so.2 " in files
    assert "/etc/ld.so.conf cn" in files
    assert "/etc/ld.so.cache g" in files
    triggers = rpmq(glibc, "--filetriggers")
    assert (
        "transfiletriggerin scriptlet (using /bin/sh) -- /lib, /lib64, /usr/lib, /usr/lib64\n"
        "/sbin/ldconfig"
    ) in triggers
    assert "preinstall scriptlet (using <lua>):" in rpmq(glibc, "--scripts")


def test_base_sets_are_closed_and_differ_as_documented(tmp_path: Path) -> None:
    v1, v2 = by_name(base_packages(1)), by_name(base_packages(2))
    assert {"setup", "filesystem", "glibc", "bash", "coreutils", "ncurses-libs"} <= set(v1)
    assert {"gtk-update-icon-cache", "hicolor-icon-theme", "libselinux", "pcre2"} <= set(v1)
    assert "strace" not in v1 and "libunwind" not in v1 and "xz-libs" not in v1
    assert set(v2) - set(v1) == {"xz-libs"}
    assert rpmq(v1["bash"], "--qf", "%{release}") == "1"
    assert rpmq(v2["bash"], "--qf", "%{release}") == "2"
    for version in (1, 2):
        cmd = ["rpm", "-i", "--test", "--root", str(tmp_path), "--dbpath", "/db"]
        check = subprocess.run(
            [*cmd, *map(str, base_packages(version))], capture_output=True, check=False
        )
        assert check.returncode == 0, check.stderr.decode()
    # strace on base v1 without its libraries: rpm names the missing soname.
    lone = subprocess.run(
        [*cmd, *map(str, base_packages(1)), str(by_name(strace_packages())["strace"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lone.returncode != 0
    assert "libunwind-ptrace.so.0()(64bit) is needed by strace" in lone.stderr


def test_filesystem_layout_is_usr_merged() -> None:
    fs = by_name(base_packages(1))["filesystem"]
    rows = dict(
        line.split(" ", 1)
        for line in rpmq(fs, "--qf", "[%{filenames} %{filemodes:perms}>%{filelinktos}\n]").split(
            "\n"
        )
        if line
    )
    assert rows["/lib64"] == "lrwxrwxrwx>usr/lib64"
    assert rows["/bin"] == "lrwxrwxrwx>usr/bin"
    assert rows["/tmp"] == "drwxrwxrwt>"
    assert rows["/root"] == "dr-xr-x--->"


@needs_bwrap
def test_strace_starts_only_after_ldconfig(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    done = unpack(root, base_packages(1) + strace_packages(), scripts=False)
    assert done.returncode == 0, done.stderr
    assert not (root / "etc/ld.so.cache").exists()
    shell = in_tree(root, "/bin/sh", "-c", "ls /usr/bin/strace && echo shell-ok")
    assert shell.stdout.endswith("shell-ok\n"), shell.stderr  # base libs need no cache
    before = in_tree(root, "/usr/bin/strace", "-V")
    assert before.returncode != 0
    assert "libunwind-ptrace.so.0: cannot open shared object file" in before.stderr
    ldconfig = in_tree(root, "/sbin/ldconfig")
    assert ldconfig.returncode == 0, ldconfig.stderr
    after = in_tree(root, "/usr/bin/strace", "-V")
    assert after.returncode == 0, after.stderr
    assert after.stdout.startswith("strace -- version")


@needs_bwrap
@pytest.mark.skipif(not can_chroot(), reason="rpm --root cannot chroot here")
def test_real_rpm_runs_the_scriptlets_and_triggers(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    done = unpack(root, base_packages(1) + strace_packages() + extra_packages(), scripts=True)
    assert done.returncode == 0, done.stderr
    assert (root / "etc/ld.so.cache").is_file()  # glibc's %transfiletriggerin ran ldconfig
    icon_cache = root / "usr/share/icons/hicolor/icon-theme.cache"  # icon cache file trigger
    assert b"strata-demo" in icon_cache.read_bytes()
    assert "/usr/bin/bash" in (root / "etc/shells").read_text().splitlines()
    traced = in_tree(root, "/usr/bin/strace", "-e", "trace=none", "/bin/true")
    assert traced.returncode == 0, traced.stderr


def test_realistic_repo_holds_base_and_strace(tmp_path: Path) -> None:
    repo = realistic_repo(tmp_path / "repo", version=2, compression="xz")
    names = {p.name for p in repo.glob("*.rpm")}
    assert "strace-6.1-1.x86_64.rpm" in names
    assert "bash-5.2.15-2.x86_64.rpm" in names
    assert len(names) == len(set(base_packages(2) + strace_packages()))
    assert list((repo / "repodata").glob("*-primary.xml.xz"))


def test_filler_packages_hold_the_requested_files() -> None:
    rpms = filler_packages(450, per_package=200)
    assert [p.name for p in rpms] == [
        "filler-0000-1.0-200.noarch.rpm",
        "filler-0001-1.0-200.noarch.rpm",
        "filler-0002-1.0-50.noarch.rpm",
    ]
    assert sum(len(rpmq(p, "-l").splitlines()) for p in rpms) == 450
    assert filler_packages(450, per_package=200) == rpms
