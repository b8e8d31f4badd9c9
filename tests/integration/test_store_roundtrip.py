"""Commit -> checkout keeps every bit a user can observe; hardlinks share what is identical."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_trees import D, F, L, build, sample_tree, snapshot

from core.errors import StoreError
from core.store import EntryKind, FileMeta, Store

NAMES = st.text(alphabet="abcxyz.-_ ÄΩ", min_size=1, max_size=6).filter(
    lambda n: n not in (".", "..", ".strata-dirmeta")
)
OWNERS = st.sampled_from([0, 1, 7, 1000, 65534])
FILE_MODES = st.sampled_from([0o644, 0o600, 0o755, 0o711, 0o4755, 0o2755, 0o1755, 0o444, 0o000])
DIR_MODES = st.sampled_from([0o755, 0o700, 0o711, 0o1777, 0o2775, 0o555])
VALUES = st.binary(max_size=8)
FILE_XATTRS = st.dictionaries(
    st.sampled_from(["user.a", "user.b", "trusted.t", "security.s"]), VALUES, max_size=3
).map(lambda d: tuple(sorted(d.items())))
LINK_XATTRS = st.dictionaries(st.sampled_from(["trusted.t", "security.s"]), VALUES, max_size=2).map(
    lambda d: tuple(sorted(d.items()))
)
files = st.builds(F, st.binary(max_size=300), FILE_MODES, OWNERS, OWNERS, FILE_XATTRS)
links = st.builds(L, st.text(alphabet="ab/.", min_size=1, max_size=10), OWNERS, OWNERS, LINK_XATTRS)
trees = st.recursive(
    files | links,
    lambda inner: st.builds(
        D, st.dictionaries(NAMES, inner, max_size=4), DIR_MODES, OWNERS, OWNERS, FILE_XATTRS
    ),
    max_leaves=12,
)
roots = st.builds(D, st.dictionaries(NAMES, trees, max_size=5), DIR_MODES, OWNERS, OWNERS)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(roots)
def test_random_trees_round_trip_exactly(tree: D) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        build(base / "src", tree)
        store = Store.init(base / "repo")
        first = store.commit_dir(base / "src", branch="t", timestamp=1)
        assert store.commit_dir(base / "src", timestamp=1) == first
        store.checkout("t", base / "linked")
        store.checkout("t", base / "copied", hardlink=False)
        expected = snapshot(base / "src")
        assert snapshot(base / "linked") == expected
        assert snapshot(base / "copied") == expected
        other = Store.init(base / "repo2")
        assert other.commit_dir(base / "copied", timestamp=1) == first
        assert store.fsck() == []


def test_sample_tree_round_trip_and_listing(tmp_path: Path) -> None:
    build(tmp_path / "src", sample_tree())
    store = Store.init(tmp_path / "repo")
    commit = store.commit_dir(
        tmp_path / "src", branch="os/base", subject="base", metadata={"version": "1"}
    )
    info = store.commit_info("os/base")
    assert (info.id, info.subject, dict(info.metadata)) == (commit, "base", {"version": "1"})
    assert store.resolve(commit[:10]) == commit
    su = store.lookup("os/base", "usr/bin/su")
    assert su is not None and su.kind is EntryKind.FILE and su.meta.mode == 0o104755
    link = store.lookup(commit, "bin")
    assert link is not None and (link.kind, link.target) == (EntryKind.SYMLINK, "usr/bin")
    assert store.read_file("os/base", "secret") == b"s3cret\n"
    assert store.read_file("os/base", "bin/su") is None  # no symlink is followed
    assert store.read_file("os/base", "usr") is None
    paths = [entry.path for entry in store.walk("os/base")]
    assert paths == sorted(paths, key=lambda p: p.split("/")) and paths[0] == ""
    assert "usr/share/empty" in paths
    assert store.subtree("os/base", "usr/share") is not None
    assert store.subtree("os/base", "secret") is None
    store.checkout(commit, tmp_path / "co")
    assert snapshot(tmp_path / "co") == snapshot(tmp_path / "src")
    store.checkout(commit, tmp_path / "bin-only", subpath="usr/bin")
    assert sorted(os.listdir(tmp_path / "bin-only")) == ["su", "tool", "wall"]


def test_unchanged_subtrees_keep_their_ids(tmp_path: Path) -> None:
    build(tmp_path / "src", sample_tree())
    store = Store.init(tmp_path / "repo")
    first = store.commit_dir(tmp_path / "src")
    (tmp_path / "src" / "usr" / "bin" / "new").write_text("new")
    second = store.commit_dir(tmp_path / "src", parents=[first])
    assert store.subtree(first, "usr/lib") == store.subtree(second, "usr/lib")
    assert store.subtree(first, "usr/bin") != store.subtree(second, "usr/bin")
    assert [c.id for c in store.log(second)] == [second, first]


def test_checkouts_share_inodes_but_not_across_metadata(tmp_path: Path) -> None:
    build(tmp_path / "src", D({"a": F(b"same", 0o644), "b": F(b"same", 0o600)}))
    store = Store.init(tmp_path / "repo")
    commit = store.commit_dir(tmp_path / "src")
    store.checkout(commit, tmp_path / "one")
    store.checkout(commit, tmp_path / "two")
    one_a, two_a = os.lstat(tmp_path / "one/a"), os.lstat(tmp_path / "two/a")
    assert one_a.st_ino == two_a.st_ino
    assert one_a.st_nlink == 3  # the object and two checkouts
    # same bytes, different mode: a different object, never the same inode
    assert os.lstat(tmp_path / "one/b").st_ino != one_a.st_ino
    store.checkout(commit, tmp_path / "copy", hardlink=False)
    assert os.lstat(tmp_path / "copy/a").st_ino != one_a.st_ino


def test_recommit_of_hardlinked_checkout_reads_no_file(tmp_path: Path) -> None:
    build(tmp_path / "src", sample_tree())
    store = Store.init(tmp_path / "repo")
    commit = store.commit_dir(tmp_path / "src", timestamp=7)
    store.checkout(commit, tmp_path / "co")
    again = Store.open(tmp_path / "repo")  # a fresh process: the cache comes from disk
    assert again.commit_dir(tmp_path / "co", timestamp=7) == commit
    assert again.files_read == 0
    # an edited file is noticed (new inode via rename, as package managers write)
    path = tmp_path / "co" / "secret"
    tmp = tmp_path / "co" / "secret.new"
    tmp.write_bytes(b"changed")
    os.chown(tmp, 1000, 1000)
    os.chmod(tmp, 0o600)
    os.setxattr(tmp, "user.note", b"v")
    tmp.rename(path)
    changed = again.commit_dir(tmp_path / "co", timestamp=7)
    assert changed != commit and again.files_read == 1
    assert again.read_file(changed, "secret") == b"changed"


def test_recommit_trusts_object_inodes_and_notices_in_place_edits(tmp_path: Path) -> None:
    """Proof that a cache hit skips the bytes: bytes changed behind the cache's back (mtime
    forced back to the object stamp) are not seen; a normal in-place edit (mtime moves) is."""
    build(tmp_path / "src", D({"big": F(b"x" * 100_000), "other": F(b"o")}))
    store = Store.init(tmp_path / "repo")
    commit = store.commit_dir(tmp_path / "src", timestamp=1)
    store.checkout(commit, tmp_path / "co")
    target = tmp_path / "co" / "big"
    with open(target, "r+b") as handle:
        handle.write(b"y")
    os.utime(target, ns=(0, 0))
    assert store.commit_dir(tmp_path / "co", timestamp=1) == commit
    assert store.files_read == 0
    with open(target, "r+b") as handle:
        handle.write(b"z")
    changed = store.commit_dir(tmp_path / "co", timestamp=1)
    assert changed != commit and store.files_read == 1
    assert store.read_file(changed, "big") == b"z" + b"x" * 99_999


@pytest.mark.parametrize("bad", ["a/../b", "..", ".", "", "a//b", "x\0y", ".strata-dirmeta"])
def test_hostile_names_in_tree_surgery_are_refused(tmp_path: Path, bad: str) -> None:
    store = Store.init(tmp_path / "repo")
    editor = store.edit()
    with pytest.raises(StoreError):
        editor.put_file(bad, b"x", FileMeta.regular())
    assert store.refs() == {}


def test_reserved_name_and_special_files_refuse_commit_without_a_ref(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    build(tmp_path / "src", D({"ok": F(b"ok"), ".strata-dirmeta": F(b"evil")}))
    with pytest.raises(StoreError, match="reserved"):
        store.commit_dir(tmp_path / "src", branch="x")
    os.mkfifo(tmp_path / "fifo-src")
    (tmp_path / "src2").mkdir()
    os.mkfifo(tmp_path / "src2" / "pipe")
    with pytest.raises(StoreError, match="fifos"):
        store.commit_dir(tmp_path / "src2", branch="x")
    with pytest.raises(StoreError, match="Invalid ref"):
        store.commit_dir(tmp_path / "src", branch="bad..ref")
    assert store.refs() == {}


def test_checkout_refuses_non_empty_destination_and_cleans_up_on_error(tmp_path: Path) -> None:
    build(tmp_path / "src", sample_tree())
    store = Store.init(tmp_path / "repo")
    commit = store.commit_dir(tmp_path / "src")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    with pytest.raises(StoreError, match="not an empty directory"):
        store.checkout(commit, tmp_path / "full")
    assert os.listdir(tmp_path / "full") == ["keep"]
    secret = store.lookup(commit, "secret")
    assert secret is not None
    store.objects.path(secret.object_id).unlink()
    with pytest.raises(StoreError, match="missing"):
        store.checkout(commit, tmp_path / "broken")
    assert not (tmp_path / "broken").exists()


def test_store_open_refuses_plain_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a Strata store"):
        Store.open(tmp_path)
    (tmp_path / "x").write_text("x")
    with pytest.raises(StoreError, match="not empty"):
        Store.init(tmp_path)
    assert Store.init(tmp_path / "new").path == Store.init(tmp_path / "new").path


def test_hardlink_checkout_falls_back_to_copies_across_filesystems(tmp_path: Path) -> None:
    """The checkout target is a tmpfs (another filesystem): link(2) fails with EXDEV."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("unshare missing")
    tree = D({"bin": D({"su": F(b"su", 0o4755, 0, 0, (("trusted.t", b"1"),))}), "l": L("bin")})
    build(tmp_path / "src", tree)
    store = Store.init(tmp_path / "repo")
    commit = store.commit_dir(tmp_path / "src")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    code = (
        "import sys, os; from pathlib import Path; from core.store import Store; "
        f"Store.open(Path({str(store.path)!r})).checkout({commit!r}, Path({str(mnt)!r}) / 'co'); "
        f"st = os.lstat({str(mnt)!r} + '/co/bin/su'); "
        "print(st.st_nlink, oct(st.st_mode), open(os.path.join("
        f"{str(mnt)!r}, 'co/bin/su'), 'rb').read().decode(), os.readlink({str(mnt)!r} + '/co/l'))"
    )
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {mnt}"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a mount namespace here: {probe.stderr!r}")
    script = f'mount -t tmpfs none {mnt} && {sys.executable} -c "{code}"'
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0o104755", "su", "bin"]


def _raw_tree(store: Store, entries: list[tuple[int, bytes, bytes]]) -> str:
    """A tree no Strata commit produces, written straight into the store's object database."""
    from core.store import gitpack, treemeta

    dirmeta = store.writer.add(gitpack.OBJ_BLOB, treemeta.dir_header(FileMeta.directory()))
    data = b"".join(
        b"%o %s\0%s" % (mode, name, oid)
        for mode, name, oid in [*entries, (0o100644, b".strata-dirmeta", dirmeta)]
    )
    tree = store.writer.add(gitpack.OBJ_TREE, data)
    store.flush()
    return tree.hex()


def test_checkout_of_hostile_trees_writes_nothing_outside(tmp_path: Path) -> None:
    build(tmp_path / "src", D({"f": F(b"payload"), "evil": L(str(tmp_path / "outside"))}))
    store = Store.init(tmp_path / "repo")
    good = store.write_dir_tree(tmp_path / "src")
    link = store.lookup(good, "evil")
    file = store.lookup(good, "f")
    assert link is not None and file is not None
    sub = _raw_tree(store, [(0o100644, b"f", bytes.fromhex(file.object_id))])
    (tmp_path / "outside").mkdir()
    # a symlink and a directory of the same name: the directory must not go through the link
    dup = _raw_tree(
        store,
        [
            (0o120000, b"evil", bytes.fromhex(link.object_id)),
            (0o040000, b"evil", bytes.fromhex(sub)),
        ],
    )
    with pytest.raises(StoreError):
        store.checkout(dup, tmp_path / "co1")
    dotdot = _raw_tree(store, [(0o040000, b"..", bytes.fromhex(sub))])
    with pytest.raises(StoreError, match="hostile"):
        store.checkout(dotdot, tmp_path / "co2")
    assert os.listdir(tmp_path / "outside") == []
    assert not (tmp_path / "co1").exists() and not (tmp_path / "co2").exists()
    with pytest.raises(StoreError, match="hostile"):
        list(store.walk(dotdot))


def test_failed_commit_leaves_the_store_usable(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    editor = store.edit()
    editor.put_file("pending", b"kept", FileMeta.regular())
    build(tmp_path / "src", D({"a": F(b"a"), "z": D({"b": F(b"b")})}))
    os.mkfifo(tmp_path / "src" / "z" / "pipe")
    with pytest.raises(StoreError, match="fifos"):
        store.commit_dir(tmp_path / "src", branch="x")
    os.unlink(tmp_path / "src" / "z" / "pipe")
    commit = store.commit_dir(tmp_path / "src", branch="x")
    tree = editor.write()
    store.commit_tree(tree, branch="y")
    assert store.read_file("y", "pending") == b"kept" and store.read_file(commit, "z/b") == b"b"
    assert store.fsck() == []


def test_parallel_checkout_matches_sequential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.store import checkout

    tree = D(
        {f"d{i}": D({f"s{j}": D({"f": F(b"%d" % j, 0o600)}) for j in range(6)}) for i in range(8)}
    )
    build(tmp_path / "src", D({"ro": D({"x": tree}, mode=0o555), "top": F(b"t")}))
    store = Store.init(tmp_path / "repo")
    commit = store.commit_dir(tmp_path / "src")
    monkeypatch.setattr(checkout, "WORKERS", 3)
    store.checkout(commit, tmp_path / "co")
    assert snapshot(tmp_path / "co") == snapshot(tmp_path / "src")


def test_checkouts_of_edited_trees_recommit_without_reading_after_prune(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    editor = store.edit()
    for i in range(5):
        editor.put_file(f"usr/lib/f{i}", b"%d" % i * 1000, FileMeta.regular(0o644))
    commit = store.commit_tree(editor.write(), branch="pkgs", timestamp=3)
    store.prune()
    store.checkout(commit, tmp_path / "co")
    again = Store.open(tmp_path / "repo")
    assert again.commit_dir(tmp_path / "co", timestamp=3) == commit
    assert again.files_read == 0


def test_temp_objects_of_dead_writers_are_swept(tmp_path: Path) -> None:
    """A writer killed between create and rename leaves ``objects/XX/.tmp-PID-N``; the
    next command sweeps it (a live writer's temp files stay, as does anything else)."""
    import subprocess  # noqa: PLC0415 - this test only
    import sys  # noqa: PLC0415 - this test only

    store = Store.init(tmp_path / "repo")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    fan = tmp_path / "repo" / "objects" / "70"
    names = {
        "dead": f".tmp-{dead.stdout.strip()}-3",
        "ours": f".tmp-{os.getpid()}-0",
        "live": f".tmp-{os.getppid()}-1",
        "other": ".tmp-notapid-1",
    }
    for name in names.values():
        (fan / name).write_bytes(b"partial")
    assert store.sweep_temp_objects() == 1
    assert sorted(os.listdir(fan)) == sorted(n for k, n in names.items() if k != "dead")
