"""``python -m bench`` in its tiny mode: a 200-file base, one round of install-one.

It proves the benchmark still drives Strata and every reference tool end to end (a
renamed flag or step would otherwise only show up in ``make bench``). It asserts
what a reader of the table relies on, never a time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, needs_bwrap, needs_rpmbuild

pytestmark = [
    needs_bwrap,
    needs_rpmbuild,
    pytest.mark.skipif(shutil.which("ostree") is None, reason="ostree CLI missing"),
]


def test_tiny_install_one_prints_the_table_with_every_reference(tmp_path: Path) -> None:
    env = {"STRATA_BENCH_CACHE": str(tmp_path / "cache"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    argv = [sys.executable, "-m", "bench", "--size", "200", "--rounds", "1", "--only",
            "install-one", "--no-dnf"]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    rows = [line for line in lines if line.startswith("install-one ") and " on " not in line]
    assert len(rows) == 3, proc.stdout
    assert "cp -al" in rows[0] and "rpm -i" in rows[0]
    assert "ostree pipeline" in rows[1]
    assert "next spare checkout" in rows[2]  # the background work, shown beside
    assert any("goals met" in line for line in lines)
    saved = json.loads((tmp_path / "cache" / "last.json").read_text())
    assert [r["scenario"] for r in saved["rows"]] == ["install-one"] * 3
    # The scratch space of the run is gone; the cached base stays for the next run.
    assert not any((tmp_path / "cache" / "work").iterdir())
    assert list((tmp_path / "cache").glob("base-200-*/base.json"))
