"""Shared helpers for the remote tests: a published server store and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REF = "os/x86_64/base"


def strata(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layering.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def ok(*args: str) -> str:
    result = strata(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(*args: str) -> str:
    """Run a command that must fail cleanly: exit 1, an ``error:`` line, no traceback."""
    result = strata(*args)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "error: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def make_tree(path: Path, files: int = 40, *, seed: str = "v1") -> None:
    """A small OS-like tree: nested dirs, a setuid binary, owners, symlinks, an empty dir."""
    (path / "usr" / "bin").mkdir(parents=True)
    (path / "usr" / "share" / "doc").mkdir(parents=True)
    (path / "etc").mkdir()
    (path / "var" / "empty").mkdir(parents=True)
    for i in range(files):
        sub = path / "usr" / "share" / "doc" / f"pkg{i % 7}"
        sub.mkdir(exist_ok=True)
        (sub / f"file{i}.txt").write_bytes(os.urandom(200 + 97 * i) + seed.encode())
    tool = path / "usr" / "bin" / "tool"
    tool.write_text(f"#!/bin/sh\necho {seed}\n")
    os.chmod(tool, 0o4755)
    (path / "etc" / "os-release").write_text(f"NAME=Test\nVERSION={seed}\n")
    os.chown(path / "etc" / "os-release", 0, 42)
    os.symlink("usr/bin", path / "bin")
    os.symlink("tool", path / "usr" / "bin" / "tool-alias")


@dataclass(frozen=True)
class Published:
    """A server: a bare store composed into, an archive store published from it."""

    bare: Path
    archive: Path
    keys: Path  # strata-sign.key / strata-sign.pub
    commit: str

    @property
    def secret(self) -> Path:
        return self.keys / "strata-sign.key"

    @property
    def public(self) -> Path:
        return self.keys / "strata-sign.pub"


def publish(
    base: Path, *, files: int = 40, keys: Path | None = None, sign: bool = True
) -> Published:
    base.mkdir(parents=True, exist_ok=True)
    tree = base / "tree"
    make_tree(tree, files)
    bare, archive = base / "bare", base / "archive"
    ok("repo", "init", "--repo", str(bare))
    commit = ok("commit", "--repo", str(bare), "-b", REF, "--add-metadata", "version=1", str(tree))
    shutil.rmtree(tree)
    ok("repo", "init", "--repo", str(archive), "--mode", "archive")
    ok("pull-local", "--repo", str(archive), str(bare), REF)
    if keys is None:
        keys = base / "keys"
        ok("sign", "--generate-key", str(keys))
    summary = ["summary", "--repo", str(archive), "--update"]
    if sign:
        ok("sign", "--repo", str(archive), REF, "--key", str(keys / "strata-sign.key"))
        summary += ["--sign-key", str(keys / "strata-sign.key")]
    ok(*summary)
    return Published(bare, archive, keys, commit.strip())


def client(path: Path, name: str, url: str, key: Path | None, *extra: str) -> Path:
    ok("repo", "init", "--repo", str(path))
    verify = ["--sign-verify-key", str(key)] if key is not None else ["--no-sign-verify"]
    ok("remote", "add", "--repo", str(path), name, url, *verify, *extra)
    return path


def object_files(archive: Path, suffix: str = ".filez") -> list[Path]:
    return sorted(p for p in (archive / "objects").rglob(f"*{suffix}"))
