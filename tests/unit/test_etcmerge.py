"""The /etc 3-way merge, table-driven: old defaults, the admin's /etc, new defaults."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from core.errors import SysrootError
from core.sysroot.etcmerge import Change, build_etc, config_diff, diff_etc, normalize_etc

# A tree spec: path -> ("f", content, mode) | ("l", target) | ("d", mode)
Spec = dict[str, tuple[Any, ...]]


def make_tree(root: Path, spec: Spec) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for path in sorted(spec):
        entry = spec[path]
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry[0] == "f":
            target.write_text(entry[1])
            os.chmod(target, entry[2] if len(entry) > 2 else 0o644)
        elif entry[0] == "l":
            os.symlink(entry[1], target)
        else:
            target.mkdir(exist_ok=True)
            os.chmod(target, entry[1] if len(entry) > 1 else 0o755)


def read_tree(root: Path) -> Spec:
    out: Spec = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("f", path.read_text(), stat.S_IMODE(st.st_mode))
    return out


def deployment(base: Path, name: str, usr_etc: Spec, etc: Spec | None) -> Path:
    root = base / name
    make_tree(root / "usr" / "etc", usr_etc)
    if etc is not None:
        make_tree(root / "etc", etc)
    return root


F = ("f", "1", 0o644)
CASES: list[tuple[str, Spec, Spec, Spec, Spec]] = [
    # name, old defaults, admin's /etc, new defaults, expected new /etc
    (
        "unchanged takes new default",
        {"a": F},
        {"a": F},
        {"a": ("f", "2")},
        {"a": ("f", "2", 0o644)},
    ),
    (
        "modified kept",
        {"a": F},
        {"a": ("f", "admin")},
        {"a": ("f", "2")},
        {"a": ("f", "admin", 0o644)},
    ),
    ("admin deleted stays deleted", {"a": F}, {}, {"a": ("f", "2")}, {}),
    ("new default appears", {}, {}, {"b": F}, {"b": F}),
    ("upstream removed, admin unchanged", {"a": F}, {"a": F}, {}, {}),
    ("upstream removed, admin modified", {"a": F}, {"a": ("f", "x")}, {}, {"a": ("f", "x", 0o644)}),
    ("admin added kept", {}, {"x": ("f", "local")}, {}, {"x": ("f", "local", 0o644)}),
    (
        "mode change kept",
        {"a": F},
        {"a": ("f", "1", 0o600)},
        {"a": ("f", "2")},
        {"a": ("f", "1", 0o600)},
    ),
    (
        "symlink unchanged takes new",
        {"l": ("l", "a")},
        {"l": ("l", "a")},
        {"l": ("l", "c")},
        {"l": ("l", "c")},
    ),
    (
        "symlink retargeted kept",
        {"l": ("l", "a")},
        {"l": ("l", "b")},
        {"l": ("l", "c")},
        {"l": ("l", "b")},
    ),
    (
        "file turned into symlink",
        {"a": F},
        {"a": ("l", "/x")},
        {"a": ("f", "2")},
        {"a": ("l", "/x")},
    ),
    (
        "directory mode changed, children still merge",
        {"d": ("d", 0o755), "d/f": F},
        {"d": ("d", 0o700), "d/f": F},
        {"d": ("d", 0o755), "d/f": ("f", "new"), "d/g": F},
        {"d": ("d", 0o700), "d/f": ("f", "new", 0o644), "d/g": F},
    ),
    (
        "added directory tree kept whole",
        {},
        {"d2": ("d", 0o750), "d2/sub": ("d", 0o700), "d2/sub/f": ("f", "x", 0o600)},
        {"n": F},
        {"d2": ("d", 0o750), "d2/sub": ("d", 0o700), "d2/sub/f": ("f", "x", 0o600), "n": F},
    ),
    (
        "deleted directory stays deleted, new files in it too",
        {"d": ("d", 0o755), "d/f": F},
        {},
        {"d": ("d", 0o755), "d/f": F, "d/new": F},
        {},
    ),
    (
        "added file inside a directory upstream removed",
        {"d": ("d", 0o755)},
        {"d": ("d", 0o755), "d/mine": F},
        {},
        {"d": ("d", 0o755), "d/mine": F},
    ),
    (
        "upstream turned a file into a directory, admin untouched",
        {"a": F},
        {"a": F},
        {"a": ("d", 0o755), "a/x": F},
        {"a": ("d", 0o755), "a/x": F},
    ),
]


@pytest.mark.parametrize(
    ("old_defaults", "admin", "new_defaults", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_merge_table(
    tmp_path: Path, old_defaults: Spec, admin: Spec, new_defaults: Spec, expected: Spec
) -> None:
    old = deployment(tmp_path, "old", old_defaults, admin)
    new = deployment(tmp_path, "new", new_defaults, None)
    build_etc(new, old)
    assert read_tree(new / "etc") == expected
    # The old deployment is never touched.
    assert read_tree(old / "etc") == read_tree(deployment(tmp_path, "again", {}, admin) / "etc")


def test_owner_and_xattrs_of_kept_files_survive(tmp_path: Path) -> None:
    old = deployment(tmp_path, "old", {"a": F}, {"a": F, "b": F})
    os.chown(old / "etc" / "a", 1000, 2000)
    os.setxattr(old / "etc" / "b", "user.label", b"secret")
    new = deployment(tmp_path, "new", {"a": F, "c": F}, None)
    os.setxattr(new / "usr" / "etc" / "c", "user.label", b"default")
    os.chown(new / "usr" / "etc" / "c", 7, 8)
    build_etc(new, old)
    st = os.lstat(new / "etc" / "a")
    assert (st.st_uid, st.st_gid) == (1000, 2000)
    assert os.getxattr(new / "etc" / "b", "user.label") == b"secret"
    assert os.getxattr(new / "etc" / "c", "user.label") == b"default"
    assert os.lstat(new / "etc" / "c").st_uid == 7


def test_etc_is_a_copy_never_a_hardlink(tmp_path: Path) -> None:
    new = deployment(tmp_path, "new", {"a": F, "d": ("d", 0o700)}, None)
    build_etc(new, None)
    assert os.lstat(new / "etc" / "a").st_ino != os.lstat(new / "usr" / "etc" / "a").st_ino
    assert read_tree(new / "etc") == read_tree(new / "usr" / "etc")
    (new / "etc" / "a").write_text("edited")
    assert (new / "usr" / "etc" / "a").read_text() == "1"


def test_rebuild_is_idempotent_after_an_interrupted_run(tmp_path: Path) -> None:
    old = deployment(tmp_path, "old", {"a": F}, {"a": ("f", "admin")})
    new = deployment(tmp_path, "new", {"a": F}, None)
    (new / ".etc.strata-merge").mkdir()  # left by a crash
    (new / ".etc.strata-merge" / "junk").write_text("x")
    build_etc(new, old)
    build_etc(new, old)
    assert read_tree(new / "etc") == {"a": ("f", "admin", 0o644)}
    assert not (new / ".etc.strata-merge").exists()


def test_config_diff_letters(tmp_path: Path) -> None:
    root = deployment(
        tmp_path,
        "d",
        {"keep": F, "mod": F, "gone": F, "dir": ("d", 0o755)},
        {"keep": F, "mod": ("f", "2"), "new": F, "dir": ("d", 0o700)},
    )
    assert config_diff(root) == [
        (Change.MODIFIED, "dir"),
        (Change.DELETED, "gone"),
        (Change.MODIFIED, "mod"),
        (Change.ADDED, "new"),
    ]
    assert diff_etc(root / "usr" / "etc", root / "usr" / "etc") == []


def test_tree_with_only_etc_gets_it_moved_to_usr_etc(tmp_path: Path) -> None:
    root = tmp_path / "r"
    make_tree(root / "etc", {"a": F})
    normalize_etc(root)
    assert not (root / "etc").exists()
    assert (root / "usr" / "etc" / "a").read_text() == "1"


def test_tree_with_both_etc_and_usr_etc_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "r"
    make_tree(root / "etc", {"a": F})
    make_tree(root / "usr" / "etc", {"a": F})
    with pytest.raises(SysrootError, match="both /etc and /usr/etc"):
        normalize_etc(root)


BASE_PW = "root:x:0:0::/root:/bin/sh\nbin:x:1:1::/bin:/sbin/nologin\n"
LOCAL_PW = BASE_PW + "alice:x:1000:1000::/home/alice:/bin/sh\n"
NEW_PW = BASE_PW + "apache:x:48:48::/usr/share/httpd:/sbin/nologin\n"
ACCOUNT_CASES: list[tuple[str, str, str, str, str]] = [
    # name, old default, admin's file, new default, expected
    ("local and package users both kept", BASE_PW, LOCAL_PW, NEW_PW,
     LOCAL_PW + "apache:x:48:48::/usr/share/httpd:/sbin/nologin\n"),
    ("a local entry wins over the new default's", BASE_PW,
     "root:x:0:0:changed:/root:/bin/zsh\nbin:x:1:1::/bin:/sbin/nologin\n",
     "root:x:0:0::/root:/bin/bash\nbin:x:1:1::/bin:/sbin/nologin\n",
     "root:x:0:0:changed:/root:/bin/zsh\nbin:x:1:1::/bin:/sbin/nologin\n"),
    ("an entry the admin deleted stays deleted", BASE_PW, "root:x:0:0::/root:/bin/sh\n",
     NEW_PW, "root:x:0:0::/root:/bin/sh\napache:x:48:48::/usr/share/httpd:/sbin/nologin\n"),
    ("comments and odd lines kept, never added", BASE_PW, "# mine\n" + LOCAL_PW + "junk",
     BASE_PW + "# theirs\n+nis\n:nameless\nnocolon\ndhcpd:x:177:177::/:/sbin/nologin",
     "# mine\n" + LOCAL_PW + "junk\ndhcpd:x:177:177::/:/sbin/nologin\n"),
    ("an entry the new tree dropped is kept locally", NEW_PW, LOCAL_PW + "apache:x:48:48::/:/x\n",
     BASE_PW, LOCAL_PW + "apache:x:48:48::/:/x\n"),
]  # fmt: skip


@pytest.mark.parametrize("name", ["passwd", "group", "shadow", "gshadow"])
@pytest.mark.parametrize("case", [c[1:] for c in ACCOUNT_CASES], ids=[c[0] for c in ACCOUNT_CASES])
def test_account_databases_merge_by_name(
    tmp_path: Path, name: str, case: tuple[str, str, str, str]
) -> None:
    old_default, local, new_default, expected = case
    old = deployment(tmp_path, "old", {name: ("f", old_default, 0o644)}, None)
    make_tree(old / "etc", {name: ("f", local, 0o600), "other": ("f", local)})
    os.chown(old / "etc" / name, 0, 42)
    new = deployment(tmp_path, "new", {name: ("f", new_default), "other": ("f", new_default)}, None)
    build_etc(new, old)
    assert (new / "etc" / name).read_text() == expected
    st = os.lstat(new / "etc" / name)
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o600, 42), "the admin's metadata"
    assert (new / "etc" / "other").read_text() == local, "other files keep the whole-file rule"


def test_account_database_that_is_not_a_regular_file_keeps_the_whole_file_rule(
    tmp_path: Path,
) -> None:
    old = deployment(tmp_path, "old", {"passwd": ("f", BASE_PW)}, {"passwd": ("l", "shared")})
    new = deployment(tmp_path, "new", {"passwd": ("f", NEW_PW)}, None)
    build_etc(new, old)
    assert os.readlink(new / "etc" / "passwd") == "shared"


@pytest.mark.parametrize(
    "case",
    [
        # a package's useradd -G mail: the member joins the administrator's line
        ("group", "mail:x:12:\n", "mail:x:12:alice\n", "mail:x:12:postfix\npostfix:x:89:\n",
         "mail:x:12:alice,postfix\npostfix:x:89:\n"),
        # a member the administrator removed stays removed; one the tree added is added
        ("group", "wheel:x:10:bob\n", "wheel:x:10:\n", "wheel:x:10:bob,svc\n",
         "wheel:x:10:svc\n"),
        # gshadow: administrators and members
        ("gshadow", "mail:::\n", "mail:!:root:\n", "mail::svc:postfix\n",
         "mail:!:root,svc:postfix\n"),
        # a local line of another shape is left as it is
        ("group", "mail:x:12:\n", "mail:x:12\n", "mail:x:12:postfix\n", "mail:x:12\n"),
        # nothing added: the local bytes stay exactly (odd commas included)
        ("group", "mail:x:12:\n", "mail:x:12:a,,b", "mail:x:12:\n", "mail:x:12:a,,b"),
        # passwd has no list fields: local wins whole
        ("passwd", "a:x:1:1::/:/bin/sh\n", "a:x:1:1:me:/:/bin/sh\n", "a:x:1:1:new:/:/bin/sh\n",
         "a:x:1:1:me:/:/bin/sh\n"),
    ],
)  # fmt: skip
def test_group_members_a_new_tree_adds_join_the_local_entry(
    tmp_path: Path, case: tuple[str, str, str, str, str]
) -> None:
    name, old_default, local, new_default, expected = case
    old = deployment(tmp_path, "old", {name: ("f", old_default)}, {name: ("f", local)})
    new = deployment(tmp_path, "new", {name: ("f", new_default)}, None)
    build_etc(new, old)
    assert (new / "etc" / name).read_text() == expected
