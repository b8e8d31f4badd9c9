"""Tree surgery: edits, unions with conflicts, overlayfs upper dirs, and diffs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from store_trees import D, F, L, build, snapshot

from core.errors import ConflictError, StoreError
from core.store import DiffEntry, DiffKind, FileMeta, Store


def _commit(store: Store, tmp_path: Path, name: str, tree: D) -> str:
    build(tmp_path / name, tree)
    return store.write_dir_tree(tmp_path / name)


def test_editor_builds_trees_from_existing_objects(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    base = _commit(
        store,
        tmp_path,
        "base",
        D({"usr": D({"lib": D({"a": F(b"a")}), "bin": D({"sh": F(b"sh")})})}),
    )
    pkg = _commit(store, tmp_path, "pkg", D({"x": F(b"x", 0o755), "y": L("x")}))
    editor = store.edit(base)
    editor.put_file("etc/motd", b"hello\n", FileMeta.regular(0o640, 0, 4))
    editor.put_symlink("usr/bin/ls", "busybox", FileMeta.symlink(0, 0))
    editor.put_dir("var/empty", FileMeta.directory(0o711, 5, 6))
    editor.put_dir("usr", FileMeta.directory(0o750))  # re-meta keeps the contents
    editor.graft("opt/pkg", pkg)
    editor.remove("usr/bin/sh")
    with pytest.raises(StoreError, match="no such path"):
        editor.remove("usr/bin/missing")
    with pytest.raises(StoreError, match="not a directory"):
        editor.put_file("usr/lib/a/b", b"", FileMeta.regular())
    tree = editor.write()
    assert store.subtree(tree, "usr/lib") == store.subtree(base, "usr/lib")
    assert store.subtree(tree, "opt/pkg") == pkg
    store.checkout(tree, tmp_path / "co")
    snap = snapshot(tmp_path / "co")
    assert snap["etc/motd"] == ("file", stat.S_IFREG | 0o640, 0, 4, b"hello\n", ())
    assert snap["usr/bin/ls"][3] == "busybox"
    assert snap["var/empty"] == ("dir", stat.S_IFDIR | 0o711, 5, 6, ())
    assert snap["usr"][1] == stat.S_IFDIR | 0o750
    assert "usr/bin/sh" not in snap and snap["opt/pkg/x"][4] == b"x"
    assert store.edit(base).write() == base  # no change, same id
    empty = store.edit().write()
    assert [e.path for e in store.walk(empty)] == [""]


def test_overlay_merges_identical_and_names_both_labels_on_conflict(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    shared = F(b"LICENSE", 0o644)
    base = _commit(store, tmp_path, "base", D({"usr": D({"share": D({"lic": shared})})}))
    a = _commit(store, tmp_path, "a", D({"usr": D({"share": D({"lic": shared}), "a": F(b"a")})}))
    b = _commit(store, tmp_path, "b", D({"usr": D({"b": F(b"b"), "c": F(b"c from b")})}))
    c = _commit(store, tmp_path, "c", D({"usr": D({"c": F(b"c from c")})}))
    d = _commit(store, tmp_path, "d", D({"usr": D({"a": D({"x": F(b"")})})}))
    e = _commit(store, tmp_path, "e", D({"usr": D({"b": F(b"b")})}, mode=0o700))

    editor = store.edit(base)
    editor.overlay(a, label="pkg-a")
    editor.overlay(b, label="pkg-b")
    merged = editor.write()
    assert sorted(e.path for e in store.walk(merged)) == [
        "", "usr", "usr/a", "usr/b", "usr/c", "usr/share", "usr/share/lic",
    ]  # fmt: skip
    with pytest.raises(ConflictError) as err:
        editor.overlay(c, label="pkg-c")
    assert "usr/c" in str(err.value) and "pkg-b" in str(err.value) and "pkg-c" in str(err.value)
    with pytest.raises(ConflictError, match="usr/a.*base.*pkg-d"):
        store.edit(merged).overlay(d, label="pkg-d")  # a new editor: its tree is "base"
    fresh = store.edit(base)
    fresh.overlay(a, label="pkg-a")
    with pytest.raises(ConflictError, match="usr/a.*pkg-a.*pkg-d"):
        fresh.overlay(d, label="pkg-d")
    with pytest.raises(ConflictError, match="directory metadata"):
        store.edit(base).overlay(e, label="pkg-e")
    start = store.edit()
    start.overlay(e, label="pkg-e")  # an empty editor adopts the first tree's root
    assert start.write() == e


def _whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def test_apply_upper_whiteouts_opaque_dirs_and_copy_ups(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    lower = D(
        {
            "etc": D({"gone": F(b"x"), "keep": F(b"k"), "conf": F(b"old", 0o600)}),
            "cache": D({"old1": F(b"1"), "old2": F(b"2")}),
            "usr": D({"lib": D({"big": F(b"B" * 1000, 0o644)})}),
        }
    )
    base = _commit(store, tmp_path, "lower", lower)
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    _whiteout(upper / "etc" / "gone")
    (upper / "etc" / "conf").write_bytes(b"new")
    os.chmod(upper / "etc" / "conf", 0o644)
    os.setxattr(upper / "etc" / "conf", "trusted.overlay.origin", b"\x00junk")
    (upper / "etc" / "added").write_bytes(b"added")
    os.chmod(upper / "etc", 0o750)
    (upper / "cache").mkdir()
    os.setxattr(upper / "cache", "trusted.overlay.opaque", b"y")
    (upper / "cache" / "fresh").write_bytes(b"f")
    (upper / "usr" / "lib").mkdir(parents=True)
    (upper / "usr" / "lib" / "big").write_bytes(b"")  # metacopy: metadata only
    os.chmod(upper / "usr" / "lib" / "big", 0o4755)
    os.setxattr(upper / "usr" / "lib" / "big", "trusted.overlay.metacopy", b"")
    editor = store.edit(base)
    editor.apply_upper(upper)
    tree = editor.write()
    store.checkout(tree, tmp_path / "co")
    snap = snapshot(tmp_path / "co")
    assert "etc/gone" not in snap
    assert snap["etc/keep"][4] == b"k" and snap["etc/added"][4] == b"added"
    assert snap["etc/conf"] == ("file", stat.S_IFREG | 0o644, 0, 0, b"new", ())
    assert snap["etc"][1] == stat.S_IFDIR | 0o750
    assert sorted(p for p in snap if p.startswith("cache/")) == ["cache/fresh"]
    assert snap["cache"][4] == ()  # overlay's own xattrs never reach the tree
    assert snap["usr/lib/big"] == ("file", stat.S_IFREG | 0o4755, 0, 0, b"B" * 1000, ())
    assert store.subtree(tree, "usr") != store.subtree(base, "usr")
    assert store.fsck() == []


def _overlay_works(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    for name in ("l", "u", "w", "m"):
        (probe / name).mkdir(parents=True)
    script = (
        f"mount -t overlay overlay -o lowerdir={probe}/l,upperdir={probe}/u,workdir={probe}/w "
        f"{probe}/m"
    )
    probe_run = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], check=False, capture_output=True
    )
    ok = probe_run.returncode == 0
    shutil.rmtree(probe)
    return ok


def test_apply_upper_from_a_real_overlay_mount(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or not _overlay_works(tmp_path):
        pytest.skip("overlayfs cannot be mounted here")
    store = Store.init(tmp_path / "repo")
    base = _commit(
        store,
        tmp_path,
        "lower",
        D({"etc": D({"a": F(b"a"), "b": F(b"b")}), "d": D({"x": F(b"x")}), "s": L("etc/a")}),
    )
    store.checkout(base, tmp_path / "lowerco")
    for name in ("upper", "work", "merged"):
        (tmp_path / name).mkdir()
    script = f"""set -e
mount -t overlay overlay -o lowerdir={tmp_path}/lowerco,upperdir={tmp_path}/upper,workdir={tmp_path}/work {tmp_path}/merged
cd {tmp_path}/merged
rm etc/a
echo changed > etc/b
rm -r d && mkdir d && echo y > d/y
chmod 700 etc
rm s && ln -s etc/b s
"""  # noqa: E501
    subprocess.run(["unshare", "-m", "sh", "-c", script], check=True)
    editor = store.edit(base)
    editor.apply_upper(tmp_path / "upper")
    store.checkout(editor.write(), tmp_path / "co")
    snap = snapshot(tmp_path / "co")
    assert sorted(snap) == ["", "d", "d/y", "etc", "etc/b", "s"]
    assert snap["etc/b"][4] == b"changed\n" and snap["etc"][1] == stat.S_IFDIR | 0o700
    assert snap["s"][3] == "etc/b"
    assert (tmp_path / "lowerco" / "etc" / "a").read_bytes() == b"a"  # the lower is untouched


def test_diff_reports_added_modified_deleted_and_metadata_changes(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    old = _commit(
        store,
        tmp_path,
        "old",
        D({"f": F(b"1"), "m": F(b"same", 0o644), "gone": D({"x": F(b"x")}), "t": F(b"t")}),
    )
    new = _commit(
        store,
        tmp_path,
        "new",
        D({"f": F(b"2"), "m": F(b"same", 0o600), "added": F(b"a"), "t": D({"in": F(b"")})}),
    )
    assert store.diff(old, new) == [
        DiffEntry(DiffKind.ADDED, "added"),
        DiffEntry(DiffKind.MODIFIED, "f"),
        DiffEntry(DiffKind.DELETED, "gone"),
        DiffEntry(DiffKind.DELETED, "gone/x"),
        DiffEntry(DiffKind.MODIFIED, "m"),
        DiffEntry(DiffKind.MODIFIED, "t"),
        DiffEntry(DiffKind.ADDED, "t/in"),
    ]
    assert store.diff(old, old) == []
    root_meta = _commit(store, tmp_path, "root", D({"f": F(b"1")}, mode=0o700))
    assert DiffEntry(DiffKind.MODIFIED, "") in store.diff(old, root_meta)


def test_put_file_streams_real_files_and_reads_file_likes(tmp_path: Path) -> None:
    import io
    import tempfile

    store = Store.init(tmp_path / "repo")
    payload = os.urandom(3 << 20)
    editor = store.edit()
    with tempfile.TemporaryFile() as spool:
        spool.write(b"skip" + payload)
        spool.seek(4)  # from the current position, as a reader left it
        editor.put_file("big", spool, FileMeta.regular(0o755))
    editor.put_file("small", io.BytesIO(b"small"), FileMeta.regular())
    tree = editor.write()
    assert store.read_file(tree, "big") == payload
    assert store.read_file(tree, "small") == b"small"
    big = store.lookup(tree, "big")
    assert big is not None and big.size == len(payload) and big.meta.mode == 0o100755
    assert store.fsck() == []  # nothing referenced yet, but the objects are sound
    store.commit_tree(tree, branch="t")
    assert store.fsck() == []


def test_guessed_directory_metadata_yields_to_overlaid_trees(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    pkg = _commit(store, tmp_path, "pkg", D({"usr": D({"x": F(b"x")}, mode=0o750)}, mode=0o700))
    editor = store.edit()
    editor.put_file("usr/y", b"y", FileMeta.regular())  # "usr" and "/" are guessed: 0755
    editor.overlay(pkg, label="pkg")
    tree = editor.write()
    usr, root = store.lookup(tree, "usr"), store.lookup(tree, "")
    assert usr is not None and usr.meta.mode == stat.S_IFDIR | 0o750
    assert root is not None and root.meta.mode == stat.S_IFDIR | 0o700
    explicit = store.edit()
    explicit.put_dir("", FileMeta.directory(0o755))  # said on purpose: a clash is a conflict
    with pytest.raises(ConflictError, match="directory metadata"):
        explicit.overlay(pkg, label="pkg")


def test_is_empty_dir_sees_stored_and_edited_directories(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    base = _commit(
        store, tmp_path, "base", D({"a": D({"b": D({}), "c": D({"f": F(b"f")})}), "g": F(b"g")})
    )
    editor = store.edit(base)
    assert editor.is_empty_dir("a/b"), "stored, never loaded"
    assert not editor.is_empty_dir("a/c") and not editor.is_empty_dir("a")
    assert not editor.is_empty_dir("g") and not editor.is_empty_dir("a/missing")
    assert not editor.is_empty_dir("no/such/parent")
    editor.remove("a/c/f")
    assert editor.is_empty_dir("a/c"), "emptied by this edit"
