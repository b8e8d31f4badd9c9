"""``solve()``: build the pool from real sources (rpmdb, rpm-md repos, local RPMs) and decide.

The decision itself lives in ``solver.transaction.solve_pool``; this module only
gathers inputs, applies the repo policies (skip_if_unavailable, cache_only) and
loads file lists when, and only when, a file dependency needs them.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import solv

from core.errors import FetchError, PackageError
from solver.base import base_cache_path, load_base
from solver.fetch import file_checksum
from solver.repomd import LoadedRepo, RepoLoader, record_file_provides
from solver.transaction import COMMANDLINE, LocalFile, PoolInput, RepoSource, solve_pool
from solver.types import Request, Transaction

_SEL = solv.Selection


def new_pool(arch: str) -> solv.Pool:
    """An rpm-flavoured pool for ``arch``."""
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_RPM)
    pool.setarch(arch)
    return pool


def _add_local(pool: solv.Pool, repo: solv.Repo, paths: tuple[Path, ...]) -> dict[int, LocalFile]:
    found: dict[int, LocalFile] = {}
    for path in paths:
        absolute = path.resolve()
        if not absolute.is_file():
            raise PackageError(f"local RPM {path} does not exist", hint="check the path")
        s = repo.add_rpm(
            str(absolute), solv.Repo.REPO_REUSE_REPODATA | solv.Repo.REPO_NO_INTERNALIZE
        )
        if s is None:
            raise PackageError(
                f"{path} is not a readable RPM: {pool.errstr}",
                hint="check that the file is a complete binary .rpm",
            )
        found[s.id] = LocalFile(str(absolute), "sha256:" + file_checksum(absolute))
    return found


def _missing_file_deps(pool: solv.Pool, file_deps: list[int], requests: tuple[str, ...]) -> bool:
    """True when some file dependency or file request has no provider with primary alone."""
    if any(not pool.whatprovides(dep) for dep in file_deps):
        return True
    for request in requests:
        if request.startswith("/"):
            sel = pool.select(request, _SEL.SELECTION_FILELIST | _SEL.SELECTION_PROVIDES)
            if sel.isempty():
                return True
    return False


def solve(request: Request) -> Transaction:
    """Resolve ``request`` against its base; ``SolveError`` lists every problem with a hint."""
    with tempfile.TemporaryDirectory(prefix="strata-solve-") as tmp:
        pool = new_pool(request.arch)
        base = load_base(
            pool,
            request.base_rpmdb,
            request.base_key,
            request.cache_dir,
            empty=request.empty_base,
        )
        loader = RepoLoader(
            pool, cache_dir=request.cache_dir, workdir=Path(tmp), cache_only=request.cache_only
        )
        warnings: list[str] = []
        loaded: list[tuple[solv.Repo, LoadedRepo]] = []
        for config in request.repos:
            if not config.enabled:
                continue
            try:
                loaded.append(loader.load(config))
            except FetchError as err:
                if not config.skip_if_unavailable:
                    raise
                warnings.append(f"{err.args[0]} (skipped: skip_if_unavailable is set)")
        cmdline = pool.add_repo(COMMANDLINE)
        local = _add_local(pool, cmdline, request.local_rpms)
        replace = _add_local(pool, cmdline, request.override_replace)
        cmdline.internalize()
        file_deps = pool.addfileprovides_queue()  # invalidates whatprovides: recreate it
        pool.createwhatprovides()
        if _missing_file_deps(pool, file_deps, request.install):
            extended = [(repo, loader.add_filelists(repo, info) or info) for repo, info in loaded]
            if extended != loaded:
                loaded = extended
                file_deps = pool.addfileprovides_queue()
                pool.createwhatprovides()
        # A repo whose file lists are loaded now is skipped (libsolv cannot write its primary
        # alone then); any other repo was scanned completely, so its record stays true.
        for repo, info in loaded:
            record_file_provides(repo, loader.solv_path(info), file_deps)
        base_solv = base_cache_path(request.cache_dir, request.base_key)
        record_file_provides(base, base_solv, file_deps)
        inp = PoolInput(
            install=request.install,
            local=local,
            override_remove=request.override_remove,
            override_replace=replace,
            sources={
                info.config.id: RepoSource(
                    info.baseurl,
                    info.config.gpgcheck,
                    info.config.gpgkeys,
                    info.mirrors[1:],
                    info.config.speed,
                )
                for _, info in loaded
            },
        )
        transaction = solve_pool(pool, inp)
    return dataclasses.replace(
        transaction,
        repomd=tuple(sorted((info.config.id, info.repomd_sha256) for _, info in loaded)),
        warnings=tuple(warnings),
    )
