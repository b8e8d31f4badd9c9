"""tmpfiles.d applied to a stateroot's /var: create what is missing, never overwrite."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.sysroot.tmpfiles import apply_tmpfiles, parse_tmpfiles, read_config, read_ids


def deployment_with(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def apply_from(root: Path, var: Path) -> tuple[list[str], list[str]]:
    lines, warnings = read_config(root)
    var.mkdir(exist_ok=True)
    created, more = apply_tmpfiles(lines, var, read_ids(root, "passwd"), read_ids(root, "group"))
    return created, warnings + more


def test_parse_fields_and_modifiers() -> None:
    lines, warnings = parse_tmpfiles(
        "# comment\n\nd /var/lib/foo 0750 foo foo - -\nL+ /var/link - - - - /usr/target\n"
        "f- /var/file ~0600 - - - hello world\nbogus\n",
        "x.conf",
    )
    assert [(x.kind, x.path, x.mode, x.user, x.argument) for x in lines] == [
        ("d", "/var/lib/foo", 0o750, "foo", None),
        ("L", "/var/link", None, None, "/usr/target"),
        ("f", "/var/file", 0o600, None, "hello world"),
    ]
    assert warnings == ["x.conf:6: a line needs at least a type and a path"]


def test_users_resolve_through_usr_lib_passwd_and_group(tmp_path: Path) -> None:
    root = deployment_with(
        tmp_path / "deploy",
        {
            "etc/passwd": "root:x:0:0::/root:/bin/sh\n",
            "etc/group": "root:x:0:\n",
            "usr/lib/passwd": "svc:x:990:985::/var/lib/svc:/sbin/nologin\n",
            "usr/lib/group": "svc:x:985:\n",
            "usr/lib/tmpfiles.d/svc.conf": "d /var/lib/svc 0750 svc svc -\n"
            "f /var/lib/svc/state 0600 svc svc - ready\n",
        },
    )
    var = tmp_path / "var"
    created, warnings = apply_from(root, var)
    assert created == ["/var/lib/svc", "/var/lib/svc/state"]
    assert warnings == []
    st = os.lstat(var / "lib" / "svc")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (990, 985, 0o750)
    assert (var / "lib" / "svc" / "state").read_text() == "ready"
    assert stat.S_IMODE(os.lstat(var / "lib" / "svc" / "state").st_mode) == 0o600


def test_existing_content_is_never_overwritten(tmp_path: Path) -> None:
    root = deployment_with(
        tmp_path / "deploy",
        {
            "usr/lib/tmpfiles.d/a.conf": "d /var/lib/a 0700 - - -\nf+ /var/lib/a/conf - - - - new\n"
            "L+ /var/link - - - - /new\n"
        },
    )
    var = tmp_path / "var"
    (var / "lib" / "a").mkdir(parents=True)
    os.chmod(var / "lib" / "a", 0o755)
    (var / "lib" / "a" / "conf").write_text("admin data")
    os.symlink("/old", var / "link")
    created, _warnings = apply_from(root, var)
    assert created == []
    assert (var / "lib" / "a" / "conf").read_text() == "admin data"
    assert stat.S_IMODE(os.lstat(var / "lib" / "a").st_mode) == 0o755
    assert os.readlink(var / "link") == "/old"


def test_etc_overrides_usr_lib_by_file_name_and_first_line_wins(tmp_path: Path) -> None:
    root = deployment_with(
        tmp_path / "deploy",
        {
            "usr/lib/tmpfiles.d/x.conf": "d /var/from-usr 0755 - - -\n",
            "etc/tmpfiles.d/x.conf": "d /var/from-etc 0755 - - -\n",
            "usr/lib/tmpfiles.d/y.conf": "d /var/dup 0700 - - -\nd /var/dup 0777 - - -\n",
        },
    )
    var = tmp_path / "var"
    created, _ = apply_from(root, var)
    assert sorted(created) == ["/var/dup", "/var/from-etc"]
    assert stat.S_IMODE(os.lstat(var / "dup").st_mode) == 0o700


def test_paths_outside_var_and_through_symlinks_are_left_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = deployment_with(
        tmp_path / "deploy",
        {
            "usr/lib/tmpfiles.d/evil.conf": "d /run/foo - - - -\nd /etc/foo - - - -\n"
            "d /var/escape/x - - - -\nd /var/../etc/y - - - -\nd /var/%h/z - - - -\n"
        },
    )
    var = tmp_path / "var"
    var.mkdir()
    os.symlink(outside, var / "escape")
    created, warnings = apply_from(root, var)
    assert created == []
    assert os.listdir(outside) == []
    assert len(warnings) == 3


def test_unknown_user_falls_back_to_root_with_a_warning(tmp_path: Path) -> None:
    root = deployment_with(
        tmp_path / "deploy", {"usr/lib/tmpfiles.d/a.conf": "d /var/lib/x 0755 nobody-here - -\n"}
    )
    var = tmp_path / "var"
    created, warnings = apply_from(root, var)
    assert created == ["/var/lib/x"]
    assert os.lstat(var / "lib" / "x").st_uid == 0
    assert "nobody-here" in warnings[0]


def test_a_parent_line_goes_first_whatever_the_file_order(tmp_path: Path) -> None:
    """CentOS 7: libselinux.conf (read first) has ``d /var/run/setrans``, filesystem's
    ``L /var/run - - - - ../run`` comes later. systemd-tmpfiles handles a path's prefixes
    first; so must we, or /var/run becomes a directory for good. What lies behind a link
    into /run is the boot's to create: skipped without a warning."""
    root = deployment_with(
        tmp_path / "deploy",
        {
            "usr/lib/tmpfiles.d/libselinux.conf": "d /var/run/setrans 0755 root root\n",
            "usr/lib/tmpfiles.d/ppp.conf": "d /var/lock/ppp 0755 root root\n"
            "d /var/lib/svc/sub 0700 - - -\n",
            "usr/lib/tmpfiles.d/pkg-filesystem.conf": "L /var/lock - - - - ../run/lock\n"
            "L /var/run - - - - ../run\nd /var/lib/svc 0750 - - -\n",
        },
    )
    var = tmp_path / "var"
    created, warnings = apply_from(root, var)
    assert os.readlink(var / "run") == "../run"
    assert os.readlink(var / "lock") == "../run/lock"
    assert stat.S_IMODE(os.lstat(var / "lib" / "svc").st_mode) == 0o750, "its own line"
    assert sorted(created) == ["/var/lib/svc", "/var/lib/svc/sub", "/var/lock", "/var/run"]
    assert warnings == []
