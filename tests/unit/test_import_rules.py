"""Where payload paths land, what becomes tmpfiles.d, file caps and the passwd split."""

from __future__ import annotations

import pytest

from core.errors import PackageError
from layering.rpm import filecaps, passwd, tmpfiles
from layering.rpm.pathrules import Action, Kind, Placement, place

PKG = "demo-1-1.x86_64"


@pytest.mark.parametrize(
    ("path", "kind", "expected"),
    [
        ("/usr/bin/demo", Kind.FILE, Placement(Action.PLACE, "usr/bin/demo")),
        ("/etc/demo.conf", Kind.FILE, Placement(Action.PLACE, "usr/etc/demo.conf")),
        ("/etc", Kind.DIR, Placement(Action.PLACE, "usr/etc")),
        ("/boot/vmlinuz", Kind.FILE, Placement(Action.PLACE, "usr/lib/ostree-boot/vmlinuz")),
        (
            "/opt/demo",
            Kind.DIR,
            Placement(Action.PLACE, "usr/lib/opt/demo", opt_link="/opt/demo"),
        ),
        (
            "/opt/demo/bin/x",
            Kind.FILE,
            Placement(Action.PLACE, "usr/lib/opt/demo/bin/x", opt_link="/opt/demo"),
        ),
        ("/var/lib/demo", Kind.DIR, Placement(Action.TMPFILES, tmpfiles="d")),
        ("/var/lib/demo/state", Kind.FILE, Placement(Action.TMPFILES, tmpfiles="f")),
        (
            "/var/lib/alternatives",
            Kind.DIR,
            Placement(Action.PLACE, "usr/lib/alternatives", var_link="/var/lib/alternatives"),
        ),
        (
            "/var/lib/alternatives/mta",
            Kind.FILE,
            Placement(Action.PLACE, "usr/lib/alternatives/mta"),
        ),
        ("/var/run", Kind.SYMLINK, Placement(Action.TMPFILES, tmpfiles="L")),
        ("/run/demo", Kind.DIR, Placement(Action.TMPFILES, tmpfiles="d")),
        ("/run/demo/pid", Kind.FILE, Placement(Action.DROP)),
        ("/bin/demo", Kind.FILE, Placement(Action.PLACE, "usr/bin/demo")),
        ("/lib64/libdemo.so", Kind.FILE, Placement(Action.PLACE, "usr/lib64/libdemo.so")),
        ("/", Kind.DIR, Placement(Action.DROP)),
        ("//usr//bin/x", Kind.FILE, Placement(Action.PLACE, "usr/bin/x")),
    ],
)
def test_layering_rules(path: str, kind: Kind, expected: Placement) -> None:
    assert place(path, kind, package=PKG) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/usr/local/bin/demo", "/usr/local belongs to the administrator"),
        ("/srv/demo/index.html", "only /usr, /etc, /opt, /boot, /var and /run"),
        ("/home/user/.bashrc", "only /usr, /etc"),
        ("/usr/../etc/shadow", "escapes the root"),
        ("/usr/bin/./x", "escapes the root"),
        ("usr/bin/relative", "not absolute"),
        ("/usr/bin/nul\0byte", "not absolute"),
    ],
)
def test_layering_refuses(path: str, message: str) -> None:
    with pytest.raises(PackageError) as err:
        place(path, Kind.FILE, package=PKG)
    assert message in str(err.value)
    assert PKG in str(err.value)


def test_compose_accepts_filesystem_package_layout() -> None:
    assert place("/afs", Kind.DIR, package=PKG, compose=True) == Placement(Action.PLACE, "afs")
    assert place("/bin", Kind.SYMLINK, package=PKG, compose=True) == Placement(Action.PLACE, "bin")
    assert place("/var", Kind.DIR, package=PKG, compose=True) == Placement(Action.PLACE, "var")
    # /var content still becomes tmpfiles.d, even in a base
    assert place("/var/log", Kind.DIR, package=PKG, compose=True).action == Action.TMPFILES
    with pytest.raises(PackageError):
        place("/usr/../x", Kind.FILE, package=PKG, compose=True)


@pytest.mark.parametrize(
    ("path", "link", "var_path"),
    [
        ("/home", "var/home", "/var/home"),
        ("/opt", "var/opt", "/var/opt"),
        ("/srv", "var/srv", "/var/srv"),
        ("/root", "var/roothome", "/var/roothome"),
        ("/mnt", "var/mnt", "/var/mnt"),
        ("/media", "run/media", "/run/media"),
        ("/usr/local", "../var/usrlocal", "/var/usrlocal"),
    ],
)
def test_compose_links_admin_directories_into_var(path: str, link: str, var_path: str) -> None:
    where = place(path, Kind.DIR, package=PKG, compose=True)
    assert (where.action, where.path, where.link) == (Action.PLACE, path[1:], link)
    assert (where.tmpfiles, where.tmpfiles_path) == ("d", var_path)


def test_compose_content_below_var_links() -> None:
    below = place("/usr/local/bin", Kind.DIR, package=PKG, compose=True)
    assert (below.action, below.tmpfiles_path) == (Action.TMPFILES, "/var/usrlocal/bin")
    assert place("/root/.bashrc", Kind.FILE, package=PKG, compose=True).action == Action.DROP
    # /opt/X still moves to /usr/lib/opt/X, linked back from /opt (= /var/opt) at boot
    opt = place("/opt/app/bin/x", Kind.FILE, package=PKG, compose=True)
    assert (opt.path, opt.opt_link) == ("usr/lib/opt/app/bin/x", "/opt/app")


def test_tmpfiles_render_sorted_and_escaped() -> None:
    lines = [
        tmpfiles.TmpfilesLine("d", "/var/lib/demo/sub", 0o40750, "demo", "demo"),
        tmpfiles.TmpfilesLine("d", "/var/lib/demo", 0o40755, "root", "root"),
        tmpfiles.TmpfilesLine("L", "/opt/demo", target="/usr/lib/opt/demo"),
        tmpfiles.TmpfilesLine("d", "/var/lib/with space", 0o40700),
    ]
    text = tmpfiles.render(lines, package=PKG).decode().splitlines()
    assert text[0].startswith("#")
    assert text[1:] == [
        "L /opt/demo - - - - /usr/lib/opt/demo",
        "d /var/lib/demo 0755 root root - -",
        "d /var/lib/demo/sub 0750 demo demo - -",
        'd "/var/lib/with space" 0700 - - - -',
    ]
    assert tmpfiles.conf_name("demo") == "usr/lib/tmpfiles.d/pkg-demo.conf"


@pytest.mark.parametrize(
    ("text", "hexvalue"),
    [
        # values as setcap(8) writes them (checked against libcap on this machine)
        ("cap_net_raw=ep", "0100000200200000000000000000000000000000"),
        ("cap_net_raw,cap_sys_admin+ep", "0100000200202000000000000000000000000000"),
        ("cap_setuid=i", "0000000200000000800000000000000000000000"),
        ("cap_bpf=p", "0000000200000000000000008000000000000000"),
    ],
)
def test_file_caps_to_xattr(text: str, hexvalue: str) -> None:
    value = filecaps.to_xattr(text)
    assert value is not None
    assert value.hex() == hexvalue


def test_file_caps_empty_and_bad() -> None:
    assert filecaps.to_xattr("cap_net_raw=") is None
    with pytest.raises(PackageError, match="unknown capability"):
        filecaps.to_xattr("cap_flying=ep")


BASE_ETC = b"root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000::/home/admin:/bin/bash\n"
BASE_LIB = b"bin:x:1:1:bin:/bin:/sbin/nologin\n"


def test_scripts_see_both_files_and_new_users_move_to_usr_lib() -> None:
    merged = passwd.merged_for_scripts(BASE_ETC, BASE_LIB)
    assert merged == BASE_ETC + BASE_LIB
    after = merged + b"demo:x:990:990::/:/sbin/nologin\n"
    split = passwd.split_after_scripts(BASE_ETC, BASE_LIB, after)
    assert split.etc == BASE_ETC
    assert split.lib == BASE_LIB + b"demo:x:990:990::/:/sbin/nologin\n"


def test_group_member_added_by_a_script_is_kept() -> None:
    etc = b"root:x:0:\n"
    lib = b"wheel:x:10:\n"
    after = b"root:x:0:\nwheel:x:10:demo\ndemo:x:990:\n"
    split = passwd.split_after_scripts(etc, lib, after)
    assert split.etc == b"root:x:0:\n"
    assert split.lib == b"wheel:x:10:demo\ndemo:x:990:\n"


def test_composed_base_keeps_only_root_in_etc() -> None:
    split = passwd.split_composed("passwd", BASE_ETC + BASE_LIB, None)
    assert split.etc == b"root:x:0:0:root:/root:/bin/bash\n"
    assert split.lib is not None and b"admin:" in split.lib and b"bin:" in split.lib
    assert passwd.ids(split.etc, split.lib) == {"root": 0, "admin": 1000, "bin": 1}
