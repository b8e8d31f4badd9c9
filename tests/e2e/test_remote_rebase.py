"""A host that receives its base from a server: compose v1 on the server, publish it
(pull-local into an archive store, sign, signed summary) and serve it with nginx; the
client rebases onto ``server:REF`` keeping a layered package, checks for and previews an
update, and upgrades to v2 once the server publishes it. One scenario, in order."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures import realistic
from fixtures.demo import package_name
from fixtures.repos import make_repo, write_repo_file, write_treefile
from fixtures.servers import Nginx, have_nginx, nginx
from tests.conftest import needs_bwrap, needs_rpmbuild

pytestmark = [
    needs_bwrap,
    needs_rpmbuild,
    pytest.mark.skipif(not have_nginx(), reason="nginx is not installed"),
]

OS = "hostos"
REF = "os/x86_64/base"


def strata(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "layering.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == expect, (args, result.stdout, result.stderr)
    return result


@dataclass
class World:
    tmp: Path
    web: Nginx
    state: dict[str, Any]

    @property
    def bare(self) -> Path:
        return self.tmp / "server" / "bare"

    @property
    def archive(self) -> Path:
        return self.tmp / "server" / "archive"

    @property
    def key(self) -> Path:
        return self.tmp / "keys" / "strata-sign.key"

    @property
    def sysroot(self) -> Path:
        return self.tmp / "client"

    def client(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return strata("--sysroot", str(self.sysroot), *args, expect=expect)

    def publish(self, version: int) -> str:
        """What a build server does: compose (signed), copy into the archive, summary."""
        treefile = self.tmp / f"compose-v{version}" / "treefile.yaml"
        out = strata(
            "compose", "tree", "--repo", str(self.bare), "--sign-key", str(self.key), str(treefile)
        )
        commit = out.stdout.strip().splitlines()[-1]
        strata("pull-local", "--repo", str(self.archive), str(self.bare), REF)
        strata("summary", "--repo", str(self.archive), "-u", "--sign-key", str(self.key))
        return commit

    def status(self) -> list[dict[str, Any]]:
        out = self.client("status", "--json").stdout
        deployments: list[dict[str, Any]] = json.loads(out)["deployments"]
        return deployments

    def booted_etc(self) -> Path:
        booted = next(d for d in self.status() if d["booted"])
        name = f"{booted['checksum']}.{booted['serial']}"
        return self.sysroot / "ostree/deploy" / OS / "deploy" / name / "etc"

    def requests(self) -> list[str]:
        return [entry.path for entry in self.web.log()]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("remote-rebase")
    for version in (1, 2):
        base_repo = make_repo(tmp / "repos" / f"base-v{version}", realistic.base_packages(version))
        write_treefile(
            tmp / f"compose-v{version}",
            ref=REF,
            osname=OS,
            repo_id="base",
            repo_url=base_repo.as_uri(),
            packages=(package_name(p) for p in realistic.base_packages(version)),
            version=f"{version}.0",
        )
    layer_repo = make_repo(tmp / "repos" / "layer", realistic.strace_packages())
    strata("sign", "--generate-key", str(tmp / "keys"))
    strata("repo", "init", "--repo", str(tmp / "server" / "bare"))
    strata("repo", "init", "--repo", str(tmp / "server" / "archive"), "--mode", "archive")
    with nginx(tmp / "server" / "archive", tmp / "nginx") as web:
        w = World(tmp, web, {})
        w.state["v1"] = w.publish(1)
        # the client was installed from an image of v1 (a local ref), strace layered on it
        strata("admin", "init-fs", str(w.sysroot))
        w.client("admin", "os-init", OS)
        w.client("pull-local", str(w.bare), REF)
        w.client("admin", "deploy", REF)
        w.client("admin", "simulate-reboot")
        booted = w.sysroot / "ostree/deploy" / OS / "deploy" / f"{w.status()[0]['checksum']}.0"
        write_repo_file(booted / "etc/yum.repos.d/layer.repo", "layer", layer_repo.as_uri())
        w.client("install", "strace")
        w.client("admin", "simulate-reboot")
        yield w


def test_rebase_onto_the_server_keeps_the_layered_package(world: World) -> None:
    world.client(
        "remote",
        "add",
        "server",
        world.web.url,
        "--sign-verify-key",
        str(world.tmp / "keys" / "strata-sign.pub"),
    )
    world.client("rebase", f"server:{REF}")
    first = world.status()[0]
    assert first["origin"] == f"server:{REF}"
    assert first["base-checksum"] == world.state["v1"]
    assert first["packages"] == ["strace"]
    assert f"server:{REF}" in world.client("status").stdout
    origin = (
        world.sysroot
        / "ostree/deploy"
        / OS
        / "deploy"
        / f"{first['checksum']}.{first['serial']}.origin"
    )
    assert f"baserefspec=server:{REF}" in origin.read_text()
    world.client("admin", "simulate-reboot")
    assert world.client("fsck").returncode == 0


def test_check_says_there_is_no_update(world: World) -> None:
    result = world.client("upgrade", "--check", expect=77)
    assert "No upgrade available." in result.stdout


def test_a_published_v2_is_found_previewed_and_deployed(world: World) -> None:
    before = world.status()
    world.state["v2"] = v2 = world.publish(2)
    world.web.clear_log()
    # --check: only the summary and the commit (with its signatures) travel
    out = world.client("upgrade", "--check").stdout
    assert v2 in out
    assert not [p for p in world.requests() if p.endswith(".filez")], world.requests()
    assert world.status() == before
    # --cache-only never touches the network: the last pulled commit is still v1
    world.web.clear_log()
    assert "No upgrade available." in world.client("upgrade", "--cache-only").stdout
    assert world.requests() == []
    # --preview pulls and prints the package diff, deploys nothing
    out = world.client("upgrade", "--preview").stdout
    assert "bash" in out and "xz-libs" in out, out
    assert world.status() == before
    # the timer's trigger: none does nothing, check only reports, stage deploys
    conf = world.booted_etc() / "strata" / "strata.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    trigger = ("upgrade", "--trigger-automatic-update-policy")
    assert "not enabled" in world.client(*trigger).stdout
    conf.write_text("[Daemon]\nAutomaticUpdatePolicy=check\n")
    assert v2 in world.client(*trigger).stdout
    assert world.status() == before
    conf.write_text("[Daemon]\nAutomaticUpdatePolicy=bogus\n")
    assert "unknown AutomaticUpdatePolicy" in world.client(*trigger, expect=1).stderr
    conf.write_text("[Daemon]\nAutomaticUpdatePolicy=stage\n")
    world.client(*trigger)  # the upgrade itself; strace stays layered
    first = world.status()[0]
    assert first["base-checksum"] == v2
    assert first["origin"] == f"server:{REF}"
    assert first["packages"] == ["strace"]
    world.client("admin", "simulate-reboot")
    world.client("upgrade", "--check", expect=77)


def test_a_fresh_host_deploys_straight_from_the_server(world: World) -> None:
    fresh = world.tmp / "fresh"
    strata("admin", "init-fs", str(fresh))
    strata("--sysroot", str(fresh), "admin", "os-init", OS)
    strata(
        "--sysroot",
        str(fresh),
        "remote",
        "add",
        "server",
        world.web.url,
        "--sign-verify-key",
        str(world.tmp / "keys" / "strata-sign.pub"),
    )
    out = strata("--sysroot", str(fresh), "admin", "deploy", f"server:{REF}").stdout
    assert "Deployed" in out
    status = json.loads(strata("--sysroot", str(fresh), "status", "--json").stdout)
    first = status["deployments"][0]
    assert first["checksum"] == world.state["v2"]
    assert first["origin"] == f"server:{REF}"
    strata("--sysroot", str(fresh), "fsck")
