"""Engine refusals that need no packages at all: nothing to build on, unknown refs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import StoreError, SysrootError
from core.progress import QuietProgress
from core.sysroot import Sysroot
from core.sysroot.origin import Origin
from layering.engine.engine import Engine, Options, Outcome
from layering.engine.origin_state import RequestError


def test_no_deployment_to_build_on(tmp_path: Path) -> None:
    sysroot = Sysroot.init_fs(tmp_path / "sysroot")
    sysroot.os_init("os")
    with pytest.raises(SysrootError, match="No deployment of 'os' to build on"):
        Engine(sysroot, None, QuietProgress()).install(["strace"])


@pytest.fixture
def deployed(tmp_path: Path) -> Sysroot:
    sysroot = Sysroot.init_fs(tmp_path / "sysroot")
    sysroot.os_init("os")
    tree = tmp_path / "tree"
    (tree / "usr/lib").mkdir(parents=True)
    (tree / "usr/lib/os-release").write_text("VERSION_ID=1\n")
    commit = sysroot.repo.commit_dir(tree, branch="os/base", timestamp=1)
    sysroot.deploy("os", commit, Origin(refspec="os/base", layered=False))
    return sysroot


def test_rebase_to_an_unknown_ref_names_it(deployed: Sysroot) -> None:
    before = [d.id for d in deployed.deployments()]
    with pytest.raises(StoreError, match="Ref 'os/nope' not found in the store"):
        Engine(deployed, None, QuietProgress()).rebase("os/nope")
    assert [d.id for d in deployed.deployments()] == before


def test_plain_base_has_nothing_to_reset_or_uninstall(deployed: Sysroot) -> None:
    engine = Engine(deployed, None, QuietProgress())
    assert engine.reset().outcome is Outcome.UNCHANGED
    assert engine.upgrade().text == "No upgrade available."
    with pytest.raises(RequestError, match="not currently requested"):
        engine.uninstall(["strace"])
    idempotent = Options(idempotent=True)
    assert engine.uninstall(["strace"], opts=idempotent).outcome is Outcome.UNCHANGED
