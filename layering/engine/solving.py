"""Solving one change: the deployment's repos (as the command line adjusts them) + the base.

The repos are the booted deployment's ``/etc/yum.repos.d``, with the variables of
its ``/etc/dnf/vars`` and ``/etc/yum/vars`` and ``$releasever`` of the base. The
command line may adjust them for one operation, as dnf and rpm-ostree do:
``--enablerepo``/``--disablerepo`` (globs, applied in command-line order) and
``--releasever``. Nothing of that is kept: the next operation reads the repo files
as they are.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, FetchError, SolveError
from core.progress import Progress
from core.store import Store
from layering.engine.base_context import load_repos, repo_variables
from layering.engine.origin_state import Requests
from layering.rpm.headers import checkout_rpmdb
from solver import RepoConfig, Request, Transaction, solve
from solver.base import base_cache_path
from solver.release import detect_releasever

# Given to the solver as the base rpmdb when its cache of the base is warm: never read.
_NO_RPMDB = Path("/nonexistent/strata-warm-base-cache")
ENABLE = "enable"
DISABLE = "disable"


@dataclass(frozen=True)
class RepoChoice:
    """The command line's adjustments of the repo files, for one operation."""

    toggles: tuple[tuple[str, str], ...] = ()  # (ENABLE|DISABLE, repo id glob), in order
    releasever: str | None = None


def choose_repos(
    repos: Sequence[RepoConfig], toggles: Sequence[tuple[str, str]]
) -> tuple[tuple[RepoConfig, ...], tuple[str, ...]]:
    """Apply ``--enablerepo``/``--disablerepo`` in order, as dnf does.

    A pattern that matches no repo: an error for ``--enablerepo`` (dnf's "Unknown
    repo", so a typo never goes unnoticed), a warning for ``--disablerepo``.
    """
    out = list(repos)
    warnings: list[str] = []
    for action, pattern in toggles:
        hits = [i for i, r in enumerate(out) if fnmatch.fnmatchcase(r.id, pattern)]
        if not hits:
            if action == ENABLE:
                known = ", ".join(r.id for r in repos) or "none"
                raise ConfigError(
                    f"Unknown repo: {pattern!r} (--enablerepo)",
                    hint=f"repos of /etc/yum.repos.d: {known}",
                )
            warnings.append(f"No repository match: {pattern} (--disablerepo)")
        for i in hits:
            out[i] = dataclasses.replace(out[i], enabled=action == ENABLE)
    return tuple(out), tuple(warnings)


@dataclass(frozen=True)
class SolveInput:
    """What one solve needs besides the requests: where the repos and caches are."""

    store: Store
    config_root: Path  # the deployment whose /etc holds the repo files
    cache_dir: Path
    arch: str
    progress: Progress
    choice: RepoChoice = RepoChoice()


def solve_requests(
    inp: SolveInput,
    base_commit: str,
    requests: Requests,
    locals_: dict[str, Path],
    *,
    cache_only: bool,
    shrinking: bool,
) -> Transaction:
    """Solve against the base commit's package set.

    The solver reads that set from its ``.solv`` cache of the base commit when it has
    one; only a cold (or unreadable) cache needs the base rpmdb checked out of the
    store, which costs a copy of a database that holds every file path of the base.
    """

    def run(rpmdb: Path) -> Transaction:
        return _solve_with(
            inp, base_commit, requests, locals_, rpmdb, cache_only=cache_only, shrinking=shrinking
        )

    cached = base_cache_path(inp.cache_dir, base_commit)
    if cached is not None and cached.is_file():
        try:
            return run(_NO_RPMDB)
        except SolveError:
            if cached.is_file():
                raise  # the cache was read: a problem of the request itself
            # the solver dropped an unreadable cache and wanted the rpmdb after all
    with checkout_rpmdb(inp.store, base_commit) as rpmdb:
        return run(rpmdb)


def _solve_with(
    inp: SolveInput,
    base_commit: str,
    req: Requests,
    locals_: dict[str, Path],
    rpmdb: Path,
    *,
    cache_only: bool,
    shrinking: bool,
) -> Transaction:
    def detect() -> str | None:
        return detect_releasever(rpmdb, base_commit, inp.cache_dir, inp.arch)

    variables = repo_variables(
        inp.store,
        base_commit,
        inp.arch,
        config_root=inp.config_root,
        detect=detect,
        override=inp.choice.releasever,
    )
    repos, warnings = choose_repos(load_repos(inp.config_root, variables), inp.choice.toggles)
    request = Request(
        base_rpmdb=rpmdb,
        base_key=base_commit,
        repos=repos,
        install=req.packages,
        local_rpms=tuple(locals_[p.sha256] for p in req.local),
        override_remove=req.override_remove,
        override_replace=tuple(locals_[p.sha256] for p in req.override_replace),
        arch=inp.arch,
        cache_dir=inp.cache_dir,
        cache_only=cache_only,
    )
    with inp.progress.step("Resolving"):
        tx = None
        if shrinking and not cache_only:
            # Like rpm-ostree: removing needs no fresh metadata (or network) when
            # the cache has it; fall back to fetching when it does not.
            try:
                tx = solve(dataclasses.replace(request, cache_only=True))
            except FetchError:
                tx = None
        if tx is None:
            tx = solve(request)
    if warnings:
        tx = dataclasses.replace(tx, warnings=(*warnings, *tx.warnings))
    return tx
