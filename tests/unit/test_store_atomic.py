"""Atomic writes: a failed write leaves the old content and no temp file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import atomic


def test_write_bytes_replaces_content_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "ref"
    target.write_text("old")
    atomic.write_bytes(target, b"new\n", mode=0o600)
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref"]


def test_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "ref"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.open_atomic(target) as out:
        out.write(b"half")
        raise RuntimeError("crash in the middle")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref"]


def test_symlink_atomic_swaps_target(tmp_path: Path) -> None:
    link = tmp_path / "loader"
    atomic.symlink_atomic("loader.0", link)
    atomic.symlink_atomic("loader.1", link)
    assert link.readlink() == Path("loader.1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loader"]


def test_syncfs_runs(tmp_path: Path) -> None:
    atomic.syncfs(tmp_path)
