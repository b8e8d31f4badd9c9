"""Crash at every named fault point of every mutating command, then recover.

For each command and each point (``STRATA_FAULT``, see docs/reliability.md) a private
copy of a small composed sysroot runs the command until the point kills it with
SIGKILL. Then, as a user would after a power cut:

* ``strata status`` works and ``strata fsck`` finds nothing wrong;
* the previous default deployment is intact (same tree, same ``/etc``, same origin) and
  a boot entry still points at it;
* the same command run again succeeds, ends in exactly the state an uninterrupted run
  gives (``status --json`` byte for byte), and leaves no temp file or directory behind.
  When the crash came after the command's commit point (the state already is the
  uninterrupted run's), a rerun of ``install X`` may instead be refused as "already
  requested", as rpm-ostree does; the state must still be the same.

Points are checked to be reached (the command must die by SIGKILL), so a point that
moves away from the code path fails here instead of silently testing nothing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.reliability_support import (
    REF_V2,
    ROOT,
    Box,
    Kind,
    boot_entries,
    cli,
    leftovers,
    template,
    tree_hash,
)

pytestmark = [needs_bwrap, needs_rpmbuild]

WORKERS = 3  # subprocess-bound: three boxes at a time keep two cores busy


@dataclass(frozen=True)
class Command:
    name: str
    kind: str  # the template state it starts from
    args: tuple[str, ...]
    points: tuple[str, ...]

    def argv(self, box: Box) -> tuple[str, ...]:
        return tuple(str(box.repo) if a == "{repo}" else _treefile(box, a) for a in self.args)


def _treefile(box: Box, arg: str) -> str:
    return str(box.treefile(2)) if arg == "{treefile-v2}" else arg


DEPLOY_POINTS = (
    "checkout-mid@3",
    "etc-merge-mid",
    "etc-before-swap",
    "deploy-before-rename",
    "deploy-before-origin",
    "deploy-before-staged",
    "deploy-after-staged",
)

COMMANDS = (
    Command(
        "install",
        Kind.BASE,
        ("install", "tool", "withpost"),
        (
            "fetch-before-rename",
            "fetch-before-rename@2",
            "import-before-ref",
            "import-before-digest-ref@2",
            "engine-after-import",
            "assemble-after-scripts",
            "commit-before-ref",
            "engine-after-commit",
            *DEPLOY_POINTS,
        ),
    ),
    # The same deploy code runs for every verb: one point of each phase is enough below.
    Command(
        "uninstall",
        Kind.LAYERED,
        ("uninstall", "withpost"),
        ("commit-before-ref", "checkout-mid@3", "deploy-before-rename", "deploy-after-staged"),
    ),
    Command(
        "rebase",
        Kind.LAYERED,
        ("rebase", REF_V2),
        (
            "assemble-after-scripts",
            "commit-before-ref",
            "etc-merge-mid",
            "deploy-before-origin",
            "deploy-after-staged",
        ),
    ),
    Command(
        "compose",
        Kind.BASE,
        ("compose", "tree", "--repo", "{repo}", "{treefile-v2}"),
        (
            "compose-after-fetch",
            "import-before-ref",
            "compose-after-import",
            "assemble-after-scripts",
            "compose-after-assemble",
            "commit-before-ref",
            "commit-after-ref",
        ),
    ),
    Command(
        "finalize-staged",
        Kind.STAGED,
        ("admin", "finalize-staged"),
        (
            "etc-merge-mid",
            "etc-before-swap",
            "finalize-before-boot",
            "boot-before-swap",
            "finalize-after-boot-swap",
            "finalize-before-boot-cleanup",
        ),
    ),
    # a kargs change is a deployment of the same commit (staged: Kind.BASE is booted);
    # --append-if-missing so a rerun after the commit point ends in the same state
    Command(
        "kargs",
        Kind.BASE,
        ("kargs", "--append-if-missing", "crash=1"),
        (
            "deploy-before-rename",
            "deploy-before-origin",
            "deploy-before-staged",
            "deploy-after-staged",
        ),
    ),
    Command(
        "rollback",
        Kind.LAYERED,
        ("rollback",),
        ("boot-before-swap",),
    ),
    Command(
        "cleanup",
        Kind.STAGED,
        ("cleanup", "--pending", "--base"),
        (
            "undeploy-after-origin",
            "prune-before-pack-delete",
            "prune-mid-objects",
            "prune-mid-objects@2",
        ),
    ),
)


@dataclass(frozen=True)
class Outcome:
    command: str
    point: str
    problems: tuple[str, ...]


def default_state(box: Box) -> dict[str, Any]:
    """The default deployment as the next boot would start it, before the command."""
    status = box.status()
    default = next(d for d in status if not d["staged"])
    path = box.path_of(default)
    return {
        "dir": path.name,
        "origin": path.with_name(path.name + ".origin").read_text(),
        "tree": tree_hash(path),
    }


def pointed_at(box: Box) -> set[str]:
    """Deployment directory names the live boot entries point to."""
    names = set()
    for key, text in boot_entries(box.sysroot).items():
        if not key.startswith("entries/"):
            continue
        for word in text.split():
            if word.startswith("ostree="):
                link = box.sysroot / word.removeprefix("ostree=").lstrip("/")
                names.add(Path(os.readlink(link)).name)
    return names


def crash_and_recover(
    box: Box, command: Command, point: str, reference: str, before: dict[str, Any]
) -> list[str]:
    crashed = box.strata(*command.argv(box), expect=None, env={"STRATA_FAULT": point})
    if crashed.returncode != -signal.SIGKILL:
        return [f"the point was not reached (exit {crashed.returncode}): {crashed.stderr[-500:]}"]
    return recover(box, command, reference, before)


def recover(box: Box, command: Command, reference: str, before: dict[str, Any]) -> list[str]:
    """Check the state a crash left, run the command again, check the result."""
    problems: list[str] = []
    argv = command.argv(box)
    status = box.strata("status", "--json", expect=None)
    if status.returncode != 0:
        problems.append(f"status fails after the crash: {status.stderr.strip()}")
    fsck = box.fsck()
    if fsck:
        problems.append(f"fsck after the crash: {fsck[:3]}")
    default = before["dir"]
    path = box.deploy_dir / default
    if not path.is_dir():
        problems.append(f"the previous default {default} is gone")
    else:
        if tree_hash(path) != before["tree"]:
            problems.append(f"the previous default {default} changed")
        origin = path.with_name(default + ".origin")
        if not origin.is_file() or origin.read_text() != before["origin"]:
            problems.append(f"the origin of the previous default {default} changed")
        if default not in pointed_at(box):
            problems.append(f"no boot entry points at the previous default {default}")
    again = box.strata(*argv, expect=None)
    done_before = status.stdout == reference  # the crash came after the commit point
    refused_as_done = again.returncode == 1 and any(
        text in again.stderr for text in ("is already requested", "is not currently requested")
    )
    if again.returncode != 0 and not (done_before and refused_as_done):
        problems.append(f"the rerun failed ({again.returncode}): {again.stderr.strip()[-500:]}")
        return problems
    after = box.strata("status", "--json", expect=None).stdout
    if after != reference:
        problems.append(f"the rerun ended elsewhere than an uninterrupted run:\n{after}")
    left = leftovers(box)
    if left:
        problems.append(f"left behind after the rerun: {left}")
    return problems


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash")


def reference_run(templ: Path, command: Command, dest: Path) -> tuple[str, dict[str, Any]]:
    """``status --json`` after an uninterrupted run, and the default before it."""
    box = Box.copy_of(templ, dest)
    before = default_state(box)
    box.strata(*command.argv(box))
    return box.strata("status", "--json").stdout, before


def run_matrix(tmp: Path, basetemp: Path, command: Command) -> list[Outcome]:
    templ = template(basetemp, command.kind)
    reference, before = reference_run(templ, command, tmp / f"{command.name}-reference")

    def one(point: str) -> Outcome:
        box = Box.copy_of(templ, tmp / f"{command.name}-{point.replace('@', '-')}")
        problems = crash_and_recover(box, command, point, reference, before)
        return Outcome(command.name, point, tuple(problems))

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, command.points))


KILL_SEED = 20261123
KILLS_PER_COMMAND = 6
STARTUP = 0.25  # seconds of interpreter start-up: a kill before it tests nothing


def kill_at(box: Box, command: Command, delay: float) -> int:
    """Start the command, SIGKILL it after ``delay`` seconds; its exit status."""
    argv = cli("--sysroot", str(box.sysroot), *command.argv(box))
    box.host_tmp.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(box.host_tmp)},
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()
    return proc.wait()


def run_kills(tmp: Path, basetemp: Path, command: Command, seed: int) -> list[Outcome]:
    """kill -9 at seeded random moments of an uninterrupted run's duration."""
    templ = template(basetemp, command.kind)
    started = time.monotonic()
    reference, before = reference_run(templ, command, tmp / f"kill-{command.name}-reference")
    duration = time.monotonic() - started
    rng = random.Random(seed)
    delays = sorted(round(rng.uniform(STARTUP, duration), 2) for _ in range(KILLS_PER_COMMAND))

    def one(numbered: tuple[int, float]) -> Outcome:
        # Numbered: two delays can round to the same value on a short run.
        number, delay = numbered
        box = Box.copy_of(templ, tmp / f"kill-{command.name}-{number}-{delay}")
        code = kill_at(box, command, delay)
        problems = recover(box, command, reference, before)
        if code not in (0, -signal.SIGKILL):
            problems.append(f"the killed command exited {code}")
        ran = "finished first" if code == 0 else "killed"
        return Outcome(command.name, f"kill -9 at {delay}s ({ran})", tuple(problems))

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, enumerate(delays)))


KILL_COMMANDS = [c for c in COMMANDS if c.name in ("install", "rebase", "kargs")]


@pytest.mark.parametrize("command", KILL_COMMANDS, ids=[c.name for c in KILL_COMMANDS])
def test_kill_9_at_random_moments_recovers(
    command: Command, run_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    seed = int(os.environ.get("STRATA_KILL_SEED", KILL_SEED))
    outcomes = run_kills(run_dir, tmp_path_factory.getbasetemp(), command, seed)
    print(f"seed {seed}\n" + report(outcomes))
    failed = [o for o in outcomes if o.problems]
    assert not failed, f"seed {seed}: " + report(failed)


def report(outcomes: Sequence[Outcome]) -> str:
    survived = sum(1 for o in outcomes if not o.problems)
    commands = sorted({o.command for o in outcomes})
    points = sorted({o.point for o in outcomes})
    lines = [
        f"crash points: {len(points)} distinct points, {len(commands)} commands, "
        f"{len(outcomes)} crashes, {survived} recovered"
    ]
    for o in outcomes:
        verdict = "recovered" if not o.problems else "FAILED: " + " | ".join(o.problems)
        lines.append(f"  {o.command:16} {o.point:30} {verdict}")
    return "\n".join(lines)


FIGURES: list[Outcome] = []


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_crash_at_each_point_recovers(
    command: Command, run_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    basetemp = tmp_path_factory.getbasetemp()
    outcomes = run_matrix(run_dir, basetemp, command)
    FIGURES.extend(outcomes)
    print(report(outcomes))
    failed = [o for o in outcomes if o.problems]
    assert not failed, report(failed)


def test_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """The totals docs/reliability.md quotes (run with -s to see them)."""
    if len(FIGURES) < sum(len(c.points) for c in COMMANDS):
        pytest.skip("the crash matrix did not run in full")
    text = report(FIGURES)
    with capsys.disabled():
        print("\n" + text)
    distinct = {o.point.split("@")[0] for o in FIGURES}
    assert len(distinct) >= 20
    assert all(not o.problems for o in FIGURES)
    dump = os.environ.get("STRATA_RELIABILITY_FIGURES")
    if dump:
        Path(dump).write_text(json.dumps([o.__dict__ for o in FIGURES], indent=1))
