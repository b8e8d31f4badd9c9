"""Disk full while the store writes objects: a clear error, and nothing visible changed.

The sysroot copy lives on a small tmpfs mounted in a private mount namespace
(``unshare -m``), sized so the package downloads but its payload does not fit in the
store. The whole case runs inside the namespace (the test process cannot see that
mount), in a child Python that reports back as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.repos import make_repo
from fixtures.rpms import build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.reliability_support import REPO_FILE, ROOT, Box, template

BIG = 8 << 20  # bytes of incompressible payload


@functools.cache
def can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


pytestmark = [
    needs_bwrap,
    needs_rpmbuild,
    pytest.mark.skipif(not can_mount_tmpfs(), reason="cannot mount a tmpfs in a namespace"),
]

CHILD = """
import json, subprocess, sys
from pathlib import Path
from tests.e2e.reliability_support import Box, leftovers, snapshot

template, mount = Path(sys.argv[1]), Path(sys.argv[2])
box = Box.copy_of(template, mount)
before = snapshot(box)
result = box.strata("install", "bigpkg", expect=None)
after = snapshot(box)
json.dump({"code": result.returncode, "stderr": result.stderr,
           "same": before == after, "leftovers": leftovers(box)}, sys.stdout)
"""


def big_rpm() -> Path:
    data = random.Random(7).randbytes(BIG)
    return build_rpm("bigpkg", autoreqprov=False, files={"/usr/share/bigpkg/blob": data})


def test_disk_full_while_writing_objects(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = template(tmp_path_factory.getbasetemp())
    # a template variant whose layer repo offers the big package
    variant = tmp_path / "variant"
    box = Box.copy_of(base, variant)
    repo = make_repo(tmp_path / "big-repo", [big_rpm()])
    (box.default_path() / REPO_FILE).write_text(
        f"[layer]\nname=layer\nbaseurl={repo.as_uri()}\nenabled=1\ngpgcheck=0\n"
    )
    used = int(subprocess.run(["du", "-sm", str(variant)], capture_output=True, text=True,
                              check=True).stdout.split()[0])  # fmt: skip
    size = used + (BIG >> 20) + 4  # the download fits, the unpacked payload does not
    mount = tmp_path / "small"
    mount.mkdir()
    script = (
        f"mount -t tmpfs -o size={size}m tmpfs {mount} && "
        f"exec {sys.executable} -c '{CHILD}' {variant} {mount}"
    )
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["code"] == 1, report
    assert "No space left" in report["stderr"], report["stderr"]
    assert "hint:" in report["stderr"], report["stderr"]
    assert "Traceback" not in report["stderr"], report["stderr"]
    assert report["same"], report
    assert report["leftovers"] == [], report
