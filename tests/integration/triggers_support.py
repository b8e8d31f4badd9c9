"""Helpers for the triggers tests: a minimal root made of this machine's binaries.

Scripts need a tree with a shell, coreutils, ldconfig and their libraries to run
in. Until the fixture factory's realistic base is used everywhere, this copies a
few host binaries plus the libraries ``ldd`` names into a merged-/usr layout:
small (tens of MB), built in well under a second, and only ever used as a
read-only lower layer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BINARIES = (
    "sh",
    "bash",
    "cat",
    "true",
    "false",
    "ls",
    "mkdir",
    "chown",
    "chmod",
    "sleep",
    "stat",
    "touch",
    "rm",
    "ln",
    "cp",
    "id",
    "env",
    "head",
    "tail",
    "sort",
    "wc",
    "tee",
    "stat",
    "gtk-update-icon-cache",
)
SBINARIES = ("ldconfig", "useradd", "groupadd")
ETC_FILES = ("passwd", "group", "shadow", "gshadow", "login.defs", "nsswitch.conf")


def _libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    return [w for line in out.splitlines() for w in line.split() if w.startswith("/")]


def _copy(src: str, root: Path, dest: str) -> None:
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copy2(os.path.realpath(src), target)


def build_minimal_root(root: Path) -> Path:
    """A merged-/usr tree at ``root`` that runs sh, coreutils, ldconfig and useradd."""
    for d in (
        "usr/bin",
        "usr/sbin",
        "usr/lib/x86_64-linux-gnu",
        "usr/lib64",
        "usr/etc",
        "usr/share",
        "dev",
        "proc",
        "run",
        "tmp",
        "var",
        "etc",
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link, target in (
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ):
        (root / link).symlink_to(target)
    for name, folder in [(b, "usr/bin") for b in BINARIES] + [(s, "usr/sbin") for s in SBINARIES]:
        found = shutil.which(name, path="/usr/bin:/usr/sbin:/bin:/sbin")
        if found is None:
            continue
        _copy(found, root, f"{folder}/{name}")
        for lib in _libraries(found):
            name_only = os.path.basename(lib)
            if name_only.startswith("ld-linux"):
                _copy(lib, root, f"usr/lib64/{name_only}")
            _copy(lib, root, f"usr/lib/x86_64-linux-gnu/{name_only}")
    (root / "usr/bin/sh").unlink()
    shutil.copy2(os.path.realpath("/bin/sh"), root / "usr/bin/sh")
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            shutil.copy2(f"/etc/{name}", root / "usr/etc" / name)
    (root / "usr/etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "usr/etc/group").write_text("root:x:0:\n")
    (root / "usr/etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "usr/etc/gshadow").write_text("root:*::\n")
    (root / "usr/etc/ld.so.conf").write_text("/usr/lib64\n/usr/lib/x86_64-linux-gnu\n")
    return root


def install_payload(rpm_file: Path | list[Path], root: Path) -> Path:
    """Unpack RPMs' files (no scripts) into ``root``, /etc moved to /usr/etc as layering does."""
    files = rpm_file if isinstance(rpm_file, list) else [rpm_file]
    root.mkdir(parents=True, exist_ok=True)
    options = ["--nodeps", "--noscripts", "--notriggers", "--nosignature", "--nodigest"]
    subprocess.run(
        ["rpm", "-i", "--root", str(root), "--dbpath", "/usr/lib/sysimage/rpm", *options]
        + [str(f) for f in files],
        check=True,
        capture_output=True,
    )
    etc = root / "etc"
    if etc.is_dir():
        (root / "usr").mkdir(exist_ok=True)
        shutil.copytree(etc, root / "usr/etc", symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(etc)
    return root


def read_rpm_header(path: Path) -> object:
    import rpm

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    fd = os.open(path, os.O_RDONLY)
    try:
        return ts.hdrFromFdno(fd)
    finally:
        os.close(fd)
