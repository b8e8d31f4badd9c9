"""Helpers for sysroot tests: trees committed into a real store, consistency checks."""

from __future__ import annotations

import os
from pathlib import Path

from core.atomic import TEMP_PREFIX
from core.sysroot import Sysroot
from core.sysroot.bootloader import read_entries

BASE_ETC = {
    "usr/etc/hostname": "base\n",
    "usr/etc/motd": "welcome v1\n",
    "usr/etc/passwd": "root:x:0:0::/root:/bin/sh\n",
    "usr/etc/group": "root:x:0:\n",
    "usr/bin/tool": "#!/bin/sh\necho v1\n",
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("->"):
            os.symlink(text[2:], path)
        else:
            path.write_text(text)
    return root


def commit(
    sysroot: Sysroot, files: dict[str, str], *, branch: str = "os/base", version: str = ""
) -> str:
    """Commit ``files`` (``"->target"`` makes a symlink) to ``branch``; return the id."""
    src = sysroot.path.parent / f"src-{len(os.listdir(sysroot.path.parent))}"
    write_tree(src, files)
    metadata = {"version": version} if version else {}
    return sysroot.repo.commit_dir(src, branch=branch, subject="test", metadata=metadata)


def new_sysroot(tmp_path: Path, osname: str = "os") -> Sysroot:
    sysroot = Sysroot.init_fs(tmp_path / "sysroot")
    sysroot.os_init(osname)
    return sysroot


def check_consistent(sysroot: Sysroot) -> None:
    """What a user relies on after any crash: a bootable default and a listable sysroot."""
    deployments = sysroot.deployments()
    entries = read_entries(sysroot.path)
    assert entries, "no boot entries"
    assert all(e.target is not None for e in entries), "an entry names no deployment"
    listed = {d.key for d in deployments}
    for entry in entries:
        assert entry.target in listed
        root = sysroot.path / "ostree" / "deploy" / entry.target.osname / "deploy"
        assert (root / entry.target.dirname / "etc").is_dir()
        assert (root / f"{entry.target.dirname}.origin").is_file()


def leftovers(sysroot: Sysroot) -> list[str]:
    """Directory entries under ostree/deploy that no deployment accounts for."""
    listed = {d.key.dirname for d in sysroot.deployments()}
    out = []
    for osname in sysroot.stateroots():
        for name in os.listdir(sysroot.path / "ostree" / "deploy" / osname / "deploy"):
            if name.removesuffix(".origin") not in listed or name.startswith(TEMP_PREFIX):
                out.append(name)
    return sorted(out)
