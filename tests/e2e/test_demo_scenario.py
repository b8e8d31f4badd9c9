"""The main job end to end on real binaries (the ``make demo`` scenario, asserted).

One sysroot walks through every step in order; each test is one step and depends
on the ones before it, so the module runs as one scenario (pytest keeps file order).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures import realistic
from fixtures.demo import REF_V1, REF_V2, Scenario, package_name
from fixtures.repos import serve_http
from tests.conftest import needs_bwrap, needs_rpmbuild

pytestmark = [needs_bwrap, needs_rpmbuild]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    workdir = tmp_path_factory.mktemp("demo")
    scenario = Scenario(workdir, echo=False)
    scenario.prepare_repos()
    with serve_http(scenario.layer_repo) as url:
        scenario.layer_url = url
        yield scenario


@pytest.fixture(scope="module")
def state() -> dict[str, str]:
    """Commit ids remembered between steps."""
    return {}


def names(nevras: list[str]) -> set[str]:
    return {nevra.rsplit("-", 2)[0] for nevra in nevras}


STRACE_SET = {package_name(p) for p in realistic.strace_packages()}


def test_compose_and_boot_base_v1(scenario: Scenario, state: dict[str, str]) -> None:
    scenario.deploy_base()
    (only,) = scenario.status()
    assert only["booted"] and not only["staged"]
    assert only["origin"] == REF_V1
    assert only["base-checksum"] is None
    assert only["layered-packages"] == []
    state["v1"] = only["checksum"]
    listed = scenario.strata("db", "list").stdout
    assert "strace" not in listed
    assert "glibc" in listed


def test_install_strace_stages_a_layered_deployment(
    scenario: Scenario, state: dict[str, str]
) -> None:
    scenario.add_repo_file()
    out = scenario.strata("install", "strace").stdout
    assert "strace" in out
    first, second = scenario.status()
    assert first["staged"] and not first["booted"]
    assert second["booted"] and second["checksum"] == state["v1"]
    assert first["requested-packages"] == ["strace"]
    assert first["packages"] == ["strace"]
    assert first["base-checksum"] == state["v1"]
    assert names(first["layered-packages"]) == STRACE_SET
    text = scenario.strata("status").stdout
    assert "LayeredPackages: strace" in text
    state["layered"] = first["checksum"]


def test_db_diff_shows_exactly_strace_and_its_libraries(scenario: Scenario) -> None:
    diff = scenario.strata("db", "diff").stdout
    added = {line.split()[-1] for line in diff.splitlines() if line.strip().startswith("strace")}
    assert added, diff
    for name in STRACE_SET:
        assert name in diff
    assert "Removed" not in diff and "Upgraded" not in diff, diff


def test_layered_strace_runs_inside_the_new_deployment(
    scenario: Scenario, state: dict[str, str]
) -> None:
    scenario.strata("admin", "simulate-reboot")
    first = scenario.status()[0]
    assert first["booted"] and first["checksum"] == state["layered"]
    version = scenario.run_strace()
    assert "strace -- version" in version.stdout
    assert any(d["checksum"] == state["v1"] for d in scenario.status()), "rollback target kept"


def test_uninstall_returns_to_the_base_commit(scenario: Scenario, state: dict[str, str]) -> None:
    scenario.strata("uninstall", "strace")
    first = scenario.status()[0]
    assert first["checksum"] == state["v1"]
    assert first["base-checksum"] is None
    assert first["requested-packages"] == []
    query = scenario.run(
        ["rpm", "--root", str(scenario.deployment_root()), "--dbpath", "/usr/lib/sysimage/rpm",
         "-q", "strace"],
        check=False,
    )  # fmt: skip
    assert query.returncode != 0
    assert "not installed" in query.stdout
    scenario.strata("admin", "simulate-reboot")


def test_rebase_keeps_strace_and_drops_what_the_new_base_provides(
    scenario: Scenario, state: dict[str, str]
) -> None:
    state["v2"] = scenario.compose(2)
    scenario.strata("install", "strace")
    rebased = scenario.strata("rebase", REF_V2)
    first = scenario.status()[0]
    assert first["origin"] == REF_V2
    assert first["base-checksum"] == state["v2"]
    assert first["packages"] == ["strace"]
    now_base = STRACE_SET - names(first["layered-packages"])
    assert now_base, "v2 provides one of strace's libraries"
    assert "strace" in names(first["layered-packages"])
    assert "download" not in rebased.stdout.lower() or "0 downloaded" in rebased.stdout
    scenario.strata("admin", "simulate-reboot")
    assert "strace -- version" in scenario.run_strace().stdout


def test_rollback_returns_to_the_previous_deployment(scenario: Scenario) -> None:
    before = scenario.status()
    scenario.strata("rollback")
    after = scenario.status()
    assert after[0]["checksum"] == before[1]["checksum"]
    assert Path(scenario.deployment_root()).is_dir()
