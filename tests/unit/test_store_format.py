"""The store's encodings: metadata headers, names, commits, git trees and packs."""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path

import pytest

from core.errors import StoreError
from core.store import commits, gitpack, treemeta
from core.store.devino import DevInoCache
from core.store.types import EntryKind, FileMeta


def test_headers_round_trip_and_are_canonical() -> None:
    meta = FileMeta(0, 5, stat.S_IFREG | 0o4755, (("security.selinux", b"x\0"), ("user.a b", b"")))
    data = treemeta.file_header(meta, 12, "ab" * 32)
    header = treemeta.decode(data)
    assert (header.kind, header.meta, header.size, header.sha256) == (
        EntryKind.FILE,
        meta,
        12,
        "ab" * 32,
    )
    assert b"mode 0104755\n" in data and b"xattr user.a%20b \n" in data
    link = treemeta.decode(treemeta.symlink_header(FileMeta.symlink(3, 4), "../t\udcff"))
    assert link.target == "../t\udcff" and link.size == 5
    folder = treemeta.decode(treemeta.dir_header(FileMeta.directory(0o1777)))
    assert folder.kind is EntryKind.DIR and folder.meta.mode == stat.S_IFDIR | 0o1777


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d.replace(b"uid 0", b"uid 00"),  # not canonical
        lambda d: d.replace(b"kind file", b"kind dir"),  # mode bits disagree
        lambda d: d[5:],  # no magic
        lambda d: d.replace(b"size 1", b"size x"),
    ],
)
def test_damaged_headers_are_refused(mangle: object) -> None:
    data = treemeta.file_header(FileMeta.regular(), 1, "00" * 32)
    with pytest.raises(StoreError, match="Corrupt"):
        treemeta.decode(mangle(data))  # type: ignore[operator]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\0b", ".strata-dirmeta"])
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(StoreError, match="hostile or reserved"):
        treemeta.check_name(name)


def test_split_path() -> None:
    assert treemeta.split_path("") == [] and treemeta.split_path("/") == []
    assert treemeta.split_path("/usr/bin/") == ["usr", "bin"]
    for bad in ("a//b", "a/../b", "./a"):
        with pytest.raises(StoreError):
            treemeta.split_path(bad)


def test_commits_are_deterministic_and_carry_metadata() -> None:
    data = commits.encode_commit(
        "aa" * 20, ["bb" * 20], "Subject\n\nbody", {"b": "2\n", "a": "1"}, 7
    )
    assert data == commits.encode_commit(
        "aa" * 20, ["bb" * 20], "Subject\n\nbody", {"a": "1", "b": "2\n"}, 7
    )
    info = commits.decode_commit("cc" * 20, data)
    assert info.tree == "aa" * 20 and info.parents == ("bb" * 20,) and info.timestamp == 7
    assert info.subject == "Subject\n\nbody" and dict(info.metadata) == {"a": "1", "b": "2\n"}
    with pytest.raises(StoreError):
        commits.encode_commit("aa" * 20, [], "", {"k": 1}, 0)  # type: ignore[dict-item]


def test_git_ids_and_tree_order_match_git() -> None:
    assert gitpack.object_id(gitpack.OBJ_BLOB, b"hello\n").hex() == (
        "ce013625030ba8dba906f756967f9e9ca394464a"
    )
    assert gitpack.object_id(gitpack.OBJ_TREE, b"").hex() == (
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    )
    oid = bytes(20)
    # git sorts a directory "a" as "a/": after "a.b", although "a" < "a.b" bytewise
    tree = gitpack.encode_tree([(0o040000, b"a", oid), (0o100644, b"a.b", oid)])
    assert [name for _, name, _ in gitpack.decode_tree(tree)] == [b"a.b", b"a"]


def test_pack_and_index_list_every_object(tmp_path: Path) -> None:
    writer = gitpack.PackWriter(tmp_path, lambda oid: False)
    ids = [writer.add(gitpack.OBJ_BLOB, b"x" * n) for n in range(300)]
    assert writer.add(gitpack.OBJ_BLOB, b"x") == ids[1] and len(writer) == 300
    assert writer.get(ids[7]) == (gitpack.OBJ_BLOB, b"x" * 7)
    name = writer.finish()
    assert name is not None and writer.finish() is None
    assert sorted(gitpack.idx_object_ids(tmp_path / f"{name}.idx")) == sorted(ids)
    pack = (tmp_path / f"{name}.pack").read_bytes()
    assert pack[:4] == b"PACK" and int.from_bytes(pack[8:12], "big") == 300
    # the first object's data starts after its one-byte type/size header
    assert zlib.decompressobj().decompress(pack[13:]) == b""


def test_devino_cache_hits_only_unchanged_files(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    cache = DevInoCache(tmp_path / "cache")
    st = os.lstat(path)
    assert cache.lookup(st) is None
    cache.record(st, b"\1" * 20)
    cache.save()
    again = DevInoCache(tmp_path / "cache")
    assert again.lookup(st) == b"\1" * 20
    os.chmod(path, 0o600)
    assert again.lookup(os.lstat(path)) is None
    obj = tmp_path / "obj"
    obj.write_text("o")
    os.utime(obj, ns=(0, 0))
    again.record_object(os.lstat(obj), b"\2" * 20)
    os.link(obj, tmp_path / "checkout-link")  # bumps ctime: still recognised as the object
    assert again.lookup(os.lstat(tmp_path / "checkout-link")) == b"\2" * 20
    with open(obj, "a") as handle:
        handle.write("edited")  # mtime moves
    assert again.lookup(os.lstat(obj)) is None
    (tmp_path / "cache").write_bytes(b"garbage")
    assert DevInoCache(tmp_path / "cache").lookup(st) is None
