"""The sysroot lock: exclusive across processes, re-entrant within one, names the holder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import LockError
from core.sysroot.lock import sysroot_lock

HOLD = """
import sys, time
from pathlib import Path
from core.sysroot.lock import sysroot_lock
with sysroot_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(30)
"""


def test_second_process_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    root = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(LockError, match=f"process {holder.pid}"), sysroot_lock(lock):
            pass
        assert time.monotonic() - start < 2
    finally:
        holder.kill()
        holder.wait()
    # Once the holder is gone (even killed), the lock is free again.
    with sysroot_lock(lock):
        assert lock.read_text().strip() == str(os.getpid())


def test_reentrant_within_one_process(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with sysroot_lock(lock), sysroot_lock(lock):
        assert lock.read_text().strip() == str(os.getpid())
    assert lock.read_text() == ""
