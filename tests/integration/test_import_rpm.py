"""Importing real RPMs (built by rpmbuild) into package trees in the store."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from core.errors import PackageError
from core.store import EntryKind, Store
from fixtures.rpms import FileKind, FileSpec, build_rpm
from layering.rpm.importer import PKG_REF_PREFIX, cached_package, import_rpm
from tests.conftest import needs_rpmbuild

pytestmark = needs_rpmbuild

FILES = {
    "/usr/bin/demo": FileSpec("#!/bin/sh\necho demo\n", mode=0o755),
    "/usr/bin/demo-suid": FileSpec("suid\n", mode=0o4755),
    "/usr/bin/demo-ping": FileSpec("ping\n", mode=0o755, caps="cap_net_raw=ep"),
    "/usr/bin/demo-link": FileSpec(kind=FileKind.SYMLINK, target="demo"),
    "/usr/libexec/demo/private": FileSpec("p\n", mode=0o600),
    "/etc/demo/demo.conf": FileSpec("setting=1\n", config="noreplace"),
    "/usr/share/doc/demo/README": FileSpec("read me\n", doc=True),
    "/var/lib/demo": FileSpec(kind=FileKind.DIR, mode=0o750),
    "/var/log/demo.log": FileSpec(ghost=True),
    "/usr/share/demo/ghost": FileSpec(ghost=True),
    "/var/lib/demo/seed": FileSpec("seed\n"),
    "/opt/demo/tool": FileSpec("tool\n", mode=0o755),
    "/usr/share/demo/owned": FileSpec("x\n", mode=0o4750, user="demo", group="demo"),
}


def demo_rpm(compression: str = "gzip") -> Path:
    return build_rpm("demo", files=FILES, compression=compression, autoreqprov=False)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.init(tmp_path / "repo")


@pytest.mark.parametrize("compression", ["gzip", "xz", "zstd", "bzip2"])
def test_round_trip(store: Store, compression: str) -> None:
    pkg = import_rpm(store, demo_rpm(compression))
    assert pkg.nevra == "demo-1.0-1.x86_64"
    assert store.refs(PKG_REF_PREFIX) == {f"{PKG_REF_PREFIX}{pkg.sha256}": pkg.commit}
    tree = {e.path: e for e in store.walk(pkg.commit)}

    def mode(path: str) -> int:
        return stat.S_IMODE(tree[path].meta.mode)

    assert store.read_file(pkg.commit, "usr/bin/demo") == b"#!/bin/sh\necho demo\n"
    assert mode("usr/bin/demo") == 0o755
    assert mode("usr/bin/demo-suid") == 0o4755
    assert mode("usr/libexec/demo/private") == 0o600
    assert tree["usr/bin/demo-link"].kind == EntryKind.SYMLINK
    assert tree["usr/bin/demo-link"].target == "demo"
    assert dict(tree["usr/bin/demo-ping"].meta.xattrs) == {
        "security.capability": bytes.fromhex("0100000200200000000000000000000000000000")
    }
    # %config goes to /usr/etc, %doc is kept, %ghost is not created
    assert store.read_file(pkg.commit, "usr/etc/demo/demo.conf") == b"setting=1\n"
    assert store.read_file(pkg.commit, "usr/share/doc/demo/README") == b"read me\n"
    assert "usr/share/demo/ghost" not in tree
    # /var: no content in the tree, tmpfiles.d lines instead (a file's content kept under
    # usr/share/factory, copied at boot); /opt moved with a link back
    assert not any(p.startswith("var") for p in tree)
    assert store.read_file(pkg.commit, "usr/lib/opt/demo/tool") == b"tool\n"
    conf = store.read_file(pkg.commit, "usr/lib/tmpfiles.d/pkg-demo.conf")
    assert conf is not None
    lines = conf.decode().splitlines()[1:]
    assert lines == [
        "L /opt/demo - - - - /usr/lib/opt/demo",
        "d /var/lib/demo 0750 root root - -",
        "C /var/lib/demo/seed 0644 root root - /usr/share/factory/var/lib/demo/seed",
    ]
    assert store.read_file(pkg.commit, "usr/share/factory/var/lib/demo/seed") == b"seed\n"
    # another user's file is stored as root without set-id bits until assembly
    owned = tree["usr/share/demo/owned"].meta
    assert (owned.uid, owned.gid, stat.S_IMODE(owned.mode)) == (0, 0, 0o750)
    assert pkg.hdr()["name"] == "demo"
    assert store.fsck() == []


def test_same_rpm_same_commit_in_any_store_and_cache_hit(tmp_path: Path) -> None:
    rpm_path = demo_rpm()
    one = import_rpm(Store.init(tmp_path / "a"), rpm_path)
    store_b = Store.init(tmp_path / "b")
    two = import_rpm(store_b, rpm_path)
    assert (one.commit, one.tree) == (two.commit, two.tree)
    # A cache hit never reads the payload: a copy with a destroyed payload still "imports".
    broken = tmp_path / "broken.rpm"
    data = bytearray(rpm_path.read_bytes())
    broken.write_bytes(bytes(data[: len(data) - 100]))
    again = import_rpm(store_b, broken)
    assert again == two
    assert cached_package(store_b, two.sha256) == two


def _corrupt(tmp_path: Path, offset_from_end: int | None, header_byte: bool = False) -> Path:
    data = bytearray(demo_rpm().read_bytes())
    if header_byte:
        magic = b"\x8e\xad\xe8\x01"  # header structure magic: signature, then main header
        main = data.find(magic, data.find(magic) + 1)
        data[main + 16 * 20] ^= 0xFF  # inside the main header's index
    elif offset_from_end is None:
        data = data[: len(data) - 64]  # truncated download
    else:
        data[len(data) - offset_from_end] ^= 0x01
    out = tmp_path / "bad.rpm"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("flipped", "payload digest mismatch"),
        ("truncated", "payload digest mismatch"),
        ("header", "corrupt or not an RPM"),
    ],
)
def test_corrupt_rpm_refused_and_nothing_cached(
    store: Store, tmp_path: Path, kind: str, message: str
) -> None:
    bad = _corrupt(
        tmp_path, {"flipped": 50, "truncated": None, "header": None}[kind], kind == "header"
    )
    with pytest.raises(PackageError) as err:
        import_rpm(store, bad)
    assert message in str(err.value)
    assert "download it again" in str(err.value)
    assert store.refs(PKG_REF_PREFIX) == {}


def test_not_an_rpm(store: Store, tmp_path: Path) -> None:
    junk = tmp_path / "junk.rpm"
    junk.write_bytes(b"this is not an rpm\n" * 20)
    with pytest.raises(PackageError, match="not an RPM"):
        import_rpm(store, junk)
    assert store.refs() == {}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/usr/local/bin/tool", "/usr/local belongs to the administrator"),
        ("/srv/www/index.html", "only /usr, /etc, /opt, /boot, /var and /run"),
    ],
)
def test_refused_paths_leave_no_ref(store: Store, path: str, message: str) -> None:
    rpm_path = build_rpm("refused", files={"/usr/bin/ok": "ok\n", path: "x\n"})
    with pytest.raises(PackageError) as err:
        import_rpm(store, rpm_path)
    assert message in str(err.value)
    assert "refused-1.0-1" in str(err.value)
    assert store.refs() == {}


def test_compose_rules_accept_a_filesystem_package(store: Store) -> None:
    rpm_path = build_rpm(
        "fs",
        arch="noarch",
        files={
            "/srv": FileSpec(kind=FileKind.DIR),
            "/bin": FileSpec(kind=FileKind.SYMLINK, target="usr/bin"),
            "/usr/bin": FileSpec(kind=FileKind.DIR),
            "/var/log": FileSpec(kind=FileKind.DIR),
        },
    )
    with pytest.raises(PackageError):
        import_rpm(store, rpm_path)
    pkg = import_rpm(store, rpm_path, compose=True)
    entries = {e.path: e for e in store.walk(pkg.commit)}
    assert entries["srv"].target == "var/srv"  # the admin's directories live in /var
    assert entries["bin"].target == "usr/bin"
    assert not any(p.startswith("var/") for p in entries)
    conf = store.read_file(pkg.commit, "usr/lib/tmpfiles.d/pkg-fs.conf")
    assert conf is not None
    assert conf.decode().splitlines()[1:] == [
        "d /var/log 0755 root root - -",
        "d /var/srv 0755 root root - -",
    ]


def test_entry_below_a_payload_symlink_is_refused(store: Store) -> None:
    """rpmbuild happily packages /usr/share/x/evil beside the symlink /usr/share/x -> real;
    unpacking it on disk would write through the symlink. Strata refuses the package."""
    rpm_path = build_rpm(
        "hostile",
        files={
            "/usr/share/real/evil": "evil\n",
            "/usr/share/x": FileSpec(kind=FileKind.SYMLINK, target="real"),
            "/usr/share/x/evil": "evil\n",
        },
    )
    with pytest.raises(PackageError) as err:
        import_rpm(store, rpm_path)
    assert "/usr/share/x/evil below /usr/share/x" in str(err.value)
    assert store.refs() == {}


HARDLINK_SPEC = """\
Name: hardlinks
Version: 1
Release: 1
Summary: hardlinked payload
License: MIT
BuildArch: noarch
%description
Three names for one file, whose content the payload carries once.
%install
mkdir -p %{buildroot}/usr/bin
echo content > %{buildroot}/usr/bin/a
ln %{buildroot}/usr/bin/a %{buildroot}/usr/bin/b
ln %{buildroot}/usr/bin/a %{buildroot}/usr/bin/c
touch %{buildroot}/usr/bin/empty
%files
/usr/bin/a
/usr/bin/b
/usr/bin/c
/usr/bin/empty
"""


def test_hardlinked_files_all_get_the_content(store: Store, tmp_path: Path) -> None:
    spec = tmp_path / "hardlinks.spec"
    spec.write_text(HARDLINK_SPEC)
    top = tmp_path / "top"
    subprocess.run(
        [
            "rpmbuild",
            "-bb",
            "--quiet",
            "--define",
            f"_topdir {top}",
            "--define",
            f"_dbpath {tmp_path / 'db'}",
            str(spec),
        ],
        check=True,
        capture_output=True,
    )
    pkg = import_rpm(store, top / "RPMS/noarch/hardlinks-1-1.noarch.rpm")
    for name in ("a", "b", "c"):
        assert store.read_file(pkg.commit, f"usr/bin/{name}") == b"content\n"
    assert store.read_file(pkg.commit, "usr/bin/empty") == b""
