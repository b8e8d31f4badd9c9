"""Bases of N files for the benchmarks, composed through ``strata compose tree``.

A base is the realistic package set (a C library whose ``ldconfig`` file trigger
fires, a shell, coreutils, an icon cache trigger) plus filler packages that bring
the tree to N files. Building one costs minutes at 100k files, so the result is
kept under ``.cache/bench/`` (see :func:`cache_dir`) in a directory named by a
digest of its inputs (the RPM files, N and :data:`VERSION`): a second ``make
bench`` starts at once.

What is kept is a *template sysroot*: the base composed into its store, deployed
and booted, ``/etc/yum.repos.d/bench.repo`` pointing at the layering repository,
and the solver caches warm (a dry-run install filled them), as on a host that has
run ``dnf makecache``. Each measured run works on a fresh ``cp -a`` of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from fixtures import realistic
from fixtures.filler import filler_packages
from fixtures.repos import make_repo, write_repo_file
from fixtures.rpms import FileSpec, build_rpm

ROOT = Path(__file__).resolve().parent.parent
VERSION = "2"  # bump when the way a template is built changes
OSNAME = "bench"
REF = "bench/x86_64/base"
REF_V2 = "bench/x86_64/base-v2"
EXTRA_COUNT = 10
EXTRA_FILES = 100


@dataclass(frozen=True)
class Base:
    """A cached template sysroot holding a composed base of about ``n_files`` files."""

    n_files: int
    directory: Path
    commit: str
    commit_v2: str
    files: int  # entries in the composed tree (files, links, directories)

    @property
    def template(self) -> Path:
        return self.directory / "sysroot"

    @property
    def layer_repo(self) -> Path:
        return self.directory / "repo-layer"


def cache_dir() -> Path:
    """Where bases and scratch space live; STRATA_BENCH_CACHE moves it (tests use a tmp dir)."""
    override = os.environ.get("STRATA_BENCH_CACHE")
    return Path(override) if override else ROOT / ".cache" / "bench"


def strata_argv(*args: str) -> list[str]:
    """The ``strata`` command line as this interpreter runs it."""
    return [sys.executable, "-m", "layering.cli", *args]


def run(argv: list[str], *, cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd or ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def strace_rpms() -> list[Path]:
    return realistic.strace_packages()


def extra_rpms(count: int = EXTRA_COUNT) -> list[Path]:
    """``count`` small independent packages (noarch, EXTRA_FILES files each) to layer."""
    out = []
    for n in range(count):
        files = {
            f"/usr/share/bench-extra-{n:02d}/{i:03d}.txt": FileSpec(
                content=f"extra {n} file {i}\n" * (1 + i % 3)
            )
            for i in range(EXTRA_FILES)
        }
        out.append(
            build_rpm(
                f"bench-extra-{n:02d}",
                "1.0",
                "1",
                arch="noarch",
                summary=f"Benchmark package {n} to layer",
                files=files,
                autoreqprov=False,
            )
        )
    return out


def _digest(paths: list[Path], n_files: int) -> str:
    h = hashlib.sha256(f"{VERSION}\0{n_files}\0".encode())
    for path in sorted(paths, key=lambda p: p.name):
        h.update(path.name.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def _package_name(path: Path) -> str:
    return path.name.rsplit("-", 2)[0]


def _write_treefile(directory: Path, ref: str, repo: Path, rpms: list[Path]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_repo_file(directory / "bench-base.repo", "bench-base", repo.as_uri())
    treefile = {
        "ref": ref,
        "repos": ["bench-base"],
        "packages": sorted({_package_name(p) for p in rpms}),
        "releasever": "1",
        "osname": OSNAME,
        "add-commit-metadata": {"version": ref.rsplit("-", 1)[-1]},
    }
    path = directory / "treefile.yaml"
    path.write_text(yaml.safe_dump(treefile, sort_keys=False))
    return path


def _inputs(n_files: int) -> tuple[Path, list[Path], list[Path], list[Path]]:
    filler = filler_packages(n_files)
    v1 = filler + realistic.base_packages(1)
    v2 = filler + realistic.base_packages(2)
    layer = strace_rpms() + extra_rpms()
    key = _digest(sorted(set(v1 + v2 + layer)), n_files)
    return cache_dir() / f"base-{n_files}-{key}", v1, v2, layer


def is_cached(n_files: int) -> bool:
    """Whether the base for ``n_files`` is ready (its RPMs are built, its template is)."""
    if not any(cache_dir().glob(f"base-{n_files}-*/base.json")):
        return False  # cheap answer before building any filler RPM
    return (_inputs(n_files)[0] / "base.json").is_file()


def get_base(n_files: int, *, log: bool = True) -> Base:
    """The template sysroot for ``n_files``, built on first use."""
    directory, v1, v2, layer = _inputs(n_files)
    meta = directory / "base.json"
    if not meta.is_file():
        if log:
            print(f"  building the {n_files}-file base in {directory} ...", flush=True)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        commit, commit_v2 = _build(directory, v1, v2, layer)
        files = _count(directory / "sysroot" / "ostree" / "deploy")
        data = {"commit": commit, "commit_v2": commit_v2, "files": files, "n": n_files}
        meta.write_text(json.dumps(data))  # written last: the template is complete
    data = json.loads(meta.read_text())
    if not data.get("steady"):
        _settle(directory / "sysroot")
        data["steady"] = True
        meta.write_text(json.dumps(data))
    return Base(n_files, directory, data["commit"], data["commit_v2"], data["files"])


def _settle(sysroot: Path) -> None:
    """Bring the store to the state a host is in between operations: packs merged.

    A fresh compose leaves one small git pack per commit; the store merges them once
    there are more than 32. A template sitting just below that threshold would charge
    that merge (an amortized cost, every ~32 operations) to every measured run.
    """
    run(strata_argv("--sysroot", str(sysroot), "cleanup"))


def _count(root: Path) -> int:
    total = 0
    for _dirpath, dirnames, filenames in os.walk(root):
        total += len(dirnames) + len(filenames)
    return total


def _build(directory: Path, v1: list[Path], v2: list[Path], layer: list[Path]) -> tuple[str, str]:
    sysroot = directory / "sysroot"
    repo = sysroot / "ostree" / "repo"
    run(strata_argv("admin", "init-fs", str(sysroot)))
    commits = []
    for ref, rpms, name in ((REF, v1, "v1"), (REF_V2, v2, "v2")):
        rpm_repo = make_repo(directory / f"repo-{name}", rpms)
        treefile = _write_treefile(directory / f"compose-{name}", ref, rpm_repo, rpms)
        out = run(strata_argv("compose", "tree", "--repo", str(repo), str(treefile)))
        commits.append(out.strip().splitlines()[-1])
    layer_repo = make_repo(directory / "repo-layer", layer)
    sr = ["--sysroot", str(sysroot)]
    run(strata_argv(*sr, "admin", "os-init", OSNAME))
    run(strata_argv(*sr, "admin", "deploy", REF))
    run(strata_argv(*sr, "admin", "simulate-reboot"))
    status = json.loads(run(strata_argv(*sr, "status", "--json")))
    root = deployment_path(sysroot, status["deployments"][0])
    write_repo_file(root / "etc/yum.repos.d/bench.repo", "bench", layer_repo.as_uri())
    # Warm the solver caches (base package set, repo metadata), as `dnf makecache` would.
    run(strata_argv(*sr, "install", "--dry-run", "strace", *extra_names()))
    return commits[0], commits[1]


def extra_names(count: int = EXTRA_COUNT) -> list[str]:
    return [f"bench-extra-{n:02d}" for n in range(count)]


def deployment_path(sysroot: Path, entry: dict[str, object]) -> Path:
    name = f"{entry['checksum']}.{entry['serial']}"
    return sysroot / "ostree/deploy" / str(entry["osname"]) / "deploy" / name


def fresh_sysroot(base: Base, dest: Path) -> Path:
    """A private copy of the template (hardlinks inside it kept), for one measured run."""
    run(["cp", "-a", str(base.template), str(dest)])
    return dest
