"""What a new user runs into on real CentOS 7.9 packages: requests that cannot work,
and the overrides that do.

Each refusal must say what is wrong and what to do, exit 1, and change no deployment.
One base (bash + coreutils + tzdata from the corpus) is composed and booted for the
module; the corpus's ``extra/`` is the layering repository (see fixtures/centos.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fixtures.centos import MISSING_HINT, centos_repos, corpus_dir
from fixtures.demo import Result, Scenario
from fixtures.repos import write_repo_file
from tests.conftest import ROOT, needs_bwrap, needs_rpmbuild

CORPUS = corpus_dir(ROOT)
pytestmark = [
    needs_bwrap,
    needs_rpmbuild,
    pytest.mark.distro,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=MISSING_HINT),
]

REF = "centos/7/x86_64/base"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    work = tmp_path_factory.mktemp("centos-user")
    base_repo, extra_repo = centos_repos(CORPUS, work / "repos")
    treefiles = work / "tf"
    treefiles.mkdir()
    write_repo_file(treefiles / "corpus-base.repo", "corpus-base", base_repo.as_uri())
    treefile = treefiles / "treefile.yaml"
    packages = ["bash", "coreutils", "tzdata"]  # tzdata: a leaf that owns directories
    data = {"ref": REF, "repos": ["corpus-base"], "packages": packages}
    treefile.write_text(yaml.safe_dump({**data, "releasever": "7"}))
    scenario = Scenario(work / "world", echo=False)
    scenario.strata("admin", "init-fs", str(scenario.sysroot), sysroot=False)
    store = scenario.sysroot / "ostree/repo"
    scenario.strata("compose", "tree", "--repo", str(store), str(treefile))
    scenario.strata("admin", "os-init", "centos")
    scenario.strata("admin", "deploy", REF)
    scenario.strata("admin", "simulate-reboot")
    repos = scenario.deployment_root() / "etc/yum.repos.d"
    for stock in repos.glob("CentOS-*.repo"):  # their mirrors are not reachable here
        stock.unlink()
    for repo_id, path in (("corpus-base", base_repo), ("corpus-extra", extra_repo)):
        write_repo_file(repos / "corpus.repo", repo_id, path.as_uri())
    scenario.strata("install", "gnupg2")  # needs /sbin/install-info from the base's info
    scenario.strata("admin", "simulate-reboot")
    return scenario


def refused(world: Scenario, *args: str) -> Result:
    before = world.status()
    result = world.strata(*args, check=False)
    assert result.returncode == 1, f"{args}: {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert world.status() == before, "a refused request changed the deployments"
    return result


def problem_lines(result: Result) -> list[str]:
    return [line[4:] for line in result.stderr.splitlines() if line.startswith("  - ")]


def test_missing_dependencies_one_line_per_package_naming_each(world: Scenario) -> None:
    result = refused(world, "install", "python", "usbutils")
    assert "(2 problems)" in result.stderr
    python, usbutils = sorted(problem_lines(result))
    assert python.startswith(
        "python-2.7.5-89.el7.x86_64 requires libpython2.7.so.1.0()(64bit) and "
        "python-libs(x86-64) = 2.7.5-89.el7, which nothing"
    ), python
    assert usbutils.startswith(
        "usbutils-007-5.el7.x86_64 requires hwdata and libusb-1.0.so.0()(64bit), which"
    ), usbutils
    for line in (python, usbutils):
        assert line.endswith("enable repositories that provide them, or add the RPMs that do")


def test_override_remove_of_what_a_layered_package_needs_says_uninstall(world: Scenario) -> None:
    result = refused(world, "override", "remove", "info")
    (line,) = problem_lines(result)
    assert "gnupg2-2.0.22-5.el7_5.x86_64 requires /sbin/install-info" in line
    assert "`strata uninstall` gnupg2 (or the request that brings it) first, or keep info" in line


def test_misspelled_names_are_all_reported_with_a_suggestion(world: Scenario) -> None:
    result = refused(world, "install", "man-bd", "tcpdmp")
    assert problem_lines(result) == [
        "No package matches 'man-bd'; did you mean: man-db?",
        "No package matches 'tcpdmp'; did you mean: tcpdump?",
    ]


def test_override_replace_by_the_base_version_is_refused(world: Scenario) -> None:
    repos = world.workdir.parent / "repos"
    newer = str(repos / "extra/zlib-1.2.7-19.el7_9.x86_64.rpm")
    assert (
        "zlib-1.2.7-18.el7.x86_64 -> zlib-1.2.7-19.el7_9.x86_64"
        in world.strata("override", "replace", "--dry-run", newer).stdout
    )
    result = refused(world, "override", "replace", str(repos / "base/zlib-1.2.7-18.el7.x86_64.rpm"))
    assert "'zlib-1.2.7-18.el7.x86_64' is the version the base already has" in result.stderr
    assert "hint: to go back to the base's zlib, run 'strata override reset zlib'" in result.stderr


def test_stateroot_var_keeps_the_filesystem_links(world: Scenario) -> None:
    var = world.sysroot / "ostree/deploy/centos/var"
    assert (var / "run").readlink() == Path("../run")
    assert (var / "lock").readlink() == Path("../run/lock")


def test_override_remove_takes_the_package_directories_too(world: Scenario) -> None:
    """As ``rpm -e tzdata``: /usr/share/zoneinfo and its subdirectories go once empty."""
    base = world.deployment_root()
    assert (base / "usr/share/zoneinfo/Europe/Paris").is_file()
    removed = world.strata("override", "remove", "tzdata").stdout
    assert "Removed base packages:\n  tzdata-2020d-2.el7.noarch\n" in removed
    root = world.deployment_root()
    assert not (root / "usr/share/zoneinfo").exists(), list((root / "usr/share").iterdir())
    assert (root / "usr/share/doc").is_dir(), "directories other packages own stay"
    # the summary names what this operation changed, not the overrides in force
    uninstalled = world.strata("uninstall", "gnupg2").stdout
    assert "gnupg2-2.0.22-5.el7_5.x86_64" in uninstalled and "tzdata" not in uninstalled
    reset = world.strata("override", "reset", "tzdata").stdout
    assert "Restored base packages:\n  tzdata-2020d-2.el7.noarch\n" in reset
    assert (world.deployment_root() / "usr/share/zoneinfo/Europe/Paris").is_file()
