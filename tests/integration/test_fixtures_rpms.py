"""The fixture factory builds RPMs that carry exactly what the description says."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixtures.rpms import FileKind, FileSpec, FileTrigger, Script, Trigger, build_rpm
from tests.conftest import needs_rpmbuild

pytestmark = needs_rpmbuild


def rpmq(rpm: Path, *args: str, dbpath: Path) -> str:
    return subprocess.run(
        ["rpm", "-qp", "--dbpath", str(dbpath), *args, str(rpm)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def demo_rpm() -> Path:
    return build_rpm(
        "fx-demo",
        "2.0",
        "3",
        epoch=1,
        summary="A demo with 100% coverage",
        requires=["fx-base >= 5", "/bin/sh"],
        provides=["fx-democap = 2"],
        conflicts=["fx-enemy"],
        obsoletes=["fx-old < 2"],
        files={
            "/usr/bin/fx-demo": FileSpec(content="#!/bin/sh\necho hi\n", mode=0o755),
            "/etc/fx-demo.conf": FileSpec(content="a=1\n", config="noreplace"),
            "/etc/fx-plain.conf": FileSpec(content="b=2\n", config=True),
            "/var/lib/fx-demo": FileSpec(kind=FileKind.DIR, mode=0o700, user="fxd", group="fxg"),
            "/usr/bin/fx-link": FileSpec(kind=FileKind.SYMLINK, target="fx-demo"),
            "/var/log/fx-demo.log": FileSpec(ghost=True),
            "/usr/bin/fx-ping": FileSpec(content=b"\x7fnot-elf", mode=0o755, caps="cap_net_raw=ep"),
            "/usr/share/doc/fx-demo/README": FileSpec(content="read me", doc=True),
            "/usr/share/fx-demo/data.txt": "plain string content\n",
        },
        scripts={
            "pre": Script('if not posix.access("/x") then print("%{name}") end', "<lua>"),
            "post": Script(interpreter="/sbin/ldconfig"),
            "posttrans": "echo 100% done",
            "preun": "echo preun",
            "postun": Script("echo postun", "/bin/bash"),
            "pretrans": Script("return 0", "<lua>"),
        },
        triggers=[Trigger(on="fx-other", body="echo other came")],
        file_triggers=[
            FileTrigger(
                prefixes=("/lib64", "/usr/lib64"),
                kind="transfiletriggerin",
                interpreter="/bin/sh",
                body="/sbin/ldconfig",
            ),
            FileTrigger(prefixes=("/usr/share/fx",), body="cat", priority=50),
        ],
        compression="xz",
    )


def test_nevra_and_payload_compression(demo_rpm: Path, tmp_path: Path) -> None:
    out = rpmq(demo_rpm, "--qf", "%{nevra}|%{payloadcompressor}|%{summary}", dbpath=tmp_path)
    assert out == "fx-demo-1:2.0-3.x86_64|xz|A demo with 100% coverage"


def test_dependencies_as_described(demo_rpm: Path, tmp_path: Path) -> None:
    requires = rpmq(demo_rpm, "--requires", dbpath=tmp_path).splitlines()
    assert "fx-base >= 5" in requires
    assert "/sbin/ldconfig" in requires  # the -p interpreter becomes a dependency
    provides = rpmq(demo_rpm, "--provides", dbpath=tmp_path).splitlines()
    assert "fx-democap = 2" in provides
    assert "fx-demo(x86-64) = 1:2.0-3" in provides
    assert rpmq(demo_rpm, "--conflicts", dbpath=tmp_path).split() == ["fx-enemy"]
    assert rpmq(demo_rpm, "--obsoletes", dbpath=tmp_path).splitlines() == ["fx-old < 2"]


def test_scripts_triggers_and_file_triggers(demo_rpm: Path, tmp_path: Path) -> None:
    scripts = rpmq(demo_rpm, "--scripts", dbpath=tmp_path)
    assert (
        'preinstall scriptlet (using <lua>):\nif not posix.access("/x") then print("%{name}")'
        in (scripts)
    )
    assert "pretrans scriptlet (using <lua>):\nreturn 0" in scripts
    assert "postinstall program: /sbin/ldconfig" in scripts
    assert "posttrans scriptlet (using /bin/sh):\necho 100% done" in scripts
    assert "preuninstall scriptlet (using /bin/sh):\necho preun" in scripts
    assert "postuninstall scriptlet (using /bin/bash):\necho postun" in scripts
    triggers = rpmq(demo_rpm, "--triggers", dbpath=tmp_path)
    assert "triggerin scriptlet (using /bin/sh) -- fx-other\necho other came" in triggers
    ftrig = rpmq(demo_rpm, "--filetriggers", dbpath=tmp_path)
    assert "transfiletriggerin scriptlet (using /bin/sh) -- /lib64, /usr/lib64\n/sbin/ldconfig" in (
        ftrig
    )
    assert "filetriggerin scriptlet (using /bin/sh) -- /usr/share/fx\ncat" in ftrig
    prio = rpmq(demo_rpm, "--qf", "[%{filetriggerpriorities} ]", dbpath=tmp_path)
    assert "50" in prio.split()


def test_files_modes_owners_flags_and_caps(demo_rpm: Path, tmp_path: Path) -> None:
    fmt = (
        "[%{filenames}|%{filemodes:perms}|%{fileusername}|%{filegroupname}"
        "|%{fileflags:fflags}|%{filecaps}|%{filelinktos}\n]"
    )
    rows = {
        line.split("|")[0]: line.split("|")[1:]
        for line in rpmq(demo_rpm, "--qf", fmt, dbpath=tmp_path).splitlines()
    }
    assert set(rows) == {
        "/usr/bin/fx-demo",
        "/etc/fx-demo.conf",
        "/etc/fx-plain.conf",
        "/var/lib/fx-demo",
        "/usr/bin/fx-link",
        "/var/log/fx-demo.log",
        "/usr/bin/fx-ping",
        "/usr/share/doc/fx-demo/README",
        "/usr/share/fx-demo/data.txt",
    }
    assert rows["/usr/bin/fx-demo"][:3] == ["-rwxr-xr-x", "root", "root"]
    assert rows["/etc/fx-demo.conf"][3] == "cn"
    assert rows["/etc/fx-plain.conf"][3] == "c"
    assert rows["/var/lib/fx-demo"][:3] == ["drwx------", "fxd", "fxg"]
    assert rows["/usr/bin/fx-link"][0].startswith("l")
    assert rows["/usr/bin/fx-link"][5] == "fx-demo"
    assert rows["/var/log/fx-demo.log"][3] == "g"
    assert rows["/usr/bin/fx-ping"][4] == "cap_net_raw=ep"
    assert rows["/usr/share/doc/fx-demo/README"][3] == "d"


def test_payload_content_round_trips(demo_rpm: Path, tmp_path: Path) -> None:
    rpm2cpio = subprocess.run(["rpm2cpio", str(demo_rpm)], capture_output=True, check=True)
    subprocess.run(["cpio", "-idm", "--quiet"], input=rpm2cpio.stdout, cwd=tmp_path, check=True)
    assert (tmp_path / "usr/share/fx-demo/data.txt").read_text() == "plain string content\n"
    assert (tmp_path / "usr/bin/fx-demo").read_text() == "#!/bin/sh\necho hi\n"
    assert not (tmp_path / "var/log/fx-demo.log").exists()  # ghosts carry no payload


def test_elf_files_get_real_soname_dependencies(tmp_path: Path) -> None:
    rpm = build_rpm("fx-elf", files={"/usr/bin/fx-true": FileSpec(from_host=Path("/bin/true"))})
    requires = rpmq(rpm, "--requires", dbpath=tmp_path).splitlines()
    assert "libc.so.6()(64bit)" in requires
    assert rpmq(rpm, "--qf", "[%{filemodes:perms}]", dbpath=tmp_path) == "-rwxr-xr-x"


def test_autoreqprov_off_drops_soname_dependencies(tmp_path: Path) -> None:
    rpm = build_rpm(
        "fx-noauto",
        autoreqprov=False,
        files={"/usr/bin/fx-true": FileSpec(from_host=Path("/bin/true"))},
    )
    assert "libc.so.6()(64bit)" not in rpmq(rpm, "--requires", dbpath=tmp_path)


@pytest.mark.parametrize("compression", ["gzip", "xz", "zstd", "bzip2"])
def test_each_payload_compression(compression: str, tmp_path: Path) -> None:
    rpm = build_rpm("fx-comp", arch="noarch", files={"/a": "x"}, compression=compression)
    assert rpmq(rpm, "--qf", "%{payloadcompressor}|%{arch}", dbpath=tmp_path) == (
        f"{compression}|noarch"
    )


def test_cache_hit_reuses_the_built_file_and_out_dir_gets_a_copy(tmp_path: Path) -> None:
    first = build_rpm("fx-cache", files={"/c": "1"})
    before = first.stat()
    again = build_rpm("fx-cache", files={"/c": "1"})
    assert again == first
    after = again.stat()  # a rebuild would rename a new file into place
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    copied = build_rpm("fx-cache", files={"/c": "1"}, out_dir=tmp_path / "out")
    assert copied == tmp_path / "out" / "fx-cache-1.0-1.x86_64.rpm"
    assert copied.read_bytes() == first.read_bytes()
    other = build_rpm("fx-cache", files={"/c": "2"})
    assert other != first


def test_concurrent_builds_of_one_package_agree(tmp_path: Path) -> None:
    """Several pytest workers may ask for the same RPM at once: all get one valid file."""
    import os
    import sys

    code = "from fixtures.rpms import build_rpm; print(build_rpm('fx-race', files={'/r': 'race'}))"
    env = dict(os.environ, STRATA_FIXTURE_CACHE=str(tmp_path / "cache"))
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outputs) == 1
    built = Path(outputs.pop())
    assert built.is_relative_to(tmp_path / "cache")
    assert rpmq(built, "--qf", "%{name}", dbpath=tmp_path) == "fx-race"
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]
    assert leftovers == []
