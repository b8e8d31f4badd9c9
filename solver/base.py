"""The base commit's own package set as libsolv's installed repo, cached per commit.

The installed set must be the base's rpmdb, never the host's: a host may run
another version, and a sysroot under test is not the host at all. The rpmdb is
read through libsolv (which links librpm) with ``_dbpath`` pointed at a private
copy: rpm's sqlite backend writes beside the database even when reading, and
the caller's copy may be hardlinked into the store.

A commit never changes, so its package set is cached as
``CACHE/base/<key>.solv`` and later solves on the same base skip the rpmdb.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import solv

from core.errors import SolveError
from solver.repomd import write_solv

SYSTEM = "@System"
# Files of each rpmdb backend rpm may use: sqlite (current), bdb/ndb (older bases).
_DB_FILES = ("rpmdb.sqlite", "Packages", "Packages.db")
_MACRO_LOCK = threading.Lock()  # rpm macros are process-global


def _cache_name(key: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", key) and not key.startswith("."):
        return f"{key}.solv"
    return hashlib.sha256(key.encode()).hexdigest() + ".solv"


def _read_rpmdb(repo: solv.Repo, rpmdb: Path) -> None:
    if not rpmdb.is_dir():
        raise SolveError(
            f"base rpmdb directory {rpmdb} does not exist",
            hint="the base commit must carry its rpmdb in /usr/lib/sysimage/rpm",
        )
    if not any((rpmdb / name).is_file() for name in _DB_FILES):
        raise SolveError(
            f"{rpmdb} holds no rpm database (looked for {', '.join(_DB_FILES)})",
            hint="the base commit must carry its rpmdb in /usr/lib/sysimage/rpm",
        )
    import rpm  # noqa: PLC0415 - costs 0.1s; only a cold base cache needs it

    with tempfile.TemporaryDirectory(prefix="strata-rpmdb-") as tmp_dir:
        tmp = os.path.abspath(tmp_dir)  # rpm resolves a relative _dbpath against its root
        for item in rpmdb.iterdir():
            if item.is_file() and not item.name.startswith(".") and not item.name.endswith("-shm"):
                shutil.copyfile(item, Path(tmp) / item.name)
        with _MACRO_LOCK:
            rpm.addMacro("_dbpath", tmp)
            try:
                ok = repo.add_rpmdb(0)
            finally:
                rpm.delMacro("_dbpath")
    if not ok:
        raise SolveError(
            f"cannot read the base rpmdb in {rpmdb}: {repo.pool.errstr}",
            hint="the base's rpm database is damaged or of an unsupported format",
        )
    if repo.nsolvables == 0:  # a base without packages is a misread, never a fact to cache
        raise SolveError(
            f"the base rpmdb in {rpmdb} reads as empty (no packages)",
            hint="the base's rpm database is damaged or of an unsupported format",
        )


def base_cache_path(cache_dir: Path | None, key: str) -> Path | None:
    """Where the package set of base ``key`` is cached."""
    return cache_dir / "base" / _cache_name(key) if cache_dir is not None and key else None


def load_base(
    pool: solv.Pool, rpmdb: Path, key: str, cache_dir: Path | None, *, empty: bool = False
) -> solv.Repo:
    """Add the base's packages as the pool's installed repo (``@System``).

    A base rpmdb that reads as empty is an error (and never cached) unless ``empty``
    says there is no base (compose).
    """
    repo = pool.add_repo(SYSTEM)
    pool.installed = repo
    if empty:
        repo.internalize()
        return repo
    cached = base_cache_path(cache_dir, key)
    if cached is not None and cached.is_file():
        fp = solv.xfopen(str(cached))
        ok = fp is not None and repo.add_solv(fp)
        if fp is not None:
            fp.close()
        if ok:
            return repo
        cached.unlink(missing_ok=True)
        repo.empty()
    _read_rpmdb(repo, rpmdb)
    repo.internalize()
    if cached is not None:
        write_solv(cached, repo)
    return repo
