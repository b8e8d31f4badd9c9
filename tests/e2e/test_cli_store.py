"""The store verbs end to end: ``strata repo init/commit/checkout/log/ls/diff/refs/fsck/prune``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def strata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layering.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def ok(*args: str) -> str:
    result = strata(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def make_tree(path: Path) -> None:
    (path / "usr" / "bin").mkdir(parents=True)
    (path / "usr" / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    os.chmod(path / "usr" / "bin" / "tool", 0o4755)
    (path / "etc").mkdir()
    (path / "etc" / "conf").write_text("a=1\n")
    os.chown(path / "etc" / "conf", 0, 42)
    os.symlink("usr/bin", path / "bin")
    (path / "empty").mkdir()


def test_store_verbs_end_to_end(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    src = tmp_path / "src"
    make_tree(src)
    ok("repo", "init", "--repo", repo)
    ok("repo", "init", "--repo", repo)  # idempotent

    first = ok(
        "commit", "--repo", repo, "--branch", "os/base", "--subject", "first",
        "--add-metadata", "version=1", "--timestamp", "86400", str(src),
    ).strip()  # fmt: skip
    assert len(first) == 40

    log = ok("log", "--repo", repo, "os/base")
    assert f"commit {first}" in log and "first" in log and "Metadata: version=1" in log
    assert "1970-01-02 00:00:00" in log

    (src / "etc" / "conf").write_text("a=2\n")
    os.chown(src / "etc" / "conf", 0, 42)
    (src / "usr" / "bin" / "tool").chmod(0o755)  # metadata-only change
    (src / "new").write_text("new\n")
    (src / "empty").rmdir()
    second = ok("commit", "--repo", repo, "-b", "os/base", "-s", "second", str(src)).strip()
    log = ok("log", "--repo", repo, "os/base").splitlines()
    assert log[0] == f"commit {second}" and f"Parent:  {first}" in log
    assert f"commit {first}" in log

    diff = ok("diff", "--repo", repo, first, second).splitlines()
    assert diff == ["D /empty", "M /etc/conf", "A /new", "M /usr/bin/tool"]

    listing = ok("ls", "--repo", repo, "os/base").splitlines()
    assert listing[0].startswith("d00755") and listing[0].endswith(" /")
    assert any(line.startswith("l00777") and line.endswith("/bin -> usr/bin") for line in listing)
    assert not any("/usr/bin/tool" in line for line in listing)  # not recursive by default
    tool = ok("ls", "--repo", repo, first, "usr/bin/tool").split()
    assert tool == ["-04755", "0", "0", "20", "/usr/bin/tool"]
    assert "/usr/bin/tool" in ok("ls", "--repo", repo, "-R", "os/base")
    conf = ok("ls", "--repo", repo, "os/base", "/etc/conf").split()
    assert conf[1:3] == ["0", "42"]
    missing = strata("ls", "--repo", repo, "os/base", "/no/such")
    assert missing.returncode == 1
    assert "No such path 'no/such' in os/base" in missing.stderr
    assert "hint: list what is there with `strata ls --repo PATH os/base /`" in missing.stderr

    assert ok("refs", "--repo", repo).splitlines() == ["os/base"]
    assert ok("refs", "--repo", repo, "-v").split() == ["os/base", second]

    ok("checkout", "--repo", repo, "--hardlink", "os/base", str(tmp_path / "co1"))
    ok("checkout", "--repo", repo, "os/base", str(tmp_path / "co2"))
    co1, co2 = tmp_path / "co1" / "etc" / "conf", tmp_path / "co2" / "etc" / "conf"
    assert co1.read_text() == co2.read_text() == "a=2\n"
    assert co1.stat().st_nlink == 2 and co2.stat().st_nlink == 1
    assert (tmp_path / "co1" / "bin").readlink() == Path("usr/bin")

    assert "no problems" in strata("fsck", "--repo", repo).stderr
    pruned = ok("prune", "--repo", repo)
    assert pruned.startswith("Removed 0 git objects and 0 file objects")


def test_store_verbs_fail_clearly(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    src = tmp_path / "src"
    make_tree(src)
    result = strata("log", "--repo", repo, "os/base")
    assert result.returncode == 1 and "not a Strata store" in result.stderr
    ok("repo", "init", "--repo", repo)
    for args in (
        ("log", "--repo", repo, "nope"),
        ("checkout", "--repo", repo, "nope", str(tmp_path / "co")),
        ("commit", "--repo", repo, "-b", "x", str(tmp_path / "missing")),
        ("commit", "--repo", repo, "-b", "x", "--add-metadata", "novalue", str(src)),
        ("commit", "--repo", repo, "-b", "bad..name", str(src)),
        ("diff", "--repo", repo, "nope", "nope2"),
    ):
        result = strata(*args)
        assert result.returncode == 1, args
        assert "\nerror: " in "\n" + result.stderr, result.stderr
    assert ok("refs", "--repo", repo) == ""
    assert not (tmp_path / "co").exists()
    assert strata("commit", "--repo", repo, str(src)).returncode == 2  # usage: no --branch


def test_fsck_exits_1_naming_the_bad_object(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    src = tmp_path / "src"
    make_tree(src)
    ok("repo", "init", "--repo", repo)
    ok("commit", "--repo", repo, "-b", "base", str(src))
    line = ok("ls", "--repo", repo, "base", "etc/conf")
    assert line
    from core.store import Store

    entry = Store.open(Path(repo)).lookup("base", "etc/conf")
    assert entry is not None
    obj = Path(repo) / "objects" / entry.object_id[:2] / entry.object_id[2:]
    fd = os.open(obj, os.O_WRONLY)
    os.pwrite(fd, b"X", 0)
    os.close(fd)
    result = strata("fsck", "--repo", repo)
    assert result.returncode == 1
    assert entry.object_id in result.stdout and "sha256" in result.stdout
