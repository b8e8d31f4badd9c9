"""The solver benchmark runs end to end at a small size, and Strata and dnf agree on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_rpmbuild

ROOT = Path(__file__).resolve().parents[2]


def _has_dnf() -> bool:
    python = Path("/usr/bin/python3")
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import dnf"], capture_output=True, check=False)
    return probe.returncode == 0


@needs_rpmbuild
@pytest.mark.skipif(not _has_dnf(), reason="python3-dnf missing")
def test_small_benchmark_runs_and_both_tools_agree() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.solver_bench",
            "--packages",
            "3000",
            "--base",
            "40",
            "--rounds",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    rows = [line for line in out.splitlines() if line.rstrip().endswith(("True", "False"))]
    assert len(rows) == 10  # five requests, cold and warm
    assert all(row.rstrip().endswith("True") for row in rows), out
    assert "geometric mean ratio (warm)" in out
