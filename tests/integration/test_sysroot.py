"""The sysroot on a real store: deploy, stage, finalize, /etc, /var, rollback, pin, cleanup."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sysroot_helpers import BASE_ETC, check_consistent, commit, leftovers, new_sysroot

from core.errors import ConfigError, StrataError, SysrootError
from core.sysroot import Sysroot
from core.sysroot.bootloader import read_entries
from core.sysroot.origin import Origin

ORIGIN = Origin("os/base", layered=False)


def snapshot(root: Path) -> list[tuple[str, int]]:
    """Every path under ``root`` (including boot and run state) with its type."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            out.append((str(path.relative_to(root)), stat.S_IFMT(os.lstat(path).st_mode)))
    return sorted(out)


def test_init_fs_layout_and_open(tmp_path: Path) -> None:
    sysroot = Sysroot.init_fs(tmp_path / "new" / "sysroot")
    for name in ("boot", "dev", "proc", "run", "sys", "tmp", "var", "sysroot", "ostree/deploy"):
        assert (sysroot.path / name).is_dir(), name
    assert stat.S_IMODE(os.lstat(sysroot.path / "tmp").st_mode) == 0o1777
    assert Sysroot.open(sysroot.path).deployments() == []
    with pytest.raises(SysrootError, match="admin init-fs"):
        Sysroot.open(tmp_path / "missing")


def test_an_existing_directory_that_is_no_sysroot_is_named_so(tmp_path: Path) -> None:
    """A host's own / is not a sysroot: say so, and never suggest `init-fs` over it."""
    (tmp_path / "etc").mkdir()
    with pytest.raises(SysrootError, match="is not a sysroot") as info:
        Sysroot.open(tmp_path)
    assert "init-fs " + str(tmp_path) not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc"]


def test_os_init_creates_deploy_and_shared_var(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path, "fedora")
    root = sysroot.path / "ostree" / "deploy" / "fedora"
    assert (root / "deploy").is_dir()
    assert stat.S_IMODE(os.lstat(root / "var" / "tmp").st_mode) == 0o1777
    assert sysroot.osname(None) == "fedora"
    with pytest.raises(SysrootError, match="os-init other"):
        sysroot.osname("other")
    with pytest.raises(SysrootError, match="Invalid stateroot"):
        sysroot.os_init("../evil")


def test_first_deploy_becomes_the_bootable_default(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    csum = commit(sysroot, BASE_ETC, version="1.0")
    d = sysroot.deploy("os", "os/base", ORIGIN)
    assert (d.checksum, d.serial, d.index, d.staged, d.booted) == (csum, 0, 0, False, False)
    assert d.path == sysroot.path / "ostree" / "deploy" / "os" / "deploy" / f"{csum}.0"
    assert d.id == f"os-{csum}.0"
    # /etc is a real copy of /usr/etc; /usr is hardlinked from the store.
    assert (d.path / "etc" / "motd").read_text() == "welcome v1\n"
    etc_st, usr_st = os.lstat(d.path / "etc" / "motd"), os.lstat(d.path / "usr" / "etc" / "motd")
    assert etc_st.st_ino != usr_st.st_ino
    assert os.lstat(d.path / "usr" / "bin" / "tool").st_nlink >= 2
    assert (d.path / "var").is_dir() and os.listdir(d.path / "var") == []
    origin_file = d.path.parent / f"{csum}.0.origin"
    assert origin_file.read_text() == "[origin]\nrefspec=os/base\n"
    (entry,) = read_entries(sysroot.path)
    assert entry.target == d.key and entry.version == 1
    assert "1.0 (ostree:0)" in entry.title
    check_consistent(sysroot)


def test_same_commit_twice_gets_the_next_serial(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    first = sysroot.deploy("os", "os/base", ORIGIN)
    second = sysroot.deploy("os", "os/base", ORIGIN)
    assert (first.serial, second.serial) == (0, 1)
    assert [d.serial for d in sysroot.deployments()] == [1, 0]


def test_etc_merge_carries_admin_changes_to_the_new_deployment(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    old = sysroot.deploy("os", "os/base", ORIGIN)
    (old.path / "etc" / "hostname").write_text("myhost\n")  # modified: kept
    (old.path / "etc" / "local.conf").write_text("mine\n")  # added: kept
    os.unlink(old.path / "etc" / "passwd")  # deleted: stays deleted
    commit(
        sysroot,
        {**BASE_ETC, "usr/etc/motd": "welcome v2\n", "usr/etc/new.conf": "x\n"},
        version="2",
    )
    new = sysroot.deploy("os", "os/base", ORIGIN)
    etc = new.path / "etc"
    assert (etc / "hostname").read_text() == "myhost\n"
    assert (etc / "local.conf").read_text() == "mine\n"
    assert not (etc / "passwd").exists()
    assert (etc / "motd").read_text() == "welcome v2\n"  # untouched: new default
    assert (etc / "new.conf").read_text() == "x\n"
    assert [d.key for d in sysroot.deployments()] == [new.key, old.key]
    # config-diff of the default deployment lists the carried changes.
    assert sysroot.config_diff() == [("M", "hostname"), ("A", "local.conf"), ("D", "passwd")]


def test_retention_drops_the_oldest_unpinned(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    a = sysroot.deploy("os", "os/base", ORIGIN)
    sysroot.set_pinned(0, True)
    b = sysroot.deploy("os", "os/base", ORIGIN)
    c = sysroot.deploy("os", "os/base", ORIGIN)
    d = sysroot.deploy("os", "os/base", ORIGIN)
    assert [x.key for x in sysroot.deployments()] == [d.key, c.key, a.key]
    assert not b.path.exists() and not (b.path.parent / f"{b.key.dirname}.origin").exists()
    assert sysroot.deployments()[2].pinned
    assert "pinned=true" in (a.path.parent / f"{a.key.dirname}.origin").read_text()
    sysroot.set_pinned(2, False)
    e = sysroot.deploy("os", "os/base", ORIGIN)
    assert [x.key for x in sysroot.deployments()] == [e.key, d.key]
    assert not a.path.exists()
    assert leftovers(sysroot) == []


def test_staging_while_booted_merges_etc_as_it_is_at_finalize(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    a = sysroot.deploy("os", "os/base", ORIGIN)
    booted = sysroot.simulate_reboot()
    assert booted.key == a.key and booted.booted
    commit(sysroot, {**BASE_ETC, "usr/etc/motd": "welcome v2\n"}, version="2")
    entries_before = read_entries(sysroot.path)
    staged = sysroot.deploy("os", "os/base", ORIGIN)
    assert staged.staged and staged.index == 0
    listing = sysroot.deployments()
    assert [(d.key, d.staged, d.booted) for d in listing] == [
        (staged.key, True, False),
        (a.key, False, True),
    ]
    assert read_entries(sysroot.path) == entries_before  # boot order untouched
    assert (sysroot.path / "run" / "ostree" / "staged-deployment").is_file()
    # The admin edits /etc after staging; the finalize must see it.
    (a.path / "etc" / "hostname").write_text("late edit\n")
    final = sysroot.finalize_staged()
    assert final is not None and final.key == staged.key and not final.staged
    assert (final.path / "etc" / "hostname").read_text() == "late edit\n"
    assert (final.path / "etc" / "motd").read_text() == "welcome v2\n"
    assert [d.key for d in sysroot.deployments()] == [staged.key, a.key]
    assert sysroot.deployments()[1].booted
    assert not (sysroot.path / "run" / "ostree" / "staged-deployment").exists()
    assert sysroot.finalize_staged() is None
    rebooted = sysroot.simulate_reboot()
    assert rebooted.key == staged.key and rebooted.booted


def test_a_new_stage_replaces_the_previous_staged_deployment(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    sysroot.deploy("os", "os/base", ORIGIN)
    sysroot.simulate_reboot()
    first = sysroot.deploy("os", "os/base", ORIGIN)
    second = sysroot.deploy("os", "os/base", Origin("os/base", True, requested=("strace",)))
    listing = sysroot.deployments()
    assert [d.key for d in listing][0] == second.key and listing[0].staged
    assert listing[0].origin.requested == ("strace",)
    assert sysroot.merge_deployment("os") == listing[0]
    assert not first.path.exists()
    assert len(listing) == 2


def test_simulate_reboot_applies_tmpfiles_to_the_shared_var(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(
        sysroot,
        {
            **BASE_ETC,
            "usr/lib/passwd": "svc:x:990:985::/:/sbin/nologin\n",
            "usr/lib/group": "svc:x:985:\n",
            "usr/lib/tmpfiles.d/svc.conf": "d /var/lib/svc 0750 svc svc -\n"
            "L /var/lib/link - - - - /usr/bin/tool\n",
        },
    )
    d = sysroot.deploy("os", "os/base", ORIGIN)
    var = sysroot.path / "ostree" / "deploy" / "os" / "var"
    (var / "lib" / "keep").mkdir(parents=True)
    sysroot.simulate_reboot()
    st = os.lstat(var / "lib" / "svc")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (990, 985, 0o750)
    assert os.readlink(var / "lib" / "link") == "/usr/bin/tool"
    assert (var / "lib" / "keep").is_dir()
    assert os.listdir(d.path / "var") == []  # the deployment's own var stays empty
    assert sysroot.last_tmpfiles.created == ("/var/lib/link", "/var/lib/svc")  # path order


def test_rollback_swaps_the_first_two(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    a = sysroot.deploy("os", "os/base", ORIGIN)
    b = sysroot.deploy("os", "os/base", ORIGIN)
    back = sysroot.rollback("os")
    assert back.key == a.key
    assert [d.key for d in sysroot.deployments()] == [a.key, b.key]
    assert [e.target for e in read_entries(sysroot.path)] == [a.key, b.key]
    check_consistent(sysroot)


def test_rollback_with_a_staged_deployment_keeps_the_booted_default(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    a = sysroot.deploy("os", "os/base", ORIGIN)
    sysroot.simulate_reboot()
    staged = sysroot.deploy("os", "os/base", ORIGIN)
    assert sysroot.rollback("os").key == a.key
    assert [d.key for d in sysroot.deployments()] == [a.key]
    assert not staged.path.exists()


def test_undeploy_and_its_refusals(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    a = sysroot.deploy("os", "os/base", ORIGIN)
    b = sysroot.deploy("os", "os/base", ORIGIN)
    sysroot.simulate_reboot()  # boots b
    before = snapshot(sysroot.path)
    with pytest.raises(SysrootError, match="No deployment with index 5"):
        sysroot.undeploy(5)
    with pytest.raises(SysrootError, match="booted"):
        sysroot.undeploy(0)
    assert snapshot(sysroot.path) == before
    sysroot.undeploy(1)
    assert [d.key for d in sysroot.deployments()] == [b.key]
    assert not a.path.exists()
    check_consistent(sysroot)


def test_cleanup_pending_rollback_and_leftovers(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    a = sysroot.deploy("os", "os/base", ORIGIN)
    sysroot.simulate_reboot()
    staged = sysroot.deploy("os", "os/base", ORIGIN)
    deploy_dir = a.path.parent
    (deploy_dir / ".tmp-partial").mkdir()
    (deploy_dir / f"{a.checksum}.9").mkdir()
    (deploy_dir / f"{a.checksum}.9.origin").write_text("[origin]\nrefspec=x\n")
    sysroot.cleanup()
    assert leftovers(sysroot) == []
    assert [d.key for d in sysroot.deployments()] == [staged.key, a.key]
    sysroot.cleanup(pending=True)
    assert [d.key for d in sysroot.deployments()] == [a.key]
    assert not staged.path.exists()


def test_bad_ref_changes_nothing(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    sysroot.deploy("os", "os/base", ORIGIN)
    before = snapshot(sysroot.path)
    with pytest.raises(StrataError, match="Deploying no/such/ref"):
        sysroot.deploy("os", "no/such/ref", ORIGIN)
    with pytest.raises(SysrootError, match="Unknown stateroot"):
        sysroot.deploy("nope", "os/base", ORIGIN)
    assert snapshot(sysroot.path) == before


def test_tree_with_etc_and_usr_etc_is_refused_without_trace(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    sysroot.deploy("os", "os/base", ORIGIN)
    before = snapshot(sysroot.path)
    commit(sysroot, {**BASE_ETC, "etc/conflict": "x\n"}, branch="os/bad")
    after_commit = snapshot(sysroot.path)
    with pytest.raises(SysrootError, match="both /etc and /usr/etc"):
        sysroot.deploy("os", "os/bad", ORIGIN)
    assert snapshot(sysroot.path) == after_commit
    assert [p for p in after_commit if p not in before and "deploy/os" in p[0]] == []


def test_malformed_origin_is_a_config_error(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    d = sysroot.deploy("os", "os/base", ORIGIN)
    (d.path.parent / f"{d.key.dirname}.origin").write_text("[origin]\n")
    with pytest.raises(ConfigError, match="exactly one"):
        sysroot.deployments()


def test_kernel_in_the_tree_gets_linux_and_initrd_lines(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(
        sysroot,
        {
            **BASE_ETC,
            "usr/lib/modules/6.1.0/vmlinuz": "kernel",
            "usr/lib/modules/6.1.0/initramfs.img": "initrd",
        },
    )
    sysroot.deploy("os", "os/base", ORIGIN)
    (entry,) = read_entries(sysroot.path)
    assert entry.linux is not None and entry.linux.endswith("/vmlinuz-6.1.0")
    assert entry.initrd is not None
    assert (sysroot.path / "boot" / entry.linux.lstrip("/")).read_text() == "kernel"
    assert (sysroot.path / "boot" / entry.initrd.lstrip("/")).read_text() == "initrd"


def test_other_stateroots_are_left_alone(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    sysroot.os_init("other")
    commit(sysroot, BASE_ETC)
    o = sysroot.deploy("other", "os/base", ORIGIN)
    for _ in range(3):
        sysroot.deploy("os", "os/base", ORIGIN)
    assert o.key in [d.key for d in sysroot.deployments()]
    with pytest.raises(SysrootError, match="Several stateroots"):
        sysroot.osname(None)
