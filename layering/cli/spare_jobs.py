"""The spare checkout a command leaves for the next one (see :mod:`core.sysroot.spare`).

Staging patches a spare checkout instead of writing a whole hardlink farm, so the next
command's cost follows its change. The spare it consumed is replaced after the command,
off its critical path: by default a detached ``strata admin prepare-spare --background``
process (lowest CPU and I/O priority) that the command does not wait for. ``STRATA_SPARE``
chooses: ``background`` (the default), ``sync`` (prepared before the command exits:
deterministic, for tests and scripts that time a command with its aftermath) or ``off``
(never; staging then writes full checkouts as before).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError
from core.sysroot import spare

if TYPE_CHECKING:
    from core.sysroot import Sysroot

ENV = "STRATA_SPARE"
LOCK_ENV = "STRATA_SPARE_BUILD_LOCK"  # parent -> background builder: the held lock's fd


class SpareMode(StrEnum):
    BACKGROUND = "background"
    SYNC = "sync"
    OFF = "off"


def spare_mode(environ: Mapping[str, str] = os.environ) -> SpareMode:
    value = environ.get(ENV, "") or SpareMode.BACKGROUND
    try:
        return SpareMode(value)
    except ValueError:
        choices = ", ".join(m.value for m in SpareMode)
        raise ConfigError(
            f"{ENV}={value!r} is not a spare checkout mode",
            hint=f"set it to one of {choices}, or unset it (background)",
        ) from None


def before_command(environ: Mapping[str, str] = os.environ) -> SpareMode:
    """The mode for the mutating command about to run (ConfigError, before it changes
    anything, for a bad value). With a background builder to follow, the deployments
    the command removes go to the spare trash for that builder to sweep."""
    mode = spare_mode(environ)
    if mode is SpareMode.BACKGROUND:
        from core.sysroot import Sysroot  # noqa: PLC0415 - pygit2 only for mutating verbs

        Sysroot.defer_removals = True
    return mode


def default_commit(sysroot: Sysroot) -> str | None:
    """The first deployment's commit: what the next command builds on."""
    deployments = sysroot.deployments()
    return deployments[0].checksum if deployments else None


def wanted(sysroot: Sysroot) -> str | None:
    """The commit a spare should hold now: the first deployment's, unless that spare is
    ready already (or nothing is deployed)."""
    commit = default_commit(sysroot)
    return None if commit is None or commit in spare.ready(sysroot.path) else commit


def after_command(sysroot_path: Path, mode: SpareMode) -> None:
    """Replace the spare a successful mutating command may have used. Never fails the
    command: a spare is an optimisation, and staging falls back to a full checkout."""
    if mode is SpareMode.OFF:
        return
    from core.sysroot import Sysroot  # noqa: PLC0415 - mutating verbs have it loaded already

    try:
        sysroot = Sysroot.open(sysroot_path)
        commit = wanted(sysroot)
        if commit is None:
            return
        if mode is SpareMode.SYNC:
            sysroot.prepare_spare(commit)
        else:
            spawn_builder(sysroot_path)
    except Exception as err:  # noqa: BLE001 - reported, never fatal (see docstring)
        print(f"warning: no spare checkout prepared: {err}", file=sys.stderr)


def spawn_builder(sysroot_path: Path) -> None:
    """Start ``admin prepare-spare --background``, detached: its own session, no stdio
    inherited (a caller reading this command's output to EOF must not wait for it). The
    builder lock is taken here and handed over, so whoever waits for builders (the next
    ``prepare-spare``, a script removing the sysroot) waits for this one from now on."""
    argv = [sys.executable, "-m", "layering.cli", "--sysroot", str(sysroot_path)]
    lock_fd = spare.hold_build_lock(sysroot_path)
    env = dict(os.environ)
    env.pop(LOCK_ENV, None)
    if lock_fd is not None:
        env[LOCK_ENV] = str(lock_fd)
    try:
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*argv, "admin", "prepare-spare", "--background"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd="/",
            env=env,
            pass_fds=() if lock_fd is None else (lock_fd,),
        )
    finally:
        if lock_fd is not None:
            os.close(lock_fd)  # the builder's copy keeps the lock


def inherited_lock(sysroot_path: Path) -> int | None:
    """The builder lock a background builder was handed, if it really is that lock."""
    value = os.environ.get(LOCK_ENV, "")
    if not value.isdigit():
        return None
    fd = int(value)
    return fd if spare.is_build_lock(sysroot_path, fd) else None


def lower_priority() -> None:
    """A background builder yields the CPU and the disk to everything else (the idle I/O
    class: it only gets disk time nobody else wants)."""
    os.nice(10)
    ionice = "/usr/bin/ionice"
    if os.path.exists(ionice):
        subprocess.run(  # noqa: S603 - fixed path
            [ionice, "-c", "3", "-p", str(os.getpid())], check=False, capture_output=True
        )


@dataclass(frozen=True)
class Prepared:
    commit: str | None  # None: nothing deployed
    seconds: float
    built: bool  # False: it was ready already


def prepare_now(sysroot: Sysroot, *, lock_fd: int | None = None) -> Prepared:
    """Make sure the first deployment's spare is ready, waiting first for a builder at
    work (it is likely building this very spare). ``lock_fd``: the builder lock, held
    already (a background builder's); closed here."""
    start = time.monotonic()
    try:
        if lock_fd is None:
            spare.wait_for_builder(sysroot.path)
        commit = default_commit(sysroot)
        if commit is None or commit in spare.ready(sysroot.path):
            spare.sweep_trash(sysroot.path)  # deployments a command removed (defer_removals)
            return Prepared(commit, time.monotonic() - start, built=False)
        while sysroot.prepare_spare(commit, lock_fd=lock_fd) is None:
            spare.wait_for_builder(sysroot.path)  # another builder won the race: wait again
            if commit in spare.ready(sysroot.path):
                break
        return Prepared(commit, time.monotonic() - start, built=True)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
