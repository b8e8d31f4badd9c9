"""A small world for the layering-verb tests: base commits, a package repo, a sysroot.

Bases are real trees: fixture RPMs installed by rpm itself into a root (so the rpmdb at
``/usr/lib/sysimage/rpm`` is genuine), ``/etc`` moved to ``/usr/etc`` as a composed
base has it, an os-release, the test repo's ``.repo`` file, and this machine's
``/usr/bin/true`` with its libraries (the sandbox sanity check runs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.store import Store
from core.sysroot import Sysroot
from fixtures.repos import make_repo, write_repo_file
from fixtures.rpms import build_rpm
from layering.cli import status as status_mod

OS = "testos"
REF_V1 = "testos/base/v1"
REF_V2 = "testos/base/v2"
RPMDB = "usr/lib/sysimage/rpm"
BASE_TIMESTAMP = 1_700_000_000


def _base_common_rpms() -> list[Path]:
    """The packages both bases ship unchanged."""
    return [
        build_rpm("xzlib", version="5.4", files={"/usr/lib64/libxz-fake.so.5": "xz\n"}),
        build_rpm(
            "nanoed",
            version="7.2",
            provides=("/bin/sh",),  # the shell itself is copied from the host, unpackaged
            files={"/usr/bin/nanoed": "#!/bin/sh\n"},
        ),
    ]


def base_v1_rpms() -> list[Path]:
    return [
        build_rpm(
            "basefiles",
            files={
                "/usr/share/basefiles/readme": "base v1\n",
                "/etc/basefiles.conf": "setting=1\n",
            },
        ),
        *_base_common_rpms(),
    ]


def base_v2_rpms() -> list[Path]:
    """v2 ships libhello itself, and a newer basefiles."""
    return [
        build_rpm(
            "basefiles",
            version="2.0",
            files={
                "/usr/share/basefiles/readme": "base v2\n",
                "/etc/basefiles.conf": "setting=2\n",
            },
        ),
        *_base_common_rpms(),
        build_rpm("libhello", files={"/usr/lib64/libhello.so.1": "hello lib\n"}),
    ]


def layer_rpms() -> list[Path]:
    return [
        build_rpm(
            "hello",
            requires=("libhello",),
            autoreqprov=False,
            files={"/usr/bin/hello": "#!/bin/sh\necho hello\n"},
        ),
        build_rpm("libhello", files={"/usr/lib64/libhello.so.1": "hello lib\n"}),
        build_rpm("tool", files={"/usr/bin/tool": "#!/bin/sh\necho tool\n"}),
        build_rpm("xzlib", version="5.4", files={"/usr/lib64/libxz-fake.so.5": "xz\n"}),
        build_rpm("clash", files={"/usr/share/basefiles/readme": "not the base\n"}),
        build_rpm(
            "failing",
            scripts={"post": "echo failing post script >&2; exit 3"},
            files={"/usr/share/failing/x": "x\n"},
        ),
        build_rpm(
            "needy",
            requires=("no-such-capability",),
            autoreqprov=False,
            files={"/usr/share/needy/x": "x\n"},
        ),
    ]


def local_rpm() -> Path:
    return build_rpm("localpkg", files={"/usr/share/localpkg/data": "local\n"})


def _copy_host_binary(root: Path, binary: str) -> None:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    paths = [binary] + [w for line in out.splitlines() for w in line.split() if w.startswith("/")]
    for src in paths:
        rel = src.lstrip("/")
        for prefix in ("lib64/", "lib/", "bin/"):
            if rel.startswith(prefix):
                rel = "usr/" + rel
        dest = root / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(src), dest)


def build_base_tree(root: Path, rpms: Sequence[Path], *, version: str, repo_url: str) -> Path:
    root.mkdir(parents=True)
    for d in ("usr/bin", "usr/lib64", "usr/lib", "usr/etc", RPMDB):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("lib64", "usr/lib64"), ("lib", "usr/lib")):
        (root / link).symlink_to(target)
    subprocess.run(
        [
            "rpm",
            "--root",
            str(root),
            "--dbpath",
            "/" + RPMDB,
            "-i",
            "--nodeps",
            "--noscripts",
            "--notriggers",
            "--nosignature",
            *map(str, rpms),
        ],
        check=True,
        capture_output=True,
    )
    (root / "usr/share/rpm").parent.mkdir(parents=True, exist_ok=True)
    (root / "usr/share/rpm").symlink_to("../lib/sysimage/rpm")
    if (root / "etc").exists():
        for item in (root / "etc").iterdir():
            shutil.move(str(item), root / "usr/etc" / item.name)
        (root / "etc").rmdir()
    (root / "usr/lib/os-release").write_text(f'NAME="Test OS"\nID=testos\nVERSION_ID={version}\n')
    _copy_host_binary(root, "/usr/bin/true")
    _copy_host_binary(root, os.path.realpath("/bin/sh"))
    if not (root / "usr/bin/sh").exists():
        (root / "usr/bin/sh").symlink_to(Path(os.path.realpath("/bin/sh")).name)
    write_repo_file(root / "usr/etc/yum.repos.d/test.repo", "test", repo_url)
    return root


class World:
    """One sysroot with two base commits and a repo of layerable packages."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sysroot = tmp / "sysroot"
        self.repo_dir = make_repo(tmp / "repo", layer_rpms())
        self.strata("admin", "init-fs", str(self.sysroot), sysroot=False)
        self.strata("admin", "os-init", OS)
        store = Store.open(self.sysroot / "ostree" / "repo")
        url = self.repo_dir.as_uri()
        for ref, rpms, version in ((REF_V1, base_v1_rpms(), "1"), (REF_V2, base_v2_rpms(), "2")):
            tree = build_base_tree(tmp / f"base-{version}", rpms, version=version, repo_url=url)
            store.commit_dir(
                tree,
                branch=ref,
                subject=f"base {version}",
                metadata={"version": version},
                timestamp=BASE_TIMESTAMP,
            )
            shutil.rmtree(tree)
        self.strata("admin", "deploy", REF_V1)
        self.strata("admin", "simulate-reboot")

    def strata(
        self, *args: str, check: bool = True, sysroot: bool = True, expect: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "layering.cli"]
        if sysroot:
            cmd += ["--sysroot", str(self.sysroot)]
        result = subprocess.run([*cmd, *args], capture_output=True, text=True, check=False)
        wanted = expect if expect is not None else (0 if check else None)
        if wanted is not None and result.returncode != wanted:
            raise AssertionError(
                f"strata {' '.join(args)} exited {result.returncode}, wanted {wanted}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def status(self) -> list[dict[str, Any]]:
        deployments: list[dict[str, Any]] = json.loads(self.strata("status", "--json").stdout)[
            "deployments"
        ]
        return deployments

    def snapshot(self) -> dict[str, Any]:
        """What a user sees: status, origin files, boot entries, each deployment's /etc."""
        files: dict[str, Any] = {}
        deploy = self.sysroot / "ostree" / "deploy" / OS / "deploy"
        for path in sorted(deploy.iterdir()):
            if path.suffix == ".origin":
                files[str(path.relative_to(self.sysroot))] = path.read_text()
            elif path.is_dir() and (path / "etc").is_dir():
                for item in sorted((path / "etc").rglob("*")):
                    st = item.lstat()
                    if item.is_symlink():
                        content: object = "-> " + os.readlink(item)
                    elif item.is_file():
                        content = item.read_bytes()
                    else:
                        content = "dir"
                    key = str(item.relative_to(self.sysroot))
                    files[key] = (oct(st.st_mode), st.st_uid, st.st_gid, content)
        boot = self.sysroot / "boot"
        for item in sorted(boot.rglob("*")):
            if item.is_file():
                files[str(item.relative_to(self.sysroot))] = item.read_bytes()
            elif item.is_symlink():
                files[str(item.relative_to(self.sysroot))] = "-> " + os.readlink(item)
        # In-process (same code as `status --json`): snapshots are taken often.
        records = status_mod.collect(Sysroot.open(self.sysroot))
        return {
            "status": status_mod.to_json(records),
            "files": files,
            "deployments": sorted(p.name for p in deploy.iterdir()),
        }

    def deployment_path(self, dep: dict[str, Any]) -> Path:
        return self.sysroot / "ostree/deploy" / OS / "deploy" / f"{dep['checksum']}.{dep['serial']}"

    def booted_path(self) -> Path:
        return self.deployment_path(next(d for d in self.status() if d["booted"]))

    def finalize(self) -> None:
        self.strata("admin", "simulate-reboot")
