"""``python -m bench [--full]``: run the scenarios and print one table.

Quick mode (the default, ``make bench``): install-one on the 10k-file base, plus
the 50k one when it is already cached (``--full`` builds it); the other scenarios
on 10k. ``--full`` (``make bench FULL=1``): install-one on 10k, 50k and 100k, the
other scenarios on 10k and 100k. Rounds: 5 on 10k, 3 on larger bases (copying a
100k-file sysroot per round is what takes the time). The first run builds the
bases (minutes at 100k); later runs find them in ``.cache/bench``. compose-centos
(bench/compose_bench.py) needs no base: it composes the CentOS corpus's base, when
the corpus is there, in as many rounds as the larger bases.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

from bench import bases, compose_bench, scenarios
from bench.report import Row, machine, markdown_table, save, size_label, text_table
from bench.scenarios import Bench, Runs

SIZES_FULL = (10_000, 50_000, 100_000)
SCENARIOS = ("install-one", "install-ten", "uninstall", "rebase", "disk", "compose-centos")
ON_BASES = frozenset(SCENARIOS) - {"compose-centos"}  # the scenarios that need a bench base


def _sizes(full: bool, only: list[int] | None) -> list[int]:
    if only:
        return only
    if full:
        return list(SIZES_FULL)
    sizes = [10_000]
    if bases.is_cached(50_000):
        sizes.append(50_000)
    return sizes


def run_all(bench: Bench, sizes: list[int], only: set[str], *, full: bool = False) -> list[Row]:
    """install-one on every base; the other scenarios on the smallest (and, with
    ``full``, the largest) base; disk likewise on the largest only with ``full``."""
    rows: list[Row] = []
    if "compose-centos" in only:
        rows += compose_centos_rows(bench)
    if not only & ON_BASES:
        return rows
    built = {n: bases.get_base(n) for n in sizes}
    per_base: dict[int, Runs] = {}
    if "install-one" in only:
        for n, base in built.items():
            print(f"install-one on {size_label(n)} ({base.files} entries)", flush=True)
            runs = scenarios.install(bench, base, scenarios.INSTALL_ONE, bases.strace_rpms())
            per_base[n] = runs
            rows += scenarios.install_rows("install-one", base, runs)
        rows += scenarios.growth_rows(per_base)
    for n in sorted({min(sizes), max(sizes)} if full else {min(sizes)}):
        base, label = built[n], size_label(n)
        if "install-ten" in only:
            print(f"install-ten on {label}", flush=True)
            runs = scenarios.install(bench, base, tuple(bases.extra_names()), bases.extra_rpms())
            rows += scenarios.install_rows("install-ten", base, runs)
        if "uninstall" in only:
            print(f"uninstall on {label}", flush=True)
            rows += scenarios.uninstall_rows(base, scenarios.uninstall(bench, base))
        if "rebase" in only:
            print(f"rebase on {label}", flush=True)
            rows += scenarios.rebase_rows(base, scenarios.rebase(bench, base))
    if "disk" in only:
        print("disk", flush=True)
        rows += scenarios.disk(bench, built[max(sizes) if full else min(sizes)])
    return rows


def compose_centos_rows(bench: Bench) -> list[Row]:
    """The CentOS base composed by Strata and by dnf + ostree; skipped without the corpus."""
    corpus = compose_bench.corpus()
    if corpus is None:
        print("compose-centos skipped: the CentOS corpus is absent", flush=True)
        return [compose_bench.skip_row()]
    print("compose-centos (CentOS 7.9 bash + coreutils)", flush=True)
    if shutil.which("dnf") is None or shutil.which("ostree") is None:
        raise SystemExit("compose-centos needs dnf and ostree (make setup installs them)")
    runs, same, count = compose_bench.compose_centos(bench, corpus)
    return compose_bench.compose_rows(runs, same, count)


def solver_rows(packages: int) -> list[Row]:
    """bench.solver_bench (the solver engineer's) in one round; its geometric means as rows."""
    argv = [
        sys.executable,
        "-m",
        "bench.solver_bench",
        "--packages",
        str(packages),
        "--rounds",
        "1",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=bases.ROOT).stdout
    rows = []
    for line in out.splitlines():
        match = re.match(r"geometric mean ratio \((\w+)\): ([\d.]+)x dnf", line)
        if match:
            ratio = float(match[2])
            rows.append(
                Row(f"solve ({match[1]} cache)", f"{packages // 1000}k pkgs", "", "",
                    "dnf depsolve", f"{ratio:.2f}x", "<= 1.0x", ratio <= 1.0)
            )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--full", action="store_true", help="10k, 50k and 100k bases; every scenario also on 100k"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per scenario (default: 5 on 10k, else 3)"
    )
    parser.add_argument("--size", type=int, action="append", help="only this base size (files)")
    parser.add_argument("--no-dnf", action="store_true", help="skip the dnf reference")
    parser.add_argument(
        "--only", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--solver",
        type=int,
        metavar="PACKAGES",
        help="also run bench.solver_bench on a repo this big",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    rounds = args.rounds or 3
    sizes = _sizes(args.full, args.size)
    work = bases.cache_dir() / "work" / str(os.getpid())
    started = time.monotonic()
    print(f"machine: {machine()}")
    print(f"bases: {', '.join(size_label(n) for n in sizes)}; rounds: {rounds}", flush=True)
    small = args.rounds or 5
    bench = Bench(work, rounds, small_rounds=small, dnf=not args.no_dnf)
    try:
        rows = run_all(bench, sizes, set(args.only or SCENARIOS), full=args.full)
        if args.solver:
            print(f"solver vs dnf on {args.solver} packages", flush=True)
            rows += solver_rows(args.solver)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    print()
    print(markdown_table(rows) if args.markdown else text_table(rows))
    met = [r.met for r in rows if r.met is not None]
    print(f"\n{sum(met)} of {len(met)} goals met; {elapsed / 60:.1f} minutes")
    save(
        rows,
        bases.cache_dir() / "last.json",
        {"sizes": sizes, "rounds": rounds, "minutes": elapsed / 60},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
