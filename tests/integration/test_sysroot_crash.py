"""kill -9 at every step of deploy, stage, finalize, rollback and cleanup.

A child process runs one operation with ``os.rename``/``symlink``/``unlink``/``rmdir``
counted, and SIGKILLs itself just before the Nth call. Afterwards the sysroot must list
cleanly, boot the old or the new default (never nothing, never a half-written one), and
the next command must clean up whatever was left and succeed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sysroot_helpers import BASE_ETC, check_consistent, commit, leftovers, new_sysroot

from core.sysroot import Sysroot
from core.sysroot.origin import Origin

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = Origin("os/base", layered=False)

CHILD = """
import os, signal, sys
from pathlib import Path
from core.sysroot.origin import Origin
from core.sysroot import Sysroot

path, op, kill_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
sysroot = Sysroot.open(path)
count = 0

def counted(fn):
    def wrapper(*args, **kwargs):
        global count
        count += 1
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return wrapper

for name in ("rename", "replace", "symlink", "unlink", "rmdir"):
    setattr(os, name, counted(getattr(os, name)))

origin = Origin("os/base", layered=False)
if op in ("deploy", "stage"):
    sysroot.deploy("os", "os/next", origin)
elif op == "finalize":
    sysroot.finalize_staged()
elif op == "rollback":
    sysroot.rollback("os")
elif op == "cleanup":
    sysroot.cleanup(pending=True)
print(count)
"""


def run_child(path: Path, op: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(path), op, str(kill_at)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def setup(tmp_path: Path, op: str) -> Sysroot:
    """A sysroot where the operation also has to drop an old deployment."""
    sysroot = new_sysroot(tmp_path)
    commit(sysroot, BASE_ETC)
    commit(sysroot, {**BASE_ETC, "usr/etc/motd": "welcome v2\n"}, branch="os/next")
    sysroot.deploy("os", "os/base", ORIGIN)
    sysroot.set_pinned(0, True)  # survives the next two deploys, then unpinned below
    sysroot.deploy("os", "os/base", ORIGIN)
    if op == "rollback":
        sysroot.deploy("os", "os/next", ORIGIN)
    else:
        sysroot.deploy("os", "os/base", ORIGIN)
    sysroot.set_pinned(2, False)
    if op in ("stage", "finalize", "cleanup"):
        sysroot.simulate_reboot()
        (sysroot.deployments()[0].path / "etc" / "hostname").write_text("admin\n")
    if op in ("finalize", "cleanup"):
        sysroot.deploy("os", "os/next", ORIGIN)
    if op == "cleanup":
        deploy_dir = sysroot.deployments()[1].path.parent
        (deploy_dir / ".tmp-leftover").mkdir()
    return sysroot


def kill_points(total: int, limit: int = 8) -> list[int]:
    if total <= limit:
        return list(range(1, total + 1))
    step = total / limit
    return sorted({1, 2, 3, total - 1, total, *(int(1 + i * step) for i in range(limit))})


@pytest.mark.parametrize("op", ["deploy", "stage", "finalize", "rollback", "cleanup"])
def test_kill_9_at_each_step_leaves_a_consistent_sysroot(tmp_path: Path, op: str) -> None:
    template = setup(tmp_path / "template", op).path
    before = [(d.key, d.staged) for d in Sysroot.open(template).deployments()]
    probe = tmp_path / "probe"
    subprocess.run(["cp", "-a", str(template.parent), str(probe)], check=True)
    completed = run_child(probe / "sysroot", op, 0)
    assert completed.returncode == 0, completed.stderr
    after = [(d.key, d.staged) for d in Sysroot.open(probe / "sysroot").deployments()]
    total = int(completed.stdout.strip())
    assert total > 0
    if op == "stage":
        assert len(after) == len(before) + 1
    elif op != "rollback":
        assert len(after) < len(before)  # something is dropped: the risky part
    for kill_at in kill_points(total):
        work = tmp_path / f"kill-{kill_at}"
        subprocess.run(["cp", "-a", str(template.parent), str(work)], check=True)
        result = run_child(work / "sysroot", op, kill_at)
        assert result.returncode == -9, (kill_at, result.stderr)
        sysroot = Sysroot.open(work / "sysroot")
        check_consistent(sysroot)
        state = [(d.key, d.staged) for d in sysroot.deployments()]
        # The deployment list is the old one or the new one, never a mixture.
        assert state in (before, after), (kill_at, state)
        default = sysroot.deployments()[0]
        if not default.staged:
            assert (default.path / "etc" / "motd").is_file()
        # The next command cleans up by itself and the operation can be completed.
        rerun = run_child(work / "sysroot", op, 0)
        assert rerun.returncode == 0, (kill_at, rerun.stderr)
        sysroot.cleanup()
        assert leftovers(sysroot) == [], kill_at
        check_consistent(sysroot)
        subprocess.run(["rm", "-rf", str(work)], check=True)
