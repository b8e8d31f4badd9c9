"""The reference tools, run on the same trees as Strata.

* ``cp -al`` of a deployment: the floor of writing one hardlink farm of that size.
* ``rpm -i --root`` on a mutable copy of the deployment: a traditional package
  manager with no solver, writing files in place (scripts and file triggers run).
* the ostree CLI pipeline: ``ostree checkout -H`` of the base, ``rpm -i --root
  --nodeps`` into it (its rpmdb copied first: the sqlite file is written in place,
  and a hardlink into a bare repo must never be), ``ostree commit
  --link-checkout-speedup``, ``ostree checkout -H`` of the new commit: what a
  layering tool built from the ostree command line would do.
* ``dnf --installroot`` on a mutable copy: solve + install, warm metadata cache.

Each ``*_argv`` returns the command to time; set-up that is not the tool's own work
(copying a tree to have something mutable) is done by the caller and not timed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bench.measure import shell

RPMDB = "usr/lib/sysimage/rpm"


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def cp_al_argv(src: Path, dest: Path) -> list[str]:
    return ["cp", "-al", str(src), str(dest)]


def rpm_install_argv(root: Path, rpms: Sequence[Path], *, nodeps: bool = False) -> list[str]:
    argv = ["rpm", "-i", "--root", str(root), "--dbpath", f"/{RPMDB}", "--quiet"]
    return [*argv, *(["--nodeps"] if nodeps else []), *map(str, rpms)]


def rpm_erase_argv(root: Path, names: Sequence[str]) -> list[str]:
    return ["rpm", "-e", "--root", str(root), "--dbpath", f"/{RPMDB}", *names]


def mutable_copy(deployment: Path, dest: Path) -> Path:
    """A plain (non-hardlinked) copy a traditional package manager may write into."""
    subprocess.run(["cp", "-a", str(deployment), str(dest)], check=True)
    return dest


# -- ostree ------------------------------------------------------------------------------


def ostree_repo(directory: Path, tree: Path, ref: str = "base") -> Path:
    """A bare ostree repository holding ``tree`` (a deployment) as ``ref``; cached."""
    repo = directory / "ostree-repo"
    if (repo / ".bench-ready").is_file():
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run(["ostree", "init", "--repo", str(repo), "--mode", "bare"], check=True)
    subprocess.run(
        ["ostree", "commit", "--repo", str(repo), "-b", ref, "--tree", f"dir={tree}",
         "--no-bindings", "-s", "bench base"],
        check=True, capture_output=True,
    )  # fmt: skip
    (repo / ".bench-ready").write_text("")
    return repo


def ostree_pipeline_argv(
    repo: Path, work: Path, rpms: Sequence[Path], *, base: str = "base", ref: str = "layered"
) -> list[str]:
    """checkout -H, rpm -i --nodeps, commit --link-checkout-speedup, checkout -H."""
    co, dep = work / "ostree-co", work / "ostree-deploy"
    db = co / RPMDB
    rpm = shlex.join(rpm_install_argv(co, rpms, nodeps=True))
    return shell(
        f"ostree checkout --repo {_q(repo)} -H {base} {_q(co)}\n"
        f"cp -a {_q(db)} {_q(db)}.new && rm -rf {_q(db)} && mv {_q(db)}.new {_q(db)}\n"
        f"{rpm}\n"
        f"ostree commit --repo {_q(repo)} -b {ref} --link-checkout-speedup --no-bindings "
        f"-s layered --tree=dir={_q(co)} >/dev/null\n"
        f"ostree checkout --repo {_q(repo)} -H {ref} {_q(dep)}\n"
    )


def ostree_forget(repo: Path, ref: str = "layered") -> None:
    """Drop the pipeline's commit again, so every run writes its objects anew."""
    subprocess.run(["ostree", "refs", "--repo", str(repo), "--delete", ref], check=True)
    subprocess.run(
        ["ostree", "prune", "--repo", str(repo), "--refs-only"], check=True, capture_output=True
    )


# -- dnf ---------------------------------------------------------------------------------


def host_dbpath() -> str:
    """Where this host's rpm keeps its database; dnf looks there under --installroot."""
    out = subprocess.run(["rpm", "--eval", "%_dbpath"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def prepare_dnf_root(root: Path) -> None:
    """Let dnf, which uses the host's %_dbpath under the installroot, find the tree's rpmdb."""
    link = root / host_dbpath().lstrip("/")
    if link.resolve() == (root / RPMDB).resolve():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(root / RPMDB, link.parent))  # never the host's


def dnf_argv(
    root: Path, reposdir: Path, cachedir: Path, verb: str, specs: Sequence[str]
) -> list[str]:
    return [
        "dnf", "-y", "-q", "--installroot", str(root), "--releasever", "1",
        f"--setopt=reposdir={reposdir}", f"--setopt=cachedir={cachedir}",
        "--setopt=install_weak_deps=False", "--setopt=keepcache=True",
        "--nogpgcheck", verb, *specs,
    ]  # fmt: skip


def dnf_repos(directory: Path, repo: Path) -> tuple[Path, Path]:
    """A reposdir naming ``repo`` and a metadata cache filled once (not timed)."""
    reposdir = directory / "dnf-repos.d"
    cachedir = directory / "dnf-cache"
    reposdir.mkdir(parents=True, exist_ok=True)
    (reposdir / "bench.repo").write_text(
        f"[bench]\nname=bench\nbaseurl={repo.as_uri()}\ngpgcheck=0\nenabled=1\n"
    )
    return reposdir, cachedir
