"""Fedora-style packages layered through the ``strata`` CLI onto a realistic base.

The packages (tests/e2e/distro_support.py) carry what real distribution RPMs carry
and toy ones do not: a ``%pre`` creating a system user with groupadd/useradd,
files owned by it, ``/var`` state and a ``%ghost`` log, systemd and install-info
scriptlets, ``%posttrans``, old-style triggers, ``-p <lua>``, files shared by two
packages, ``%config(noreplace)``, zstd and xz payloads, an epoch, a rename by
Obsoletes, ``/opt`` and ``/usr/local`` content. One sysroot walks through the steps
in order (pytest keeps file order); the base is composed once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.demo import OSNAME, Scenario
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e import distro_support as distro

pytestmark = [needs_bwrap, needs_rpmbuild]

RPMDB = "/usr/lib/sysimage/rpm"
ADMIN_LINE = "# the administrator was here\n"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    scenario = Scenario(tmp_path_factory.mktemp("distro"), echo=False)
    distro.prepare(scenario)
    scenario.deploy_base()
    scenario.add_repo_file()
    etc = scenario.deployment_root() / "etc"
    with (etc / "bashrc").open("a") as bashrc:
        bashrc.write(ADMIN_LINE)
    # The administrator made a system user with the id useradd -r would pick first.
    with (etc / "passwd").open("a") as users:
        users.write("backup:x:999:999:Backup:/var/lib/backup:/sbin/nologin\n")
    with (etc / "group").open("a") as groups:
        groups.write("backup:x:999:\n")
    yield scenario


def entries(path: Path) -> dict[str, list[str]]:
    if not path.exists():
        return {}
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines() if line}


def stateroot_var(scenario: Scenario) -> Path:
    return scenario.sysroot / "ostree/deploy" / OSNAME / "var"


def rpm_q(scenario: Scenario, *args: str) -> str:
    root = scenario.deployment_root()
    cmd = ["rpm", "--root", str(root), "--dbpath", RPMDB, "-q", *args]
    return scenario.run(cmd, check=False).stdout


def test_install_fedora_style_packages(scenario: Scenario) -> None:
    base_passwd = (scenario.deployment_root() / "usr/etc/passwd").read_bytes()
    out = scenario.strata(
        "install",
        "foosvc",
        "quirks",
        "memberpkg",
        "luapkg",
        "shared-a",
        "shared-b",
        "oldname",
        "optapp",
    ).stdout
    assert "foosvc" in out
    staged = scenario.status()[0]
    assert staged["staged"]
    layered = {nevra.rsplit("-", 2)[0] for nevra in staged["layered-packages"]}
    assert {"foosvc", "luapkg", "shared-a", "shared-b", "optapp", "newname"} <= layered
    assert "oldname" not in layered, "the Obsoletes: rename replaces the old name, as dnf does"
    root = scenario.deployment_root()
    assert (root / "usr/etc/passwd").read_bytes() == base_passwd


def test_pre_useradd_creates_the_user_in_usr_lib_passwd(scenario: Scenario) -> None:
    root = scenario.deployment_root()
    users, groups = entries(root / "usr/lib/passwd"), entries(root / "usr/lib/group")
    assert distro.USER in users and distro.USER in groups
    user = users[distro.USER]
    assert 201 <= int(user[2]) <= 999, "a system uid (-r) from login.defs' range"
    assert user[3] == groups[distro.USER][2], "primary group is the one groupadd made"
    assert user[5:] == [f"/var/lib/{distro.USER}", "/sbin/nologin"]
    assert distro.USER not in entries(root / "usr/etc/passwd")
    nsswitch = (root / "usr/etc/nsswitch.conf").read_text()
    assert "passwd: files altfiles" in nsswitch, "glibc finds /usr/lib/passwd via nss-altfiles"
    assert not (root / "usr/etc/passwd-").exists() and not (root / "usr/etc/.pwd.lock").exists()
    admin = entries(root / "etc/passwd")
    assert "backup" in admin and "backup" not in users, "the admin's user stays the admin's"
    used = [e[2] for e in {**admin, **users}.values()]
    assert len(used) == len(set(used)), "no uid used twice across /etc and /usr/lib"
    gids = [e[2] for e in {**entries(root / "etc/group"), **groups}.values()]
    assert len(gids) == len(set(gids)), "no gid used twice across /etc and /usr/lib"


def test_useradd_into_base_groups_adds_the_membership(scenario: Scenario) -> None:
    root = scenario.deployment_root()
    groups = entries(root / "usr/lib/group")
    user = entries(root / "usr/lib/passwd")["svc2"]
    assert user[3] == groups["daemon"][2]
    assert groups["adm"][3].split(",") == ["svc2"]
    assert "svc2" not in (root / "usr/etc/group").read_text()


def test_files_owned_by_the_package_user_carry_its_ids(scenario: Scenario) -> None:
    root = scenario.deployment_root()
    uid = int(entries(root / "usr/lib/passwd")[distro.USER][2])
    gid = int(entries(root / "usr/lib/group")[distro.USER][2])
    data = (root / "usr/share/foosvc/data").stat()
    assert (data.st_uid, data.st_gid, data.st_mode & 0o7777) == (uid, gid, 0o640)
    conf_dir = (root / "usr/etc/foosvc").stat()
    assert (conf_dir.st_uid, conf_dir.st_gid, conf_dir.st_mode & 0o7777) == (0, gid, 0o750)
    helper = (root / "usr/libexec/foosvc-helper").stat()
    assert (helper.st_uid, helper.st_gid, helper.st_mode & 0o7777) == (0, gid, 0o4750)
    listing = scenario.in_deployment(root, "/usr/bin/ls", "-ln", "/usr/share/foosvc/data").stdout
    assert f" {uid} {gid} " in listing


def test_var_content_becomes_tmpfiles_and_the_ghost_log_is_not_shipped(
    scenario: Scenario,
) -> None:
    root = scenario.deployment_root()
    conf = (root / "usr/lib/tmpfiles.d/pkg-foosvc.conf").read_text()
    assert f"d /var/lib/{distro.USER} 0750 {distro.USER} {distro.USER} - -" in conf
    assert not list(root.glob("usr/**/foo.log")), "a %ghost file is never created"
    assert not (root / "var/lib" / distro.USER).exists(), "a commit carries no /var"


def test_scriptlets_run_as_rpm_runs_them_on_install(scenario: Scenario) -> None:
    root = scenario.deployment_root() / "usr/lib/foosvc"
    assert (root / "posttrans-ran").read_text() == "posttrans\n"
    assert (root / "triggerin-bash").read_text() == "1 1\n"
    for never in ("triggerun-ran", "preun-ran", "postun-ran"):
        assert not (root / never).exists(), f"{never}: removal scripts never run on install"


def test_sysusers_user_other_packages_user_triggers_and_script_writes(
    scenario: Scenario,
) -> None:
    root = scenario.deployment_root()
    users, groups = entries(root / "usr/lib/passwd"), entries(root / "usr/lib/group")
    assert users["quirkd"][4:] == ["Quirks daemon", "/var/lib/quirks", "/usr/sbin/nologin"]
    quirks = root / "usr/share/quirks"
    of_quirkd, of_foo = (quirks / "of-quirkd").stat(), (quirks / "of-foo").stat()
    assert (of_quirkd.st_uid, of_quirkd.st_gid) == (
        int(users["quirkd"][2]),
        int(groups["quirkd"][2]),
    )
    assert (of_foo.st_uid, of_foo.st_mode & 0o7777) == (int(users[distro.USER][2]), 0o600)
    assert (quirks / "trigger-glibc").read_text() == "1 1\n"
    assert not (quirks / "trigger-old-glibc").exists(), "a trigger's version range is honoured"
    assert not (quirks / "trigger-absent").exists()
    assert (quirks / "trigger-luapkg").read_text() == "1 1\n", "once, between two layered"
    assert "/usr/bin/quirksh" in (root / "usr/etc/shells").read_text().splitlines()
    assert not (root / "var/log/quirks.log").exists(), "script writes to /var are thrown away"
    assert os.getxattr(root / "usr/bin/quirkping", "security.capability")
    conf = (root / "usr/lib/tmpfiles.d/pkg-quirks.conf").read_text()
    assert "d /run/quirks 0755 root root - -" in conf


def test_lua_post_uses_posix_and_rpm_extensions(scenario: Scenario) -> None:
    stamp = scenario.deployment_root() / "usr/share/luapkg/post.stamp"
    assert stamp.read_text() == f"arg2=1\ndbpath={RPMDB}\nbash=true\n"


def test_shared_directory_and_identical_file_belong_to_both_packages(
    scenario: Scenario,
) -> None:
    root = scenario.deployment_root()
    shared = root / distro.SHARED_DIR.lstrip("/")
    assert sorted(p.name for p in shared.iterdir()) == ["COPYING", "shared-a.txt", "shared-b.txt"]
    owners = rpm_q(scenario, "-f", distro.SAME_FILE).split()
    assert sorted(o.rsplit("-", 2)[0] for o in owners) == ["shared-a", "shared-b"]


def test_epoch_and_rename_are_recorded_in_the_rpmdb(scenario: Scenario) -> None:
    assert rpm_q(scenario, "--qf", "%{EPOCH}:%{VERSION}\n", "newname") == "2:3.0\n"
    assert "not installed" in rpm_q(scenario, "oldname")
    assert rpm_q(scenario, "--whatprovides", "oldname").startswith("newname-3.0-1")


def test_after_reboot_etc_var_and_opt_are_in_place(scenario: Scenario) -> None:
    scenario.strata("admin", "simulate-reboot")
    root = scenario.deployment_root()
    assert ADMIN_LINE in (root / "etc/bashrc").read_text(), "an admin edit survives an install"
    users = entries(root / "usr/lib/passwd")
    uid, gid = int(users[distro.USER][2]), int(users[distro.USER][3])
    conf = (root / "etc/foosvc/foosvc.conf").stat()
    assert (conf.st_gid, conf.st_mode & 0o7777) == (gid, 0o640)
    assert (root / "etc/foosvc/foosvc.conf").read_text() == "listen=127.0.0.1\n"
    state = (stateroot_var(scenario) / "lib" / distro.USER).stat()
    assert (state.st_uid, state.st_gid, state.st_mode & 0o7777) == (uid, gid, 0o750)
    assert os.readlink(stateroot_var(scenario) / "opt/optapp") == "/usr/lib/opt/optapp"
    ran = scenario.run(
        ["bwrap", "--bind", str(root), "/", "--bind", str(stateroot_var(scenario)), "/var",
         "--dev", "/dev", "--proc", "/proc", "--clearenv", "--setenv", "PATH", "/usr/bin",
         "/opt/optapp/bin/optapp"]
    )  # fmt: skip
    assert ran.stdout == "optapp\n"


def test_differing_file_in_two_packages_is_a_conflict_naming_both(scenario: Scenario) -> None:
    before = scenario.strata("status", "--json").stdout
    failed = scenario.strata("install", "clash-one", "clash-two", check=False)
    assert failed.returncode != 0
    assert distro.CLASH_FILE in failed.stderr
    assert "clash-one" in failed.stderr and "clash-two" in failed.stderr
    assert scenario.strata("status", "--json").stdout == before


def test_usr_local_content_is_refused_with_a_clear_message(scenario: Scenario) -> None:
    before = scenario.strata("status", "--json").stdout
    failed = scenario.strata("install", "localtool", check=False)
    assert failed.returncode != 0
    assert "/usr/local/bin/localtool" in failed.stderr
    assert "/usr/local belongs to the administrator" in failed.stderr
    assert scenario.strata("status", "--json").stdout == before


def test_uninstall_drops_the_package_user_and_runs_no_removal_script(scenario: Scenario) -> None:
    scenario.strata("uninstall", "foosvc", "quirks")
    staged = scenario.status()[0]
    assert "foosvc" not in json.dumps(staged["layered-packages"])
    root = scenario.deployment_root()
    assert distro.USER not in entries(root / "usr/lib/passwd")
    assert "quirkd" not in entries(root / "usr/lib/passwd")
    assert not (root / "usr/lib/foosvc").exists()
    assert (root / "usr/share/luapkg/post.stamp").exists()


@pytest.fixture(scope="module")
def debian_rpms() -> list[Path]:
    try:
        return distro.debian_rpms()
    except distro.ConversionUnavailable as err:
        pytest.skip(f"cannot convert Debian packages: {err}")


def test_real_debian_binaries_converted_by_alien_install_and_run(
    scenario: Scenario, debian_rpms: list[Path]
) -> None:
    scenario.strata("install", *map(str, debian_rpms))
    scenario.strata("admin", "simulate-reboot")
    booted = scenario.status()[0]
    layered = {nevra.rsplit("-", 2)[0] for nevra in booted["layered-packages"]}
    assert set(distro.DEBIAN_PACKAGES) <= layered
    root = scenario.deployment_root()
    assert scenario.in_deployment(root, "/usr/bin/jq", "-n", "[1, 2] | add").stdout == "3\n"
    assert scenario.in_deployment(root, "/usr/bin/hello").stdout == "Hello, world!\n"
    listing = scenario.in_deployment(root, "/usr/bin/tree", "/usr/share/doc/jq").stdout
    assert "README" in listing and "1 directory, 5 files" in listing
    owners = rpm_q(scenario, "-f", "/usr/lib/.build-id").split()
    assert {o.rsplit("-", 2)[0] for o in owners} >= {"jq", "tree", "hello"}
