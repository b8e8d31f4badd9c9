"""Spare checkouts in a real sysroot: staging patches one, and the result is the same."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sysroot_helpers import BASE_ETC, check_consistent, commit, leftovers, new_sysroot
from test_spare_patch import snapshot
from test_sysroot_crash import kill_points, run_child

from core.errors import StoreError
from core.store import Store
from core.sysroot import StagingInfo, Sysroot, spare
from core.sysroot.origin import Origin

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = Origin("os/base", layered=False)

BASE = {
    **BASE_ETC,
    **{f"usr/share/doc/f{i}": f"doc {i}\n" for i in range(30)},
    "usr/lib/old/x": "old\n",
    "usr/lib/kind": "a file\n",
    "usr/bin/sh": "->tool",
}
NEXT = {
    **{k: v for k, v in BASE.items() if not k.startswith("usr/lib/")},
    "usr/bin/tool": "#!/bin/sh\necho v2\n",
    "usr/lib/new/y": "new\n",
    "usr/lib/kind/now-a-dir": "x\n",
    "usr/etc/motd": "welcome v2\n",
}


def spare_names(sysroot: Sysroot) -> list[str]:
    return sorted(os.listdir(spare.spare_root(sysroot.path)))


def ready_only(sysroot: Sysroot) -> list[str]:
    """The spare dir's entries besides the lock files."""
    return [n for n in spare_names(sysroot) if n not in (".lock", ".build-lock")]


def setup(tmp_path: Path) -> tuple[Sysroot, str, str]:
    sysroot = new_sysroot(tmp_path)
    base = commit(sysroot, BASE)
    nxt = commit(sysroot, NEXT, branch="os/next")
    sysroot.deploy("os", "os/base", ORIGIN)
    return sysroot, base, nxt


def test_deploy_patches_a_spare_into_the_same_deployment_a_checkout_gives(tmp_path: Path) -> None:
    sysroot, base, nxt = setup(tmp_path)
    assert sysroot.last_staging == StagingInfo(None, 0)
    assert sysroot.prepare_spare() == base
    assert ready_only(sysroot) == [base]
    patched = sysroot.deploy("os", "os/next", ORIGIN)
    assert sysroot.last_staging.from_spare == base
    assert 0 < sysroot.last_staging.entries_patched < 20
    assert ready_only(sysroot) == []  # consumed
    full = sysroot.deploy("os", "os/next", ORIGIN)
    assert sysroot.last_staging == StagingInfo(None, 0)
    assert full.path != patched.path
    assert snapshot(sysroot.repo, patched.path) == snapshot(sysroot.repo, full.path)
    assert (patched.path / "usr/lib/kind/now-a-dir").read_text() == "x\n"
    assert (patched.path / "etc/motd").read_text() == "welcome v2\n"
    assert leftovers(sysroot) == []


def test_prepare_is_idempotent_and_keeps_one_spare(tmp_path: Path) -> None:
    sysroot, base, nxt = setup(tmp_path)
    assert sysroot.prepare_spare() == base
    ino = os.stat(spare.spare_root(sysroot.path) / base).st_ino
    assert sysroot.prepare_spare(base[:10]) == base
    assert os.stat(spare.spare_root(sysroot.path) / base).st_ino == ino  # not rebuilt
    assert sysroot.prepare_spare("os/next") == nxt
    assert ready_only(sysroot) == [nxt]


def test_a_second_builder_returns_at_once_and_no_builder_takes_the_sysroot_lock(
    tmp_path: Path,
) -> None:
    sysroot, base, _nxt = setup(tmp_path)
    spare.spare_root(sysroot.path).mkdir(parents=True, exist_ok=True)
    fd = os.open(spare.spare_root(sysroot.path) / ".build-lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert sysroot.prepare_spare() is None
        assert ready_only(sysroot) == []
    finally:
        os.close(fd)
    fd = os.open(sysroot.path / "ostree" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a user's command runs
        assert sysroot.prepare_spare() == base
    finally:
        os.close(fd)


def test_nothing_deployed_prepares_nothing(tmp_path: Path) -> None:
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE)
    assert sysroot.prepare_spare() is None
    with pytest.raises(StoreError, match="Unknown ref"):
        sysroot.prepare_spare("os/nope")


@pytest.mark.parametrize("fault", ["checkout-mid@7", "spare-before-rename"])
def test_a_killed_builder_leaves_nothing_after_the_next_run(tmp_path: Path, fault: str) -> None:
    sysroot, base, _nxt = setup(tmp_path)
    code = (
        "import sys\nfrom pathlib import Path\nfrom core.sysroot import Sysroot\n"
        "Sysroot.open(Path(sys.argv[1])).prepare_spare()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(sysroot.path)],
        cwd=ROOT,
        env={**os.environ, "STRATA_FAULT": fault},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == -9, result.stderr
    (left,) = ready_only(sysroot)
    assert left.startswith(".build-")
    assert spare.drop(sysroot.path, {base}) == []
    assert ready_only(sysroot) == []
    # a crash never leaves a half-built spare under a ready name
    sysroot.deploy("os", "os/next", ORIGIN)
    assert sysroot.last_staging.from_spare is None
    assert sysroot.prepare_spare() is not None


def test_a_spare_of_a_pruned_commit_is_never_used(tmp_path: Path) -> None:
    sysroot, base, _nxt = setup(tmp_path)
    gone = commit(sysroot, {**BASE, "usr/share/only-here": "x\n"}, branch="os/gone")
    assert sysroot.prepare_spare("os/gone") == gone
    sysroot.repo.delete_ref("os/gone")
    sysroot.repo.prune(extra_roots=[base])  # a store-level prune: the spare stays
    assert ready_only(sysroot) == [gone]
    sysroot.deploy("os", "os/next", ORIGIN)
    assert sysroot.last_staging.from_spare is None
    assert spare.ready(sysroot.path) == []
    spare.drop(sysroot.path, set())
    assert ready_only(sysroot) == []


def test_sysroot_prune_drops_spares_of_undeployed_commits(tmp_path: Path) -> None:
    sysroot, base, nxt = setup(tmp_path)
    assert sysroot.prepare_spare("os/next") == nxt
    sysroot.prune()
    assert ready_only(sysroot) == []
    assert sysroot.prepare_spare() == base
    sysroot.prune()
    assert ready_only(sysroot) == [base]


def test_preparing_a_commit_pruned_meanwhile_fails_and_leaves_nothing(tmp_path: Path) -> None:
    sysroot, _base, _nxt = setup(tmp_path)
    gone = commit(sysroot, {**BASE, "usr/share/only-here": "x\n"}, branch="os/gone")
    sysroot.repo.commit_info(gone)  # this process's view of the store holds the commit
    other = Store.open(sysroot.repo.path)
    other.delete_ref("os/gone")
    other.prune()
    with pytest.raises(StoreError):
        spare.prepare(sysroot.path, sysroot.repo, gone)
    assert ready_only(sysroot) == []


def test_a_spare_changed_behind_our_back_is_dropped_and_the_deploy_checks_out(
    tmp_path: Path,
) -> None:
    """A failing patch never fails the deploy: the spare is consumed (removed) and the
    full checkout runs; nothing outside the spare is touched, no temp dir stays."""
    sysroot, base, _nxt = setup(tmp_path)
    assert sysroot.prepare_spare() == base
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "tool").write_text("precious")
    bin_dir = spare.spare_root(sysroot.path) / base / "usr" / "bin"
    for child in bin_dir.iterdir():
        child.unlink()
    bin_dir.rmdir()
    bin_dir.symlink_to(outside)
    deployed = sysroot.deploy("os", "os/next", ORIGIN)
    assert sysroot.last_staging == StagingInfo(None, 0)
    assert (deployed.path / "usr/bin/tool").read_text() == "#!/bin/sh\necho v2\n"
    assert (outside / "tool").read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == ["tool"]
    assert ready_only(sysroot) == []
    assert leftovers(sysroot) == []


def test_a_spare_too_far_from_the_commit_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sysroot, base, _nxt = setup(tmp_path)
    assert sysroot.prepare_spare() == base
    monkeypatch.setattr(spare, "MAX_PATCH_ENTRIES", 3)
    sysroot.deploy("os", "os/next", ORIGIN)
    assert sysroot.last_staging.from_spare is None
    assert ready_only(sysroot) == [base]


def test_a_deploy_killed_after_taking_a_spare_leaves_no_temp(tmp_path: Path) -> None:
    """The spare is consumed: its directory became the killed deploy's temp dir, which
    the next command removes."""
    sysroot, base, nxt = setup(tmp_path)
    assert sysroot.prepare_spare() == base
    code = (
        "import sys\nfrom pathlib import Path\nfrom core.sysroot.origin import Origin\n"
        "from core.sysroot import Sysroot\n"
        "origin = Origin('os/base', layered=False)\n"
        "Sysroot.open(Path(sys.argv[1])).deploy('os', 'os/next', origin)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(sysroot.path)],
        cwd=ROOT,
        env={**os.environ, "STRATA_FAULT": "deploy-before-rename"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == -9, result.stderr
    assert ready_only(sysroot) == []
    deployed = sysroot.deploy("os", "os/next", ORIGIN)
    assert deployed.checksum == nxt
    assert leftovers(sysroot) == []
    assert [d.checksum for d in sysroot.deployments()] == [nxt, base]


def test_kill_9_at_each_step_of_a_stage_with_a_spare(tmp_path: Path) -> None:
    """Every rename/unlink/rmdir of a stage that patches a spare: the sysroot lists the
    old or the new deployments, the spare is ready and whole or gone, and the next
    command completes the stage and leaves nothing behind."""
    template = new_sysroot(tmp_path / "template")
    base = commit(template, BASE)
    commit(template, NEXT, branch="os/next")
    template.deploy("os", "os/base", ORIGIN)
    template.simulate_reboot()
    assert template.prepare_spare() == base
    spare_files = sorted(str(p) for p in (spare.spare_root(template.path) / base).rglob("*"))
    before = [(d.key, d.staged) for d in template.deployments()]
    probe = tmp_path / "probe"
    subprocess.run(["cp", "-a", str(template.path.parent), str(probe)], check=True)
    completed = run_child(probe / "sysroot", "stage", 0)
    assert completed.returncode == 0, completed.stderr
    total = int(completed.stdout.strip())
    assert spare.ready(probe / "sysroot") == []  # the stage took the spare
    assert total > 5  # the take's rename and the patch's unlinks are among the steps
    for kill_at in kill_points(total, limit=6):
        work = tmp_path / f"kill-{kill_at}"
        subprocess.run(["cp", "-a", str(template.path.parent), str(work)], check=True)
        result = run_child(work / "sysroot", "stage", kill_at)
        assert result.returncode == -9, (kill_at, result.stderr)
        sysroot = Sysroot.open(work / "sysroot")
        check_consistent(sysroot)
        state = [(d.key, d.staged) for d in sysroot.deployments()]
        assert state == before or len(state) == len(before) + 1, (kill_at, state)
        left = spare.ready(sysroot.path)
        assert left in ([], [base]), kill_at
        if left:
            root = spare.spare_root(sysroot.path) / base
            assert sorted(str(p) for p in root.rglob("*")) == [
                f.replace(str(template.path), str(sysroot.path)) for f in spare_files
            ]
        rerun = run_child(work / "sysroot", "stage", 0)
        assert rerun.returncode == 0, (kill_at, rerun.stderr)
        sysroot.cleanup()
        assert leftovers(sysroot) == [], kill_at
        check_consistent(sysroot)
        subprocess.run(["rm", "-rf", str(work)], check=True)
