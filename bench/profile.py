"""Where install-one spends its time: ``python -m bench.profile [--size N]``.

Runs ``strata install strace`` once on a fresh copy of the N-file base under py-spy
(a sampling profiler: the numbers are close to an unprofiled run) and prints the
functions by inclusive time, plus the command's own --json-progress steps. Without
py-spy it falls back to cProfile (slower, it inflates Python-heavy code).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import bases
from bench.report import size_label
from bench.scenarios import spare_argv

RATE = 500  # samples per second


def inclusive(raw: str) -> tuple[Counter[str], int]:
    """Seconds (as sample counts) per function, each counted once per stack."""
    totals: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        seen = set()
        for frame in stack.split(";"):
            name = frame.split(" (", 1)[0]
            where = frame.split(" (", 1)[1].split(":", 1)[0] if " (" in frame else ""
            key = f"{name} ({where})" if where else name
            if key not in seen:
                seen.add(key)
                totals[key] += n
    return totals, samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    base = bases.get_base(args.size)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory(dir=bases.cache_dir()) as tmp:
        sysroot = bases.fresh_sysroot(base, Path(tmp) / "sysroot")
        bases.run(spare_argv(sysroot))  # the spare a host has between two commands
        subprocess.run(["sync"], check=True)
        strata = bases.strata_argv(
            "--sysroot", str(sysroot), "--json-progress", "install", "strace"
        )
        out = Path(tmp) / "profile.txt"
        if Path(spy).exists():
            argv = [
                spy,
                "record",
                "--idle",
                "-r",
                str(RATE),
                "-f",
                "raw",
                "-o",
                str(out),
                "--",
                *strata,
            ]
            proc = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=bases.ROOT)
            totals, samples = inclusive(out.read_text())
            print(f"install-one on {size_label(args.size)}: {samples / RATE:.2f}s sampled (py-spy)")
            for key, n in totals.most_common(args.top):
                print(f"  {n / RATE:6.3f}s  {key}")
        else:
            argv = [sys.executable, "-m", "cProfile", "-s", "cumulative", "-m", "layering.cli",
                    *strata[3:]]  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=bases.ROOT)
            print("\n".join(proc.stdout.splitlines()[: args.top + 10]))
        bases.run(spare_argv(sysroot))  # wait for the builder it left before removing
        print("steps (--json-progress):")
        for line in proc.stderr.splitlines():
            if line.startswith("{") and '"step-end"' in line:
                event = json.loads(line)
                print(f"  {event['seconds']:6.3f}s  {event['step']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
