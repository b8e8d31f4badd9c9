"""The scenarios: each times Strata and its references on the same base, same run.

Tools alternate inside every round (strata, cp -al, rpm, ostree, dnf, then again),
so a slow moment of the machine is shared rather than charged to one tool. Every
round starts from a fresh copy of the cached template sysroot.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import bases
from bench import references as ref
from bench.bases import Base
from bench.measure import Sample, Series, timed
from bench.report import Row, seconds, size_label

INSTALL_ONE = ("strace",)
GOAL_VS_FLOOR = 1.5  # strata <= 1.5 x (cp -al + rpm -i)
GOAL_VS_OSTREE = 3.0  # strata >= 3 x faster than the ostree pipeline
GOAL_GROWTH = 1.3  # the part before staging: largest base <= 1.3 x smallest
GOAL_DISK = 1.1
SMALL_BASE = 10_000  # store + 3 deployments <= 1.1 x ostree bare repo + 3 checkouts
_PACKAGES_LINE = re.compile(r"Packages: (\d+) cached, (\d+) downloaded")


@dataclass
class Runs:
    """The samples of one scenario, by tool."""

    series: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, tool: str, sample: Sample) -> None:
        self.series.setdefault(tool, []).append(sample)

    def __getitem__(self, tool: str) -> Series:
        return Series(tool, tuple(self.series[tool]))

    def __contains__(self, tool: str) -> bool:
        return tool in self.series


def remove(path: Path) -> None:
    """rm -rf: several times faster than shutil.rmtree on 100k small files."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def spare_argv(sysroot: Path) -> list[str]:
    return bases.strata_argv("--sysroot", str(sysroot), "admin", "prepare-spare")


def package_names(rpms: list[Path]) -> list[str]:
    return [p.name.rsplit("-", 2)[0] for p in rpms]


class Bench:
    """Scratch space and helpers shared by the scenarios."""

    def __init__(
        self, work: Path, rounds: int, *, small_rounds: int | None = None, dnf: bool = True,
        log: bool = True,
    ) -> None:  # fmt: skip
        self.work = work
        self.rounds = rounds
        self.small_rounds = small_rounds or rounds
        self.dnf = dnf and shutil.which("dnf") is not None
        self.log = log
        self.raw: dict[str, object] = {}

    def rounds_for(self, base: Base) -> int:
        """Small bases are cheap to copy: more rounds there steady the median."""
        return self.small_rounds if base.n_files <= SMALL_BASE else self.rounds

    def say(self, text: str) -> None:
        if self.log:
            print(text, flush=True)

    @contextmanager
    def scratch(self, name: str) -> Iterator[Path]:
        path = self.work / name
        remove(path)
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            remove(path)

    # -- strata -------------------------------------------------------------------------

    def strata(self, runs: Runs, sysroot: Path, *args: str) -> None:
        """Time one command into ``runs["strata"]``, then the spare checkout it leaves to a
        background builder into ``runs["spare"]``: from the command's exit until
        ``admin prepare-spare`` (which waits for a running builder) returns. That work is
        off the command's critical path but not free, so it is shown beside it."""
        argv = bases.strata_argv("--sysroot", str(sysroot), "--json-progress", *args)
        sample = timed(argv)
        runs.add("strata", sample)
        runs.add("spare", timed(spare_argv(sysroot), since=sample.ended))

    def prepared(self, base: Base, dest: Path, install: tuple[str, ...] = ()) -> Path:
        """A fresh sysroot; with ``install``, those packages layered and booted; in both
        cases with the spare checkout a host has between two commands."""
        sysroot = bases.fresh_sysroot(base, dest)
        if install:
            bases.run(bases.strata_argv("--sysroot", str(sysroot), "install", *install))
            bases.run(bases.strata_argv("--sysroot", str(sysroot), "admin", "simulate-reboot"))
        bases.run(spare_argv(sysroot))
        return sysroot

    def booted_root(self, sysroot: Path) -> Path:
        status = json.loads(
            bases.run(bases.strata_argv("--sysroot", str(sysroot), "status", "--json"))
        )
        entry = next(d for d in status["deployments"] if d["booted"])
        return bases.deployment_path(sysroot, entry)

    # -- references ---------------------------------------------------------------------

    def cp_al(self, runs: Runs, deployment: Path, scratch: Path) -> None:
        runs.add("cp -al", timed(ref.cp_al_argv(deployment, scratch / "cp-al")))
        remove(scratch / "cp-al")

    def rpm_install(self, runs: Runs, root: Path, rpms: list[Path]) -> None:
        """rpm -i on the mutable ``root``, undone (untimed) by rpm -e afterwards."""
        runs.add("rpm -i", timed(ref.rpm_install_argv(root, rpms)))
        self.undo(root, rpms)

    def undo(self, root: Path, rpms: list[Path]) -> None:
        argv = ref.rpm_erase_argv(root, package_names(rpms))
        subprocess.run([*argv, "--nodeps"], check=True, capture_output=True)

    def ostree(self, runs: Runs, repo: Path, scratch: Path, rpms: list[Path]) -> None:
        runs.add("ostree", timed(ref.ostree_pipeline_argv(repo, scratch, rpms)))
        ref.ostree_forget(repo)
        remove(scratch / "ostree-co")
        remove(scratch / "ostree-deploy")

    def dnf_install(self, runs: Runs, base: Base, root: Path, specs: tuple[str, ...],
                    rpms: list[Path]) -> None:  # fmt: skip
        if not self.dnf:
            return
        ref.prepare_dnf_root(root)
        reposdir, cachedir = ref.dnf_repos(base.directory, base.layer_repo)
        if not (cachedir / ".bench-ready").exists():
            timed(ref.dnf_argv(root, reposdir, cachedir, "makecache", []))
            (cachedir / ".bench-ready").write_text("")
        runs.add("dnf", timed(ref.dnf_argv(root, reposdir, cachedir, "install", specs)))
        self.undo(root, rpms)


# -- install-one / install-ten -------------------------------------------------------------


def install(bench: Bench, base: Base, specs: tuple[str, ...], rpms: list[Path]) -> Runs:
    runs = Runs()
    deployment = bench.booted_root(base.template)
    repo = ref.ostree_repo(base.directory, deployment)
    with bench.scratch("install") as shared:
        mutable = ref.mutable_copy(deployment, shared / "mutable")
        for i in range(bench.rounds_for(base)):
            with bench.scratch(f"install-{i}") as scratch:
                sysroot = bench.prepared(base, scratch / "sysroot")
                bench.strata(runs, sysroot, "install", *specs)
                remove(sysroot)
                bench.cp_al(runs, deployment, scratch)
                bench.rpm_install(runs, mutable, rpms)
                bench.ostree(runs, repo, scratch, rpms)
                bench.dnf_install(runs, base, mutable, specs, rpms)
            bench.say(f"    round {i + 1}: strata {runs['strata'].samples[-1].seconds:.2f}s")
    return runs


def install_rows(name: str, base: Base, runs: Runs) -> list[Row]:
    label = size_label(base.n_files)
    st = runs["strata"]
    floor = runs["cp -al"].median + runs["rpm -i"].median
    ratio = st.median / floor
    rows = [
        Row(name, label, seconds(st.median), f"{st.rss_mib:.0f} MiB",
            f"cp -al {seconds(runs['cp -al'].median)} + rpm -i {seconds(runs['rpm -i'].median)}"
            f" = {seconds(floor)}",
            f"{ratio:.2f}x", f"<= {GOAL_VS_FLOOR}x", ratio <= GOAL_VS_FLOOR),
    ]  # fmt: skip
    ostree = runs["ostree"].median
    faster = ostree / st.median
    rows.append(
        Row(name, label, seconds(st.median), "", f"ostree pipeline {seconds(ostree)}",
            f"{faster:.2f}x faster", f">= {GOAL_VS_OSTREE}x faster", faster >= GOAL_VS_OSTREE)
    )  # fmt: skip
    rows += spare_rows(name, base, runs)
    if "dnf" in runs:
        dnf = runs["dnf"].median
        rows.append(
            Row(name, label, seconds(st.median), "", f"dnf --installroot {seconds(dnf)}",
                f"{st.median / dnf:.2f}x", "(reference)", None)
        )  # fmt: skip
    return rows


def spare_rows(name: str, base: Base, runs: Runs) -> list[Row]:
    """The background work a command leaves: the next spare checkout (a full one)."""
    spare = runs["spare"].median
    return [
        Row(name, size_label(base.n_files), seconds(spare), "",
            "next spare checkout, after exit (background)", "", "(off the critical path)",
            None),
    ]  # fmt: skip


# -- growth ----------------------------------------------------------------------------------


def before_staging(sample: Sample) -> float:
    """Everything but writing the final deployment (the Staging step)."""
    return sample.seconds - sample.step("Staging")


def growth_rows(per_base: dict[int, Runs]) -> list[Row]:
    if len(per_base) < 2:
        return []
    small, large = min(per_base), max(per_base)
    a = per_base[small]["strata"].median_of(before_staging)
    b = per_base[large]["strata"].median_of(before_staging)
    staging = ", ".join(
        f"{size_label(n)} {seconds(r['strata'].median_of(lambda s: s.step('Staging')))}"
        for n, r in sorted(per_base.items())
    )
    label = f"{size_label(small)}->{size_label(large)}"
    return [
        Row("growth (all but staging)", label, f"{seconds(a)} -> {seconds(b)}", "",
            f"staging: {staging}", f"{b / a:.2f}x", f"<= {GOAL_GROWTH}x", b / a <= GOAL_GROWTH),
    ]  # fmt: skip


# -- uninstall -------------------------------------------------------------------------------


def uninstall(bench: Bench, base: Base) -> Runs:
    runs = Runs()
    deployment = bench.booted_root(base.template)
    rpms = bases.strace_rpms()
    with bench.scratch("uninstall") as shared:
        root = ref.mutable_copy(deployment, shared / "mutable")
        for i in range(bench.rounds_for(base)):
            with bench.scratch(f"uninstall-{i}") as scratch:
                sysroot = bench.prepared(base, scratch / "sysroot", INSTALL_ONE)
                bench.strata(runs, sysroot, "uninstall", *INSTALL_ONE)
                remove(sysroot)
                bench.cp_al(runs, deployment, scratch)
                subprocess.run(ref.rpm_install_argv(root, rpms), check=True, capture_output=True)
                runs.add("rpm -e", timed(ref.rpm_erase_argv(root, package_names(rpms))))
    return runs


def uninstall_rows(base: Base, runs: Runs) -> list[Row]:
    st = runs["strata"]
    floor = runs["cp -al"].median + runs["rpm -e"].median
    return [
        Row("uninstall strace", size_label(base.n_files), seconds(st.median),
            f"{st.rss_mib:.0f} MiB",
            f"cp -al {seconds(runs['cp -al'].median)} + rpm -e {seconds(runs['rpm -e'].median)}",
            f"{st.median / floor:.2f}x", f"<= {GOAL_VS_FLOOR}x",
            st.median / floor <= GOAL_VS_FLOOR),
        *spare_rows("uninstall strace", base, runs),
    ]  # fmt: skip


# -- rebase ----------------------------------------------------------------------------------


def rebase(bench: Bench, base: Base) -> Runs:
    runs = Runs()
    deployment = bench.booted_root(base.template)
    extras = tuple(bases.extra_names())
    rpms = bases.extra_rpms()
    with bench.scratch("rebase") as shared:
        mutable = ref.mutable_copy(deployment, shared / "mutable")
        for i in range(bench.rounds_for(base)):
            with bench.scratch(f"rebase-{i}") as scratch:
                sysroot = bench.prepared(base, scratch / "sysroot", extras)
                bench.strata(runs, sysroot, "rebase", bases.REF_V2)
                remove(sysroot)
                bench.cp_al(runs, deployment, scratch)
                bench.rpm_install(runs, mutable, rpms)
    return runs


def cache_hits(sample: Sample) -> tuple[int, int] | None:
    match = _PACKAGES_LINE.search(sample.stdout)
    return (int(match[1]), int(match[2])) if match else None


def rebase_rows(base: Base, runs: Runs) -> list[Row]:
    st = runs["strata"]
    floor = runs["cp -al"].median + runs["rpm -i"].median
    hits = [cache_hits(s) for s in st.samples]
    imported = [s.step("Importing") for s in st.samples]
    zero = all(h is not None and h[1] == 0 for h in hits) and not any(imported)
    shown = hits[0]
    what = f"{shown[0]} cached, {shown[1]} downloaded" if shown else "no package line"
    label = size_label(base.n_files)
    return [
        Row("rebase, 10 layered", label, seconds(st.median), f"{st.rss_mib:.0f} MiB",
            f"cp -al + rpm -i (10 pkgs) {seconds(floor)}", f"{st.median / floor:.2f}x",
            f"<= {GOAL_VS_FLOOR}x", st.median / floor <= GOAL_VS_FLOOR),
        Row("rebase, 10 layered", label, what, "", "", "", "0 downloads, 0 unpacks", zero),
        *spare_rows("rebase, 10 layered", base, runs),
    ]  # fmt: skip


# -- disk ------------------------------------------------------------------------------------


def du_bytes(*paths: Path) -> int:
    """Disk use of ``paths`` together, each hardlinked inode counted once."""
    out = subprocess.run(
        ["du", "-s", "-c", "-B1", *map(str, paths)], capture_output=True, text=True, check=True
    ).stdout
    return int(out.strip().splitlines()[-1].split()[0])


def disk(bench: Bench, base: Base) -> list[Row]:
    """Store + 3 deployments (base, +strace, +strace+10) vs ostree repo + 3 checkouts."""
    extras = tuple(bases.extra_names())
    with bench.scratch("disk") as scratch:
        sysroot = bench.prepared(base, scratch / "sysroot", INSTALL_ONE)
        bases.run(bases.strata_argv("--sysroot", str(sysroot), "install", *extras))
        bases.run(spare_argv(sysroot))  # counted: a host has one between commands
        status = json.loads(
            bases.run(bases.strata_argv("--sysroot", str(sysroot), "status", "--json"))
        )
        count = len(status["deployments"])
        strata_bytes = du_bytes(sysroot / "ostree")
        deployment = bench.booted_root(base.template)
        repo = scratch / "ostree-repo"
        shutil.copytree(ref.ostree_repo(base.directory, deployment), repo, symlinks=True)
        checkouts = [scratch / "o0"]
        subprocess.run(
            ["ostree", "checkout", "--repo", str(repo), "-H", "base", str(checkouts[0])], check=True
        )
        previous = "base"
        for n, rpms in enumerate((bases.strace_rpms(), bases.extra_rpms()), start=1):
            work = scratch / f"o-work-{n}"
            work.mkdir()
            argv = ref.ostree_pipeline_argv(repo, work, rpms, base=previous, ref=f"layer{n}")
            subprocess.run(argv, check=True, capture_output=True)
            remove(work / "ostree-co")
            checkouts.append(work / "ostree-deploy")
            previous = f"layer{n}"
        ostree_bytes = du_bytes(repo, *checkouts)
    ratio = strata_bytes / ostree_bytes
    return [
        Row("disk: store + 3 deployments", size_label(base.n_files),
            f"{strata_bytes / 2**20:.0f} MiB ({count} depl.)", "",
            f"ostree bare repo + 3 checkout -H {ostree_bytes / 2**20:.0f} MiB",
            f"{ratio:.2f}x", f"<= {GOAL_DISK}x", ratio <= GOAL_DISK),
    ]  # fmt: skip
