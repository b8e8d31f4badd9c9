"""Stock repo files against a real mirror service: mirror lists, metalinks, failover.

One HTTP server on 127.0.0.1 plays MirrorManager and two mirrors: ``good/`` and
``stale/`` (an older copy of the repo, its repomd.xml differs) carry createrepo_c
repos of real RPMs; ``lists/`` holds mirror lists and metalinks pointing at them and
at a dead mirror (a closed port).
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.errors import FetchError
from fixtures.repos import make_repo, serve_http
from fixtures.rpms import build_rpm
from solver import RepoConfig, Request, solve
from tests.conftest import needs_rpmbuild
from tests.integration.test_solver_real import make_rpmdb

pytestmark = needs_rpmbuild


def metalink(urls: list[str], repomd: bytes, *, algo: str = "sha256") -> str:
    """A metalink as MirrorManager writes it: the repomd.xml URL of each mirror, ranked."""
    digest = hashlib.new(algo, repomd).hexdigest()
    resources = "".join(
        f'<url protocol="http" type="http" location="US" preference="{100 - i}">'
        f"{u}repodata/repomd.xml</url>"
        for i, u in enumerate(urls)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<metalink version="3.0" xmlns="http://www.metalinker.org/" '
        'xmlns:mm0="http://fedorahosted.org/mirrormanager">\n'
        ' <files>\n  <file name="repomd.xml">\n'
        f"   <size>{len(repomd)}</size>\n"
        f'   <verification><hash type="{algo}">{digest}</hash></verification>\n'
        f'   <resources maxconnections="1">{resources}</resources>\n'
        "  </file>\n </files>\n</metalink>\n"
    )


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/dead/"


@dataclass
class Service:
    url: str  # the server's root
    root: Path
    rpmdb: Path
    dead: str

    def list_url(self, name: str, text: str) -> str:
        (self.root / "lists" / name).write_text(text)
        return f"{self.url}lists/{name}"

    def mirror(self, name: str) -> str:
        return f"{self.url}{name}/"

    def repomd(self, name: str) -> bytes:
        return (self.root / name / "repodata" / "repomd.xml").read_bytes()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    top = tmp_path_factory.mktemp("mirrors")
    tool = build_rpm("tool", "1", autoreqprov=False, files={"/usr/bin/tool": "t\n"})
    older = build_rpm("older", "1", autoreqprov=False)
    make_repo(top / "www" / "good", [tool])
    make_repo(top / "www" / "stale", [older])
    (top / "www" / "lists").mkdir()
    rpmdb = make_rpmdb(top / "base", [build_rpm("basepkg", "1", autoreqprov=False)])
    with serve_http(top / "www") as url:
        yield Service(url, top / "www", rpmdb, closed_port_url())


def request(service: Service, repo: RepoConfig, cache: Path, *install: str) -> Request:
    return Request(
        base_rpmdb=service.rpmdb,
        base_key="base",
        repos=(repo,),
        install=install or ("tool",),
        cache_dir=cache,
    )


def test_mirrorlist_dead_first_mirror_fails_over(service: Service, tmp_path: Path) -> None:
    url = service.list_url(
        "ml-dead-first", f"# mirrors\n{service.dead}\n\n{service.mirror('good')}\n"
    )
    t = solve(request(service, RepoConfig("base", "base", (), mirrorlist=url), tmp_path))
    (tool,) = t.install
    assert tool.location == service.mirror("good") + "tool-1-1.x86_64.rpm"
    # packages fail over too: every mirror of the list, the one that answered first
    assert tool.urls == (tool.location, service.dead + "tool-1-1.x86_64.rpm")
    assert (tmp_path / "repos" / "base" / "baseurl").read_text().split() == [
        service.mirror("good"),
        service.dead,
    ]


def test_metalink_verifies_repomd_and_skips_a_stale_mirror(
    service: Service, tmp_path: Path
) -> None:
    text = metalink(
        [service.dead, service.mirror("stale"), service.mirror("good")], service.repomd("good")
    )
    url = service.list_url("metalink-good", text)
    t = solve(request(service, RepoConfig("fedora", "fedora", (), metalink=url), tmp_path))
    assert [p.nevra for p in t.install] == ["tool-1-1.x86_64"]
    assert t.install[0].location.startswith(service.mirror("good"))
    assert t.repomd == (("fedora", hashlib.sha256(service.repomd("good")).hexdigest()),)


def test_mirrorlist_naming_a_metalink_is_read_as_one(service: Service, tmp_path: Path) -> None:
    url = service.list_url("metalink?repo=x", metalink([service.mirror("good")], b"forged"))
    repo = RepoConfig("x", "x", (), mirrorlist=url.replace("?", "%3F"))
    with pytest.raises(FetchError, match="does not match the metalink"):
        solve(request(service, repo, tmp_path))


def test_wrong_hash_is_refused_naming_the_url_and_nothing_is_cached(
    service: Service, tmp_path: Path
) -> None:
    url = service.list_url("metalink-wrong", metalink([service.mirror("good")], b"other"))
    with pytest.raises(FetchError) as caught:
        solve(request(service, RepoConfig("f", "f", (), metalink=url), tmp_path))
    message = str(caught.value)
    assert "repo 'f' is unavailable (mirrors from its metalink)" in message
    assert service.mirror("good") + "repodata/repomd.xml: repomd.xml does not match" in message
    assert url in message
    assert "out of date or tampered with" in str(caught.value.hint)
    assert not (tmp_path / "repos").exists()


@pytest.mark.parametrize(
    ("kind", "content", "needle"),
    [
        ("mirrorlist", None, "cannot fetch its mirrorlist"),
        ("mirrorlist", "# nothing here\n", "names no usable mirror"),
        ("metalink", None, "cannot fetch its metalink"),
        ("metalink", "<metalink><files><file", "is not valid XML"),
    ],
)
def test_bad_lists_are_clear_errors_and_cache_nothing(
    service: Service, tmp_path: Path, kind: str, content: str | None, needle: str
) -> None:
    url = service.dead + kind if content is None else service.list_url(f"bad-{kind}", content)
    repo = RepoConfig("r", "r", ("http://never.used/",), **{kind: url})  # type: ignore[arg-type]
    with pytest.raises(FetchError) as caught:
        solve(request(service, repo, tmp_path))
    assert needle in str(caught.value) and "repo 'r'" in str(caught.value)
    assert url in str(caught.value)
    assert "skip_if_unavailable" in str(caught.value.hint) or content is not None
    assert not (tmp_path / "repos").exists()


def test_skip_if_unavailable_skips_an_unreachable_list(service: Service, tmp_path: Path) -> None:
    repos = (
        RepoConfig("gone", "gone", (), mirrorlist=service.dead + "ml", skip_if_unavailable=True),
        RepoConfig("good", "good", (service.mirror("good"),)),
    )
    t = solve(Request(service.rpmdb, "base", repos, install=("tool",), cache_dir=tmp_path / "c"))
    assert [p.nevra for p in t.install] == ["tool-1-1.x86_64"]
    (warning,) = t.warnings
    assert "repo 'gone'" in warning and "skipped" in warning


def test_metadata_files_fail_over_to_the_next_mirror(service: Service, tmp_path: Path) -> None:
    """A mirror mid-sync has the new repomd.xml but not yet its primary: the next has it."""
    half = service.root / "half"
    shutil.copytree(service.root / "good", half)
    for item in (half / "repodata").glob("*primary*"):
        item.unlink()
    url = service.list_url("ml-half", f"{service.mirror('half')}\n{service.mirror('good')}\n")
    t = solve(request(service, RepoConfig("h", "h", (), mirrorlist=url), tmp_path))
    assert t.install[0].location == service.mirror("half") + "tool-1-1.x86_64.rpm"
    assert t.install[0].urls[1] == service.mirror("good") + "tool-1-1.x86_64.rpm"
