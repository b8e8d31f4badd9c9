"""The tmpfiles.d lines we write for /var, read back by the real systemd-tmpfiles.

Package paths are hostile input: ``%`` (a systemd specifier), blanks, quotes and
backslashes must come out as the very path the package named, both through
``systemd-tmpfiles --root`` (what a real boot runs) and through our own reader
(``admin simulate-reboot``); what no line can carry is refused clearly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core.errors import PackageError
from core.sysroot.tmpfiles import parse_tmpfiles
from layering.rpm.tmpfiles import TmpfilesLine, render

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-tmpfiles") is None, reason="systemd-tmpfiles is missing"
)

HOSTILE_DIRS = (
    "/var/lib/a%h",
    "/var/lib/100%%",
    "/var/lib/sp ace",
    "/var/lib/two  spaces",
    "/var/lib/tab\there",
    '/var/lib/quo"te',
    "/var/lib/apo'strophe",
    "/var/lib/back\\slash",
    "/var/lib/x\\x20y",
    "/var/lib/été",
)
HOSTILE_TARGETS = ("/usr/share/a%hb", "/usr/share/sp ace", "/usr/share/back\\slash", " lead")


def test_systemd_tmpfiles_creates_exactly_the_paths_packages_named(tmp_path: Path) -> None:
    lines = [TmpfilesLine("d", path, 0o755) for path in HOSTILE_DIRS]
    lines += [
        TmpfilesLine("L", f"/var/lib/link{i}", target=target)
        for i, target in enumerate(HOSTILE_TARGETS)
    ]
    conf = tmp_path / "strata.conf"
    conf.write_bytes(render(lines, package="hostile-1-1.x86_64"))
    root = tmp_path / "root"
    (root / "var/lib").mkdir(parents=True)
    subprocess.run(
        ["systemd-tmpfiles", f"--root={root}", "--create", str(conf)],
        check=True,
        capture_output=True,
    )
    created = sorted("/" + str(p.relative_to(root)) for p in (root / "var/lib").iterdir())
    expected = sorted([*HOSTILE_DIRS, *(f"/var/lib/link{i}" for i in range(len(HOSTILE_TARGETS)))])
    assert created == expected
    for i, target in enumerate(HOSTILE_TARGETS):
        assert os.readlink(root / f"var/lib/link{i}") == target

    # Our reader (simulate-reboot) agrees with systemd on every line.
    parsed, warnings = parse_tmpfiles(conf.read_text(), "strata.conf")
    assert warnings == []
    assert sorted(p.path for p in parsed) == expected
    assert [p.argument for p in parsed if p.kind == "L"] == list(HOSTILE_TARGETS)


@pytest.mark.parametrize(
    "line",
    [
        TmpfilesLine("d", "/var/lib/new\nline", 0o755),
        TmpfilesLine("d", "/var/lib/bell\a", 0o755),
        TmpfilesLine("L", "/var/lib/l", target="/usr/x\ny"),
        TmpfilesLine("d", "/var/lib/owned", 0o755, user="a b"),
        TmpfilesLine("d", "/var/lib/owned", 0o755, group="g%h"),
    ],
    ids=["newline", "control", "target-newline", "user-blank", "group-specifier"],
)
def test_what_no_line_can_carry_is_refused(line: TmpfilesLine) -> None:
    with pytest.raises(PackageError) as caught:
        line.render()
    assert "cannot write a tmpfiles.d line" in str(caught.value)
    assert caught.value.hint
