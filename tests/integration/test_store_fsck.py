"""fsck names every injected corruption; prune removes exactly what nothing reaches."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from store_trees import D, F, L, build, snapshot

from core.errors import StoreError
from core.store import Store, gitpack


def _store(tmp_path: Path) -> tuple[Store, str, str]:
    build(
        tmp_path / "src",
        D({"etc": D({"conf": F(b"setting=1\n", 0o640, 0, 4)}), "bin": L("usr/bin"), "f": F(b"f")}),
    )
    store = Store.init(tmp_path / "repo")
    base = store.commit_dir(tmp_path / "src", branch="base", timestamp=1)
    build(tmp_path / "src", D({"extra": D({"new": F(b"new file\n")})}))
    second = store.commit_dir(tmp_path / "src", branch="next", parents=[base], timestamp=2)
    assert store.fsck() == []
    return store, base, second


def _object(store: Store, rev: str, path: str) -> Path:
    entry = store.lookup(rev, path)
    assert entry is not None
    return store.objects.path(entry.object_id)


def _flip_byte(store: Store, base: str, second: str) -> str:
    obj = _object(store, base, "etc/conf")
    data = bytearray(obj.read_bytes())
    data[0] ^= 0x01
    fd = os.open(obj, os.O_WRONLY)
    os.pwrite(fd, bytes(data), 0)
    os.close(fd)
    return obj.parent.name + obj.name


def _missing_file_object(store: Store, base: str, second: str) -> str:
    obj = _object(store, second, "extra/new")
    obj.unlink()
    return obj.parent.name + obj.name


def _altered_mode(store: Store, base: str, second: str) -> str:
    obj = _object(store, base, "etc/conf")
    os.chmod(obj, 0o666)
    return obj.parent.name + obj.name


def _altered_owner(store: Store, base: str, second: str) -> str:
    obj = _object(store, base, "f")
    os.chown(obj, 123, 0)
    return obj.parent.name + obj.name


def _altered_xattr(store: Store, base: str, second: str) -> str:
    obj = _object(store, base, "f")
    os.setxattr(obj, "user.sneaky", b"1")
    return obj.parent.name + obj.name


def _missing_symlink_object(store: Store, base: str, second: str) -> str:
    obj = _object(store, base, "bin")
    obj.unlink()
    return obj.parent.name + obj.name


def _missing_git_object(store: Store, base: str, second: str) -> str:
    """The second commit's new trees live in their own pack: delete that pack."""
    tree = store.subtree(second, "extra")
    assert tree is not None
    Store.open(store.path).commit_info(second)  # the commit itself stays readable
    for idx in (store.git_dir / "objects" / "pack").glob("*.idx"):
        if bytes.fromhex(tree) in gitpack.idx_object_ids(idx):
            idx.unlink()
            idx.with_suffix(".pack").unlink()
    return store.commit_info(second).tree  # the first object fsck meets in that pack


def _ref_to_missing_commit(store: Store, base: str, second: str) -> str:
    (store.git_dir / "refs" / "heads" / "ghost").write_text("ab" * 20 + "\n")
    return "ghost"


@pytest.mark.parametrize(
    "corrupt",
    [
        _flip_byte,
        _missing_file_object,
        _altered_mode,
        _altered_owner,
        _altered_xattr,
        _missing_symlink_object,
        _missing_git_object,
        _ref_to_missing_commit,
    ],
)
def test_fsck_names_each_injected_corruption(
    tmp_path: Path, corrupt: Callable[[Store, str, str], str]
) -> None:
    store, base, second = _store(tmp_path)
    name = corrupt(store, base, second)
    problems = Store.open(store.path).fsck()
    assert problems, "fsck missed the corruption"
    assert any(name in problem for problem in problems), problems


def test_prune_removes_only_unreachable_objects(tmp_path: Path) -> None:
    store, base, second = _store(tmp_path)
    store.checkout(second, tmp_path / "before")
    new_obj = _object(store, second, "extra/new")
    kept_obj = _object(store, base, "etc/conf")
    # nothing is unreachable yet: the objects survive
    stats = store.prune()
    assert stats.file_objects_removed == 0 and stats.git_objects_removed == 0
    store.delete_ref("next")
    stats = store.prune(extra_roots=[base])
    assert stats.file_objects_removed == 1 and stats.git_objects_removed > 0
    assert not new_obj.exists() and kept_obj.exists()
    assert store.fsck() == []
    with pytest.raises(StoreError):
        store.commit_info(second)
    store.checkout("base", tmp_path / "after")
    assert snapshot(tmp_path / "after") == {
        k: v for k, v in snapshot(tmp_path / "before").items() if not k.startswith("extra")
    }


def test_prune_keeps_extra_roots_that_no_ref_names(tmp_path: Path) -> None:
    store, base, second = _store(tmp_path)
    store.delete_ref("next")
    store.delete_ref("base")
    store.prune(extra_roots=[second])
    assert store.fsck() == []
    store.checkout(second, tmp_path / "co")
    assert (tmp_path / "co" / "extra" / "new").read_bytes() == b"new file\n"
    store.prune()
    assert not any((store.git_dir / "objects" / "pack").glob("*.idx"))
    assert not any(p for fan in store.objects.root.iterdir() for p in fan.iterdir())


def test_many_commits_consolidate_packs(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    for i in range(40):
        editor = store.edit()
        editor.put_file(f"f{i}", str(i).encode(), store_meta())
        store.commit_tree(editor.write(), branch=f"b{i}", timestamp=i)
    assert len(list((store.git_dir / "objects" / "pack").glob("*.idx"))) <= 33
    assert store.read_file("b0", "f0") == b"0" and store.fsck() == []


def store_meta() -> object:
    from core.store import FileMeta

    return FileMeta.regular()


def test_fsck_finds_a_flipped_byte_inside_a_pack(tmp_path: Path) -> None:
    store, base, second = _store(tmp_path)
    packs = sorted((store.git_dir / "objects" / "pack").glob("*.pack"), key=os.path.getsize)
    biggest = packs[-1]  # the first commit's trees and blobs
    data = bytearray(biggest.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    os.chmod(biggest, 0o644)
    biggest.write_bytes(bytes(data))
    problems = Store.open(store.path).fsck()
    assert problems and any("git" in problem for problem in problems), problems
