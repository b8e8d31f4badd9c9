"""Publishing and pulling end to end: archive stores served by nginx and ``python -m
http.server``, signed commits and summaries, and every bad input refused cleanly."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.servers import have_nginx, hostile_server, nginx, python_http_server
from tests.e2e.remote_support import (
    REF,
    Published,
    client,
    fails,
    object_files,
    ok,
    publish,
    strata,
)

needs_nginx = pytest.mark.skipif(not have_nginx(), reason="nginx is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Published:
    return publish(tmp_path_factory.mktemp("server"))


def _listing(repo: Path, ref: str) -> str:
    return ok("ls", "--repo", str(repo), "-R", ref)


def _assert_untouched(repo: Path) -> None:
    assert ok("refs", "--repo", str(repo)) == ""
    assert ok("fsck", "--repo", str(repo)) == ""


@needs_nginx
def test_pull_over_nginx_gives_the_published_tree(server: Published, tmp_path: Path) -> None:
    with nginx(server.archive, tmp_path / "nginx") as web:
        repo = client(tmp_path / "client", "server", web.url, server.public)
        out = ok("pull", "--repo", str(repo), f"server:{REF}")
        assert out.split() == [f"server:{REF}", server.commit]
        log = web.log()
    assert ok("refs", "--repo", str(repo), "-v").split() == [f"server:{REF}", server.commit]
    assert _listing(repo, f"server:{REF}") == _listing(server.bare, REF)
    assert ok("fsck", "--repo", str(repo)) == ""
    # every request succeeded, and each object was fetched once
    assert {e.status for e in log} == {200}
    paths = [e.path for e in log]
    assert len(paths) == len(set(paths))
    assert sum(p.endswith(".filez") for p in paths) == len(object_files(server.archive))
    co = tmp_path / "co"
    ok("checkout", "--repo", str(repo), "-H", f"server:{REF}", str(co))
    assert (co / "usr" / "bin" / "tool").stat().st_mode & 0o4000
    assert (co / "etc" / "os-release").stat().st_gid == 42


def test_pull_over_python_http_server_and_file_url(server: Published, tmp_path: Path) -> None:
    with python_http_server(server.archive) as url:
        repo = client(tmp_path / "a", "web", url, server.public)
        ok("pull", "--repo", str(repo), "web", REF)
    assert _listing(repo, f"web:{REF}") == _listing(server.bare, REF)
    local = client(tmp_path / "b", "disk", server.archive.as_uri(), server.public)
    ok("pull", "--repo", str(local), f"disk:{REF}")
    assert ok("fsck", "--repo", str(local)) == ""
    # the remote verbs
    assert ok("remote", "list", "--repo", str(local), "-u").split() == [
        "disk",
        server.archive.as_uri(),
    ]
    assert ok("remote", "refs", "--repo", str(local), "disk").split() == [f"disk:{REF}"]
    ok("remote", "delete", "--repo", str(local), "disk")
    assert ok("remote", "list", "--repo", str(local)) == ""
    assert "No remote 'disk'" in fails("pull", "--repo", str(local), f"disk:{REF}")


def test_archive_store_serves_verified_objects(server: Published, tmp_path: Path) -> None:
    assert ok("fsck", "--repo", str(server.archive)) == ""
    assert "archive store" in fails(
        "checkout", "--repo", str(server.archive), REF, str(tmp_path / "co")
    )
    # pull-local back into a bare store gives the same tree, and archive -> archive too
    for mode in ("bare", "archive"):
        copy = tmp_path / mode
        ok("repo", "init", "--repo", str(copy), "--mode", mode)
        ok("pull-local", "--repo", str(copy), str(server.archive), REF)
        assert _listing(copy, REF) == _listing(server.bare, REF)
        assert ok("fsck", "--repo", str(copy)) == ""
    # a flipped byte in an archive object is found by fsck
    damaged = tmp_path / "damaged"
    shutil.copytree(server.archive, damaged, symlinks=True)
    victim = object_files(damaged)[3]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x40
    victim.chmod(0o644)
    victim.write_bytes(bytes(data))
    result = strata("fsck", "--repo", str(damaged))
    assert result.returncode == 1
    assert victim.name.split(".")[0] in result.stdout


def _copy(server: Published, dest: Path) -> Path:
    shutil.copytree(server.archive, dest, symlinks=True)
    for path in dest.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    return dest


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


BAD = [
    "unreachable",
    "missing-ref",
    "flipped-byte",
    "truncated-object",
    "other-key",
    "unsigned",
    "tampered-summary",
    "dotdot-ref",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_remote_input_is_refused_and_changes_nothing(
    case: str, server: Published, tmp_path: Path
) -> None:
    served = _copy(server, tmp_path / "served")
    key, ref, url = server.public, REF, served.as_uri()
    expect = {
        "unreachable": "connection refused",
        "missing-ref": "has no ref 'os/x86_64/missing'",
        "flipped-byte": ("is corrupt", "does not match"),
        "truncated-object": ("truncated", "is corrupt"),
        "other-key": "no valid signature",
        "unsigned": "not signed",
        "tampered-summary": "no valid signature",
        "dotdot-ref": "Invalid ref name",
    }[case]
    if case == "unreachable":
        url = "http://127.0.0.1:9/"
    elif case == "missing-ref":
        ref = "os/x86_64/missing"
    elif case == "flipped-byte":
        _flip(object_files(served)[0])
    elif case == "truncated-object":
        victim = object_files(served)[1]
        victim.write_bytes(victim.read_bytes()[:-7])
    elif case == "other-key":
        ok("sign", "--generate-key", str(tmp_path / "other"))
        key = tmp_path / "other" / "strata-sign.pub"
    elif case == "unsigned":
        for meta in object_files(served, ".commitmeta"):
            meta.unlink()
    elif case == "tampered-summary":
        summary = served / "summary"
        summary.write_text(summary.read_text().replace(server.commit, "0" * 40))
    elif case == "dotdot-ref":
        ref = "os/../etc"
    repo = client(tmp_path / "client", "server", url, key, "--set", "retries=1")
    stderr = fails("pull", "--repo", str(repo), f"server:{ref}")
    wanted = (expect,) if isinstance(expect, str) else expect
    assert any(text in stderr for text in wanted), stderr
    if case not in ("unreachable", "dotdot-ref"):
        assert "server" in stderr  # the message names the remote or the URL
    _assert_untouched(repo)


def test_a_server_that_hangs_or_redirects_away_is_refused(
    server: Published, tmp_path: Path
) -> None:
    victim = object_files(server.archive)[2]
    rel = str(victim.relative_to(server.archive))
    cases = {
        "hang": (("hang", ""), "timed out"),
        "other-host": (("redirect", "http://127.0.0.2:1/x"), "Refusing the redirect"),
        "file": (("redirect", "file:///etc/passwd"), "Refusing the redirect"),
    }
    for name, (rule, expect) in cases.items():
        with hostile_server(server.archive, {rel: rule}) as web:
            repo = client(tmp_path / name, "server", web.url, server.public, "--set", "retries=1")
            stderr = fails("pull", "--repo", str(repo), "--timeout", "1", f"server:{REF}")
        assert expect in stderr, stderr
        assert web.url in stderr
        _assert_untouched(repo)


@pytest.fixture
def served_v2(server: Published, tmp_path: Path) -> Iterator[Path]:
    """A copy of the server with a v2 commit: one file changed."""
    work = tmp_path / "server2"
    shutil.copytree(server.bare, work / "bare", symlinks=True)
    archive = _copy(server, work / "archive")
    tree = work / "tree"
    ok("checkout", "--repo", str(work / "bare"), REF, str(tree))
    (tree / "usr" / "bin" / "tool").write_text("#!/bin/sh\necho v2\n")
    ok("commit", "--repo", str(work / "bare"), "-b", REF, "--add-metadata", "version=2", str(tree))
    ok("pull-local", "--repo", str(archive), str(work / "bare"), REF)
    ok("sign", "--repo", str(archive), REF, "--key", str(server.secret))
    ok("summary", "--repo", str(archive), "-u", "--sign-key", str(server.secret))
    yield archive


@needs_nginx
def test_an_update_fetches_only_what_changed(
    server: Published, served_v2: Path, tmp_path: Path
) -> None:
    repo = client(tmp_path / "client", "server", served_v2.as_uri(), server.public)
    v1 = server.commit
    # the client has v1 (pulled from the original server), then pulls v2
    ok("remote", "add", "--repo", str(repo), "old", server.archive.as_uri(), "--no-sign-verify")
    ok("pull", "--repo", str(repo), f"old:{REF}")
    ok("remote", "delete", "--repo", str(repo), "server")
    with nginx(served_v2, tmp_path / "nginx") as web:
        ok(
            "remote",
            "add",
            "--repo",
            str(repo),
            "server",
            web.url,
            "--sign-verify-key",
            str(server.public),
        )
        out = ok("pull", "--repo", str(repo), f"server:{REF}")
        log = web.log()
    v2 = out.split()[1]
    assert v2 != v1
    fetched = [e.path for e in log if "/objects/" in e.path]
    filez = [p for p in fetched if p.endswith(".filez")]
    assert len(filez) == 1  # the changed file
    # the commit, its signatures, and the trees on the changed path: /, usr, usr/bin
    assert len(fetched) == 1 + 1 + 3 + 1, fetched
    assert ok("fsck", "--repo", str(repo)) == ""
    diff = ok("diff", "--repo", str(repo), v1, v2).split("\n")
    assert "M /usr/bin/tool" in diff
