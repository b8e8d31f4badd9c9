"""write_dir_tree(adopt=True): a file handed over becomes its object by a link, not a copy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import StoreError
from core.store import Store


def _tree(root: Path, data: bytes) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "big").write_bytes(data)
    (root / "sub" / "small").write_bytes(b"small\n")
    (root / "link").symlink_to("big")
    for path in (root, root / "sub"):
        path.chmod(0o755)
    for path in (root / "big", root / "sub" / "small"):
        path.chmod(0o644)
    return root


def test_adopted_files_are_the_objects_and_the_tree_is_the_same(tmp_path: Path) -> None:
    data = os.urandom(5 << 20)  # above the size read into memory
    copied = Store.init(tmp_path / "copied")
    expected = copied.write_dir_tree(_tree(tmp_path / "a", data))
    store = Store.init(tmp_path / "repo")
    src = _tree(store.path / "tmp" / "src", data)
    tree = store.write_dir_tree(src, adopt=True)
    assert tree == expected
    entry = store.lookup(tree, "big")
    assert entry is not None
    obj = store.objects.path(entry.object_id)
    assert os.stat(obj).st_ino == os.stat(src / "big").st_ino  # no second copy of the bytes
    assert os.stat(obj).st_mtime_ns == 0
    # the file leaves with its directory; the object stays whole
    for path in (src / "big", src / "sub" / "small", src / "link"):
        path.unlink()
    assert store.read_file(tree, "big") == data
    assert store.read_file(tree, "sub/small") == b"small\n"
    assert store.fsck() == []


def test_present_objects_and_shared_files_are_left_alone(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    first = store.write_dir_tree(_tree(store.path / "tmp" / "one", b"same\n"), adopt=True)
    again = _tree(store.path / "tmp" / "two", b"same\n")
    assert store.write_dir_tree(again, adopt=True) == first
    shared = store.path / "tmp" / "three"
    _tree(shared, b"other\n")
    os.link(shared / "big", tmp_path / "elsewhere")  # seen elsewhere: must not change
    mtime = os.stat(shared / "big").st_mtime_ns
    tree = store.write_dir_tree(shared, adopt=True)
    assert os.stat(tmp_path / "elsewhere").st_mtime_ns == mtime
    assert store.read_file(tree, "big") == b"other\n"
    assert store.fsck() == []


def test_special_files_are_refused_as_without_adopt(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    src = _tree(store.path / "tmp" / "src", b"data\n")
    os.mkfifo(src / "sub" / "fifo")
    with pytest.raises(StoreError, match="fifos are not allowed"):
        store.write_dir_tree(src, adopt=True)
