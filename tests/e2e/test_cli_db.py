"""``strata db list`` / ``strata db diff`` on a sysroot and on a store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fixtures.realistic import base_packages
from fixtures.repos import make_repo, write_repo_file
from tests.conftest import needs_bwrap, needs_rpmbuild

pytestmark = [needs_rpmbuild, needs_bwrap]


def strata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layering.cli", *args], capture_output=True, text=True, check=False
    )


def ok(*args: str) -> str:
    result = strata(*args)
    assert result.returncode == 0, f"strata {' '.join(args)}: {result.stderr}"
    return result.stdout


def compose(store: Path, workdir: Path, version: int) -> str:
    repo = make_repo(workdir / f"repo{version}", base_packages(version))
    tfdir = workdir / f"tf{version}"
    tfdir.mkdir()
    write_repo_file(tfdir / "base.repo", "base", repo.as_uri())
    names = [p.name.rsplit("-", 2)[0] for p in base_packages(version)]
    treefile = tfdir / "treefile.yaml"
    treefile.write_text(
        yaml.safe_dump({"ref": f"os/base/v{version}", "repos": ["base"], "packages": names})
    )
    return ok("compose", "tree", "--repo", str(store), str(treefile)).splitlines()[-1]


@pytest.fixture(scope="module")
def sysroot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    tmp = tmp_path_factory.mktemp("db")
    root = tmp / "sysroot"
    ok("admin", "init-fs", str(root))
    ok("--sysroot", str(root), "admin", "os-init", "os")
    store = root / "ostree" / "repo"
    v1 = compose(store, tmp, 1)
    v2 = compose(store, tmp, 2)
    ok("--sysroot", str(root), "admin", "deploy", "os/base/v1")
    ok("--sysroot", str(root), "admin", "simulate-reboot")
    return root, v1, v2


def test_db_list_defaults_to_the_booted_deployment(sysroot: tuple[Path, str, str]) -> None:
    root, v1, _ = sysroot
    listed = ok("--sysroot", str(root), "db", "list").split()
    assert listed == sorted(listed)
    assert {n.rsplit("-", 2)[0] for n in listed} == {
        p.name.rsplit("-", 2)[0] for p in base_packages(1)
    }
    assert ok("--sysroot", str(root), "db", "list", v1).split() == listed


def test_db_diff_between_two_bases(sysroot: tuple[Path, str, str]) -> None:
    root, _, _ = sysroot
    store = str(root / "ostree" / "repo")
    out = ok("db", "diff", "--repo", store, "os/base/v1", "os/base/v2").splitlines()
    assert out[0].startswith("ostree diff commit from: os/base/v1")
    body = out[2:]
    assert "Upgraded:" in body
    assert any(line.startswith("  bash.x86_64 5.2.15-1 -> 5.2.15-2") for line in body)
    assert body[body.index("Added:") + 1].startswith("  xz-libs-")
    assert "Removed:" not in body
    # one rev: from the booted deployment to that rev
    one = ok("--sysroot", str(root), "db", "diff", "os/base/v2").splitlines()
    assert one[2:] == body
    # reversed: a downgrade and a removal
    back = ok("db", "diff", "--repo", store, "os/base/v2", "os/base/v1")
    assert "Downgraded:" in back and "Removed:" in back


def test_db_diff_without_revs_is_booted_against_pending(sysroot: tuple[Path, str, str]) -> None:
    root, _, _ = sysroot
    out = ok("--sysroot", str(root), "db", "diff").splitlines()
    assert out[-1] == "No package changes."


def test_db_unknown_rev(sysroot: tuple[Path, str, str]) -> None:
    root, _, _ = sysroot
    result = strata("--sysroot", str(root), "db", "list", "no/such/ref")
    assert result.returncode == 1
    assert "no/such/ref" in result.stderr
    result = strata("db", "list", "--repo", str(root / "ostree" / "repo"))
    assert result.returncode == 1
    assert "no revision given" in result.stderr


def test_a_reader_that_goes_away_ends_the_listing_quietly(sysroot: tuple[Path, str, str]) -> None:
    """``strata db list | head -1``: no "error: Broken pipe", the exit a shell reports for
    a tool killed by SIGPIPE (141), as rpm and ostree end there."""
    root, _, _ = sysroot
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "layering.cli", "--sysroot", str(root), "db", "list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 128 + signal.SIGPIPE
