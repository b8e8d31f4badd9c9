"""A small composed world for the crash and bad-input tests, and what a user sees of it.

One *template* is built per test session: a sysroot whose two bases were composed by
``strata compose tree`` from small fixture RPMs (a C library, a shell, coreutils and a
``basefiles`` package), v1 deployed and booted, a ``layer`` repository configured in the
booted ``/etc``. Each test works on a ``cp -a`` copy (a :class:`Box`), so a crash in one
test can never leak into another and nothing is composed twice.

:func:`snapshot` is the byte-for-byte check of the bad-input matrix: the deployment
directory listing, every origin file, a hash of each deployment's ``/etc`` tree (names,
types, modes, owners, contents, link targets), the live boot entries and the raw output
of ``strata status --json``. Caches (package refs, downloaded RPMs, repo metadata) are
deliberately not part of it: a refused command may keep what it fetched.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic import TEMP_PREFIX
from core.store import Store
from fixtures import realistic
from fixtures.hostlibs import libraries_for
from fixtures.repos import make_repo, write_repo_file, write_treefile
from fixtures.rpms import FileKind, FileSpec, Script, build_rpm

ROOT = Path(__file__).resolve().parents[2]
OS = "relos"
REF_V1 = "relos/x86_64/base"
REF_V2 = "relos/x86_64/base-v2"
LAYER_REPO_ID = "layer"
REPO_FILE = "etc/yum.repos.d/layer.repo"
RPMDB = "usr/lib/sysimage/rpm"
CACHE_REFS = "strata/"  # package caches and indexes; a refused command may add some
# Per-script time limit the tests give the sandbox (the "loops forever" input).
SCRIPT_TIMEOUT_ENV = "STRATA_SCRIPT_TIMEOUT"


# -- packages ------------------------------------------------------------------------------


def basefiles(version: str) -> Path:
    return build_rpm(
        "basefiles",
        version=version,
        arch="noarch",
        files={
            "/usr/share/basefiles/readme": f"base {version}\n",
            # a stand-in kernel: boot entries name it, `kargs` has something to boot
            "/usr/lib/modules/6.1.0-test/vmlinuz": FileSpec(content=b"kernel\n", mode=0o755),
            "/etc/basefiles.conf": FileSpec(content=f"setting={version}\n", config="noreplace"),
        },
    )


def base_rpms(version: int) -> list[Path]:
    """The smallest base the sandbox accepts: libc, loader, a shell, coreutils (``true``)."""
    coreutils = [Path("/usr/bin") / n for n in realistic.COREUTILS]
    programs = [realistic.BASH_PROGRAM, *(p for p in coreutils if p.exists())]
    libs = sorted(name for name in libraries_for(programs) if name != "glibc")
    rpms = [realistic.build_setup(), realistic.build_filesystem(), realistic.build_glibc()]
    rpms += [realistic.build_library_package(name) for name in libs]
    rpms += [realistic.build_bash(), realistic.build_coreutils()]
    rpms.append(basefiles("1.0" if version == 1 else "2.0"))
    return rpms


def _sh(name: str, **kwargs: Any) -> Path:
    return build_rpm(name, autoreqprov=False, **kwargs)


def layer_rpms() -> dict[str, Path]:
    """The layer repository, by name: good packages and ones each test must refuse."""
    return {
        "tool": _sh("tool", files={"/usr/bin/tool": "#!/bin/sh\necho tool\n"}),
        "hello": _sh(
            "hello", requires=("libhello",), files={"/usr/bin/hello": "#!/bin/sh\necho hi\n"}
        ),
        "libhello": _sh("libhello", files={"/usr/lib64/libhello.so.1": "hello lib\n"}),
        "withpost": _sh(
            "withpost",
            requires=("/bin/sh",),
            files={"/usr/share/withpost/data": "data\n"},
            scripts={"post": "echo ran > /usr/share/withpost/post-ran\n"},
        ),
        "clash": _sh("clash", files={"/usr/share/basefiles/readme": "not the base\n"}),
        "pair-a": _sh("pair-a", files={"/usr/share/pair/file": "from a\n"}),
        "pair-b": _sh("pair-b", files={"/usr/share/pair/file": "from b\n"}),
        "needy": _sh(
            "needy", requires=("no-such-capability",), files={"/usr/share/needy/x": "x\n"}
        ),
        "failscript": _sh(
            "failscript",
            requires=("/bin/sh",),
            files={"/usr/share/failscript/x": "x\n"},
            scripts={"post": "echo about to fail >&2\nexit 3\n"},
        ),
        "netscript": _sh(
            "netscript",
            requires=("/bin/bash",),
            files={"/usr/share/netscript/x": "x\n"},
            scripts={
                "post": Script(
                    f"exec 3<>/dev/tcp/127.0.0.1/{NET_PORT} || exit 7\necho reached >&3\n",
                    "/bin/bash",
                )
            },
        ),
        "loopscript": _sh(
            "loopscript",
            requires=("/bin/sh",),
            files={"/usr/share/loopscript/x": "x\n"},
            scripts={"post": "while :; do :; done\n"},
        ),
        "dirlink": _sh(
            "dirlink",
            files={
                "/usr/share/dirlink/etc": FileSpec(kind=FileKind.SYMLINK, target="/etc"),
            },
        ),
    }


# A port on the host's loopback the "network" scriptlet tries to reach.
NET_PORT = 47613


# -- the template ---------------------------------------------------------------------------


def _run(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"{argv} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "layering.cli", *args]


def _treefile(directory: Path, version: int, repo_url: str) -> Path:
    return write_treefile(
        directory,
        ref=REF_V1 if version == 1 else REF_V2,
        osname=OS,
        repo_id="base",
        repo_url=repo_url,
        packages=(realistic_name(p) for p in base_rpms(version)),
        version=f"{version}.0",
    )


def realistic_name(path: Path) -> str:
    return path.name.rsplit("-", 2)[0]


def _build_template(root: Path) -> None:
    """Compose v1 from the fixture RPMs, deploy it, boot it, configure the layer repo."""
    sysroot = root / "sysroot"
    for v in (1, 2):
        make_repo(root / "repos" / f"base-v{v}", base_rpms(v))
        _treefile(root / f"compose-v{v}", v, (root / "repos" / f"base-v{v}").as_uri())
    make_repo(root / "repos" / "layer", layer_rpms().values())
    _run(cli("admin", "init-fs", str(sysroot)))
    _run(cli("--sysroot", str(sysroot), "admin", "os-init", OS))
    repo = str(sysroot / "ostree" / "repo")
    _run(cli("compose", "tree", "--repo", repo, str(root / "compose-v1" / "treefile.yaml")))
    _run(cli("--sysroot", str(sysroot), "admin", "deploy", REF_V1))
    _run(cli("--sysroot", str(sysroot), "admin", "simulate-reboot"))
    box = Box(root, sysroot)
    write_repo_file(
        box.default_path() / REPO_FILE, LAYER_REPO_ID, (root / "repos" / "layer").as_uri()
    )


class Kind:
    """The template states tests start from."""

    BASE = "base"  # v1 composed, deployed, booted; the layer repo configured
    LAYERED = "layered"  # + v2 composed, ``install tool withpost``, rebooted into it
    STAGED = "staged"  # + ``uninstall withpost`` staged, not yet finalized


LAYERED_PACKAGES = ("tool", "withpost")


def _derive(kind: str, source: Path, root: Path) -> None:
    """Build one template state from the one before it, through the CLI."""
    box = Box.copy_of(source, root)
    (root / ".derived-from").write_text(str(box.root))
    if kind == Kind.LAYERED:
        compose_v2(box)
        box.strata("install", *LAYERED_PACKAGES)
        box.strata("admin", "simulate-reboot")
    elif kind == Kind.STAGED:
        box.strata("uninstall", "withpost")


def template(basetemp: Path, kind: str = Kind.BASE) -> Path:
    """A template directory (``sysroot/``, ``repos/``, treefiles), built on first use.

    Derived states keep the base template as ``Box.root`` (its repos and treefiles).
    """
    root = basetemp / f"reliability-{kind}"
    with (basetemp / f"reliability-{kind}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            if kind == Kind.BASE:
                _build_template(root)
            else:
                previous = Kind.LAYERED if kind == Kind.STAGED else Kind.BASE
                _derive(kind, template(basetemp, previous), root)
            (root / ".complete").touch()
    return root


def compose_v2(box: Box) -> str:
    """Compose the second base into the box's store (for rebase tests)."""
    result = box.strata(
        "compose", "tree", "--repo", str(box.repo), str(box.treefile(2)), sysroot=False
    )
    return result.stdout.strip().splitlines()[-1]


# -- a box: one copy of the template ---------------------------------------------------------


@dataclass
class Box:
    """A private copy of the template (``cp -a`` keeps hardlinks, owners, xattrs)."""

    root: Path
    sysroot: Path

    @classmethod
    def copy_of(cls, template_root: Path, dest: Path) -> Box:
        dest.mkdir(parents=True, exist_ok=True)
        _run(["cp", "-a", str(template_root / "sysroot"), str(dest / "sysroot")])
        # keyed by device/inode: copies share a filesystem, never share this cache
        shutil.rmtree(dest / "sysroot" / "ostree" / "repo" / "cache" / "devino", True)
        origin = template_root
        while (origin / ".derived-from").is_file():
            origin = Path((origin / ".derived-from").read_text())
        return cls(origin, dest / "sysroot")

    @property
    def host_tmp(self) -> Path:
        """The commands' TMPDIR: what they leave in the host's temp dir shows up here."""
        return self.sysroot.parent / "host-tmp"

    @property
    def repo(self) -> Path:
        return self.sysroot / "ostree" / "repo"

    @property
    def deploy_dir(self) -> Path:
        return self.sysroot / "ostree" / "deploy" / OS / "deploy"

    def treefile(self, version: int) -> Path:
        return self.root / f"compose-v{version}" / "treefile.yaml"

    def strata(
        self,
        *args: str,
        expect: int | None = 0,
        env: Mapping[str, str] | None = None,
        sysroot: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        argv = cli(*(["--sysroot", str(self.sysroot)] if sysroot else []), *args)
        self.host_tmp.mkdir(exist_ok=True)
        full_env = {**os.environ, "TMPDIR": str(self.host_tmp), **(env or {})}
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            env=full_env,
            cwd=ROOT,
            timeout=timeout,
        )
        if expect is not None and proc.returncode != expect:
            raise AssertionError(
                f"strata {' '.join(args)} exited {proc.returncode}, wanted {expect}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def status(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = json.loads(self.strata("status", "--json").stdout)[
            "deployments"
        ]
        return out

    def path_of(self, dep: Mapping[str, Any]) -> Path:
        return self.deploy_dir / f"{dep['checksum']}.{dep['serial']}"

    def default_path(self) -> Path:
        """The deployment the next boot starts (first non-staged)."""
        return self.path_of(next(d for d in self.status() if not d["staged"]))

    def fsck(self) -> list[str]:
        """``strata fsck`` when the CLI has it, else the same check in-process."""
        proc = self.strata("fsck", "--repo", str(self.repo), expect=None, sysroot=False)
        if proc.returncode == 2 and "invalid choice" in proc.stderr:
            return Store.open(self.repo).fsck()
        return [] if proc.returncode == 0 else (proc.stdout + proc.stderr).splitlines()


# -- what a user sees -------------------------------------------------------------------------


def tree_hash(root: Path) -> str:
    """Names, types, modes, owners, contents and link targets under ``root``, hashed."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [".", *sorted(dirnames + filenames)]:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = os.path.relpath(path, root)
            digest.update(f"{rel}\0{st.st_mode:o}\0{st.st_uid}\0{st.st_gid}\0".encode())
            if path.is_symlink():
                digest.update(os.readlink(path).encode())
            elif path.is_file():
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            digest.update(b"\n")
    return digest.hexdigest()


def boot_entries(sysroot: Path) -> dict[str, str]:
    loader = sysroot / "boot" / "loader"
    out = {"boot/loader": os.readlink(loader) if loader.is_symlink() else "(none)"}
    entries = loader / "entries"
    if entries.is_dir():
        for item in sorted(entries.iterdir()):
            out[f"entries/{item.name}"] = item.read_bytes().decode("utf-8", "replace")
    return out


def snapshot(box: Box) -> dict[str, Any]:
    """Everything a user sees of the sysroot; equal snapshots mean nothing visible changed."""
    deploy_dir = box.deploy_dir
    names = sorted(os.listdir(deploy_dir))
    status = box.strata("status", "--json", expect=None)
    refs = Store.open(box.repo).refs()
    return {
        "deployments": names,
        "origins": {n: (deploy_dir / n).read_bytes() for n in names if n.endswith(".origin")},
        "etc": {
            n: tree_hash(deploy_dir / n / "etc")
            for n in names
            if (deploy_dir / n / "etc").is_dir() and not n.startswith(TEMP_PREFIX)
        },
        "boot": boot_entries(box.sysroot),
        "status --json": (status.returncode, status.stdout, status.stderr),
        "refs": {k: v for k, v in refs.items() if not k.startswith(CACHE_REFS)},
    }


def leftovers(box: Box) -> list[str]:
    """Temp files and directories a finished command must not leave behind."""
    found = []
    if box.host_tmp.is_dir():
        found += [f"$TMPDIR/{n}" for n in sorted(os.listdir(box.host_tmp))]
    tmp = box.repo / "tmp"
    found += [f"ostree/repo/tmp/{n}" for n in sorted(os.listdir(tmp))] if tmp.is_dir() else []
    for directory in (
        box.deploy_dir,
        box.sysroot / "boot",
        box.sysroot / "ostree",
        box.repo,
        box.repo / "git" / "objects" / "pack",
    ):
        found += [
            str((directory / n).relative_to(box.sysroot))
            for n in sorted(os.listdir(directory))
            if n.startswith((TEMP_PREFIX, ".strata-"))
        ]
    for dirpath, _dirs, files in os.walk(box.repo / "cache"):
        found += [
            str(Path(dirpath, n).relative_to(box.sysroot))
            for n in files
            if n.endswith(".part") or n.startswith(TEMP_PREFIX)
        ]
    objects = box.repo / "objects"
    for fan in sorted(os.listdir(objects)):
        if len(fan) == 2 and (objects / fan).is_dir():
            found += [
                f"ostree/repo/objects/{fan}/{n}"
                for n in os.listdir(objects / fan)
                if n.startswith(TEMP_PREFIX)
            ]
    return found
