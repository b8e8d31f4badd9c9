"""compose-centos: ``strata compose tree`` of the CentOS base against ``dnf --installroot``
followed by ``ostree commit``, on the same RPM files, in the same run.

The package set is the real-distribution tests' base (fixtures/centos.py): ``bash`` and
``coreutils`` from the CentOS 7.9 corpus beside the project, plus the three stand-ins it
lacks (glibc-common, systemd, centos-logos), in one createrepo_c repository both tools
read. Both resolve the same request (``bash coreutils``) and the sets they install are
compared every round.

* Strata: ``strata compose tree --repo S treefile.yaml`` into a fresh store ``S`` (its
  solver cache and package imports start cold).
* Reference: ``dnf -y --installroot R --releasever 7 install bash coreutils`` into an
  empty ``R`` with a fresh metadata cache (cold as well; scriptlets run for real, in
  rpm's chroot), then ``ostree commit --tree=dir=R`` into a fresh bare repo.

What differs (the reference does less): dnf reads the RPMs where they lie and rpm writes
files in place without fsync; Strata imports each RPM into its content-addressed store
(verifying payload digests), runs scripts in a bwrap sandbox over a checkout, moves
``/etc`` to ``/usr/etc`` and package users to ``/usr/lib``, turns ``/var`` into
tmpfiles.d lines, normalises timestamps (SOURCE_DATE_EPOCH) and makes the commit
durable. ``ostree commit`` checksums and fsyncs every file. The tree dnf makes is not a
bootable ostree tree; rpm-ostree's compose does that post-processing.

Rounds alternate which side goes first, so a slow moment of the machine is shared.
"""

from __future__ import annotations

import json
import shlex
import shutil
import statistics
import subprocess
from collections.abc import Iterable
from pathlib import Path

import yaml

from bench import bases
from bench import references as ref
from bench.measure import Sample, shell, timed
from bench.report import Row, seconds
from bench.scenarios import Bench, Runs, remove
from fixtures.centos import BASE_PACKAGES, MISSING_HINT, centos_repos, corpus_dir
from fixtures.repos import write_repo_file

NAME = "compose-centos"
REF = "centos/7/x86_64/base"
RELEASEVER = "7"
GOAL = 1.0  # strata <= 1.0 x (dnf --installroot + ostree commit)


def corpus() -> Path | None:
    """The CentOS corpus beside the project, or None (the scenario is skipped)."""
    path = corpus_dir(bases.ROOT)
    return path if path.is_dir() else None


def skip_row() -> Row:
    return Row(NAME, "-", "", "", f"skipped: {MISSING_HINT}", "", f"<= {GOAL}x", None)


def prepare(directory: Path, corpus_path: Path) -> tuple[Path, Path]:
    """The repository (corpus base/ + stand-ins) with a treefile and a dnf reposdir
    naming it; returns (treefile, reposdir). Not timed."""
    repo, _extra = centos_repos(corpus_path, directory / "repos")
    treefile_dir = directory / "treefile"
    treefile_dir.mkdir(parents=True, exist_ok=True)
    (treefile_dir / "corpus-base.repo").unlink(missing_ok=True)
    write_repo_file(treefile_dir / "corpus-base.repo", "corpus-base", repo.as_uri())
    treefile = treefile_dir / "treefile.yaml"
    data = {"ref": REF, "repos": ["corpus-base"], "packages": list(BASE_PACKAGES)}
    treefile.write_text(yaml.safe_dump({**data, "releasever": RELEASEVER}, sort_keys=False))
    reposdir = directory / "dnf-repos.d"
    shutil.rmtree(reposdir, ignore_errors=True)
    reposdir.mkdir(parents=True)
    write_repo_file(reposdir / "corpus-base.repo", "corpus-base", repo.as_uri())
    return treefile, reposdir


def strata_argv(store: Path, treefile: Path) -> list[str]:
    return bases.strata_argv("--json-progress", "compose", "tree", "--repo", str(store),
                             str(treefile))  # fmt: skip


def reference_argv(root: Path, reposdir: Path, cachedir: Path, repo: Path) -> list[str]:
    """dnf --installroot (cold metadata cache) then ostree commit of the root, without
    the link that pointed the host's %_dbpath at the tree's rpmdb."""
    link = root / ref.host_dbpath().lstrip("/")
    dnf = [
        "dnf", "-y", "-q", "--installroot", str(root), "--releasever", RELEASEVER,
        f"--setopt=reposdir={reposdir}", f"--setopt=cachedir={cachedir}",
        "--setopt=install_weak_deps=False", "--nogpgcheck", "install", *BASE_PACKAGES,
    ]  # fmt: skip
    commit = ["ostree", "commit", "--repo", str(repo), "-b", REF, "--no-bindings",
              "-s", "compose", f"--tree=dir={root}"]  # fmt: skip
    unlink = ["rm", "-f", str(link)] if link.is_symlink() else ["true"]
    return shell(
        f"{shlex.join(dnf)} >/dev/null\n{shlex.join(unlink)}\n{shlex.join(commit)} >/dev/null\n"
    )


def strata_packages(store: Path) -> list[str]:
    """The NEVRAs the composed commit records."""
    from core.store import Store  # noqa: PLC0415 - pygit2 only when the scenario runs

    opened = Store.open(store)
    return sorted(json.loads(opened.commit_info(opened.resolve(REF)).metadata["strata.packages"]))


def dnf_packages(root: Path) -> list[str]:
    argv = ["rpm", "-qa", "--root", str(root), "--dbpath", f"/{ref.RPMDB}",
            "--qf", "%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\\n"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if line)


def _strata_round(runs: Runs, scratch: Path, treefile: Path) -> list[str]:
    store = scratch / "store"
    bases.run(bases.strata_argv("repo", "init", "--repo", str(store)))
    runs.add("strata", timed(strata_argv(store, treefile)))
    packages = strata_packages(store)
    remove(store)
    return packages


def _reference_round(runs: Runs, scratch: Path, reposdir: Path) -> list[str]:
    root, cache, repo = scratch / "root", scratch / "dnf-cache", scratch / "ostree-repo"
    (root / ref.RPMDB).mkdir(parents=True)
    ref.prepare_dnf_root(root)  # the rpmdb where Strata keeps it, not the host's %_dbpath
    subprocess.run(["ostree", "init", "--repo", str(repo), "--mode", "bare"], check=True)
    sample = timed(reference_argv(root, reposdir, cache, repo))
    runs.add("dnf + ostree", sample)
    packages = dnf_packages(root)
    for path in (root, cache, repo):
        remove(path)
    return packages


def compose_centos(bench: Bench, corpus_path: Path) -> tuple[Runs, bool, int]:
    """Interleaved rounds; (samples, whether both sides installed the same set, its size)."""
    runs = Runs()
    directory = bases.cache_dir() / "compose-centos"
    treefile, reposdir = prepare(directory, corpus_path)
    same, count = True, 0
    for i in range(bench.rounds):
        with bench.scratch(f"compose-{i}") as scratch:
            if i % 2:  # the reference first in every other round
                theirs = _reference_round(runs, scratch, reposdir)
                ours = _strata_round(runs, scratch, treefile)
            else:
                ours = _strata_round(runs, scratch, treefile)
                theirs = _reference_round(runs, scratch, reposdir)
            same = same and ours == theirs
            count = len(ours)
        bench.say(
            f"    round {i + 1}: strata {runs['strata'].samples[-1].seconds:.2f}s, "
            f"dnf + ostree {runs['dnf + ostree'].samples[-1].seconds:.2f}s"
        )
    return runs, same, count


def compose_rows(runs: Runs, same: bool, count: int) -> list[Row]:
    st = runs["strata"]
    reference = runs["dnf + ostree"].median
    ratio = st.median / reference
    label = f"{count} pkgs"
    return [
        Row(NAME, label, seconds(st.median), f"{st.rss_mib:.0f} MiB",
            f"dnf --installroot + ostree commit {seconds(reference)}", f"{ratio:.2f}x",
            f"<= {GOAL}x", ratio <= GOAL),
        Row(NAME, label, "same packages" if same else "DIFFERENT packages", "",
            f"strata: {step_summary(st.samples)}", "", "same package set", same),
    ]  # fmt: skip


def step_summary(samples: tuple[Sample, ...]) -> str:
    """Median seconds of Strata's steps, in order; "other" is the rest of the wall time
    (interpreter start, the scripts' checkout and its removal, scratch clean-up)."""
    steps = (
        ("resolve", "Resolving"),
        ("import", "Fetching and importing"),
        ("union", "Assembling"),
        ("scripts", "Running "),
        ("rpmdb", "Writing the rpmdb"),
        ("commit", "Committing"),
    )
    parts = [f"{label} {_median(s.step(prefix) for s in samples):.2f}s" for label, prefix in steps]
    other = _median(s.seconds - sum(s.step(p) for _, p in steps) for s in samples)
    return ", ".join([*parts, f"other {other:.2f}s"])


def _median(values: Iterable[float]) -> float:
    return statistics.median(values)
