"""The one package diff behind `db diff` and every summary: rpm's version order, several
installed versions of one name (kernels), and the same answer whatever the hash seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from layering.rpm.pkgdiff import Nevra, PackageDiff, diff_packages, render_diff

ROOT = Path(__file__).resolve().parents[2]


def test_each_kind_in_rpm_version_order() -> None:
    old = ["bash-5.2-1.x86_64", "old-1-1.x86_64", "vim-9.0-2.x86_64", "same-1-1.noarch"]
    new = ["bash-5.10-1.x86_64", "new-1-1.x86_64", "vim-9.0-1.x86_64", "same-1-1.noarch"]
    diff = diff_packages(old, new)
    # 5.10 is newer than 5.2 (not a string compare)
    assert diff == PackageDiff(
        added=("new-1-1.x86_64",),
        removed=("old-1-1.x86_64",),
        upgraded=(("bash-5.2-1.x86_64", "bash-5.10-1.x86_64"),),
        downgraded=(("vim-9.0-2.x86_64", "vim-9.0-1.x86_64"),),
    )
    assert render_diff(diff) == [
        "Upgraded:",
        "  bash.x86_64 5.2-1 -> 5.10-1",
        "Downgraded:",
        "  vim.x86_64 9.0-2 -> 9.0-1",
        "Removed:",
        "  old-1-1.x86_64",
        "Added:",
        "  new-1-1.x86_64",
    ]


def test_an_epoch_wins_over_the_version() -> None:
    diff = diff_packages(["x-9-1.x86_64"], ["x-1:1-1.x86_64"])
    assert render_diff(diff) == ["Upgraded:", "  x.x86_64 9-1 -> 1:1-1"]


def test_arches_are_separate_packages() -> None:
    diff = diff_packages(["glibc-2.34-1.i686", "glibc-2.34-1.x86_64"], ["glibc-2.35-1.x86_64"])
    assert diff.removed == ("glibc-2.34-1.i686",)
    assert diff.upgraded == (("glibc-2.34-1.x86_64", "glibc-2.35-1.x86_64"),)


def test_same_sets_are_empty() -> None:
    assert diff_packages(["a-1-1.x86_64"], ["a-1-1.x86_64"]).empty
    assert render_diff(PackageDiff()) == []


KERNELS_BEFORE = ["kernel-5.14.0-9.el9.x86_64", "kernel-5.14.0-70.el9.x86_64"]
KERNELS_AFTER = ["kernel-5.14.0-162.el9.x86_64", "kernel-5.14.0-80.el9.x86_64"]
KERNELS_EXPECTED = [
    "Removed:",
    "  kernel-5.14.0-9.el9.x86_64",
    "  kernel-5.14.0-70.el9.x86_64",
    "Added:",
    "  kernel-5.14.0-80.el9.x86_64",
    "  kernel-5.14.0-162.el9.x86_64",
]


def test_two_kernels_going_to_two_others_are_all_reported() -> None:
    # Installed side by side, not upgraded into each other: every version leaving or
    # arriving is listed, oldest first in rpm's order (9 < 70 < 80 < 162).
    assert render_diff(diff_packages(KERNELS_BEFORE, KERNELS_AFTER)) == KERNELS_EXPECTED
    kept = diff_packages(KERNELS_BEFORE, [KERNELS_BEFORE[1], *KERNELS_AFTER])
    assert kept.removed == (KERNELS_BEFORE[0],)
    assert kept.added == ("kernel-5.14.0-80.el9.x86_64", "kernel-5.14.0-162.el9.x86_64")
    one_each = diff_packages([KERNELS_BEFORE[0]], [KERNELS_AFTER[0]])
    assert one_each.upgraded == ((KERNELS_BEFORE[0], KERNELS_AFTER[0]),)


@pytest.mark.parametrize("seed", ["0", "1", "7", "12345"])
def test_the_answer_does_not_depend_on_the_hash_seed(seed: str) -> None:
    script = (
        "from layering.rpm.pkgdiff import diff_packages, render_diff\n"
        f"old = {KERNELS_BEFORE + ['bash-5.2-1.x86_64']!r}\n"
        f"new = {KERNELS_AFTER + ['bash-5.3-1.x86_64']!r}\n"
        "print('\\n'.join(render_diff(diff_packages(set(old), set(new)))))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "Upgraded:",
        "  bash.x86_64 5.2-1 -> 5.3-1",
        *KERNELS_EXPECTED,
    ]


def test_nevra_parsing() -> None:
    n = Nevra.parse("python3-libs-1:3.11.4-1.fc38.x86_64")
    assert (n.name, n.epoch, n.version, n.release, n.arch) == (
        "python3-libs",
        "1",
        "3.11.4",
        "1.fc38",
        "x86_64",
    )
    assert n.evr == "1:3.11.4-1.fc38"
