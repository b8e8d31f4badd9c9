"""Real RPMs, real scriptlets, real tools: the scripts a layered tree needs, run as rpm would."""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
import rpm
from triggers_support import build_minimal_root, install_payload, read_rpm_header

from core.errors import TriggerError
from core.progress import QuietProgress
from fixtures.rpms import FileSpec, FileTrigger, Script, Trigger, build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from triggers import plan_scripts, read_header, run_scripts
from triggers.model import ScriptKind

pytestmark = [needs_bwrap, needs_rpmbuild]

LOG = "/usr/share/tb-log"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_minimal_root(tmp_path_factory.mktemp("triggers-rpms") / "root")


def hdr(path: Path) -> Any:
    return read_rpm_header(path)


def layer(
    rpms: list[Path], base: list[Path], root: Path, tmp: Path, *, base_in_tree: bool = False
) -> tuple[Path, Path]:
    """Unpack ``rpms`` into a delta dir, plan their scripts over ``base`` and run them."""
    delta = tmp / "delta"
    for rpm_file in rpms:
        install_payload(rpm_file, delta)
    lowers = [delta]
    if base_in_tree:
        base_dir = tmp / "base"
        for rpm_file in base:
            install_payload(rpm_file, base_dir)
        lowers.append(base_dir)
    upper = tmp / "upper"
    upper.mkdir()
    plan = plan_scripts([hdr(p) for p in rpms], [hdr(p) for p in base])
    run_scripts(plan, lowers=[*lowers, root], upper=upper, progress=QuietProgress(), timeout=60)
    return upper, delta


def log(line: str) -> str:
    return f'echo "{line} $*" >> {LOG}'


def test_headers_read_into_scripts_triggers_and_file_triggers() -> None:
    path = build_rpm(
        "tb-read",
        files={"/usr/lib64/libtbread.so.1": "x"},
        scripts={
            "pre": Script("print(1)", "<lua>"),
            "post": Script(interpreter="/sbin/ldconfig"),
            "posttrans": "echo 100% done",
            "preun": "echo never",
        },
        triggers=[Trigger(on="tb-other >= 2.0", body="echo other")],
        file_triggers=[
            FileTrigger(("/usr/lib64",), kind="transfiletriggerin", body="ldconfig", priority=2000)
        ],
    )
    info = read_header(hdr(path))
    assert info.nevra == "tb-read-1.0-1.x86_64"
    assert "/usr/lib64/libtbread.so.1" in info.files
    scripts = {s.kind: (s.interp, s.body) for s in info.scripts}
    assert scripts == {
        ScriptKind.PRE: (("<lua>",), "print(1)"),
        ScriptKind.POST: (("/sbin/ldconfig",), None),
        ScriptKind.POSTTRANS: (("/bin/sh",), "echo 100% done"),
    }
    assert [(c.name for c in t.conditions) and t.body for t in info.triggers] == ["echo other"]
    cond = info.triggers[0].conditions[0]
    assert (cond.name, cond.version) == ("tb-other", "2.0")
    assert cond.flags & (rpm.RPMSENSE_GREATER | rpm.RPMSENSE_EQUAL) == (
        rpm.RPMSENSE_GREATER | rpm.RPMSENSE_EQUAL
    )
    (ft,) = info.file_triggers
    assert (ft.kind, ft.prefixes, ft.priority, ft.body) == (
        ScriptKind.TRANSFILETRIGGERIN,
        ("/usr/lib64",),
        2000,
        "ldconfig",
    )


def test_scripts_run_in_rpm_order_with_triggers_between_packages(
    root: Path, tmp_path: Path
) -> None:
    base = [
        build_rpm(
            "tb-watcher",
            files={"/usr/share/tb-watcher/x": "w"},
            triggers=[Trigger(on="tb-app", body=log("watcher:%triggerin"))],
            file_triggers=[
                FileTrigger(("/usr/share/tb-data/",), body=log("watcher:%filetriggerin"))
            ],
        )
    ]
    lib = build_rpm(
        "tb-lib",
        files={"/usr/share/tb-data/lib": "l"},
        scripts={
            "pre": log("lib:%pre"),
            "post": log("lib:%post"),
            "posttrans": log("lib:%posttrans"),
            "preun": log("never"),
            "postun": log("never"),
        },
    )
    app = build_rpm(
        "tb-app",
        requires=["tb-lib"],
        files={"/usr/bin/tb-app": "a"},
        scripts={
            "pre": log("app:%pre"),
            "post": log("app:%post"),
            "posttrans": log("app:%posttrans"),
        },
        file_triggers=[
            FileTrigger(
                ("/usr/share/tb-data/",),
                kind="transfiletriggerin",
                body=log("app:%transfiletriggerin"),
            )
        ],
    )
    # Given app before lib: rpm's ordering puts the dependency first.
    upper, _ = layer([app, lib], base, root, tmp_path)
    assert (upper / LOG.lstrip("/")).read_text().splitlines() == [
        "lib:%pre 1",
        "app:%pre 1",
        "lib:%post 1",
        "watcher:%filetriggerin 1",
        "app:%post 1",
        "watcher:%triggerin 1 1",
        "lib:%posttrans 1",
        "app:%posttrans 1",
        "app:%transfiletriggerin 1",
    ]


def test_file_trigger_gets_every_matching_path_of_the_tree_sorted(
    root: Path, tmp_path: Path
) -> None:
    base = [
        build_rpm(
            "tb-lister",
            files={"/usr/share/tb-list/base-b": "b", "/usr/share/other": "o"},
            file_triggers=[
                FileTrigger(
                    ("/usr/share/tb-list/",),
                    kind="transfiletriggerin",
                    body="cat > /usr/share/tb-stdin",
                )
            ],
        )
    ]
    layered = build_rpm(
        "tb-listed", files={"/usr/share/tb-list/a": "a", "/usr/share/tb-list/z/c": "c"}
    )
    upper, _ = layer([layered], base, root, tmp_path, base_in_tree=True)
    assert (upper / "usr/share/tb-stdin").read_text() == (
        "/usr/share/tb-list/a\n/usr/share/tb-list/base-b\n/usr/share/tb-list/z/c\n"
    )


def test_ldconfig_trigger_regenerates_the_cache_with_the_layered_library(
    root: Path, tmp_path: Path
) -> None:
    glibc = build_rpm(
        "tb-glibc",
        files={"/usr/share/doc/tb-glibc/README": "libc"},
        file_triggers=[
            FileTrigger(
                ("/lib", "/usr/lib", "/lib64", "/usr/lib64"),
                kind="transfiletriggerin",
                priority=2000000,
                body="/sbin/ldconfig",
            )
        ],
    )
    popt = build_rpm(
        "tb-popt",
        files={
            "/usr/lib64/libpopt.so.0.0.2": FileSpec(
                from_host=Path(os.path.realpath("/usr/lib/x86_64-linux-gnu/libpopt.so.0")),
                mode=0o755,
            )
        },
        scripts={"post": Script(interpreter="/sbin/ldconfig")},
    )
    upper, _ = layer([popt], [glibc], root, tmp_path)
    cache = upper / "usr/etc/ld.so.cache"
    listing = subprocess.run(
        ["ldconfig", "-p", "-C", str(cache)], capture_output=True, text=True, check=True
    ).stdout
    assert "libpopt.so.0 (libc6,x86-64) => /usr/lib64/libpopt.so.0" in listing
    assert os.readlink(upper / "usr/lib64/libpopt.so.0") == "libpopt.so.0.0.2"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0\0\0\0\0"))
        + chunk(b"IEND", b"")
    )


INDEX_THEME = """[Icon Theme]
Name=Hicolor
Comment=Fallback icon theme
Directories=48x48/apps

[48x48/apps]
Size=48
Context=Applications
Type=Threshold
"""


def test_icon_cache_is_regenerated_and_lists_the_layered_icon(root: Path, tmp_path: Path) -> None:
    theme = build_rpm(
        "tb-hicolor",
        files={
            "/usr/share/icons/hicolor/index.theme": INDEX_THEME,
            "/usr/share/icons/hicolor/48x48/apps/tb-base-icon.png": _png(),
        },
        file_triggers=[
            FileTrigger(
                ("/usr/share/icons/hicolor/",),
                kind="transfiletriggerin",
                body="gtk-update-icon-cache --force /usr/share/icons/hicolor",
            )
        ],
    )
    app = build_rpm(
        "tb-iconapp", files={"/usr/share/icons/hicolor/48x48/apps/tb-layered-icon.png": _png()}
    )
    upper, _ = layer([app], [theme], root, tmp_path, base_in_tree=True)
    cache = (upper / "usr/share/icons/hicolor/icon-theme.cache").read_bytes()
    assert b"tb-layered-icon" in cache
    assert b"tb-base-icon" in cache


def test_pre_useradd_creates_the_user_in_the_new_tree_only(root: Path, tmp_path: Path) -> None:
    host_passwd = Path("/etc/passwd").read_text()
    daemon = build_rpm(
        "tb-daemon",
        files={"/usr/share/tb-daemon/data": "d"},
        scripts={
            "pre": "useradd -r -u 950 -M -d /var/lib/tbd -s /sbin/nologin tbd",
            "post": "chown tbd:tbd /usr/share/tb-daemon/data",
        },
    )
    upper, _ = layer([daemon], [], root, tmp_path)
    passwd = (upper / "usr/etc/passwd").read_text()
    assert "tbd:x:950:950::/var/lib/tbd:/sbin/nologin" in passwd.splitlines()
    meta = os.stat(upper / "usr/share/tb-daemon/data")
    assert (meta.st_uid, meta.st_gid) == (950, 950)
    assert Path("/etc/passwd").read_text() == host_passwd
    assert "tbd" not in (root / "usr/etc/passwd").read_text()


def test_failing_post_aborts_naming_package_script_status_and_output(
    root: Path, tmp_path: Path
) -> None:
    bad = build_rpm(
        "tb-bad",
        files={"/usr/share/tb-bad": "b"},
        scripts={
            "post": "echo configuring tb-bad\necho cannot continue >&2\nexit 1",
            "posttrans": "touch /usr/share/never-reached",
        },
    )
    with pytest.raises(TriggerError) as caught:
        layer([bad], [], root, tmp_path)
    err = caught.value
    assert (err.command, err.returncode) == (("tb-bad:%post",), 1)
    assert err.output_tail.splitlines() == ["configuring tb-bad", "cannot continue"]
    assert "tb-bad:%post of tb-bad-1.0-1.x86_64 failed with exit status 1" in str(err)
    assert not (tmp_path / "upper/usr/share/never-reached").exists()


def test_interpreter_from_the_tree_runs_the_body(root: Path, tmp_path: Path) -> None:
    bashy = build_rpm(
        "tb-bash",
        files={"/usr/share/tb-bash": "b"},
        scripts={"post": Script('a=(x y z); echo "${#a[@]} $1" > /usr/share/tb-arr', "/bin/bash")},
    )
    upper, _ = layer([bashy], [], root, tmp_path)
    assert (upper / "usr/share/tb-arr").read_text() == "3 1\n"


def test_plan_reads_base_files_only_under_trigger_prefixes_and_plans_the_same() -> None:
    from triggers import plan_packages  # noqa: PLC0415 - the unfiltered reference
    from triggers.scripts import install_order, read_headers  # noqa: PLC0415

    base = [
        build_rpm(
            "tb-libowner",
            files={f"/usr/lib64/tb-lib{i}.so.1": f"{i}" for i in range(3)}
            | {f"/usr/share/tb-doc/{i}": "d" for i in range(50)},
            file_triggers=[FileTrigger(("/usr/lib64/",), kind="transfiletriggerin", body="true")],
        ),
        build_rpm("tb-plain", files={f"/usr/share/tb-plain/{i}": "p" for i in range(50)}),
    ]
    layered = [
        build_rpm(
            "tb-newlib",
            files={"/usr/lib64/tb-new.so.1": "n", "/usr/share/tb-new/x": "x"},
            file_triggers=[FileTrigger(("/usr/share/tb-plain/",), body="true")],
        )
    ]
    new, old = [hdr(p) for p in layered], [hdr(p) for p in base]
    planned = plan_scripts(new, old)
    reference = plan_packages(read_headers(install_order(new)), read_headers(old))
    assert planned == reference
    stdins = [s.stdin for s in planned.scripts]
    assert ("/usr/lib64/tb-lib0.so.1", "/usr/lib64/tb-lib1.so.1", "/usr/lib64/tb-lib2.so.1",
            "/usr/lib64/tb-new.so.1") in stdins  # fmt: skip
    # Only what a trigger prefix covers is read of the base's file lists.
    kept = read_headers(old, files_under=("/usr/lib64/", "/usr/share/tb-plain/"))
    assert [len(p.files) for p in kept] == [3, 50]
    assert read_headers(old, files_under=())[0].files == ()
