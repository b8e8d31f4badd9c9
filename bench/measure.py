"""Timing one command: wall time, peak RSS, and Strata's own step timings.

Every measured thing is a separate process started from here, so Strata pays its
interpreter start and imports like the reference tools pay theirs. Peak RSS comes
from ``wait4``'s rusage of that process (the largest of it and the children it
waited for), in KiB. Set-up (fresh copies of a sysroot, ``sync``) is never timed.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_kib: int
    steps: tuple[tuple[str, float], ...] = ()  # Strata's --json-progress step-end timings
    stdout: str = ""
    ended: float = 0.0  # time.perf_counter() at exit

    def step(self, prefix: str) -> float:
        return sum(s for name, s in self.steps if name.startswith(prefix))


@dataclass(frozen=True)
class Series:
    """Several samples of one command."""

    label: str
    samples: tuple[Sample, ...] = field(default_factory=tuple)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def rss_mib(self) -> float:
        return max(s.rss_kib for s in self.samples) / 1024

    def median_of(self, value: Callable[[Sample], float]) -> float:
        return statistics.median(value(s) for s in self.samples)


class CommandFailed(RuntimeError):
    pass


def sync() -> None:
    """Write back dirty pages so one run's writes are not charged to the next."""
    os.sync()


def timed(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    since: float | None = None,
) -> Sample:
    """Run ``argv``; its wall time and peak RSS. Raises CommandFailed on a non-zero exit.

    With ``since`` (a ``perf_counter`` time), the wall time counts from then, with no
    ``sync`` first: how long after an earlier command's exit this one is done.
    """
    if since is None:
        sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter() if since is None else since
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, cwd=cwd, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        ended = time.perf_counter()
        elapsed = ended - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise CommandFailed(f"{shlex.join(argv)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return Sample(elapsed, int(usage.ru_maxrss), _steps(stderr), stdout, ended)


def shell(script: str) -> list[str]:
    """A pipeline of reference commands, timed as one."""
    return ["bash", "-euo", "pipefail", "-c", script]


def _steps(stderr: str) -> tuple[tuple[str, float], ...]:
    out = []
    for line in stderr.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type") == "step-end":
            out.append((str(event["step"]), float(event["seconds"])))
    return tuple(out)
