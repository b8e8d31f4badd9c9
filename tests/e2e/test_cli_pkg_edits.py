"""Package edits riding along another change, through the CLI: ``install --uninstall``,
``rebase``/``upgrade`` with ``--install``/``--uninstall`` (rpm-ostree 464: a layered
package that conflicts with the new base goes in the same step), ``--force-replacefiles``.

Each edit is one transaction: exactly one new deployment, or nothing changed.
"""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.rpms import build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.cli_pkg_support import REF_V2, World

pytestmark = [needs_bwrap, needs_rpmbuild]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("pkg-edits"))


def refused(world: World, *args: str, match: str) -> None:
    before = world.snapshot()
    result = world.strata(*args, expect=1)
    assert match in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert world.snapshot() == before


def one_new_deployment(world: World, *args: str) -> dict[str, Any]:
    before = {d["checksum"] + str(d["serial"]) for d in world.status()}
    world.strata(*args)
    after = world.status()
    new = [d for d in after if d["checksum"] + str(d["serial"]) not in before]
    assert len(new) == 1, new
    assert after[0] == new[0], "the new deployment is the default"
    return new[0]


def legacy_rpm() -> str:
    """Fine on base v1; on v2, whose libhello ships this path, a file conflict."""
    path = build_rpm("legacy", files={"/usr/lib64/libhello.so.1": "legacy lib\n"})
    return str(path)


def test_install_with_uninstall_is_one_transaction(world: World) -> None:
    world.strata("install", "tool")
    first = one_new_deployment(world, "install", "hello", "--uninstall", "tool")
    assert first["requested-packages"] == ["hello"]
    assert not any(p.startswith("tool-") for p in first["layered-packages"])
    assert any(p.startswith("libhello-") for p in first["layered-packages"])


def test_uninstall_of_what_is_not_requested_is_refused(world: World) -> None:
    refused(world, "install", "tool", "--uninstall", "nosuch", match="'nosuch' is not currently")
    refused(world, "install", "hello", "--uninstall", "tool", match="'tool' is not currently")


def test_rebase_onto_a_conflicting_base_needs_the_uninstall(world: World) -> None:
    world.strata("uninstall", "hello")
    world.strata("install", legacy_rpm())
    refused(world, "rebase", REF_V2, match="legacy")
    first = one_new_deployment(
        world, "rebase", REF_V2, "--uninstall", "legacy", "--install", "tool"
    )
    assert first["origin"] == REF_V2
    assert first["requested-packages"] == ["tool"]
    assert first["requested-local-packages"] == []


def test_upgrade_with_edits(world: World) -> None:
    first = one_new_deployment(world, "upgrade", "--install", "hello", "--uninstall", "tool")
    assert first["requested-packages"] == ["hello"]
    refused(world, "upgrade", "--install", "xzlib", match="already provided by the base")
    assert "No upgrade available." in world.strata("upgrade", "--preview").stdout
