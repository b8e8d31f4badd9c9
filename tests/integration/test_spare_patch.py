"""checkout(A) patched to B is checkout(B): every observable bit, and the same inodes."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_trees import D, F, L, build, sample_tree

from core.errors import StoreError
from core.store import Store

NAMES = st.sampled_from(["a", "b", "c", "dir", "x.y", "Ω"])
OWNERS = st.sampled_from([0, 7, 1000])
FILE_MODES = st.sampled_from([0o644, 0o600, 0o755, 0o4755, 0o444, 0o000])
DIR_MODES = st.sampled_from([0o755, 0o700, 0o1777, 0o2775, 0o555, 0o500])
VALUES = st.sampled_from([b"", b"1", b"2"])
FILE_XATTRS = st.dictionaries(st.sampled_from(["user.a", "trusted.t"]), VALUES, max_size=2).map(
    lambda d: tuple(sorted(d.items()))
)
LINK_XATTRS = st.dictionaries(st.sampled_from(["trusted.t"]), VALUES, max_size=1).map(
    lambda d: tuple(sorted(d.items()))
)
DATA = st.sampled_from([b"", b"one", b"two"])
files = st.builds(F, DATA, FILE_MODES, OWNERS, OWNERS, FILE_XATTRS)
links = st.builds(L, st.sampled_from(["a", "../b", "/etc"]), OWNERS, OWNERS, LINK_XATTRS)
trees = st.recursive(
    files | links,
    lambda inner: st.builds(
        D, st.dictionaries(NAMES, inner, max_size=4), DIR_MODES, OWNERS, OWNERS, FILE_XATTRS
    ),
    max_leaves=10,
)
roots = st.builds(
    D, st.dictionaries(NAMES, trees, max_size=5), DIR_MODES, OWNERS, OWNERS, FILE_XATTRS
)


def snapshot(store: Store, root: Path) -> dict[str, tuple[object, ...]]:
    """What a user observes (no times), plus whether each file is its store object."""
    out: dict[str, tuple[object, ...]] = {}
    objects: dict[int, str] = {}
    for dirpath, _dirs, names in os.walk(store.objects.root):
        for name in names:
            objects[os.lstat(os.path.join(dirpath, name)).st_ino] = name

    def visit(path: Path, rel: str) -> None:
        st_ = os.lstat(path)
        xattrs = tuple(
            sorted(
                (n, os.getxattr(path, n, follow_symlinks=False))
                for n in os.listxattr(path, follow_symlinks=False)
            )
        )
        linked = objects.get(st_.st_ino, "")
        if stat.S_ISDIR(st_.st_mode):
            out[rel] = ("dir", st_.st_mode, st_.st_uid, st_.st_gid, xattrs)
            for child in sorted(os.listdir(path)):
                visit(path / child, f"{rel}/{child}" if rel else child)
        elif stat.S_ISLNK(st_.st_mode):
            out[rel] = ("link", st_.st_uid, st_.st_gid, os.readlink(path), xattrs, linked)
        else:
            data = path.read_bytes()
            out[rel] = ("file", st_.st_mode, st_.st_uid, st_.st_gid, data, xattrs, linked)

    visit(root, "")
    return out


def commit(store: Store, base: Path, name: str, tree: D) -> str:
    build(base / name, tree)
    return store.commit_dir(base / name, timestamp=1)


def tree_of(store: Store, rev: str) -> str:
    found = store.subtree(rev, "")
    assert found is not None
    return found


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(roots, roots)
def test_patching_a_checkout_gives_exactly_the_new_checkout(a: D, b: D) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        store = Store.init(base / "repo")
        ca, cb = commit(store, base, "a", a), commit(store, base, "b", b)
        store.checkout(cb, base / "want")
        store.checkout(ca, base / "got")
        ta, tb = tree_of(store, ca), tree_of(store, cb)
        touched = store.patch_checkout(base / "got", ta, tb)
        assert snapshot(store, base / "got") == snapshot(store, base / "want")
        assert touched == store.count_changes(ta, tb, 10**6)
        assert (touched == 0) == (ta == tb)
        # and back: every kind change works in both directions
        store.patch_checkout(base / "got", tb, ta)
        store.checkout(ca, base / "again")
        assert snapshot(store, base / "got") == snapshot(store, base / "again")


def test_a_small_change_to_a_big_tree_touches_only_the_change(tmp_path: Path) -> None:
    big = D({f"d{i}": D({f"f{j}": F(b"%d" % j) for j in range(50)}) for i in range(40)})
    changed = D({**big.children, "d3": D({**big.children["d3"].children, "new": F(b"n")})})  # type: ignore[union-attr]
    store = Store.init(tmp_path / "repo")
    ca, cb = commit(store, tmp_path, "a", big), commit(store, tmp_path, "b", changed)
    store.checkout(ca, tmp_path / "co")
    assert store.patch_checkout(tmp_path / "co", tree_of(store, ca), tree_of(store, cb)) == 1
    assert (tmp_path / "co" / "d3" / "new").read_bytes() == b"n"
    assert store.count_changes(tree_of(store, ca), tree_of(store, cb), 0) is None


def test_a_symlink_in_the_checkout_is_never_followed(tmp_path: Path) -> None:
    """Where the tree has a directory and the checkout a symlink out of it, the patch
    fails before writing anything outside."""
    store = Store.init(tmp_path / "repo")
    old = D({"etc": D({"a": F(b"a")}), "usr": D({"x": F(b"x")})})
    new = D({"etc": D({"a": F(b"A"), "b": F(b"b")}), "usr": D({"x": F(b"x")})})
    ca, cb = commit(store, tmp_path, "a", old), commit(store, tmp_path, "b", new)
    store.checkout(ca, tmp_path / "co")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a").write_text("precious")
    co_etc = tmp_path / "co" / "etc"
    for child in co_etc.iterdir():
        child.unlink()
    co_etc.rmdir()
    co_etc.symlink_to(outside)
    with pytest.raises(StoreError, match="Cannot patch the checkout"):
        store.patch_checkout(tmp_path / "co", tree_of(store, ca), tree_of(store, cb))
    assert sorted(p.name for p in outside.iterdir()) == ["a"]
    assert (outside / "a").read_text() == "precious"


def test_removing_a_subtree_removes_a_symlink_in_it_not_its_target(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    old = D({"gone": D({"link": L(str(outside)), "ro": D({"f": F(b"f")}, mode=0o500)})})
    new = D({"gone": F(b"now a file")})
    ca, cb = commit(store, tmp_path, "a", old), commit(store, tmp_path, "b", new)
    store.checkout(ca, tmp_path / "co")
    store.patch_checkout(tmp_path / "co", tree_of(store, ca), tree_of(store, cb))
    assert (tmp_path / "co" / "gone").read_bytes() == b"now a file"
    assert (outside / "keep").read_text() == "keep"


def test_sample_tree_patched_from_empty_and_back(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    ca = commit(store, tmp_path, "a", D())
    cb = commit(store, tmp_path, "b", sample_tree())
    store.checkout(ca, tmp_path / "co")
    store.checkout(cb, tmp_path / "want")
    store.patch_checkout(tmp_path / "co", tree_of(store, ca), tree_of(store, cb))
    assert snapshot(store, tmp_path / "co") == snapshot(store, tmp_path / "want")
