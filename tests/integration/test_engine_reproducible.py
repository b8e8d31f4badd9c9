"""Same base commit + same RPMs -> same layered commit id, in any sysroot (engine API)."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.progress import QuietProgress
from core.sysroot import Sysroot
from core.sysroot.origin import Origin
from fixtures.repos import make_repo
from layering.engine.engine import Engine, Outcome
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.cli_pkg_support import (
    BASE_TIMESTAMP,
    OS,
    REF_V1,
    base_v1_rpms,
    build_base_tree,
    layer_rpms,
)

pytestmark = [needs_bwrap, needs_rpmbuild]


def _sysroot(path: Path, base_tree: Path) -> tuple[Sysroot, str]:
    sysroot = Sysroot.init_fs(path)
    sysroot.os_init(OS)
    commit = sysroot.repo.commit_dir(
        base_tree, branch=REF_V1, metadata={"version": "1"}, timestamp=BASE_TIMESTAMP
    )
    sysroot.deploy(OS, commit, Origin(refspec=REF_V1, layered=False))
    return sysroot, commit


def test_two_sysroots_build_the_same_layered_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", layer_rpms())
    tree = build_base_tree(tmp_path / "base", base_v1_rpms(), version="1", repo_url=repo.as_uri())
    first, base_a = _sysroot(tmp_path / "a", tree)
    second, base_b = _sysroot(tmp_path / "b", tree)
    shutil.rmtree(tree)
    assert base_a == base_b
    results = [Engine(s, None, QuietProgress()).install(["hello", "tool"]) for s in (first, second)]
    assert all(r.outcome is Outcome.DEPLOYED for r in results)
    a, b = (r.deployment for r in results)
    assert a is not None and b is not None
    assert a.checksum == b.checksum
    # Upgrading with nothing new is recognised as unchanged, before anything is fetched.
    assert Engine(first, None, QuietProgress()).upgrade().outcome is Outcome.UNCHANGED
