"""Spare checkouts through the CLI: prepared after each mutating command, used by staging.

The test suite runs with ``STRATA_SPARE=sync`` (tests/conftest.py); these tests also
drive the default (a detached background builder), ``off`` and a bad value. One
sysroot walks through the steps in file order.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.sysroot import spare
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.cli_pkg_support import World

pytestmark = [needs_bwrap, needs_rpmbuild]

_COMMIT = re.compile(r"[0-9a-f]{40}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("spare"))


def strata(
    sysroot: Path, *args: str, mode: str, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STRATA_SPARE": mode}
    argv = [sys.executable, "-m", "layering.cli", "--sysroot", str(sysroot), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    assert result.returncode == expect, f"{args}: {result.returncode}\n{result.stderr}"
    return result


def ready(sysroot: Path) -> list[str]:
    root = sysroot / "ostree" / "spare"
    return sorted(n for n in os.listdir(root) if _COMMIT.fullmatch(n)) if root.is_dir() else []


def default_commit(world: World) -> str:
    checksum: str = world.status()[0]["checksum"]
    return checksum


def object_inodes(sysroot: Path) -> set[int]:
    objects = sysroot / "ostree" / "repo" / "objects"
    return {p.lstat().st_ino for p in objects.glob("??/*")}


def tree_view(root: Path, objects: set[int]) -> dict[str, Any]:
    """Names, kinds, modes, owners, contents, link targets; for files outside /etc and
    /var, whether they are hardlinks into the store (as a checkout makes them)."""
    view: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [".", *sorted(dirnames + filenames)]:
            path = Path(dirpath) / name
            rel = os.path.relpath(path, root)
            st = path.lstat()
            if path.is_symlink():
                what: object = os.readlink(path)
            elif path.is_file():
                what = hashlib.sha256(path.read_bytes()).hexdigest()
                if not rel.startswith(("etc/", "var/")):
                    what = (what, st.st_ino in objects)
            else:
                what = "dir"
            view[rel] = (st.st_mode, st.st_uid, st.st_gid, what)
    return view


def test_a_deploy_leaves_the_spare_of_the_new_default(world: World) -> None:
    # World deployed and booted the base (sync mode, from conftest).
    assert ready(world.sysroot) == [default_commit(world)]


def test_staging_patches_the_spare_into_the_same_deployment_a_full_checkout_gives(
    world: World, tmp_path: Path
) -> None:
    other = tmp_path / "sysroot"
    subprocess.run(["cp", "-a", str(world.sysroot), str(other)], check=True)
    shutil.rmtree(other / "ostree" / "spare")  # the full-checkout twin

    (spare,) = ready(world.sysroot)
    spare_ino = (world.sysroot / "ostree" / "spare" / spare).stat().st_ino
    strata(world.sysroot, "install", "hello", mode="sync")
    strata(other, "install", "hello", mode="off")

    new = world.status()[0]
    assert new["staged"] and "hello" in new["packages"]
    patched = world.deployment_path(new)
    assert patched.stat().st_ino == spare_ino, "the spare was renamed into place"
    assert ready(world.sysroot) == [new["checksum"]], "and replaced by the new default's"
    assert ready(other) == []
    full = other / patched.relative_to(world.sysroot)
    assert full.is_dir()
    mine = tree_view(patched, object_inodes(world.sysroot))
    theirs = tree_view(full, object_inodes(other))
    assert mine == theirs
    assert mine["usr/bin/hello"][3][1] is True  # a hardlink into the store


def test_a_bad_mode_is_refused_before_anything_changes(world: World) -> None:
    before = world.snapshot()
    spares = ready(world.sysroot)
    result = strata(world.sysroot, "install", "tool", mode="sometimes", expect=1)
    assert "STRATA_SPARE='sometimes'" in result.stderr
    assert "hint:" in result.stderr and "background" in result.stderr
    assert world.snapshot() == before
    assert ready(world.sysroot) == spares


def test_off_prepares_nothing_and_staging_still_works(world: World) -> None:
    shutil.rmtree(world.sysroot / "ostree" / "spare")
    strata(world.sysroot, "install", "tool", mode="off")
    assert "tool" in world.status()[0]["packages"]
    assert ready(world.sysroot) == []


def test_the_default_prepares_it_in_the_background(world: World) -> None:
    # The command returns (its output pipes closed: the builder inherits no stdio) ...
    strata(world.sysroot, "uninstall", "tool", mode="background")
    commit = default_commit(world)
    # ... holding the builder lock for the detached builder it started, so waiting for
    # builders right away waits for that one, even before its interpreter is up.
    spare.wait_for_builder(world.sysroot)
    assert ready(world.sysroot) == [commit]
    out = strata(world.sysroot, "admin", "prepare-spare", mode="off").stdout
    assert out.strip() == f"Spare checkout of {commit} was ready"


def test_a_replaced_staged_deployment_goes_to_the_trash_for_the_builder(world: World) -> None:
    strata(world.sysroot, "install", "tool", mode="background")
    spare.wait_for_builder(world.sysroot)
    staged = world.status()[0]
    assert staged["staged"]
    old_path = world.deployment_path(staged)
    root = world.sysroot / "ostree" / "spare"
    # Hold the builder lock: the builder the next command leaves must wait for it.
    fd = os.open(root / ".build-lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        strata(world.sysroot, "uninstall", "tool", mode="background")
        # The replaced staged deployment is gone from the stateroot at once: renamed
        # into the trash, not removed while the command ran.
        assert not old_path.exists()
        trash = [n for n in os.listdir(root) if n.startswith(".trash-")]
        assert len(trash) == 1 and (root / trash[0] / "tree" / "usr").is_dir()
    finally:
        os.close(fd)
    # The builder that command left (it could not be handed the lock held here, so it
    # may still be starting) or prepare-spare, whichever is first, sweeps the trash.
    strata(world.sysroot, "admin", "prepare-spare", mode="off")
    assert not [n for n in os.listdir(root) if n.startswith(".trash-")]
    assert ready(world.sysroot) == [default_commit(world)]


def test_prepare_spare_is_idempotent(world: World) -> None:
    commit = default_commit(world)
    out = strata(world.sysroot, "admin", "prepare-spare", mode="off").stdout
    assert out.strip() == f"Spare checkout of {commit} was ready"
    assert ready(world.sysroot) == [commit]


def test_dry_run_prepares_nothing(world: World) -> None:
    shutil.rmtree(world.sysroot / "ostree" / "spare")
    strata(world.sysroot, "install", "--dry-run", "tool", mode="sync")
    assert ready(world.sysroot) == []


def test_cleanup_base_removes_the_checkout_caches(world: World) -> None:
    strata(world.sysroot, "admin", "prepare-spare", mode="off")
    assert ready(world.sysroot) == [default_commit(world)]
    out = strata(world.sysroot, "cleanup", "--base", mode="off").stdout
    assert "Removed spare checkouts" in out
    assert ready(world.sysroot) == []
    assert not (world.sysroot / "ostree" / "repo" / "cache" / "base-checkouts").exists()
    # Both are caches: the next command checks out in full and works as before.
    strata(world.sysroot, "install", "tool", mode="sync")
    assert "tool" in world.status()[0]["packages"]
    assert ready(world.sysroot) == [default_commit(world)]
