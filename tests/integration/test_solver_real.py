"""solve() on real inputs: a base rpmdb written by rpm, repos made by createrepo_c.

Covers every metadata compression, file:// and http:// repos, the .solv caches
(a second solve never needs the XML again), checksum and availability errors,
local RPMs and overrides.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import FetchError, PackageError, SolveError
from fixtures.repos import make_repo, serve_http
from fixtures.rpms import build_rpm
from solver import RepoConfig, Request, Transaction, fetch, solve
from tests.conftest import needs_rpmbuild

pytestmark = needs_rpmbuild


def rpm_(name: str, version: str = "1", **kw: object) -> Path:
    return build_rpm(name, version, autoreqprov=False, **kw)  # type: ignore[arg-type]


def base_rpms() -> list[Path]:
    return [
        rpm_("glibc", "2.38", provides=["libc.so.6()(64bit)"], files={"/usr/lib64/libc.so.6": "c"}),
        rpm_("bar", "1.0"),
        rpm_("bash", "5.2", files={"/usr/bin/bash": "sh"}),
    ]


def repo_rpms() -> list[Path]:
    return [
        rpm_(
            "strace",
            "6.1",
            requires=["libunwind-ptrace.so.0()(64bit)", "libc.so.6()(64bit)"],
            files={"/usr/bin/strace": "x"},
        ),
        rpm_("libunwind", "1.6", provides=["libunwind-ptrace.so.0()(64bit)"]),
        rpm_("foo", "2.0", requires=["bar >= 2.0"]),
        rpm_("bar", "2.0"),
        rpm_("tool", "1", requires=["/usr/share/tool/data"]),
        rpm_("tooldata", "1", files={"/usr/share/tool/data": "d"}),
    ]


def make_rpmdb(root: Path, rpms: list[Path]) -> Path:
    """A base rpmdb as a compose would leave it: /usr/lib/sysimage/rpm under ``root``."""
    dbpath = "/usr/lib/sysimage/rpm"
    cmd = ["rpm", "-i", "--root", str(root), "--dbpath", dbpath, "--justdb", "--nodeps"]
    subprocess.run([*cmd, "--noscripts", *map(str, rpms)], check=True, capture_output=True)
    return root / dbpath.lstrip("/")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("solver-world")
    rpmdb = make_rpmdb(top / "base", base_rpms())
    repos = {
        c: make_repo(top / f"repo-{c}", repo_rpms(), compression=c) for c in ("gz", "xz", "zstd")
    }
    return {"rpmdb": rpmdb, **{f"repo-{c}": p for c, p in repos.items()}}


def request(
    world: dict[str, Path], *install: str, repos: tuple[RepoConfig, ...] = (), **kw: object
) -> Request:
    return Request(
        base_rpmdb=world["rpmdb"],
        base_key="base-1",
        repos=repos or (RepoConfig("test", "test", (f"file://{world['repo-gz']}",)),),
        install=install,
        **kw,  # type: ignore[arg-type]
    )


def names(t: Transaction) -> list[str]:
    return [p.nevra for p in t.install]


def copy_repo(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


@pytest.mark.parametrize("compression", ["gz", "xz", "zstd"])
def test_every_compression_gives_the_same_verified_answer(
    world: dict[str, Path], compression: str, tmp_path: Path
) -> None:
    repo = RepoConfig("test", "test", (f"file://{world[f'repo-{compression}']}",))
    t = solve(request(world, "strace", repos=(repo,), cache_dir=tmp_path / "cache"))
    assert names(t) == ["libunwind-1.6-1.x86_64", "strace-6.1-1.x86_64"]
    for ref in t.install:
        assert ref.repo == "test"
        assert ref.location.startswith(f"file://{world[f'repo-{compression}']}/")
        data = Path(ref.location.removeprefix("file://")).read_bytes()
        assert ref.checksum == "sha256:" + hashlib.sha256(data).hexdigest()
    ((repo_id, sha),) = t.repomd
    repomd = world[f"repo-{compression}"] / "repodata" / "repomd.xml"
    assert (repo_id, sha) == ("test", hashlib.sha256(repomd.read_bytes()).hexdigest())


def test_base_packages_satisfy_requests_and_deps(world: dict[str, Path]) -> None:
    t = solve(request(world, "/usr/bin/bash", "bar", "strace"))
    assert t.inactive == (("/usr/bin/bash", "bash-5.2-1.x86_64"), ("bar", "bar-1.0-1.x86_64"))
    assert "glibc" not in " ".join(names(t))


def test_file_dependency_outside_primary_loads_filelists(world: dict[str, Path]) -> None:
    assert names(solve(request(world, "tool"))) == ["tool-1-1.x86_64", "tooldata-1-1.x86_64"]
    assert names(solve(request(world, "/usr/share/tool/data"))) == ["tooldata-1-1.x86_64"]


def test_base_lock_problem_on_real_metadata(world: dict[str, Path]) -> None:
    with pytest.raises(SolveError) as caught:
        solve(request(world, "foo", "stace"))
    assert caught.value.problems == (
        "No package matches 'stace'; did you mean: strace?",
        "foo-2.0-1.x86_64 requires bar >= 2.0, but the base has bar-1.0-1.x86_64: base packages "
        "are not changed by layering: rebase to a newer base, or `strata override replace` bar",
    )


def test_second_solve_uses_the_solv_caches_not_the_xml(
    world: dict[str, Path], tmp_path: Path
) -> None:
    repo_dir = copy_repo(world["repo-xz"], tmp_path / "repo")
    rpmdb = tmp_path / "rpmdb"
    shutil.copytree(world["rpmdb"], rpmdb)
    repos = (RepoConfig("test", "test", (f"file://{repo_dir}",)),)
    req = Request(rpmdb, "commit-a", repos, install=("strace", "tool"), cache_dir=tmp_path / "c")
    first = solve(req)
    cache = tmp_path / "c"
    assert sorted(p.name for p in (cache / "repos" / "test").iterdir() if p.suffix == ".solv") == [
        f"{first.repomd[0][1]}-filelists.solv",
        f"{first.repomd[0][1]}.solv",
    ]
    assert (cache / "base" / "commit-a.solv").is_file()
    # Without the XML files and without the rpmdb, only the caches can answer.
    for xml in (repo_dir / "repodata").glob("*.xml.*"):
        xml.unlink()
    shutil.rmtree(rpmdb)
    assert solve(req) == first
    # A changed repo (new repomd.xml) is noticed and re-read.
    shutil.copytree(world["repo-xz"], repo_dir, dirs_exist_ok=True)
    make_repo(repo_dir, [rpm_("newcomer", "1")], compression="xz")
    again = solve(
        Request(world["rpmdb"], "commit-a", repos, install=("newcomer",), cache_dir=cache)
    )
    assert names(again) == ["newcomer-1-1.x86_64"]
    assert again.repomd != first.repomd
    # The cache keeps only the current metadata set of the repo.
    assert {
        p.name.split("-")[0].removesuffix(".solv") for p in cache.glob("repos/test/*.solv")
    } == {again.repomd[0][1]}


def test_cache_only_uses_the_cache_or_says_it_is_empty(
    world: dict[str, Path], tmp_path: Path
) -> None:
    repo_dir = copy_repo(world["repo-gz"], tmp_path / "repo")
    repos = (RepoConfig("test", "test", (f"file://{repo_dir}",)),)
    with pytest.raises(FetchError, match="no cached metadata") as caught:
        solve(request(world, "strace", repos=repos, cache_dir=tmp_path / "c", cache_only=True))
    assert "without --cache-only" in str(caught.value)
    solve(request(world, "strace", repos=repos, cache_dir=tmp_path / "c"))
    shutil.rmtree(repo_dir)  # the network is gone
    t = solve(request(world, "strace", repos=repos, cache_dir=tmp_path / "c", cache_only=True))
    assert names(t) == ["libunwind-1.6-1.x86_64", "strace-6.1-1.x86_64"]


def test_corrupt_metadata_is_refused_with_a_hint(world: dict[str, Path], tmp_path: Path) -> None:
    repo_dir = copy_repo(world["repo-gz"], tmp_path / "repo")
    primary = next((repo_dir / "repodata").glob("*primary.xml.gz"))
    primary.write_bytes(primary.read_bytes() + b"tampered")
    repos = (RepoConfig("test", "test", (f"file://{repo_dir}",)),)
    with pytest.raises(FetchError) as caught:
        solve(request(world, "strace", repos=repos, cache_dir=tmp_path / "c"))
    assert "repo 'test'" in str(caught.value) and primary.name in str(caught.value)
    assert "does not match its checksum" in str(caught.value)
    assert "strata cleanup --repomd" in str(caught.value.hint)
    assert not list((tmp_path / "c" / "repos" / "test").glob("*.solv"))


@pytest.fixture
def http_repo(world: dict[str, Path]) -> Iterator[str]:
    with serve_http(world["repo-zstd"]) as url:
        yield url


def test_http_repo_and_package_fetch(
    world: dict[str, Path], http_repo: str, tmp_path: Path
) -> None:
    repos = (RepoConfig("web", "web", (http_repo,)),)
    t = solve(request(world, "strace", repos=repos, cache_dir=tmp_path / "c"))
    ref = t.install[1]
    assert ref.location == http_repo.rstrip("/") + "/strace-6.1-1.x86_64.rpm"
    got = fetch(ref.location, tmp_path / "dl" / "strace.rpm", checksum=ref.checksum)
    assert got.read_bytes() == (world["repo-zstd"] / "strace-6.1-1.x86_64.rpm").read_bytes()
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(http_repo + "absent.rpm", tmp_path / "dl" / "absent.rpm")
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["strace.rpm"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_repo_is_an_error_naming_repo_and_url(world: dict[str, Path]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/repo/"
    repos = (RepoConfig("gone", "gone", (url,)),)
    with pytest.raises(FetchError) as caught:
        solve(request(world, "strace", repos=repos))
    assert "repo 'gone' is unavailable" in str(caught.value)
    assert url in str(caught.value) and "connection refused" in str(caught.value)
    assert "skip_if_unavailable" in str(caught.value.hint)


def test_skip_if_unavailable_warns_and_goes_on(world: dict[str, Path], tmp_path: Path) -> None:
    repos = (
        RepoConfig("gone", "gone", (f"file://{tmp_path}/nothing",), skip_if_unavailable=True),
        RepoConfig("test", "test", (f"file://{world['repo-gz']}",)),
        RepoConfig("off", "off", (f"file://{tmp_path}/nothing",), enabled=False),
    )
    t = solve(request(world, "strace", repos=repos))
    assert names(t) == ["libunwind-1.6-1.x86_64", "strace-6.1-1.x86_64"]
    (warning,) = t.warnings
    assert "repo 'gone' is unavailable" in warning and "skipped" in warning
    assert [r for r, _ in t.repomd] == ["test"]


def test_second_baseurl_is_tried_when_the_first_fails(
    world: dict[str, Path], tmp_path: Path
) -> None:
    repos = (RepoConfig("m", "m", (f"file://{tmp_path}/down", f"file://{world['repo-gz']}")),)
    t = solve(request(world, "strace", repos=repos))
    assert t.install[0].location.startswith(f"file://{world['repo-gz']}/")


def test_local_rpm_and_override_replace(world: dict[str, Path], tmp_path: Path) -> None:
    mine = rpm_("mine", "1", requires=["libunwind-ptrace.so.0()(64bit)"])
    newbar = rpm_("bar", "3.0")
    t = solve(request(world, "foo", local_rpms=(mine,), override_replace=(newbar,)))
    assert names(t) == ["foo-2.0-1.x86_64", "libunwind-1.6-1.x86_64", "mine-1-1.x86_64"]
    local = t.install[2]
    assert (local.repo, local.location) == ("@commandline", str(mine.resolve()))
    assert local.checksum == "sha256:" + hashlib.sha256(mine.read_bytes()).hexdigest()
    ((old, new),) = t.replace
    assert old == "bar-1.0-1.x86_64" and new.nevra == "bar-3.0-1.x86_64"


def test_override_remove_on_real_base(world: dict[str, Path]) -> None:
    t = solve(request(world, override_remove=("bash",)))
    assert t == Transaction(install=(), remove=("bash-5.2-1.x86_64",), repomd=t.repomd)


def test_bad_inputs_are_clear_errors(world: dict[str, Path], tmp_path: Path) -> None:
    not_rpm = tmp_path / "x.rpm"
    not_rpm.write_text("not an rpm")
    with pytest.raises(PackageError, match="not a readable RPM"):
        solve(request(world, local_rpms=(not_rpm,)))
    with pytest.raises(SolveError, match="does not exist"):
        solve(Request(tmp_path / "no-rpmdb", "k", ()))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SolveError, match="holds no rpm database"):
        solve(Request(tmp_path / "empty", "k", ()))
    assert list((tmp_path / "empty").iterdir()) == []


def test_an_unwritable_cache_only_costs_time(world: dict[str, Path], tmp_path: Path) -> None:
    not_a_dir = tmp_path / "cache"
    not_a_dir.write_text("a file where the cache directory should be")
    t = solve(request(world, "strace", cache_dir=not_a_dir))
    assert names(t) == ["libunwind-1.6-1.x86_64", "strace-6.1-1.x86_64"]
    assert not_a_dir.read_text().startswith("a file")


def test_http_metadata_errors_name_repo_file_and_status(
    world: dict[str, Path], tmp_path: Path
) -> None:
    repo_dir = copy_repo(world["repo-xz"], tmp_path / "repo")
    primary = next((repo_dir / "repodata").glob("*primary.xml.xz"))
    primary.write_bytes(b"\0" + primary.read_bytes()[1:])
    with serve_http(repo_dir) as url:
        repos = (RepoConfig("web", "web", (url,)),)
        with pytest.raises(FetchError) as caught:
            solve(request(world, "strace", repos=repos, cache_dir=tmp_path / "c"))
        assert f"repo 'web': repodata/{primary.name} does not match" in str(caught.value)
        missing = (RepoConfig("web", "web", (url + "nowhere/",)),)
        with pytest.raises(FetchError, match=r"repo 'web' is unavailable: .*HTTP 404"):
            solve(request(world, "strace", repos=missing))


def test_skip_if_unavailable_also_skips_corrupt_metadata(
    world: dict[str, Path], tmp_path: Path
) -> None:
    bad = copy_repo(world["repo-gz"], tmp_path / "bad")
    primary = next((bad / "repodata").glob("*primary.xml.gz"))
    primary.write_bytes(primary.read_bytes()[:-10])
    repos = (RepoConfig("bad", "bad", (f"file://{bad}",), skip_if_unavailable=True),)
    with pytest.raises(SolveError) as caught:
        solve(request(world, "strace", repos=repos))
    (problem,) = caught.value.problems  # the half-read repo is not in the pool
    assert problem.startswith("No package matches 'strace'")
