"""Package edits riding along another change, through the CLI: ``install --uninstall``,
``rebase``/``upgrade`` with ``--install``/``--uninstall`` (rpm-ostree 464: a layered
package that conflicts with the new base goes in the same step), ``--force-replacefiles``.

Each edit is one transaction: exactly one new deployment, or nothing changed.
"""

from __future__ import annotations

import subprocess
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
    assert "No upgrade available." in world.strata("upgrade", "--preview", expect=77).stdout


def _origin(world: World, dep: dict[str, Any]) -> str:
    return world.deployment_path(dep).with_suffix(f".{dep['serial']}.origin").read_text()


def _rpm(world: World, dep: dict[str, Any], *args: str) -> str:
    root = str(world.deployment_path(dep))
    cmd = ["rpm", "--root", root, "--dbpath", "/usr/lib/sysimage/rpm", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_force_replacefiles_lets_a_package_replace_a_base_file(world: World) -> None:
    readme = "usr/share/basefiles/readme"
    refused(world, "install", "clash", match="file conflict: /" + readme)
    first = one_new_deployment(world, "install", "clash", "--force-replacefiles")
    assert (world.deployment_path(first) / readme).read_text() == "not the base\n"
    assert "requested-fileoverride=clash;" in _origin(world, first)
    assert "ForcedPackages: clash" in world.strata("status").stdout
    # rpm's own view, as after rpm -i --replacefiles: clash owns it, basefiles' copy is
    # marked replaced
    assert _rpm(world, first, "-qf", "--qf", "%{NAME}\n", "/" + readme).split() == ["clash"]
    states = [line.split() for line in _rpm(world, first, "-qs", "basefiles").splitlines()]
    assert ["replaced", "/" + readme] in states
    # the right is kept: a later assembly (another install) replaces the file again
    second = one_new_deployment(world, "install", "tool")
    assert (world.deployment_path(second) / readme).read_text() == "not the base\n"
    # uninstalling the package takes the right away and brings the base's file back
    third = one_new_deployment(world, "uninstall", "clash")
    assert (world.deployment_path(third) / readme).read_text() == "base v2\n"
    assert "fileoverride" not in _origin(world, third)
