"""Fetching through the CLI: GPG-checked repos, --download-only/--cache-only, upgrade.

One sysroot, steps in file order. The signed repo and its key are configured the way
an administrator does it: a .repo file and a key in the booted deployment's /etc.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from core.store import Store
from fixtures.repos import make_repo, serve_http, write_repo_file
from fixtures.rpms import build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.cli_pkg_support import (
    BASE_TIMESTAMP,
    REF_V1,
    World,
    base_v1_rpms,
    build_base_tree,
    layer_rpms,
    local_rpm,
)
from tests.integration.engine_gpg_support import can_sign, make_key, private_copy, sign

pytestmark = [
    needs_bwrap,
    needs_rpmbuild,
    pytest.mark.skipif(not can_sign(), reason="rpmsign/gpg missing"),
]

KEY_PATH = "etc/pki/rpm-gpg/RPM-GPG-KEY-test"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("pkg-fetch")
    world = World(tmp)
    good_public, _ = make_key(tmp / "gpg-good", "good@example.com")
    _, other_kid = make_key(tmp / "gpg-other", "other@example.com")
    world.other_kid = other_kid  # type: ignore[attr-defined]
    rpms = []
    for name, signer in (("signedtool", "good"), ("foreigntool", "other"), ("plaintool", None)):
        cached = build_rpm(name, files={f"/usr/bin/{name}": f"#!/bin/sh\necho {name}\n"})
        copy = private_copy(cached, tmp / "to-sign")
        if signer is not None:
            sign(copy, tmp / f"gpg-{signer}", f"{signer}@example.com")
        rpms.append(copy)
    signed_repo = make_repo(tmp / "signed-repo", rpms)
    booted = world.booted_path()
    write_repo_file(
        booted / "etc/yum.repos.d/signed.repo",
        "signed",
        signed_repo.as_uri(),
        gpgcheck=True,
        gpgkey="file:///" + KEY_PATH,
    )
    (booted / KEY_PATH).parent.mkdir(parents=True)
    (booted / KEY_PATH).write_bytes(good_public)
    return world


def refused(world: World, *args: str, match: str) -> None:
    before = world.snapshot()
    result = world.strata(*args, expect=1)
    assert match in result.stderr, result.stderr
    assert world.snapshot() == before


def test_package_signed_with_the_repo_key_installs(world: World) -> None:
    world.strata("install", "signedtool")
    assert world.status()[0]["requested-packages"] == ["signedtool"]


def test_package_signed_with_another_key_is_refused(world: World) -> None:
    kid = world.other_kid  # type: ignore[attr-defined]
    refused(world, "install", "foreigntool", match=f"signed with key {kid}")


def test_unsigned_package_from_a_gpgcheck_repo_is_refused(world: World) -> None:
    refused(world, "install", "plaintool", match="is not signed")


def test_download_only_then_cache_only_without_the_repo(world: World) -> None:
    before = world.snapshot()
    out = world.strata("install", "--download-only", "tool").stdout
    assert out.startswith("Downloaded 1 of 2 packages (the others were cached)."), out
    again = world.strata("install", "--download-only", "tool").stdout
    assert again.startswith("Downloaded 0 of 2 packages"), "the file is in the download cache"
    assert world.snapshot() == before
    hidden = world.repo_dir.with_name("repo-hidden")
    world.repo_dir.rename(hidden)
    try:
        out = world.strata("install", "--cache-only", "tool").stdout
    finally:
        hidden.rename(world.repo_dir)
    assert "Packages: 2 cached, 0 downloaded" in out, "--cache-only downloads nothing"
    assert world.status()[0]["requested-packages"] == ["signedtool", "tool"]


def test_json_progress_names_the_steps(world: World) -> None:
    result = world.strata("--json-progress", "install", "--dry-run", "hello")
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert {"type": "step-start", "step": "Resolving"} in events


def test_upgrade_takes_newer_packages(world: World) -> None:
    newer = build_rpm("tool", version="1.1", files={"/usr/bin/tool": "#!/bin/sh\necho 1.1\n"})
    make_repo(world.repo_dir, [*layer_rpms(), newer])
    check = world.strata("upgrade", "--check").stdout
    assert "tool.x86_64 1.0-1 -> 1.1-1" in check
    before = world.snapshot()
    assert "Downloaded 1 of " in world.strata("upgrade", "--download-only").stdout
    assert world.snapshot() == before
    out = world.strata("upgrade").stdout
    assert "Upgraded:\n  tool.x86_64 1.0-1 -> 1.1-1" in out
    assert "tool-1.1-1.x86_64" in world.status()[0]["layered-packages"]


def test_upgrade_follows_the_base_ref(world: World, tmp_path: Path) -> None:
    store = Store.open(world.sysroot / "ostree" / "repo")
    tree = build_base_tree(
        tmp_path / "base-1.1", base_v1_rpms(), version="1.1", repo_url=world.repo_dir.as_uri()
    )
    new_base = store.commit_dir(
        tree, branch=REF_V1, metadata={"version": "1.1"}, timestamp=BASE_TIMESTAMP + 1
    )
    out = world.strata("upgrade").stdout
    assert "Base: " in out
    first: dict[str, Any] = world.status()[0]
    assert first["base-checksum"] == new_base
    assert first["version"] == "1.1"
    assert first["requested-packages"] == ["signedtool", "tool"]


def test_cleanup_pending_drops_the_staged_deployment(world: World) -> None:
    staged = world.status()[0]
    assert staged["staged"]
    out = world.strata("cleanup", "-p").stdout  # rpm-ostree's short form
    assert out.splitlines() == [f"Removed deployment {staged['id']}"], out
    deployments = world.status()
    assert not any(d["staged"] for d in deployments)
    assert deployments[0]["booted"]


def test_install_an_rpm_by_url(world: World, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(local_rpm(), served / "localpkg-1.0-1.x86_64.rpm")
    with serve_http(served) as url:
        world.strata("install", url + "localpkg-1.0-1.x86_64.rpm")
        refused(world, "install", url + "missing-1.0-1.x86_64.rpm", match="404")
    first = world.status()[0]
    assert first["requested-local-packages"] == ["localpkg-1.0-1.x86_64"]
