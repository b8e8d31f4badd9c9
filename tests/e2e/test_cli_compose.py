"""``strata compose tree`` through the CLI: reproducible bases, strict treefiles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.store import Store
from fixtures.realistic import base_packages, realistic_repo
from fixtures.repos import write_repo_file
from tests.conftest import needs_bwrap, needs_rpmbuild

pytestmark = [needs_rpmbuild, needs_bwrap]

REF = "exampleos/x86_64/base"


def strata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layering.cli", *args], capture_output=True, text=True, check=False
    )


def package_names(version: int = 1) -> list[str]:
    return [p.name.rsplit("-", 2)[0] for p in base_packages(version)]


@pytest.fixture(scope="module")
def repo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return realistic_repo(tmp_path_factory.mktemp("rpms") / "repo").as_uri()


def write_treefile(directory: Path, repo_url: str, **overrides: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_repo_file(directory / "example.repo", "example", repo_url)
    data: dict[str, object] = {
        "ref": REF,
        "repos": ["example"],
        "packages": package_names(),
        "releasever": "41",
        "add-commit-metadata": {"example.build": "7"},
        "postprocess": ["echo composed > /usr/share/composed-marker"],
    }
    data.update(overrides)
    path = directory / "treefile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_compose_is_reproducible_and_complete(repo_url: str, tmp_path: Path) -> None:
    treefile = write_treefile(tmp_path / "tf", repo_url)
    ids = []
    for name in ("one", "two"):
        Store.init(tmp_path / name)
        result = strata("compose", "tree", "--repo", str(tmp_path / name), str(treefile))
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip().splitlines()[-1])
    assert ids[0] == ids[1]
    store = Store.open(tmp_path / "one")
    assert store.resolve(REF) == ids[0]
    info = store.commit_info(ids[0])
    assert sorted(json.loads(info.metadata["strata.packages"])) == sorted(
        line for line in strata("db", "list", "--repo", str(tmp_path / "one"), REF).stdout.split()
    )
    assert info.metadata["version"] == "41"
    assert info.metadata["example.build"] == "7"
    # the tree: /etc defaults in /usr/etc, rpmdb where rpm looks, postprocess ran, no /var content
    assert store.lookup(ids[0], "etc") is None
    assert store.read_file(ids[0], "usr/etc/passwd") is not None
    assert store.read_file(ids[0], "usr/share/composed-marker") == b"composed\n"
    assert [e.path for e in store.walk(ids[0], "var")] == ["var"]
    checkout = tmp_path / "checkout"
    store.checkout(ids[0], checkout)
    qa = subprocess.run(
        ["rpm", "--root", str(checkout), "--dbpath", "/usr/lib/sysimage/rpm", "-qa"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {line.rsplit("-", 2)[0] for line in qa.stdout.split()} == set(package_names())
    # composing again with the same inputs changes nothing
    again = strata(
        "compose", "tree", "--repo", str(tmp_path / "one"), "--unchanged-exit-77", str(treefile)
    )
    assert again.returncode == 77, again.stderr
    assert again.stdout.strip().splitlines()[-1] == ids[0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"packges": ["bash"]}, "unknown key(s) 'packges'"),
        ({"packages": "bash"}, "'packages' must be a list of strings"),
        ({"ref": None}, "'ref' must be a string"),
        ({"repos": ["nosuchrepo"]}, "nosuchrepo not defined by any *.repo file"),
        ({"packages": ["bash", "no-such-package"]}, "no-such-package"),
    ],
)
def test_bad_input_writes_nothing(
    repo_url: str, tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    treefile = write_treefile(tmp_path / "tf", repo_url, **overrides)
    store = Store.init(tmp_path / "repo")
    result = strata("compose", "tree", "--repo", str(tmp_path / "repo"), str(treefile))
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""
    assert store.refs() == {}


def test_missing_treefile_and_store(tmp_path: Path) -> None:
    result = strata("compose", "tree", "--repo", str(tmp_path / "repo"), str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "cannot read treefile" in result.stderr


def test_unchanged_compose_downloads_nothing(tmp_path: Path) -> None:
    repo = realistic_repo(tmp_path / "repo")
    treefile = write_treefile(tmp_path / "tf", repo.as_uri())
    Store.init(tmp_path / "store")
    first = strata("compose", "tree", "--repo", str(tmp_path / "store"), str(treefile))
    assert first.returncode == 0, first.stderr
    for rpm_file in repo.rglob("*.rpm"):
        rpm_file.unlink()  # the metadata stays; the packages are gone
    again = strata(
        "compose", "tree", "--repo", str(tmp_path / "store"), "--unchanged-exit-77", str(treefile)
    )
    assert again.returncode == 77, again.stderr
    assert again.stdout.split()[-1] == first.stdout.split()[-1]


def test_failing_postprocess_moves_no_ref(repo_url: str, tmp_path: Path) -> None:
    lines = ["true", "echo broken >&2; exit 4"]
    treefile = write_treefile(tmp_path / "tf", repo_url, postprocess=lines)
    store = Store.init(tmp_path / "repo")
    result = strata("compose", "tree", "--repo", str(tmp_path / "repo"), str(treefile))
    assert result.returncode == 1
    assert "line 2 of the treefile's postprocess failed with exit status 4" in result.stderr
    assert "broken" in result.stderr
    # the line is the treefile's, not a package's: no advice to drop a package
    assert "hint: fix that postprocess line of the treefile" in result.stderr
    assert "drop the package" not in result.stderr
    assert REF not in store.refs()  # package caches may stay; the ref must not move
