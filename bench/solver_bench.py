"""Strata's solver vs dnf's depsolve on a Fedora-sized repository, cold and warm cache.

    .venv/bin/python -m bench.solver_bench [--packages 52000] [--base 150] [--rounds 3]

Each measurement is a fresh process (interpreter start and imports included) so
both tools pay the same fixed costs; the time printed is from process start to
a resolved transaction. "cold" starts from an empty metadata cache, "warm"
from the cache the previous run left. The answers are compared too: a faster
wrong answer would not count.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.solver_repo import Pkg, generate, write_base, write_repo

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"

STRATA = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from solver import RepoConfig, Request, solve
rpmdb, repo, cache, specs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
t = solve(Request(Path(rpmdb), "bench-base", (RepoConfig("bench", "bench", ("file://" + repo,)),),
                  install=tuple(specs), cache_dir=Path(cache)))
print(json.dumps({"seconds": time.perf_counter() - t0, "install": [p.nevra for p in t.install]}))
"""

DNF = """
import json, os, sys, time
t0 = time.perf_counter()
import dnf
root, reposdir, cache, specs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
conf = dnf.conf.Conf()
# releasever up front: else dnf.Base() detects it from the host's rpmdb at the default
# %_dbpath, which on Debian creates ~/.rpmdb.
conf.substitutions["releasever"] = "1"
base = dnf.Base(conf)
base.conf.installroot = root
base.conf.reposdir = [reposdir]
base.conf.cachedir = cache
# The API, unlike the dnf command, keeps these on the host unless told (history, hawkey.log).
base.conf.persistdir = root + "/var/lib/dnf"
base.conf.logdir = root + "/var/log"
os.makedirs(base.conf.logdir, exist_ok=True)
base.read_all_repos()
base.fill_sack(load_system_repo=True)
for spec in specs:
    base.install(spec)
base.resolve()
install = sorted(str(p) for p in base.transaction.install_set)
print(json.dumps({"seconds": time.perf_counter() - t0, "install": install}))
"""


def _run(cmd: list[str]) -> dict[str, object]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    return result


def pick_requests(pkgs: list[Pkg], base_count: int) -> list[list[str]]:
    """strace-like requests: applications from the top of the repo, alone and in pairs."""
    apps = [p.name for p in pkgs[base_count:52000] if p.name.startswith("app")]
    # The last one names a file only filelists.xml knows: Strata must load file lists then.
    return [
        [apps[-1]],
        [apps[-50]],
        [apps[len(apps) // 2]],
        [apps[-7], apps[-300]],
        [f"/usr/share/{apps[-20]}/file0.dat"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=52000)
    parser.add_argument("--base", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    try:
        t0 = time.perf_counter()
        pkgs = generate(args.packages, args.base)
        repo = write_repo(work / "repo", pkgs)
        rpmdb = write_base(work / "root", pkgs[: args.base])
        host_dbpath = subprocess.run(
            ["rpm", "--eval", "%_dbpath"], capture_output=True, text=True, check=True
        ).stdout.strip()
        shutil.copytree(rpmdb, work / "root" / host_dbpath.lstrip("/"), dirs_exist_ok=True)
        reposdir = work / "repos.d"
        reposdir.mkdir()
        (reposdir / "bench.repo").write_text(
            f"[bench]\nname=bench\nbaseurl=file://{repo}\ngpgcheck=0\n"
        )
        print(
            f"repository: {len(pkgs)} packages, "
            f"{statistics.mean(len(p.requires) for p in pkgs):.1f} requires/package, "
            f"base {args.base} packages (set-up {time.perf_counter() - t0:.0f}s)"
        )
        print(f"{'request':34} {'cache':5} {'strata s':>9} {'dnf s':>7} {'ratio':>6}  same")
        ratios: dict[str, list[float]] = {"cold": [], "warm": []}
        for specs in pick_requests(pkgs, args.base):
            times: dict[tuple[str, str], list[float]] = {}
            answers: dict[str, list[str]] = {}
            for _ in range(args.rounds):
                caches = {tool: Path(tempfile.mkdtemp(dir=work)) for tool in ("strata", "dnf")}
                for mode in ("cold", "warm"):
                    s = _run(
                        [
                            sys.executable,
                            "-c",
                            STRATA,
                            str(rpmdb),
                            str(repo),
                            str(caches["strata"]),
                            json.dumps(specs),
                        ]
                    )
                    d = _run(
                        [
                            SYSTEM_PYTHON,
                            "-c",
                            DNF,
                            str(work / "root"),
                            str(reposdir),
                            str(caches["dnf"]),
                            json.dumps(specs),
                        ]
                    )
                    times.setdefault(("strata", mode), []).append(float(s["wall"]))  # type: ignore[arg-type]
                    times.setdefault(("dnf", mode), []).append(float(d["wall"]))  # type: ignore[arg-type]
                    answers["strata"] = [str(x) for x in s["install"]]  # type: ignore[attr-defined]
                    answers["dnf"] = [str(x) for x in d["install"]]  # type: ignore[attr-defined]
            same = sorted(answers["strata"]) == sorted(answers["dnf"])
            for mode in ("cold", "warm"):
                st = statistics.median(times[("strata", mode)])
                dn = statistics.median(times[("dnf", mode)])
                ratios[mode].append(st / dn)
                label = " ".join(specs)[:34]
                print(f"{label:34} {mode:5} {st:9.2f} {dn:7.2f} {st / dn:6.2f}  {same}")
        for mode, values in ratios.items():
            print(f"geometric mean ratio ({mode}): {statistics.geometric_mean(values):.2f}x dnf")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
