"""install / uninstall / rollback through the CLI on a temporary sysroot.

One sysroot walks through the steps in file order (each test builds on the ones
before), and every refused command must leave what a user sees byte-for-byte alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from core.sysroot import Sysroot
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.cli_pkg_support import REF_V1, World, local_rpm

pytestmark = [needs_bwrap, needs_rpmbuild]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("pkg-install"))


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    return {}


def refused(world: World, *args: str, match: str) -> str:
    """Run a command that must fail; return stderr; assert nothing visible changed."""
    before = world.snapshot()
    result = world.strata(*args, expect=1)
    assert match in result.stderr, result.stderr
    assert world.snapshot() == before
    return result.stderr


def names(nevras: list[str]) -> list[str]:
    return sorted(n.rsplit("-", 2)[0] for n in nevras)


def test_fresh_sysroot_shows_the_booted_base(world: World, state: dict[str, Any]) -> None:
    (only,) = world.status()
    assert only["booted"] and only["origin"] == REF_V1
    assert only["base-checksum"] is None and only["layered-packages"] == []
    state["v1"] = only["checksum"]


def test_nothing_to_reset_on_a_pinned_base(world: World) -> None:
    world.strata("admin", "pin", "0")
    try:
        before = world.snapshot()
        assert "No changes." in world.strata("reset").stdout
        world.strata("reset", "--unchanged-exit-77", expect=77)
        assert world.snapshot() == before
    finally:
        world.strata("admin", "pin", "--unpin", "0")


def test_dry_run_prints_the_transaction_and_changes_nothing(world: World) -> None:
    before = world.snapshot()
    out = world.strata("install", "--dry-run", "hello").stdout
    assert "hello-1.0-1.x86_64" in out and "libhello-1.0-1.x86_64" in out
    assert world.snapshot() == before


def test_install_stages_a_layered_deployment_first(world: World, state: dict[str, Any]) -> None:
    out = world.strata("install", "hello").stdout
    assert "Added:\n  hello-1.0-1.x86_64\n  libhello-1.0-1.x86_64" in out
    assert out.rstrip().endswith("Run 'reboot' to start using it.")
    first, second = world.status()
    assert first["staged"] and not first["booted"]
    assert second["booted"] and second["checksum"] == state["v1"]
    assert first["base-checksum"] == state["v1"]
    assert first["requested-packages"] == ["hello"] and first["packages"] == ["hello"]
    assert first["layered-packages"] == ["hello-1.0-1.x86_64", "libhello-1.0-1.x86_64"]
    text = world.strata("status").stdout
    assert "LayeredPackages: hello" in text and "Staged: yes" in text
    deployment = (
        Path(world.sysroot)
        / "ostree/deploy/testos/deploy"
        / (f"{first['checksum']}.{first['serial']}")
    )
    assert (deployment / "usr/bin/hello").read_text() == "#!/bin/sh\necho hello\n"
    state["hello"] = first["checksum"]


def test_installing_an_already_requested_package_is_refused(world: World) -> None:
    refused(world, "install", "hello", match="Package 'hello' is already requested")


def test_idempotent_install_reports_no_changes(world: World) -> None:
    before = world.snapshot()
    out = world.strata("install", "--idempotent", "hello").stdout
    assert "No changes." in out
    world.strata("install", "--idempotent", "--unchanged-exit-77", "hello", expect=77)
    assert world.snapshot() == before


def test_package_already_in_the_base_is_refused_unless_allowed(world: World) -> None:
    refused(
        world,
        "install",
        "xzlib",
        match="Package 'xzlib' is already provided by the base (xzlib-5.4-1.x86_64)",
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("install", "no-such-package"), "no-such-package"),
        (("install", "needy"), "no-such-capability"),
        (("install", "clash"), "basefiles"),
        (("install", "failing"), "failing post script"),
    ],
    ids=["unknown", "unsatisfiable", "conflict-with-base", "failing-script"],
)
def test_bad_installs_change_nothing(world: World, args: tuple[str, ...], match: str) -> None:
    refused(world, *args, match=match)


def test_errors_name_the_phase_they_failed_in(world: World) -> None:
    stderr = refused(world, "install", "failing", match="failing post script")
    assert (
        "Assembling: running scripts: failing:%post of failing-1.0-1.x86_64 failed with "
        "exit status 3" in stderr
    ), stderr
    stderr = refused(world, "install", "clash", match="basefiles")
    assert "Assembling: merging package trees: " in stderr, stderr
    stderr = refused(world, "install", "needy", match="no-such-capability")
    assert "Resolving: " in stderr, stderr


def test_corrupted_local_rpm_changes_nothing(world: World, tmp_path: Path) -> None:
    bad = tmp_path / "broken-1.0-1.x86_64.rpm"
    data = bytearray(local_rpm().read_bytes())
    bad.write_bytes(bytes(data[: len(data) // 2]))
    refused(world, "install", str(bad), match="broken-1.0-1.x86_64.rpm")


def test_second_install_accumulates_on_the_pending_deployment(world: World) -> None:
    out = world.strata("install", "tool").stdout
    assert "Added:\n  tool-1.0-1.x86_64" in out
    deployments = world.status()
    assert len(deployments) == 2, "the previous pending deployment is replaced"
    first = deployments[0]
    assert first["requested-packages"] == ["hello", "tool"]
    assert names(first["layered-packages"]) == ["hello", "libhello", "tool"]


def test_local_rpm_install(world: World, tmp_path: Path) -> None:
    rpm_file = tmp_path / "localpkg-1.0-1.x86_64.rpm"
    rpm_file.write_bytes(local_rpm().read_bytes())
    world.strata("install", str(rpm_file))
    rpm_file.unlink()  # kept in the store: later operations must not need the file
    first = world.status()[0]
    assert first["requested-local-packages"] == ["localpkg-1.0-1.x86_64"]
    assert "localpkg-1.0-1.x86_64" in first["layered-packages"]


def test_uninstall_of_a_package_not_requested_is_refused(world: World) -> None:
    refused(world, "uninstall", "nanoed", match="Package 'nanoed' is not currently requested")


def test_uninstall_reuses_cached_packages_without_the_repo(world: World) -> None:
    hidden = world.repo_dir.with_name("repo-hidden")
    world.repo_dir.rename(hidden)
    try:
        out = world.strata("uninstall", "tool").stdout
    finally:
        hidden.rename(world.repo_dir)
    assert "Removed:\n  tool-1.0-1.x86_64" in out
    assert "0 downloaded" in out
    first = world.status()[0]
    assert first["requested-packages"] == ["hello"]
    assert "localpkg-1.0-1.x86_64" in first["layered-packages"]


def test_same_inputs_give_the_same_commit(world: World, state: dict[str, Any]) -> None:
    world.strata("uninstall", "localpkg")
    assert world.status()[0]["checksum"] == state["hello"]


def test_uninstall_all_deploys_the_base_commit_itself(world: World, state: dict[str, Any]) -> None:
    out = world.strata("uninstall", "--all").stdout
    assert "Removed:" in out
    first = world.status()[0]
    assert first["checksum"] == state["v1"]
    assert first["base-checksum"] is None
    assert first["requested-packages"] == [] and first["layered-packages"] == []
    origin = next(
        (world.sysroot / "ostree/deploy/testos/deploy").glob(f"{state['v1']}.*.origin")
    ).read_text()
    assert f"refspec={REF_V1}" in origin and "baserefspec" not in origin


def test_rollback_after_reboot(world: World, state: dict[str, Any]) -> None:
    world.strata("install", "hello")
    world.finalize()
    booted = world.status()[0]
    assert booted["booted"] and booted["checksum"] == state["hello"]
    out = world.strata("rollback").stdout
    assert "Run 'reboot'" in out
    first = world.status()[0]
    assert first["checksum"] == state["v1"]


def test_a_second_mutating_command_fails_at_once_while_locked(world: World) -> None:
    with Sysroot.open(world.sysroot).lock():
        refused(world, "install", "tool", match="locked")
        assert f"State: busy (pid {os.getpid()}" in world.strata("status").stdout
    assert "State: idle" in world.strata("status").stdout


def test_rollback_discards_a_pending_deployment(world: World) -> None:
    before = [d["id"] for d in world.status()]
    world.strata("install", "tool")
    assert world.status()[0]["staged"]
    out = world.strata("rollback").stdout
    assert "Discarded the pending deployment" in out
    assert [d["id"] for d in world.status()] == before


def test_allow_inactive_records_the_request_without_layering_it(world: World) -> None:
    result = world.strata("install", "--allow-inactive", "xzlib")
    assert "Package 'xzlib' is already provided by the base" in result.stdout + result.stderr
    first = world.status()[0]
    assert first["requested-packages"] == ["xzlib"]
    assert first["packages"] == [] and first["layered-packages"] == []
    assert "InactiveRequests: xzlib" in world.strata("status").stdout
