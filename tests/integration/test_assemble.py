"""Assembling package trees on a real composed base: rpmdb, conflicts, users, removals."""

from __future__ import annotations

import stat
import struct
import subprocess
from pathlib import Path

import pytest

from core.errors import ConflictError, TriggerError
from core.progress import QuietProgress
from core.store import Store
from fixtures.realistic import base_packages, strace_packages
from fixtures.rpms import FileKind, FileSpec, build_rpm
from layering.rpm.assemble import assemble, cached_checkout
from layering.rpm.headers import read_packages
from layering.rpm.importer import ImportedPackage, import_rpm
from layering.rpm.pkgdiff import diff_packages
from layering.rpm.rpmdb import write_rpmdb
from tests.conftest import needs_bwrap, needs_rpmbuild

pytestmark = [needs_rpmbuild, needs_bwrap]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str]:
    """A store holding a base composed from the realistic package set."""
    root = tmp_path_factory.mktemp("assemble")
    store = Store.init(root / "repo")
    packages = [import_rpm(store, p, compose=True) for p in base_packages()]
    work = root / "work"
    work.mkdir()
    tree = assemble(store, None, packages, compose=True, workdir=work, progress=QuietProgress())
    base = store.commit_tree(tree, branch="base", timestamp=1_700_000_000)
    return store, base


def layer(
    store: Store, base: str, packages: list[ImportedPackage], tmp_path: Path, **kw: object
) -> str:
    work = tmp_path / f"work{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    return assemble(store, base, packages, workdir=work, progress=QuietProgress(), **kw)  # type: ignore[arg-type]


def test_layered_rpmdb_answers_rpm_q(world: tuple[Store, str], tmp_path: Path) -> None:
    store, base = world
    pkgs = [import_rpm(store, p) for p in strace_packages()]
    tree = layer(store, base, pkgs, tmp_path)
    commit = store.commit_tree(tree, parents=(base,), timestamp=0)
    checkout = tmp_path / "checkout"
    store.checkout(commit, checkout)
    query = subprocess.run(
        ["rpm", "--root", str(checkout), "--dbpath", "/usr/lib/sysimage/rpm", "-q", "strace"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert query.returncode == 0, query.stderr
    assert query.stdout.startswith("strace-")
    assert (checkout / "usr/share/rpm").readlink() == Path("../lib/sysimage/rpm")
    before = {p.nevra for p in read_packages(store, base)}
    after = {p.nevra for p in read_packages(store, commit)}
    assert after - before == {p.nevra for p in pkgs}
    assert before <= after
    diff = diff_packages(before, after)
    assert sorted(diff.added) == sorted(p.nevra for p in pkgs)
    assert not (diff.removed or diff.upgraded or diff.downgraded)
    # the ldconfig file trigger ran: strace finds its libraries from /usr/lib64
    assert store.diff(base, commit)
    cache = store.read_file(commit, "usr/etc/ld.so.cache")
    assert cache is not None and b"libunwind" in cache
    # cost follows the change: a base directory no package touched keeps its tree id
    assert store.subtree(base, "usr/share/icons") == store.subtree(commit, "usr/share/icons")


def test_same_inputs_same_tree(world: tuple[Store, str], tmp_path: Path) -> None:
    store, base = world
    pkgs = [import_rpm(store, p) for p in strace_packages()]
    assert layer(store, base, pkgs, tmp_path) == layer(store, base, list(reversed(pkgs)), tmp_path)


def test_conflict_with_the_base_names_both_packages(
    world: tuple[Store, str], tmp_path: Path
) -> None:
    store, base = world
    clash = import_rpm(store, build_rpm("clash", files={"/usr/bin/bash": "not bash\n"}))
    with pytest.raises(ConflictError) as err:
        layer(store, base, [clash], tmp_path)
    text = str(err.value)
    assert "/usr/bin/bash" in text
    assert "clash-1.0-1.x86_64" in text
    assert "the base package bash-" in text


def test_conflict_between_layered_packages(world: tuple[Store, str], tmp_path: Path) -> None:
    store, base = world
    one = import_rpm(store, build_rpm("one", files={"/usr/share/shared/f": "one\n"}))
    two = import_rpm(store, build_rpm("two", files={"/usr/share/shared/f": "two\n"}))
    with pytest.raises(ConflictError) as err:
        layer(store, base, [one, two], tmp_path)
    assert "one-1.0-1.x86_64" in str(err.value)
    assert "two-1.0-1.x86_64" in str(err.value)


def test_identical_files_and_shared_directories_are_fine(
    world: tuple[Store, str], tmp_path: Path
) -> None:
    store, base = world
    files: dict[str, FileSpec | str] = {
        "/usr/share/common/same": "identical\n",
        # the base has /usr/share as root 0755: a package saying 0700 leaves it be
        "/usr/share": FileSpec(kind=FileKind.DIR, mode=0o700),
    }
    one = import_rpm(store, build_rpm("same-a", files=files))
    two = import_rpm(store, build_rpm("same-b", files={"/usr/share/common/same": "identical\n"}))
    tree = layer(store, base, [one, two], tmp_path)
    assert store.read_file(tree, "usr/share/common/same") == b"identical\n"
    share = store.lookup(tree, "usr/share")
    base_share = store.lookup(base, "usr/share")
    assert share is not None and base_share is not None
    assert share.meta == base_share.meta


def test_package_users_land_in_usr_lib_and_own_their_files(
    world: tuple[Store, str], tmp_path: Path
) -> None:
    store, base = world
    pre = (
        "cp /etc/passwd /etc/passwd-; cp /etc/group /etc/group-; : > /etc/.pwd.lock\n"
        "grep -q ^demo: /etc/group || echo demo:x:990: >> /etc/group\n"
        "grep -q ^demo: /etc/passwd || echo demo:x:990:990::/:/sbin/nologin >> /etc/passwd\n"
    )
    rpm_path = build_rpm(
        "demod",
        files={
            "/usr/bin/demod": FileSpec("d\n", mode=0o4750, user="demo", group="demo"),
            "/var/lib/demod": FileSpec(kind=FileKind.DIR, mode=0o750, user="demo", group="demo"),
        },
        scripts={"pre": pre},
    )
    tree = layer(store, base, [import_rpm(store, rpm_path)], tmp_path)
    entry = store.lookup(tree, "usr/bin/demod")
    assert entry is not None
    assert (entry.meta.uid, entry.meta.gid, stat.S_IMODE(entry.meta.mode)) == (990, 990, 0o4750)
    assert store.read_file(tree, "usr/etc/passwd") == store.read_file(base, "usr/etc/passwd")
    lib_passwd = store.read_file(tree, "usr/lib/passwd")
    assert lib_passwd is not None and lib_passwd.endswith(b"demo:x:990:990::/:/sbin/nologin\n")
    group = store.read_file(tree, "usr/lib/group")
    assert group is not None and b"demo:x:990:" in group
    for backup in ("passwd-", "group-", ".pwd.lock"):  # useradd's leftovers stay out
        assert store.lookup(tree, f"usr/etc/{backup}") is None
    conf = store.read_file(tree, "usr/lib/tmpfiles.d/pkg-demod.conf")
    assert conf is not None and b"d /var/lib/demod 0750 demo demo - -" in conf


def test_override_remove_drops_files_and_rpmdb_entry(
    world: tuple[Store, str], tmp_path: Path
) -> None:
    store, base = world
    victim = next(p for p in read_packages(store, base) if p.name == "libjpeg-turbo")
    jpeg = [e.path for e in store.walk(base) if "libjpeg" in e.path]
    assert jpeg
    tree = layer(store, base, [], tmp_path, remove=[victim.nevra])
    assert all(store.lookup(tree, p) is None for p in jpeg)
    assert victim.nevra not in {p.nevra for p in read_packages(store, tree)}


def test_failing_script_aborts(world: tuple[Store, str], tmp_path: Path) -> None:
    store, base = world
    bad = import_rpm(
        store,
        build_rpm(
            "badpost", files={"/usr/share/bad": "x\n"}, scripts={"post": "echo broken >&2; exit 3"}
        ),
    )
    with pytest.raises(TriggerError) as err:
        layer(store, base, [bad], tmp_path)
    assert "badpost" in str(err.value)


def test_base_checkout_as_lower_gives_the_same_tree(
    world: tuple[Store, str], tmp_path: Path
) -> None:
    """The fast path (scripts over [package paths, the base's deployment]) and the full
    checkout give byte-identical trees, scripts, users and triggers included."""
    store, base = world
    pre = "grep -q ^fast: /etc/passwd || echo fast:x:991:991::/:/sbin/nologin >> /etc/passwd\n"
    extra = build_rpm(
        "fastpath",
        files={"/usr/share/fastpath/f": FileSpec("f\n", user="fast")},
        scripts={"pre": pre, "post": "echo touched > /usr/share/fastpath/by-post"},
    )
    pkgs = [import_rpm(store, p) for p in [*strace_packages(), extra]]
    deployment = tmp_path / "deployment"
    store.checkout(base, deployment)
    slow = layer(store, base, pkgs, tmp_path, full_checkout=True)
    fast = layer(store, base, pkgs, tmp_path, base_root=deployment)
    cached = layer(store, base, pkgs, tmp_path)  # a base checkout cached in the store
    assert fast == slow == cached
    assert (store.path / "cache/base-checkouts" / base / "usr/bin/bash").is_file()
    assert store.read_file(fast, "usr/share/fastpath/by-post") == b"touched\n"
    owned = store.lookup(fast, "usr/share/fastpath/f")
    assert owned is not None and owned.meta.uid == 991


def test_sysusers_users_exist_for_the_files_they_own(
    world: tuple[Store, str], tmp_path: Path
) -> None:
    store, base = world
    rpm_path = build_rpm(
        "sysd",
        files={
            "/usr/lib/sysusers.d/sysd.conf": 'u sysd - "Sys daemon"\n',
            "/usr/libexec/sysd": FileSpec("s\n", mode=0o750, user="sysd", group="sysd"),
        },
    )
    tree = layer(store, base, [import_rpm(store, rpm_path)], tmp_path)
    lib_passwd = store.read_file(tree, "usr/lib/passwd") or b""
    line = next(x for x in lib_passwd.decode().splitlines() if x.startswith("sysd:"))
    uid = int(line.split(":")[2])
    entry = store.lookup(tree, "usr/libexec/sysd")
    assert entry is not None and (entry.meta.uid, entry.meta.gid) == (uid, uid)
    assert b"sysd:x:" in (store.read_file(tree, "usr/lib/group") or b"")


def _elf32() -> bytes:
    """The smallest file `file` and rpm classify as a 32-bit ELF executable (colour 1)."""
    ident = b"\x7fELF\x01\x01\x01" + b"\x00" * 9
    return ident + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x8048000, 52, 0, 0, 52, 32, 0, 40, 0, 0)


def test_multilib_colours_64_bit_wins(world: tuple[Store, str], tmp_path: Path) -> None:
    store, base = world
    elf64 = Path("/usr/bin/true").read_bytes()
    files64 = {"/usr/bin/multi": FileSpec(elf64, mode=0o755)}
    files32 = {"/usr/bin/multi": FileSpec(_elf32(), mode=0o755)}
    p64 = import_rpm(store, build_rpm("multi64", autoreqprov=False, files=files64))
    p32 = import_rpm(store, build_rpm("multi32", autoreqprov=False, files=files32))
    first64 = import_rpm(store, build_rpm("amulti64", autoreqprov=False, files=files64))
    # assembled in NEVRA order: the 64-bit file comes second (replaces) or first (stays)
    for pair in ([p32, p64], [first64, p32]):
        tree = layer(store, base, pair, tmp_path)
        assert store.read_file(tree, "usr/bin/multi") == elf64
    # same colour, different content: still a conflict
    other = import_rpm(
        store,
        build_rpm("multi64b", autoreqprov=False, files={"/usr/bin/multi": FileSpec(elf64 + b"x")}),
    )
    with pytest.raises(ConflictError):
        layer(store, base, [p64, other], tmp_path)


def test_base_with_its_rpmdb_in_usr_share_rpm(tmp_path: Path) -> None:
    """An older base keeps its rpmdb in /usr/share/rpm: the layered tree moves it to
    /usr/lib/sysimage/rpm (base packages included) and links /usr/share/rpm there."""
    store = Store.init(tmp_path / "repo")
    old = import_rpm(store, build_rpm("oldbase", files={"/usr/share/oldbase/f": "f\n"}))
    root = tmp_path / "root"
    (root / "usr/share/oldbase").mkdir(parents=True)
    (root / "usr/share/oldbase/f").write_text("f\n")
    write_rpmdb(root / "usr/share/rpm", base=None, install=[old.head])
    base = store.commit_dir(root, timestamp=0)
    new = import_rpm(store, build_rpm("newpkg", files={"/usr/share/newpkg/f": "n\n"}))
    tree = layer(store, base, [new], tmp_path)
    assert [p.name for p in read_packages(store, tree)] == ["newpkg", "oldbase"]
    link = store.lookup(tree, "usr/share/rpm")
    assert link is not None and link.target == "../lib/sysimage/rpm"


def test_store_stays_consistent(world: tuple[Store, str]) -> None:
    """Everything the tests above imported, assembled and committed passes fsck."""
    store, _ = world
    assert store.fsck() == []


def test_cached_base_checkouts_are_reused_and_bounded(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    commits = [
        import_rpm(store, build_rpm(f"cache{i}", files={f"/usr/share/c{i}": "c\n"})).commit
        for i in range(3)
    ]
    first = cached_checkout(store, commits[0])
    marker = first.stat().st_ino
    assert cached_checkout(store, commits[0]).stat().st_ino == marker  # reused, not rebuilt
    for commit in commits[1:]:
        cached_checkout(store, commit)
    kept = sorted(p.name for p in (store.path / "cache/base-checkouts").iterdir())
    assert kept == sorted(commits[1:])  # the least recently used one went
    assert (store.path / "cache/base-checkouts" / commits[2] / "usr/share/c2").read_text() == "c\n"
