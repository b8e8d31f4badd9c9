"""Test tiers by directory (unit, integration, e2e) and capability probes."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every mutating command prepares the next spare checkout before it exits (not in a
# detached background process), so the staging of the next command in a test always
# patches one, deterministically, and no builder outlives the test that started it.
os.environ.setdefault("STRATA_SPARE", "sync")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).relative_to(ROOT / "tests").parts[0]
        if tier in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, tier))


@functools.cache
def can_bwrap() -> bool:
    """True when bubblewrap can build a sandbox here (probed, not guessed from the uid)."""
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "true"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@functools.cache
def can_rpmbuild() -> bool:
    return shutil.which("rpmbuild") is not None and shutil.which("createrepo_c") is not None


needs_bwrap = pytest.mark.skipif(not can_bwrap(), reason="bubblewrap cannot sandbox here")
needs_rpmbuild = pytest.mark.skipif(not can_rpmbuild(), reason="rpmbuild/createrepo_c missing")
