"""Store.batch: one durability point for many refs (objects -> one syncfs -> every ref)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import atomic
from core.errors import StoreError
from core.store import FileMeta, Store
from core.store.refs import ref_path

ROOT = Path(__file__).resolve().parents[2]


def _commit(store: Store, text: str, branch: str | None = None) -> str:
    tree = store.edit(None)
    tree.put_file("f", text.encode(), FileMeta.regular())
    return store.commit_tree(tree.write(), branch=branch, subject=text, timestamp=0)


def test_refs_move_after_one_syncfs_and_only_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.init(tmp_path / "repo")
    on_disk_at_sync: list[list[str]] = []
    names = ("strata/pkg/a", "strata/rpm-digest/a", "os/base")

    def spy(path: str | Path) -> None:
        on_disk_at_sync.append([n for n in names if ref_path(store.git_dir, n).exists()])
        real_syncfs(path)

    real_syncfs = atomic.syncfs
    monkeypatch.setattr(atomic, "syncfs", spy)
    with store.batch():
        a = _commit(store, "a")
        store.set_ref("strata/pkg/a", a)
        with store.batch():  # joins the outer batch
            store.set_ref("strata/rpm-digest/a", a)
        b = _commit(store, "b", branch="os/base")
        # the batch reads its own refs; nothing is on disk yet
        assert store.resolve("strata/pkg/a") == a
        assert store.refs("strata/") == {"strata/pkg/a": a, "strata/rpm-digest/a": a}
        assert store.read_file("os/base", "f") == b"b"
        assert Store.open(store.path).refs() == {}
        assert on_disk_at_sync == []
    assert on_disk_at_sync == [[]]  # one syncfs, before any ref moved
    assert Store.open(store.path).refs() == {
        "os/base": b,
        "strata/pkg/a": a,
        "strata/rpm-digest/a": a,
    }
    assert os.listdir(store.path / "tmp") == []
    assert store.fsck() == []


def test_a_batch_without_writes_does_not_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.init(tmp_path / "repo")
    calls: list[str] = []
    monkeypatch.setattr(atomic, "syncfs", lambda path: calls.append(str(path)))
    with store.batch():
        assert store.refs() == {}
    assert calls == []


def test_an_error_inside_keeps_what_completed(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    with pytest.raises(RuntimeError, match="boom"), store.batch():
        a = _commit(store, "a", branch="strata/pkg/a")
        raise RuntimeError("boom")
    assert Store.open(store.path).resolve("strata/pkg/a") == a


def test_a_clash_moves_no_ref_of_the_batch(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    a = _commit(store, "a", branch="x")
    with pytest.raises(StoreError, match="clashes"), store.batch():
        store.set_ref("y", a)
        store.set_ref("x/y", a)
    assert Store.open(store.path).refs() == {"x": a}


def test_deleting_a_queued_ref(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    a = _commit(store, "a", branch="kept")
    with store.batch():
        store.set_ref("queued", a)
        store.set_ref("kept", a)
        store.delete_ref("queued")
        store.delete_ref("kept")
        assert store.refs() == {}
    assert Store.open(store.path).refs() == {}


_CRASH = """
import sys
from core.store import Store, FileMeta
store = Store.open(sys.argv[1])
with store.batch():
    for name in ("a", "b"):
        editor = store.edit(None)
        editor.put_file("f", name.encode(), FileMeta(0, 0, 0o100644))
        store.commit_tree(editor.write(), branch="strata/pkg/" + name, timestamp=0)
"""


def test_a_crash_inside_a_batch_moves_no_ref(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    env = {**os.environ, "STRATA_FAULT": "commit-after-ref@2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH, str(store.path)], env=env, capture_output=True, check=False
    )
    assert proc.returncode == -9, proc.stderr
    reopened = Store.open(store.path)
    assert reopened.refs() == {}
    assert reopened.fsck() == []
