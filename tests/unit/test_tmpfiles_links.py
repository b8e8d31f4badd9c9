"""tmpfiles.d lines under /opt and /usr/local land in /var when the tree links them there."""

from __future__ import annotations

from pathlib import Path

from core.sysroot.tmpfiles import apply_tmpfiles, read_config, through_links


def composed(root: Path) -> Path:
    (root / "usr").mkdir(parents=True)
    (root / "opt").symlink_to("var/opt")
    (root / "usr/local").symlink_to("../var/usrlocal")
    (root / "srv").symlink_to("/var/srv")
    return root


def test_parent_links_into_var_are_followed(tmp_path: Path) -> None:
    root = composed(tmp_path / "root")
    assert through_links(root, "/opt/app") == "/var/opt/app"
    assert through_links(root, "/usr/local/bin/x") == "/var/usrlocal/bin/x"
    assert through_links(root, "/srv/www") == "/var/srv/www"


def test_other_paths_are_left_alone(tmp_path: Path) -> None:
    root = composed(tmp_path / "root")
    (root / "bin").symlink_to("usr/bin")
    assert through_links(root, "/var/lib/x") == "/var/lib/x"
    assert through_links(root, "/bin/x") == "/bin/x", "not under /var: unchanged"
    assert through_links(root, "/opt") == "/opt", "the link itself is not followed"
    (root / "loop").symlink_to("loop")
    assert through_links(root, "/loop/x") == "/loop/x"


def test_opt_link_is_created_in_var_at_boot(tmp_path: Path) -> None:
    root = composed(tmp_path / "root")
    (root / "usr/lib/tmpfiles.d").mkdir(parents=True)
    (root / "usr/lib/tmpfiles.d/pkg-app.conf").write_text("L /opt/app - - - - /usr/lib/opt/app\n")
    var = tmp_path / "var"
    (var / "opt").mkdir(parents=True)
    lines, warnings = read_config(root)
    created, warned = apply_tmpfiles(lines, var, {}, {})
    assert (warnings, warned) == ([], [])
    assert created == ["/var/opt/app"]
    assert (var / "opt/app").readlink() == Path("/usr/lib/opt/app")
