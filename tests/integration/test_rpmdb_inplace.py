"""The rpmdb handled once per operation: extended in place, solved from the warm cache.

A layered commit must not depend on how its rpmdb was produced: extending
assemble's private copy in place gives the bytes a fresh copy gives, and a solve
from the solver's cached package set (no rpmdb checkout) or from a damaged cache
(back to the rpmdb) builds the same commit as a cold one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.progress import QuietProgress
from core.store import Store
from core.sysroot import Sysroot
from core.sysroot.origin import Origin
from fixtures.repos import make_repo
from fixtures.rpms import build_rpm
from layering.engine.engine import Engine, Outcome
from layering.rpm.headers import nevra, read_rpmdb
from layering.rpm.importer import import_rpm
from layering.rpm.rpmdb import extend_rpmdb, write_rpmdb
from solver.base import base_cache_path
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.cli_pkg_support import (
    BASE_TIMESTAMP,
    OS,
    REF_V1,
    base_v1_rpms,
    build_base_tree,
    layer_rpms,
)

pytestmark = needs_rpmbuild


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    store = Store.init(tmp_path_factory.mktemp("heads") / "repo")
    return [
        import_rpm(store, build_rpm(name, files={f"/usr/share/{name}/f": name})).head
        for name in ("alpha", "beta", "gamma")
    ]


@pytest.mark.parametrize("erase", [(), ("alpha-1.0-1.x86_64",)])
def test_extending_in_place_gives_the_bytes_of_a_copy(
    tmp_path: Path, heads: list[bytes], erase: tuple[str, ...]
) -> None:
    write_rpmdb(tmp_path / "base", base=None, install=heads[:2], timestamp=1_700_000_000)
    read_rpmdb(tmp_path / "base")  # as assemble reads the base's headers first
    write_rpmdb(
        tmp_path / "copy", base=tmp_path / "base", install=heads[2:], erase=erase, timestamp=5
    )
    extend_rpmdb(tmp_path / "base", install=heads[2:], erase=erase, timestamp=5)
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["rpmdb.sqlite"]
    assert (tmp_path / "base/rpmdb.sqlite").read_bytes() == (
        tmp_path / "copy/rpmdb.sqlite"
    ).read_bytes()
    names = [nevra(h) for h in read_rpmdb(tmp_path / "base")]
    assert "gamma-1.0-1.x86_64" in names and not set(erase) & set(names)


def _sysroot(path: Path, base_tree: Path) -> Sysroot:
    sysroot = Sysroot.init_fs(path)
    sysroot.os_init(OS)
    commit = sysroot.repo.commit_dir(
        base_tree, branch=REF_V1, metadata={"version": "1"}, timestamp=BASE_TIMESTAMP
    )
    sysroot.deploy(OS, commit, Origin(refspec=REF_V1, layered=False))
    return sysroot


def _install(sysroot: Sysroot) -> str:
    result = Engine(sysroot, None, QuietProgress()).install(["hello"])
    assert result.outcome is Outcome.DEPLOYED and result.deployment is not None
    return result.deployment.checksum


@needs_bwrap
def test_warm_and_damaged_solver_caches_build_the_same_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", layer_rpms())
    tree = build_base_tree(tmp_path / "base", base_v1_rpms(), version="1", repo_url=repo.as_uri())
    cold, warm, damaged = (_sysroot(tmp_path / n, tree) for n in ("cold", "warm", "damaged"))
    shutil.rmtree(tree)
    expected = _install(cold)
    for sysroot in (warm, damaged):
        # a first solve fills the cache of the base's package set; the layering is undone
        Engine(sysroot, None, QuietProgress()).install(["tool"])
        Engine(sysroot, None, QuietProgress()).reset()
    base = warm.repo.resolve(REF_V1)
    cache = base_cache_path(damaged.repo.path / "cache" / "repomd", base)
    assert cache is not None and cache.is_file()
    cache.write_bytes(b"not a solv file")
    assert _install(warm) == expected
    assert _install(damaged) == expected
    assert cache.is_file()  # rebuilt from the base's rpmdb
