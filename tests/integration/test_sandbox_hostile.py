"""Hostile scriptlets against the real sandbox: the host and the store stay untouched.

Each probe is what a malicious package author would try from a %post run as
real root. Probes that could change the host only ever write a value back to
itself (a sysctl's current value), so a failing test never changes a setting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from triggers_support import build_minimal_root

from tests.conftest import needs_bwrap
from triggers import Sandbox

pytestmark = needs_bwrap


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_minimal_root(tmp_path_factory.mktemp("hostile-root") / "root")


def sandboxed(root: Path, tmp_path: Path, script: str) -> tuple[int, str]:
    upper = tmp_path / "upper"
    upper.mkdir(exist_ok=True)
    with Sandbox([root], upper=upper) as sandbox:
        result = sandbox.run(["/bin/sh", "-c", script])
    return result.returncode, result.output


def test_every_proc_mount_is_read_only_and_no_sysfs_is_mounted(root: Path, tmp_path: Path) -> None:
    code, out = sandboxed(root, tmp_path, "cat /proc/self/mountinfo")
    assert code == 0, out
    mounts = {}
    for line in out.splitlines():
        fields = line.split()
        sep = fields.index("-")
        mounts[fields[4]] = (fields[5].split(","), fields[sep + 1])
    proc = {point: opts for point, (opts, _) in mounts.items() if point.startswith("/proc")}
    assert "/proc" in proc
    assert all("ro" in opts for opts in proc.values()), proc
    assert not [point for point, (_, fstype) in mounts.items() if fstype == "sysfs"]


@pytest.mark.parametrize(
    "knob",
    [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/hostname",
        "/proc/sys/vm/overcommit_memory",
    ],
)
def test_a_sysctl_written_back_to_itself_is_refused(root: Path, tmp_path: Path, knob: str) -> None:
    before = Path(knob).read_text()
    # Writing the current value back changes nothing even if the guard failed.
    code, out = sandboxed(root, tmp_path, f'v=$(cat {knob}) && printf "%s\\n" "$v" > {knob}')
    assert code != 0
    assert "Read-only file system" in out or "Permission denied" in out, out
    assert Path(knob).read_text() == before


def test_sysrq_trigger_cannot_be_opened_for_writing(root: Path, tmp_path: Path) -> None:
    # An empty redirection opens the file for writing and writes nothing.
    code, out = sandboxed(root, tmp_path, ": > /proc/sysrq-trigger")
    assert code != 0
    refusals = ["Read-only file system", "Permission denied"]
    if not Path("/proc/sysrq-trigger").exists():  # a kernel built without magic SysRq
        refusals.append("nonexistent")
    assert any(refusal in out for refusal in refusals), out


def test_scripts_can_still_write_to_their_standard_streams(root: Path, tmp_path: Path) -> None:
    code, out = sandboxed(root, tmp_path, "echo to-err > /dev/stderr; echo to-fd >/proc/self/fd/1")
    assert (code, out) == (0, "to-err\nto-fd\n")
