"""rebase / upgrade / reset / override / cleanup through the CLI, as one scenario."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from core.store import Store
from fixtures.rpms import build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.cli_pkg_support import (
    BASE_TIMESTAMP,
    REF_V1,
    REF_V2,
    World,
    base_v1_rpms,
    build_base_tree,
    local_rpm,
)

pytestmark = [needs_bwrap, needs_rpmbuild]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("pkg-rebase"))


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    return {}


def refused(world: World, *args: str, match: str) -> None:
    before = world.snapshot()
    result = world.strata(*args, expect=1)
    assert match in result.stderr, result.stderr
    assert world.snapshot() == before


def test_layer_and_boot(world: World, state: dict[str, Any]) -> None:
    state["v1"] = world.status()[0]["checksum"]
    world.strata("install", "hello", "libhello", "tool")
    world.finalize()
    booted = world.status()[0]
    assert booted["booted"]
    assert booted["packages"] == ["hello", "libhello", "tool"]


def test_upgrade_without_news_changes_nothing(world: World) -> None:
    before = world.snapshot()
    assert "No upgrade available." in world.strata("upgrade").stdout
    world.strata("upgrade", "--unchanged-exit-77", expect=77)
    world.strata("upgrade", "--check", "--unchanged-exit-77", expect=77)
    assert world.snapshot() == before


def test_rebase_onto_a_missing_ref_is_refused(world: World) -> None:
    refused(world, "rebase", "testos/base/nope", match="testos/base/nope")


def test_rebase_dry_run_changes_nothing(world: World) -> None:
    before = world.snapshot()
    out = world.strata("rebase", "--dry-run", REF_V2).stdout
    assert "libhello" in out
    assert world.snapshot() == before


def test_rebase_drops_what_the_new_base_provides(world: World, state: dict[str, Any]) -> None:
    store = Store.open(world.sysroot / "ostree" / "repo")
    state["v2"] = store.resolve(REF_V2)
    out = world.strata("rebase", REF_V2).stdout
    assert "Package 'libhello' is now provided by the base" in out
    assert "Base packages:\n  Upgraded:\n    basefiles.x86_64 1.0-1 -> 2.0-1" in out
    assert "Layered packages:\n  Removed:\n    libhello-1.0-1.x86_64" in out
    assert "0 downloaded" in out
    first = world.status()[0]
    assert first["origin"] == REF_V2
    assert first["base-checksum"] == state["v2"]
    assert first["requested-packages"] == ["hello", "libhello", "tool"]
    assert first["packages"] == ["hello", "tool"]
    assert first["layered-packages"] == ["hello-1.0-1.x86_64", "tool-1.0-1.x86_64"]
    assert "InactiveRequests: libhello" in world.strata("status").stdout


def test_rebase_onto_a_conflicting_base_names_both_packages(world: World, tmp_path: Path) -> None:
    rpms = [
        *base_v1_rpms(),
        build_rpm("othertool", files={"/usr/bin/tool": "#!/bin/sh\necho other\n"}),
    ]
    tree = build_base_tree(tmp_path / "base-3", rpms, version="3", repo_url=world.repo_dir.as_uri())
    Store.open(world.sysroot / "ostree" / "repo").commit_dir(
        tree, branch="testos/base/v3", metadata={"version": "3"}, timestamp=BASE_TIMESTAMP
    )
    before = world.snapshot()
    result = world.strata("rebase", "testos/base/v3", expect=1)
    assert "tool" in result.stderr and "othertool" in result.stderr, result.stderr
    assert world.snapshot() == before


def test_inactive_request_comes_back_into_force(world: World, state: dict[str, Any]) -> None:
    world.strata("rebase", REF_V1)
    first = world.status()[0]
    assert first["base-checksum"] == state["v1"]
    assert first["packages"] == ["hello", "libhello", "tool"]
    assert "libhello-1.0-1.x86_64" in first["layered-packages"]
    world.strata("rebase", REF_V2)
    assert world.status()[0]["packages"] == ["hello", "tool"]


def test_override_remove_and_reset(world: World) -> None:
    refused(world, "override", "remove", "hello", match="Package 'hello' is not in the base")
    world.strata("override", "remove", "nanoed")
    first = world.status()[0]
    assert first["requested-base-removals"] == ["nanoed"]
    deployment = (
        world.sysroot / "ostree/deploy/testos/deploy" / (f"{first['checksum']}.{first['serial']}")
    )
    assert not (deployment / "usr/bin/nanoed").exists()
    world.strata("override", "reset", "nanoed")
    first = world.status()[0]
    assert first["requested-base-removals"] == []
    deployment = (
        world.sysroot / "ostree/deploy/testos/deploy" / (f"{first['checksum']}.{first['serial']}")
    )
    assert (deployment / "usr/bin/nanoed").exists()


def test_override_replace_with_a_local_rpm(world: World, tmp_path: Path) -> None:
    newer = build_rpm("nanoed", version="7.3", files={"/usr/bin/nanoed": "#!/bin/sh\n# 7.3\n"})
    copy = tmp_path / newer.name
    shutil.copyfile(newer, copy)
    refused(world, "override", "replace", str(local_rpm()), match="is not in the base")
    out = world.strata("override", "replace", str(copy)).stdout
    assert "nanoed.x86_64 7.2-1 -> 7.3-1" in out
    first = world.status()[0]
    assert first["requested-base-local-replacements"] == ["nanoed-7.3-1.x86_64"]
    assert (world.deployment_path(first) / "usr/bin/nanoed").read_text() == "#!/bin/sh\n# 7.3\n"
    copy.unlink()
    world.strata("override", "reset", "nanoed")
    first = world.status()[0]
    assert first["requested-base-local-replacements"] == []
    assert (world.deployment_path(first) / "usr/bin/nanoed").read_text() == "#!/bin/sh\n"


def test_reset_goes_back_to_the_plain_base(world: World, state: dict[str, Any]) -> None:
    world.strata("reset")
    first = world.status()[0]
    assert first["checksum"] == state["v2"]
    assert first["requested-packages"] == [] and first["base-checksum"] is None


def test_cleanup_drops_package_caches_no_deployment_uses(world: World) -> None:
    store = Store.open(world.sysroot / "ostree" / "repo")
    world.strata("cleanup", "--base")
    assert len(store.refs("strata/pkg/")) == 3, "the booted deployment still layers 3 packages"
    world.finalize()  # boot the plain v2 base; the layered v1 becomes the rollback
    rollback = world.status()[1]["id"]
    out = world.strata("cleanup", "--base", "--rollback", "--repomd").stdout.splitlines()
    assert out[0] == f"Removed deployment {rollback}", out
    assert "Nothing to clean up." not in out
    (only,) = world.status()
    assert only["booted"] and only["base-checksum"] is None
    assert store.refs("strata/pkg/") == {}
    assert not (world.sysroot / "ostree/repo/cache/repomd").exists()
