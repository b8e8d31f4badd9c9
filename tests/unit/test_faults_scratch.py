"""core.faults (named crash points) and core.scratch (crash-proof scratch dirs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.scratch import SUFFIX, creating, remove_tree, scratch_dir, sweep, temp_dir

ROOT = Path(__file__).resolve().parents[2]


def run_points(env: str, *names: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\nfrom core.faults import fault_point\n"
        "for n in sys.argv[1:]:\n    fault_point(n)\n    print(n, flush=True)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *names],
        cwd=ROOT,
        env={**os.environ, "STRATA_FAULT": env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_fault_point_kills_at_the_named_hit_only() -> None:
    result = run_points("b@2, c", "a", "b", "a", "b", "c")
    assert result.returncode == -9
    assert result.stdout.split() == ["a", "b", "a"]


def test_unarmed_points_do_nothing() -> None:
    result = run_points("", "a", "b")
    assert result.returncode == 0
    assert result.stdout.split() == ["a", "b"]


def test_sweep_removes_what_a_dead_process_left_and_spares_live_ones(tmp_path: Path) -> None:
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom core.scratch import scratch_dir\n"
        "with scratch_dir(Path(sys.argv[1]), 'dead-') as d:\n"
        "    (d / 'half-written').write_text('x')\n    os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=False)
    (stale,) = [p.name for p in tmp_path.iterdir()]
    assert stale.startswith("dead-")
    (tmp_path / "not-ours").mkdir()
    with scratch_dir(tmp_path, "live-") as live:
        assert sweep(tmp_path) == [stale]
        assert live.is_dir()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "not-ours"])
    assert [p.name for p in tmp_path.iterdir()] == ["not-ours"]


def test_sweep_removes_a_scratch_dir_killed_before_its_marker(tmp_path: Path) -> None:
    # What mkdtemp leaves when the process dies before the marker: empty, unmarked, but
    # named as scratch dirs are. An unmarked dir of another name, or one with content,
    # is not Strata's to remove.
    (tmp_path / f"strata-engine-x1y2{SUFFIX}").mkdir()
    (tmp_path / "not-ours").mkdir()
    (tmp_path / f"full{SUFFIX}").mkdir()
    (tmp_path / f"full{SUFFIX}" / "data").write_text("x")
    assert sweep(tmp_path) == [f"strata-engine-x1y2{SUFFIX}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"full{SUFFIX}", "not-ours"]


def test_a_sweep_waits_for_a_scratch_dir_being_made(tmp_path: Path) -> None:
    # Between mkdtemp and the marker a creator holds the parent shared: a sweep (which
    # holds it exclusively) cannot run in that window.
    with creating(tmp_path):
        blocked = subprocess.run(
            ["flock", "--nonblock", "--exclusive", str(tmp_path), "true"], check=False
        )
    assert blocked.returncode == 1
    free = subprocess.run(
        ["flock", "--nonblock", "--exclusive", str(tmp_path), "true"], check=False
    )
    assert free.returncode == 0


def test_own_tempfiles_keeps_python_temp_files_inside_the_scratch_dir(tmp_path: Path) -> None:
    import tempfile  # noqa: PLC0415

    before = tempfile.gettempdir()
    with (
        scratch_dir(tmp_path, "work-", own_tempfiles=True) as work,
        tempfile.TemporaryDirectory(prefix="inner-") as inner,
    ):
        assert Path(inner).parent == work / "tmp"
    assert tempfile.gettempdir() == before
    assert list(tmp_path.iterdir()) == []


def test_remove_tree_takes_everything_and_never_follows_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "file").write_text("kept")
    tree = tmp_path / "tree"
    for n in range(20):  # several depths, many directories per depth
        deep = tree / f"d{n}" / "a" / "b"
        deep.mkdir(parents=True)
        (deep / "f").write_text("x")
    (tree / "d0" / "to-outside").symlink_to(outside / "keep")
    (tree / "d1" / "dangling").symlink_to(tmp_path / "nowhere")
    (tree / "d2" / "a").chmod(0o555)  # a read-only directory, as a checkout makes
    (tree / "d3" / "a" / "b").chmod(0o500)
    remove_tree(tree)
    assert not os.path.lexists(tree)
    assert (outside / "keep" / "file").read_text() == "kept"
    remove_tree(tree)  # absent: nothing to do, no error


def test_temp_dir_is_removed_after_the_block_even_on_error(tmp_path: Path) -> None:
    made = []
    try:
        with temp_dir(tmp_path, "scripts-") as path:
            made.append(path)
            (path / "lower" / "usr").mkdir(parents=True)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert made and made[0].parent == tmp_path and made[0].name.startswith("scripts-")
    assert not made[0].exists()
