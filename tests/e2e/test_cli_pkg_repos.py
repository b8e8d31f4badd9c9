"""Stock repo files through the CLI: mirror lists, metalinks, vars, --enablerepo/--disablerepo,
--releasever, skip_if_unavailable; each bad input a clear error that changes nothing.

One sysroot and one HTTP server on 127.0.0.1 playing MirrorManager and its mirrors:
``good/`` carries a createrepo_c repo of real RPMs, ``nopkgs/`` the same metadata
without the RPM files (every package 404s there), ``lists/`` the mirror lists and
metalinks. The repo files sit in the booted deployment's /etc, as on a stock host.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.repos import make_repo, serve_http
from fixtures.rpms import build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.cli_pkg_support import World

pytestmark = [needs_bwrap, needs_rpmbuild]


def _metalink(mirrors: list[str], repomd: bytes) -> str:
    urls = "".join(
        f'<url protocol="http" type="http" location="US" preference="{100 - i}">'
        f"{m}repodata/repomd.xml</url>"
        for i, m in enumerate(mirrors)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<metalink version="3.0" '
        'xmlns="http://www.metalinker.org/"><files><file name="repomd.xml">'
        f'<verification><hash type="sha256">{hashlib.sha256(repomd).hexdigest()}</hash>'
        f'</verification><resources maxconnections="1">{urls}</resources>'
        "</file></files></metalink>\n"
    )


def _dead() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


class Host:
    def __init__(self, world: World, url: str, www: Path) -> None:
        self.world = world
        self.url = url
        self.www = www
        self.dead = _dead()

    def lists(self, rel: str, text: str) -> str:
        path = self.www / "lists" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return f"{self.url}lists/{rel}"

    def repo_file(self, name: str, text: str) -> None:
        (self.world.booted_path() / "etc/yum.repos.d" / name).write_text(text)

    def cache(self, repo_id: str) -> Path:
        return self.world.sysroot / "ostree/repo/cache/repomd/repos" / repo_id

    def refused(self, *args: str, match: str) -> str:
        before = self.world.snapshot()
        pkgs = self.world.sysroot / "ostree/repo/cache/pkgs"
        cached = sorted(pkgs.iterdir()) if pkgs.is_dir() else []
        result = self.world.strata(*args, expect=1)
        assert match in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert self.world.snapshot() == before
        assert (sorted(pkgs.iterdir()) if pkgs.is_dir() else []) == cached
        return result.stderr


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    tmp = tmp_path_factory.mktemp("pkg-repos")
    world = World(tmp)
    www = tmp / "www"
    stock = [
        build_rpm("stocktool", files={"/usr/bin/stocktool": "#!/bin/sh\necho stock\n"}),
        build_rpm("fedtool", files={"/usr/bin/fedtool": "#!/bin/sh\necho fed\n"}),
    ]
    make_repo(www / "good", stock)
    shutil.copytree(www / "good", www / "nopkgs")
    for rpm in (www / "nopkgs").glob("*.rpm"):
        rpm.unlink()
    with serve_http(www) as url:
        h = Host(world, url, www)
        vars_dir = world.booted_path() / "etc/yum/vars"
        vars_dir.mkdir(parents=True)
        (vars_dir / "infra").write_text("stock\n")
        repomd = (www / "good/repodata/repomd.xml").read_bytes()
        # CentOS-style: a mirror list keyed by $releasever (os-release: 1), $basearch, $infra
        h.lists(
            "1/x86_64/stock/mirrorlist",
            f"# dead, then metadata without packages, then the real one\n"
            f"{h.dead}\n{url}nopkgs/\n{url}good/\n",
        )
        h.lists("metalink-9", _metalink([h.dead, f"{url}good/"], repomd))
        h.repo_file(
            "stock.repo",
            "[stock]\nname=Stock $releasever\n"
            "mirrorlist=" + url + "lists/$releasever/$basearch/$infra/mirrorlist\n"
            "#baseurl=http://mirror.example/$releasever/os/$basearch/\ngpgcheck=0\n\n"
            "[flaky]\nmirrorlist=" + h.dead + "mirrorlist\nskip_if_unavailable=1\n\n"
            "[fedora-stock]\nmetalink=" + url + "lists/metalink-$releasever\nenabled=0\n",
        )
        yield h


def test_mirrorlist_with_vars_fails_over_for_metadata_and_packages(host: Host) -> None:
    result = host.world.strata("install", "stocktool", "--disablerepo", "test")
    assert "stocktool" in result.stdout
    output = result.stdout + result.stderr
    assert "repo 'flaky'" in output and "skipped" in output
    assert host.world.status()[0]["requested-packages"] == ["stocktool"]
    lines = (host.cache("stock") / "baseurl").read_text().split()
    assert lines == [f"{host.url}nopkgs/", host.dead, f"{host.url}good/"]


def test_metalink_repo_enabled_by_glob_with_releasever(host: Host) -> None:
    # --releasever applies to every repo file: stocktool (layered) still resolves at 9
    host.lists("9/x86_64/stock/mirrorlist", f"{host.url}good/\n")
    host.world.strata("install", "fedtool", "--enablerepo", "fedora-*", "--releasever", "9")
    assert host.world.status()[0]["requested-packages"] == ["fedtool", "stocktool"]
    repomd = (host.www / "good/repodata/repomd.xml").read_bytes()
    assert (host.cache("fedora-stock") / "repomd.xml").read_bytes() == repomd


def test_unknown_repo_in_enablerepo_is_refused(host: Host) -> None:
    stderr = host.refused("install", "hello", "--enablerepo", "nosuch*", match="Unknown repo")
    assert "'nosuch*'" in stderr and "stock" in stderr


@pytest.mark.parametrize(
    ("repo_id", "setting", "content", "match"),
    [
        ("deadlist", "mirrorlist", None, "cannot fetch its mirrorlist"),
        ("emptylist", "mirrorlist", "# no mirrors today\n", "names no usable mirror"),
        ("badxml", "metalink", "<metalink><files>", "is not valid XML"),
        ("wronghash", "metalink", "WRONG", "does not match the metalink"),
    ],
)
def test_bad_lists_are_clear_errors_that_change_nothing(
    host: Host, repo_id: str, setting: str, content: str | None, match: str
) -> None:
    if content is None:
        url = host.dead + "list"
    elif content == "WRONG":
        url = host.lists(f"{repo_id}.xml", _metalink([f"{host.url}good/"], b"not this repomd"))
    else:
        url = host.lists(f"{repo_id}.txt", content)
    host.repo_file(f"{repo_id}.repo", f"[{repo_id}]\n{setting}={url}\nenabled=0\n")
    stderr = host.refused("install", "hello", "--enablerepo", repo_id, match=match)
    assert f"repo '{repo_id}'" in stderr and url.split("?")[0] in stderr
    if content == "WRONG":
        assert f"{host.url}good/repodata/repomd.xml" in stderr
    assert not host.cache(repo_id).exists()
