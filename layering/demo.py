"""The main job on a built-in example: ``make demo``.

Compose a small base from real binaries, deploy it, install strace on it, run the
layered strace inside the new deployment, uninstall it, rebase onto a newer base and
roll back — every step through the real ``strata`` command line, in a throwaway
sysroot. The same :class:`Scenario` drives the end-to-end test, which serves the
package repository over HTTP instead of ``file://``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rpm

from core import spare
from fixtures import realistic
from fixtures.repos import make_repo, write_repo_file, write_treefile

OSNAME = "demo"
REF_V1 = "demo/x86_64/base"
REF_V2 = "demo/x86_64/base-v2"


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def package_name(path: Path) -> str:
    """The name in an RPM's header (for the treefile's package list)."""
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    with path.open("rb") as handle:
        return str(ts.hdrFromFdno(handle.fileno())[rpm.RPMTAG_NAME])


@dataclass
class Scenario:
    """A sysroot, a base repository per version and a layering repository."""

    workdir: Path
    echo: bool = True
    layer_url: str | None = None  # set to serve the layering repo over HTTP
    results: list[Result] = field(default_factory=list)

    @property
    def sysroot(self) -> Path:
        return self.workdir / "sysroot"

    @property
    def repo(self) -> Path:
        return self.sysroot / "ostree" / "repo"

    @property
    def layer_repo(self) -> Path:
        return self.workdir / "repos" / "layer"

    # -- running the CLI -------------------------------------------------------------

    def strata(
        self, *args: str, sysroot: bool = True, check: bool = True, quiet: bool = False
    ) -> Result:
        argv = ["strata", *(["--sysroot", str(self.sysroot)] if sysroot else []), *args]
        return self.run(argv, check=check, quiet=quiet)

    def run(self, argv: Sequence[str], *, check: bool = True, quiet: bool = False) -> Result:
        command = [sys.executable, "-m", "layering.cli", *argv[1:]] if argv[0] == "strata" else argv
        echo = self.echo and not quiet
        if echo:
            print(f"\n$ {shlex.join(argv)}", flush=True)
        proc = subprocess.run(list(command), capture_output=True, text=True, check=False)
        result = Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        self.results.append(result)
        if echo:  # progress (stderr) comes before the result it leads to (stdout)
            sys.stdout.write(proc.stderr)
            sys.stdout.write(proc.stdout)
            sys.stdout.flush()
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(argv)} failed with exit status {proc.returncode}:\n{proc.stderr}"
            )
        return result

    def status(self) -> list[dict[str, Any]]:
        out = self.strata("status", "--json", quiet=True).stdout
        deployments: list[dict[str, Any]] = json.loads(out)["deployments"]
        return deployments

    def deployment_root(self, index: int = 0) -> Path:
        entry = self.status()[index]
        name = f"{entry['checksum']}.{entry['serial']}"
        return self.sysroot / "ostree/deploy" / str(entry["osname"]) / "deploy" / name

    def in_deployment(self, root: Path, *command: str, check: bool = True) -> Result:
        """Run a command with a deployment as ``/``, as it would run after a reboot."""
        argv = [
            "bwrap",
            "--bind", str(root), "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent",
            "--clearenv", "--setenv", "PATH", "/usr/sbin:/usr/bin",
            *command,
        ]  # fmt: skip
        return self.run(argv, check=check)

    # -- the steps ---------------------------------------------------------------------

    def prepare_repos(self) -> None:
        """Base package sets for v1 and v2, and the repository strace is layered from."""
        repos = self.workdir / "repos"
        for version in (1, 2):
            base_repo = make_repo(repos / f"base-v{version}", realistic.base_packages(version))
            write_treefile(
                self.workdir / f"compose-v{version}",
                ref=REF_V1 if version == 1 else REF_V2,
                osname=OSNAME,
                repo_id="demo-base",
                repo_url=base_repo.as_uri(),
                packages=(package_name(p) for p in realistic.base_packages(version)),
                version=f"{version}.0",
            )
        make_repo(self.layer_repo, realistic.strace_packages())

    def compose(self, version: int) -> str:
        treefile = self.workdir / f"compose-v{version}" / "treefile.yaml"
        out = self.strata("compose", "tree", "--repo", str(self.repo), str(treefile), sysroot=False)
        return out.stdout.strip().splitlines()[-1]

    def deploy_base(self) -> None:
        self.strata("admin", "init-fs", str(self.sysroot), sysroot=False)
        self.compose(1)
        self.strata("admin", "os-init", OSNAME)
        self.strata("admin", "deploy", REF_V1)
        self.strata("admin", "simulate-reboot")

    def add_repo_file(self) -> None:
        """The administrator configures a package repository in the booted /etc."""
        etc_repos = self.deployment_root() / "etc" / "yum.repos.d"
        etc_repos.mkdir(parents=True, exist_ok=True)
        url = self.layer_url or self.layer_repo.as_uri()
        write_repo_file(etc_repos / "demo.repo", "demo", url)
        if self.echo:
            print(f"\n# {etc_repos / 'demo.repo'}:\n{(etc_repos / 'demo.repo').read_text()}")

    def run_strace(self) -> Result:
        root = self.deployment_root()
        version = self.in_deployment(root, "/usr/bin/strace", "-V")
        self.in_deployment(
            root, "/usr/bin/strace", "-f", "-o", "/dev/null", "/usr/bin/true", check=False
        )
        return version

    def walk(self) -> None:
        """The whole scenario of ``make demo``."""
        self.prepare_repos()
        self.deploy_base()
        self.add_repo_file()
        self.strata("install", "strace")
        self.strata("status")
        self.strata("db", "diff")
        self.strata("admin", "simulate-reboot")
        self.run_strace()
        self.strata("uninstall", "strace")
        self.run(["rpm", "--root", str(self.deployment_root()), "--dbpath",
                  "/usr/lib/sysimage/rpm", "-q", "strace"], check=False)  # fmt: skip
        self.strata("admin", "simulate-reboot")
        self.compose(2)
        self.strata("install", "strace")
        self.strata("rebase", REF_V2)
        self.strata("db", "diff")
        self.strata("admin", "simulate-reboot")
        self.strata("status")
        self.run_strace()
        self.strata("rollback")
        self.strata("status")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it afterwards")
    args = parser.parse_args(argv)
    if shutil.which("bwrap") is None:
        print("error: bubblewrap is missing: run `make setup`", file=sys.stderr)
        return 1
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="strata-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = Scenario(workdir)
    try:
        scenario.walk()
    except RuntimeError as err:
        print(f"\ndemo failed: {err}", file=sys.stderr)
        return 1
    finally:
        # The last command left a spare checkout being prepared in the background.
        spare.wait_for_builder(scenario.sysroot)
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nDone: strace was layered onto an immutable base, removed, and carried over a rebase.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
